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

On batched engines (BATCHED_ENGINES in tests/conftest.py: PySpark, PostgreSQL) a spec test does not classify
its tables itself. The first such test of a run asks ``spec_batches`` for its result; that calls
every selected spec test function of that engine with a *recording* ``spec_test`` that only
collects its tables, configuration and index date (the test asserts nothing then), classifies
them all in a few merged extracts (tests/spec/batching.py), and keeps each case's own rows. Each
spec test then runs as usual: its ``spec_test`` builds the same tables, looks up their result and
compares it with the expected table exactly as on the other engines.
"""

from __future__ import annotations

import inspect

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


def case_id(tables, config, index_date) -> str:
    """The same text for the same spec case, however often its test builds it."""
    parts = [f"{name}={frame.to_json(orient='split')}" for name, frame in sorted(tables.items())]
    return "\n".join([*parts, f"config={config.model_dump_json() if config else None}", f"index_date={index_date}"])


def record_spec_cases(test_function, label: str) -> dict:
    """{case_id: batching.Case} for the spec_test calls of one spec test function, without running them."""
    # Imported here, not at the top: rules_doc.py loads this file on its own (parse_table) without
    # tests/ on sys.path.
    from spec.batching import Case

    if list(inspect.signature(test_function).parameters) != ["spec_test"]:
        raise TypeError(f"{label}: a spec test takes only the spec_test fixture "
                        "(batched engines record its cases by calling it directly)")
    cases = {}

    def record(expected, *, config=None, index_date=None, **table_texts):
        tables = build_tables(**table_texts)
        cases[case_id(tables, config, index_date)] = Case(tables, config, index_date, label)

    test_function(spec_test=record)
    return cases


class SpecBatches:
    """The results of every selected spec test on a batched engine, classified in merged extracts."""

    def __init__(self, session: pytest.Session):
        self.session = session
        self.results: dict[str, dict] = {}  # engine name -> {case_id: classified batching.Case}

    def result(self, engine, tables, config, index_date) -> pd.DataFrame:
        if engine.name not in self.results:
            self.results[engine.name] = self._classify_all(engine)
        case = self.results[engine.name].get(case_id(tables, config, index_date))
        if case is None:
            raise LookupError(f"{engine.name}: this spec case was not recorded before the batched run "
                              "(a spec test must build the same tables every time it is called)")
        return case.patients()

    def _classify_all(self, engine) -> dict:
        from spec.batching import classify_in_batches  # see record_spec_cases

        cases = {}
        for item in self.session.items:  # the selected tests (after -k and deselection)
            callspec = getattr(item, "callspec", None)
            if "spec_test" in getattr(item, "fixturenames", ()) and callspec is not None \
                    and callspec.params.get("engine") == engine.name:
                cases.update(record_spec_cases(item.function, item.nodeid))
        classify_in_batches(engine, list(cases.values()))
        return cases


@pytest.fixture(scope="session")
def spec_batches(request) -> SpecBatches:
    return SpecBatches(request.session)


@pytest.fixture(scope="session")
def spec_cases_of():
    """record_spec_cases(test_function, label) -> {case_id: Case} (for tests/spec/test_batching.py)."""
    return record_spec_cases


@pytest.fixture
def spec_test(request, engine, differences):
    """Run one spec test's tables on the engine and check the expected columns."""

    def run(expected: str, *, config=None, index_date=None, **table_texts):
        tables = build_tables(**table_texts)
        if engine.batched:
            result = request.getfixturevalue("spec_batches").result(engine, tables, config, index_date)
        else:
            result = engine(tables, config=config, index_date=index_date)
        want = parse_table(expected)
        problems = differences(want, result, list(want.columns))
        assert not problems, "\n".join(problems)

    return run
