"""`fieldguide index build|add`, `similar` and `candidates`: the embedding index, similar
photos and reverse search (``fieldguide.search``). Heavy imports happen inside commands."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from fieldguide.cli.common import fail, guarded
from fieldguide.cli.identify import ActorsOpt, AddressOpt, EngineOpt

if TYPE_CHECKING:
    from fieldguide.identification import RunOptions

index_app = typer.Typer(no_args_is_help=True, rich_markup_mode=None,
                        help="The embedding index behind `similar` and `candidates`.")

IndexArg = Annotated[Path, typer.Argument(help="Index folder (index.json, index/meta/logits).")]
SourceArg = Annotated[Path, typer.Argument(
    help="CSV/Parquet (photo_id, path, observation_id?, label?), a folder of photos, or a "
         "study folder.")]
SplitOpt = Annotated[str | None, typer.Option(help="Only rows whose split column is this.")]
Threads = Annotated[int, typer.Option(min=1, help="ONNX Runtime threads and decoding threads.")]
BatchOpt = Annotated[int, typer.Option(min=1)]
ChunkOpt = Annotated[int, typer.Option(min=1, help="Photos per part file (resume unit).")]
ModelOpt = Annotated[Path | None, typer.Option(
    help="The model folder, when it moved since the index was built (must be the same model).")]
_LISTINGS = (".csv", ".parquet")


def _options(batch_size: int, chunk_size: int, threads: int) -> RunOptions:
    from fieldguide.identification import RunOptions

    return RunOptions(batch_size, chunk_size, threads)


def _report(verb: str, done: Any) -> None:
    failed = done.failed
    typer.echo(f"{verb}: {len(done.index)} vectors ({done.index.layout.kind}) in "
               f"{done.index.folder}; {done.scored} photos embedded now, {len(failed)} failed")
    for pid, why in failed[:5]:
        typer.echo(f"  failed {pid}: {why}", err=True)


@index_app.command("build")
def index_build(
    model: Annotated[Path, typer.Argument(help="Model folder (model.json, model.onnx).")],
    source: SourceArg,
    output: Annotated[Path, typer.Option("-o", "--output", help="New index folder.")],
    split: SplitOpt = None,
    kind: Annotated[str, typer.Option(
        help="auto (exact up to 300,000 vectors, IVF beyond), flat or ivf.")] = "auto",
    batch_size: BatchOpt = 32,
    chunk_size: ChunkOpt = 512,
    threads: Threads = 2,
    engine: EngineOpt = "local",
    address: AddressOpt = None,
    actors: ActorsOpt = 2,
) -> None:
    """Embed photos with a model into a new index (resumable: rerun the same command)."""
    from fieldguide.identification import Identifier, IdentifyOptions
    from fieldguide.search import build, read_source

    photos = guarded(lambda: read_source(source, split))
    # an index holds the model's outputs only: its rejection is not needed
    options = IdentifyOptions(threads=threads, batch_size=batch_size, chunk_size=chunk_size,
                              engine=engine, address=address, actors=actors, no_reject=True)
    identifier = guarded(lambda: Identifier.from_paths(model, options))
    _report("built", guarded(lambda: build(identifier, photos, output, kind=kind)))


@index_app.command("add")
def index_add(
    index: IndexArg,
    source: SourceArg,
    split: SplitOpt = None,
    model: ModelOpt = None,
    batch_size: BatchOpt = 32,
    chunk_size: ChunkOpt = 512,
    threads: Threads = 2,
    engine: EngineOpt = "local",
    address: AddressOpt = None,
    actors: ActorsOpt = 2,
) -> None:
    """Embed the photos not yet in the index and add them (resumable)."""
    from fieldguide.identification.ray_engine import scorer_for
    from fieldguide.search import add, read_source

    photos = guarded(lambda: read_source(source, split))
    options = _options(batch_size, chunk_size, threads)
    scorer = guarded(lambda: scorer_for(engine, address, actors, threads))
    _report("added", guarded(lambda: add(index, photos, model=model, options=options,
                                         threads=threads, scorer=scorer)))


def similar(
    index: IndexArg,
    photos: Annotated[list[Path], typer.Argument(
        help="Query photos, or one CSV/Parquet listing (then -o writes a CSV).")],
    k: Annotated[int, typer.Option("-k", min=1, help="Neighbours per photo.")] = 10,
    taxon: Annotated[str | None, typer.Option(
        help="Only photos labelled inside this taxon's subtree.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    output: Annotated[Path | None, typer.Option(
        "-o", "--output", help="CSV of every (query, neighbour) row.")] = None,
    model: ModelOpt = None,
    nprobe: Annotated[int | None, typer.Option(
        min=1, help="IVF lists searched (default: the index's).")] = None,
    threads: Threads = 2,
) -> None:
    """The photos most similar to each query photo, with similarity, label and prediction."""
    from fieldguide.identification import read_photos
    from fieldguide.search import embed_queries, open_index, open_model
    from fieldguide.search import similar as search

    idx = guarded(lambda: open_index(index))
    listing = len(photos) == 1 and photos[0].suffix.lower() in _LISTINGS
    if listing:
        names = guarded(lambda: read_photos(photos[0])).path
        if output is None:
            raise typer.BadParameter("a listing of queries needs -o/--output (a CSV)")
    else:
        names = [str(p) for p in photos]
    clf = guarded(lambda: open_model(idx, model, threads))
    emb, errors = embed_queries(clf, names)
    bad = [(n, e) for n, e in zip(names, errors, strict=True) if e]
    if bad and not listing:
        raise fail(f"{bad[0][0]}: cannot use this query photo: {bad[0][1]}")
    ok = [i for i, e in enumerate(errors) if not e]
    found = guarded(lambda: search(idx, emb[ok], k, taxon, nprobe)) if ok else None
    rows = found.records(idx, [names[i] for i in ok]) if found is not None else []
    if output is not None:
        _write_csv(rows + [{"query": n, "error": e} for n, e in bad], output)
        typer.echo(f"{len(ok)} queries ({len(bad)} could not be decoded) -> {output}")
    elif as_json:
        typer.echo(json.dumps(rows, indent=1))
    else:
        for r in rows:
            typer.echo(f"{r['query']}\t{r['rank']}\t{r['similarity']:.3f}\t{r['label'] or '-'}"
                       f"\t{r['predicted']}\t{r['path']}")


def candidates(
    index: IndexArg,
    taxon: Annotated[str, typer.Option(help="The taxon to find unlabelled photos of.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="The review list (CSV).")],
    min_score: Annotated[float, typer.Option(
        min=0.0, max=1.0, help="Lowest model probability of the taxon's subtree.")] = 0.5,
    exclude_reviewed: Annotated[Path | None, typer.Option(
        help="Ids already looked at (a review CSV or one id a line).")] = None,
    neighbours: Annotated[int, typer.Option(
        min=0, help="Nearest photos labelled inside the taxon, per candidate.")] = 3,
    limit: Annotated[int | None, typer.Option(min=1, help="At most this many rows.")] = None,
) -> None:
    """Observations the model thinks are TAXON but labelled otherwise, coarser or not at all,
    best first, with the evidence to review them."""
    from fieldguide.search import candidates as find
    from fieldguide.search import open_index, read_reviewed, write_candidates

    idx = guarded(lambda: open_index(index))
    reviewed = guarded(lambda: read_reviewed(exclude_reviewed)) if exclude_reviewed else set()
    rows = guarded(lambda: find(idx, taxon, min_score, reviewed, neighbours, limit))
    write_candidates(rows, output)
    typer.echo(f"{len(rows)} candidates for {taxon} (score >= {min_score}) -> {output}")


def _write_csv(rows: list[dict[str, Any]], path: Path) -> None:
    import csv
    import os

    fields = list(dict.fromkeys(k for r in rows for k in r)) or ["query"]
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
    os.replace(tmp, path)
