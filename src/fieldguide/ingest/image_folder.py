"""A folder of labelled photos laid out as ``label/image.jpg`` (optionally under
``train/``, ``val/`` or ``test/``, whose split is recorded as the source's own).

Each photo becomes one observation with one photo; its folder name is its taxon. Every image's
header is read (cheap: no pixel decoding) so that unreadable files are reported at ingestion,
not discovered mid-training.
"""

from __future__ import annotations

import os
from pathlib import Path

import duckdb
import pyarrow as pa

from fieldguide.errors import InputError
from fieldguide.ingest.commit import already_imported, count_rows, write_import
from fieldguide.ingest.report import IngestReport, Rejection
from fieldguide.ingest.taxa import TaxonMode, TaxonRequest, key_table, plan_taxa, write_taxa
from fieldguide.store import Study

KIND = "image-folder"
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".tif", ".tiff", ".webp", ".bmp", ".gif"}
SPLIT_NAMES = {"train": "train", "val": "val", "valid": "val", "validation": "val", "test": "test"}


def ingest_image_folder(
    study: Study,
    root: str | Path,
    *,
    taxa: TaxonMode = "extend",
    max_rejects: int = 0,
    force: bool = False,
) -> IngestReport:
    """Register every image under ``root`` with its label (see module doc)."""
    from PIL import Image, UnidentifiedImageError

    root = Path(root)
    if not root.is_dir():
        raise InputError("not a folder", path=root)
    if not force and (skipped := already_imported(study, KIND, root)):
        return skipped
    report = IngestReport(kind=KIND, path=root)
    rows: list[dict[str, object]] = []
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
            if len(rel.parts) < 2:
                report.rejections.append(Rejection(None, f"{rel}: not inside a label folder"))
                continue
            try:
                with Image.open(file) as image:
                    width, height = image.size
            except (UnidentifiedImageError, OSError) as exc:
                report.rejections.append(Rejection(None, f"{rel}: not a readable image ({exc})"))
                continue
            split = SPLIT_NAMES.get(rel.parts[-3].lower()) if len(rel.parts) >= 3 else None
            ident = rel.with_suffix("").as_posix()
            rows.append(
                {
                    "observation_id": ident,
                    "photo_id": ident,
                    "label": rel.parts[-2],
                    "path": str(file.resolve()),
                    "width": width,
                    "height": height,
                    "source_split": split,
                }
            )
    if ignored:
        report.notes.append(f"{ignored:,} non-image file(s) ignored")
    if not rows and not report.rejections:
        raise InputError("no images found (expected label/image.jpg)", path=root)
    con = study.con
    labels = sorted({str(r["label"]) for r in rows})
    plan = plan_taxa(con, [TaxonRequest(key=n, name=n) for n in labels], source="folder", mode=taxa)
    for row in rows:
        if row["label"] in plan.unknown:
            report.rejections.append(
                Rejection(None, f"{row['path']}: {plan.unknown[str(row['label'])]}")
            )
    rows = [r for r in rows if r["label"] not in plan.unknown]
    existing = _existing_ids(con, [str(r["observation_id"]) for r in rows])
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
        raise InputError(f"{first.reason} [{report.rows_rejected:,} image(s) refused]", path=root)
    key_table(con, plan, "fg_taxon_keys")

    def write(con: duckdb.DuckDBPyConnection, import_id: int) -> None:
        write_taxa(con, plan, import_id)
        con.register("fg_images", pa.Table.from_pylist(rows))
        try:
            con.execute(f"""
                INSERT INTO observations BY NAME
                SELECT i.observation_id, 'folder' AS source, k.taxon_id,
                       i.label AS verbatim_name, {import_id} AS import_id
                FROM fg_images i LEFT JOIN fg_taxon_keys k ON k.key = i.label
            """)
            con.execute(f"""
                INSERT INTO photos BY NAME
                SELECT photo_id, observation_id, 1 AS position, path, width, height,
                       source_split, {import_id} AS import_id FROM fg_images
            """)
        finally:
            con.unregister("fg_images")
        report.counts.update(count_rows(con, import_id, ["observations", "photos"]))
        report.counts["labels"] = len(labels)

    return write_import(study, report, write)


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
