"""Dawid-Skene (1979): EM over per-worker confusion matrices, exact or one-coin for huge K.

Why two models: a dense workers x K x K confusion array is exact and matches crowd-kit on the
small benchmark sets, but at Pl@ntNet scale (820K workers, 11K labels) it would need ~10^14
cells. The one-coin model constrains each worker's confusion matrix to accuracy p_j on the
diagonal and (1 - p_j) / (K - 1) elsewhere (Dawid-Skene with that constraint). Its posterior
over the labels nobody voted for on a task is then proportional to the class priors, so it is
kept exactly as the voted (task, label) pairs plus one "rest" factor per task: O(votes) memory.

Known answers (crowd-kit #107, #112): ``gold`` fixes the true label of some tasks; their
posterior is clamped to that label, so they seed the workers' confusion matrices and are never
re-estimated. In the full model EM first reaches the workers' own optimum, then the gold tasks
are clamped and EM continues from there: started from majority vote with gold clamped, EM
wandered to other optima and lost up to 20 tasks of the product set on some draws of gold
(docs/benchmarks.md has the table). The one-coin model clamps from the start.
``init_confusion`` starts chosen workers from given confusion matrices instead of the
majority-vote estimate (the first E-step uses them; EM re-estimates them afterwards).
"""

from __future__ import annotations

from typing import Any, Literal, Self

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from fieldguide.votes.base import Aggregator
from fieldguide.votes.table import FloatArray, IntArray, VoteTable

Model = Literal["full", "one-coin", "auto"]
EPS = 1e-10  # floor for probabilities before taking logs (as crowd-kit)


class DawidSkene(Aggregator):
    """Dawid-Skene EM, initialised from majority vote.

    ``model="auto"`` picks the dense confusion model when
    ``workers*K*K + votes*K + tasks*K <= max_dense_cells``, else the one-coin model.

    Results: ``labels_`` the most probable label; ``acc_`` its posterior probability;
    ``conf_`` the summed skill (``weights_``) of the workers who voted for it;
    ``validated_`` = ``acc_ >= threshold`` (0.7 as Pl@ntNet's theta_acc); ``weights_`` a
    worker's expected accuracy (prior-weighted diagonal of the confusion matrix, p_j for
    one-coin); ``posterior_`` a CSR (tasks x labels) array.

    ``smoothing`` adds that many pseudo-votes to every cell of every worker's confusion matrix
    (a symmetric Dirichlet prior; 0 gives plain EM, as crowd-kit). With few votes per worker,
    plain EM can drive cells to zero and lock into a degenerate solution: on the Pl@ntNet toy
    set it ends one task lower than its own 8th iteration; 0.01 leaves the larger sets within
    0.05 points of plain EM. For the one-coin model it holds
    the voted labels only; an unvoted label k of task i has posterior
    ``posterior_rest_[i] * priors_[k]``. ``model_`` says which model ran.

    ``fit(votes, gold=..., init_confusion=...)``: ``gold`` a label code per task (-1 where
    unknown, as :func:`fieldguide.votes.io.read_gold` returns), clamped throughout;
    ``init_confusion`` a (workers, K, K) array of row-stochastic matrices, NaN for the workers
    that start from majority vote (:func:`fieldguide.votes.io.read_confusion`). The one-coin
    model starts such a worker at the prior-weighted diagonal of the given matrix, and a gold
    label nobody voted for on its task counts there as every vote being wrong.
    """

    name = "dawid-skene"

    def __init__(self, n_iter: int = 100, tol: float = 1e-5, model: Model = "auto",
                 threshold: float = 0.7, max_dense_cells: int = 10_000_000,
                 smoothing: float = 0.01) -> None:
        if model not in ("full", "one-coin", "auto"):
            raise ValueError(f"model must be 'full', 'one-coin' or 'auto', not {model!r}")
        self.n_iter = n_iter
        self.tol = tol
        self.model = model
        self.threshold = threshold
        self.max_dense_cells = max_dense_cells
        self.smoothing = smoothing

    def fit(self, votes: VoteTable, *, gold: IntArray | None = None,
            init_confusion: FloatArray | None = None) -> Self:
        k = votes.n_labels
        self._gold = _checked_gold(votes, gold)
        self._init = _checked_confusion(votes, init_confusion)
        cells = (votes.n_workers * k + votes.n_votes + votes.n_tasks) * k
        use_full = self.model == "full" or (self.model == "auto" and cells <= self.max_dense_cells)
        self.model_ = "full" if use_full else "one-coin"
        self.loss_history_: list[float] = []
        if use_full:
            self._fit_full(votes)
        else:
            self._fit_one_coin(votes)
        self.conf_ = support_of(votes, self.labels_, self.weights_[votes.worker])
        self.validated_ = self.acc_ >= self.threshold
        return self

    def _converged(self, loglik: float) -> bool:
        """Stop when the mean log-likelihood per vote gains less than ``tol``."""
        done = bool(self.loss_history_) and loglik - self.loss_history_[-1] < self.tol
        self.loss_history_.append(loglik)
        return done

    # -- dense confusion matrices ---------------------------------------------------------

    def _fit_full(self, votes: VoteTable) -> None:
        n_t, n_k = votes.n_tasks, votes.n_labels
        post = np.zeros((n_t, n_k))
        np.add.at(post, (votes.task, votes.label), 1.0)
        post /= post.sum(axis=1, keepdims=True)
        priors, err = post.mean(axis=0), _confusion(votes, post, self.smoothing)
        if self._init is not None:
            given = ~np.isnan(self._init[:, 0, 0])
            err[given] = np.maximum(self._init[given], EPS)
            err /= err.sum(axis=2, keepdims=True)
        gold = self._gold
        known = np.flatnonzero(gold >= 0)
        if len(known):  # first the workers' own optimum, then the gold answers moved into it
            post, priors, err = self._em_full(votes, priors, err, known)
            self.loss_history_ = []
            post[known] = np.eye(n_k)[gold[known]]
            priors, err = post.mean(axis=0), _confusion(votes, post, self.smoothing)
        post, priors, err = self._em_full(votes, priors, err, known, clamp=True)
        self.priors_, self.errors_ = priors, err
        self.labels_ = post.argmax(axis=1).astype(np.int64)
        self.acc_ = post[np.arange(n_t), self.labels_]
        self.weights_ = np.einsum("wkk,k->w", err, priors)
        self.posterior_ = sp.csr_array(post)
        self.posterior_rest_ = np.zeros(n_t)

    def _em_full(self, votes: VoteTable, priors: FloatArray, err: FloatArray, known: IntArray,
                 clamp: bool = False) -> tuple[FloatArray, FloatArray, FloatArray]:
        """EM from (priors, confusion matrices) until converged; with ``clamp`` the gold
        tasks' posteriors stay on their gold labels."""
        n_t, n_k, n_v = votes.n_tasks, votes.n_labels, votes.n_votes
        t, w, lab = votes.task, votes.worker, votes.label
        to_task = sp.csr_array((np.ones(n_v), (t, np.arange(n_v))), shape=(n_t, n_v))
        fixed = np.eye(n_k)[self._gold[known]]
        post = np.zeros((n_t, n_k))
        for _ in range(self.n_iter):
            log_lik = to_task @ np.log(err[w, :, lab]) + np.log(np.maximum(priors, EPS))
            top = log_lik.max(axis=1, keepdims=True)
            norm = top[:, 0] + np.log(np.exp(log_lik - top).sum(axis=1))
            post = np.exp(log_lik - norm[:, None])
            if clamp:
                post[known] = fixed
            priors, err = post.mean(axis=0), _confusion(votes, post, self.smoothing)
            if self._converged(float(norm.sum()) / n_v):
                break
        return post, priors, err

    # -- one-coin, sparse -----------------------------------------------------------------

    def _fit_one_coin(self, votes: VoteTable) -> None:
        pair_of_vote, pair_task, pair_label, start = votes.pairs()
        n_t, n_k, n_v, n_p = votes.n_tasks, votes.n_labels, votes.n_votes, len(pair_task)
        counts = np.bincount(pair_of_vote, minlength=n_p).astype(np.float64)
        q = counts / np.add.reduceat(counts, start[:-1])[pair_task]  # majority-vote posterior
        rest = np.zeros(n_t)  # posterior per unit of prior on each unvoted label
        gold_pair = self._gold[pair_task]
        clamp = gold_pair >= 0
        q[clamp] = (pair_label[clamp] == gold_pair[clamp]).astype(np.float64)
        gold_tasks = self._gold >= 0
        priors = np.bincount(pair_label, weights=q, minlength=n_k) / n_t
        skill = _skills(votes, q)
        if self._init is not None:
            given = ~np.isnan(self._init[:, 0, 0])
            diag = np.einsum("wkk,k->w", np.nan_to_num(self._init), priors)
            skill = np.where(given, diag, skill)
        for _ in range(self.n_iter):
            log_right = np.log(np.clip(skill, EPS, 1 - EPS))
            log_wrong = np.log(np.clip(1 - skill, EPS, 1 - EPS) / max(n_k - 1, 1))
            score = np.bincount(pair_of_vote, weights=(log_right - log_wrong)[votes.worker],
                                minlength=n_p) + np.log(np.maximum(priors, EPS))[pair_label]
            rest_prior = 1.0 - np.add.reduceat(priors[pair_label], start[:-1])
            with np.errstate(divide="ignore"):
                log_rest = np.log(np.maximum(rest_prior, 0.0))
            norm = segment_logsumexp(score, start, log_rest)
            q, rest = np.exp(score - norm[pair_task]), np.exp(-norm)
            q[clamp] = (pair_label[clamp] == gold_pair[clamp]).astype(np.float64)
            rest[gold_tasks] = 0.0
            priors = (np.bincount(pair_label, weights=q, minlength=n_k) + priors * (
                rest.sum() - np.bincount(pair_label, weights=rest[pair_task], minlength=n_k))
            ) / n_t
            skill = _skills(votes, q)
            base = np.bincount(votes.task, weights=log_wrong[votes.worker], minlength=n_t)
            if self._converged(float((norm + base).sum()) / n_v):
                break
        self.priors_ = priors
        labels, best, _ = votes.argmax_pairs(q)
        unvoted_gold = gold_tasks & (best < 1.0)
        labels = np.where(unvoted_gold, self._gold, labels)
        best = np.where(unvoted_gold, 1.0, best)
        order = np.lexsort((np.arange(n_k), -priors))  # highest prior first, lowest code on ties
        other = best_unvoted(votes, order)
        other_post = np.where(other >= 0, rest * priors[other], -1.0)
        use_other = other_post > best
        self.labels_ = np.where(use_other, other, labels)
        self.acc_ = np.where(use_other, other_post, best)
        self.weights_ = skill
        self.posterior_ = sp.csr_array((q, pair_label, start), shape=(n_t, n_k))
        self.posterior_rest_ = rest


def _checked_gold(votes: VoteTable, gold: IntArray | None) -> IntArray:
    """The gold codes as an int array of one entry per task (-1 where unknown)."""
    if gold is None:
        return np.full(votes.n_tasks, -1, dtype=np.int64)
    codes = np.asarray(gold, dtype=np.int64)
    if codes.shape != (votes.n_tasks,):
        raise ValueError(f"gold needs one label code per task ({votes.n_tasks}), not "
                         f"shape {codes.shape}")
    if ((codes < -1) | (codes >= votes.n_labels)).any():
        raise ValueError("gold codes must be -1 (unknown) or a label code of the votes")
    return codes


def _checked_confusion(votes: VoteTable, init: FloatArray | None) -> FloatArray | None:
    """Initial confusion matrices (workers, K, K), rows summing to 1, NaN for workers left to
    majority vote."""
    if init is None:
        return None
    k = votes.n_labels
    arr = np.asarray(init, dtype=np.float64)
    if arr.shape != (votes.n_workers, k, k):
        raise ValueError(f"init_confusion needs shape {(votes.n_workers, k, k)}, not {arr.shape}")
    given = np.asarray(~np.isnan(arr).any(axis=(1, 2)), dtype=bool)
    rows = arr[given].sum(axis=2)
    if (arr[given] < 0).any() or not np.allclose(rows, 1.0, atol=1e-6):
        raise ValueError("each given confusion matrix needs rows of non-negative "
                         "probabilities summing to 1")
    return np.where(given[:, None, None], arr, np.nan)


def _confusion(votes: VoteTable, post: FloatArray, smoothing: float) -> FloatArray:
    """M-step: err[w, true k, observed l] = posterior mass of k on w's votes for l, plus
    ``smoothing`` pseudo-votes per cell, normalised (MAP under a symmetric Dirichlet prior)."""
    n_w, n_k = votes.n_workers, votes.n_labels
    cell = (votes.worker[:, None] * n_k + np.arange(n_k)) * n_k + votes.label[:, None]
    err = np.bincount(cell.ravel(), weights=post[votes.task].ravel(), minlength=n_w * n_k * n_k)
    err = np.maximum(err.reshape(n_w, n_k, n_k) + smoothing, EPS)
    return err / err.sum(axis=2, keepdims=True)  # type: ignore[no-any-return]


def _skills(votes: VoteTable, pair_post: FloatArray) -> FloatArray:
    """One-coin M-step: a worker's expected share of votes that hit the true label."""
    pair_of_vote = votes.pairs()[0]
    hits = np.bincount(votes.worker, weights=pair_post[pair_of_vote], minlength=votes.n_workers)
    return hits / np.bincount(votes.worker, minlength=votes.n_workers)


def segment_logsumexp(score: npt.NDArray[Any], start: IntArray, extra: FloatArray) -> FloatArray:
    """Per task, log(sum(exp(score over its pairs)) + exp(extra)); pairs sorted by task."""
    top = np.maximum(np.maximum.reduceat(score, start[:-1]), extra)
    task = np.repeat(np.arange(len(start) - 1), np.diff(start))
    total = np.add.reduceat(np.exp(score - top[task]), start[:-1]) + np.exp(extra - top)
    return top + np.log(total)  # type: ignore[no-any-return]


def best_unvoted(votes: VoteTable, order: IntArray) -> IntArray:
    """Per task, the first label in ``order`` that got no vote there (-1 when all did).

    That label is the smallest rank missing from the task's voted ranks (a vectorised "mex").
    """
    _, pair_task, pair_label, start = votes.pairs()
    rank = np.empty(votes.n_labels, dtype=np.int64)
    rank[order] = np.arange(votes.n_labels)
    r = rank[pair_label]
    sorted_r = r[np.lexsort((r, pair_task))]
    leading = sorted_r == np.arange(len(r)) - start[pair_task]
    mex = np.bincount(pair_task[leading], minlength=votes.n_tasks)
    return np.where(mex < votes.n_labels, order[np.minimum(mex, votes.n_labels - 1)], -1)


def support_of(votes: VoteTable, labels: IntArray, vote_weight: FloatArray) -> FloatArray:
    """Summed vote weight behind each task's chosen label (0 when nobody voted for it)."""
    pair_of_vote, pair_task, pair_label, _ = votes.pairs()
    pair_w = np.bincount(pair_of_vote, weights=vote_weight, minlength=len(pair_task))
    keys = pair_task * votes.n_labels + pair_label
    want = np.arange(votes.n_tasks) * votes.n_labels + labels
    pos = np.minimum(np.searchsorted(keys, want), len(keys) - 1)
    return np.where((keys[pos] == want) & (labels >= 0), pair_w[pos], 0.0)
