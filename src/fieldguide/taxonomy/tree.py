"""``Taxonomy``: an array-backed taxon tree (ids, parents, ranks, names) with vectorised queries.

Labels, votes and model outputs meet at taxa; a tree of a million taxa has to build in seconds
and answer "which family is each of these 10^6 taxa in" without Python loops, so the tree is a
handful of NumPy arrays plus two dictionaries for O(1) lookups by id and by name.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import ArrayLike, NDArray

import fieldguide.taxonomy._arrays as _arrays
from fieldguide.errors import InputError
from fieldguide.taxonomy.names import canonical_name, match_key
from fieldguide.taxonomy.ranks import MAIN_RANKS, RANK_LEVELS, normalise_rank, rank_level

_SIMPLE_NAME = re.compile(r"^[A-Z][a-z\-]+(?: [a-z\-]+)?$")  # already canonical: skip parsing
UNASSIGNED = -1  #: taxon id of the roll-up column for leaves with no taxon at that rank


class RankScores(NamedTuple):
    """Scores summed to one rank: column j belongs to ``taxon_ids[j]`` (-1 = unassigned)."""

    taxon_ids: NDArray[np.int64]
    scores: NDArray[Any]


class Taxonomy:
    """A forest of taxa held as parallel arrays; row ``i`` is one taxon.

    ``ids`` are the source's taxon ids, ``parent_rows`` holds row indices (-1 for roots), ``levels``
    the iNaturalist rank level (NaN when unranked). Build with ``from_parents`` or
    ``from_rank_columns``; ``Taxonomy`` objects are not meant to be mutated.
    """

    def __init__(
        self,
        ids: NDArray[np.int64],
        parent_rows: NDArray[np.int64],
        names: list[str],
        rank_codes: NDArray[np.int16],
        rank_vocab: list[str | None],
    ) -> None:
        self.ids = ids
        self.parent_rows = parent_rows
        self.names = names
        self.rank_codes = rank_codes
        self.rank_vocab = rank_vocab
        vocab_levels = [rank_level(r) for r in rank_vocab]
        level_of_code = np.array([np.nan if v is None else v for v in vocab_levels] + [np.nan])
        self.levels: NDArray[np.float64] = level_of_code[rank_codes]
        self._perm = np.argsort(ids, kind="stable").astype(np.int64)
        self._sorted_ids = ids[self._perm]
        if len(ids) and (np.diff(self._sorted_ids) == 0).any():
            dup = int(self._sorted_ids[np.flatnonzero(np.diff(self._sorted_ids) == 0)[0]])
            raise InputError(f"taxon id {dup} appears more than once", field="id")
        self._index: dict[int, int] = dict(zip(ids.tolist(), range(len(ids)), strict=True))
        self.depths = _arrays.depths_by_pointer_jumping(parent_rows, ids)
        self._by_depth = _arrays.group_by_depth(self.depths)
        self._children: tuple[NDArray[np.int64], NDArray[np.int64]] | None = None
        self._names_index: dict[str, list[int]] | None = None
        self._at_rank: dict[str, NDArray[np.int64]] = {}
        #: optional per-taxon text columns a reader kept (e.g. OTT "sourceinfo", iNat "active")
        self.columns: dict[str, list[str]] = {}

    # -- constructors -------------------------------------------------------------------------
    @classmethod
    def from_parents(
        cls,
        ids: ArrayLike,
        parent_ids: Sequence[Any] | NDArray[Any],
        names: Sequence[str],
        ranks: Sequence[str | None],
    ) -> Taxonomy:
        """Build from id/parent-id columns; refuses dangling parents and cycles (InputError)."""
        id_arr = np.asarray(ids, dtype=np.int64)
        par_ids = _arrays.coerce_parent_ids(parent_ids)
        if not len(id_arr) == len(par_ids) == len(names) == len(ranks):
            raise InputError("ids, parent_ids, names and ranks differ in length")
        perm = np.argsort(id_arr, kind="stable").astype(np.int64)
        parent = _arrays.lookup_indices(id_arr[perm], perm, par_ids)
        dangling = (parent < 0) & (par_ids >= 0)
        if dangling.any():
            i = int(np.flatnonzero(dangling)[0])
            raise InputError(
                f"taxon id {int(id_arr[i])} has parent {int(par_ids[i])}, which is not in the "
                f"taxonomy ({int(dangling.sum())} such taxa)",
                field="parent_id",
            )
        codes, vocab = _arrays.encode_ranks(ranks)
        return cls(id_arr, parent, list(names), codes, vocab)

    @classmethod
    def from_rank_columns(
        cls, rows: Mapping[str, Sequence[Any]]
    ) -> tuple[Taxonomy, NDArray[np.int64]]:
        """Build from one name column per rank (e.g. iNaturalist's ``taxon_family_name``).

        Identical paths share taxa; ids are assigned 1, 2, ... in order of first appearance.
        Returns the taxonomy and each row's deepest taxon id (-1 for an all-blank row).
        """
        cols: list[tuple[float, str, Sequence[Any]]] = []
        for key, values in rows.items():
            rank = normalise_rank(key.removeprefix("taxon_").removesuffix("_name"))
            level = rank_level(rank)
            if rank is None or level is None:
                raise InputError(f"column {key!r} is not a known rank", field=key)
            cols.append((level, rank, values))
        cols.sort(key=lambda c: -c[0])
        n_rows = len(cols[0][2]) if cols else 0
        key_to_id: dict[tuple[int, str, str], int] = {}
        parents: list[int] = []
        names: list[str] = []
        ranks: list[str] = []
        leaf = [-1] * n_rows
        for _, rank, values in cols:
            if len(values) != n_rows:
                raise InputError(f"rank column {rank!r} has {len(values)} rows, not {n_rows}")
            for r, value in enumerate(values):
                if value is None or (isinstance(value, float) and value != value):
                    continue
                name = " ".join(str(value).split())
                if not name:
                    continue
                path_key = (leaf[r], rank, name)
                tid = key_to_id.get(path_key)
                if tid is None:
                    tid = key_to_id[path_key] = len(names) + 1
                    parents.append(leaf[r])
                    names.append(name)
                    ranks.append(rank)
                leaf[r] = tid
        ids = np.arange(1, len(names) + 1, dtype=np.int64)
        return cls.from_parents(ids, parents, names, ranks), np.asarray(leaf, dtype=np.int64)

    # -- lookups ------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.ids)

    def __contains__(self, taxon_id: object) -> bool:
        return isinstance(taxon_id, int | np.integer) and int(taxon_id) in self._index

    def __iter__(self) -> Iterator[int]:
        return iter(self.ids.tolist())

    def index(self, taxon_id: int) -> int:
        """Row of ``taxon_id``; InputError if absent."""
        try:
            return self._index[int(taxon_id)]
        except KeyError:
            raise InputError(f"taxon id {taxon_id} is not in the taxonomy", field="id") from None

    def indices(self, taxon_ids: ArrayLike) -> NDArray[np.int64]:
        """Rows of many ids at once (vectorised); InputError naming the first unknown id."""
        query = np.asarray(taxon_ids, dtype=np.int64)
        rows = _arrays.lookup_indices(self._sorted_ids, self._perm, query)
        if (rows < 0).any():
            bad = int(query[np.flatnonzero(rows < 0)[0]])
            raise InputError(f"taxon id {bad} is not in the taxonomy", field="id")
        return rows

    def name(self, taxon_id: int) -> str:
        return self.names[self.index(taxon_id)]

    def rank(self, taxon_id: int) -> str | None:
        code = int(self.rank_codes[self.index(taxon_id)])
        return self.rank_vocab[code] if code < len(self.rank_vocab) else None

    def parent(self, taxon_id: int) -> int | None:
        """Parent's id, None for a root."""
        p = int(self.parent_rows[self.index(taxon_id)])
        return None if p < 0 else int(self.ids[p])

    def depth(self, taxon_id: int) -> int:
        """Number of ancestors (a root has depth 0)."""
        return int(self.depths[self.index(taxon_id)])

    def ids_by_name(self, name: str) -> list[int]:
        """Ids of every taxon whose canonical name equals ``name``'s (homonyms give several)."""
        if self._names_index is None:
            self._names_index = self._build_names_index()
        key = name if _SIMPLE_NAME.match(name) else canonical_name(name)
        return list(self._names_index.get(key, ()))

    def _build_names_index(self) -> dict[str, list[int]]:
        index: dict[str, list[int]] = {}
        for tid, raw in zip(self.ids.tolist(), self.names, strict=True):
            key = raw if _SIMPLE_NAME.match(raw) else match_key(raw)
            index.setdefault(key, []).append(tid)
        return index

    # -- hierarchy ----------------------------------------------------------------------------
    def ancestors(self, taxon_id: int, include_self: bool = False) -> list[int]:
        """Ancestor ids, nearest first (the root last)."""
        row = self.index(taxon_id)
        out = [int(self.ids[row])] if include_self else []
        row = int(self.parent_rows[row])
        while row >= 0:
            out.append(int(self.ids[row]))
            row = int(self.parent_rows[row])
        return out

    def children(self, taxon_id: int) -> list[int]:
        order, offsets = self._children_csr()
        row = self.index(taxon_id)
        return [int(t) for t in self.ids[order[offsets[row] : offsets[row + 1]]]]

    def descendants(self, taxon_id: int) -> list[int]:
        """All ids below ``taxon_id`` (not itself), breadth first."""
        order, offsets = self._children_csr()
        frontier = np.array([self.index(taxon_id)], dtype=np.int64)
        found: list[NDArray[np.int64]] = []
        while len(frontier):
            starts, ends = offsets[frontier], offsets[frontier + 1]
            lengths = ends - starts
            if not lengths.sum():
                break
            flat = np.repeat(starts - np.cumsum(lengths) + lengths, lengths)
            frontier = order[flat + np.arange(lengths.sum())]
            found.append(frontier)
        return self.ids[np.concatenate(found)].tolist() if found else []

    def _children_csr(self) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
        if self._children is None:
            self._children = _arrays.children_csr(self.parent_rows)
        return self._children

    def lca(self, a: int, b: int) -> int | None:
        """Lowest common ancestor (a taxon counts as its own ancestor); None across roots."""
        ra, rb = self.index(a), self.index(b)
        while self.depths[ra] > self.depths[rb]:
            ra = int(self.parent_rows[ra])
        while self.depths[rb] > self.depths[ra]:
            rb = int(self.parent_rows[rb])
        while ra != rb and ra >= 0:
            ra, rb = int(self.parent_rows[ra]), int(self.parent_rows[rb])
        return None if ra < 0 else int(self.ids[ra])

    def leaves(self) -> NDArray[np.int64]:
        """Ids of taxa without children."""
        has_child = np.zeros(len(self), dtype=bool)
        has_child[self.parent_rows[self.parent_rows >= 0]] = True
        return self.ids[~has_child]

    def roots(self) -> NDArray[np.int64]:
        return self.ids[self.parent_rows < 0]

    def ancestor_at_rank(self, taxon_ids: ArrayLike, rank: str) -> NDArray[np.int64]:
        """Id of each taxon's ancestor-or-self at ``rank`` (-1 if its lineage skips the rank).

        Matched on the rank name (a "genushybrid" is not a "genus"); the per-rank column is
        computed once, for all taxa, on first use.
        """
        key = normalise_rank(rank)
        if key is None or key not in RANK_LEVELS:
            raise InputError(f"unknown rank {rank!r}", field="rank")
        col = self._at_rank.get(key)
        if col is None:
            code = self.rank_vocab.index(key) if key in self.rank_vocab else -2
            flag = self.rank_codes == code
            rows = _arrays.nearest_with_flag(flag, self.parent_rows, *self._by_depth)
            col = np.where(rows >= 0, self.ids[np.maximum(rows, 0)], -1)
            self._at_rank[key] = col
        return col[self.indices(taxon_ids)]

    def rollup(
        self, scores: ArrayLike, leaf_ids: ArrayLike, ranks: Sequence[str] = MAIN_RANKS
    ) -> dict[str, RankScores]:
        """Sum per-taxon scores (n_samples x n_leaves) to each rank by a segment sum.

        Column j of ``scores`` belongs to ``leaf_ids[j]`` (any taxa, usually species). For
        every rank the result has one column per distinct ancestor at that rank plus a final
        ``UNASSIGNED`` (-1) column, always present, collecting leaves whose lineage has no taxon
        at that rank, so every row keeps its total at every rank.
        """
        mat = np.asarray(scores)
        leaves = np.asarray(leaf_ids, dtype=np.int64)
        if mat.ndim != 2 or mat.shape[1] != len(leaves):
            raise InputError(f"scores shape {mat.shape} does not match {len(leaves)} leaf ids")
        big = np.iinfo(np.int64).max
        levels = [rank_level(r) or 0.0 for r in ranks]
        coarse_first = sorted(range(len(ranks)), key=lambda i: -levels[i])
        keys = [np.where(a < 0, big, a) for a in
                (self.ancestor_at_rank(leaves, ranks[i]) for i in coarse_first)]
        dtype = np.result_type(mat.dtype, np.float32)
        if not keys or len(leaves) == 0:
            empty = np.zeros((mat.shape[0], 1), dtype=dtype)
            return {r: RankScores(np.array([UNASSIGNED]), empty.copy()) for r in ranks}
        # Sort leaves by their ancestor tuple, most inclusive rank first. A run of equal
        # prefixes (kingdom..rank r) is then a union of runs at the next finer rank, so each
        # rank is summed from the finer rank's (much smaller) result, not from all leaves.
        order = np.lexsort(keys[::-1])
        sorted_keys = [k[order] for k in keys]
        changed = np.zeros(len(leaves), dtype=bool)
        changed[0] = True
        starts_per_rank = []
        for k in sorted_keys:
            changed[1:] |= k[1:] != k[:-1]
            starts_per_rank.append(np.flatnonzero(changed))
        finest = starts_per_rank[-1]
        # leaves as rows (one transposed gather): reduceat over rows is far faster than over
        # the columns of a C-ordered matrix
        gathered = np.asarray(mat.T, dtype=dtype)[order]
        sums = gathered if len(finest) == len(leaves) else np.add.reduceat(gathered, finest, 0)
        out: dict[str, RankScores] = {}
        prev_starts = finest
        for pos in range(len(keys) - 1, -1, -1):
            starts = starts_per_rank[pos]
            if len(starts) != len(prev_starts):
                sums = np.add.reduceat(sums, np.searchsorted(prev_starts, starts), axis=0)
            prev_starts = starts
            merged = _arrays.merge_runs(sums, sorted_keys[pos][starts], big)
            out[ranks[coarse_first[pos]]] = RankScores(*merged)
        return {r: out[r] for r in ranks}
