"""Batching is sound: a spec case classified inside a merged extract gives exactly what it gives alone.

Batched engines (PySpark, PostgreSQL) run the spec tests through tests/spec/batching.py. That is only right if
classifying a case together with other cases changes nothing for its patients. Here every spec
case is classified on DuckDB both ways and every output column is compared.
"""

from __future__ import annotations

import datetime as dt
import importlib
from pathlib import Path

import pandas as pd
import pytest

from conftest import ENGINE_XDIST_GROUPS, classify_alone_on_duckdb
from spec.batching import Case, batch_key, classify_in_batches, group_cases, merge_tables, split_result
from trdpath.config import StudyConfig, config_from_dict

SPEC_FILES = sorted(path for path in Path(__file__).parent.glob("test_*.py") if path.name != Path(__file__).name)


def all_spec_cases(spec_cases_of) -> list[Case]:
    cases = {}
    for path in SPEC_FILES:
        module = importlib.import_module(f"spec.{path.stem}")
        for name, function in vars(module).items():
            if name.startswith("test_") and callable(function) and function.__code__.co_varnames[:1] == ("spec_test",):
                cases.update(spec_cases_of(function, f"{path.name}::{name}"))
    return list(cases.values())


# The DuckDB spec tests' own results are reused for "alone" (one classification per case per run).
pytestmark = pytest.mark.xdist_group(ENGINE_XDIST_GROUPS["duckdb"])


def classify_on_duckdb(tables, config=None, index_date=None) -> pd.DataFrame:
    return classify_alone_on_duckdb(tables, config, index_date)


def test_every_spec_case_gives_the_same_patients_in_a_batch_as_alone(spec_cases_of, differences):
    cases = all_spec_cases(spec_cases_of)
    assert len(cases) >= 50  # every spec test was found
    batches = group_cases(cases)
    # There is something to prove: most cases share a batch with others.
    assert sum(len(batch) for batch in batches if len(batch) > 1) >= len(cases) // 2
    classify_in_batches(classify_on_duckdb, cases)
    for case in cases:
        alone = classify_on_duckdb(case.tables, config=case.config, index_date=case.index_date)
        batched = case.patients()
        assert list(batched.columns) == list(alone.columns), case.label
        problems = differences(alone, batched, list(alone.columns))
        assert not problems, case.label + ":\n" + "\n".join(problems)


def _case(index_date=None, config=None, event="", **extra_tables) -> Case:
    """One patient; `event` dates a diagnosis (the default index date is the latest EVENT date: births and
    deaths never set it, study-definition.md 1); "" gives the case no event at all."""
    tables = {"patients": pd.DataFrame({"patient_id": ["1"], "birth_date": ["1970-01-01"]}), **extra_tables}
    if event != "":
        tables["diagnoses"] = pd.DataFrame({"patient_id": ["1"], "code": ["F32.1"], "date": [event]})
    return Case(tables, config, index_date)


def test_cases_share_a_batch_only_with_the_same_configuration_index_date_and_tables():
    day = dt.date(2021, 12, 31)
    referrals = pd.DataFrame({"patient_id": ["1"], "service": ["CMHT"], "date": ["2021-01-01"]})
    from_config = config_from_dict({"study": {"index_date": "2021-12-31"}})
    cases = [
        _case(day), _case(day, StudyConfig()),                       # 0, 1: together (None = default config)
        _case(day, config_from_dict({"trd": {"failed_trials": 3}})),  # 2: another configuration
        _case(dt.date(2021, 6, 30)),                                 # 3: another index date
        _case(day, referrals=referrals),                             # 4: another set of tables
        _case(None, event="2020-01-01"), _case(None, event="2020-06-01"),  # 5, 6: different latest dates
        _case(None, event="2020-01-01"),                             # 7: with 5 (the same latest date)
        _case(None, event="2021-12-31"),                             # 8: latest date = day, but not given: not with 0
        _case(None),                                                 # 9: no event dates at all (a birth date only): alone
        _case(None, from_config), _case(day, from_config),           # 10, 11: the configuration's index date
    ]
    assert batch_key(cases[9]) is None
    groups = [[cases.index(case) for case in batch] for batch in group_cases(cases)]
    assert groups == [[0, 1], [2], [3], [4], [5, 7], [6], [8], [9], [10, 11]]


def test_merged_ids_are_unique_and_split_back():
    first = Case({"patients": pd.DataFrame({"patient_id": ["1", "2"], "sex": ["F", "M"]})})
    second = Case({"patients": pd.DataFrame({"patient_id": ["1"], "sex": ["M"], "ethnicity": ["A"]})})
    merged = merge_tables([first, second])["patients"]
    assert list(merged["patient_id"]) == ["0|1", "0|2", "1|1"]
    assert merged["ethnicity"].isna().tolist() == [True, True, False]  # absent column: missing
    # the engine may return patients in any order
    parts = split_result(merged.iloc[[2, 1, 0]].reset_index(drop=True), 2)
    assert parts[0][["patient_id", "sex"]].to_dict("list") == {"patient_id": ["2", "1"], "sex": ["M", "F"]}
    assert parts[1][["patient_id", "sex", "ethnicity"]].to_dict("list") == {
        "patient_id": ["1"], "sex": ["M"], "ethnicity": ["A"]}
