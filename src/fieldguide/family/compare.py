"""Seed 004's evaluation of a family: the family customised for one source against a model
trained on that source's photos alone, on the same test photos: accuracy and average recall
against the number of the most common taxa included (a plot and a table, their figures 4 and
5), per group (the groups as superclasses) and per source (the source's own test photos).

One owner: :func:`write_source_comparison` writes the comparison, whether training computed
the two models' probabilities from the stored embeddings or ``fieldguide compare`` ran both
models over a manifest's photos. :func:`write_source_only` writes the reference training fits
(the encoder and a head trained on the source's photos alone, as one photo model), so the
comparison can be run again from the folders.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from fieldguide.errors import InputError
from fieldguide.evaluation.compare import ComparisonResult, compare_models, write_comparison
from fieldguide.family.card import FamilyCard
from fieldguide.inputs.tables import read_columns


def write_source_comparison(alone: np.ndarray, family: np.ndarray, y: np.ndarray,
                            classes: Sequence[str], group_of_class: Sequence[str],
                            train_counts: np.ndarray | None, source: str,
                            out: Path) -> ComparisonResult:
    """``alone`` and ``family`` (n, C) probabilities on the same photos, ``y`` their true
    classes: the comparison (``names``: "<source> alone", "family for <source>") written
    into ``out`` (comparison.md/.html/.json and the plots)."""
    result = compare_models(alone, family, y, list(classes),
                            (f"{source} alone", f"family for {source}"),
                            train_counts=train_counts, superclass=list(group_of_class))
    write_comparison(result, out)
    return result


def group_of_class(card: FamilyCard, classes: Sequence[str]) -> list[str]:
    """Each class's group, in ``classes`` order."""
    of = {c: g for g, cs in card.groups.items() for c in cs}
    return [of.get(c, "(none)") for c in classes]


def photo_sources(manifest: Path, sources: Path | None = None,
                  column: str = "source") -> dict[str, str]:
    """Each photo's source by its id (the manifest's ``photo_id``, else its ``path``): from a
    ``path,source`` CSV (the family spec's ``[sources] file``) or the manifest's ``column``."""
    cols = read_columns(manifest, what="manifest")
    if "path" not in cols:
        raise InputError("missing column 'path'", path=manifest, field="path")
    ids = [str(v) for v in cols.get("photo_id", cols["path"])]
    paths = [str(v) for v in cols["path"]]
    if sources is not None:
        src = read_columns(sources, what="source list")
        for needed in ("path", "source"):
            if needed not in src:
                raise InputError(f"missing column {needed!r}", path=sources, field=needed)
        by_path = {str(p): str(s or "") for p, s in zip(src["path"], src["source"],
                                                        strict=True)}
        return {i: by_path.get(p, "") for i, p in zip(ids, paths, strict=True)}
    if column not in cols:
        raise InputError(f"missing column {column!r} (or give --sources, a path,source CSV)",
                         path=manifest, field=column)
    return {i: str(v or "") for i, v in zip(ids, cols[column], strict=True)}


def write_source_only(out: Path, encoder: Any, card_fields: dict[str, Any],
                      weight: np.ndarray, bias: np.ndarray) -> Path:
    """The head trained on one source's photos alone on the family's encoder, as one photo
    model folder (``model.json`` + ``model.onnx``) that ``compare`` and ``identify`` read.
    ``card_fields``: the :class:`~fieldguide.models.card.ModelCard`'s fields."""
    import onnx

    from fieldguide.inputs.files import atomic_path
    from fieldguide.models.card import ModelCard, write_card
    from fieldguide.models.encoders import compose

    card = ModelCard(**card_fields)
    model = compose([encoder], card, {card.primary.name: (weight, bias)})
    card.outputs = [o.name for o in model.graph.output]
    card.onnx = "model.onnx"
    out.mkdir(parents=True, exist_ok=True)
    with atomic_path(out / "model.onnx") as tmp:
        onnx.save(model, str(tmp))
    write_card(card, out)
    return out
