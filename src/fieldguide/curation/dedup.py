"""Duplicate photos: exact (SHA-256 of the file) and near (64-bit difference hash, dHash).

Only photos with a local file can be hashed; photos known by URL only are counted and skipped.
A path that does not exist is listed in the report (or refused, or dropped: the spec decides),
never silently lost. Near duplicates are found with banded hashing: with ``d + 1`` bands, two
hashes within Hamming distance ``d`` share at least one band exactly (pigeonhole), so only
photos sharing a band are compared.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa

from fieldguide.curation.steps import DS, delete
from fieldguide.errors import InputError


def dhash(path: str | Path, size: int = 8) -> int:
    """Difference hash: grey ``(size+1) x size`` thumbnail, one bit per left<right pair."""
    from PIL import Image

    with Image.open(path) as image:
        grey = image.convert("L").resize((size + 1, size), Image.Resampling.LANCZOS)
        pixels = np.asarray(grey, dtype=np.int16)
    bits = (pixels[:, 1:] > pixels[:, :-1]).flatten()
    return int(sum(1 << i for i, b in enumerate(bits) if b))


def near_pairs(hashes: list[int], max_distance: int) -> list[tuple[int, int]]:
    """Index pairs (i < j) whose 64-bit hashes differ in at most ``max_distance`` bits."""
    bands = max_distance + 1
    width = 64 // bands
    candidates: set[tuple[int, int]] = set()
    for b in range(bands):
        shift = b * width
        mask = (1 << (64 - shift if b == bands - 1 else width)) - 1
        buckets: dict[int, list[int]] = defaultdict(list)
        for i, h in enumerate(hashes):
            buckets[(h >> shift) & mask].append(i)
        for members in buckets.values():
            candidates.update((a, c) for k, a in enumerate(members) for c in members[k + 1 :])
    close = (p for p in candidates if (hashes[p[0]] ^ hashes[p[1]]).bit_count() <= max_distance)
    return sorted(close)


@dataclass
class DuplicateReport:
    url_only: int = 0
    missing: list[str] = field(default_factory=list)
    exact_groups: list[list[str]] = field(default_factory=list)
    near_pairs: list[tuple[str, str, int]] = field(default_factory=list)
    within_observation: int = 0
    across_observations: int = 0
    dropped: int = 0

    def notes(self) -> list[str]:
        out = [
            f"{self.url_only:,} photo(s) known only by URL: not checked",
            f"{len(self.exact_groups):,} group(s) of identical files; "
            f"{len(self.near_pairs):,} near-duplicate pair(s) "
            f"({self.within_observation:,} within an observation, "
            f"{self.across_observations:,} across observations); {self.dropped:,} dropped",
        ]
        if self.missing:
            shown = ", ".join(self.missing[:5])
            out.append(f"{len(self.missing):,} photo file(s) not found: {shown}"
                       + (" ..." if len(self.missing) > 5 else ""))
        return out


def find_duplicates(con: duckdb.DuckDBPyConnection, *, exact: bool = True, near: bool = True,
                    max_distance: int = 4, drop: bool = True,
                    missing: str = "report") -> DuplicateReport:
    """Hash local files in ``fg_ds``, report duplicates (``exact``: same bytes; ``near``: dHash
    within ``max_distance`` bits), drop all but the first of each group (by photo id) when
    ``drop``; a listed file that is absent is reported, dropped or an error (``missing``), as
    the ``duplicates`` rule of :mod:`fieldguide.curation.spec` says."""
    report = DuplicateReport()
    rows = con.execute(
        f"SELECT d.photo_id, d.observation_id, p.path FROM {DS} d JOIN photos p USING (photo_id)"
        " WHERE p.path IS NOT NULL ORDER BY d.photo_id"
    ).fetchall()
    report.url_only = int(con.execute(
        f"SELECT count(*) FROM {DS} d JOIN photos p USING (photo_id) WHERE p.path IS NULL"
    ).fetchall()[0][0])
    present = []
    for photo_id, obs, path in rows:
        if Path(path).is_file():
            present.append((photo_id, obs, path))
        else:
            report.missing.append(path)
    if report.missing and missing == "error":
        raise InputError("photo file not found", path=report.missing[0])
    dropped: set[str] = set()
    if exact:
        by_digest: dict[str, list[str]] = defaultdict(list)
        for photo_id, _, path in present:
            by_digest[hashlib.sha256(Path(path).read_bytes()).hexdigest()].append(photo_id)
        report.exact_groups = [g for g in by_digest.values() if len(g) > 1]
        dropped.update(p for g in report.exact_groups for p in g[1:])
    if near:
        kept = [r for r in present if r[0] not in dropped]
        hashes = [dhash(path) for _, _, path in kept]
        for i, j in near_pairs(hashes, max_distance):
            a, b = kept[i], kept[j]
            distance = (hashes[i] ^ hashes[j]).bit_count()
            report.near_pairs.append((a[0], b[0], distance))
            if a[1] == b[1]:
                report.within_observation += 1
            else:
                report.across_observations += 1
            dropped.add(b[0])
    if not drop:
        dropped = set()
    if missing == "drop":
        absent = set(report.missing)
        dropped.update(p for p, _, path in rows if path in absent)
    report.dropped = len(dropped)
    if dropped:
        con.register("fg_drop", pa.table({"photo_id": pa.array(sorted(dropped), pa.string())}))
        try:
            delete(con, "photo_id IN (SELECT photo_id FROM fg_drop)")
        finally:
            con.unregister("fg_drop")
    return report
