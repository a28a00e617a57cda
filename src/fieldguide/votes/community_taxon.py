"""iNaturalist's Community Taxon: the finest taxon that more than 2/3 of the identifications back.

An identification of a taxon supports that taxon and all its ancestors. For each candidate
taxon c of an observation (every voted taxon and its ancestors):

- cumulative = identifications of c or a descendant of c;
- disagreements = identifications off c's branch (neither an ancestor nor a descendant of c);
- ancestor disagreements = identifications of an ancestor T of c made as explicit disagreements
  with the observation taxon P of the time, whose rejected branch (T's child towards P, down
  to P) contains c or an ancestor of c (iNaturalist's ``conservative_disagreement_count``);
- score = cumulative / (cumulative + disagreements + ancestor disagreements).

The community taxon is the finest candidate with score > 2/3 and cumulative >= 2. Those
candidates always lie on one branch (two disjoint ones cannot both hold 2/3), so "finest" is
"deepest". Work is vectorised over (task, candidate) pairs; Python loops only run over tree
depth. Not modelled: iNaturalist's legacy rule for identifications that predate the
disagreement flag, inactive taxa, observers opting out of the community taxon.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from typing import Any, Self

import numpy as np
import numpy.typing as npt

from fieldguide.votes.base import Aggregator
from fieldguide.votes.table import FloatArray, IntArray, VoteTable

SPECIES_LEVEL = 10.0  # iNaturalist rank_level of species; subspecies, forms... are lower


class CommunityTaxon(Aggregator):
    """Taxonomy-aware 2/3 rule. Pass only *current* identifications in the VoteTable.

    ``parents`` maps a taxon to its parent (None for a root); voted taxa absent from it are
    roots. ``rank_levels`` (taxon -> iNaturalist rank level) decides research grade: the
    community taxon at species level or below. Without it every taxon counts as a species
    (a flat species label space). ``disagreements`` maps (task, worker) of an identification
    made as an explicit disagreement to the observation taxon it disagreed with.

    Results: ``label_names_`` the taxon space (the VoteTable's labels, with the same codes,
    then the other taxa of ``parents``); ``labels_`` the community taxon's code in it (-1:
    none); ``taxa_`` its name per task (None: none); ``conf_`` the cumulative count; ``acc_``
    the score (0 without a community taxon); ``validated_`` research-grade-level
    identification (only the identification part of iNaturalist's quality grade: data-quality
    votes, captive flags, date and location are not seen here); ``weights_`` all 1.
    """

    name = "community-taxon"

    def __init__(self, parents: Mapping[Any, Any] | None = None,
                 rank_levels: Mapping[Any, float] | None = None,
                 disagreements: Mapping[tuple[Any, Any], Any] | None = None,
                 cutoff: float = 2 / 3, min_identifications: int = 2) -> None:
        self.parents = parents or {}
        self.rank_levels = rank_levels
        self.disagreements = disagreements or {}
        self.cutoff = cutoff
        self.min_identifications = min_identifications

    def fit(self, votes: VoteTable) -> Self:
        parent, depth = self._taxon_space(votes)
        n_x, n_t = len(self.label_names_), votes.n_tasks
        pair_of_vote, pair_task, pair_label, _ = votes.pairs()
        direct_n = np.bincount(pair_of_vote, minlength=len(pair_task)).astype(np.float64)

        # Candidates: every voted pair expanded into its taxon's self-and-ancestor chain.
        chain_of, up = np.arange(len(pair_task)), pair_label
        chains, links = [chain_of], [up]
        while (alive := (up := parent[up]) >= 0).any():
            chain_of, up = chain_of[alive], up[alive]
            chains.append(chain_of)
            links.append(up)
        of = np.concatenate(chains)
        keys, inv = np.unique(pair_task[of] * n_x + np.concatenate(links),
                              return_inverse=True)
        cand_task, cand_taxon = keys // n_x, keys % n_x
        cum = np.bincount(inv, weights=direct_n[of], minlength=len(keys))
        direct = np.zeros(len(keys))
        direct[inv[: len(pair_task)]] = direct_n  # the first chain link is the voted taxon

        # Per candidate, sums over its strict ancestors, level by level down the tree.
        par_key = cand_task * n_x + parent[cand_taxon]
        par_idx = np.where(parent[cand_taxon] >= 0, np.searchsorted(keys, par_key), -1)
        levels = depth[cand_taxon]
        on_ancestors = _down_sums(direct, par_idx, levels)
        target = self._disagreement_targets(votes, parent, keys, n_x)
        ancestor_dis = _down_sums(target, par_idx, levels) + target
        n_votes = np.bincount(votes.task, minlength=n_t)
        dis = n_votes[cand_task] - cum - on_ancestors
        score = cum / (cum + dis + ancestor_dis)

        ok = (score > self.cutoff) & (cum >= self.min_identifications)
        rank = np.where(ok, levels, -1)
        best = np.full(n_t, -1, dtype=np.int64)
        np.maximum.at(best, cand_task, rank)
        win = np.flatnonzero(ok & (rank == best[cand_task]))
        self.labels_ = np.full(n_t, -1, dtype=np.int64)
        self.labels_[cand_task[win]] = cand_taxon[win]
        self.conf_, self.acc_ = np.zeros(n_t), np.zeros(n_t)
        self.conf_[cand_task[win]], self.acc_[cand_task[win]] = cum[win], score[win]
        self.taxa_ = np.array([None, *self.label_names_.tolist()], dtype=object)[self.labels_ + 1]
        self.validated_ = self._research_level()
        self.weights_ = np.ones(votes.n_workers)
        return self

    def _taxon_space(self, votes: VoteTable) -> tuple[IntArray, IntArray]:
        """Extend the labels with the taxa of ``parents``; return parent code and depth."""
        known = set(votes.label_names.tolist())
        extra = {t for pair in self.parents.items() for t in pair if t is not None} - known
        self.label_names_ = np.array([*votes.label_names.tolist(), *sorted(extra)])
        code = {name: i for i, name in enumerate(self.label_names_.tolist())}
        parent = np.full(len(code), -1, dtype=np.int64)
        for child, par in self.parents.items():
            if par is not None:
                parent[code[child]] = code[par]
        depth = np.zeros(len(code), dtype=np.int64)
        up = parent.copy()
        while (alive := up >= 0).any():
            if depth.max() > len(code):
                raise ValueError("the parents mapping has a cycle")
            depth += alive
            up = np.where(alive, parent[np.maximum(up, 0)], -1)
        return parent, depth

    def _disagreement_targets(self, votes: VoteTable, parent: IntArray, keys: IntArray,
                              n_x: int) -> FloatArray:
        """Per candidate, explicit disagreements whose rejected branch starts at it.

        An identification of T disagreeing with observation taxon P rejects the branch from
        T's child towards P down to P; nothing if T is not a strict ancestor of P.
        """
        out = np.zeros(len(keys))
        if not self.disagreements:
            return out
        code = {name: i for i, name in enumerate(self.label_names_.tolist())}
        task_code = {n: i for i, n in enumerate(votes.task_names.tolist())}
        worker_code = {n: i for i, n in enumerate(votes.worker_names.tolist())}
        rows = [(task_code.get(t, -1), worker_code.get(w, -1), code.get(p, -1))
                for (t, w), p in self.disagreements.items()]
        t, w, prev = (np.array(c, dtype=np.int64) for c in zip(*rows, strict=True))
        vote_key = votes.task * votes.n_workers + votes.worker
        order = np.argsort(vote_key)
        want = t * votes.n_workers + w
        pos = order[np.minimum(np.searchsorted(vote_key, want, sorter=order), len(order) - 1)]
        found = (t >= 0) & (w >= 0) & (prev >= 0) & (vote_key[pos] == want)
        t, ident, cur = t[found], votes.label[pos[found]], prev[found]
        while (climb := (cur >= 0) & (parent[np.maximum(cur, 0)] != ident)).any():
            cur = np.where(climb, parent[np.maximum(cur, 0)], cur)
        hit = cur >= 0  # cur is T's child on the way to P
        want = t[hit] * n_x + cur[hit]
        at = np.minimum(np.searchsorted(keys, want), len(keys) - 1)
        np.add.at(out, at[keys[at] == want], 1.0)
        return out

    def _research_level(self) -> npt.NDArray[np.bool_]:
        """Community taxon at species level or below (any taxon, without rank levels)."""
        if self.rank_levels is None:
            return self.labels_ >= 0
        level = np.array([float(self.rank_levels.get(n, np.inf)) for n in
                          self.label_names_.tolist()] + [np.inf])
        return level[self.labels_] <= SPECIES_LEVEL



def _down_sums(values: FloatArray, par_idx: IntArray, levels: IntArray) -> FloatArray:
    """Per candidate, the sum of ``values`` over its strict ancestors (all candidates too)."""
    out = np.zeros(len(values))
    order = np.argsort(levels, kind="stable")
    bounds = np.searchsorted(levels[order], np.arange(levels.max() + 2))
    for lo, hi in itertools.pairwise(bounds[1:]):
        idx = order[lo:hi]
        out[idx] = out[par_idx[idx]] + values[par_idx[idx]]
    return out
