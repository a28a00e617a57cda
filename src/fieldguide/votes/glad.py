"""GLAD (Whitehill et al. 2009): worker ability alpha_j and task difficulty 1/beta_i.

A worker answers task i correctly with probability sigmoid(alpha_j * beta_i); a wrong answer
is uniform over the other K - 1 labels (the multi-class form crowd-kit uses). beta_i = exp(b_i)
keeps it positive. EM with a MAP M-step: standard normal priors on alpha_j - 1 and b_i - 1
(crowd-kit's defaults), maximised by L-BFGS on a vectorised gradient. The class prior is uniform
and fixed, so every unvoted label of a task shares one posterior value: the posterior is kept
over the voted (task, label) pairs plus one "rest" value per task, O(votes) memory.
"""

from __future__ import annotations

from typing import Self

import numpy as np
import scipy.sparse as sp
from scipy.optimize import minimize
from scipy.special import expit

from fieldguide.votes.base import Aggregator
from fieldguide.votes.dawid_skene import best_unvoted, segment_logsumexp, support_of
from fieldguide.votes.table import FloatArray, VoteTable


class Glad(Aggregator):
    """GLAD by EM, starting from alpha = 1 and b = 1 (beta = e) as crowd-kit does.

    Results: ``labels_`` the most probable label; ``acc_`` its posterior; ``conf_`` the
    summed ``weights_`` (alpha) of the workers who voted for it; ``validated_`` =
    ``acc_ >= threshold``; ``weights_`` = alpha per worker; ``beta_`` per task (higher =
    easier); ``posterior_`` a CSR (tasks x labels) array over voted labels, each unvoted label
    of task i having posterior ``posterior_rest_[i]``.
    """

    name = "glad"

    def __init__(self, n_iter: int = 100, tol: float = 1e-5, threshold: float = 0.7,
                 m_step_max_iter: int = 25) -> None:
        if n_iter < 1:
            raise ValueError("GLAD needs n_iter >= 1")
        self.n_iter = n_iter
        self.tol = tol
        self.threshold = threshold
        self.m_step_max_iter = m_step_max_iter

    def fit(self, votes: VoteTable) -> Self:
        n_w, n_t, n_k = votes.n_workers, votes.n_tasks, votes.n_labels
        pair_of_vote, pair_task, pair_label, start = votes.pairs()
        with np.errstate(divide="ignore"):  # a task voted on every label has no rest
            log_n_rest = np.log((n_k - np.diff(start)).astype(np.float64))
        log_k1 = np.log(max(n_k - 1, 1))
        x = np.ones(n_w + n_t)  # alpha then b
        self.loss_history_: list[float] = []
        for _ in range(self.n_iter):
            alpha, b = x[:n_w], x[n_w:]
            ab = alpha[votes.worker] * np.exp(b[votes.task])
            # E-step: log-odds of "the true label is the voted one" summed per pair.
            score = np.bincount(pair_of_vote, weights=np.logaddexp(0.0, ab) - np.logaddexp(
                0.0, -ab) + log_k1, minlength=len(pair_task))
            norm = segment_logsumexp(score, start, log_n_rest)
            post, rest = np.exp(score - norm[pair_task]), np.exp(-norm)
            hit = post[pair_of_vote]  # posterior that each vote is right
            res = minimize(_neg_q, x, args=(votes, hit, log_k1), jac=True, method="L-BFGS-B",
                           options={"maxiter": self.m_step_max_iter})
            x = res.x
            loss = -float(res.fun) / votes.n_votes
            if self.loss_history_ and loss - self.loss_history_[-1] < self.tol:
                self.loss_history_.append(loss)
                break
            self.loss_history_.append(loss)
        self.weights_, self.beta_ = x[:n_w], np.exp(x[n_w:])
        labels, best, _ = votes.argmax_pairs(post)
        other = best_unvoted(votes, np.arange(n_k))  # uniform prior: lowest unvoted code
        use_other = (other >= 0) & (rest > best)
        self.labels_ = np.where(use_other, other, labels)
        self.acc_ = np.where(use_other, rest, best)
        self.conf_ = support_of(votes, self.labels_, self.weights_[votes.worker])
        self.validated_ = self.acc_ >= self.threshold
        self.posterior_ = sp.csr_array((post, pair_label, start), shape=(n_t, n_k))
        self.posterior_rest_ = rest
        return self


def _neg_q(x: FloatArray, votes: VoteTable, hit: FloatArray,
           log_k1: float) -> tuple[float, FloatArray]:
    """Minus the expected complete-data log-posterior of (alpha, b), and its gradient."""
    n_w = votes.n_workers
    alpha, b = x[:n_w], x[n_w:]
    beta = np.exp(b[votes.task])
    a = alpha[votes.worker]
    ab = a * beta
    log_right, log_wrong = -np.logaddexp(0.0, -ab), -np.logaddexp(0.0, ab) - log_k1
    q = float(np.sum(hit * log_right + (1 - hit) * log_wrong))
    q -= 0.5 * float(np.sum((x - 1.0) ** 2))  # N(1, 1) priors, constants dropped
    g = hit - expit(ab)  # d q / d(alpha*beta) per vote
    grad = np.concatenate([
        np.bincount(votes.worker, weights=g * beta, minlength=n_w),
        np.bincount(votes.task, weights=g * ab, minlength=votes.n_tasks),
    ]) - (x - 1.0)
    return -q, -grad
