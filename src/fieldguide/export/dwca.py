"""Identifications out as a Darwin Core Archive, the form GBIF, iNaturalist and museum
collection systems take in.

The archive is a zip of tab-separated files (no quoting: tabs and line breaks inside values
become spaces) described by ``meta.xml``, with ``eml.xml`` saying who made it and how:

- ``occurrence.txt`` (core, ``dwc:Occurrence``): one row per observation with the
  identification being exported (a model's decision, or an aggregation method's label);
- ``multimedia.txt`` (GBIF Multimedia extension): one row per photo (``type = StillImage``)
  and per sound recording (``type = Sound``) that has a URL, with its licence and rights
  holder;
- ``identification.txt`` (``dwc:Identification``, written when there is a history): every
  identification known for the observation: the crowd's, other aggregation methods', and the
  exported one.

An observation without a taxon (undecodable photos, no taxon above the threshold, rejected as
out of distribution, votes that did not settle) is exported with an empty ``scientificName``
and the reason in ``identificationRemarks``: never dropped. ``docs/exchange.md`` says what
each column means.
"""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from fieldguide import __version__
from fieldguide.inputs.files import atomic_path
from fieldguide.taxonomy.ranks import MAIN_RANKS

DWC = "http://rs.tdwg.org/dwc/terms/"
DC = "http://purl.org/dc/terms/"
OCCURRENCE = DWC + "Occurrence"
IDENTIFICATION = DWC + "Identification"
MULTIMEDIA = "http://rs.gbif.org/terms/1.0/Multimedia"
LINEAGE = MAIN_RANKS[:-1]  # Darwin Core's higher-taxon terms: the main ranks above species
_DC_TERMS = {"license", "rightsHolder", "identifier", "references", "format", "type",
             "creator", "title", "created"}

OCCURRENCE_TERMS = (
    "occurrenceID", "basisOfRecord", "eventDate", "recordedBy", "decimalLatitude",
    "decimalLongitude", "coordinateUncertaintyInMeters", "geodeticDatum", "locality",
    "scientificName", "taxonRank", *LINEAGE, "taxonID", "identifiedBy", "dateIdentified",
    "identificationVerificationStatus", "identificationRemarks", "associatedMedia",
    "license", "rightsHolder",
)
MEDIA_TERMS = ("type", "format", "identifier", "references", "title", "creator", "license",
               "rightsHolder")
IDENTIFICATION_TERMS = ("identificationID", "scientificName", "taxonRank", "identifiedBy",
                        "dateIdentified", "identificationVerificationStatus",
                        "identificationRemarks")


@dataclass
class Archive:
    """The rows of an archive, each a dict keyed by term name (missing terms are empty)."""

    occurrences: list[dict[str, Any]] = field(default_factory=list)
    media: list[dict[str, Any]] = field(default_factory=list)
    identifications: list[dict[str, Any]] = field(default_factory=list)
    title: str = "fieldguide identifications"
    description: str = ""


def term_uri(term: str) -> str:
    return (DC if term in _DC_TERMS else DWC) + term


def _text(value: Any) -> str:
    """A value as one field of an unquoted TSV: never a tab or a line break inside."""
    if value is None:
        return ""
    if isinstance(value, float):
        return "" if value != value else f"{value:.10g}"
    if isinstance(value, datetime):
        return value.isoformat()
    return " ".join(str(value).split()) if any(c in str(value) for c in "\t\r\n") else str(value)


def _table(rows: Sequence[dict[str, Any]], terms: Sequence[str], first: str | None) -> bytes:
    """Tab-separated, header line first; ``first`` (the core id) leads every row."""
    out = io.StringIO()
    writer = csv.writer(out, delimiter="\t", quoting=csv.QUOTE_NONE, escapechar=None,
                        lineterminator="\n")
    header = ([first] if first else []) + list(terms)
    writer.writerow(header)
    for row in rows:
        writer.writerow([_text(row.get(t)) for t in header])
    return out.getvalue().encode("utf-8")


def _section(tag: str, row_type: str, location: str, terms: Sequence[str],
             id_tag: str) -> str:
    fields = "\n".join(f'    <field index="{i + 1}" term="{term_uri(t)}"/>'
                       for i, t in enumerate(terms))
    return (f'  <{tag} encoding="UTF-8" fieldsTerminatedBy="\\t" linesTerminatedBy="\\n" '
            f'fieldsEnclosedBy="" ignoreHeaderLines="1" rowType="{row_type}">\n'
            f"    <files><location>{location}</location></files>\n"
            f'    <{id_tag} index="0"/>\n{fields}\n  </{tag}>')


def meta_xml(with_media: bool, with_history: bool) -> str:
    """The archive descriptor: the core's id is column 0 (it repeats as occurrenceID)."""
    parts = [_section("core", OCCURRENCE, "occurrence.txt", OCCURRENCE_TERMS, "id")]
    if with_media:
        parts.append(_section("extension", MULTIMEDIA, "multimedia.txt", MEDIA_TERMS, "coreid"))
    if with_history:
        parts.append(_section("extension", IDENTIFICATION, "identification.txt",
                              IDENTIFICATION_TERMS, "coreid"))
    return ('<?xml version="1.0" encoding="UTF-8"?>\n'
            '<archive xmlns="http://rs.tdwg.org/dwc/text/" metadata="eml.xml">\n'
            + "\n".join(parts) + "\n</archive>\n")


def eml_xml(archive: Archive, when: datetime) -> str:
    """Minimal EML 2.1.1: title, creator, date, what the data are and their rights."""
    day = when.date().isoformat()
    abstract = archive.description or "Identifications made with fieldguide."
    package = quoteattr(f"fieldguide-{when.strftime('%Y%m%dT%H%M%S')}")
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<eml:eml xmlns:eml="eml://ecoinformatics.org/eml-2.1.1"
         xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
         xsi:schemaLocation="eml://ecoinformatics.org/eml-2.1.1 http://rs.gbif.org/schema/eml-gbif-profile/1.1/eml.xsd"
         packageId={package} system="fieldguide" xml:lang="en">
  <dataset>
    <title>{escape(archive.title)}</title>
    <creator><organizationName>fieldguide {escape(__version__)}</organizationName></creator>
    <pubDate>{day}</pubDate>
    <language>en</language>
    <abstract><para>{escape(abstract)}</para></abstract>
    <intellectualRights><para>Each occurrence and photo carries its own licence and rights
holder (dcterms:license, dcterms:rightsHolder).</para></intellectualRights>
    <contact><organizationName>fieldguide</organizationName></contact>
  </dataset>
</eml:eml>
"""


def write_archive(archive: Archive, out: Path, when: datetime | None = None) -> Path:
    """Write the zip under a temporary name and rename it into place."""
    when = when or datetime.now(UTC)
    with_media = bool(archive.media)
    with_history = bool(archive.identifications)
    with atomic_path(out) as tmp, zipfile.ZipFile(tmp, "w",
                                                  compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr("meta.xml", meta_xml(with_media, with_history))
        z.writestr("eml.xml", eml_xml(archive, when))
        z.writestr("occurrence.txt", _table(archive.occurrences, OCCURRENCE_TERMS, "id"))
        if with_media:
            z.writestr("multimedia.txt", _table(archive.media, MEDIA_TERMS, "coreid"))
        if with_history:
            z.writestr("identification.txt",
                       _table(archive.identifications, IDENTIFICATION_TERMS, "coreid"))
    return out


def associated_media(urls: Iterable[str]) -> str:
    """DwC's recommended separator for a list in one field is `` | ``."""
    return " | ".join(u for u in urls if u)
