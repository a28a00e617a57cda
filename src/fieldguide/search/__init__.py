"""Search (seed 004 and seed 001's thread): similar photos and reverse search, both on one
embedding index of a study's or a dataset's photos.

Library first (the service calls these): :func:`build` / :func:`add` embed photos with a
model's ONNX export into an index folder, :func:`open_index` maps one, :func:`similar` finds
the nearest photos of query embeddings (optionally within a taxon's subtree) and
:func:`candidates` lists the observations the model thinks are a taxon but that are not
labelled as it. :func:`write_index` / :func:`append` do the same from arrays;
:func:`read_source` reads what ``index build`` indexes (a listing, a folder, a study with its
current labels). Reference: docs/search.md.
"""

from fieldguide.search.embed import (
    Indexed,
    add,
    build,
    embed_queries,
    model_identity,
    open_model,
    read_source,
)
from fieldguide.search.query import Neighbours, similar
from fieldguide.search.reverse import candidates, read_reviewed, write_candidates
from fieldguide.search.store import (
    FLAT_LIMIT,
    Entries,
    Index,
    ModelIdentity,
    append,
    open_index,
    write_index,
)
from fieldguide.search.taxa import Taxa

__all__ = [
    "FLAT_LIMIT", "Entries", "Index", "Indexed", "ModelIdentity", "Neighbours", "Taxa", "add",
    "append", "build", "candidates", "embed_queries", "model_identity", "open_index",
    "open_model", "read_reviewed", "read_source", "similar", "write_candidates", "write_index",
]
