"""Inputs the fuzzers found that once gave a traceback or a message of several lines, kept
as plain tests. The last five fail until their readers refuse them as one line: four in the
spec loaders (curation/spec.py, training/spec.py), one in taxonomy/io.py's taxa.csv reader."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from fieldguide.curation import load_spec as load_dataset_spec
from fieldguide.errors import InputError
from fieldguide.ingest import ingest_gbif_csv, ingest_inat_csv, ingest_taxonomy, ingest_traits
from fieldguide.store import Study
from fieldguide.training.spec import load_spec as load_train_spec
from tests.fuzz.conftest import fingerprint, ingested_or_refused


@pytest.mark.parametrize("ingest", [ingest_inat_csv, ingest_gbif_csv])
def test_mixed_line_endings_are_refused_naming_the_line(study: Study, tmp_path: Path,
                                                        ingest: Callable[..., object]) -> None:
    """DuckDB's strict reader gives up on a whole file that mixes CRLF and LF lines."""
    path = tmp_path / "mixed.csv"
    path.write_bytes(b"id,gbifID,observed_on,eventDate,user_id,scientific_name,scientificName,"
                     b"decimalLatitude,decimalLongitude\n"
                     b"1,1,2020-01-01,2020-01-01,7,Rosa,Rosa,1,1\r\n"
                     b"2,2,2020-01-01,2020-01-01,7,Rosa,Rosa,1,1\n")
    before = fingerprint(study)
    with pytest.raises(InputError, match="mixed line endings") as err:
        ingest(study, path)
    assert (err.value.path, err.value.line) == (str(path), 2)
    assert fingerprint(study) == before


def test_a_missing_trait_key_is_one_rejection_not_a_crash(study: Study, tmp_path: Path) -> None:
    """A check's reason built from a missing value was NULL, and the report crashed on it."""
    path = tmp_path / "labels.csv"
    path.write_text("file,flowers\n30790051.jpg,1\nNA,1\n,0\n")
    report = ingest_traits(study, path, max_rejects=2)
    assert [(r.line, r.field, r.reason) for r in report.rejections] == [
        (3, "file", "missing id"), (4, "file", "missing id")]


def test_a_line_break_in_a_value_stays_on_one_line_in_the_error(study: Study,
                                                               tmp_path: Path) -> None:
    path = tmp_path / "labels.csv"
    path.write_text('file,flowers\n"nobody\nhere.jpg",1\n')
    ingested_or_refused(study, path, lambda: ingest_traits(study, path))


@pytest.mark.parametrize(("name", "text"), [
    ("dataset.toml", 'name = "x"\nstep = [{rule = []}]\n'),  # TypeError: unhashable list
    ("dataset.toml", 'name = "x"\nstep = [false]\n'),  # AttributeError: bool has no .get
])
def test_dataset_spec_found(tmp_path: Path, name: str, text: str) -> None:
    path = tmp_path / name
    path.write_text(text)
    ingested_or_refused(None, path, lambda: load_dataset_spec(path))


def test_training_spec_not_utf8_found(tmp_path: Path) -> None:
    path = tmp_path / "train.toml"
    path.write_bytes(b"\x80")  # UnicodeDecodeError from Path.read_text
    ingested_or_refused(None, path, lambda: load_train_spec(path))


def test_training_spec_key_with_a_line_break_found(tmp_path: Path) -> None:
    path = tmp_path / "train.toml"
    path.write_text('name = "x"\n[data]\nmanifest = "m.csv"\n[model]\n"\\r" = false\n')
    ingested_or_refused(None, path, lambda: load_train_spec(path))  # "unknown key 'model.\r'"


def test_inat_taxa_row_without_ancestry_found(study: Study, tmp_path: Path) -> None:
    """iNaturalist's own taxa.csv starts with Life (48460), whose ancestry is empty:
    ``zip([-1], [], strict=True)`` in taxonomy.io.read_inat_taxa_csv raises ValueError."""
    path = tmp_path / "taxa.csv"
    path.write_text("taxon_id\tancestry\trank_level\trank\tname\tactive\n"
                    "48460\t\t100\tstateofmatter\tLife\ttrue\n"
                    "1\t48460\t70\tkingdom\tAnimalia\ttrue\n")
    ingested_or_refused(study, tmp_path, lambda: ingest_taxonomy(study, path, fmt="inat"))
