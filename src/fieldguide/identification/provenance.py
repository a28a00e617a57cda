"""How each answer was reached, as one short string per row (SpeciesNet writes a
``prediction_source`` on every result for the same reason: a person reading "Asteraceae"
needs to know whether the model was unsure or a checklist cut the species away).

The string is tokens joined by ``+``, always in this order:

==============================  ===========================================================
``vision``                      always first: the model's calibrated probabilities
``prior:NAME``                  a prior changed this row's probabilities (``NAME`` is the
                                prior's: ``counts-prior``, ``sinr-prior``, ``geofence``,
                                ``place-lists``); a prior with nothing to go on (no place,
                                no date) leaves the row alone and is not named
``restricted:NAME``             a restriction to some taxa (``checklist`` for ``--taxa`` and
                                the service's ``taxa``, ``within:TAXON`` for ``--within`` and
                                the service's ``within`` and ``taxon``) removed probability
                                from the row
``group_threshold:GROUP``       the threshold the row met or missed was its group's
                                (``calibrate --groups-at``), not the single ``--threshold``
``blocked:TAXON``               the place lists block ``TAXON`` where the photo was taken:
                                it would have been the answer, and the walk went past it
``rolled_up:RANK``              the decision is a coarser taxon than any class: the walk-up
                                went up to ``RANK`` (a blocked species rolls up this way too)
``undecided``                   no taxon cleared the threshold at any allowed rank
``rejected:ood`` /              the rejection flagged the photo as unlike the training
``rejected:quality``            photos (the combined out-of-distribution score) or as
                                unusable (a photo-quality rule); it is never auto-validated
==============================  ===========================================================

Rows that failed (no decodable photo) get no provenance (null). Built by
:func:`provenance`, a pure function of the decision arrays, so ``identify`` and the service
cannot describe the same decision differently.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from fieldguide.identification.decision import ClassTree, Decisions

#: What a restriction's name starts with (:class:`~fieldguide.identification.posterior.
#: Subtree`): these are reported as ``restricted:``, every other prior as ``prior:``.
RESTRICTIONS = ("checklist", "within:")


def _rejection_token(reason: str) -> str:
    return "rejected:quality" if reason.startswith("not usable") else "rejected:ood"


def provenance(d: Decisions, tree: ClassTree, ok: np.ndarray,
               changed_by: Mapping[str, np.ndarray] | None = None,
               rejected: np.ndarray | None = None,
               reasons: Sequence[str] | None = None) -> list[str | None]:
    """One provenance string per row (see the module for the vocabulary): ``d`` the
    decisions, ``ok`` the rows that decoded, ``changed_by`` each prior's changed rows (a
    :class:`~fieldguide.identification.posterior.Posterior`'s), ``rejected`` and
    ``reasons`` the rejection's."""
    classes = set(tree.names.get("species", ()))
    out: list[str | None] = []
    for i, fine in enumerate(ok):
        if not fine:
            out.append(None)
            continue
        tokens = ["vision"]
        for name, changed in (changed_by or {}).items():
            if changed[i]:
                kind = "restricted" if name.startswith(RESTRICTIONS) else "prior"
                tokens.append(f"{kind}:{name}")
        if d.group is not None and d.group[i]:
            tokens.append(f"group_threshold:{d.group[i]}")
        if d.blocked is not None and d.blocked[i]:
            tokens.append(f"blocked:{d.blocked[i]}")
        if not d.taxon[i]:
            tokens.append("undecided")
        elif d.taxon[i] not in classes:
            tokens.append(f"rolled_up:{d.rank[i]}")
        if rejected is not None and rejected[i]:
            tokens.append(_rejection_token(reasons[i] if reasons is not None else ""))
        out.append("+".join(tokens))
    return out
