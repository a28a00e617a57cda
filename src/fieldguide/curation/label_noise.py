"""The ``label_noise`` rule: photos that ``fieldguide dataset noise`` ranked as likely
mislabelled are sent to the review page (``needs_review``) or dropped.

Why a file and not a recomputation: the ranking needs embeddings and a cross-validated probe
(minutes), a build needs seconds, and a person may want to read the ranking first. The file is
read by its one reader (:func:`fieldguide.training.noise.read_noise`); photo ids it names that
the build no longer holds are counted in the report, not refused (an earlier step may have
dropped them).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from fieldguide.curation.spec import Problems, Rule

if TYPE_CHECKING:
    import duckdb


@dataclass(frozen=True)
class LabelNoise(Rule):
    """Flag for review (``action = "review"``, the default) or drop (``"drop"``) the photos
    of ``file`` (a ``noise.csv``; relative to the working directory) whose ``noise_score`` is
    at least ``min_score``, and with ``issues_only`` only those confident learning also
    flagged (``label_issue``)."""

    file: str = ""
    min_score: float = 0.5
    issues_only: bool = False
    action: Literal["review", "drop"] = "review"

    def problems(self) -> Problems:
        bad = super().problems()
        if not self.file.strip():
            bad.append(("file", "label_noise needs the ranking, e.g. file = "
                                "\"dataset/noise.csv\" (from `fieldguide dataset noise`)"))
        elif not Path(self.file).is_file():
            bad.append(("file", f"no such file {self.file!r} (write it with `fieldguide "
                                "dataset noise MANIFEST -o FILE`)"))
        if not 0 <= self.min_score <= 1:
            bad.append(("min_score", f"min_score = {self.min_score} must be in [0, 1]"))
        return bad

    def apply(self, con: duckdb.DuckDBPyConnection, seed: int) -> list[str]:
        import numpy as np
        import pyarrow as pa

        import fieldguide.curation.steps as steps
        from fieldguide.curation.steps import DS
        from fieldguide.store.sql import scalar
        from fieldguide.training.noise import read_noise

        table = read_noise(self.file)
        pick = table.noise_score >= self.min_score
        if self.issues_only:
            pick &= table.label_issue
        rows = np.flatnonzero(pick)
        reasons = [f"label noise {table.noise_score[i]:.2f} (suggested {table.suggested[i]})"
                   for i in rows]
        con.register("fg_noisy", pa.table({
            "photo_id": [table.photo_id[i] for i in rows], "reason": reasons,
            "suggested": [table.suggested[i] or None for i in rows]}))
        try:
            present = int(scalar(con, f"SELECT count(*) FROM {DS} "
                                 "WHERE photo_id IN (SELECT photo_id FROM fg_noisy)"))
            if self.action == "drop":
                steps.delete(con, "photo_id IN (SELECT photo_id FROM fg_noisy)")
                done = f"{present:,} dropped"
            else:
                done = f"{steps.flag_for_review(con, 'photo_id', 'fg_noisy'):,} flagged for review"
        finally:
            con.unregister("fg_noisy")
        which = " and label_issue" if self.issues_only else ""
        return [f"{len(rows):,} photos with noise_score >= {self.min_score:g}{which}: {done}"
                + (f" ({len(rows) - present:,} no longer in the dataset)"
                   if len(rows) > present else "")]
