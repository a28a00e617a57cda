"""The rows of an archive, from ``identify``'s output or an aggregation's labels, with each
observation's date, place, observer, photos and licences from the study when one is given.

``identify`` columns are read by name and every optional one may be absent: observation_id
(required), taxon, rank, probability, auto_validated, error, and the rejection / prior columns
(rejected, reject_reason, ood_score, prior_score) where the run wrote them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa

from fieldguide.errors import InputError
from fieldguide.export.dwca import LINEAGE, Archive, associated_media
from fieldguide.inputs.tables import read_table
from fieldguide.store import Study


@dataclass(frozen=True)
class Decision:
    """One exported identification of one observation."""

    observation_id: str
    taxon: str | None
    rank: str | None
    identified_by: str
    date: datetime
    status: str
    remarks: str


def _per_observation(path: Path) -> tuple[pa.Table, Path]:
    """identify writes a per-photo table and, beside it, ``<name>.observations.<ext>``: the
    occurrence is the observation, so its decision is the one exported."""
    table = read_table(path)
    if "observation_id" not in table.column_names:
        raise InputError("missing column 'observation_id' (not an identify output?)",
                         path=path, field="observation_id")
    ids = table.column("observation_id").to_pylist()
    if len(set(ids)) == len(ids):
        return table, path
    sibling = path.with_name(f"{path.stem}.observations{path.suffix}")
    if sibling.is_file():
        return _per_observation(sibling)
    raise InputError("several rows per observation and no per-observation table beside it "
                     f"({sibling.name}): pass identify's .observations file", path=path)


def _get(row: dict[str, Any], name: str) -> Any:
    value = row.get(name)
    return None if value is None or value == "" or value != value else value


def decisions_from_identify(path: Path, *, identified_by: str, threshold: float | None,
                            date: datetime | None = None) -> list[Decision]:
    """The model's decision per observation, its reasons in words."""
    table, source = _per_observation(path)
    when = date or datetime.fromtimestamp(source.stat().st_mtime, UTC)
    out = []
    for row in table.to_pylist():
        taxon, rank = _get(row, "taxon"), _get(row, "rank")
        probability = _get(row, "probability")
        remarks = []
        if probability is not None:
            remarks.append(f"probability {float(probability):.3f}")
        if threshold is not None:
            remarks.append(f"threshold {threshold:g}")
        if taxon and rank and rank != "species":
            remarks.append(f"walked up to {rank}")
        for name in ("ood_score", "prior_score"):
            if _get(row, name) is not None:
                remarks.append(f"{name} {float(row[name]):.3f}")
        rejected = bool(_get(row, "rejected"))
        auto = bool(_get(row, "auto_validated")) and not rejected
        if rejected:
            remarks.append(f"rejected: {_get(row, 'reject_reason') or 'out of distribution'}")
        if not taxon:
            error = _get(row, "error")
            if error:
                remarks.append(f"no taxon: {error}")
            elif not rejected:
                bar = f" {threshold:g}" if threshold is not None else ""
                remarks.append(f"no taxon: no rank reached the threshold{bar}")
        status = ("rejected" if rejected else "auto-validated" if auto
                  else "not validated" if taxon else "no identification")
        out.append(Decision(str(row["observation_id"]), taxon, rank if taxon else None,
                            identified_by, when, status, "; ".join(remarks)))
    return out


def decisions_from_labels(study: Study, labels: str) -> list[Decision]:
    """An aggregation's labels: a method name in the study's labels table, or a labels CSV
    (task,label,conf,acc,validated) as ``aggregate -o`` writes it."""
    path = Path(labels)
    if path.is_file():
        table = read_table(path)
        if "task" not in table.column_names or "label" not in table.column_names:
            raise InputError("a labels CSV needs columns task and label", path=path)
        method = f"aggregation ({path.stem})"
        rows = [{"observation_id": r["task"], **r} for r in table.to_pylist()]
        when = datetime.fromtimestamp(path.stat().st_mtime, UTC)
    else:
        rows = _records(study.con.execute(
            "SELECT l.observation_id, coalesce(t.name, l.label) AS label, l.conf, l.acc, "
            "l.validated, l.created_at FROM labels l LEFT JOIN taxa t USING (taxon_id) "
            "WHERE l.method = ? ORDER BY l.observation_id", [labels]))
        if not rows:
            known = [m for (m,) in study.con.execute(
                "SELECT DISTINCT method FROM labels ORDER BY 1").fetchall()]
            raise InputError(f"no labels file nor method {labels!r} in the study "
                             f"(methods: {', '.join(known) or 'none; run `fieldguide aggregate`'})")
        method = f"aggregation: {labels}"
        when = datetime.now(UTC)
    out = []
    for row in rows:
        label = _get(row, "label")
        remarks = [f"{k} {float(row[k]):.3f}" for k in ("conf", "acc") if _get(row, k) is not None]
        if not label:
            remarks.append("no taxon: the votes did not settle on a label")
        rank = _rank_of(study, label)
        validated = bool(_get(row, "validated"))
        created = _get(row, "created_at")
        out.append(Decision(str(row["observation_id"]), label, rank, method,
                            created if isinstance(created, datetime) else when,
                            "validated" if validated else
                            ("not validated" if label else "no identification"),
                            "; ".join(remarks)))
    return out


@contextmanager
def _export_ids(study: Study, ids: list[str]) -> Iterator[Any]:
    """The study's connection with the exported observations' ids as table ``fg_export_ids``
    (a join, not SQL text built from the ids)."""
    study.con.register("fg_export_ids", pa.table({"observation_id": ids}))
    try:
        yield study.con
    finally:
        study.con.unregister("fg_export_ids")


def _records(result: Any) -> list[dict[str, Any]]:
    names = [d[0] for d in result.description]
    return [dict(zip(names, r, strict=True)) for r in result.fetchall()]


def _rank_of(study: Study | None, name: str | None) -> str | None:
    if study is None or not name:
        return None
    row = study.con.execute("SELECT rank FROM taxa WHERE name = ? LIMIT 1", [name]).fetchall()
    return row[0][0] if row else None


def lineage(study: Study | None, names: set[str],
            card_lineage: dict[str, dict[str, str]] | None = None) -> dict[str, dict[str, str]]:
    """``{name: {rank: ancestor}}`` for the ranks kingdom .. genus: from the study's tree where
    it knows the name, else from the model card's lineage."""
    out: dict[str, dict[str, str]] = {n: dict((card_lineage or {}).get(n, {})) for n in names}
    if study is None or not names:
        return out
    study.con.register("fg_export_names", pa.table({"name": sorted(names)}))
    try:
        rows = study.con.execute("""
            WITH RECURSIVE up(name, anc, depth) AS (
                SELECT n.name, t.taxon_id, 0 FROM fg_export_names n
                JOIN (SELECT name, min(taxon_id) AS taxon_id FROM taxa GROUP BY name) t
                  USING (name)
                UNION ALL
                SELECT up.name, t.parent_id, up.depth + 1 FROM up JOIN taxa t
                  ON t.taxon_id = up.anc WHERE t.parent_id IS NOT NULL AND up.depth < 64)
            SELECT up.name, a.rank, a.name FROM up JOIN taxa a ON a.taxon_id = up.anc
            WHERE up.depth > 0""").fetchall()
    finally:
        study.con.unregister("fg_export_names")
    for name, rank, ancestor in rows:
        if rank in LINEAGE:
            out[name][rank] = ancestor
    return out


def build_archive(decisions: list[Decision], study: Study | None, *,
                  card_lineage: dict[str, dict[str, str]] | None = None,
                  title: str = "fieldguide identifications") -> tuple[Archive, dict[str, int]]:
    """Occurrences (one per decision), their photos, and the identification history."""
    archive = Archive(title=title, description=(
        f"{len(decisions):,} observations identified by {decisions[0].identified_by}"
        if decisions else "no observations"))
    counts: dict[str, int] = defaultdict(int)
    ids = [d.observation_id for d in decisions]
    observations = _observations(study, ids)
    photos = _photos(study, ids)
    sounds = _sounds(study, ids)
    lineages = lineage(study, {d.taxon for d in decisions if d.taxon}, card_lineage)
    for d in decisions:
        obs = observations.get(d.observation_id, {})
        media = photos.get(d.observation_id, [])
        when = obs.get("observed_at") or obs.get("observed_on")
        lat, lon = obs.get("latitude"), obs.get("longitude")
        row: dict[str, Any] = {
            "id": d.observation_id, "occurrenceID": d.observation_id,
            "basisOfRecord": "HumanObservation",
            "eventDate": when.isoformat() if when is not None else None,
            "recordedBy": obs.get("observer"), "decimalLatitude": lat,
            "decimalLongitude": lon,
            "coordinateUncertaintyInMeters": obs.get("positional_accuracy"),
            "geodeticDatum": "WGS84" if lat is not None and lon is not None else None,
            "locality": obs.get("place"),
            "scientificName": d.taxon, "taxonRank": d.rank,
            **(lineages.get(d.taxon, {}) if d.taxon else {}),
            "taxonID": obs.get("taxon_key") if obs.get("taxon_name") == d.taxon else None,
            "identifiedBy": d.identified_by, "dateIdentified": d.date.isoformat(),
            "identificationVerificationStatus": d.status,
            "identificationRemarks": d.remarks,
            "associatedMedia": associated_media(
                [m["url"] for m in media] + [m["url"] for m in sounds.get(d.observation_id, [])]
            ) or None,
            "license": obs.get("license"), "rightsHolder": obs.get("observer"),
        }
        for rank in LINEAGE:  # a taxon is not its own ancestor (a card may list it so)
            if d.taxon and row.get(rank) == d.taxon:
                row[rank] = None
        archive.occurrences.append(row)
        counts["occurrences"] += 1
        counts["without a taxon"] += 0 if d.taxon else 1
        for m in media:
            archive.media.append({
                "coreid": d.observation_id, "type": "StillImage",
                "format": m["format"], "identifier": m["url"],
                "references": m["references"], "title": m["photo_id"],
                "creator": m["creator"], "license": m["license"] or obs.get("license"),
                "rightsHolder": m["rights_holder"] or m["creator"] or obs.get("observer")})
            counts["photos"] += 1
        for m in sounds.get(d.observation_id, []):
            archive.media.append({
                "coreid": d.observation_id, "type": "Sound", "format": m["format"],
                "identifier": m["url"], "references": m["references"],
                "title": m["sound_id"], "creator": m["creator"],
                "license": m["license"] or obs.get("license"),
                "rightsHolder": m["rights_holder"] or m["creator"] or obs.get("observer")})
            counts["sounds"] += 1
    history = _history(study, ids)
    if history:
        for d in decisions:
            if any(h["identifiedBy"] == d.identified_by for h in history[d.observation_id]):
                continue  # the study already holds this method's label
            history[d.observation_id].append({
                "coreid": d.observation_id, "scientificName": d.taxon, "taxonRank": d.rank,
                "identifiedBy": d.identified_by, "dateIdentified": d.date.isoformat(),
                "identificationVerificationStatus": d.status,
                "identificationRemarks": d.remarks})
        for obs_id in ids:
            for i, row in enumerate(history.get(obs_id, []), start=1):
                archive.identifications.append({**row, "identificationID": f"{obs_id}-{i}"})
        counts["identifications"] = len(archive.identifications)
    return archive, dict(counts)


def _observations(study: Study | None, ids: list[str]) -> dict[str, dict[str, Any]]:
    if study is None:
        return {}
    with _export_ids(study, ids) as con:
        rows = _records(con.execute("""
            SELECT o.*, t.name AS taxon_name,
                   CASE WHEN t.source_key IS NOT NULL THEN t.source || ':' || t.source_key END
                       AS taxon_key
            FROM observations o JOIN fg_export_ids USING (observation_id)
            LEFT JOIN taxa t USING (taxon_id)"""))
    return {r["observation_id"]: r for r in rows}


def _photos(study: Study | None, ids: list[str]) -> dict[str, list[dict[str, Any]]]:
    """Each observation's photos that have a URL (a local file means nothing to a reader of
    the archive), in position order."""
    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    if study is None:
        return out
    with _export_ids(study, ids) as con:
        rows = con.execute("""
            SELECT p.observation_id, p.photo_id, p.url, p.license, p.creator, p.rights_holder,
                   o.source
            FROM photos p JOIN fg_export_ids USING (observation_id)
            JOIN observations o USING (observation_id)
            WHERE nullif(trim(p.url), '') IS NOT NULL
            ORDER BY p.observation_id, p.position, p.photo_id""").fetchall()
    for obs_id, photo_id, url, licence, creator, holder, source in rows:
        lower = url.lower().split("?")[0]
        fmt = "image/png" if lower.endswith(".png") else "image/jpeg"
        references = (f"https://www.inaturalist.org/photos/{photo_id}"
                      if source == "inaturalist" and str(photo_id).isdigit() else None)
        out[obs_id].append({"photo_id": photo_id, "url": url, "license": licence,
                            "creator": creator, "rights_holder": holder, "format": fmt,
                            "references": references})
    return out


_AUDIO = {"wav": "audio/wav", "flac": "audio/flac", "ogg": "audio/ogg", "oga": "audio/ogg",
          "mp3": "audio/mpeg", "m4a": "audio/mp4", "aiff": "audio/aiff"}


def _sounds(study: Study | None, ids: list[str]) -> dict[str, list[dict[str, Any]]]:
    """Each observation's recordings that have a URL (table ``sounds``), in position order:
    the Multimedia extension lists them as ``type = Sound``."""
    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    if study is None:
        return out
    with _export_ids(study, ids) as con:
        rows = con.execute("""
            SELECT r.observation_id, r.sound_id, r.url, r.format, r.license, r.creator,
                   r.rights_holder, o.source
            FROM sounds r JOIN fg_export_ids USING (observation_id)
            JOIN observations o USING (observation_id)
            WHERE nullif(trim(r.url), '') IS NOT NULL
            ORDER BY r.observation_id, r.position, r.sound_id""").fetchall()
    for obs_id, sound_id, url, fmt, licence, creator, holder, source in rows:
        suffix = url.lower().split("?")[0].rsplit(".", 1)[-1]
        mime = fmt if fmt and "/" in fmt else _AUDIO.get(suffix)
        references = (f"https://www.inaturalist.org/sounds/{sound_id}"
                      if source == "inaturalist" and str(sound_id).isdigit() else None)
        out[obs_id].append({"sound_id": sound_id, "url": url, "license": licence,
                            "creator": creator, "rights_holder": holder, "format": mime,
                            "references": references})
    return out


def _history(study: Study | None, ids: list[str]) -> dict[str, list[dict[str, Any]]]:
    """The crowd's identifications and every aggregation's labels of these observations."""
    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    if study is None:
        return out
    with _export_ids(study, ids) as con:
        crowd = con.execute("""
            SELECT i.observation_id, coalesce(t.name, i.label), t.rank, i.user_id, i.created_at,
                   i.is_current
            FROM identifications i JOIN fg_export_ids USING (observation_id)
            LEFT JOIN taxa t USING (taxon_id)
            ORDER BY i.observation_id, i.created_at NULLS LAST""").fetchall()
        labels = con.execute("""
            SELECT l.observation_id, coalesce(t.name, l.label), t.rank, l.method, l.created_at,
                   l.validated
            FROM labels l JOIN fg_export_ids USING (observation_id)
            LEFT JOIN taxa t USING (taxon_id) ORDER BY l.observation_id, l.method""").fetchall()
    for obs_id, name, rank, who, when, current in crowd:
        out[obs_id].append({"coreid": obs_id, "scientificName": name, "taxonRank": rank,
                            "identifiedBy": who, "dateIdentified": when,
                            "identificationVerificationStatus":
                                "community identification" if current else "withdrawn"})
    for obs_id, name, rank, method, when, validated in labels:
        out[obs_id].append({"coreid": obs_id, "scientificName": name, "taxonRank": rank,
                            "identifiedBy": f"aggregation: {method}", "dateIdentified": when,
                            "identificationVerificationStatus":
                                "validated" if validated else "not validated"})
    return out
