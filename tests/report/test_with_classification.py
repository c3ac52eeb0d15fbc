"""The report on a real classification by the engine (trdpath.api.classify_tables) of a small hand-made extract."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from trdpath import layout
from trdpath.config import config_from_dict

api = pytest.importorskip("trdpath.api")
if not hasattr(api, "classify_tables"):
    pytest.skip("the classification engine is not on this branch", allow_module_level=True)

DRUGS = ["sertraline", "citalopram", "mirtazapine", "venlafaxine"]


def small_extract():
    """40 patients: patient i takes 1 + i % 4 antidepressants in turn, 8 weeks each, 60 days apart."""
    ids = [f"p{i:02d}" for i in range(40)]
    patients = pd.DataFrame({"patient_id": ids, "birth_date": [f"{1950 + i}-01-01" for i in range(40)],
                             "sex": ["F" if i % 3 else "M" for i in range(40)]})
    diagnoses = pd.DataFrame({"patient_id": ids, "code": ["F33.1" if i % 5 == 0 else "F32.1" for i in range(40)],
                              "date": "2015-01-01"})
    prescriptions = pd.DataFrame([
        {"patient_id": pid, "drug": DRUGS[j], "days_supply": 56,
         "start_date": (dt.date(2020, 1, 1) + dt.timedelta(days=60 * j)).isoformat()}
        for i, pid in enumerate(ids) for j in range(1 + i % 4)])
    return {"patients": patients, "diagnoses": diagnoses, "prescriptions": prescriptions}


def test_report_counts_equal_the_classification(tmp_path):
    from trdpath.report import write_report

    result = api.classify_tables(small_extract())
    patients = result.patients
    config = config_from_dict({"disclosure": {"enabled": False}})
    write_report(tmp_path, patients, result.attrition, config,
                 {"software_version": "t", "index_date": result.index_date,
                  "data_date_range": (None, None), "source": "hand-made extract"})
    cohort = patients[patients["in_cohort"]]
    levels = pd.read_csv(layout.tables_dir(tmp_path) / "resistance_levels.csv").iloc[0]
    counts = cohort["resistance_level"].value_counts()
    for level, column in (("MDD", "mdd_n"), ("2", "level2_n"), ("3", "level3_n"), ("4+", "level4plus_n")):
        assert levels[column] == counts.get(level, 0)
    table1 = pd.read_csv(layout.tables_dir(tmp_path) / "table1_sociodemographics.csv", keep_default_na=False)
    f33 = table1[(table1["variable"] == "depression_code") & (table1["level"] == "F33")].iloc[0]
    assert int(f33["trd_n"]) == int(((cohort["depression_code"] == "F33") & cohort["trd"]).sum())
    assert int(f33["mdd_n"]) == int(((cohort["depression_code"] == "F33") & ~cohort["trd"]).sum())
