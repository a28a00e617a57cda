"""``fieldguide embed``: a model's ``embedding`` output for a listing's photos, into an
embedding store (``fieldguide.embeddings``); heavy imports happen inside the command."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from fieldguide.cli.common import guarded

if TYPE_CHECKING:
    from fieldguide.identification.inputs import Photos


def embed(
    model: Annotated[Path, typer.Argument(help="Model artefact folder whose model.onnx has an "
                                               "'embedding' output.")],
    source: Annotated[Path, typer.Argument(
        help="CSV/Parquet listing or manifest (photo_id, path, ...), a folder of photos, or a "
             "study folder (its photos table).")],
    output: Annotated[Path, typer.Option("-o", "--output", help="The store folder (created, "
                                         "or extended with the photos it lacks).")],
    engine: Annotated[str, typer.Option(help="local, or ray (an actor pool; pip install "
                                             "'fieldguide[ray]').")] = "local",
    split: Annotated[str | None, typer.Option(help="Only rows whose split column is this.")
                     ] = None,
    chunk_size: Annotated[int | None, typer.Option(
        min=1, help="Photos per shard, the unit a killed run redoes (default: the store's, "
                    "4096 for a new one).")] = None,
    batch_size: Annotated[int, typer.Option(min=1)] = 32,
    threads: Annotated[int, typer.Option(min=1, help="ONNX Runtime threads and decoding "
                                                     "threads (per Ray actor).")] = 2,
    actors: Annotated[int, typer.Option(min=1, help="Ray actors (ONNX sessions).")] = 2,
    address: Annotated[str | None, typer.Option(
        help="Ray cluster: auto or ray://HOST:PORT; none starts a local Ray.")] = None,
    full_decode: Annotated[bool, typer.Option(
        "--full-decode", help="Decode JPEGs at full size (another encoder identity).")] = False,
) -> None:
    """Embed photos into a store (resumable: rerun the same command after a crash; a photo
    that cannot be decoded is recorded as failed and not tried again until its file
    changes). A labelled listing (taxon and split columns) is recorded beside the vectors,
    so a training spec can name the store as `embeddings`."""
    from fieldguide.embeddings.build import build_store
    from fieldguide.identification.inputs import read_photos

    photos = guarded(lambda: read_photos(source, split))
    with _bar(len(photos)) as progress:
        store = guarded(lambda: build_store(
            model, photos, output, engine=engine, chunk_size=chunk_size,
            batch_size=batch_size, threads=threads, actors=actors, address=address,
            draft=not full_decode, progress=progress))
    labels = guarded(lambda: _labels(source, split, photos, output))
    failed = store.failed()
    typer.echo(f"{len(store)} photos embedded in {output} ({store.width} wide, "
               f"{len(store.shards())} shards); {len(failed)} failed"
               + (f"; labels in {labels}" if labels else ""))


def _labels(source: Path, split: str | None, photos: Photos, store: Path) -> Path | None:
    """Record a labelled listing's label columns in the store (None for other sources)."""
    from fieldguide.embeddings.build import photo_keys
    from fieldguide.embeddings.external import write_labels
    from fieldguide.identification.inputs import read_table

    if not source.is_file():
        return None
    cols = read_table(source)
    if "taxon" not in cols or "split" not in cols:
        return None
    if split is not None:
        keep = [i for i, s in enumerate(cols["split"]) if s == split]
        cols = {k: [v[i] for i in keep] for k, v in cols.items()}
    skip = {"path", "url", "photo_id", "embedding"}
    columns = {"photo_id": list(photos.photo_id),
               **{k: v for k, v in cols.items() if k not in skip}}
    return write_labels(store, columns, photo_keys(photos))


@contextmanager
def _bar(total: int) -> Iterator[Callable[[int, int], None]]:
    """A progress bar of photos embedded (those already in the store are not counted)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    with Progress(TextColumn("embed"), BarColumn(), MofNCompleteColumn(),
                  transient=True) as bar:
        task = bar.add_task("embed", total=total)
        yield lambda done, todo: bar.update(task, completed=done, total=todo)
