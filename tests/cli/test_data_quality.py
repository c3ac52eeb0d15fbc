"""data_quality.csv lists unmapped values most frequent first, ties alphabetically, the same on every run."""

from __future__ import annotations

import datetime as dt

import pandas as pd

from trdpath.api import classify_tables


def test_unmapped_values_most_frequent_first_then_alphabetical():
    drugs = ["zopiclone", "diazepam", "melatonin", "zopiclone", "propranolol", "diazepam"]
    tables = {
        "patients": pd.DataFrame({"patient_id": ["1"], "birth_date": ["1970-01-01"], "sex": ["F"],
                                  "ethnicity": ["Martian"]}),
        "diagnoses": pd.DataFrame({"patient_id": ["1"] * 3, "code": ["F32.1", "QQ", "AB"],
                                   "date": ["2015-01-01"] * 3}),
        "prescriptions": pd.DataFrame({"patient_id": ["1"] * len(drugs), "drug": drugs,
                                       "start_date": ["2020-01-01"] * len(drugs), "daily_dose_mg": [1.0] * len(drugs),
                                       "end_date": ["2020-02-01"] * len(drugs)}),
    }
    quality = classify_tables(tables, index_date=dt.date(2021, 1, 1)).data_quality
    drug_rows = quality[(quality["table"] == "prescriptions") & (quality["column"] == "drug")]
    # counted by hand: diazepam 2, zopiclone 2, then melatonin 1, propranolol 1
    assert list(zip(drug_rows["value"], drug_rows["count"])) == [
        ("diazepam", 2), ("zopiclone", 2), ("melatonin", 1), ("propranolol", 1)]
    code_rows = quality[(quality["table"] == "diagnoses") & (quality["column"] == "code")]
    assert list(code_rows["value"]) == ["AB", "QQ"]
    ethnicity = quality[quality["column"] == "ethnicity"]
    assert list(ethnicity["value"]) == ["Martian"]
