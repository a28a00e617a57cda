"""What every place-and-season prior does with a batch of photos, whatever its method.

A method only says, for the photos' contexts and the wanted taxa, how likely each taxon is
(``probability``, a distribution over taxa) and how much the place favours it (``score`` in
[0, 1], iNaturalist's geo score), and which taxa are expected nearby. This class turns that
into the combined probabilities the posterior uses:

- ``combine="inat"`` (default): vision x max(score, floor), renormalised, as iNaturalist does;
  the floor (0.005) keeps a taxon never recorded nearby from being ruled out by the prior alone.
- ``combine="bayes"``: vision x p(taxon | place, season) / p(taxon), renormalised: the prior
  replaces the class frequency the vision model was trained with (the study's frequency
  stands in for the training set's).

With many classes only the ones that can matter are scored: per photo, its known classes by
decreasing vision probability, at most ``TOP_K`` (64), while they are at least ``floor``
(0.005) times its highest or hold less than ``MASS`` (99%) of its vision probability. Every
other class of the photo gets the smallest weight of its scored classes ("no more likely
than the least expected of its plausible taxa"), score NaN and, under a score threshold
rule, is not expected nearby. With ``combine="inat"`` an unscored class could not have won
anyway (vision x weight <= its vision < floor x the top's <= the top's combined value) as
long as the cap is not reached, and each combined probability moves by at most twice the
unscored vision mass over the photo's combined total (tests/priors/test_top_classes.py:
identical decisions and the bound on a real prior of 4,386 species). A model with at most
``TOP_K`` classes has every class scored, as before, and so has ``combine="bayes"``: its
weight p(taxon | place, season) / p(taxon) is unbounded (a rare taxon at home can outweigh
a vision ratio of 1,000), so no vision cut is safe there. Scored by its top classes, a batch's
combined probabilities are dense (every class is decided on), but its score and
expected-nearby flags are lazy blocks of the same values (:mod:`fieldguide.priors.scored`):
at 10,000 classes the dense blocks were 0.9 GB written per 10,000 photos, of which the
consumers read a few values per photo.

Missing context is skipped, never guessed: a photo without coordinates gets the season-only
prior where the method has one (counts), a photo with neither coordinates nor a date keeps its
vision probabilities (score NaN, expected_nearby False). Model classes that are not taxa of the
prior get, per photo, the smallest weight of the known classes ("as unlikely as the least
expected known taxon"), and are never expected nearby.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal, Self

import numpy as np
from numpy.typing import NDArray

from fieldguide.errors import InputError
from fieldguide.identification.class_values import ClassValues
from fieldguide.identification.posterior import Context, PriorOutput
from fieldguide.priors.cells import valid_coordinates
from fieldguide.registry import Registry

if TYPE_CHECKING:
    from fieldguide.priors.observations import Observations
    from fieldguide.priors.scored import ScoredPairs

Combine = Literal["inat", "bayes"]
FLOOR = 0.005  #: iNaturalist's clamp on the geo score
CHUNK = 4096   #: photos scored at once by every class (bounds memory at CHUNK x K floats)
TOP_K = 64     #: at most this many classes scored per photo (see module doc)
MASS = 0.99    #: ... and at least those holding this share of its vision probability


class PlaceSeasonPrior:
    """Base of every place-and-season prior method (see module doc); ``names`` are the
    prior's taxa. A method is a subclass registered in :data:`PRIORS` that implements
    :meth:`fit` (learn from observations), :meth:`restore` (from saved ``params`` and
    ``arrays``), :meth:`frequency` and :meth:`evaluate`. ``params`` (JSON values) and
    ``arrays`` (NumPy arrays) are all that is saved, so loading runs no code from the file."""

    params: dict[str, Any]
    arrays: dict[str, NDArray[Any]]

    def __init__(self, names: Sequence[str], *, rank: str, thresholds: NDArray[np.float32],
                 floor: float = FLOOR, combine: Combine = "inat") -> None:
        if combine not in ("inat", "bayes"):
            raise InputError(f"combine must be 'inat' or 'bayes', not {combine!r}",
                             field="combine")
        self.names = list(names)
        self.rank = rank
        self.thresholds = thresholds
        self.floor = float(floor)
        self.combine: Combine = combine
        self.top_k: int | None = TOP_K   #: None: score every class (the reference)
        self._index = {n: i for i, n in enumerate(self.names)}

    @property
    def method(self) -> str:
        """The name this prior's class is registered under in :data:`PRIORS`."""
        return PRIORS.name_of(type(self))

    @property
    def name(self) -> str:
        return f"{self.method}-prior"

    # -- building and loading, per method --------------------------------------------------
    @classmethod
    def fit(cls, obs: Observations, **options: Any) -> Self:
        """Learn the prior from ``obs`` (the method's own keyword options)."""
        raise NotImplementedError

    @classmethod
    def restore(cls, params: dict[str, Any], arrays: dict[str, NDArray[Any]],
                names: list[str], *, combine: Combine = "inat",
                nearby: str | None = None) -> Self:
        """The prior saved as ``params`` and ``arrays`` (``nearby``: the rule that says a
        taxon is expected nearby, for methods that have more than one)."""
        raise NotImplementedError

    def columns(self, classes: Sequence[str]) -> NDArray[np.int64]:
        """The prior's taxon index of each class name (-1 where the prior does not know it)."""
        return np.array([self._index.get(c, -1) for c in classes], dtype=np.int64)

    # -- what a method provides ------------------------------------------------------------
    def frequency(self, cols: NDArray[np.int64]) -> NDArray[np.float64]:
        """The study's class frequency of each wanted taxon (the baseline)."""
        raise NotImplementedError

    def evaluate(self, ctx: Context, cols: NDArray[np.int64], *, season: bool = True
                 ) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.bool_]]:
        """(probability, score, used): probability and score (n, K) for rows where ``used``;
        other rows are unspecified. ``season=False`` ignores the dates."""
        raise NotImplementedError

    def evaluate_pairs(self, ctx: Context, photo: NDArray[np.int64], cols: NDArray[np.int64]
                       ) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.bool_]]:
        """:meth:`evaluate` for (photo, taxon) pairs: probability and score per pair,
        ``used`` per photo. By default the dense block over the pairs' taxa, gathered; a
        method whose cost grows with photos x taxa computes the pairs alone."""
        wanted, at = np.unique(cols, return_inverse=True)
        prob, score, used = self.evaluate(ctx, wanted)
        return prob[photo, at], score[photo, at], used

    def nearby(self, ctx: Context, cols: NDArray[np.int64],
               score: NDArray[np.float64]) -> NDArray[np.bool_]:
        """(n, K): taxon expected near the photo (by default: score >= the taxon's
        F1-optimal threshold)."""
        thr = self.thresholds[np.maximum(cols, 0)]
        return (score >= thr[None, :]) & (cols >= 0)[None, :]

    # -- the posterior's protocol ----------------------------------------------------------
    def apply(self, probs: np.ndarray, context: Context,
              classes: Sequence[str]) -> PriorOutput:
        """Combine vision ``probs`` (n, K over ``classes``) with this prior (see module doc)."""
        vision = np.asarray(probs, dtype=np.float64)
        if vision.ndim != 2 or vision.shape[1] != len(classes):
            raise InputError(f"probs shape {vision.shape} does not match {len(classes)} classes")
        if len(context) != len(vision):
            raise InputError(f"{len(context)} contexts for {len(vision)} photos")
        ctx = clean_context(context)
        cols = self.columns(classes)
        n, k = vision.shape
        if self.top_k is not None and k > self.top_k and self.combine == "inat" and (
                cols >= 0).any():
            return self._apply_top(np.ascontiguousarray(vision), ctx, cols, self.top_k)
        score = np.full((n, k), np.nan)
        near = np.zeros((n, k), dtype=bool)
        if not (cols >= 0).any():
            return PriorOutput(vision.copy(), score, near)
        combined = vision.copy()
        freq = self.frequency(cols)
        known = cols >= 0
        for start in range(0, n, CHUNK):
            part = slice(start, min(n, start + CHUNK))
            sub = Context(ctx.latitude[part], ctx.longitude[part], ctx.day_of_year[part])
            prob, sc, used = self.evaluate(sub, cols)
            if self.combine == "inat":
                weight = np.maximum(sc, self.floor)
            else:
                weight = prob / np.maximum(freq, 1e-12)[None, :]
            weight = np.where(known[None, :], weight,
                              np.where(known, weight, np.inf).min(axis=1, keepdims=True))
            rows = np.flatnonzero(used) + start
            mixed = vision[rows] * weight[used]
            total = mixed.sum(axis=1, keepdims=True)
            good = total[:, 0] > 0
            combined[rows[good]] = mixed[good] / total[good]
            score[rows] = np.where(known[None, :], sc[used], np.nan)
            located = used & valid_coordinates(sub.latitude, sub.longitude)
            if located.any():
                near[start + np.flatnonzero(located)] = self.nearby(
                    _rows(sub, located), cols, sc[located])
        return PriorOutput(combined, score, near)


    def _apply_top(self, vision: NDArray[np.float64], ctx: Context, cols: NDArray[np.int64],
                   top_k: int) -> PriorOutput:
        """:meth:`apply` with ``combine="inat"`` scoring each photo's top classes only (see
        module doc). The combined probabilities are dense (the decisions need every class);
        the score and expected-nearby flags are lazy blocks of the same values
        (:mod:`fieldguide.priors.scored`), so no photos x classes block but the
        probabilities is written."""
        from fieldguide.priors.kernels import mix_rows, top_classes
        from fieldguide.priors.scored import ScoredPairs

        n, k = vision.shape
        totals = np.empty(n)
        first, pos = top_classes(vision, cols >= 0, top_k, self.floor, MASS, totals)
        photo = np.repeat(np.arange(n), np.diff(first))
        _, sc, used = self.evaluate_pairs(ctx, photo, cols[pos])
        probs = np.empty((n, k))
        mix_rows(vision, totals, first, pos, np.maximum(sc, self.floor), used, probs)
        kept = used[photo]              # a photo the prior could not use has no scores
        start = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(np.where(used, np.diff(first), 0), out=start[1:])
        score = ScoredPairs(start, pos[kept], sc[kept], k)
        located = used & valid_coordinates(ctx.latitude, ctx.longitude)
        return PriorOutput(probs, score, self.expected_nearby(ctx, cols, score, located))

    def expected_nearby(self, ctx: Context, cols: NDArray[np.int64], score: ScoredPairs,
                        located: NDArray[np.bool_]) -> ClassValues:
        """:meth:`nearby` for the photos ``located`` (others: never), as a lazy block, from
        the scores of the photos' top classes (by default: score >= the taxon's threshold,
        so an unscored class is not expected nearby)."""
        from fieldguide.priors.scored import ThresholdNearby

        known = cols >= 0
        threshold = np.where(known, self.thresholds[np.maximum(cols, 0)], np.inf)
        return ThresholdNearby(score, threshold, located)


#: Prior methods by name (plug-ins: entry point group ``fieldguide.priors``).
PRIORS: Registry[type[PlaceSeasonPrior]] = Registry("priors", "prior method", [
    ("counts", "fieldguide.priors.counts:CountsPrior",
     "Smoothed counts per H3 cell and day window at several resolutions."),
    ("sinr", "fieldguide.priors.sinr:SinrPrior",
     "SINR: a presence-only network of place and season (training needs torch)."),
], field="method")


def clean_context(context: Context) -> Context:
    """Unusable values become unknown (NaN): coordinates out of range or (0, 0), days outside
    1..366. The caller decides whether to report them; the prior never guesses."""
    lat = np.array(context.latitude, dtype=np.float64)
    lon = np.array(context.longitude, dtype=np.float64)
    doy = np.array(context.day_of_year, dtype=np.float64)
    bad = ~valid_coordinates(lat, lon)
    lat[bad] = np.nan
    lon[bad] = np.nan
    with np.errstate(invalid="ignore"):
        doy[~((doy >= 1) & (doy <= 366))] = np.nan
    return Context(lat, lon, np.floor(doy))


def _rows(ctx: Context, rows: NDArray[np.bool_]) -> Context:
    return Context(ctx.latitude[rows], ctx.longitude[rows], ctx.day_of_year[rows])
