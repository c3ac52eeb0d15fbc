"""The spec-test harness: readable tables in, the named output columns checked on every engine.

A spec test gives its input tables as text, one row a line, cells separated by ``|``:

    prescriptions='''
        patient_id | drug       | start_date | end_date   | daily_dose_mg
        1          | sertraline | 2020-01-01 | 2020-03-01 | 100
    '''

An empty cell is a missing value. Tables a test does not give get defaults so that each test shows
only what its rule needs: every patient named anywhere is born 1970-01-01 (patients) and has a
depression diagnosis F32.1 on 2010-01-01 (diagnoses). Give the table to change that.
The expected table names the output columns checked; others are not compared.
"""

from __future__ import annotations

import pandas as pd
import pytest

DEFAULT_BIRTH_DATE = "1970-01-01"
DEFAULT_DIAGNOSIS = ("F32.1", "2010-01-01")


def parse_table(text: str) -> pd.DataFrame:
    """A ``|``-separated text table as a DataFrame of strings (None for empty cells)."""
    lines = [line.strip() for line in text.strip().splitlines()]
    lines = [line for line in lines if line and not line.startswith("#")]
    header = [cell.strip() for cell in lines[0].split("|")]
    rows = []
    for line in lines[1:]:
        cells = [cell.strip() or None for cell in line.split("|")]
        if len(cells) != len(header):
            raise ValueError(f"row {line!r} has {len(cells)} cells, header has {len(header)}")
        rows.append(cells)
    return pd.DataFrame(rows, columns=header, dtype=object)


def build_tables(patients=None, diagnoses=None, prescriptions=None, referrals=None) -> dict[str, pd.DataFrame]:
    given = {name: parse_table(text) for name, text in (
        ("patients", patients), ("diagnoses", diagnoses), ("prescriptions", prescriptions),
        ("referrals", referrals)) if text is not None}
    patient_ids: list[str] = []
    for frame in given.values():
        for patient_id in frame["patient_id"]:
            if patient_id not in patient_ids:
                patient_ids.append(patient_id)
    tables = dict(given)
    if "patients" not in tables:
        tables["patients"] = pd.DataFrame(
            {"patient_id": patient_ids, "birth_date": DEFAULT_BIRTH_DATE, "sex": "F"}, dtype=object)
    if "diagnoses" not in tables:
        tables["diagnoses"] = pd.DataFrame(
            {"patient_id": patient_ids, "code": DEFAULT_DIAGNOSIS[0], "date": DEFAULT_DIAGNOSIS[1]}, dtype=object)
    if "prescriptions" not in tables:
        tables["prescriptions"] = pd.DataFrame(columns=["patient_id", "drug", "start_date"], dtype=object)
    return tables


@pytest.fixture
def spec_test(engine, differences):
    """Run one spec test's tables on the engine and check the expected columns."""

    def run(expected: str, *, config=None, index_date=None, **table_texts):
        tables = build_tables(**table_texts)
        result = engine(tables, config=config, index_date=index_date)
        want = parse_table(expected)
        problems = differences(want, result, list(want.columns))
        assert not problems, "\n".join(problems)

    return run
