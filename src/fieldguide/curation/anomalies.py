"""The ``anomalies`` rule: observations that ``fieldguide prior anomalies`` scored as
unexpected at their place and date are sent to the review page (``needs_review``, every photo
of the observation) or dropped, before they become training data.

As with ``label_noise``, the scores are a file (computing them needs a prior, which is built
from the study itself) read by its one reader
(:func:`fieldguide.priors.anomaly.read_anomalies`); observations it names that the build does
not hold are not refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from fieldguide.curation.spec import Problems, Rule

if TYPE_CHECKING:
    import duckdb


@dataclass(frozen=True)
class Anomalies(Rule):
    """Flag for review (``action = "review"``, the default) or drop (``"drop"``) the
    observations of ``file`` (from ``fieldguide prior anomalies``; relative to the working
    directory) whose ``anomaly_score`` is at least ``min_score`` (default 0.5: the prior does
    not expect the taxon near there and then)."""

    file: str = ""
    min_score: float = 0.5
    action: Literal["review", "drop"] = "review"

    def problems(self) -> Problems:
        bad = super().problems()
        if not self.file.strip():
            bad.append(("file", "anomalies needs the scores, e.g. file = \"anomalies.csv\" "
                                "(from `fieldguide prior anomalies`)"))
        elif not Path(self.file).is_file():
            bad.append(("file", f"no such file {self.file!r} (write it with `fieldguide prior "
                                "anomalies PRIOR OBSERVATIONS -o FILE`)"))
        if not 0 <= self.min_score <= 1:
            bad.append(("min_score", f"min_score = {self.min_score} must be in [0, 1]"))
        return bad

    def apply(self, con: duckdb.DuckDBPyConnection, seed: int) -> list[str]:
        import numpy as np
        import pyarrow as pa

        import fieldguide.curation.steps as steps
        from fieldguide.curation.steps import DS
        from fieldguide.priors.anomaly import read_anomalies
        from fieldguide.store.sql import scalar

        ids, scores = read_anomalies(self.file)
        rows = np.flatnonzero(scores >= self.min_score)
        con.register("fg_anomalous", pa.table({
            "observation_id": [ids[i] for i in rows],
            "reason": [f"anomaly {scores[i]:.2f}" for i in rows]}))
        try:
            present = int(scalar(con, f"SELECT count(*) FROM {DS} WHERE observation_id "
                                      "IN (SELECT observation_id FROM fg_anomalous)"))
            if self.action == "drop":
                steps.delete(con, "observation_id IN (SELECT observation_id FROM fg_anomalous)")
                done = f"{present:,} photos dropped"
            else:
                flagged = steps.flag_for_review(con, "observation_id", "fg_anomalous")
                done = f"{flagged:,} photos flagged for review"
        finally:
            con.unregister("fg_anomalous")
        return [f"{len(rows):,} observations with anomaly_score >= {self.min_score:g}: {done}"]
