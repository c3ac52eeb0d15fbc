"""The release policy (issue 14): every published figure rounded as printed, or computed from published ones.

Expected values are worked out by hand (arithmetic in the comments) or by a second implementation
(statsmodels for the ANOVA and the null log-likelihood, the 2x2 chi-squared formula).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from trdpath.config import DisclosureSection, StudyConfig
from trdpath.stats import analyse
from trdpath.stats.comparisons import one_way_anova
from trdpath.stats.disclosure import (
    P_BELOW, RELEASE_POLICY, SUPPRESSED, WITHHELD, anova_from_summaries, protect, release_number, release_p,
    suppression_pattern,
)
from support.synthetic import cohort_with_counts, synthetic_patients

DEFAULT = DisclosureSection()


def test_p_values_and_statistics_are_rounded_as_journals_print_them():
    assert release_p(0.0004) == P_BELOW == "<0.001"
    assert release_p(0.04449) == 0.044 and release_p(0.5) == 0.5 and release_p(1.0) == 1.0
    assert release_p(SUPPRESSED) == SUPPRESSED
    assert release_number(2.3456, 2) == 2.35 and release_number(47.125, 1) == 47.1
    assert str(release_number(-0.0001, 2)) == "0.0"  # never "-0.0"
    assert math.isnan(release_number(float("nan"), 2))


def test_the_policy_names_every_kind_of_published_figure():
    figures = " ".join(figure for figure, _, _ in RELEASE_POLICY).lower()
    for kind in ("count", "percentage", "chi-squared", "mean", "t statistic", "anova", "post hoc", "p value",
                 "odds ratio", "-2 log likelihood", "r2", "block", "degrees of freedom", "warnings"):
        assert kind in figures, kind
    assert all(rule and why for _, rule, why in RELEASE_POLICY)


def test_a_hidden_cell_pinned_by_the_bounds_forces_another():
    """Black 1 (<8), South Asian 8, White 18 in a group of 27: hiding Black and South Asian (9 >= 8) is not enough.

    A reader knows South Asian >= 8 (a secondary cell is a visible count), Black >= 1, White >= 18 (shown 20),
    and the group <= 27 (shown 25): 1 + 8 + 18 = 27 pins all three. Unrounded it is as bad: 27 - 18 = 9 = 1 + 8.
    """
    cells = {"Black": 1, "South Asian": 8, "White": 18}
    for rounding in (5, 1):
        pattern = suppression_pattern(cells, [list(cells)], 8, rounding)
        assert set(pattern) == set(cells), rounding
    # With room to spare the old rule stands: Black 1, South Asian 20, White 30 (group 51, shown 50 = 48..52):
    # hidden 1 + 20 = 21 can be 1 + 20 or 2 + 19 ..., so White stays visible.
    assert set(suppression_pattern({"Black": 1, "South Asian": 20, "White": 30}, [["Black", "South Asian", "White"]],
                                   8, 5)) == {"Black", "South Asian"}


def test_rounding_alone_can_pin_counts_and_then_a_cell_is_hidden():
    """Four cells of 12 (each shown 10 = 8..12) in a group of 48 (shown 50 = 48..52): 48 = 12 + 12 + 12 + 12."""
    cells = {k: 12 for k in "abcd"}
    pattern = suppression_pattern(cells, [list(cells)], 8, 5)
    assert len(pattern) >= 2
    # 13, 12, 12, 12 = 49 (shown 50, 48..52; 13 shown 15 = 13..17): no cell is pinned, nothing hidden.
    assert suppression_pattern({"a": 13, "b": 12, "c": 12, "d": 12}, [list("abcd")], 8, 5) == {}


def test_chi_squared_is_that_of_the_published_counts():
    """MDD 203, TRD 148; anxiety 52 and 61: published 205, 150, 50 and 60.

    chi2 = N (ad - bc)^2 / (r1 r2 c1 c2) with a, b, c, d = 50, 60, 155, 90 and N = 355:
    (50*90 - 60*155)^2 = (4500 - 9300)^2 = 23,040,000; r1 r2 c1 c2 = 110 * 245 * 205 * 150 = 828,712,500;
    355 * 23,040,000 / 828,712,500 = 9.8696 -> 9.87; P = erfc(sqrt(9.8696 / 2)) = 0.00168 -> 0.002.
    """
    protected = protect(analyse(cohort_with_counts(203, 148, {"anxiety": (52, 61)}), StudyConfig()), DEFAULT)
    row = protected.table2.set_index("variable").loc["anxiety"]
    assert (row["mdd_n"], row["trd_n"]) == (50, 60)
    assert row["statistic"] == 9.87
    assert row["p_value"] == round(math.erfc(math.sqrt(9.8696 / 2)), 3) == 0.002
    assert row["df"] == 1


def test_t_tests_come_from_the_published_summaries():
    """Student's t from the printed n, mean and s.d.: t = (m1 - m2) / (sp sqrt(1/n1 + 1/n2)), df n1 + n2 - 2."""
    protected = protect(analyse(synthetic_patients(300, seed=3), StudyConfig()), DEFAULT)
    table1 = protected.table1
    row = table1[(table1["variable"] == "age") & (table1["test"] == "student_t")].iloc[0]
    n1, n2 = row["mdd_n"], row["trd_n"]
    assert n1 % 5 == 0 and n2 % 5 == 0
    assert row["mdd_mean"] == round(row["mdd_mean"], 1) and row["trd_sd"] == round(row["trd_sd"], 1)
    pooled = math.sqrt(((n1 - 1) * row["mdd_sd"] ** 2 + (n2 - 1) * row["trd_sd"] ** 2) / (n1 + n2 - 2))
    t = (row["mdd_mean"] - row["trd_mean"]) / (pooled * math.sqrt(1 / n1 + 1 / n2))
    assert row["statistic"] == round(t, 2)
    assert row["df"] == n1 + n2 - 2
    welch = table1[(table1["variable"] == "age") & (table1["test"] == "welch_t")].iloc[0]
    a, b = row["mdd_sd"] ** 2 / n1, row["trd_sd"] ** 2 / n2
    assert welch["statistic"] == round((row["mdd_mean"] - row["trd_mean"]) / math.sqrt(a + b), 2)
    assert welch["df"] == round((a + b) ** 2 / (a ** 2 / (n1 - 1) + b ** 2 / (n2 - 1)), 2)


def test_anova_from_summaries_equals_the_anova_of_the_data():
    """The summary formula against statsmodels' cell-means OLS (trdpath.stats.comparisons.one_way_anova)."""
    rng = np.random.default_rng(4)
    levels = ("MDD", "2", "3", "4+")
    groups = np.repeat(levels, [40, 15, 22, 30])
    values = np.round(rng.normal(50, 15, len(groups)))
    summary = [(int((groups == lvl).sum()), values[groups == lvl].mean(), values[groups == lvl].std(ddof=1))
               for lvl in levels]
    expected, expected_pairs = one_way_anova(values, groups, levels)
    result, pairs = anova_from_summaries(summary, levels)
    assert result.statistic == pytest.approx(expected.statistic, rel=1e-9)
    assert (result.df, result.df2) == (3.0, 103.0)
    assert result.p_value == pytest.approx(expected.p_value, rel=1e-9)
    for (a, b, d, p), (ea, eb, ed, ep) in zip(pairs, expected_pairs):
        assert (a, b) == (ea, eb) and d == pytest.approx(ed) and p == pytest.approx(ep, rel=1e-9, abs=1e-15)


def test_model_fit_minus2ll_and_r2_come_from_rounded_group_sizes():
    """-2LL = -2 LL0 - chi2 with LL0 the intercept-only log-likelihood of the rounded MDD/TRD counts
    (statsmodels Logit on n1 ones and n0 zeros), Cox & Snell = 1 - exp(-chi2/n)."""
    analysis = analyse(synthetic_patients(300, seed=3), StudyConfig())
    protected = protect(analysis, DEFAULT)
    cells = analysis.term_cells.iloc[0]
    n0 = 5 * math.floor((cells["mdd_yes"] + cells["mdd_no"]) / 5 + 0.5)
    n1 = 5 * math.floor((cells["trd_yes"] + cells["trd_no"]) / 5 + 0.5)
    y = np.r_[np.zeros(n0), np.ones(n1)]
    ll0 = sm.Logit(y, np.ones((len(y), 1))).fit(disp=0).llf
    row = protected.model_fit.iloc[0]
    assert row["chi2"] == round(analysis.model_fit.iloc[0]["chi2"], 2)
    assert row["minus2ll"] == round(-2 * ll0 - row["chi2"], 2)
    assert row["cox_snell_r2"] == round(1 - math.exp(-row["chi2"] / (n0 + n1)), 2)
    cox_snell = 1 - math.exp(-row["chi2"] / (n0 + n1))
    assert row["nagelkerke_r2"] == round(cox_snell / (1 - math.exp(2 * ll0 / (n0 + n1))), 2)
    coefficients = protected.table3
    estimable = coefficients[coefficients["odds_ratio"] != SUPPRESSED]
    assert set(estimable["coef"]) == {WITHHELD} and set(estimable["std_err"]) == {WITHHELD}
    for column in ("odds_ratio", "ci_lower", "ci_upper"):
        assert all(v == round(v, 2) for v in estimable[column] if np.isfinite(v))


def test_posthoc_of_a_suppressed_anova_is_suppressed():
    """Economic inactivity by level 30, 5, 10, 20 (of 120, 30, 40, 60): level 2 is <8, so its ANOVA and all six
    post hoc comparisons are hidden; the ages' ANOVA (all levels >= 8) keeps its comparisons, to 3 decimals."""
    levels = ("MDD", "2", "3", "4+")
    sizes, inactive = (120, 30, 40, 60), (30, 5, 10, 20)
    patients = cohort_with_counts(120, 130, {})
    level = np.concatenate([[lvl] * n for lvl, n in zip(levels, sizes)])
    patients["resistance_level"] = level
    patients["employment_group"] = np.concatenate(
        [["Economically inactive"] * k + ["Employed"] * (n - k) for k, n in zip(inactive, sizes)])
    patients["age"] = np.arange(len(patients)) % 50 + 20  # varies within every level
    protected = protect(analyse(patients, StudyConfig()), DEFAULT)
    resistance = protected.resistance_levels
    anova = resistance[(resistance["level"] == "Economically inactive")].iloc[0]
    assert anova["level2_n"] == "<8" and anova["statistic"] == SUPPRESSED
    posthoc = protected.resistance_posthoc
    hidden = posthoc[posthoc["level"] == "Economically inactive"]
    assert len(hidden) == 6 and set(hidden["p_value"]) == {SUPPRESSED}
    ages = posthoc[posthoc["variable"] == "age"]
    assert len(ages) == 6 and all(p == P_BELOW or (isinstance(p, float) and p == round(p, 3)) for p in ages["p_value"])


def test_warnings_quote_no_exact_count():
    """13 patients with a missing predictor are published as 15; expected-count warnings come from published counts."""
    patients = synthetic_patients(300, seed=3)
    in_cohort = patients.index[patients["in_cohort"]]
    patients["psychotic_symptoms"] = patients["psychotic_symptoms"].astype("boolean")
    patients.loc[in_cohort[:13], "psychotic_symptoms"] = pd.NA
    analysis = analyse(patients, StudyConfig())
    assert any("13 patients with a missing predictor" in w for w in analysis.warnings)
    published = protect(analysis, DEFAULT).warnings
    assert any("15 patients with a missing predictor" in w for w in published)
    assert not any("13 patients" in w for w in published)


def test_docs_print_every_rule_of_the_policy():
    """docs/report.md carries RELEASE_POLICY as its table (figure | rule | why), so the docs stay true."""
    from pathlib import Path

    text = (Path(__file__).parents[2] / "docs" / "report.md").read_text(encoding="utf-8")
    for figure, rule, why in RELEASE_POLICY:
        assert f"| {figure} | {rule} | {why} |" in text, figure
