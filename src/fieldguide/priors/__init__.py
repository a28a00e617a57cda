"""Place-and-season priors: p(taxon | where, when) learned from a study's observations.

``build_prior`` reads the study (see :mod:`~fieldguide.priors.observations` for what is
skipped and why), fits a prior of a method registered in :data:`PRIORS` (``counts``,
``sinr``, or a plug-in's) and saves it as a folder;
``load_prior`` reads it back without torch, as an object the posterior takes
(``name``, ``apply(probs, context, classes) -> PriorOutput``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fieldguide.identification.posterior import Context, PriorOutput
from fieldguide.priors.evaluate import Scores, evaluate_prior
from fieldguide.priors.observations import Observations, read_csv, read_study, split_by_observer
from fieldguide.priors.prior import FLOOR, PRIORS, PlaceSeasonPrior, clean_context
from fieldguide.priors.store import load_prior, save_prior
from fieldguide.store import Study

__all__ = [
    "FLOOR",
    "PRIORS",
    "Context",
    "Observations",
    "PlaceSeasonPrior",
    "PriorOutput",
    "Scores",
    "build_prior",
    "clean_context",
    "evaluate_prior",
    "fit_prior",
    "load_prior",
    "read_csv",
    "read_study",
    "save_prior",
    "split_by_observer",
]


def fit_prior(obs: Observations, method: str = "counts",
              **options: Any) -> PlaceSeasonPrior:
    """A prior of ``method`` fitted on ``obs`` (options go to the method's ``fit``)."""
    return PRIORS[method].fit(obs, **options)


def build_prior(study: Study, output: str | Path, *, method: str = "counts",
                rank: str = "species", **options: Any) -> tuple[PlaceSeasonPrior, dict[str, Any]]:
    """Fit a prior on the study's records at ``rank`` and save it in ``output``. Returns the
    prior and the build summary stored in prior.json (records used, skipped by reason)."""
    obs = read_study(study, rank)
    prior = fit_prior(obs, method, **options)
    summary = {"study": str(study.root), "records": len(obs), "taxa": len(obs.names),
               "skipped": dict(obs.skipped)}
    save_prior(prior, output, summary)
    return prior, summary
