"""Resistance levels, service use and journeys on small cohorts whose answers are worked out by hand."""

from __future__ import annotations

import numpy as np
import pytest

from trdpath.config import StudyConfig
from trdpath.stats import analyse
from support.synthetic import cohort_with_counts


def small_cohort():
    patients = cohort_with_counts(40, 60, {"tobacco": (4, 30)})
    trd = patients.index[patients["trd"]]
    patients.loc[trd, "resistance_level"] = ["2"] * 20 + ["3"] * 20 + ["4+"] * 20
    # Tobacco among TRD: the first 30 TRD patients = all 20 at level 2 and 10 at level 3.
    patients["referrals_community"] = np.where(patients["trd"], 1, 2)  # MDD 80 referrals, TRD 60
    patients["referrals_specialist"] = np.where(patients["trd"], 1, 0)  # MDD 0, TRD 60
    patients.loc[trd, "treatment_sequence"] = (["sertraline;mirtazapine"] * 30
                                               + ["sertraline;mirtazapine;venlafaxine;+lithium"] * 30)
    return patients


@pytest.fixture(scope="module")
def analysis():
    return analyse(small_cohort(), StudyConfig())


def test_resistance_levels_counts_and_chi_squared(analysis):
    table = analysis.resistance_levels.set_index("variable")
    first = table.loc["resistance_level"]
    assert (first["mdd_n"], first["level2_n"], first["level3_n"], first["level4plus_n"]) == (40, 20, 20, 20)
    assert first["mdd_pct"] == pytest.approx(40.0)
    tobacco = table.loc["tobacco"]
    assert (tobacco["mdd_n"], tobacco["level2_n"], tobacco["level3_n"], tobacco["level4plus_n"]) == (4, 20, 10, 0)
    # By hand: yes row 4, 20, 10, 0 (34 of 100); expected yes = 13.6, 6.8, 6.8, 6.8; no = 26.4, 13.2, 13.2, 13.2.
    expected_yes, expected_no = np.array([13.6, 6.8, 6.8, 6.8]), np.array([26.4, 13.2, 13.2, 13.2])
    observed_yes, observed_no = np.array([4, 20, 10, 0]), np.array([36, 0, 10, 20])
    by_hand = (((observed_yes - expected_yes) ** 2 / expected_yes).sum()
               + ((observed_no - expected_no) ** 2 / expected_no).sum())
    assert tobacco["df"] == 3
    assert tobacco["statistic"] == pytest.approx(by_hand)
    # Worked: 6.776 + 25.624 + 1.506 + 6.800 + 3.491 + 13.200 + 0.776 + 3.503 = 61.676.
    assert by_hand == pytest.approx(61.676, abs=1e-3)


def test_service_use_shares_and_chi_squared(analysis):
    service = analysis.service_use.set_index(["measure", "category"])
    community = service.loc[("referrals", "community")]
    # MDD: 80 community of 80 referrals; TRD: 60 community of 120 (60 community + 60 specialist).
    assert (community["mdd_n"], community["trd_n"]) == (80, 60)
    assert community["mdd_pct"] == pytest.approx(100.0) and community["trd_pct"] == pytest.approx(50.0)
    # 2x2 [[80, 60], [0, 60]], n = 200: chi2 = n (ad - bc)^2 / (r1 r2 c1 c2) = 200 * 4800^2 / (140*60*80*120).
    assert community["statistic"] == pytest.approx(200 * 4800 ** 2 / (140 * 60 * 80 * 120))
    patients_row = service.loc[("patients", "specialist")]
    assert (patients_row["mdd_n"], patients_row["trd_n"]) == (0, 60)
    assert patients_row["trd_pct"] == pytest.approx(100.0)


def test_journey_links_count_flows_between_positions(analysis):
    links = analysis.journeys.set_index(["step", "source", "target"])["n"]
    assert links[(1, "sertraline", "mirtazapine")] == 60
    assert links[(1, "sertraline", "no further drug")] == 40  # the MDD patients on sertraline alone
    assert links[(2, "mirtazapine", "no further drug")] == 30
    assert links[(2, "mirtazapine", "venlafaxine")] == 30
    assert links[(3, "venlafaxine", "augmentation: lithium")] == 30
