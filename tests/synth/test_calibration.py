"""With the default rules the synthetic cohort looks like the paper's (000_c1cdf4090bc5f026).

The classifier is the project's engine (trdpath.api.classify) and the reference engine (trdpath.in_memory,
through reference_check.py); both must realise exactly the latent truth
the generator designed, and the classified cohort must reproduce the paper's figures.
"""

from __future__ import annotations

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .reference_check import classify as rules_check
from trdpath.schema import EXCLUSION_REASONS
from trdpath.synth import generate


@pytest.fixture(scope="module")
def classified(engine_result, latent_truth):
    p = engine_result.patients.copy()
    p["exclusion_reason"] = p["exclusion_reason"].fillna("")
    return p.merge(latent_truth, on="patient_id", validate="one_to_one")


@pytest.fixture(scope="module")
def cohort(classified):
    return classified[classified["in_cohort"].astype(bool)]


def test_every_exclusion_reason_appears_in_attrition(engine_result):
    att = engine_result.attrition.set_index("rule")
    for reason in EXCLUSION_REASONS:
        assert att.loc[reason, "excluded"] > 0, reason


def test_engine_realises_the_intended_truth_exactly(classified, cohort):
    assert (classified["exclusion_reason"] == classified["intended_exclusion_reason"]).all()
    assert (cohort["trd"].astype(bool) == (cohort["intended_trd"] == "true")).all()
    assert (cohort["resistance_level"] == cohort["intended_resistance_level"]).all()
    assert (cohort["n_antidepressants"].astype(int) == cohort["intended_n_antidepressants"].astype(int)).all()
    started = pd.to_datetime(cohort["episode_start"]).dt.strftime("%Y-%m-%d")
    assert (started == cohort["intended_episode_start"]).all()


def test_prevalence_and_resistance_levels_near_the_paper(cohort):
    # Results: 47.92% TRD; among TRD 38% / 22% / 40% with 2 / 3 / 4+ antidepressants (normalised).
    prevalence = cohort["trd"].astype(bool).mean()
    assert 0.40 <= prevalence <= 0.56
    assert abs(prevalence - 0.4792) < 0.03
    levels = cohort.loc[cohort["trd"].astype(bool), "resistance_level"].value_counts(normalize=True)
    for level, target in (("2", 0.38), ("3", 0.22), ("4+", 0.40)):
        assert abs(levels[level] - target) < 0.04, (level, levels[level])


@pytest.mark.parametrize("column, mdd, trd", [
    # Table 2 (MDD %, TRD %) and Table 1.
    ("anxiety", 24.50, 30.80),
    ("personality_disorder", 11.18, 16.54),
    ("psychotic_illness", 8.30, 15.03),
    ("substance_misuse", 18.17, 20.85),
    ("tobacco", 4.60, 6.91),
    ("cardiovascular", 3.33, 5.49),
    ("gastrointestinal", 2.36, 4.79),
    ("self_harm", 0.90, 2.70),
])
def test_comorbidity_rates_by_group_near_table_2(cohort, column, mdd, trd):
    rates = cohort.groupby(cohort["trd"].astype(bool))[column].apply(lambda s: s.astype(bool).mean() * 100)
    # ~2,000 patients per group: binomial s.e. at most ~1 point; allow 3.5 s.e.-ish.
    tolerance = max(1.0, 3.5 * (max(mdd, trd) * (100 - max(mdd, trd)) / 2000) ** 0.5)
    assert abs(rates[False] - mdd) < tolerance
    assert abs(rates[True] - trd) < tolerance


def test_recurrent_depression_and_economic_inactivity_near_table_1(cohort):
    trd = cohort["trd"].astype(bool)
    f33 = (cohort["depression_code"] == "F33").groupby(trd).mean() * 100
    assert abs(f33[False] - 26.62) < 3.5 and abs(f33[True] - 31.76) < 3.5
    inactive = (cohort["employment_group"] == "Economically inactive").groupby(trd).mean() * 100
    assert abs(inactive[False] - 32.60) < 3.5 and abs(inactive[True] - 41.24) < 3.5
    died = cohort["died"].astype(bool).groupby(trd).mean() * 100
    assert abs(died[False] - 7.20) < 2 and abs(died[True] - 5.70) < 2


def test_service_use_mix_like_the_paper(cohort):
    # Results: community 45% v. 40%, specialist 15% v. 20%, inpatient 3% v. 5%, forensic 3.5% v. 2%.
    cols = [c for c in cohort.columns if c.startswith("referrals_")]
    counts = cohort.groupby(cohort["trd"].astype(bool))[cols].sum()
    share = counts.div(counts.sum(axis=1), axis=0) * 100
    for col, mdd, trd in (("referrals_community", 45, 40), ("referrals_specialist", 15, 20),
                          ("referrals_inpatient", 3, 5), ("referrals_forensic", 3.5, 2)):
        assert abs(share.loc[False, col] - mdd) < 2.5 and abs(share.loc[True, col] - trd) < 2.5, col


def test_the_reference_engine_agrees(calibration_extract, latent_truth):
    mine = rules_check(calibration_extract).merge(latent_truth, on="patient_id")
    assert (mine["exclusion_reason"] == mine["intended_exclusion_reason"]).all()
    cohort = mine[mine["in_cohort"]]
    assert (cohort["resistance_level"] == cohort["intended_resistance_level"]).all()


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**31 - 1), n=st.integers(1, 400))
def test_any_seed_and_size_realises_its_latent_truth(tmp_path_factory, seed, n):
    out = tmp_path_factory.mktemp("prop") / "x"
    generate(out, n, seed=seed)
    mine = rules_check(out).merge(pd.read_csv(out / "synth_truth.csv", dtype=str, keep_default_na=False),
                                  on="patient_id")
    assert len(mine) == n
    assert (mine["exclusion_reason"] == mine["intended_exclusion_reason"]).all()
    cohort = mine[mine["in_cohort"]]
    assert (cohort["resistance_level"] == cohort["intended_resistance_level"]).all()
    assert (cohort["n_antidepressants"] == cohort["intended_n_antidepressants"].astype(int)).all()


def test_notes_hold_far_more_self_harm_than_codes(calibration_extract, cohort):
    """The paper's Discussion: coded self-harm (0.9% / 2.7%) misses what free-text notes record."""
    truth = pd.read_csv(calibration_extract / "notes_truth.csv", dtype=str, keep_default_na=False)
    notes = pd.read_csv(calibration_extract / "notes.csv", dtype=str, keep_default_na=False)
    assert set(notes["patient_id"]) <= set(truth["patient_id"])
    merged = cohort.merge(truth, on="patient_id")
    assert len(merged) == len(cohort)
    trd = merged["trd"].astype(bool)
    in_notes = (merged["self_harm_true"] == "true").groupby(trd).mean()
    coded = merged["self_harm"].astype(bool).groupby(trd).mean()
    for group in (False, True):
        assert in_notes[group] > 4 * coded[group]
    assert in_notes[True] > in_notes[False]
    # Every patient with coded self-harm also has it in the notes (codes are a subset).
    assert (merged.loc[merged["self_harm"].astype(bool), "self_harm_true"] == "true").all()
