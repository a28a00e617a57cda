"""The dataset report (Markdown + PNG), rendered from the files a build wrote: manifest.parquet,
classes.csv and steps.json. Needs no study, so a dataset can be re-reported anywhere."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import duckdb

from fieldguide.curation.statistics import (
    ClassCount,
    histogram_bins,
    imbalance_ratio,
    superclass_table,
)
from fieldguide.errors import InputError
from fieldguide.store.sql import quote_ident
from fieldguide.taxonomy.ranks import MAIN_RANKS

SIZE_EDGES = [1, 5, 10, 20, 50, 100, 200, 500, 1000, 5000]


def write_report(out_dir: str | Path, *, plots: bool = True) -> dict[str, Path]:
    """Write report.md (and plots) into ``out_dir``; return the files written."""
    out = Path(out_dir)
    manifest = out / "manifest.parquet"
    for needed in (manifest, out / "classes.csv", out / "steps.json"):
        if not needed.is_file():
            raise InputError("not a dataset folder (missing file)", path=needed)
    log = json.loads((out / "steps.json").read_text(encoding="utf-8"))
    con = duckdb.connect()
    # Views over the relation API: the paths are arguments, never text in the SQL.
    con.read_parquet(str(manifest)).create_view("m")
    con.read_csv(str(out / "classes.csv")).create_view("c")
    classes = [
        ClassCount(str(n), str(s), int(p), int(o))
        for n, s, p, o in con.execute(
            "SELECT name, superclass, photos, observations FROM c ORDER BY photos DESC, name"
        ).fetchall()
    ]
    train = [int(r[0]) for r in con.execute("SELECT train FROM c").fetchall()]
    lines = [f"# Dataset {log['spec']['name']}", ""]
    if log["spec"].get("description"):
        lines += [log["spec"]["description"], ""]
    lines += _steps_table(log["steps"])
    lines += _split_table(con)
    photos = [c.photos for c in classes]
    files: dict[str, Path] = {}
    lines += ["", "## Images per class", ""]
    if photos:
        lines.append(
            f"{len(photos):,} classes; photos per class: max {max(photos):,}, min {min(photos):,}, "
            f"median {sorted(photos)[len(photos) // 2]:,}; imbalance ratio (largest / smallest) "
            f"{imbalance_ratio(photos):.1f} overall, {imbalance_ratio(train):.1f} in train."
        )
        lines += ["", "| photos per class | classes |", "|---|---:|"]
        lines += [f"| {b} | {n:,} |" for b, n in histogram_bins(photos, SIZE_EDGES) if n]
        if plots:
            files["class_sizes.png"] = _plot_sizes(photos, out / "class_sizes.png")
            lines += ["", "![class sizes](class_sizes.png)"]
    lines += ["", "## Per super-class (iNat2017 Table 2)", "",
              "| super-class | classes | observations | photos |", "|---|---:|---:|---:|"]
    lines += [f"| {r.superclass} | {r.classes:,} | {r.observations:,} | {r.photos:,} |"
              for r in superclass_table(classes)]
    lines += _coverage(con, out, plots, files)
    lines += _traits(con)
    lines += _label_noise(out)
    report = out / "report.md"
    report.write_text("\n".join(lines) + "\n", encoding="utf-8")
    files["report.md"] = report
    con.close()
    return files


#: How many photos of the label-noise ranking the report lists.
NOISE_TOP = 20


def _label_noise(out: Path) -> list[str]:
    """The top of ``noise.csv`` (``fieldguide dataset noise``), when the folder has one."""
    if not (out / "noise.csv").is_file():
        return []
    from fieldguide.training.noise import read_noise

    table = read_noise(out / "noise.csv")
    issues = int(table.label_issue.sum())
    lines = ["", "## Likely label errors", "",
             f"{len(table):,} photos ranked by 1 - p(given label) under an out-of-fold linear "
             f"probe (noise.csv); {issues:,} flagged by confident learning. Top {NOISE_TOP}:",
             "", "| rank | photo | split | label | suggested | p(label) | score |",
             "|---:|---|---|---|---|---:|---:|"]
    lines += [f"| {i + 1} | {table.photo_id[i]} | {table.split[i]} | {table.label[i]} | "
              f"{table.suggested[i]} | {table.p_label[i]:.2f} | {table.noise_score[i]:.2f} |"
              for i in range(min(NOISE_TOP, len(table)))]
    return lines


def _steps_table(steps: list[dict[str, Any]]) -> list[str]:
    out = ["## Steps", "", "| step | photos in | photos out | observations in | "
           "observations out | taxa in | taxa out | seconds |",
           "|---|---:|---:|---:|---:|---:|---:|---:|"]
    notes = []
    for s in steps:
        out.append(
            f"| {s['step']} | {s['photos_in']:,} | {s['photos_out']:,} | "
            f"{s['observations_in']:,} | {s['observations_out']:,} | {s['taxa_in']:,} | "
            f"{s['taxa_out']:,} | {s['seconds']:.2f} |"
        )
        notes += [f"- {s['step']}: {n}" for n in s["notes"]]
    return [*out, "", *notes] if notes else out


def _split_table(con: duckdb.DuckDBPyConnection) -> list[str]:
    rows = con.execute(
        "SELECT split, count(*), count(DISTINCT observation_id), count(DISTINCT observer), "
        "count(DISTINCT taxon_id) FROM m GROUP BY split ORDER BY list_position("
        "['train', 'val', 'test'], split)"
    ).fetchall()
    out = ["", "## Splits", "", "| split | photos | observations | observers | classes |",
           "|---|---:|---:|---:|---:|"]
    return out + [f"| {s} | {p:,} | {o:,} | {u:,} | {c:,} |" for s, p, o, u, c in rows]


def _coverage(
    con: duckdb.DuckDBPyConnection, out: Path, plots: bool, files: dict[str, Path]
) -> list[str]:
    years = con.execute(
        "SELECT year(observed_on) AS y, count(*) FROM m GROUP BY y ORDER BY y NULLS FIRST"
    ).fetchall()
    lines = ["", "## Year coverage", "", "| year | photos |", "|---|---:|"]
    lines += [f"| {y if y is not None else '(undated)'} | {n:,} |" for y, n in years]
    located = con.execute(
        "SELECT count(*) FILTER (latitude IS NOT NULL), count(*) FROM m").fetchall()[0]
    cells = con.execute(
        "SELECT floor(latitude / 10) * 10 AS lat, floor(longitude / 10) * 10 AS lon, count(*) "
        "FROM m WHERE latitude IS NOT NULL GROUP BY ALL ORDER BY 3 DESC"
    ).fetchall()
    lines += ["", "## Location coverage", "",
              f"{located[0]:,} of {located[1]:,} photos have coordinates, in {len(cells):,} "
              "cells of 10 x 10 degrees."]
    if cells:
        lines += ["", "| cell (lat, lon) | photos |", "|---|---:|"]
        lines += [f"| {la:.0f}, {lo:.0f} | {n:,} |" for la, lo, n in cells[:10]]
    if plots and (years or cells):
        files["coverage.png"] = _plot_coverage(years, cells, out / "coverage.png")
        lines += ["", "![year and location coverage](coverage.png)"]
    return lines


def _traits(con: duckdb.DuckDBPyConnection) -> list[str]:
    base = {"photo_id", "path", "url", "observation_id", "observer", "taxon_id", "class_index",
            "taxon", *MAIN_RANKS,
            "split", "observed_on", "latitude", "longitude"}
    cols = [r[0] for r in con.execute("DESCRIBE m").fetchall() if r[0] not in base]
    lines: list[str] = []
    for col in cols:
        rows = con.execute(
            f"SELECT {quote_ident(col)}, count(*) FILTER (split = 'train'), count(*) FILTER "
            "(split = 'val'), count(*) FILTER (split = 'test') FROM m GROUP BY 1 ORDER BY 1"
        ).fetchall()
        lines += ["", f"## Trait: {col}", "", "| value | train | val | test |",
                  "|---|---:|---:|---:|"]
        lines += [f"| {v if v is not None else '(none)'} | {a:,} | {b:,} | {c:,} |"
                  for v, a, b, c in rows]
    return lines


def _plot_sizes(photos: list[int], path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3.5), dpi=110)
    ax.hist(photos, bins=min(50, max(len(set(photos)), 1)), color="#3b7d4f")
    if max(photos) > 50 * max(min(photos), 1):
        ax.set_xscale("symlog")
        ax.set_yscale("log")
    ax.set_xlabel("photos per class")
    ax.set_ylabel("classes")
    ax.set_title(f"Class sizes ({len(photos):,} classes, imbalance {imbalance_ratio(photos):.1f})")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def _plot_coverage(years: list[Any], cells: list[Any], path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.5), dpi=110)
    dated = [(y, n) for y, n in years if y is not None]
    left.bar([y for y, _ in dated], [n for _, n in dated], color="#3b7d4f")
    left.set_xlabel("year")
    left.set_ylabel("photos")
    if cells:
        right.scatter([lo + 5 for _, lo, _ in cells], [la + 5 for la, _, _ in cells],
                      s=[max(4.0, 200.0 * n / cells[0][2]) for _, _, n in cells], alpha=0.6)
    right.set_xlim(-180, 180)
    right.set_ylim(-90, 90)
    right.set_xlabel("longitude")
    right.set_ylabel("latitude")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
