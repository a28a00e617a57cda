from __future__ import annotations

from pathlib import Path

import numpy as np

from fieldguide.ingest import ingest_votes
from fieldguide.store import Study
from fieldguide.store.sql import scalar
from fieldguide.votes import create
from fieldguide.votes.io import read_votes
from fieldguide.votes.study import save_labels, votes_from_study


def test_votes_in_the_study_aggregate_as_the_files_do(tmp_path: Path, shared_data: Path) -> None:
    base = shared_data / "votes" / "plantnet_crowdswe_sample"
    files = {
        "authors": base / "aggregation" / "authors.txt",
        "ai": base / "aggregation" / "ai_answers.json",
        "ai_scores": base / "aggregation" / "ai_scores.json",
    }
    with Study(tmp_path / "s") as study:
        ingest_votes(study, base / "answers" / "answers.json", authors=files["authors"],
                     ai_answers=files["ai"], ai_scores=files["ai_scores"])
        stored = votes_from_study(study)
        from_files = read_votes(base / "answers" / "answers.json", **files)
        assert (stored.n_tasks, stored.n_workers, stored.n_votes) == (
            from_files.n_tasks, from_files.n_workers, from_files.n_votes)
        a = create("plantnet", ai="confident").fit(stored)
        b = create("plantnet", ai="confident").fit(from_files)
        assert np.array_equal(stored.label_names[a.labels_], from_files.label_names[b.labels_])
        assert np.array_equal(a.validated_, b.validated_)
        assert save_labels(study, "plantnet", stored, a) == 1625
        # Saving again replaces the method's rows rather than adding to them.
        save_labels(study, "plantnet", stored, a)
        assert scalar(study.con, "SELECT count(*) FROM labels WHERE method = 'plantnet'") == 1625
        assert scalar(study.con, "SELECT count(*) FROM labels WHERE validated") == int(
            a.validated_.sum())
