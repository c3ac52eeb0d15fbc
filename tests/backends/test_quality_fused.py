"""The data-quality counts in one aggregate query per table (issue 15), on DuckDB, PostgreSQL and PySpark.

`data_quality.extract_counts` counts every check of a table in one scan (it was one query per check: a Spark
job or a PostgreSQL round trip each); validation checks duplicate ids and implausible years of birth in its
own summary scan. Every expected count below is worked out by hand from the rows in the comments; the hostile
cases (an empty table, an all-null column, text that is no date) give the same counts and the same user errors
on every backend.
"""

from __future__ import annotations

import datetime as dt

import ibis
import pandas as pd
import pytest

from trdpath import engines
from trdpath.data_quality import extract_counts
from trdpath.errors import InputError
from trdpath.sources import Extract
from trdpath.sources.open import with_row_numbers
from trdpath.sources.validate import validate_extract

pytestmark = pytest.mark.xdist_group("backends")

INDEX = dt.date(2021, 1, 1)
D = dt.date

PATIENTS = pd.DataFrame({
    "patient_id": ["1", "2", "3", "4", "5", "6"],
    # 2: no birth date; 3: born 2030 > 2021 (future); 4: 1890 -> 131 > 120 at the index date (too old);
    # 5: death 1960 before birth 1970; 6: death 2022 after the index date.
    "birth_date": [D(1970, 1, 1), None, D(2030, 1, 1), D(1890, 1, 1), D(1970, 1, 1), D(1970, 1, 1)],
    "death_date": [None, None, None, None, D(1960, 1, 1), D(2022, 1, 1)],
})
PRESCRIPTIONS = pd.DataFrame({
    "patient_id": ["1"] * 5,
    # row 1: end 2020-01-01 before start 2020-01-10; row 2: no end and no supply; row 3: starts 2021-03-01,
    # after the index date; row 4: dose -5 (impossible) and supply 40000 (> 3650, impossible); row 5: no dose.
    "start_date": [D(2020, 1, 10), D(2020, 2, 1), D(2021, 3, 1), D(2020, 4, 1), D(2020, 5, 1)],
    "end_date": [D(2020, 1, 1), None, D(2021, 4, 1), None, D(2020, 6, 1)],
    "days_supply": pd.array([None, None, None, 40000, None], dtype="Int64"),
    "daily_dose_mg": [50.0, 50.0, 50.0, -5.0, None],
})
REFERRALS = pd.DataFrame({"patient_id": ["1", "1", "2"], "date": [D(2020, 1, 1), D(2021, 1, 2), D(2021, 6, 1)]})
NOTES = pd.DataFrame({"patient_id": ["1"], "date": [D(2021, 1, 1)]})  # on the index date: not after it

EXPECTED = {
    "prescriptions": {"end_before_start": 1, "no_dose": 1, "no_end": 1, "impossible_dose": 1,
                      "impossible_days_supply": 1, "after_index": 1},
    "patients": {"no_birth_date": 1, "future_birth": 1, "too_old": 1, "death_before_birth": 1,
                 "death_after_index": 1},
    "referrals": {"after_index": 2},  # 2021-01-02 and 2021-06-01
    "notes": {"after_index": 0},
}


def _typed(con, frames: dict[str, pd.DataFrame]) -> dict:
    """The frames as typed tables on `con` (a source that validation did not count, like an OMOP CDM)."""
    schemas = {
        "patients": {"patient_id": "string", "birth_date": "date", "death_date": "date"},
        "prescriptions": {"patient_id": "string", "start_date": "date", "end_date": "date", "days_supply": "int64",
                          "daily_dose_mg": "float64"},
        "referrals": {"patient_id": "string", "date": "date"},
        "notes": {"patient_id": "string", "date": "date"},
    }
    return engines.load_tables(con, frames, prefix="dq_", schemas={name: ibis.schema(schemas[name]) for name in frames})


def _extract(tables: dict) -> Extract:
    return Extract(patients=tables["patients"], diagnoses=None, prescriptions=tables["prescriptions"],
                   referrals=tables.get("referrals"), notes=tables.get("notes"), source="test")


class CountingConnection:
    """The connection, counting the queries run through it."""

    def __init__(self, con):
        self.con, self.queries = con, 0

    def execute(self, expr):
        self.queries += 1
        return self.con.execute(expr)


def test_every_count_in_one_query_per_table(any_con):
    tables = _typed(any_con, {"patients": PATIENTS, "prescriptions": PRESCRIPTIONS, "referrals": REFERRALS,
                              "notes": NOTES})
    counting = CountingConnection(any_con)
    assert extract_counts(counting, _extract(tables), INDEX) == EXPECTED
    assert counting.queries == 4  # 17 counts, four tables: one scan each (it was 8 queries)


def test_empty_tables_count_zero(any_con):
    # Header-only tables: every count 0 (Spark returns a conditional count over no rows as NULL).
    empty = {name: frame.iloc[0:0] for name, frame in
             (("patients", PATIENTS), ("prescriptions", PRESCRIPTIONS), ("referrals", REFERRALS), ("notes", NOTES))}
    counts = extract_counts(any_con, _extract(_typed(any_con, empty)), INDEX)
    assert counts == {name: {key: 0 for key in keys} for name, keys in EXPECTED.items()}


def test_all_null_columns(any_con):
    # Three prescriptions without dose, end date or supply: no_dose 3 and no_end 3; nothing is impossible or
    # ends before it starts (a NULL compares to nothing). Two patients with neither birth nor death date:
    # no_birth_date 2, no date check can hold.
    rx = pd.DataFrame({"patient_id": ["1", "1", "2"], "start_date": [D(2020, 1, 1)] * 3, "end_date": [None] * 3,
                       "days_supply": pd.array([None] * 3, dtype="Int64"), "daily_dose_mg": [None] * 3})
    patients = pd.DataFrame({"patient_id": ["1", "2"], "birth_date": [None, None], "death_date": [None, None]})
    counts = extract_counts(any_con, _extract(_typed(any_con, {"patients": patients, "prescriptions": rx})), INDEX)
    assert counts == {
        "prescriptions": {"end_before_start": 0, "no_dose": 3, "no_end": 3, "impossible_dose": 0,
                          "impossible_days_supply": 0, "after_index": 0},
        "patients": {"no_birth_date": 2, "future_birth": 0, "too_old": 0, "death_before_birth": 0,
                     "death_after_index": 0},
    }


def test_validated_counts_are_not_queried_again(any_con):
    # Validation's counts and date ranges say everything about prescriptions (latest start before the index
    # date): no query for them; the patients' date checks still need one (they depend on the index date).
    tables = _typed(any_con, {"patients": PATIENTS, "prescriptions": PRESCRIPTIONS.iloc[[0, 1, 3, 4]]})
    validated = {"prescriptions": {k: v for k, v in EXPECTED["prescriptions"].items() if k != "after_index"},
                 "patients": {"no_birth_date": 1}}
    extract = Extract(**{**vars(_extract(tables)), "quality_counts": validated,
                         "date_bounds": {"prescriptions": {"start_date": (D(2020, 1, 10), D(2020, 5, 1))}}})
    counting = CountingConnection(any_con)
    counts = extract_counts(counting, extract, INDEX)
    assert counting.queries == 1
    assert counts["prescriptions"] == {**validated["prescriptions"], "after_index": 0}
    assert counts["patients"] == EXPECTED["patients"]


# Validation on each backend (the contract's tables in a database schema are validated where they are).
RAW_PATIENTS = pd.DataFrame({"patient_id": ["a", "b", "c"], "birth_date": ["1970-01-01", "", "1980-05-05"],
                             "sex": ["F", "M", "F"]})
RAW_DX = pd.DataFrame({"patient_id": ["a"], "code": ["F32.1"], "date": ["2019-06-01"]})
RAW_RX = pd.DataFrame({"patient_id": ["a", "a"], "drug": ["sertraline", "sertraline"],
                       "start_date": ["2020-01-10", "2020-02-01"], "end_date": ["2020-01-01", ""],
                       "days_supply": ["", ""], "daily_dose_mg": ["50", ""]})


def _validate(con, patients=RAW_PATIENTS, prescriptions=RAW_RX):
    frames = {"patients": patients, "diagnoses": RAW_DX, "prescriptions": prescriptions}
    raw = engines.load_tables(con, {name: with_row_numbers(frame) for name, frame in frames.items()}, prefix="raw_")
    return validate_extract(con, raw, {name: f"{name}.csv" for name in frames}, source="test")


def test_validation_counts_on_every_backend(any_con):
    extract = _validate(any_con)
    # Row 1 ends 2020-01-01 before it starts 2020-01-10; row 2 has no dose and neither end nor supply.
    assert extract.quality_counts["prescriptions"] == {"end_before_start": 1, "no_dose": 1, "no_end": 1,
                                                       "impossible_dose": 0, "impossible_days_supply": 0}
    assert extract.quality_counts["patients"] == {"no_birth_date": 1}  # b's birth date is empty


def test_unparsable_date_same_error_on_every_backend(any_con):
    rx = RAW_RX.assign(start_date=["2020-01-10", "2020-02-30"])  # no 30 February
    with pytest.raises(InputError) as error:
        _validate(any_con, prescriptions=rx)
    assert (error.value.file, error.value.row, error.value.column, error.value.value) == \
        ("prescriptions.csv", 2, "start_date", "2020-02-30")
    rx = RAW_RX.assign(end_date=["soon", ""])
    with pytest.raises(InputError) as error:
        _validate(any_con, prescriptions=rx)
    assert (error.value.row, error.value.column, error.value.value) == (1, "end_date", "soon")


def test_duplicate_patient_and_implausible_year_found_in_the_summary_scan(any_con):
    # 'a' on rows 1 and 3 (the summary counts 2 distinct ids in 3 rows, then the first duplicate is located).
    with pytest.raises(InputError, match=r"'a' appears 2 times \(rows 1 and 3\)"):
        _validate(any_con, patients=RAW_PATIENTS.assign(patient_id=["a", "b", " a "]))
    # Only years of birth: 1799 < 1850 on row 2.
    years = pd.DataFrame({"patient_id": ["a", "b"], "year_of_birth": ["1970", "1799"], "sex": ["F", "M"]})
    with pytest.raises(InputError) as error:
        _validate(any_con, patients=years)
    assert (error.value.row, error.value.column, str(error.value.value)) == (2, "year_of_birth", "1799")
