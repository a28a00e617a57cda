"""McNemar and the one-sample t-test against hand values and against SciPy's own tests."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from fieldguide.errors import InputError
from fieldguide.evaluation import mcnemar, one_sample_t


def paired(both: int, a_only: int, b_only: int, neither: int) -> tuple[np.ndarray, np.ndarray]:
    a = np.array([1] * both + [1] * a_only + [0] * b_only + [0] * neither, dtype=bool)
    b = np.array([1] * both + [0] * a_only + [1] * b_only + [0] * neither, dtype=bool)
    return a, b


def test_mcnemar_counts_and_exact_p_by_hand() -> None:
    r = mcnemar(*paired(10, 3, 0, 2))
    assert (r.both, r.a_only, r.b_only, r.neither, r.method) == (10, 3, 0, 2, "exact")
    assert r.p_value == pytest.approx(2 * 0.5**3)  # P[X <= 0] = 1/8, doubled


@pytest.mark.parametrize("b", range(0, 13))
@pytest.mark.parametrize("c", [0, 1, 4, 11])
def test_mcnemar_exact_agrees_with_scipy_binomtest(b: int, c: int) -> None:
    r = mcnemar(*paired(5, b, c, 5))
    expected = 1.0 if b + c == 0 else stats.binomtest(b, b + c, 0.5).pvalue
    assert r.method == "exact"
    assert r.p_value == pytest.approx(expected, rel=1e-12)


def test_mcnemar_chi_square_with_continuity_correction() -> None:
    r = mcnemar(*paired(100, 30, 15, 7))
    assert r.method == "chi2"
    assert r.statistic == pytest.approx(196 / 45)  # (|30 - 15| - 1)^2 / 45
    assert r.p_value == pytest.approx(stats.chi2.sf(196 / 45, df=1))
    assert r.p_value == pytest.approx(0.0369, abs=1e-4)


def test_mcnemar_refuses_unpaired_arrays() -> None:
    with pytest.raises(InputError) as err:
        mcnemar(np.ones(3, dtype=bool), np.ones(4, dtype=bool))
    assert err.value.field == "correct_b"


def test_one_sample_t_by_hand_and_against_scipy() -> None:
    r = one_sample_t(np.array([1.0, 2.0, 3.0]), 1.0)
    assert (r.mean, r.sd, r.df) == (2.0, 1.0, 2)
    assert r.t == pytest.approx(np.sqrt(3))  # (2 - 1) / (1 / sqrt 3)
    ref = stats.ttest_1samp([1.0, 2.0, 3.0], 1.0)
    assert r.p_value == pytest.approx(ref.pvalue)

    humans = np.array([0.80, 0.85, 0.90, 0.75, 0.88, 0.82, 0.79])
    r = one_sample_t(humans, 0.864)
    ref = stats.ttest_1samp(humans, 0.864)
    assert r.t == pytest.approx(ref.statistic) and r.p_value == pytest.approx(ref.pvalue)


def test_one_sample_t_undefined_cases() -> None:
    assert one_sample_t(np.array([0.8]), 0.5).p_value is None
    assert one_sample_t(np.array([0.8, 0.8]), 0.5).t is None
    assert one_sample_t(np.array([]), 0.5).mean is None
