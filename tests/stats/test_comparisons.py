"""The group tests against independent calculations (hand-worked or a second scipy route)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as scipy_stats

from trdpath.stats.comparisons import (
    FISHER_EXACT, PEARSON_CHI2, chi_squared, one_way_anova, per_level_chi_squared, t_tests,
)


def test_chi_squared_by_hand():
    # [[10, 20], [30, 40]]: expected [[12, 18], [28, 42]];
    # chi2 = 4/12 + 4/18 + 4/28 + 4/42 = 0.3333 + 0.2222 + 0.1429 + 0.0952 = 0.7937 (no continuity correction).
    result = chi_squared(np.array([[10, 20], [30, 40]]))
    assert result.test == PEARSON_CHI2 and result.df == 1
    assert result.statistic == pytest.approx(0.79365, abs=1e-5)
    assert result.warning == ""


def test_fisher_exact_when_an_expected_count_is_below_five():
    # [[1, 9], [8, 2]]: expected 4.5 in every cell, so Fisher's exact test is used and says so.
    result = chi_squared(np.array([[1, 9], [8, 2]]))
    assert result.test == FISHER_EXACT
    # Two-sided P by hand from the hypergeometric distribution (rows 10/10, column 9 of 20):
    # tables as extreme as a = 1: a in {0, 1, 8, 9}; P = 2 * (C(10,0)C(10,9) + C(10,1)C(10,8)) / C(20,9).
    from math import comb
    expected = 2 * (comb(10, 0) * comb(10, 9) + comb(10, 1) * comb(10, 8)) / comb(20, 9)
    assert result.p_value == pytest.approx(expected, rel=1e-9)
    assert "Fisher" in result.warning


def test_small_expected_counts_in_a_larger_table_are_flagged():
    result = chi_squared(np.array([[1, 2], [30, 60], [40, 45]]))  # first row: expected 1.3 and 1.7
    assert result.test == PEARSON_CHI2 and result.df == 2
    assert "expected count below 5" in result.warning


def test_empty_levels_are_dropped_as_in_spss():
    with_empty = chi_squared(np.array([[10, 20], [0, 0], [30, 40]]))
    assert with_empty.df == 1
    assert with_empty.statistic == pytest.approx(0.79365, abs=1e-5)


def test_per_level_bonferroni():
    table = np.array([[335, 322], [234, 233], [872, 1015], [1234, 891]])  # paper's employment rows
    results = per_level_chi_squared(table)
    raw = chi_squared(np.array([[872, 1015], [2675 - 872, 2461 - 1015]])).p_value
    assert results[2].p_value == pytest.approx(min(1.0, 4 * raw))
    assert results[0].p_value == 1.0  # 4 x 0.548 capped at 1


def test_t_tests_match_scipy_from_summary_statistics():
    rng = np.random.default_rng(3)
    first, second = rng.normal(50, 10, 40), rng.normal(45, 20, 30)
    student, welch = t_tests(first, second)
    by_stats = scipy_stats.ttest_ind_from_stats(first.mean(), first.std(ddof=1), 40,
                                               second.mean(), second.std(ddof=1), 30, equal_var=True)
    assert student.statistic == pytest.approx(by_stats.statistic) and student.df == 68
    # Welch-Satterthwaite df by hand.
    v1, v2 = first.var(ddof=1) / 40, second.var(ddof=1) / 30
    assert welch.df == pytest.approx((v1 + v2) ** 2 / (v1 ** 2 / 39 + v2 ** 2 / 29))


def test_anova_equals_scipy_and_bonferroni_uses_the_pooled_mean_square():
    rng = np.random.default_rng(4)
    levels = ("MDD", "2", "3", "4+")
    samples = [rng.normal(mu, 5, n) for mu, n in zip((40, 41, 43, 45), (60, 30, 25, 20))]
    values = np.concatenate(samples)
    groups = np.repeat(levels, [len(s) for s in samples])
    result, post_hoc = one_way_anova(values, groups, levels)
    reference = scipy_stats.f_oneway(*samples)
    assert result.statistic == pytest.approx(reference.statistic)
    assert result.p_value == pytest.approx(reference.pvalue)
    assert (result.df, result.df2) == (3, 131)
    # SPSS's Bonferroni: t = diff / sqrt(MSE (1/n_i + 1/n_j)) on N - k df, P x 6 pairs.
    mse = sum(((s - s.mean()) ** 2).sum() for s in samples) / (len(values) - 4)
    a, b = samples[0], samples[3]
    t = (a.mean() - b.mean()) / np.sqrt(mse * (1 / len(a) + 1 / len(b)))
    p = min(1.0, 6 * 2 * scipy_stats.t.sf(abs(t), len(values) - 4))
    pair = next(item for item in post_hoc if item[:2] == ("MDD", "4+"))
    assert pair[2] == pytest.approx(a.mean() - b.mean())
    assert pair[3] == pytest.approx(p)
