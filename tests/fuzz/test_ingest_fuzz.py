"""Every ingester on arbitrary rows, values and bytes: ingested, or refused as one line that
names the file with the study unchanged; never a traceback (see conftest.FUZZ for bounds)."""

from __future__ import annotations

import csv
import io
import json
import struct
import zipfile
import zlib
from pathlib import Path
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from fieldguide.ingest import (
    ingest_dwca,
    ingest_gbif_csv,
    ingest_image_folder,
    ingest_inat_csv,
    ingest_taxonomy,
    ingest_traits,
    ingest_votes,
)
from fieldguide.ingest.inat_open_data import ingest_inat_open_data
from fieldguide.ingest.rowchecks import MISSING_VALUES
from fieldguide.store import Study
from tests.fuzz.conftest import FUZZ, Workdirs, ingested_or_refused

# Values that have broken parsers before, beside arbitrary text.
SPECIAL = [*MISSING_VALUES, " ", "None", "NaN", "nan", "inf", "-inf", "1e309", "-0", "0", "1",
           "U", "-1", "999", "-181", "12.5", "2020-05-01", "2999-01-01", "0000-00-00",
           "2020-02-30", "2016-01-24 15:50:11 -0500", "2020-05-01T10:00:00Z", "25:61",
           "true", "maybe", "\x00", '"', "'", ",", "\t", "|", "\n", "\r\n", "\\", "Rosa canina",
           "Rosa 'Peace'", 'Bellis "perennis"', "Quercus sp.", "×", "https://x.org/photos/1/a.jpg",
           "https://x.org/photos//", "x" * 300, "🌼", "\ufeff", "\u202e", "30790051",
           "1.jpg", "48", "../../etc/passwd"]
CELL = st.one_of(st.sampled_from(SPECIAL), st.text(max_size=12))
MAX_REJECTS = st.sampled_from([0, 1, 10**6])


def rows(width: int, max_rows: int = 6) -> st.SearchStrategy[list[list[str]]]:
    """Rows of about ``width`` cells; some shorter or longer (a ragged file)."""
    row = st.one_of(st.lists(CELL, min_size=width, max_size=width),
                    st.lists(CELL, min_size=0, max_size=width + 2))
    return st.lists(row, min_size=0, max_size=max_rows)


def write_csv(path: Path, header: list[str], body: list[list[str]], delimiter: str = ",",
              quote: bool = True) -> Path:
    """A well-formed CSV (quoted) or a raw delimited file (GBIF's: no quoting at all)."""
    if quote:
        out = io.StringIO()
        writer = csv.writer(out, delimiter=delimiter, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(body)
        path.write_text(out.getvalue(), encoding="utf-8")
    else:
        path.write_text("\n".join(delimiter.join(r) for r in [header, *body]) + "\n",
                        encoding="utf-8")
    return path


def raw_file(path: Path, header: str, tail: bytes) -> Path:
    """The header line, then arbitrary bytes."""
    path.write_bytes(header.encode() + b"\n" + tail)
    return path


INAT = ["id", "observed_on", "time_observed_at", "user_id", "user_login", "scientific_name",
        "taxon_id", "latitude", "longitude", "positional_accuracy", "captive_cultivated",
        "license", "place_guess", "quality_grade", "image_url", "iconic_taxon_name",
        "taxon_genus_name", "taxon_species_name", "field:Flowering", "Plant Phenology"]


@FUZZ
@given(header=st.permutations(INAT).flatmap(lambda h: st.integers(3, len(h)).map(
    lambda n: h[:n])), body=rows(len(INAT)), max_rejects=MAX_REJECTS)
def test_inat_csv(study: Study, workdirs: Workdirs, header: list[str], body: list[list[str]],
                  max_rejects: int) -> None:
    path = write_csv(workdirs.new() / "obs.csv", header, body)
    ingested_or_refused(study, path, lambda: ingest_inat_csv(study, path,
                                                             max_rejects=max_rejects))


@FUZZ
@given(tail=st.binary(max_size=400))
def test_inat_csv_bytes(study: Study, workdirs: Workdirs, tail: bytes) -> None:
    path = raw_file(workdirs.new() / "obs.csv", ",".join(INAT), tail)
    ingested_or_refused(study, path, lambda: ingest_inat_csv(study, path, max_rejects=10**6))


GBIF = ["gbifID", "eventDate", "scientificName", "decimalLatitude", "decimalLongitude",
        "recordedBy", "lifeStage", "stateProvince"]
MEDIA = ["gbifID", "type", "format", "identifier", "references", "creator", "license"]


@FUZZ
@given(body=rows(len(GBIF)), media=st.none() | rows(len(MEDIA)), max_rejects=MAX_REJECTS)
def test_gbif_csv(study: Study, workdirs: Workdirs, body: list[list[str]],
                  media: list[list[str]] | None, max_rejects: int) -> None:
    folder = workdirs.new()
    path = write_csv(folder / "occurrences.csv", GBIF, body)
    multimedia = None if media is None else write_csv(
        folder / "multimedia.txt", MEDIA, [[c.replace("\t", " ").replace("\n", " ")
                                            for c in r] for r in media], "\t", quote=False)
    ingested_or_refused(study, folder, lambda: ingest_gbif_csv(
        study, path, multimedia=multimedia, max_rejects=max_rejects))


META = """<archive xmlns="http://rs.tdwg.org/dwc/text/" metadata="eml.xml">
  <core encoding="UTF-8" fieldsTerminatedBy="\\t" linesTerminatedBy="\\n" fieldsEnclosedBy=""
        ignoreHeaderLines="1" rowType="http://rs.tdwg.org/dwc/terms/Occurrence">
    <files><location>occurrence.txt</location></files>
    <id index="0"/>
{fields}
  </core>
  <extension encoding="UTF-8" fieldsTerminatedBy="\\t" linesTerminatedBy="\\n"
        fieldsEnclosedBy="" ignoreHeaderLines="1" rowType="http://rs.gbif.org/terms/1.0/Multimedia">
    <files><location>multimedia.txt</location></files>
    <coreid index="0"/>
    <field index="1" term="http://purl.org/dc/terms/identifier"/>
    <field index="2" term="http://purl.org/dc/terms/license"/>
  </extension>
</archive>"""
DWC = ["gbifID", "eventDate", "scientificName", "acceptedScientificName", "taxonKey",
       "acceptedTaxonKey", "taxonRank", "decimalLatitude", "decimalLongitude", "recordedBy",
       "kingdom", "genus", "locality"]


def _dwca_zip(path: Path, meta: bytes, occurrence: bytes, media: bytes) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("meta.xml", meta)
        zf.writestr("occurrence.txt", occurrence)
        zf.writestr("multimedia.txt", media)
    return path


def _tsv(header: list[str], body: list[list[str]]) -> bytes:
    clean = [[c.replace("\t", " ").replace("\n", " ").replace("\r", " ") for c in r]
             for r in body]
    return ("\n".join("\t".join(r) for r in [header, *clean]) + "\n").encode()


@FUZZ
@given(body=rows(len(DWC)), media=rows(3), max_rejects=MAX_REJECTS)
def test_dwca_zip(study: Study, workdirs: Workdirs, body: list[list[str]],
                  media: list[list[str]], max_rejects: int) -> None:
    fields = "\n".join(f'    <field index="{i}" term="http://rs.tdwg.org/dwc/terms/{t}"/>'
                       for i, t in enumerate(DWC) if i)
    path = _dwca_zip(workdirs.new() / "archive.zip", META.format(fields=fields).encode(),
                     _tsv(DWC, body), _tsv(["gbifID", "identifier", "license"], media))
    ingested_or_refused(study, path, lambda: ingest_dwca(study, path, max_rejects=max_rejects))


@FUZZ
@given(meta=st.one_of(st.binary(max_size=300), st.text(max_size=300).map(str.encode),
                      st.sampled_from(['index="x"', 'index="-1"', 'index="99999"',
                                       'ignoreHeaderLines="z"', "rowType", "<files>",
                                       "occurrence.txt", "fieldsTerminatedBy"]).flatmap(
                          lambda s: st.just(META.replace(s, s[::-1], 1).encode()))),
       occurrence=st.binary(max_size=300))
def test_dwca_broken_meta_and_bytes(study: Study, workdirs: Workdirs, meta: bytes,
                                    occurrence: bytes) -> None:
    path = _dwca_zip(workdirs.new() / "archive.zip", meta, occurrence, b"")
    ingested_or_refused(study, path, lambda: ingest_dwca(study, path))


@FUZZ
@given(data=st.binary(max_size=400))
def test_dwca_not_a_zip(study: Study, workdirs: Workdirs, data: bytes) -> None:
    path = workdirs.new() / "archive.zip"
    path.write_bytes(b"PK\x03\x04" + data)
    ingested_or_refused(study, path, lambda: ingest_dwca(study, path))


@FUZZ
@given(body=rows(3, 8), json_answers=st.booleans(), side=st.none() | st.recursive(
    st.none() | st.booleans() | st.floats() | st.integers() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4), inner,
                                                                 max_size=4), max_leaves=12),
    labels=st.sampled_from(["ignore", "extend", "strict"]))
def test_votes(study: Study, workdirs: Workdirs, body: list[list[str]], json_answers: bool,
               side: Any, labels: Any) -> None:
    folder = workdirs.new()
    if json_answers:
        answers: dict[str, Any] = {}
        for r in body:
            if len(r) >= 3:
                answers.setdefault(r[0], {})[r[1]] = r[2]
        path = folder / "answers.json"
        path.write_text(json.dumps(answers))
    else:
        path = write_csv(folder / "votes.csv", ["task", "worker", "label"], body)
    scores = None
    if side is not None:
        scores = folder / "ai.json"
        scores.write_text(json.dumps(side, allow_nan=True))
    ingested_or_refused(study, folder, lambda: ingest_votes(
        study, path, ai_answers=scores, taxa=labels, max_rejects=10**6))


@FUZZ
@given(tail=st.binary(max_size=300), json_answers=st.booleans())
def test_votes_bytes(study: Study, workdirs: Workdirs, tail: bytes, json_answers: bool) -> None:
    folder = workdirs.new()
    path = folder / ("answers.json" if json_answers else "votes.csv")
    path.write_bytes((b"{" if json_answers else b"task,worker,label\n") + tail)
    ingested_or_refused(study, folder, lambda: ingest_votes(study, path, max_rejects=10**6))


@FUZZ
@given(body=rows(4, 8), ids=st.lists(st.sampled_from(
    ["30790051", "30790051.jpg", "28867711", "nope", "NA", ""]), max_size=8),
    max_rejects=MAX_REJECTS)
def test_traits(study: Study, workdirs: Workdirs, body: list[list[str]], ids: list[str],
                max_rejects: int) -> None:
    for r, key in zip(body, ids, strict=False):
        if r:
            r[0] = key
    path = write_csv(workdirs.new() / "labels.csv", ["file", "open_flowers", "flowers", "time"],
                     body)
    ingested_or_refused(study, path, lambda: ingest_traits(study, path, max_rejects=max_rejects))


OD = {
    "observations": ["observation_uuid", "observer_id", "latitude", "longitude",
                     "positional_accuracy", "taxon_id", "quality_grade", "observed_on"],
    "photos": ["photo_uuid", "photo_id", "observation_uuid", "observer_id", "extension",
               "license", "width", "height", "position"],
    "taxa": ["taxon_id", "ancestry", "rank_level", "rank", "name", "active"],
    "observers": ["observer_id", "login", "name"],
}


@FUZZ
@given(tables=st.fixed_dictionaries({name: rows(len(cols), 5) for name, cols in OD.items()}),
       drop=st.sampled_from([None, "taxa", "observers", "photos"]), max_rejects=MAX_REJECTS)
def test_inat_open_data(study: Study, workdirs: Workdirs, tables: dict[str, list[list[str]]],
                        drop: str | None, max_rejects: int) -> None:
    folder = workdirs.new()
    for name, body in tables.items():
        if name != drop:
            (folder / f"{name}.csv").write_bytes(_tsv(OD[name], body))
    ingested_or_refused(study, folder, lambda: ingest_inat_open_data(
        study, folder, max_rejects=max_rejects))


@FUZZ
@given(taxa=rows(4, 8), synonyms=rows(3, 4), inat=st.booleans())
def test_taxonomy(study: Study, workdirs: Workdirs, taxa: list[list[str]],
                  synonyms: list[list[str]], inat: bool) -> None:
    folder = workdirs.new()
    if inat:
        path = folder / "taxa.csv"
        path.write_bytes(_tsv(OD["taxa"], taxa))
        ingested_or_refused(study, folder, lambda: ingest_taxonomy(study, path, fmt="inat"))
        return

    def interim(header: list[str], body: list[list[str]]) -> bytes:
        clean = [[c.replace("\t", " ").replace("\n", " ") for c in r] for r in body]
        return "".join("\t|\t".join(r) + "\t|\t\n" for r in [header, *clean]).encode()

    (folder / "taxonomy.tsv").write_bytes(interim(["uid", "parent_uid", "name", "rank"], taxa))
    (folder / "synonyms.tsv").write_bytes(interim(["name", "uid", "type"], synonyms))
    ingested_or_refused(study, folder, lambda: ingest_taxonomy(study, folder))


def _png(width: int, height: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    raw = b"".join(b"\x00" + b"\x80" * (3 * width) for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2,
                                                            0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


LABEL = st.one_of(st.sampled_from(["Bellis perennis", 'Bellis "perennis"', "O'Brien's daisy",
                                   "Rosa 'Peace'", "daisy", "NA", " x ", "Quercus sp.", "train",
                                   "..x", "-x", "🌼"]),
                  st.text(st.characters(blacklist_characters="/\x00",
                                        blacklist_categories=("Cs",)), min_size=1, max_size=20)
                  .filter(lambda s: s not in (".", "..") and len(s.encode()) < 200))
IMAGE = st.one_of(st.just(_png(8, 8)), st.binary(max_size=64),
                  st.binary(max_size=64).map(lambda b: _png(8, 8)[:33] + b))


@FUZZ
@given(files=st.lists(st.tuples(st.sampled_from(["", "train/", "val/", "x/"]), LABEL,
                                st.sampled_from(["", "obs1/"]), IMAGE,
                                st.sampled_from([".jpg", ".png", ".heic", ".txt"])),
                      min_size=0, max_size=5),
       sidecar=st.none() | rows(6, 4), max_rejects=MAX_REJECTS)
def test_image_folder(study: Study, workdirs: Workdirs, files: list[tuple[Any, ...]],
                      sidecar: list[list[str]] | None, max_rejects: int) -> None:
    root = workdirs.new() / "photos"
    root.mkdir()
    paths = []
    for n, (split, label, obs, data, suffix) in enumerate(files):
        folder = root / f"{split}{label}/{obs}"
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError:  # a name the file system refuses is no folder a user can give us
            continue
        (folder / f"{n}{suffix}").write_bytes(data)
        paths.append(f"{split}{label}/{obs}{n}{suffix}")
    if sidecar is not None:
        for r, p in zip(sidecar, paths, strict=False):
            if r:
                r[0] = p
        write_csv(root / "observations.csv",
                  ["path", "observation_id", "observer", "latitude", "longitude",
                   "observed_on"], sidecar)
    ingested_or_refused(study, root, lambda: ingest_image_folder(
        study, root, max_rejects=max_rejects))
