"""How well a prior alone predicts which taxon was observed, against the class frequency.

For each held-out record the prior ranks every taxon it knows. Reported: top-1 and top-5
accuracy, and mean average precision in two readings: per record (one relevant taxon, so AP is
1 / its rank: the mean reciprocal rank) and per taxon (SINR's: rank the records by the taxon's
probability, AP of that ranking against the records of the taxon, averaged over taxa). The
baseline gives every record the study's class frequency; "place" ignores the dates, "place and
season" uses them. Records are those the file could place (see ``read_csv``'s skips).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from numpy.typing import NDArray

from fieldguide.identification.posterior import Context
from fieldguide.priors.observations import Observations
from fieldguide.priors.prior import CHUNK, PlaceSeasonPrior


@dataclass(frozen=True)
class Scores:
    variant: str
    records: int
    top1: float
    top5: float
    map_records: float
    map_taxa: float

    def as_dict(self) -> dict[str, float | int | str]:
        return asdict(self)


def evaluate_prior(prior: PlaceSeasonPrior, obs: Observations) -> list[Scores]:
    """Baseline, place, and place-and-season scores of ``prior`` on ``obs`` (taxa indexed as
    the prior's). Records without coordinates count only in the place-and-season row when
    the prior has a season-only estimate; the baseline is on the same records as each row."""
    cols = np.arange(len(prior.names), dtype=np.int64)
    ctx = Context(obs.lat, obs.lon, obs.doy)
    out: list[Scores] = []
    place, used_place = _probabilities(prior, ctx, cols, season=False)
    both, used_both = _probabilities(prior, ctx, cols, season=True)
    freq = prior.frequency(cols)
    rows = used_place | used_both
    base = np.broadcast_to(freq, (int(rows.sum()), len(cols)))
    out.append(_scores("class frequency", base, obs.taxon[rows]))
    out.append(_scores("place", place[used_place], obs.taxon[used_place]))
    out.append(_scores("place and season", both[used_both], obs.taxon[used_both]))
    return out


def _probabilities(prior: PlaceSeasonPrior, ctx: Context, cols: NDArray[np.int64], *, season: bool
                   ) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
    probs = np.zeros((len(ctx), len(cols)))
    used = np.zeros(len(ctx), dtype=bool)
    for start in range(0, len(ctx), CHUNK):
        part = slice(start, start + CHUNK)
        sub = Context(ctx.latitude[part], ctx.longitude[part], ctx.day_of_year[part])
        p, _, u = prior.evaluate(sub, cols, season=season)
        probs[part], used[part] = p, u
    return probs, used


def _scores(variant: str, probs: NDArray[np.float64], truth: NDArray[np.int64]) -> Scores:
    n = len(truth)
    if n == 0:
        return Scores(variant, 0, float("nan"), float("nan"), float("nan"), float("nan"))
    true_p = probs[np.arange(n), truth]
    # rank of the truth; ties are broken against the truth (no credit for a flat prior)
    rank = (probs >= true_p[:, None]).sum(axis=1)
    return Scores(variant, n, float((rank <= 1).mean()), float((rank <= 5).mean()),
                  float((1.0 / rank).mean()), _map_taxa(probs, truth))


def _map_taxa(probs: NDArray[np.float64], truth: NDArray[np.int64]) -> float:
    aps = []
    for k in np.unique(truth):
        order = np.argsort(-probs[:, k], kind="stable")
        hit = (truth[order] == k).astype(np.float64)
        precision = np.cumsum(hit) / np.arange(1, len(hit) + 1)
        aps.append(float((precision * hit).sum() / hit.sum()))
    return float(np.mean(aps))


def table(rows: list[Scores]) -> str:
    """The scores as a Markdown table."""
    lines = ["| prior | records | top-1 | top-5 | MAP (records) | MAP (taxa) |",
             "|---|---:|---:|---:|---:|---:|"]
    lines += [f"| {r.variant} | {r.records:,} | {r.top1:.3f} | {r.top5:.3f} | "
              f"{r.map_records:.3f} | {r.map_taxa:.3f} |" for r in rows]
    return "\n".join(lines)
