"""The extra passes of `classify` (assumption sensitivity, pathway steps) start from the main run's stages.

The assumption table is checked against a second implementation: each handling applied to the extract in
pandas (a missing antidepressant dose filled or the prescription dropped; prescriptions without a duration
dropped) and the whole pipeline run again on it (api.classify_tables), as the pass did before it shared the
main run's work.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from trdpath import api
from trdpath.config import StudyConfig, config_from_dict
from trdpath.pipeline import classify_extract
from trdpath.reference import ReferenceData
from trdpath.schema import MAX_DAILY_DOSE_MG
from trdpath.sources.open import open_tables
from trdpath.stats import pathways
from trdpath.stats.assumptions import assumption_sensitivity, scenarios
from trdpath.treatment.drug_names import ANTIDEPRESSANT, DrugDictionary

COUNTS = ["cohort_n", "mdd_n", "trd_n", "level2_n", "level3_n", "level4plus_n"]


@pytest.fixture(scope="module")
def tables(tmp_path_factory):
    folder = tmp_path_factory.mktemp("extract")
    api.synth(folder, 400, seed=11, notes=False)
    return {name: pd.read_csv(folder / f"{name}.csv", dtype={"patient_id": str})
            for name in ("patients", "diagnoses", "prescriptions", "referrals")}


def by_hand(tables, config: StudyConfig, index_date: dt.date) -> pd.DataFrame:
    """Every scenario as a transformed extract classified from scratch (no shared stages)."""
    drugs = DrugDictionary(ReferenceData(config))
    rx = tables["prescriptions"]
    roles = [drugs.ingredients[i].role if i else None for i in
             (drugs.map(d if isinstance(d, str) else "", a if isinstance(a, str) else None)
              for d, a in zip(rx["drug"], rx["atc_code"]))]
    is_ad = np.array([r == ANTIDEPRESSANT for r in roles])
    no_dose = rx["daily_dose_mg"].isna().to_numpy()
    no_duration = (rx["end_date"].isna() & rx["days_supply"].isna()).to_numpy()
    rows = []
    for scenario in scenarios(config):
        changed = rx.copy()
        keep = np.ones(len(rx), bool)
        if scenario.dose == "excluded":
            keep &= ~(no_dose & is_ad)
        elif scenario.dose != config.treatment.unknown_dose:
            changed["daily_dose_mg"] = changed["daily_dose_mg"].fillna(
                0.0 if scenario.dose == "inadequate" else MAX_DAILY_DOSE_MG)
        if scenario.duration == "excluded":
            keep &= ~no_duration
        patients = api.classify_tables({**tables, "prescriptions": changed[keep].reset_index(drop=True)},
                                       config, index_date).patients
        cohort = patients[patients["in_cohort"].astype(bool)]
        level = cohort["resistance_level"].astype(str)
        rows.append({"cohort_n": len(cohort), "mdd_n": int((level == "MDD").sum()),
                     "trd_n": int(cohort["trd"].astype(bool).sum()), "level2_n": int((level == "2").sum()),
                     "level3_n": int((level == "3").sum()), "level4plus_n": int((level == "4+").sum())})
    return pd.DataFrame(rows)


@pytest.mark.parametrize("settings", [{}, {"treatment": {"unknown_dose": "inadequate"}, "trd": {"failed_trials": 1}}],
                         ids=["default", "inadequate-one-failure"])
def test_every_handling_matches_a_full_reclassification(tables, settings):
    config = config_from_dict(settings) if settings else StudyConfig()
    con, extract = open_tables(tables, config, "duckdb")
    result = classify_extract(con, extract, config)
    shared = assumption_sensitivity(con, extract, config, result.patients, result.index_date, result.stages)
    expected = by_hand(tables, config, result.index_date)
    assert len(shared) == 5
    pd.testing.assert_frame_equal(shared[COUNTS].reset_index(drop=True), expected, check_dtype=False)
    # The sample must exercise the handlings: some scenario differs from the configured one.
    assert (expected["trd_n"] != expected["trd_n"].iloc[0]).any() or \
        (expected["cohort_n"] != expected["cohort_n"].iloc[0]).any()


def test_without_the_stages_the_passes_rebuild_them_and_agree(tables):
    config = StudyConfig()
    con, extract = open_tables(tables, config, "duckdb")
    result = classify_extract(con, extract, config)
    assert result.stages is not None and result.stages["con"] is con
    with_stages = assumption_sensitivity(con, extract, config, result.patients, result.index_date, result.stages)
    rebuilt = assumption_sensitivity(con, extract, config, result.patients, result.index_date)
    pd.testing.assert_frame_equal(with_stages, rebuilt)
    steps = pathways.patient_steps(con, extract, config, result.index_date, result.stages)
    pd.testing.assert_frame_equal(steps, pathways.patient_steps(con, extract, config, result.index_date))
    # Each patient's steps are numbered 1..k and there is one per drug of the episode (treatment_sequence).
    in_sequence = result.patients.set_index("patient_id")["treatment_sequence"].fillna("")
    counts = steps.groupby("patient_id").size()
    assert (counts == in_sequence[counts.index].str.split(";").str.len()).all()
    assert (in_sequence[in_sequence != ""].index.isin(counts.index)).all()


def test_pathway_steps_csv_neutralises_formulas_and_keeps_numbers(tmp_path):
    steps = pd.DataFrame({
        "patient_id": ["=HYPERLINK(\"x\")", "-5", "@SUM(A1)", "P1"], "position": [1, 1, 1, 1],
        "line": pd.array([1, 1, 1, pd.NA], dtype="Int64"),
        "drug": ["sertraline", "+cmd", "citalopram", "augmentation: lithium"],
        "role": ["antidepressant"] * 3 + ["augmenting"], "step": ["first drug"] * 4,
        "adequacy": ["adequate", "inadequate", "ongoing", "not judged"],
        "episode_start": [dt.date(2020, 1, 1)] * 4, "start_date": [dt.date(2020, 1, 2)] * 4,
        "first_era_end": [dt.date(2020, 3, 1)] * 4, "adequacy_date": [dt.date(2020, 1, 30), None, None, None]})
    pathways.write_steps(steps, tmp_path)
    lines = (tmp_path / pathways.STEPS_FILE).read_text().splitlines()
    # A quote inside a cell is doubled and the cell quoted (RFC 4180, pandas' QUOTE_MINIMAL).
    assert lines[1] == '"\'=HYPERLINK(""x"")",1,1,sertraline,antidepressant,first drug,adequate,2020-01-01,' \
                       '2020-01-02,2020-03-01,2020-01-30'
    assert lines[2] == "-5,1,1,'+cmd,antidepressant,first drug,inadequate,2020-01-01,2020-01-02,2020-03-01,"
    assert lines[3].startswith("'@SUM(A1),1,1,citalopram,")
    assert lines[4] == "P1,1,,augmentation: lithium,augmenting,first drug,not judged,2020-01-01,2020-01-02,2020-03-01,"
    # The Parquet copy keeps the values as they are (it is read by trdpath report, not a spreadsheet).
    back = pd.read_parquet(tmp_path / pathways.STEPS_PARQUET)
    assert back["patient_id"].tolist()[:3] == ["=HYPERLINK(\"x\")", "-5", "@SUM(A1)"]

