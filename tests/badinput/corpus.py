"""The bad-input corpus: every case is a file (or option value) that fieldguide must refuse
with one clear line, made here into a temporary folder (nothing is downloaded).

A case is ``Case(name, build)`` where ``build(tmp, good)`` writes what it needs under ``tmp``
and returns the CLI arguments; ``good`` holds valid companion files (a vote table, a names
list). ``expect`` lists texts the error line must contain (the file's name by default).
"""

from __future__ import annotations

import io
import json
import os
import struct
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

Build = Callable[[Path, dict[str, Path]], list[str]]


@dataclass(frozen=True)
class Case:
    name: str
    build: Build
    expect: tuple[str, ...] = ()  # texts the error line must contain ("{file}": the file name)
    names_file: bool = True  # the error names the bad file


LATIN1 = "task,worker,label\n1,Jos\xe9,Rosa canina\n".encode("latin-1")
GARBAGE = bytes(range(256)) * 4


# --- generic bad files, applied to every argument that takes a file -------------------------
def _missing(tmp: Path) -> Path:
    return tmp / "does-not-exist.csv"


def _folder(tmp: Path) -> Path:
    p = tmp / "a-folder.csv"
    p.mkdir()
    return p


def _fifo(tmp: Path) -> Path:
    p = tmp / "pipe.csv"
    os.mkfifo(p)
    return p


def _dev_zero(tmp: Path) -> Path:
    p = tmp / "zero.csv"
    p.symlink_to("/dev/zero")
    return p


def _empty(tmp: Path) -> Path:
    p = tmp / "empty.csv"
    p.write_bytes(b"")
    return p


def _latin1(tmp: Path) -> Path:
    p = tmp / "latin1.csv"
    p.write_bytes(LATIN1)
    return p


def _garbage(tmp: Path) -> Path:
    p = tmp / "garbage.csv"
    p.write_bytes(GARBAGE)
    return p


GENERIC: dict[str, Callable[[Path], Path]] = {
    "missing": _missing,
    "folder": _folder,
    "fifo": _fifo,
    "dev-zero": _dev_zero,
    "empty": _empty,
    "latin1": _latin1,
    "garbage": _garbage,
}

# Where a file goes on the command line: a template with {f} for the bad file.
SLOTS: dict[str, list[str]] = {
    "ingest-votes": ["ingest", "votes", "{f}"],
    "ingest-votes-authors": ["ingest", "votes", "{votes}", "--force", "--authors", "{f}"],
    "ingest-votes-ai": ["ingest", "votes", "{votes}", "--force", "--ai", "{f}"],
    "ingest-votes-ai-scores": ["ingest", "votes", "{votes}", "--force", "--ai", "{ai}",
                               "--ai-scores", "{f}"],
    "ingest-votes-truth": ["ingest", "votes", "{votes}", "--force", "--truth", "{f}"],
    "aggregate-votes": ["aggregate", "{f}", "-m", "majority", "-o", "{out}/labels.csv"],
    "aggregate-authors": ["aggregate", "{votes}", "--authors", "{f}", "-o", "{out}/l.csv"],
    "aggregate-ai": ["aggregate", "{votes}", "--ai", "{f}", "-o", "{out}/l.csv"],
    "aggregate-truth": ["aggregate", "{votes}", "--truth", "{f}", "-o", "{out}/l.csv"],
    "ingest-gbif-csv": ["ingest", "gbif-csv", "{f}"],
    "ingest-gbif-multimedia": ["ingest", "gbif-csv", "{gbif}", "--multimedia", "{f}"],
    "ingest-inat": ["ingest", "inat", "{f}"],
    "ingest-traits": ["ingest", "traits", "{f}"],
    "ingest-taxonomy-inat": ["ingest", "taxonomy", "{f}", "--format", "inat"],
    "ingest-dwca": ["ingest", "dwca", "{f}"],
    "taxonomy-match": ["taxonomy", "match", "{f}", "-o", "{out}/m.csv"],
    "dataset-build": ["dataset", "build", "{f}", "-o", "{out}/ds"],
    "train": ["train", "{f}", "-o", "{out}/run"],
}
# Combinations whose refusal is not a file error of that file (the slot reads no file when the
# path is a folder, etc.) are listed here with what the error says instead.
GENERIC_SKIP: set[tuple[str, str]] = set()


def _fill(template: list[str], f: Path, tmp: Path, good: dict[str, Path]) -> list[str]:
    out = tmp / "out"
    values = {"f": str(f), "out": str(out), **{k: str(v) for k, v in good.items()}}
    return [part.format(**values) for part in template]


def generic_cases() -> list[Case]:
    cases = []
    for slot, template in SLOTS.items():
        for kind, make in GENERIC.items():
            if (slot, kind) in GENERIC_SKIP:
                continue

            def build(tmp: Path, good: dict[str, Path], template: list[str] = template,
                      make: Callable[[Path], Path] = make) -> list[str]:
                return _fill(template, make(tmp), tmp, good)

            cases.append(Case(f"{slot}:{kind}", build))
    return cases


# --- specific cases ----------------------------------------------------------------------
def _write(tmp: Path, name: str, content: str | bytes) -> Path:
    p = tmp / name
    p.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        p.write_bytes(content)
    else:
        p.write_text(content, encoding="utf-8")
    return p


def _file_case(name: str, file: str, content: str | bytes, argv: list[str],
               expect: tuple[str, ...] = ()) -> Case:
    def build(tmp: Path, good: dict[str, Path]) -> list[str]:
        return _fill(argv, _write(tmp, file, content), tmp, good)

    return Case(name, build, expect)


def _zip(members: dict[str, bytes], method: int = zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", method) as z:
        for n, data in members.items():
            z.writestr(n, data)
    return buf.getvalue()


META = """<?xml version="1.0" encoding="UTF-8"?>
<archive xmlns="http://rs.tdwg.org/dwc/text/">
  <core encoding="UTF-8" fieldsTerminatedBy="\\t" linesTerminatedBy="\\n" fieldsEnclosedBy=""
        ignoreHeaderLines="1" rowType="http://rs.tdwg.org/dwc/terms/Occurrence">
    <files><location>{location}</location></files>
    <id index="0"/>
    <field index="0" term="http://rs.gbif.org/terms/1.0/gbifID"/>
    <field index="1" term="http://rs.tdwg.org/dwc/terms/eventDate"/>
    <field index="2" term="http://rs.tdwg.org/dwc/terms/{term}"/>
  </core>
</archive>
"""
OCC = "gbifID\teventDate\tscientificName\n1\t2020-05-01\tRosa canina\n"


def _meta(location: str = "occurrence.txt", term: str = "scientificName") -> bytes:
    return META.format(location=location, term=term).encode()


def _deflate64_zip() -> bytes:
    raw = bytearray(_zip({"meta.xml": _meta(), "occurrence.txt": OCC.encode()}))
    # Rewrite the method field (local header at +8, central directory at +10) to 9.
    for sig, off in ((b"PK\x03\x04", 8), (b"PK\x01\x02", 10)):
        start = 0
        while (i := raw.find(sig, start)) >= 0:
            raw[i + off:i + off + 2] = (9).to_bytes(2, "little")
            start = i + 4
    return bytes(raw)


def _encrypted_zip() -> bytes:
    raw = bytearray(_zip({"meta.xml": _meta(), "occurrence.txt": OCC.encode()}))
    for sig, off in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        start = 0
        while (i := raw.find(sig, start)) >= 0:
            raw[i + off] |= 1
            start = i + 4
    return bytes(raw)


def _bomb_zip() -> bytes:
    return _zip({"meta.xml": _meta(), "occurrence.txt": OCC.encode() + b"\t" * (64 * 2**20)})


def _png(width: int, height: int) -> bytes:
    """A PNG whose header claims ``width`` x ``height`` (its pixel data is a few bytes): what a
    decompression bomb looks like before decoding."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(
            ">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b""))


def _image_case(name: str, file: str, content: bytes, expect: tuple[str, ...]) -> Case:
    """``ingest images`` on a folder holding one good photo and one bad file."""
    def build(tmp: Path, good: dict[str, Path]) -> list[str]:
        from PIL import Image

        root = tmp / "photos"
        (root / "daisy").mkdir(parents=True)
        Image.new("RGB", (32, 24), (200, 180, 20)).save(root / "daisy" / "good.jpg")
        (root / "daisy" / file).write_bytes(content)
        return ["ingest", "images", str(root)]

    return Case(name, build, (file, *expect))


# iNaturalist export rows with one wrong value each (line 3, the second data row).
INAT_HEADER = ("id,observed_on,time_observed_at,user_id,scientific_name,latitude,longitude,"
               "positional_accuracy,captive_cultivated,image_url\n")
INAT_ROW = ("{id},2020-05-01,2020-05-01 10:11:12 -0500,7,Rosa canina,40.1,-75.2,12,false,"
            "https://static.inaturalist.org/photos/{id}/medium.jpg\n")


def _inat_case(name: str, old: str, new: str, expect: tuple[str, ...], line: int = 3) -> Case:
    bad = INAT_ROW.replace(old, new, 1)
    assert bad != INAT_ROW, name
    content = INAT_HEADER + INAT_ROW.format(id=9101) + bad.format(id=9102)
    return _file_case(name, "obs.csv", content, ["ingest", "inat", "{f}"],
                      (f"line {line}", *expect))


def specific_cases() -> list[Case]:
    votes = ["ingest", "votes", "{f}"]
    agg = ["aggregate", "{f}", "-m", "majority", "-o", "{out}/l.csv"]
    ai = ["ingest", "votes", "{votes}", "--force", "--ai", "{f}"]
    scores = ["ingest", "votes", "{votes}", "--force", "--ai", "{ai}", "--ai-scores", "{f}"]
    dwca = ["ingest", "dwca", "{f}"]
    gbif = ["ingest", "gbif-csv", "{f}"]
    c = [
        _file_case("votes:header-only", "v.csv", "task,worker,label\n", votes),
        _file_case("votes:missing-column", "v.csv", "task,worker\n1,2\n", votes,
                   ("line 1", "label")),
        _file_case("votes:empty-column-name", "v.csv", "task,,label\n1,2,3\n", votes,
                   ("line 1", "column 2")),
        _file_case("votes:duplicate-column", "v.csv", "task,task,label\n1,2,3\n", votes,
                   ("line 1",)),
        _file_case("votes:nul-in-label", "v.csv", "task,worker,label\n1,2,Ro\x00sa\n", votes,
                   ("line 2", "label")),
        _file_case("votes:nul-in-header", "v.csv", "task,wor\x00ker,label\n1,2,3\n", votes),
        _file_case("votes:empty-worker", "v.csv", "task,worker,label\n1,,x\n", votes,
                   ("line 2", "worker")),
        _file_case("votes:extra-field", "v.csv", "task,worker,label\n1,2,3\n4,5,6,7\n", votes,
                   ("line 3",)),
        _file_case("votes:missing-field", "v.csv", "task,worker,label\n1,2,3\n4,5\n", votes,
                   ("line 3",)),
        _file_case("votes:open-quote", "v.csv", 'task,worker,label\n1,2,"3\n4,5,6\n', votes),
        _file_case("votes:latin1-line-3", "v.csv",
                   "task,worker,label\n1,2,3\n4,Jos\xe9,6\n".encode("latin-1"), votes,
                   ("line 3", "byte 0xE9", "--encoding")),
        _file_case("votes:utf16", "v.csv", "task,worker,label\n1,2,3\n".encode("utf-16"), votes),
        _file_case("votes-json:list", "v.json", "[1, 2, 3]", votes, ("object", "list")),
        _file_case("votes-json:task-not-object", "v.json", '{"1": ["a"]}', votes, ("'1'",)),
        _file_case("votes-json:label-object", "v.json", '{"1": {"w": {"x": 1}}}', votes),
        _file_case("votes-json:invalid", "v.json", '{"1": {"w": "a"', votes, ("line 1",)),
        _file_case("votes-json:latin1", "v.json", '{"1": {"w": "Jos\xe9"}}'.encode("latin-1"),
                   votes, ("byte 0xE9",)),
        _file_case("votes-json:empty-object", "v.json", "{}", votes),
        _file_case("votes-json:string", "v.json", '"votes"', votes, ("a string",)),
        _file_case("votes-json:deep", "v.json", "[" * 100000 + "]" * 100000, votes),
        _file_case("ai-json:list", "ai.json", '["a", "b"]', ai, ("list",)),
        _file_case("ai-json:nested", "ai.json", '{"1": {"x": 1}}', ai, ("'1'",)),
        _file_case("ai-json:null", "ai.json", '{"1": null}', ai, ("'1'",)),
        _file_case("scores:over-one", "s.json", '{"1": 1.5}', scores, ("[0, 1]",)),
        _file_case("scores:text", "s.json", '{"1": "high"}', scores),
        _file_case("scores:bool", "s.json", '{"1": true}', scores),
        _file_case("scores:list", "s.json", "[0.5]", scores, ("list",)),
        _file_case("scores:nan", "s.json", '{"1": NaN}', scores),
        _file_case("aggregate:json-list", "v.json", "[1]", agg),
        _file_case("aggregate:latin1", "v.csv", LATIN1, agg, ("byte 0xE9",)),
        _file_case("aggregate:header-only", "v.csv", "task,worker,label\n", agg),
        _file_case("aggregate:missing-column", "v.csv", "task,label\n1,2\n", agg, ("worker",)),
        _file_case("aggregate:scores-json-dict-of-lists", "s.json", '{"1": [0.5]}',
                   ["aggregate", "{votes}", "--ai", "{ai}", "--ai-scores", "{f}", "-o",
                    "{out}/l.csv"]),
        _file_case("gbif:no-longitude", "g.csv",
                   "gbifID,eventDate,scientificName,decimalLatitude\n1,2020-01-01,Rosa,1\n", gbif,
                   ("decimalLongitude",)),
        _file_case("gbif:text-coordinates", "g.csv",
                   "gbifID,eventDate,scientificName,decimalLatitude,decimalLongitude\n"
                   "1,2020-01-01,Rosa,north,east\n", gbif, ("line 2",)),
        _file_case("gbif:latitude-999", "g.csv",
                   "gbifID,eventDate,scientificName,decimalLatitude,decimalLongitude\n"
                   "1,2020-01-01,Rosa,999,1\n", gbif, ("line 2", "decimalLatitude")),
        _file_case("gbif:future-date", "g.csv",
                   "gbifID,eventDate,scientificName,decimalLatitude,decimalLongitude\n"
                   "1,2999-01-01,Rosa,1,1\n", gbif, ("line 2", "future")),
        _file_case("gbif:bad-date", "g.csv",
                   "gbifID,eventDate,scientificName,decimalLatitude,decimalLongitude\n"
                   "1,yesterday,Rosa,1,1\n", gbif, ("line 2", "eventDate")),
        _file_case("gbif:nul-name", "g.csv",
                   "gbifID,eventDate,scientificName,decimalLatitude,decimalLongitude\n"
                   "1,2020-01-01,Ro\x00sa,1,1\n", gbif, ("line 2",)),
        _file_case("gbif:duplicate-id", "g.csv",
                   "gbifID,eventDate,scientificName,decimalLatitude,decimalLongitude\n"
                   "11,2020-01-01,Rosa,1,1\n11,2020-01-01,Rosa,1,1\n", gbif, ("line 3",)),
        _file_case("dwca:not-a-zip", "a.zip", b"PK\x03\x04 nothing", dwca),
        _file_case("dwca:no-meta", "a.zip", _zip({"occurrence.txt": OCC.encode()}), dwca,
                   ("meta.xml",)),
        _file_case("dwca:broken-xml", "a.zip", _zip({"meta.xml": b"<archive><core"}), dwca),
        _file_case("dwca:latin1-meta", "a.zip",
                   _zip({"meta.xml": _meta().replace(b"UTF-8\"?>", b"UTF-8\"?><!--\xe9-->")}),
                   dwca, ("byte 0xE9",), ),
        _file_case("dwca:missing-core-file", "a.zip", _zip({"meta.xml": _meta()}), dwca,
                   ("occurrence.txt",)),
        _file_case("dwca:absolute-location", "a.zip",
                   _zip({"meta.xml": _meta("/etc/passwd")}), dwca, ("outside", "absolute")[1:]),
        _file_case("dwca:dotdot-location", "a.zip",
                   _zip({"meta.xml": _meta("../../etc/passwd")}), dwca, ("outside",)),
        _file_case("dwca:deflate64", "a.zip", _deflate64_zip(), dwca, ("Deflate64",)),
        _file_case("dwca:encrypted", "a.zip", _encrypted_zip(), dwca, ("encrypted",)),
        _file_case("dwca:bomb", "a.zip", _bomb_zip(), dwca, ("zip bomb",)),
        _file_case("dwca:truncated-zip", "a.zip",
                   _zip({"meta.xml": _meta(), "occurrence.txt": OCC.encode()})[:60], dwca),
        _file_case("dwca:wrong-rowtype", "a.zip",
                   _zip({"meta.xml": _meta().replace(b"terms/Occurrence", b"terms/Taxon"),
                         "occurrence.txt": OCC.encode()}), dwca, ("rowType",)),
        _file_case("dwca:term-twice", "a.zip",
                   _zip({"meta.xml": _meta(term="eventDate"), "occurrence.txt": OCC.encode()}),
                   dwca, ("two columns",)),
        _file_case("dwca:no-scientific-name", "a.zip",
                   _zip({"meta.xml": _meta(term="locality"), "occurrence.txt": OCC.encode()}),
                   dwca, ("scientificName",)),
        _file_case("taxonomy-inat:no-ancestry", "t.csv", "taxon_id,name,rank\n1,a,species\n",
                   ["ingest", "taxonomy", "{f}", "--format", "inat"], ("ancestry",)),
        _file_case("taxonomy-inat:text-id", "t.csv",
                   "taxon_id,ancestry,name,rank\nabc,1,a,species\n",
                   ["ingest", "taxonomy", "{f}", "--format", "inat"], ("line 2", "taxon_id")),
        _file_case("taxonomy-inat:latin1", "t.csv",
                   "taxon_id,ancestry,name,rank\n1,,Jos\xe9,species\n".encode("latin-1"),
                   ["ingest", "taxonomy", "{f}", "--format", "inat"], ("line 2", "byte 0xE9")),
        _file_case("taxonomy-interim:latin1", "tax/taxonomy.tsv",
                   "uid\t|\tparent_uid\t|\tname\t|\trank\t|\n1\t|\t\t|\tJos\xe9\t|\tspecies\t|\n"
                   .encode("latin-1"), ["ingest", "taxonomy", "{out}/../tax"], ("line 2",)),
        _file_case("taxonomy-interim:text-uid", "tax/taxonomy.tsv",
                   "uid\t|\tparent_uid\t|\tname\t|\trank\t|\nx\t|\t\t|\tRosa\t|\tspecies\t|\n",
                   ["ingest", "taxonomy", "{out}/../tax"], ("line 2", "uid")),
        _file_case("match:nul", "n.txt", "Rosa\nRo\x00sa\n", ["taxonomy", "match", "{f}", "-o",
                                                               "{out}/m.csv"], ("line 2",)),
        _file_case("match:output-is-folder", "n.txt", "Rosa\n",
                   ["taxonomy", "match", "{f}", "-o", "{out}/.."], ("folder",)),
        _image_case("images:pixel-bomb", "bomb.png", _png(30000, 30000),
                    ("decompression bomb",)),
        _image_case("images:wide-strip", "strip.png", _png(40000, 10), ("aspect ratio",)),
        _image_case("images:heic", "phone.heic",
                    b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + b"\x00" * 64,
                    ("HEIC",)),
        _image_case("images:text-named-jpg", "notes.jpg", b"a shopping list", ("not an image",)),
        _image_case("images:empty-jpg", "empty.jpg", b"", ("empty",)),
        _image_case("images:truncated-png", "cut.png", _png(64, 64)[:30], ()),
        _inat_case("inat:nul-in-name", "Rosa canina", "Rosa\x00canina",
                   ("scientific_name", "NUL")),
        _inat_case("inat:latitude-999", ",40.1,", ",999,", ("latitude",)),
        _inat_case("inat:longitude-text", ",-75.2,", ",west,", ("longitude",)),
        _inat_case("inat:latitude-nan", ",40.1,", ",NaN,", ("latitude",)),
        _inat_case("inat:future-date", "2020-05-01,2020", "2999-05-01,2020",
                   ("observed_on", "future")),
        _inat_case("inat:bad-date", "2020-05-01,2020", "01/05/2020,2020", ("observed_on",)),
        _inat_case("inat:bad-time", "2020-05-01 10:11:12 -0500", "teatime",
                   ("time_observed_at", "not a time")),
        _inat_case("inat:accuracy-text", ",12,", ",about 12 m,",
                   ("positional_accuracy", "not a number")),
        _inat_case("inat:accuracy-negative", ",12,", ",-12,", ("positional_accuracy",)),
        _inat_case("inat:captive-unknown", ",false,", ",perhaps,",
                   ("captive_cultivated", "true/false")),
        _inat_case("inat:duplicate-id", "{id},", "9101,", ("field 'id'", "duplicate")),
        _inat_case("inat:shared-photo", "photos/{id}/", "photos/9101/",
                   ("image_url", "shared with another observation"), line=2),
        _file_case("inat:latin1-without-encoding", "obs.csv",
                   (INAT_HEADER + INAT_ROW.format(id=9101).replace("Rosa canina", "Ros\xe9"))
                   .encode("latin-1"), ["ingest", "inat", "{f}"],
                   ("line 2", "byte 0xE9", "--encoding")),
    ]
    return c


# --- option values out of range ------------------------------------------------------------
def option_cases() -> list[Case]:
    opts = [
        ("max-rejects-negative", ["ingest", "votes", "{votes}", "--force", "--max-rejects", "-1"]),
        ("max-rejects-text", ["ingest", "votes", "{votes}", "--force", "--max-rejects", "many"]),
        ("wait-negative", ["--wait", "-1", "summary"]),
        ("identify-top-k-negative", ["identify", "{out}", "{votes}", "-o", "{out}/i.csv",
                                     "--top-k", "-1"]),
        ("identify-batch-size-0", ["identify", "{out}", "{votes}", "-o", "{out}/i.csv",
                                   "--batch-size", "0"]),
        ("identify-chunk-size-0", ["identify", "{out}", "{votes}", "-o", "{out}/i.csv",
                                   "--chunk-size", "0"]),
        ("identify-threads-0", ["identify", "{out}", "{votes}", "-o", "{out}/i.csv",
                                "--threads", "0"]),
        ("identify-threshold-2", ["identify", "{out}", "{votes}", "-o", "{out}/i.csv",
                                  "--threshold", "2"]),
        ("identify-radius-negative", ["identify", "{out}", "{votes}", "-o", "{out}/i.csv",
                                      "--radius-km", "-5"]),
        ("study-is-a-file", ["summary", "-s", "{votes}"]),
        ("ingest-taxonomy-bad-format", ["ingest", "taxonomy", "{votes}", "--force",
                                        "--format", "xml"]),
        ("ingest-unknown-encoding", ["ingest", "votes", "{votes}", "--force",
                                     "--encoding", "klingon"]),
        ("ingest-encoding-duckdb-cannot-read", ["ingest", "gbif-csv", "{gbif}", "--force",
                                                "--encoding", "cp1252"]),
        ("ingest-inat-bad-taxa", ["ingest", "inat", "{gbif}", "--taxa", "loose"]),
        ("ingest-votes-bad-labels", ["ingest", "votes", "{votes}", "--labels", "names"]),
        ("aggregate-unknown-compare", ["aggregate", "{votes}", "--compare", "nosuch", "-o",
                                       "{out}/l.csv"]),
        ("aggregate-unknown-ai-mode", ["aggregate", "{votes}", "--ai-mode", "always", "-o",
                                       "{out}/l.csv"]),
        ("aggregate-unknown-method", ["aggregate", "{votes}", "-m", "nosuch", "-o",
                                      "{out}/l.csv"]),
    ]
    cases = []
    for name, argv in opts:
        def build(tmp: Path, good: dict[str, Path], argv: list[str] = argv) -> list[str]:
            return _fill(argv, tmp / "unused", tmp, good)

        cases.append(Case(f"option:{name}", build, names_file=False))
    return cases


def all_cases() -> list[Case]:
    return generic_cases() + specific_cases() + option_cases()


def good_files(tmp: Path) -> dict[str, Path]:
    """Valid companions for the slots that need one (a vote table, AI answers, GBIF CSV)."""
    tmp.mkdir(parents=True, exist_ok=True)
    votes = _write(tmp, "good_votes.csv", "task,worker,label\n1,a,x\n1,b,x\n2,a,y\n")
    # A vote table not yet in the study, so its side files are read (not skipped as done).
    _write(tmp, "new_votes.csv", "task,worker,label\n7,a,x\n7,b,x\n8,a,y\n")
    ai = _write(tmp, "good_ai.json", json.dumps({"1": "x", "2": "y"}))
    gbif = _write(tmp, "good_gbif.csv",
                  "gbifID,eventDate,scientificName,decimalLatitude,decimalLongitude\n"
                  "901,2020-01-01,Rosa canina,1,1\n")
    return {"votes": tmp / "new_votes.csv", "ingested": votes, "ai": ai, "gbif": gbif}
