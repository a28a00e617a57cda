"""Outward formats. ``export_identifications`` and ``export_labels`` write a Darwin Core
Archive (see :mod:`fieldguide.export.dwca` and docs/exchange.md)."""

from __future__ import annotations

from pathlib import Path

from fieldguide.export.build import (
    Decision,
    build_archive,
    decisions_from_identify,
    decisions_from_labels,
)
from fieldguide.export.dwca import Archive, write_archive
from fieldguide.store import Study

__all__ = ["Archive", "Decision", "build_archive", "export_identifications", "export_labels",
           "write_archive"]


def export_identifications(identifications: Path, out: Path, *, study: Study | None = None,
                           model: Path | None = None, identified_by: str | None = None,
                           threshold: float | None = None) -> dict[str, int]:
    """``identify``'s output as a DwC-A; ``identifiedBy`` is the model card's name and version
    (``model``), else ``identified_by``. Returns counts (occurrences, photos, ...)."""
    lineage: dict[str, dict[str, str]] = {}
    who = identified_by
    if model is not None:
        from fieldguide.models.card import read_card

        card = read_card(model)
        who = who or f"{card.name} {card.version} (fieldguide model)"
        lineage = card.lineage
    decisions = decisions_from_identify(identifications, identified_by=who or "fieldguide model",
                                        threshold=threshold)
    archive, counts = build_archive(decisions, study, card_lineage=lineage)
    write_archive(archive, out)
    return counts


def export_labels(labels: str, out: Path, *, study: Study) -> dict[str, int]:
    """An aggregation's labels (a method in the study, or a labels CSV) as a DwC-A."""
    archive, counts = build_archive(decisions_from_labels(study, labels), study,
                                    title="fieldguide aggregated labels")
    write_archive(archive, out)
    return counts
