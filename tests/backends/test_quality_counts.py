"""The data-quality counts (validate.QUALITY_CHECKS and rows after the index date) are the same
whether validation counted them in its own scan or the pipeline queries them (OMOP sources, which
are not validated here), on every backend. Expected counts are from the tables below, by hand.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from trdpath import engines
from trdpath.api import classify_tables
from trdpath.data_quality import extract_counts
from trdpath.sources import Extract
from trdpath.sources.validate import validate_extract

pytestmark = pytest.mark.xdist_group("backends")

INDEX = dt.date(2021, 1, 1)
TABLES = {
    # Two patients without a birth date (one empty, one missing); then one born after the index date,
    # one aged 131 at it, one dying before birth, one dying after the index date (issue 13).
    "patients": pd.DataFrame({"patient_id": ["1", "2", "3", "4", "5", "6", "7"],
                              "birth_date": ["1970-01-01", "", None, "2090-01-01", "1890-01-01", "1970-01-01", "1970-01-01"],
                              "death_date": [None, None, None, None, None, "1960-01-01", "2022-01-01"],
                              "sex": ["F", "M", "F", "F", "F", "F", "F"]}),
    "diagnoses": pd.DataFrame({"patient_id": ["1"], "code": ["F32.1"], "date": ["2019-06-01"]}),
    "prescriptions": pd.DataFrame({
        "patient_id": ["1"] * 7,
        "drug": ["sertraline"] * 7,
        "start_date": ["2020-01-10", "2020-02-01", "2020-03-01", "2020-04-01", "2021-06-01", "2020-05-01", "2020-06-01"],
        # end before start; fine; no end and no supply; supply only; fine but after the index date;
        # a negative dose; an infinite dose with a negative supply
        "end_date": ["2020-01-01", "2020-03-01", None, None, "2021-07-01", "2020-06-01", "2020-07-01"],
        "days_supply": [28, None, None, 28, None, None, -3],
        "daily_dose_mg": [50.0, None, 50.0, 50.0, 50.0, -5.0, float("inf")],  # one without a dose
    }),
}
EXPECTED = {"end_before_start": 1, "no_dose": 1, "no_end": 1, "impossible_dose": 2, "impossible_days_supply": 1,
            "after_index": 1}
EXPECTED_NO_BIRTH = 2
# 2090 > 2021 (future birth); 2021 - 1890 = 131 > 120; 1960 < 1970; 2022 > 2021.
EXPECTED_DEATH_AFTER = 1


def test_validated_counts_reach_data_quality():
    quality = classify_tables(TABLES, index_date=INDEX).data_quality
    counts = {(row.table, row.column, row.issue.split(" (")[0].split(":")[0]): row.count for row in quality.itertuples()}
    assert counts[("prescriptions", "end_date", "end_date before start_date")] == EXPECTED["end_before_start"]
    assert counts[("prescriptions", "daily_dose_mg", "no daily dose")] == EXPECTED["no_dose"]
    assert counts[("prescriptions", "end_date", "no end_date or days_supply")] == EXPECTED["no_end"]
    assert counts[("prescriptions", "start_date", f"starts after the index date {INDEX}")] == EXPECTED["after_index"]
    assert counts[("patients", "birth_date", "no birth date")] == EXPECTED_NO_BIRTH
    assert counts[("prescriptions", "daily_dose_mg", "impossible daily dose")] == EXPECTED["impossible_dose"]
    assert counts[("prescriptions", "days_supply", "impossible days_supply")] == EXPECTED["impossible_days_supply"]


def test_queried_counts_match_on_every_backend(any_con):
    duck = engines.connect("duckdb")
    raw = {name: duck.create_table(f"raw_{name}", frame, temp=True) for name, frame in TABLES.items()}
    validated = validate_extract(duck, raw, {name: name for name in TABLES}, source="test")
    assert validated.quality_counts["prescriptions"] == {k: v for k, v in EXPECTED.items() if k != "after_index"}
    assert validated.quality_counts["patients"] == {"no_birth_date": EXPECTED_NO_BIRTH}

    # The same typed tables on the backend, without the counts or date ranges validation found.
    typed = {name: duck.execute(getattr(validated, name)) for name in TABLES}
    loaded = engines.load_tables(any_con, typed, schemas={name: getattr(validated, name).schema() for name in TABLES})
    bare = Extract(patients=loaded["patients"], diagnoses=loaded["diagnoses"],
                   prescriptions=loaded["prescriptions"], referrals=None, notes=None, source="test")
    counts = extract_counts(any_con, bare, INDEX)  # nothing counted by validation: every check is queried
    assert counts["prescriptions"] == EXPECTED
    assert counts["patients"] == {"no_birth_date": EXPECTED_NO_BIRTH, "future_birth": 1, "too_old": 1,
                                  "death_before_birth": 1, "death_after_index": EXPECTED_DEATH_AFTER}
