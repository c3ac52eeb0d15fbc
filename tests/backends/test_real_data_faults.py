"""The faults of issue 13's "Why" list that are about what is counted or named (the per-patient
answers are spec tests in tests/spec/test_6_* and test_7_*): every expected figure is counted by hand
from the rows written here."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from trdpath import engines
from trdpath.api import classify_tables
from trdpath.sources.omop import read_omop

pytestmark = pytest.mark.xdist_group("backends")


def _rows(quality: pd.DataFrame) -> dict:
    return {(r.table, r.column, r.issue.split(" (")[0], r.value): r.count for r in quality.itertuples()}


def test_condition_rows_counted_by_code_system():
    """Five diagnosis rows: 2 ICD-10 (F32.1 twice), 1 ICD-9-CM (298.9), 1 V code, 1 Read code. The
    V code and the Read code are each counted with their reason; none is dropped silently."""
    tables = {
        "patients": pd.DataFrame({"patient_id": ["1", "2"], "birth_date": ["1970-01-01"] * 2, "sex": ["F", "F"],
                                  "ethnicity": ["Black British", "Blаck British"]}),  # the second a is Cyrillic
        "diagnoses": pd.DataFrame({"patient_id": ["1", "2", "1", "2", "1"],
                                   "code": ["F32.1", "F32.1", "298.9", "V62.84", "XaX1Z"],
                                   "date": ["2010-01-01"] * 5}),
        "prescriptions": pd.DataFrame({"patient_id": ["1"], "drug": ["sertraline"], "start_date": ["2020-01-01"]}),
    }
    rows = _rows(classify_tables(tables, index_date=dt.date(2021, 1, 1)).data_quality)
    assert rows[("diagnoses", "code_system", "rows read as ICD-10", "ICD10")] == 2
    assert rows[("diagnoses", "code_system", "rows read as ICD-9-CM", "ICD9CM")] == 1
    assert rows[("diagnoses", "code", "V code without a code system: ICD-9-CM or ICD-10 cannot be told apart", "")] == 1
    assert rows[("diagnoses", "code", "not an ICD-10 or ICD-9-CM code", "XaX1Z")] == 1
    # The look-alike label is not guessed as a group: counted as not recognised.
    assert rows[("patients", "ethnicity", "value not recognised, grouped as Unknown", "Blаck British")] == 1


def test_icd9_depression_left_out_is_counted():
    tables = {
        "patients": pd.DataFrame({"patient_id": ["1"], "birth_date": ["1970-01-01"], "sex": ["F"]}),
        "diagnoses": pd.DataFrame({"patient_id": ["1", "1"], "code": ["296.32", "311"], "date": ["2010-01-01"] * 2}),
        "prescriptions": pd.DataFrame({"patient_id": ["1"], "drug": ["sertraline"], "start_date": ["2020-01-01"]}),
    }
    rows = _rows(classify_tables(tables, index_date=dt.date(2021, 1, 1)).data_quality)
    # 296.32 and 311 are both ICD-9-CM depression codes, not used under the default ICD-10 definition.
    assert rows[("diagnoses", "code", "ICD-9-CM depression code: not used to define depression", "ICD9CM")] == 2


QUETIAPINE_PRODUCT = 2_000_000_001  # a local drug concept: no shipped id, no concept_ancestor


def test_augmenting_agent_in_drug_era_named_without_concept_ancestor(any_con):
    """A local vocabulary without concept_ancestor: the quetiapine era is named by its concept's name
    (it was dropped before, issue 13); an NDC-only exposure is kept unnamed (counted later)."""
    cdm = {
        "person": pd.DataFrame({"person_id": [7], "gender_concept_id": [8532], "year_of_birth": [1970]}),
        "condition_occurrence": pd.DataFrame({"person_id": [7], "condition_start_date": [dt.date(2010, 1, 1)],
                                              "condition_source_value": ["F32.1"]}),
        "drug_era": pd.DataFrame({"person_id": [7], "drug_concept_id": [QUETIAPINE_PRODUCT],
                                  "drug_era_start_date": [dt.date(2020, 1, 1)], "drug_era_end_date": [dt.date(2020, 3, 1)]}),
        "drug_exposure": pd.DataFrame({"person_id": [7], "drug_concept_id": [0],
                                       "drug_exposure_start_date": [dt.date(2020, 2, 1)],
                                       "drug_exposure_end_date": [dt.date(2020, 3, 1)],
                                       "drug_source_value": ["00093-7347-56"]}),
        "concept": pd.DataFrame({"concept_id": [QUETIAPINE_PRODUCT], "concept_name": ["quetiapine 25 MG Oral Tablet"],
                                 "vocabulary_id": ["RxNorm"], "concept_class_id": ["Clinical Drug"],
                                 "concept_code": ["312743"]}),
    }
    extract = read_omop(any_con, engines.load_tables(any_con, cdm, prefix="cdm_"))
    rx = any_con.execute(extract.prescriptions.select("patient_id", "drug", "start_date"))
    rx = rx.sort_values("start_date").reset_index(drop=True)
    assert rx["patient_id"].tolist() == ["7", "7"]
    assert rx["drug"].tolist()[0] == "quetiapine 25 MG Oral Tablet"
    assert pd.isna(rx["drug"].tolist()[1])  # the NDC names nothing
