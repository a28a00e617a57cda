"""Votes in and labels out of a study: the orchestration around the pure strategies."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from fieldguide.errors import InputError
from fieldguide.store import Study
from fieldguide.votes.base import Aggregator
from fieldguide.votes.io import ints_if_possible
from fieldguide.votes.table import VoteTable


def votes_from_study(study: Study, *, ai_model: str | None = "ai") -> VoteTable:
    """The study's current identifications as a VoteTable, with each task's author (the
    identifier flagged ``is_author``) and, when ``ai_model`` names stored predictions, the AI's
    top-1 label and score."""
    votes = study.con.sql(
        "SELECT observation_id, user_id, label FROM identifications WHERE is_current"
    ).to_arrow_table()
    if votes.num_rows == 0:
        raise InputError("the study has no votes (ingest some with `fieldguide ingest votes`)")
    authors = study.con.sql(
        "SELECT observation_id, any_value(user_id) FROM identifications "
        "WHERE is_current AND is_author GROUP BY 1"
    ).fetchnumpy()
    ai_labels = ai_scores = None
    if ai_model is not None:
        ai = study.con.execute(
            "SELECT observation_id, label, score FROM predictions WHERE model = ? AND k = 1",
            [ai_model],
        ).fetchnumpy()
        if len(ai["observation_id"]):
            tasks = ints_if_possible(np.asarray(ai["observation_id"]))
            ai_labels = (tasks, ints_if_possible(np.asarray(ai["label"])))
            scores = np.asarray(ai["score"], dtype=np.float64)
            ai_scores = (tasks, np.where(np.isnan(scores), 0.0, scores))
    task_col, author_col = (np.asarray(authors[name]) for name in authors)

    def column(name: str) -> npt.NDArray[Any]:
        return ints_if_possible(votes.column(name).to_numpy(zero_copy_only=False))

    return VoteTable.from_records(
        column("observation_id"),
        column("user_id"),
        column("label"),
        authors=(ints_if_possible(task_col), ints_if_possible(author_col))
        if len(task_col)
        else None,
        ai_labels=ai_labels,
        ai_scores=ai_scores,
    )


def label_table(table: VoteTable, strategy: Aggregator) -> pa.Table:
    """One row per task: label (null where none is decided), conf, acc, validated."""
    labels = strategy.labels_
    names = table.label_names[np.maximum(labels, 0)].astype(str)
    return pa.table(
        {
            "task": pa.array(table.task_names.astype(str)),
            "label": pa.array(names, mask=labels < 0, type=pa.string()),
            "conf": pa.array(strategy.conf_, type=pa.float64()),
            "acc": pa.array(strategy.acc_, type=pa.float64()),
            "validated": pa.array(np.asarray(strategy.validated_, dtype=bool)),
        }
    )


def save_labels(study: Study, method: str, table: VoteTable, strategy: Aggregator) -> int:
    """Replace this method's labels for these observations, all or nothing; return rows."""
    rows = label_table(table, strategy)
    with study.transaction() as con:
        con.register("fg_new_labels", rows)
        try:
            con.execute(
                "DELETE FROM labels WHERE method = ? AND observation_id IN "
                "(SELECT task FROM fg_new_labels)",
                [method],
            )
            con.execute(
                "INSERT INTO labels (observation_id, method, label, taxon_id, conf, acc, "
                "validated, created_at) SELECT l.task, ?, l.label, t.taxon_id, l.conf, l.acc, "
                "l.validated, now() FROM fg_new_labels l LEFT JOIN (SELECT name, "
                "min(taxon_id) AS taxon_id FROM taxa GROUP BY name) t ON t.name = l.label",
                [method],
            )
        finally:
            con.unregister("fg_new_labels")
    return int(rows.num_rows)
