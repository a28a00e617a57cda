"""The SQL splits give the pure rules' answers, and hold their properties on random studies."""

from __future__ import annotations

from collections import Counter, defaultdict
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fieldguide.curation import parse_spec, select
from fieldguide.curation.rules import (
    ObserverCount,
    inat2017_split,
    stratified_counts,
    temporal_quotas,
)
from fieldguide.store import Study
from tests.curation.conftest import TAXA, add_observations

SLOW_FIXTURE = [HealthCheck.function_scoped_fixture]
# (taxon, observer index, photos) per observation
studies = st.lists(
    st.tuples(st.sampled_from([4, 5, 9]), st.integers(0, 25), st.integers(1, 4)),
    min_size=1, max_size=120,
)


def _fill(root: Path, rows: list[tuple[int, int, int]]) -> Study:
    study = Study(root)
    study.con.executemany(
        "INSERT INTO taxa (taxon_id, name, rank, parent_id, is_hybrid) VALUES (?, ?, ?, ?, ?)",
        TAXA)
    add_observations(study, [{"id": f"o{i}", "taxon": t, "observer": f"u{u}", "photos": p,
                              "year": 2010 + (i * 7) % 12}
                             for i, (t, u, p) in enumerate(rows)])
    return study


def _splits(study: Study, split: dict[str, object], seed: int) -> list[tuple[str, ...]]:
    select(study, parse_spec({"name": "t", "seed": seed, "split": split}))
    return study.con.execute(
        "SELECT d.taxon_id, d.observer, d.observation_id, d.photo_id, s.split "
        "FROM fg_ds d JOIN fg_split s USING (photo_id)").fetchall()


@settings(max_examples=25, deadline=None, suppress_health_check=SLOW_FIXTURE)
@given(studies, st.integers(0, 3))
def test_inat2017_sql_equals_pure_rule_and_is_observer_disjoint(
    tmp_path_factory: object, rows: list[tuple[int, int, int]], seed: int
) -> None:
    root = tmp_path_factory.mktemp("s")  # type: ignore[attr-defined]
    with _fill(root, rows) as study:
        got = _splits(study, {"method": "inat2017"}, seed)
        again = _splits(study, {"method": "inat2017"}, seed)
    assert sorted(got) == sorted(again)  # reproducible
    per_taxon: dict[int, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    obs: dict[tuple[int, str], set[str]] = defaultdict(set)
    photos: Counter[tuple[int, str]] = Counter()
    for taxon, observer, observation, _, split in got:
        per_taxon[taxon][observer].add(split)
        obs[(taxon, observer)].add(observation)
        photos[(taxon, observer)] += 1
    for taxon, observers in per_taxon.items():
        assert all(len(s) == 1 for s in observers.values())  # observer-disjoint
        assert any("train" in s for s in observers.values())  # every taxon in train
        expected = inat2017_split(
            [ObserverCount(u, len(obs[(taxon, u)]), photos[(taxon, u)]) for u in observers],
            seed=seed)
        assert {u: next(iter(s)) for u, s in observers.items()} == expected
    assert len({r[3] for r in got}) == len(got)  # each photo once: splits are disjoint


@settings(max_examples=20, deadline=None, suppress_health_check=SLOW_FIXTURE)
@given(studies, st.integers(0, 3))
def test_random_split_is_stratified_by_observation(
    tmp_path_factory: object, rows: list[tuple[int, int, int]], seed: int
) -> None:
    root = tmp_path_factory.mktemp("s")  # type: ignore[attr-defined]
    with _fill(root, rows) as study:
        got = _splits(study, {"method": "random", "train": 0.7, "val": 0.1, "test": 0.2}, seed)
        assert sorted(got) == sorted(
            _splits(study, {"method": "random", "train": 0.7, "val": 0.1, "test": 0.2}, seed))
    by_obs: dict[str, set[str]] = defaultdict(set)
    per_taxon: dict[int, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for taxon, _, observation, _, split in got:
        by_obs[observation].add(split)
        per_taxon[taxon][split].add(observation)
    assert all(len(s) == 1 for s in by_obs.values())
    for splits in per_taxon.values():
        n = sum(len(v) for v in splits.values())
        train, val, test = stratified_counts(n, 0.1, 0.2)
        assert (len(splits["train"]), len(splits["val"]), len(splits["test"])) == (train, val, test)


def test_temporal_sql_equals_pure_quotas(tmp_path: Path) -> None:
    rows = [(4 if i % 3 else 5, i % 17, 1) for i in range(300)]
    with _fill(tmp_path / "s", rows) as study:
        counts = study.con.execute(
            "SELECT o.taxon_id, year(observed_on), count(*) FROM observations o GROUP BY ALL"
        ).fetchall()
        select(study, parse_spec({"name": "t", "step": [
            {"rule": "temporal", "cutoff_year": 2015, "later_fraction": 0.3}]}))
        got = Counter((t, y) for t, y in study.con.execute(
            "SELECT taxon_id, year FROM fg_ds").fetchall())
    last = max(y for _, y, _ in counts)
    for taxon in (4, 5):
        per_year = {y: n for t, y, n in counts if t == taxon}
        quotas = temporal_quotas(per_year, cutoff_year=2015, later_fraction=0.3, last_year=last)
        assert {y: got[(taxon, y)] for y in per_year} == quotas


def test_source_split_kept_as_given(study: Study) -> None:
    add_observations(study, [{"id": "a", "taxon": 4, "observer": "x"},
                             {"id": "b", "taxon": 4, "observer": "y"}])
    study.con.execute("UPDATE photos SET source_split = 'test' WHERE observation_id = 'a'")
    records = select(study, parse_spec({"name": "t", "split": {"method": "source"}}))
    assert dict(study.con.execute("SELECT photo_id, split FROM fg_split").fetchall()) == {
        "a-0": "test", "b-0": "train"}
    assert "1 photo(s) without a source split" in records[-1].notes[0]


def test_inat2017_worked_example_in_sql(study: Study) -> None:
    add_observations(study, [{"id": f"o{i}", "taxon": 4, "observer": f"u{i}"} for i in range(20)])
    select(study, parse_spec({"name": "t", "split": {"method": "inat2017"}}))
    counts = dict(study.con.execute("SELECT split, count(*) FROM fg_split GROUP BY 1").fetchall())
    assert counts == {"test": 8, "val": 4, "train": 8}


def test_random_split_keeps_a_folder_observation_whole(tmp_path: Path) -> None:
    """``label/observation/photo.jpg``: every photo of one plant lands in one split."""
    from PIL import Image

    from fieldguide.ingest import ingest_image_folder

    root = tmp_path / "photos"
    for species in ("Acer rubrum", "Acer saccharum"):
        for tree in range(10):
            for shot in range(3):
                file = root / species / f"tree-{tree}" / f"{shot}.jpg"
                file.parent.mkdir(parents=True, exist_ok=True)
                Image.new("RGB", (4, 4), (tree * 20, shot * 60, 9)).save(file)
    with Study(tmp_path / "s") as study:
        ingest_image_folder(study, root)
        rows = _splits(study, {"method": "random", "train": 0.6, "val": 0.2, "test": 0.2}, 3)
    per_observation: dict[str, set[str]] = defaultdict(set)
    for _, _, observation, _, split in rows:
        per_observation[observation].add(split)
    assert len(per_observation) == 20 and len(rows) == 60
    assert all(len(s) == 1 for s in per_observation.values())
    assert Counter(next(iter(s)) for s in per_observation.values()) == {
        "train": 12, "val": 4, "test": 4}
