"""Table 3: the stepwise logistic regression against independent computations.

* statsmodels' own formula interface (patsy builds its own design matrix) on the same data;
* a saturated 2x2 model whose maximum-likelihood estimates are known in closed form, so the odds ratio,
  its Wald (Woolf) interval, -2LL and the Cox & Snell and Nagelkerke R-squared are worked out by hand.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf

from trdpath.config import StudyConfig
from trdpath.stats import analyse
from trdpath.stats.regression import stepwise_logistic
from support.synthetic import synthetic_patients


@pytest.fixture(scope="module")
def cohort():
    patients = synthetic_patients(4000, seed=11)
    return patients[patients["in_cohort"]].reset_index(drop=True)


def test_final_model_equals_statsmodels_formula_fit(cohort):
    blocks = StudyConfig().analysis.regression_blocks
    result = stepwise_logistic(cohort, [list(b) for b in blocks])
    data = cohort.assign(trd=cohort["trd"].astype(int),
                         **{c: cohort[c].astype(int) for c in ("psychotic_symptoms", "substance_misuse", "anxiety",
                                                                "personality_disorder", "self_harm", "cardiovascular",
                                                                "respiratory", "gastrointestinal")})
    formula = ("trd ~ C(depression_code, Treatment('F32')) + psychotic_symptoms"
               " + C(employment_group, Treatment('Employed')) + substance_misuse + anxiety + personality_disorder"
               " + self_harm + cardiovascular + respiratory + gastrointestinal")
    reference = smf.logit(formula, data).fit(disp=0)
    names = {
        "const": "Intercept",
        "depression_code[F33]": "C(depression_code, Treatment('F32'))[T.F33]",
        "employment_group[Unemployed (seeking)]": "C(employment_group, Treatment('Employed'))[T.Unemployed (seeking)]",
        "employment_group[Economically inactive]":
            "C(employment_group, Treatment('Employed'))[T.Economically inactive]",
        "employment_group[Unknown]": "C(employment_group, Treatment('Employed'))[T.Unknown]",
    }
    model4 = result.coefficients[result.coefficients["model"] == "Model 4"].set_index("term")
    assert len(model4) == len(reference.params)
    intervals = reference.conf_int()
    for term, row in model4.iterrows():
        name = names.get(term, term)
        assert row["odds_ratio"] == pytest.approx(math.exp(reference.params[name]), rel=1e-6)
        assert row["ci_lower"] == pytest.approx(math.exp(intervals.loc[name, 0]), rel=1e-6)
        assert row["ci_upper"] == pytest.approx(math.exp(intervals.loc[name, 1]), rel=1e-6)
        assert row["p_value"] == pytest.approx(reference.pvalues[name], rel=1e-5, abs=1e-12)
    fit = result.model_fit.set_index("model").loc["Model 4"]
    assert fit["n"] == reference.nobs
    assert fit["minus2ll"] == pytest.approx(-2 * reference.llf, rel=1e-9)
    assert fit["chi2"] == pytest.approx(reference.llr, rel=1e-9)
    assert fit["df"] == reference.df_model
    assert fit["p_value"] == pytest.approx(reference.llr_pvalue, rel=1e-6, abs=1e-300)


def test_models_are_nested_blocks(cohort):
    result = stepwise_logistic(cohort, [["psychotic_symptoms"], ["anxiety", "self_harm"]])
    terms = result.coefficients.groupby("model")["term"].apply(list)
    assert terms["Model 1"] == ["const", "psychotic_symptoms"]
    assert terms["Model 2"] == ["const", "psychotic_symptoms", "anxiety", "self_harm"]
    fit = result.model_fit.set_index("model")
    # Block chi-squared of Model 2 = difference of -2LL between the models, on 2 df.
    assert fit.at["Model 2", "block_chi2"] == pytest.approx(fit.at["Model 1", "minus2ll"] - fit.at["Model 2", "minus2ll"])
    assert fit.at["Model 2", "block_df"] == 2


def saturated_cohort():
    """x = 0: 30 TRD of 100; x = 1: 60 TRD of 100 (a 2x2 table; the logistic MLE is the observed proportions)."""
    trd = np.r_[np.ones(30), np.zeros(70), np.ones(60), np.zeros(40)].astype(bool)
    exposed = np.r_[np.zeros(100), np.ones(100)].astype(bool)
    return pd.DataFrame({"trd": trd, "exposed": exposed})


def test_nagelkerke_and_odds_ratio_by_hand():
    result = stepwise_logistic(saturated_cohort(), [["exposed"]])
    # By hand: LL1 = 30 ln .3 + 70 ln .7 + 60 ln .6 + 40 ln .4; LL0 = 90 ln .45 + 110 ln .55 (n = 200).
    ll1 = 30 * math.log(0.3) + 70 * math.log(0.7) + 60 * math.log(0.6) + 40 * math.log(0.4)
    ll0 = 90 * math.log(0.45) + 110 * math.log(0.55)
    # Worked by hand: -36.119 - 24.967 - 30.650 - 36.652 = -128.388; LL0 = -71.866 - 65.762 = -137.628.
    assert ll1 == pytest.approx(-128.388, abs=1e-3)
    assert ll0 == pytest.approx(-137.628, abs=1e-3)
    cox_snell = 1 - math.exp(2 * (ll0 - ll1) / 200)
    nagelkerke = cox_snell / (1 - math.exp(2 * ll0 / 200))
    # Cox & Snell = 1 - exp(-0.09240) = 0.08826; maximum = 1 - exp(-1.37628) = 0.74748; ratio 0.11808.
    assert cox_snell == pytest.approx(0.08826, abs=1e-5)
    assert nagelkerke == pytest.approx(0.11808, abs=1e-5)
    fit = result.model_fit.iloc[0]
    assert fit["minus2ll"] == pytest.approx(-2 * ll1, rel=1e-9)
    assert fit["chi2"] == pytest.approx(2 * (ll1 - ll0), rel=1e-9)
    assert fit["cox_snell_r2"] == pytest.approx(cox_snell, rel=1e-9)
    assert fit["nagelkerke_r2"] == pytest.approx(nagelkerke, rel=1e-9)
    # OR = (60/40) / (30/70) = 3.5; Wald CI = exp(ln 3.5 +/- 1.959964 sqrt(1/60 + 1/40 + 1/30 + 1/70)) (Woolf).
    row = result.coefficients.set_index(["model", "term"]).loc[("Model 1", "exposed")]
    se = math.sqrt(1 / 60 + 1 / 40 + 1 / 30 + 1 / 70)
    assert row["odds_ratio"] == pytest.approx(3.5, rel=1e-7)
    assert row["ci_lower"] == pytest.approx(math.exp(math.log(3.5) - 1.959964 * se), rel=1e-5)
    assert row["ci_upper"] == pytest.approx(math.exp(math.log(3.5) + 1.959964 * se), rel=1e-5)


def test_separation_is_a_warning_not_a_crash():
    data = saturated_cohort()
    data["always_trd"] = data["trd"]  # perfectly predicts the outcome
    result = stepwise_logistic(data, [["exposed"], ["always_trd"]])
    fit = result.model_fit.set_index("model")
    assert "separation" in fit.at["Model 2", "warning"]
    assert any("separation" in w for w in result.warnings)
    assert fit.at["Model 1", "nagelkerke_r2"] == pytest.approx(0.11808, abs=1e-5)


def test_analysis_reports_separation_in_its_warnings():
    patients = synthetic_patients(600, seed=5)
    patients["self_harm"] = patients["trd"] & (np.arange(len(patients)) % 3 == 0)  # never in MDD
    analysis = analyse(patients, StudyConfig())
    assert any("self_harm" in w and "separation" in w for w in analysis.warnings)
