"""The risk model's evaluation on data where the answer is known."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import mannwhitneyu

from trdpath.config import DisclosureSection
from trdpath.early.risk import PREDICTOR_LISTS, evaluate, fit_and_evaluate
from trdpath.errors import UserError


def _frame(n: int, seed: int, signal: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"patient_id": [f"{i:06d}" for i in range(n)], "index_day": rng.integers(17000, 19000, n),
                          "age": rng.normal(45, 15, n), "sex": rng.choice(["female", "male"], n),
                          "prior_episodes": rng.poisson(0.5, n), "referrals_before": rng.poisson(1.0, n)})
    for name in PREDICTOR_LISTS:
        frame[name] = rng.random(n) < 0.2
    logit = -1.0 + signal * frame["anxiety"].astype(float) * 2 + signal * (frame["age"] - 45) / 15
    frame["outcome"] = rng.random(n) < 1 / (1 + np.exp(-logit))
    return frame


def test_pure_noise_gives_auroc_near_half():
    result = fit_and_evaluate(_frame(3000, seed=5), "logistic")
    lo, hi = result["test"]["auroc_ci"]
    assert lo <= 0.5 <= hi and abs(result["test"]["auroc"] - 0.5) < 0.06


@pytest.mark.parametrize("kind", ["logistic", "boosting"])
def test_signal_is_found(kind):
    # With a real effect (log-odds +2 for anxiety, +1 per SD of age) the test AUROC is well above 0.5.
    result = fit_and_evaluate(_frame(4000, seed=6, signal=1.0), kind)
    assert result["test"]["auroc_ci"][0] > 0.6


def test_auroc_equals_mann_whitney():
    rng = np.random.default_rng(1)
    y = rng.random(500) < 0.3
    p = rng.random(500) * 0.5 + 0.3 * y
    u = mannwhitneyu(p[y], p[~y]).statistic  # AUROC = U / (n1 * n0), a second implementation
    assert evaluate(y, p, n_boot=50)["auroc"] == pytest.approx(u / (y.sum() * (~y).sum()))


def test_calibration_of_true_probabilities():
    # Outcomes drawn from the predictions themselves: slope 1 and intercept 0 (up to sampling error).
    rng = np.random.default_rng(2)
    p = rng.uniform(0.05, 0.9, 20000)
    y = rng.random(20000) < p
    got = evaluate(y, p, n_boot=20)
    assert got["calibration_slope"] == pytest.approx(1.0, abs=0.08)
    assert got["calibration_intercept"] == pytest.approx(0.0, abs=0.06)


def test_lift_and_net_benefit_by_hand():
    y = np.array([1, 1, 0, 0, 0, 0, 0, 0, 0, 0])
    p = np.array([0.9, 0.8, 0.1, 0.1, 0.2, 0.1, 0.3, 0.1, 0.2, 0.1])
    got = evaluate(y, p, n_boot=20)
    # Top fifth = the two highest (0.9, 0.8), both events: 1.0 / prevalence 0.2 = 5.
    assert got["lift_top_fifth"] == pytest.approx(5.0)
    at_half = next(r for r in got["decision_curve"] if r["threshold"] == 0.5)
    # Threshold 0.5: 2 true positives of 10, no false positives -> 0.2; treat all: 0.2 - 0.8 * 1 = -0.6.
    assert at_half["net_benefit_model"] == pytest.approx(0.2)
    assert at_half["net_benefit_all"] == pytest.approx(-0.6)
    # The counts behind the point (for the report's rounded drawing): p >= 0.5 is 0.9 and 0.8, both events.
    assert (at_half["treated_events"], at_half["treated_non_events"]) == (2, 0)


def test_published_coefficients_hide_rare_predictors():
    frame = _frame(2000, seed=3, signal=0.5)
    frame["self_harm"] = False
    frame.loc[frame.index[:3], "self_harm"] = True  # 3 patients: fewer than the minimum count of 8
    result = fit_and_evaluate(frame, "logistic", disclosure=DisclosureSection())
    coefs = result["coefficients"].set_index("predictor")["coefficient"]
    assert coefs["bin__self_harm"] == "<8" and isinstance(coefs["bin__anxiety"], float)


def test_one_outcome_class_is_a_clear_error():
    frame = _frame(300, seed=4)
    frame["outcome"] = False
    with pytest.raises(UserError, match="only one outcome class"):
        fit_and_evaluate(frame, "logistic")
