"""A folder of labelled photos: ``label/photo.jpg`` or ``label/observation/photo.jpg``,
optionally under ``train/``, ``val/`` or ``test/`` (whose split is recorded as the source's own).

Labels are names: each folder name is read by :func:`~fieldguide.ingest.taxa.name_request`
("Quercus buckleyi" is a species under the genus Quercus, "Quercus sp." and "Quercus spp." are
the genus, "Quercus robur subsp. robur" sits under Quercus robur; a common name such as
"daisy" stays a label with no rank). When the study holds an ingested taxonomy, labels are
matched to it first with :class:`~fieldguide.taxonomy.NameMatcher` (synonyms and misspellings
included), so a folder class is the taxonomy's own taxon with its whole lineage. A label is
stored byte for byte as the folder is named (``observations.verbatim_name``); a label with
quoted words (a cultivar ``Rosa 'Peace'``, ``Bellis "perennis"``) is never cut down to the
part a name parser reads (the genus): it is its own class, named exactly as the folder, under
that genus (see :func:`label_request`).

Observations (which photos show one organism, so that splits keep them together):

* a sub-folder of a label folder is one observation: ``Quercus robur/tree-7/a.jpg`` and
  ``Quercus robur/tree-7/b.jpg`` are two photos of observation ``Quercus robur/tree-7``;
* a sidecar ``observations.csv`` at the folder's root, with columns ``path`` (the photo's
  path relative to the root, ``/``-separated) and ``observation_id``, and optionally
  ``observer``, ``latitude``, ``longitude`` and ``observed_on`` (an ISO date; empty, ``NA``
  and the other ``ingest.rowchecks.MISSING_VALUES`` are no value), groups photos and gives
  their observations a context; it takes precedence over sub-folders;
* otherwise each photo is its own observation.

An observation whose photos carry different labels or source splits is refused (one organism
has one taxon, and a split must never cut an observation). Every image's header is read
(cheap: no pixel decoding) and held to the limits of :mod:`fieldguide.models.pixels` (bytes,
pixels, aspect ratio), so that unreadable files, decompression bombs and formats Pillow cannot
read (HEIC) are rejected rows with their reason at ingestion, not discovered mid-training.
"""

from __future__ import annotations

import csv
import datetime as dt
import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow as pa

from fieldguide.errors import InputError
from fieldguide.ingest.commit import already_imported, count_rows, write_import
from fieldguide.ingest.format import FORCE, MAX_REJECTS, TAXA, IngestFormat
from fieldguide.ingest.report import IngestReport, Rejection
from fieldguide.ingest.taxa import (
    TaxonMode,
    TaxonRequest,
    has_quoted_words,
    key_table,
    match_to_taxonomy,
    name_request,
    plan_taxa,
    write_taxa,
)
from fieldguide.store import Study

KIND = "image-folder"
# HEIC/AVIF are listed so that a phone's photos are refused with a reason, never skipped.
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".tif", ".tiff", ".webp", ".bmp", ".gif", ".heic",
                  ".heif", ".avif"}
SPLIT_NAMES = {"train": "train", "val": "val", "valid": "val", "validation": "val", "test": "test"}
SIDECAR = "observations.csv"
SIDECAR_COLUMNS = ("path", "observation_id", "observer", "latitude", "longitude", "observed_on")


@dataclass(frozen=True)
class _Context:
    """An observation's context from the sidecar (all optional)."""

    observer: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    observed_on: dt.date | None = None


def ingest_image_folder(
    study: Study,
    root: str | Path,
    *,
    taxa: TaxonMode = "extend",
    max_rejects: int = 0,
    force: bool = False,
) -> IngestReport:
    """Register every image under ``root`` with its label and observation (see module doc)."""
    root = Path(root)
    if not root.is_dir():
        raise InputError("not a folder", path=root)
    if not force and (skipped := already_imported(study, KIND, root)):
        return skipped
    sidecar = _read_sidecar(root / SIDECAR)
    report = IngestReport(kind=KIND, path=root)
    rows: list[dict[str, object]] = []
    found: set[str] = set()
    ignored = 0
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for filename in sorted(filenames):
            file = Path(dirpath) / filename
            if file.suffix.lower() not in IMAGE_SUFFIXES:
                ignored += 1
                continue
            report.rows_read += 1
            rel = file.relative_to(root)
            parts = rel.parts
            split = SPLIT_NAMES.get(parts[0].lower()) if len(parts) > 2 else None
            inner = parts[1:] if split is not None else parts  # label[/observation]/photo
            if len(inner) < 2 or len(inner) > 3:
                where = "not inside a label folder" if len(inner) < 2 else (
                    "too deep (expected label/photo or label/observation/photo)")
                report.rejections.append(Rejection(None, f"{rel.as_posix()}: {where}"))
                continue
            header = _image_header(file)
            if isinstance(header, str):
                report.rejections.append(
                    Rejection(None, f"{rel.as_posix()}: not a readable image ({header})")
                )
                continue
            width, height = header
            found.add(rel.as_posix())
            photo_id = rel.with_suffix("").as_posix()
            grouped = Path(*parts[: len(parts) - 1]).as_posix() if len(inner) == 3 else photo_id
            observation = sidecar.get(rel.as_posix(), (grouped, _Context()))
            rows.append(
                {
                    "observation_id": observation[0],
                    "photo_id": photo_id,
                    "label": inner[0],
                    "path": str(file.resolve()),
                    "width": width,
                    "height": height,
                    "source_split": split,
                    **observation[1].__dict__,
                }
            )
    if ignored:
        report.notes.append(f"{ignored:,} non-image file(s) ignored")
    if not rows and not report.rejections:
        raise InputError("no images found (expected label/image.jpg)", path=root)
    missing = sorted(set(sidecar) - found)
    if missing:
        report.notes.append(
            f"{len(missing):,} {SIDECAR} row(s) name no readable photo, e.g. {missing[0]!r}"
        )
    rows = _whole_observations(rows, report)
    con = study.con
    labels = sorted({str(r["label"]) for r in rows})
    requests = [label_request(label) for label in labels]
    matched = match_to_taxonomy(study, requests)
    plan = plan_taxa(
        con, [r for r in requests if r.key not in matched], source="folder", mode=taxa
    )
    plan.key_to_id.update(matched)
    for row in rows:
        if row["label"] in plan.unknown:
            report.rejections.append(
                Rejection(None, f"{row['path']}: {plan.unknown[str(row['label'])]}")
            )
    rows = [r for r in rows if r["label"] not in plan.unknown]
    existing = _existing_ids(con, sorted({str(r["observation_id"]) for r in rows}))
    for row in rows:
        if row["observation_id"] in existing:
            report.rejections.append(
                Rejection(
                    None,
                    f"{row['path']}: observation {row['observation_id']!r} is already in the study",
                )
            )
    rows = [r for r in rows if r["observation_id"] not in existing]
    report.rows_kept = len(rows)
    if report.rows_rejected > max_rejects:
        first = report.rejections[0]
        reason = first.reason.replace("\r", "\\r").replace("\n", "\\n")  # names hold any byte
        raise InputError(f"{reason} [{report.rows_rejected:,} image(s) refused]", path=root)
    key_table(con, plan, "fg_taxon_keys")
    if matched:
        report.notes.append(f"{len(matched):,} label(s) matched to the study's taxonomy")

    def write(con: duckdb.DuckDBPyConnection, import_id: int) -> None:
        write_taxa(con, plan, import_id)
        con.register("fg_images", pa.Table.from_pylist(rows, schema=_SCHEMA))
        try:
            con.execute(
                """
                INSERT INTO observations BY NAME
                SELECT i.observation_id, 'folder' AS source, any_value(k.taxon_id) AS taxon_id,
                       any_value(i.label) AS verbatim_name, min(i.observer) AS observer,
                       min(i.latitude) AS latitude, min(i.longitude) AS longitude,
                       min(i.observed_on) AS observed_on, ? AS import_id
                FROM fg_images i LEFT JOIN fg_taxon_keys k ON k.key = i.label
                GROUP BY i.observation_id
                """,
                [import_id],
            )
            con.execute(
                """
                INSERT INTO photos BY NAME
                SELECT photo_id, observation_id,
                       row_number() OVER (PARTITION BY observation_id ORDER BY photo_id)::INTEGER
                           AS position,
                       path, width, height, source_split, ? AS import_id FROM fg_images
                """,
                [import_id],
            )
        finally:
            con.unregister("fg_images")
        report.counts.update(count_rows(con, import_id, ["observations", "photos"]))
        report.counts["labels"] = len(labels)

    return write_import(study, report, write)


_SCHEMA = pa.schema(
    [
        ("observation_id", pa.string()),
        ("photo_id", pa.string()),
        ("label", pa.string()),
        ("path", pa.string()),
        ("width", pa.int32()),
        ("height", pa.int32()),
        ("source_split", pa.string()),
        ("observer", pa.string()),
        ("latitude", pa.float64()),
        ("longitude", pa.float64()),
        ("observed_on", pa.date32()),
    ]
)


def label_request(label: str) -> TaxonRequest:
    """The taxon a folder label asks for: :func:`~fieldguide.ingest.taxa.name_request`'s
    reading, unless the label holds quoted words, which a name parser takes for authorship and
    drops (``Bellis "perennis"`` would become the genus Bellis, merged with every other Bellis
    folder). Such a label names its own class, exactly as written, under the genus the parse
    found (``taxa.has_quoted_words``: an apostrophe inside a word, as in ``O'Brien's daisy``
    or the author ``d'Urv.``, is no quote)."""
    request = name_request(label, label)
    if not has_quoted_words(label) or request.name == label:
        return request
    from fieldguide.taxonomy import parse_name

    parsed = parse_name(" ".join(label.replace("_", " ").split()))
    genus = parsed.genus if parsed.linnaean and parsed.genus and parsed.genus != label else None
    return TaxonRequest(key=label, name=label, lineage=(("genus", genus),) if genus else ())


def _image_header(file: Path) -> tuple[int, int] | str:
    """The image's (width, height) from its header, or why it is refused: not a regular file,
    over the byte, pixel or aspect limits of ``models.pixels``, or no image Pillow can read
    (then ``open_image`` names the reason, e.g. a HEIC photo)."""
    import warnings

    from PIL import Image

    from fieldguide.inputs import regular_file
    from fieldguide.models.pixels import LIMITS, check_header, open_image

    try:
        regular_file(file, what="image", max_bytes=LIMITS.max_bytes)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(file) as image:
                return check_header(image) or image.size
    except InputError as exc:
        return exc.reason
    except (OSError, ValueError, SyntaxError, EOFError, Image.DecompressionBombError):
        try:
            open_image(file)
        except InputError as exc:
            return exc.reason
        return "the header cannot be read"


def _whole_observations(
    rows: list[dict[str, object]], report: IngestReport
) -> list[dict[str, object]]:
    """Refuse every photo of an observation whose photos disagree on label or split."""
    seen: dict[object, set[tuple[object, object]]] = {}
    for row in rows:
        seen.setdefault(row["observation_id"], set()).add((row["label"], row["source_split"]))
    mixed = {obs for obs, kinds in seen.items() if len(kinds) > 1}
    for row in rows:
        if row["observation_id"] in mixed:
            found = sorted(f"{label} ({split or 'no split'})" for label, split in
                           seen[row["observation_id"]])
            report.rejections.append(Rejection(
                None, f"{row['path']}: observation {row['observation_id']!r} has photos under "
                      f"{' and '.join(found)}; one observation is one taxon in one split"))
    return [r for r in rows if r["observation_id"] not in mixed]


def _read_sidecar(path: Path) -> dict[str, tuple[str, _Context]]:
    """``observations.csv``: photo path -> (observation id, context); {} when absent."""
    if not path.is_file():
        return {}
    import fieldguide.ingest.csvfile as csvfile
    from fieldguide.ingest.rowchecks import is_missing

    header = csvfile.read_header(path)
    csvfile.require_columns(path, header, ["path", "observation_id"])
    unknown = [c for c in header if c not in SIDECAR_COLUMNS]
    if unknown:
        raise InputError(
            f"unknown column {unknown[0]!r}; known: {', '.join(SIDECAR_COLUMNS)}",
            path=path, line=1, field=unknown[0],
        )
    out: dict[str, tuple[str, _Context]] = {}
    with path.open(encoding="utf-8-sig", newline="") as f:
        reader = csv.reader(f)
        next(reader)
        line = reader.line_num + 1
        for record in reader:
            if len(record) != len(header):
                raise InputError(f"{len(record)} fields, the header has {len(header)}",
                                 path=path, line=line)
            values = dict(zip(header, (v.strip() for v in record), strict=True))

            def fail(reason: str, field: str, at: int = line) -> InputError:
                return InputError(reason, path=path, line=at, field=field)

            photo = values["path"].replace("\\", "/").removeprefix("./")
            if not photo:
                raise fail("missing photo path", "path")
            if not values["observation_id"]:
                raise fail("missing observation id", "observation_id")
            if photo in out:
                raise fail(f"photo {photo!r} is listed twice", "path")
            out[photo] = (values["observation_id"], _Context(
                observer=None if is_missing(values.get("observer")) else values["observer"],
                latitude=_number(values.get("latitude", ""), 90, lambda r: fail(r, "latitude")),
                longitude=_number(values.get("longitude", ""), 180,
                                  lambda r: fail(r, "longitude")),
                observed_on=_date(values.get("observed_on", ""),
                                  lambda r: fail(r, "observed_on")),
            ))
            line = reader.line_num + 1
    return out


def _number(text: str, limit: float, fail: Callable[[str], InputError]) -> float | None:
    from fieldguide.ingest.rowchecks import is_missing

    if is_missing(text):
        return None
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or abs(value) > limit:
        raise fail(f"not a number in [-{limit:g}, {limit:g}]: {text!r}")
    return value


def _date(text: str, fail: Callable[[str], InputError]) -> dt.date | None:
    from fieldguide.ingest.rowchecks import is_missing

    if is_missing(text):
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise fail(f"not a date (YYYY-MM-DD): {text!r}") from None


def _existing_ids(con: duckdb.DuckDBPyConnection, ids: list[str]) -> set[str]:
    con.register("fg_ids", pa.table({"id": pa.array(ids, pa.string())}))
    try:
        found = con.execute(
            "SELECT observation_id FROM observations "
            "WHERE observation_id IN (SELECT id FROM fg_ids)"
        ).fetchall()
    finally:
        con.unregister("fg_ids")
    return {r[0] for r in found}


FORMAT = IngestFormat(ingest_image_folder, "folder", (TAXA, MAX_REJECTS, FORCE))
