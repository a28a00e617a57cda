"""Significance tests: McNemar's test for two models on the same test images, and the
one-sample Student's t-test used to set a model against several human annotators."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy import stats

from fieldguide.errors import InputError

#: Below this many discordant pairs McNemar uses the exact binomial test; the chi-square
#: approximation is poor for small counts (the usual rule of thumb is b + c < 25).
EXACT_BELOW = 25


@dataclass
class McNemarResult:
    """Paired correctness of models A and B: ``a_only`` images only A gets right, ``b_only``
    only B, plus the concordant counts; ``method`` is "exact" or "chi2"."""

    both: int
    a_only: int
    b_only: int
    neither: int
    statistic: float
    p_value: float
    method: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def mcnemar(correct_a: np.ndarray, correct_b: np.ndarray) -> McNemarResult:
    """McNemar's test of equal error rates for two classifiers on the same images.

    Only discordant images carry information: b = A right/B wrong, c = A wrong/B right.
    Under H0 each discordant image is a fair coin, so when b + c < :data:`EXACT_BELOW` the
    two-sided exact p is min(1, 2 * P[Binomial(b + c, 1/2) <= min(b, c)]) (statistic: min(b, c));
    otherwise the continuity-corrected statistic (|b - c| - 1)^2 / (b + c) is referred to
    chi-square with 1 degree of freedom. With no discordant image p = 1."""
    a = np.asarray(correct_a, dtype=bool)
    b_arr = np.asarray(correct_b, dtype=bool)
    if a.shape != b_arr.shape or a.ndim != 1:
        raise InputError(f"paired correctness must be two 1-d arrays of one length, got "
                         f"{a.shape} and {b_arr.shape}", field="correct_b")
    b = int(np.sum(a & ~b_arr))
    c = int(np.sum(~a & b_arr))
    both, neither = int(np.sum(a & b_arr)), int(np.sum(~a & ~b_arr))
    n = b + c
    if n == 0:
        return McNemarResult(both, b, c, neither, 0.0, 1.0, "exact")
    if n < EXACT_BELOW:
        p = min(1.0, 2.0 * float(stats.binom.cdf(min(b, c), n, 0.5)))
        return McNemarResult(both, b, c, neither, float(min(b, c)), p, "exact")
    stat = (abs(b - c) - 1.0) ** 2 / n
    return McNemarResult(both, b, c, neither, stat, float(stats.chi2.sf(stat, 1)), "chi2")


@dataclass
class TTestResult:
    """One-sample t-test of ``values`` (e.g. human accuracies) against ``reference`` (the
    model's accuracy). ``t`` and ``p_value`` are ``None`` when undefined (fewer than two
    values, or all values equal)."""

    n: int
    mean: float | None
    sd: float | None
    reference: float
    t: float | None
    df: int
    p_value: float | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def one_sample_t(values: np.ndarray, reference: float) -> TTestResult:
    """Student's one-sample t-test, two-sided: t = (mean - reference) / (s / sqrt(n)) with
    s the sample standard deviation (n - 1 denominator), p from t with n - 1 degrees of
    freedom. Seed 000 (Reeb et al. 2022) compares seven human accuracies with the single
    accuracy of the CNN this way (p = 0.383 overall)."""
    x = np.asarray(values, dtype=np.float64)
    x = x[np.isfinite(x)]
    n = int(x.size)
    mean = float(x.mean()) if n else None
    sd = float(x.std(ddof=1)) if n > 1 else None
    if mean is None or sd is None or sd == 0.0:
        return TTestResult(n, mean, sd, float(reference), None, max(n - 1, 0), None)
    t = (mean - reference) / (sd / math.sqrt(n))
    p = 2.0 * float(stats.t.sf(abs(t), n - 1))
    return TTestResult(n, mean, sd, float(reference), float(t), n - 1, min(p, 1.0))
