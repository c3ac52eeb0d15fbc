"""Self-harm from codes alone v. codes + notes (issue 6, item 3), checked against independent computations.

* A hand-made cohort (MDD 100, TRD 80) whose overlaps of coded and note-found self-harm are set patient by
  patient, so every count, percentage and chi-squared is worked out by hand (the chi-squared of a 2x2 table
  from N (ad - bc)^2 / (r1 r2 c1 c2), its P as erfc(sqrt(x / 2)); Fisher's P from
  scipy.stats.fisher_exact on the table written out by hand).
* Models 3 and 4 refitted with self_harm_any equal statsmodels' formula interface (patsy's own dummies).
* An extract without notes: nothing computed, nothing fails.
* Disclosure control on the new tables.
"""

from __future__ import annotations

import math

import pandas as pd
import pytest
import statsmodels.formula.api as smf
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats as scipy_stats

from trdpath.config import StudyConfig
from trdpath.stats import analyse
from trdpath.stats.disclosure import SUPPRESSED, protect
from support.synthetic import self_harm_sources_cohort as hand_made_cohort, synthetic_patients

SMALL = "<8"


def chi_squared_by_hand(a: int, b: int, c: int, d: int) -> tuple[float, float]:
    """Pearson chi-squared (no continuity correction) of [[a, b], [c, d]] and its P on 1 df.

    On 1 df, chi-squared is a squared standard normal, so P = erfc(sqrt(x / 2)): no chi-squared routine needed.
    """
    n = a + b + c + d
    statistic = n * (a * d - b * c) ** 2 / ((a + b) * (c + d) * (a + c) * (b + d))
    return statistic, math.erfc(math.sqrt(statistic / 2))


@pytest.fixture(scope="module")
def hand_analysis():
    return analyse(hand_made_cohort(), StudyConfig())


def test_counts_and_percentages_by_source(hand_analysis):
    table = hand_analysis.sensitivity.self_harm.set_index("variable")
    expected = {  # variable: (MDD yes, TRD yes)
        "self_harm": (5, 10), "self_harm_any": (15, 35),
        "suicidal_ideation_nlp": (8, 20), "suicide_attempt_nlp": (1, 6),
        "codes_only": (3, 5), "notes_only": (10, 25), "both": (2, 5), "either": (15, 35),
    }
    for variable, (mdd, trd) in expected.items():
        row = table.loc[variable]
        assert (row["mdd_n"], row["trd_n"], row["all_n"]) == (mdd, trd, mdd + trd), variable
        assert row["mdd_pct"] == pytest.approx(mdd), variable  # MDD has 100 patients
        assert row["trd_pct"] == pytest.approx(100 * trd / 80), variable
        assert row["all_pct"] == pytest.approx(100 * (mdd + trd) / 180), variable
    assert table.loc["self_harm_any", "trd_pct"] == pytest.approx(43.75)


def test_tests_match_hand_computation(hand_analysis):
    table = hand_analysis.sensitivity.self_harm.set_index("variable")
    # Codes + notes: [[15, 35], [85, 45]]: 180 * (15*45 - 35*85)^2 / (50 * 130 * 100 * 80) = 18.3115...
    statistic, p = chi_squared_by_hand(15, 35, 85, 45)
    assert statistic == pytest.approx(180 * 2300 ** 2 / 52_000_000)
    row = table.loc["self_harm_any"]
    assert row["test"] == "pearson_chi2" and row["df"] == 1
    assert row["statistic"] == pytest.approx(statistic, rel=1e-12)
    assert row["p_value"] == pytest.approx(p, rel=1e-9)
    # Suicidal ideation: [[8, 20], [92, 60]].
    for variable, cells in (("suicidal_ideation_nlp", (8, 20, 92, 60)),):
        statistic, p = chi_squared_by_hand(*cells)
        assert table.loc[variable, "statistic"] == pytest.approx(statistic, rel=1e-12)
        assert table.loc[variable, "p_value"] == pytest.approx(p, rel=1e-9)
    # Codes alone: [[5, 10], [95, 70]] has expected 15 * 100 / 180 = 8.3 and 6.7: chi-squared still.
    statistic, _ = chi_squared_by_hand(5, 10, 95, 70)
    assert table.loc["self_harm", "statistic"] == pytest.approx(statistic, rel=1e-12)
    # Suicide attempt: [[1, 6], [99, 74]] has expected 7 * 100 / 180 = 3.9 < 5: Fisher's exact test.
    row = table.loc["suicide_attempt_nlp"]
    assert row["test"] == "fisher_exact"
    assert row["p_value"] == pytest.approx(scipy_stats.fisher_exact([[1, 6], [99, 74]]).pvalue, rel=1e-12)
    assert pd.isna(table.loc["notes_only", "test"])  # the overlap rows carry no test


def test_codes_row_is_table2_self_harm_row(hand_analysis):
    codes = hand_analysis.sensitivity.self_harm.set_index("variable").loc["self_harm"]
    table2 = hand_analysis.table2.set_index("variable").loc["self_harm"]
    for column in ("mdd_n", "trd_n", "statistic", "p_value"):
        assert codes[column] == table2[column]


@pytest.fixture(scope="module")
def synthetic_cohort():
    patients = synthetic_patients(4000, seed=11)
    return patients[patients["in_cohort"]].reset_index(drop=True)


FLAGS = ("psychotic_symptoms", "substance_misuse", "anxiety", "personality_disorder", "self_harm_any",
         "cardiovascular", "respiratory", "gastrointestinal")
MODEL_3 = ("trd ~ C(depression_code, Treatment('F32')) + psychotic_symptoms"
           " + C(employment_group, Treatment('Employed')) + substance_misuse + anxiety + personality_disorder"
           " + self_harm_any")
MODEL_4 = MODEL_3 + " + cardiovascular + respiratory + gastrointestinal"


def _patsy_name(term: str) -> str:
    if term == "const":
        return "Intercept"
    if term.startswith("depression_code["):
        return f"C(depression_code, Treatment('F32'))[T.{term[16:-1]}]"
    if term.startswith("employment_group["):
        return f"C(employment_group, Treatment('Employed'))[T.{term[17:-1]}]"
    return "self_harm_any" if term == "self_harm" else term


def test_refitted_models_equal_statsmodels_formula_fit(synthetic_cohort):
    analysis = analyse(synthetic_cohort, StudyConfig())
    regression = analysis.sensitivity.regression
    assert sorted(set(regression["model"])) == ["Model 3", "Model 4"]
    data = synthetic_cohort.assign(trd=synthetic_cohort["trd"].astype(int),
                                   **{c: synthetic_cohort[c].astype(int) for c in FLAGS})
    # self_harm_any is codes OR notes in the synthetic data, and so it must be in the model.
    assert (data["self_harm_any"] == (synthetic_cohort["self_harm"]
                                      | synthetic_cohort["self_harm_nlp"]).astype(int)).all()
    for model, formula in (("Model 3", MODEL_3), ("Model 4", MODEL_4)):
        reference = smf.logit(formula, data).fit(disp=0)
        ours = regression[regression["model"] == model].set_index("term")
        assert len(ours) == len(reference.params)
        confidence = reference.conf_int()
        for term, row in ours.iterrows():
            name = _patsy_name(term)
            assert row["codes_notes_odds_ratio"] == pytest.approx(math.exp(reference.params[name]), rel=1e-6)
            assert row["codes_notes_ci_lower"] == pytest.approx(math.exp(confidence.loc[name, 0]), rel=1e-6)
            assert row["codes_notes_ci_upper"] == pytest.approx(math.exp(confidence.loc[name, 1]), rel=1e-6)
            assert row["codes_notes_p_value"] == pytest.approx(reference.pvalues[name], rel=1e-5, abs=1e-300)
        fit = analysis.sensitivity.model_fit.set_index("model")
        assert fit.at[model, "minus2ll"] == pytest.approx(-2 * reference.llf, rel=1e-9)
    # The codes-only columns are Table 3's own estimates, side by side.
    table3 = analysis.table3[analysis.table3["model"] == "Model 4"].set_index("term")
    ours = regression[regression["model"] == "Model 4"].set_index("term")
    for term in table3.index:
        assert ours.at[term, "codes_odds_ratio"] == table3.at[term, "odds_ratio"]
        assert ours.at[term, "codes_p_value"] == table3.at[term, "p_value"]


def test_without_notes_nothing_is_computed_and_nothing_fails():
    patients = synthetic_patients(800, seed=4, notes=False)
    assert patients["self_harm_nlp"].isna().all()
    analysis = analyse(patients, StudyConfig())
    assert not analysis.sensitivity.notes_available
    assert analysis.sensitivity.self_harm.empty and analysis.sensitivity.regression.empty
    assert "no notes in this extract" in analysis.sensitivity.warnings[0]
    protected = protect(analysis, StudyConfig().disclosure)
    assert protected.sensitivity.self_harm.empty
    # Table 2 is unaffected by the absence of notes: self-harm from codes as before.
    assert analysis.table2.set_index("variable").at["self_harm", "mdd_n"] == int(
        (patients["self_harm"] & patients["in_cohort"] & ~patients["trd"]).sum())


def test_disclosure_of_small_overlap_cells(hand_analysis):
    protected = protect(hand_analysis, StudyConfig().disclosure).sensitivity.self_harm.set_index("variable")
    # Codes row as Table 2 protects it: MDD 5 -> <8, TRD 10 -> 10; 'all' (15) would give MDD = 15 - 10: hidden.
    assert protected.at["self_harm", "mdd_n"] == SMALL and protected.at["self_harm", "trd_n"] == 10
    assert protected.at["self_harm", "all_n"] == SUPPRESSED
    assert protected.at["self_harm", "statistic"] == SUPPRESSED
    # Both MDD 2 and codes only MDD 3 are small; TRD both 5 is small, so codes only TRD (5, small too) and the
    # cells that would reveal them by subtraction are hidden: nothing of 1-7 and no lone hidden cell.
    for variable in ("codes_only", "both"):
        for g in ("mdd", "trd"):
            assert protected.at[variable, f"{g}_n"] in (SMALL, SUPPRESSED)
    # Worked through the rules by hand. MDD: codes only 3 + both 2 hidden sum to 5 < 8, so the smallest other
    # cell of "codes only + notes only + both = codes + notes" is hidden too: notes only (10 < 15). Its row
    # (MDD + TRD = all) then hides TRD 25 (< all 35); TRD codes (10) is published, so codes + notes TRD
    # (= codes + notes only) follows, and with it codes + notes MDD (its row). Overall (50) stays.
    assert protected.at["notes_only", "mdd_n"] == SUPPRESSED and protected.at["notes_only", "trd_n"] == SUPPRESSED
    assert protected.at["notes_only", "all_n"] == 35
    assert protected.at["self_harm_any", "mdd_n"] == SUPPRESSED and protected.at["self_harm_any", "trd_n"] == SUPPRESSED
    assert protected.at["self_harm_any", "all_n"] == 50
    assert protected.at["self_harm_any", "statistic"] == SUPPRESSED
    # Either repeats codes + notes exactly as published.
    for g in ("mdd", "trd", "all"):
        assert protected.at["either", f"{g}_n"] == protected.at["self_harm_any", f"{g}_n"]
    # Large counts are rounded to 5: suicidal ideation TRD 20 stays 20, MDD 8 becomes 10 (nearest 5).
    assert protected.at["suicidal_ideation_nlp", "trd_n"] == 20
    assert protected.at["suicidal_ideation_nlp", "mdd_n"] == 10


@settings(max_examples=10, deadline=None)
@given(n=st.integers(min_value=60, max_value=500), seed=st.integers(min_value=0, max_value=10_000))
def test_protected_sensitivity_tables_are_safe_for_any_cohort(n, seed):
    """No count of 1-7 is published; in every linked sum, a hidden cell is never the only one."""
    settings_ = StudyConfig().disclosure
    analysis = analyse(synthetic_patients(n, seed=seed), StudyConfig())
    protected = protect(analysis, settings_).sensitivity
    table = protected.self_harm.set_index("variable")
    for value in table[["mdd_n", "trd_n", "all_n"]].to_numpy().ravel():
        if isinstance(value, str):
            assert value in (SMALL, SUPPRESSED)
        else:
            assert value == 0 or (value % 5 == 0 and value >= 8), value
    true = analysis.sensitivity.self_harm.set_index("variable")
    for g in ("mdd", "trd", "all"):
        for group in (["codes_only", "both"], ["codes_only", "notes_only", "both", "self_harm_any"]):
            hidden = [v for v in group if isinstance(table.at[v, f"{g}_n"], str)]
            visible_nonzero = [v for v in group if not isinstance(table.at[v, f"{g}_n"], str)
                               and true.at[v, f"{g}_n"] > 0]
            assert len(hidden) != 1 or not visible_nonzero, (g, group, hidden)
    for value in protected.regression.filter(like="odds_ratio").to_numpy().ravel():
        assert value == SUPPRESSED or not isinstance(value, str)


def test_headline_counts_of_a_realistic_cohort_are_published(synthetic_cohort):
    """No small cell, no suppression: codes + notes counts published as the true counts rounded to 5."""
    analysis = analyse(synthetic_cohort, StudyConfig())
    true = analysis.sensitivity.self_harm.set_index("variable")
    protected = protect(analysis, StudyConfig().disclosure).sensitivity.self_harm.set_index("variable")
    assert (true[["mdd_n", "trd_n"]].loc[["self_harm", "codes_only", "notes_only", "both"]] >= 8).all().all()
    for variable in ("self_harm", "self_harm_any", "notes_only", "both", "codes_only"):
        for g in ("mdd", "trd", "all"):
            assert protected.at[variable, f"{g}_n"] == 5 * math.floor(true.at[variable, f"{g}_n"] / 5 + 0.5)
