"""The group comparisons of the paper's Statistical analysis section, each recording its test and warnings.

Every function takes counts or values already aggregated by pandas and hands the arithmetic to scipy or
statsmodels; nothing here is a hand-written distribution. A result always names the test that produced it
(the style guide's lesson from tableone) so a reader can judge it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats as scipy_stats

# Test names as they appear in the `test` column of every CSV (stable, machine-readable).
PEARSON_CHI2 = "pearson_chi2"
PEARSON_CHI2_BONFERRONI = "pearson_chi2_bonferroni"
FISHER_EXACT = "fisher_exact"
STUDENT_T = "student_t"
WELCH_T = "welch_t"
ANOVA_F = "anova_f"

# Cochran's rule, the threshold SPSS reports: a 2x2 table with an expected count below 5 gets Fisher's test.
MIN_EXPECTED = 5.0


@dataclass(frozen=True)
class TestResult:
    """One test: its name, statistic (chi-squared, t or F), degrees of freedom, P and any warning."""

    test: str
    statistic: float = math.nan
    df: float = math.nan
    p_value: float = math.nan
    df2: float = math.nan  # residual degrees of freedom of an F test
    warning: str = ""


def _drop_empty(table: np.ndarray) -> np.ndarray:
    """Drop all-zero rows and columns, as SPSS does: an empty category carries no information."""
    table = table[table.sum(axis=1) > 0]
    return table[:, table.sum(axis=0) > 0]


def chi_squared(table: np.ndarray) -> TestResult:
    """Pearson chi-squared without continuity correction (the paper's test, SPSS's first line).

    A 2x2 table with an expected count below 5 falls back to Fisher's exact test (two-sided) and says so.
    """
    observed = _drop_empty(np.asarray(table, dtype=float))
    if observed.shape[0] < 2 or observed.shape[1] < 2:
        return TestResult(PEARSON_CHI2, warning="no test: a variable takes a single value in these groups")
    statistic, p_value, dof, expected = scipy_stats.chi2_contingency(observed, correction=False)
    small = int((expected < MIN_EXPECTED).sum())
    if observed.shape == (2, 2) and small:
        fisher = scipy_stats.fisher_exact(observed.astype(np.int64), alternative="two-sided")
        return TestResult(
            FISHER_EXACT, p_value=float(fisher.pvalue),
            warning=f"Fisher's exact test: a 2x2 table with an expected count below {MIN_EXPECTED:g}",
        )
    warning = ""
    if small:
        share = small / expected.size
        warning = f"{small} of {expected.size} cells ({share:.0%}) have an expected count below {MIN_EXPECTED:g}"
    return TestResult(PEARSON_CHI2, float(statistic), float(dof), float(p_value), warning=warning)


def per_level_chi_squared(table: np.ndarray) -> list[TestResult]:
    """Each level of a multi-level variable against all other levels (2x2), Bonferroni-adjusted.

    ``table`` has one row per level and one column per group; the adjustment multiplies P by the number of
    levels compared (the non-empty ones), capped at 1, as SPSS's Bonferroni column comparisons do.
    """
    table = np.asarray(table, dtype=float)
    totals = table.sum(axis=0)
    n_compared = int((table.sum(axis=1) > 0).sum())
    results = []
    for row in table:
        if row.sum() == 0:
            results.append(TestResult(PEARSON_CHI2_BONFERRONI, warning="level absent from both groups"))
            continue
        single = chi_squared(np.vstack([row, totals - row]))
        adjusted = min(1.0, single.p_value * n_compared) if not math.isnan(single.p_value) else math.nan
        name = PEARSON_CHI2_BONFERRONI if single.test == PEARSON_CHI2 else f"{single.test}_bonferroni"
        # The test name says Bonferroni; the warning carries only real problems (small expected counts).
        results.append(TestResult(name, single.statistic, single.df, adjusted, warning=single.warning))
    return results


def t_tests(first: np.ndarray, second: np.ndarray) -> tuple[TestResult, TestResult]:
    """Independent-samples t-tests: Student (equal variances, SPSS's first line) and Welch."""
    first = np.asarray(first, dtype=float)
    second = np.asarray(second, dtype=float)
    first = first[~np.isnan(first)]
    second = second[~np.isnan(second)]
    if len(first) < 2 or len(second) < 2:
        warning = "no test: fewer than two values in a group"
        return TestResult(STUDENT_T, warning=warning), TestResult(WELCH_T, warning=warning)
    if np.ptp(first) == 0 and np.ptp(second) == 0:
        warning = "no test: the values do not vary within either group"
        return TestResult(STUDENT_T, warning=warning), TestResult(WELCH_T, warning=warning)
    student = scipy_stats.ttest_ind(first, second, equal_var=True)
    welch = scipy_stats.ttest_ind(first, second, equal_var=False)
    return (
        TestResult(STUDENT_T, float(student.statistic), float(student.df), float(student.pvalue)),
        TestResult(WELCH_T, float(welch.statistic), float(welch.df), float(welch.pvalue)),
    )


def one_way_anova(values: np.ndarray, groups: np.ndarray, levels: tuple[str, ...]):
    """One-way ANOVA of ``values`` across ``levels`` with Bonferroni post hoc comparisons (as in SPSS).

    Fitted as an ordinary least-squares cell-means model in statsmodels: the F test of equal means is the
    ANOVA F, and each pairwise contrast uses the pooled residual mean square with N - k degrees of freedom,
    which is what SPSS's Bonferroni post hoc test does before multiplying P by the number of pairs.
    Returns the TestResult and a list of (level_a, level_b, mean_difference, p_bonferroni) tuples.
    """
    import statsmodels.api as sm
    from statsmodels.stats.multitest import multipletests

    values = np.asarray(values, dtype=float)
    groups = np.asarray(groups, dtype=object)
    keep = ~np.isnan(values)
    values, groups = values[keep], groups[keep]
    present = [level for level in levels if (groups == level).sum() >= 1]
    if len(present) < 2 or len(values) - len(present) < 1:
        return TestResult(ANOVA_F, warning="no test: fewer than two groups with values"), []
    design = np.column_stack([(groups == level).astype(float) for level in present])
    fit = sm.OLS(values, design).fit()
    if fit.ssr <= 1e-12 * max(1.0, float(np.dot(values, values))):  # no within-group variation (up to rounding)
        return TestResult(ANOVA_F, warning="no test: the values do not vary within the groups"), []
    k = len(present)
    contrasts = np.zeros((k - 1, k))
    contrasts[:, 0] = -1.0
    contrasts[np.arange(k - 1), np.arange(1, k)] = 1.0
    f_test = fit.f_test(contrasts)
    result = TestResult(
        ANOVA_F, float(np.squeeze(f_test.fvalue)), float(f_test.df_num), float(f_test.pvalue),
        df2=float(f_test.df_denom),
    )
    pairs, raw_p, differences = [], [], []
    for i in range(k):
        for j in range(i + 1, k):
            contrast = np.zeros(k)
            contrast[i], contrast[j] = 1.0, -1.0
            t_test = fit.t_test(contrast)
            pairs.append((present[i], present[j]))
            differences.append(float(np.squeeze(t_test.effect)))
            raw_p.append(float(np.squeeze(t_test.pvalue)))
    adjusted = multipletests(raw_p, method="bonferroni")[1]
    post_hoc = [(a, b, d, float(p)) for (a, b), d, p in zip(pairs, differences, adjusted)]
    return result, post_hoc
