"""Photos into an index: one pass of the identification runner gives logits and embeddings
(the same decoder, the same ONNX model, the same resumable part files as ``identify``).

The parts live in a hidden folder inside the index folder until the new generation is
committed, so an interrupted ``index build`` or ``index add`` resumes by running the same
command again, and a finished one leaves nothing behind.

The embedding step over one chunk of photos is ``runner.score_chunk(paths, model, options,
OUTPUTS)``; an engine that spreads chunks over workers writes their parts into the same
folder (``runner.claim``/``chunks_of``/``write_part``) and ``build`` then only gathers them.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fieldguide.errors import InputError
from fieldguide.identification.classifier import Classifier
from fieldguide.identification.identifier import Identifier
from fieldguide.identification.inputs import Photos
from fieldguide.identification.model import open_model as open_folder
from fieldguide.identification.runner import Progress, RunOptions, Scorer, run_outputs
from fieldguide.models.pixels import Source, load_crop
from fieldguide.search.store import (
    INFO,
    Entries,
    Index,
    ModelIdentity,
    append,
    file_sha256,
    open_index,
    write_index,
)

OUTPUTS = ("logits", "embedding")


@dataclass(frozen=True)
class Indexed:
    """What a build or add did: the index, how many photos were embedded in this call (a
    resumed run counts only the rest) and the photos that failed, with the reason."""

    index: Index
    scored: int
    failed: list[tuple[str, str]]


def model_identity(model: Classifier) -> ModelIdentity:
    """The identity an index records and checks: card name and version, sha256 of the ONNX
    file and the embedding width."""
    if "embedding" not in model.outputs:
        raise InputError("the ONNX export has no 'embedding' output (re-export the model "
                         "with this fieldguide)", path=model.path)
    width = model.session.get_outputs()[model.outputs.index("embedding")].shape[-1]
    if not isinstance(width, int):
        side = model.crop.size
        width = model.embed(np.zeros((1, side, side, 3), np.uint8)).shape[1]
    return ModelIdentity(model.card.name, model.card.version, file_sha256(model.path),
                         int(width))


def _embed(photos: Photos, identifier: Identifier, work: Path,
           progress: Progress | None) -> tuple[Entries, list[tuple[str, str]], int]:
    """Score the photos' embeddings and logits with the identifier's engine (the local
    runner, or the Ray engine's actor pool: the same resumable chunks either way)."""
    arrays, errors, scored = identifier.score(photos, work, OUTPUTS, progress)
    ok = [i for i, e in enumerate(errors) if not e]
    entries = Entries([photos.photo_id[i] for i in ok], [photos.observation_id[i] for i in ok],
                      [photos.path[i] or photos.url[i] for i in ok],
                      [photos.label[i] for i in ok],
                      arrays["embedding"][ok], arrays["logits"][ok])
    failed = [(photos.photo_id[i], e) for i, e in enumerate(errors) if e]
    return entries, failed, scored


def _identifier(model: str | Path | Identifier, threads: int, options: RunOptions | None,
                scorer: Scorer) -> Identifier:
    """The identifier that scores the photos (built here from a model folder when not
    given); an index needs the model's outputs only, never its priors or rejection."""
    if isinstance(model, Identifier):
        return model
    return Identifier(open_folder(model, threads), run=options, scorer=scorer)


def build(model: str | Path | Identifier, photos: Photos, folder: str | Path, *,
          kind: str = "auto", options: RunOptions | None = None, threads: int = 2,
          progress: Progress | None = None, scorer: Scorer = run_outputs) -> Indexed:
    """Embed ``photos`` with the model (a folder, or an :class:`Identifier` built by the
    caller, whose engine and run options then apply) into a new index folder (resumable)."""
    folder = Path(folder)
    if (folder / INFO).exists():
        raise InputError("an index is already here (add to it with `fieldguide index add`)",
                         path=folder)
    identifier = _identifier(model, threads, options, scorer)
    clf = identifier.model
    identity = model_identity(clf)
    work = folder / ".parts-build"
    entries, failed, scored = _embed(photos, identifier, work, progress)
    if not len(entries):
        raise InputError("no photo could be decoded; nothing to index", path=folder)
    index = write_index(folder, entries, model=identity, classes=clf.classes,
                        lineage=clf.card.lineage, temperature=clf.card.temperature,
                        model_path=str(clf.folder.resolve()), kind=kind)
    shutil.rmtree(work, ignore_errors=True)
    return Indexed(index, scored, failed)


def open_model(index: Index, model: str | Path | None = None, threads: int = 2) -> Classifier:
    """The model an index was built with (its recorded folder unless another is named),
    refused when it is not the very same model."""
    folder = Path(model) if model is not None else Path(index.layout.model_path)
    clf = open_folder(folder, threads)
    index.layout.model.require_same(model_identity(clf), index.folder)
    return clf


def add(folder: str | Path, photos: Photos, *, model: str | Path | None = None,
        options: RunOptions | None = None, threads: int = 2,
        progress: Progress | None = None, scorer: Scorer = run_outputs) -> Indexed:
    """Embed the photos not yet in the index and add them (resumable)."""
    index = open_index(folder)
    clf = open_model(index, model, threads)
    known = set(index.column("photo_id"))
    todo = _subset(photos, [i for i, p in enumerate(photos.photo_id) if p not in known])
    if not len(todo):
        return Indexed(index, 0, [])
    work = index.folder / ".parts-add"
    identifier = Identifier(clf, run=options, scorer=scorer)
    entries, failed, scored = _embed(todo, identifier, work, progress)
    if len(entries):
        index = append(index, entries, model_identity(clf))
    shutil.rmtree(work, ignore_errors=True)
    return Indexed(index, scored, failed)


def _subset(photos: Photos, keep: list[int]) -> Photos:
    return Photos([photos.photo_id[i] for i in keep], [photos.path[i] for i in keep],
                  [photos.observation_id[i] for i in keep], photos.latitude[keep],
                  photos.longitude[keep], [photos.label[i] for i in keep],
                  photos.day_of_year[keep], [photos.url[i] for i in keep])


def read_source(source: str | Path, split: str | None = None) -> Photos:
    """What ``index build``/``add`` index: ``identify``'s listing reader, plus, for a study
    folder, each observation's current label (the name of its taxon in the study, else the
    name as the platform gave it) — reverse search needs to know what a photo is labelled."""
    from fieldguide.identification import read_photos
    from fieldguide.store.study import DB_NAME

    source = Path(source)
    photos = read_photos(source, split)
    if not (source.is_dir() and (source / DB_NAME).exists()):
        return photos
    from fieldguide.store import Study

    with Study(source, create=False, read_only=True) as study:
        rows = study.con.execute(
            "SELECT o.observation_id, coalesce(min(t.name), o.verbatim_name, '') "
            "FROM observations o LEFT JOIN taxa t USING (taxon_id) "
            "GROUP BY o.observation_id, o.verbatim_name").fetchall()
    current = {str(o): str(name) for o, name in rows}
    photos.label = [current.get(o, "") for o in photos.observation_id]
    return photos


def embed_queries(model: Classifier, sources: Sequence[Source], batch_size: int = 32,
                  draft: bool = True) -> tuple[np.ndarray, list[str]]:
    """Embeddings of query photos (paths or bytes: what the CLI and the service get) and the
    reason each failed ("" when fine; failed rows are NaN)."""
    crops = [load_crop(s, model.crop, draft) for s in sources]
    errors = [c if isinstance(c, str) else "" for c in crops]
    good = [c for c in crops if not isinstance(c, str)]
    if not good:
        return np.full((len(sources), 0), np.nan, dtype=np.float32), errors
    got = np.concatenate([model.embed(np.stack(good[s:s + batch_size]))
                          for s in range(0, len(good), batch_size)])
    out = np.full((len(sources), got.shape[1]), np.nan, dtype=np.float32)
    out[[i for i, e in enumerate(errors) if not e]] = got
    return out, errors
