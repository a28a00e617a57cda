"""One identification object: the model, its calibration, the priors (place and season, the
occurrence geofence), the rejection, the walk-up rule and the scoring engine, loaded once.

``fieldguide identify``, ``fieldguide serve``, the main job and ``index build`` all build an
:class:`Identifier` (from an :class:`IdentifyOptions` they fill alike) and answer through it,
so an option that changes an answer changes it everywhere; nothing else opens a model, prior
or rejection to identify photos. Recordings (``fieldguide.sound.identify``) score windows with
their own models but build their rule, restrictions and priors with the same
:func:`decision_parts`. The model sits behind the narrow interface of
:mod:`~fieldguide.identification.model` (where a model family will plug in): photos go
through a photo model's runner (:meth:`Identifier.annotate`), embedding vectors through a
heads-only model (:meth:`Identifier.annotate_embeddings`); every decision is
:func:`~fieldguide.identification.annotate.decide_batch`'s, through ``posterior``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from fieldguide.errors import InputError
from fieldguide.identification.annotate import (
    Annotation,
    Decided,
    annotate,
    decide_batch,
    tabulate,
)
from fieldguide.identification.classifier import (
    TAKES_EMBEDDINGS,
    TAKES_PHOTOS,
    Classifier,
    OnnxModel,
)
from fieldguide.identification.decision import RANKS, Decisions, Rule
from fieldguide.identification.heads_only import HeadsOnlyModel
from fieldguide.identification.inputs import Photos, embedded_listing, floats, read_table
from fieldguide.identification.model import open_model
from fieldguide.identification.posterior import Context, Geofence, Prior, Subtree, posterior
from fieldguide.identification.protocols import Rejection, Rejector
from fieldguide.identification.runner import Progress, RunOptions, Scorer, run_outputs, score
from fieldguide.models.card import ModelCard


@dataclass(frozen=True)
class IdentifyOptions:
    """What ``identify`` and ``serve`` both take: the walk-up rule (``threshold``, ``finest``
    .. ``coarsest``, ``validate_rank``, ``require_nearby``), the priors (``prior`` folder,
    ``occurrences`` CSV and ``radius_km``, the ``place_lists`` with their ``place_fixes``),
    ``no_reject``, the restrictions (``taxa``, a
    checklist file; ``within``, a taxon), ``group_thresholds`` (apply the card's thresholds
    per group, when it has them), and how photos are scored (the ``onnx`` file, ``threads``,
    batching, decoding, the engine: local or Ray)."""

    threshold: float = 0.9
    finest: str = "species"
    coarsest: str = "family"
    validate_rank: str = "species"
    require_nearby: bool = False
    prior: Path | None = None
    occurrences: Path | None = None
    radius_km: float = 50.0
    no_reject: bool = False
    onnx: Path | None = None
    threads: int = 2
    batch_size: int = 32
    chunk_size: int = 512
    full_decode: bool = False
    engine: str = "local"
    address: str | None = None
    actors: int = 2
    #: False for a server: ONNX Runtime's threads stop spin-waiting between calls.
    spinning: bool = True
    #: A family's source whose customised members answer (None: the shared members).
    source: str | None = None
    #: A checklist (one taxon name per line): answers only among its taxa.
    taxa: Path | None = None
    #: A taxon: answers only within it.
    within: str | None = None
    group_thresholds: bool = True
    #: Allow/block lists per place (CSV place,taxon,list) and their fixes file.
    place_lists: Path | None = None
    place_fixes: Path | None = None

    #: The options a JSON round trip carries (``serve --workers``): those that change answers.
    ANSWERS = ("threshold", "finest", "coarsest", "validate_rank", "require_nearby", "prior",
               "occurrences", "radius_km", "no_reject", "onnx", "threads", "source", "taxa",
               "within", "group_thresholds", "place_lists", "place_fixes")

    def rule(self) -> Rule:
        """The walk-up rule, its ranks checked (one-line InputError naming the option)."""
        if not 0.0 <= self.threshold <= 1.0:
            raise InputError("must lie in [0, 1]", field="--threshold")
        for name, rank in (("finest", self.finest), ("coarsest", self.coarsest),
                           ("validate-rank", self.validate_rank)):
            if rank not in RANKS:
                raise InputError(f"unknown rank {rank!r} (one of {', '.join(RANKS)})",
                                 field=f"--{name}")
        if RANKS.index(self.finest) > RANKS.index(self.coarsest):
            raise InputError(f"finest rank {self.finest!r} is coarser than {self.coarsest!r}",
                             field="--finest")
        if not self.radius_km > 0:
            raise InputError("must be > 0", field="--radius-km")
        return Rule(self.threshold, self.finest, self.coarsest, self.validate_rank,
                    self.require_nearby)

    def run_options(self) -> RunOptions:
        return RunOptions(self.batch_size, self.chunk_size, self.threads,
                          draft=not self.full_decode)

    def to_json(self) -> dict[str, Any]:
        """The answer-changing options as JSON values (paths as strings)."""
        values = {k: getattr(self, k) for k in self.ANSWERS}
        return {k: str(v) if isinstance(v, Path) else v for k, v in values.items()}

    @classmethod
    def from_json(cls, data: dict[str, Any], **more: Any) -> IdentifyOptions:
        known = {k: v for k, v in data.items() if k in cls.ANSWERS}
        for k in ("prior", "occurrences", "onnx", "taxa", "place_lists", "place_fixes"):
            if known.get(k) is not None:
                known[k] = Path(known[k])
        return cls(**known, **more)


def read_occurrences(path: Path, radius_km: float = 50.0) -> Geofence:
    """The geofence of a CSV ``taxon,latitude,longitude`` of known records."""
    cols = read_table(path)
    for needed in ("taxon", "latitude", "longitude"):
        if needed not in cols:
            raise InputError(f"missing column {needed!r}", path=path, field=needed)
    n = len(cols["taxon"])
    lat, lon = (floats(cols[c], n, path, c) for c in ("latitude", "longitude"))
    for c, values, top in (("latitude", lat, 90), ("longitude", lon, 180)):
        bad = [i for i, v in enumerate(values) if abs(v) > top]
        if bad:
            raise InputError(f"{values[bad[0]]} is outside [-{top}, {top}]", path=path,
                             line=bad[0] + 2, field=c)
    return Geofence([str(t) for t in cols["taxon"]], lat, lon, radius_km)


def load_priors(prior: Path | None = None, occurrences: Path | None = None,
                radius_km: float = 50.0) -> list[Prior]:
    """The priors in the order they apply: the place-and-season prior, then the geofence."""
    found: list[Prior] = []
    if prior is not None:
        from fieldguide.priors import load_prior

        found.append(load_prior(prior))
    if occurrences is not None:
        found.append(read_occurrences(occurrences, radius_km))
    return found


def card_rejector(model: OnnxModel) -> Rejector | None:
    """The rejection the model card carries (fitted by ``fieldguide reject fit``), if any."""
    if "rejection" not in model.card.extras:
        return None
    from fieldguide.identification.rejector import load_rejector

    return load_rejector(model)


def group_rule(rule: Rule, classes: Sequence[str], card: ModelCard | None,
               where: Path | None = None) -> Rule:
    """``rule`` with the card's thresholds per group (``calibrate --groups-at``), if any;
    ``where`` (the card's file) locates a damaged entry."""
    from fieldguide.identification.groups import KEY, GroupThresholds

    if card is None or KEY not in card.extras:
        return rule
    return GroupThresholds.from_dict(card.extras[KEY], where).rule(rule, classes)


def restrictions(classes: Sequence[str], lineage: Mapping[str, Mapping[str, str]],
                 taxa: Path | None = None, within: str | None = None,
                 field: str = "--within") -> list[Prior]:
    """The filters of a checklist file (``taxa``: names the model does not know are
    skipped, none known is refused) and of a taxon to answer ``within`` (unknown: refused
    with the closest known names)."""
    import fieldguide.identification.checklist as lists

    found: list[Prior] = []
    if taxa is not None:
        known = lists.known_names(classes, lineage)
        names = lists.read_names(taxa, known, what="checklist", strict=False)
        found.append(lists.restriction(names, classes, lineage, "checklist"))
    if within:
        known = lists.known_names(classes, lineage)
        name = lists.resolve(within, known, field=field)
        found.append(lists.restriction([name], classes, lineage, f"within:{name}"))
    return found


@dataclass(frozen=True)
class DecisionParts:
    """Everything that decides on a model's outputs besides the model: the walk-up ``rule``
    (with the card's group thresholds), the restrictions (``filters``: ``--taxa``,
    ``--within``) and the ``priors`` (place and season, geofence, place lists), in the
    order they apply."""

    rule: Rule
    filters: list[Prior]
    priors: list[Prior]


def decision_parts(options: IdentifyOptions, classes: Sequence[str],
                   lineage: Mapping[str, Mapping[str, str]], card: ModelCard | None = None,
                   where: Path | None = None, priors: Sequence[Prior] | None = None
                   ) -> DecisionParts:
    """The one place the identify options become a rule, restrictions and priors, for a
    model of ``classes`` with their ``lineage`` and ``card`` (``where``: its file; None for a
    model without one, e.g. BirdNET's own head): photos (:meth:`Identifier.from_paths`) and
    recordings (``fieldguide.sound.identify``) both build theirs here, so an option that
    changes a photo's answer changes a recording's. ``priors``: the priors already loaded
    (a sound model's ``--prior birdnet``), else those of ``prior`` and ``occurrences``; the
    place lists come after them. Bad values raise one-line InputErrors."""
    rule = options.rule()
    if options.group_thresholds:
        rule = group_rule(rule, classes, card, where)
    filters = restrictions(classes, lineage, options.taxa, options.within)
    if options.place_fixes is not None and options.place_lists is None:
        raise InputError("a fixes file corrects place lists: give --place-lists too",
                         field="--place-fixes")
    found = list(priors) if priors is not None else load_priors(
        options.prior, options.occurrences, options.radius_km)
    if options.place_lists is not None:
        from fieldguide.identification.checklist import known_names
        from fieldguide.identification.place_lists import PlaceLists

        found.append(PlaceLists.read(options.place_lists, known_names(classes, lineage),
                                     options.place_fixes))
    return DecisionParts(rule, filters, found)


@dataclass(frozen=True)
class Answer:
    """One observation decided: the photos' and the observation's posteriors (``decided``),
    and ``ancestor``, the same walk-up carried on past the rule's coarsest rank to the
    coarsest rank the model knows (the finest taxon that clears the threshold at any rank)."""

    decided: Decided
    ancestor: Decisions

    @property
    def decision(self) -> Decisions:
        return self.decided.observations.decisions

    @property
    def rejection(self) -> Rejection | None:
        return self.decided.observation_rejection


class Identifier:
    """A model with everything that decides on its outputs, loaded once (see the module)."""

    def __init__(self, model: OnnxModel, *, rule: Rule | None = None,
                 priors: Sequence[Prior] = (), rejector: Rejector | None = None,
                 run: RunOptions | None = None, scorer: Scorer = run_outputs,
                 filters: Sequence[Prior] = ()) -> None:
        self.model = model
        self.rule = rule or Rule()
        #: The restrictions (``--taxa``, ``--within``), applied before the priors.
        self.filters = list(filters)
        self.priors = list(priors)
        self.rejector = rejector
        self.run = run or RunOptions()
        self.scorer = scorer

    @classmethod
    def from_paths(cls, model: str | Path, options: IdentifyOptions | None = None
                   ) -> Identifier:
        """Open the model folder, its calibration and rejection (unless ``no_reject``), the
        priors and the engine; bad input raises a one-line InputError."""
        options = options or IdentifyOptions()
        options.rule()  # checked before the model opens
        clf = open_model(model, options.threads, options.onnx, options.spinning,
                         options.source)
        card = getattr(clf, "card", None)
        parts = decision_parts(options, clf.classes, card.lineage if card else {}, card,
                               Path(clf.folder) / "model.json")
        rejector = None if options.no_reject else card_rejector(clf)
        from fieldguide.identification.ray_engine import scorer_for

        scorer = scorer_for(options.engine, options.address, options.actors, options.threads)
        return cls(clf, rule=parts.rule, priors=parts.priors, rejector=rejector,
                   run=options.run_options(), scorer=scorer, filters=parts.filters)

    @property
    def classes(self) -> list[str]:
        return self.model.classes

    @property
    def all_priors(self) -> list[Prior]:
        """The restrictions, then the priors: what every answer applies, in that order."""
        return [*self.filters, *self.priors]

    def restrictions(self, taxa: Path | None = None, within: str | None = None,
                     field: str = "--within") -> list[Prior]:
        """The filters of a checklist file and of a taxon (:func:`restrictions`)."""
        return restrictions(self.classes, self.model.card.lineage, taxa, within, field)

    def checklist(self, names: Sequence[str], field: str = "taxa") -> Prior:
        """The filter of a list of names given directly (the service's ``taxa``): every
        name must be known (a typo is refused with the closest known names)."""
        import fieldguide.identification.checklist as lists

        lineage = self.model.card.lineage
        known = lists.known_names(self.classes, lineage)
        resolved = [lists.resolve(n, known, field=field) for n in names if n.strip()]
        if not resolved:
            raise InputError("names no taxon", field=field)
        return lists.restriction(resolved, self.classes, lineage, "checklist")

    @property
    def takes_embeddings(self) -> bool:
        """Whether the model is heads-only (trained on embeddings, scores vectors)."""
        return isinstance(self.model, HeadsOnlyModel)

    @property
    def pixels(self) -> Classifier:
        """The model, as one that scores photos (a heads-only model is refused in one
        line)."""
        if not isinstance(self.model, Classifier):
            raise InputError(TAKES_EMBEDDINGS, path=self.model.folder, field="embeddings_from")
        return self.model

    def lineage(self, taxon: str) -> dict[str, str]:
        return dict(self.model.card.lineage.get(taxon, {}))

    def outputs(self, *extra: str) -> tuple[str, ...]:
        """``logits``, what the rejection needs, and ``extra`` (e.g. ``embedding``)."""
        return tuple(dict.fromkeys(("logits", *(self.rejector.outputs if self.rejector
                                                else ()), *extra)))

    def score(self, photos: Photos, work: Path, outputs: Sequence[str] = ("logits",),
              progress: Progress | None = None) -> tuple[dict[str, np.ndarray], list[str], int]:
        """The outputs of a listing by the engine (resumable in ``work``)."""
        return self.scorer(photos, self.pixels, work, self.run, outputs, progress)

    def annotate(self, photos: Photos, work: Path, *, top_k: int = 5,
                 progress: Progress | None = None) -> Annotation:
        """Batch identification of a listing (``fieldguide identify``; resumable); a
        family's answers name the members that made them (``members``)."""
        return annotate(photos, self.pixels, work, rule=self.rule, top_k=top_k,
                        options=self.run, priors=self.all_priors, rejector=self.rejector,
                        progress=progress, scorer=self.scorer)

    def annotate_embeddings(self, source: str | Path, split: str | None = None, *,
                            top_k: int = 5) -> Annotation:
        """Batch identification of an embeddings Parquet file's or labelled store's rows (of
        ``split`` only, when given) by a heads-only model: its outputs in place of the photo
        runner's, then the same rejection, priors, combination and decisions as
        :meth:`annotate`. Vectors of another width than the model's, NaN or infinite values,
        a missing column or an empty split are refused in one line."""
        from fieldguide.embeddings.external import read_embeddings

        model = self.model
        if not isinstance(model, HeadsOnlyModel):
            raise InputError(TAKES_PHOTOS, path=source, field="embedding")
        data = read_embeddings(source, model.width)
        rows = data.rows(split) if split is not None else np.arange(len(data.vectors))
        columns = {k: [v[i] for i in rows] for k, v in data.columns.items()}
        photos = embedded_listing(columns, data.path)
        outputs = model.run(data.vectors[rows], list(self.outputs()))
        return tabulate(photos, outputs, [""] * len(rows), model, rule=self.rule,
                        top_k=top_k, priors=self.all_priors, rejector=self.rejector,
                        scored=len(rows))

    def score_crops(self, crops: Sequence[np.ndarray], outputs: Sequence[str]
                    ) -> dict[str, np.ndarray]:
        """The outputs of decoded crops in one model call (the service's micro-batch)."""
        return score(list(crops), self.pixels, outputs)[0]

    def reject(self, outputs: dict[str, np.ndarray], ok: np.ndarray) -> Rejection | None:
        return self.rejector.reject(outputs, ok) if self.rejector else None

    def subtree(self, taxon: str) -> Subtree:
        """The taxon filter of ``taxon`` (a class or a taxon of the classes' lineage)."""
        keep = np.array([c == taxon or taxon in self.lineage(c).values()
                         for c in self.classes])
        if not keep.any():
            raise InputError(f"taxon {taxon!r} is not in the model's classes or their "
                             "lineage (see GET /v1/taxa?q=)", field="taxon")
        return Subtree(keep, f"within:{taxon}")

    def observation(self, logits: np.ndarray, rejection: Rejection | None,
                    context: Context | None = None, filters: Sequence[Prior] = ()) -> Answer:
        """The photos of one observation (every row decoded) decided exactly as ``identify``
        decides an observation; ``filters`` (a taxon filter) apply before the priors."""
        n = len(logits)
        ctx = context if context is not None and len(context) == n else (
            context.take(np.zeros(n, dtype=np.int64))
            if context is not None else Context.unknown(n))
        priors = [*filters, *self.all_priors]
        model = self.model
        decided = decide_batch(logits, np.ones(n, dtype=bool), rejection, ["observation"] * n,
                               ctx, tree=model.tree(), classes=model.classes,
                               temperature=model.temperature, priors=priors, rule=self.rule)
        obs_rej = decided.observation_rejection
        wide = replace(self.rule, coarsest=model.tree().ranks[-1])
        ancestor = posterior(decided.combined, model.tree(), classes=model.classes,
                             priors=priors, rule=wide, context=decided.context,
                             rejected=obs_rej.rejected if obs_rej else None).decisions
        return Answer(decided, ancestor)
