"""Shared fixtures: the engines every spec test and the generative test run on.

An engine is called as ``engine(tables, config=None, index_date=None) -> patients DataFrame``
(one row per patient, the columns of schema.PATIENT_COLUMNS) and knows its ``name``.
``in_memory`` is the plain-Python reference (trdpath.in_memory) that defines the rules; the others
go through the public API ``trdpath.api.classify_tables`` with a backend. To add a backend, add its
name to ENGINES (and, if it needs a server or Java, a condition in ``_engine_unavailable``).

Engines in BATCHED_ENGINES (PySpark: ~20 s per classification whatever the size) are not called
once per spec test or Hypothesis example: the cases are merged into a few large extracts and
classified together (tests/spec/batching.py), and each test then checks its own patients. Their
tests share the xdist group ``backends`` with tests/backends, so one worker starts one Spark session.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import pandas as pd
import pytest

from trdpath.config import StudyConfig
from trdpath.in_memory import classify_in_memory

# The reference first; every other engine must agree with it.
REFERENCE_ENGINE = "in_memory"
ENGINES = ["in_memory", "duckdb", "postgres", "pyspark"]
BATCHED_ENGINES = {"pyspark"}
# tests/backends uses this group too: every test that starts Spark runs in the same xdist worker.
SPARK_XDIST_GROUP = "backends"


@dataclass(frozen=True)
class Engine:
    name: str
    classify: Callable[..., pd.DataFrame]  # (tables, config, index_date) -> patients table

    @property
    def batched(self) -> bool:
        """Too slow to classify each spec case alone: tests give it merged extracts instead."""
        return self.name in BATCHED_ENGINES

    def __call__(self, tables: Mapping[str, pd.DataFrame], config: StudyConfig | None = None,
                 index_date: dt.date | None = None) -> pd.DataFrame:
        return self.classify(tables, config, index_date)


def engine_param(name: str):
    """A fixture parameter for the engine `name`: batched (Spark) engines go to the Spark worker."""
    if name in BATCHED_ENGINES:
        return pytest.param(name, marks=pytest.mark.xdist_group(SPARK_XDIST_GROUP))
    return name


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "generative: Hypothesis property test comparing an engine with the reference"
    )


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config, items):
    """Make ``--dist loadgroup`` honour ``xdist_group`` marks again (pytest 9 with pytest-xdist 3.8).

    xdist tells the controller a test's group by appending ``@GROUP`` to its node id, which it sets
    as ``item._nodeid``; pytest 9 keeps node ids in ``item._id`` and no longer reads ``_nodeid``, so
    every grouped test was scheduled on its own (both workers started Spark and each classified all
    the batched spec tests). pytest-xdist issue #1386, fix proposed in PR #1388, does the same as here.
    Does nothing when xdist already added the suffix, or without ``--dist loadgroup``.
    """
    if not getattr(config.option, "loadgroup", False):
        return
    try:
        from _pytest.nodeid import NodeId
    except ImportError:  # pytest < 9: xdist's own suffix works
        return
    for item in items:
        mark = item.get_closest_marker("xdist_group")
        if mark is None or "@" in item.nodeid.rpartition("]")[2]:
            continue
        group = mark.args[0] if mark.args else mark.kwargs.get("name", "default")
        item._id = NodeId.parse(f"{item.nodeid}@{group}")


def _engine_unavailable(name: str) -> str | None:
    """Why a backend cannot run on this machine (None when it can)."""
    if name == "postgres":
        if not os.environ.get("TRDPATH_TEST_POSTGRES_URL"):
            return "TRDPATH_TEST_POSTGRES_URL is not set"
    if name == "pyspark":
        import importlib.util
        import shutil

        if importlib.util.find_spec("pyspark") is None or shutil.which("java") is None:
            return "PySpark or Java is not installed"
    return None


def make_engine(name: str) -> Engine:
    if name == REFERENCE_ENGINE:
        return Engine(name, lambda tables, config, index_date: classify_in_memory(
            tables, config or StudyConfig(), index_date=index_date))

    reason = _engine_unavailable(name)
    if reason:
        if os.environ.get("CI") == "true":  # CI starts every service: a missing one is a failure
            pytest.fail(f"engine {name}: {reason}")
        pytest.skip(f"engine {name}: {reason}")
    try:
        from trdpath.api import classify_tables
    except ImportError as exc:  # the engine is built on main (issue 2); say so plainly
        pytest.fail(f"engine {name}: trdpath.api.classify_tables is not available ({exc})")

    return Engine(name, lambda tables, config, index_date: classify_tables(
        tables, config or StudyConfig(), index_date=index_date, backend=name).patients)


@pytest.fixture(params=[engine_param(e) for e in ENGINES], scope="session")
def engine(request) -> Engine:
    """Each engine in turn (spec tests run on all of them; on batched engines see tests/spec/conftest.py)."""
    return make_engine(request.param)


@pytest.fixture(params=[e for e in ENGINES if e != REFERENCE_ENGINE and e not in BATCHED_ENGINES], scope="session")
def engine_under_test(request) -> Engine:
    """Each engine other than the reference that is fast enough to run one Hypothesis example at a time."""
    return make_engine(request.param)


@pytest.fixture(params=[engine_param(e) for e in ENGINES if e != REFERENCE_ENGINE], scope="session")
def batch_engine_under_test(request) -> Engine:
    """Each engine other than the reference, for tests that give it a few large batched extracts."""
    return make_engine(request.param)


# ---------------------------------------------------------------------------------------------
# Comparing a patients table with expected values, whatever types an engine returns
# ---------------------------------------------------------------------------------------------

BOOL_COLUMNS = {"in_cohort", "psychotic_symptoms", "augmented", "trd", "died",
                "self_harm_nlp", "suicidal_ideation_nlp", "suicide_attempt_nlp", "self_harm_any"}
DATE_COLUMNS = {"trd_date", "episode_start"}
INT_COLUMNS = {"n_antidepressants", "n_adequate_trials", "age", "age_at_diagnosis", "age_at_death"}


def column_kind(column: str) -> str:
    from trdpath.reference import COMORBIDITY_FLAGS
    from trdpath.schema import REFERRAL_COLUMNS

    if column in BOOL_COLUMNS or column in COMORBIDITY_FLAGS:
        return "bool"
    if column in DATE_COLUMNS:
        return "date"
    if column in INT_COLUMNS or column in REFERRAL_COLUMNS:
        return "int"
    return "str"


def _missing(value) -> bool:
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    if isinstance(value, float) and value != value:
        return True
    return isinstance(value, str) and value.strip() == ""


def normalise(column: str, value):
    """One comparable Python value: None for empty (None, NaN, NaT, ""), else bool/int/date/str."""
    if _missing(value):
        return None
    kind = column_kind(column)
    if kind == "bool":
        if isinstance(value, str):
            return {"t": True, "true": True, "f": False, "false": False}[value.strip().lower()]
        return bool(value)
    if kind == "int":
        return int(value)
    if kind == "date":
        if isinstance(value, str):
            return dt.date.fromisoformat(value.strip()[:10])
        if isinstance(value, dt.datetime):  # also pandas.Timestamp
            return value.date()
        return value
    return str(value).strip()


def patient_differences(expected: pd.DataFrame, actual: pd.DataFrame, columns) -> list[str]:
    """Human-readable differences between two patients tables on the given columns."""
    problems = []
    actual_by_id = {str(row["patient_id"]): row for row in actual.to_dict("records")}
    if len(actual_by_id) != len(actual):
        problems.append(f"patient_id is not unique in the result ({len(actual)} rows)")
    expected_ids = [str(p) for p in expected["patient_id"]]
    if sorted(expected_ids) != sorted(actual_by_id):
        problems.append(f"patients: expected {sorted(expected_ids)}, got {sorted(actual_by_id)}")
    for row in expected.to_dict("records"):
        got = actual_by_id.get(str(row["patient_id"]))
        if got is None:
            continue
        for column in columns:
            if column == "patient_id":
                continue
            if column not in got:
                problems.append(f"column {column} is missing from the result")
                continue
            want, have = normalise(column, row[column]), normalise(column, got[column])
            if want != have:
                problems.append(f"patient {row['patient_id']}: {column} expected {want!r}, got {have!r}")
    return problems


@pytest.fixture(scope="session")
def differences():
    """patient_differences(expected, actual, columns) -> list of readable problems."""
    return patient_differences
