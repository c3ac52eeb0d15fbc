"""Shared fixtures: the engines every spec test and the generative test run on.

An engine is called as ``engine(tables, config=None, index_date=None) -> patients DataFrame``
(one row per patient, the columns of schema.PATIENT_COLUMNS) and knows its ``name``.
``in_memory`` is the plain-Python reference (trdpath.in_memory) that defines the rules; the others
go through the public API ``trdpath.api.classify_tables`` with a backend. To add a backend, add its
name to ENGINES (and, if it needs a server or Java, a condition in ``_engine_unavailable``).

Engines in BATCHED_ENGINES do not classify each spec case alone: the spec cases are merged into a
few large extracts (~17 runs instead of ~65) and classified together (tests/spec/batching.py), and
each test then checks its own patients. PySpark takes ~20 s per classification whatever the size;
PostgreSQL ~1-2 s (loading tables, a schema, a dozen queries). tests/spec/test_batching.py proves on
DuckDB, for every spec case, that a case gives exactly the same patients in a batch as alone, and
DuckDB's spec tests still classify each case alone. Each batched engine's spec tests share one xdist
group (ENGINE_XDIST_GROUPS), so one worker classifies the batches once. Hypothesis examples run one
at a time on every engine but the SLOW_ENGINES (PySpark), which get merged examples instead.
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
BATCHED_ENGINES = {"pyspark", "postgres"}  # spec cases classified in merged extracts
SLOW_ENGINES = {"pyspark"}  # too slow for one Hypothesis example per classification
# The xdist group of each engine whose spec results are shared: one worker classifies them once.
ENGINE_XDIST_GROUPS = {"pyspark": "spark-batches", "postgres": "postgres-batches",
                       "duckdb": "duckdb-alone"}  # DuckDB: test_batching reuses the cases classified alone
# Module-wide marks that once pinned every backend test to the Spark worker; ignored (see below).
LEGACY_SPARK_GROUP = "backends"
# Every test that uses Spark runs in this group (see pytest_collection_modifyitems): one JVM for all.
SPARK_XDIST_GROUP = ENGINE_XDIST_GROUPS["pyspark"]


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


# Spark settings for the test session only: every Spark session a test starts goes through
# trdpath.engines.connect, which reads SPARK_LOCAL_DEFAULTS, so they are set here, once, before any
# session exists. The extracts of the tests have a few rows, so what costs is planning and compiling
# each query, not running it (tests/README.md "Spark in the tests"). Results cannot change: these
# choose how Spark executes a plan, not what the plan computes; production keeps Spark's defaults.
TEST_SPARK_SETTINGS = {
    # Adaptive execution splits every query into more jobs (a one-person OMOP CDM: 244 jobs, 66 without).
    "spark.sql.adaptive.enabled": "false",
    # One task per stage: the rows fit in one.
    "spark.sql.shuffle.partitions": "1",
    "spark.default.parallelism": "1",
    # Interpreted operators: generating and compiling Java for each query costs more than a few rows.
    "spark.sql.codegen.wholeStage": "false",
    "spark.sql.codegen.factoryMode": "NO_CODEGEN",
    # A JVM that lives minutes: the quick JIT (C1) only, one GC thread (the machine has 2 cores).
    "spark.driver.extraJavaOptions": "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC",
    "spark.driver.memory": "1g",
}


def _use_test_spark_settings() -> None:
    try:
        from trdpath.engines.kinds import SPARK_LOCAL_DEFAULTS
    except ImportError:  # pragma: no cover - the engine layer is part of the package
        return
    SPARK_LOCAL_DEFAULTS.update(TEST_SPARK_SETTINGS)


_use_test_spark_settings()


def engine_param(name: str):
    """A fixture parameter for the engine `name`: the tests of an engine in ENGINE_XDIST_GROUPS go to one
    worker (its group), which computes what they share once (merged spec cases; DuckDB's single cases)."""
    if name in ENGINE_XDIST_GROUPS:
        return pytest.param(name, marks=pytest.mark.xdist_group(ENGINE_XDIST_GROUPS[name]))
    return name


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "generative: Hypothesis property test comparing an engine with the reference"
    )


def _uses_backend(item, backend: str, fixture: str) -> bool:
    """A test uses a backend when it asks for its fixture or one of its parameters names it (the engine
    and backend parameters: "pyspark", "postgres"/"postgresql")."""
    if fixture in getattr(item, "fixturenames", ()):
        return True
    names = {"spark": ("pyspark",), "postgres": ("postgres", "postgresql")}[backend]
    callspec = getattr(item, "callspec", None)
    return callspec is not None and any(isinstance(v, str) and v in names for v in callspec.params.values())


def pytest_itemcollected(item):
    """Mark every test that uses Spark ``spark`` and every test that uses PostgreSQL ``postgres``, so that
    ``-m "not spark"`` or ``-m "not postgres"`` leaves out exactly those (before ``-m`` deselects)."""
    for backend, fixture in (("spark", "spark_con"), ("postgres", "postgres_url")):
        if _uses_backend(item, backend, fixture) and item.get_closest_marker(backend) is None:
            item.add_marker(backend)


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config, items):
    """Under ``--dist loadgroup``: only tests that share a computation share a worker.

    A batched engine's spec tests (and the definitions atlas's spec cases, and the generative batched
    test) are grouped by ``engine_param`` (ENGINE_XDIST_GROUPS): their worker classifies the merged
    cases once. Every test that uses Spark (marked ``spark`` by pytest_itemcollected) joins the Spark
    group too, so one worker starts one JVM and warms its JIT once for all of them (a JVM start and
    warm-up is ~20-40 s of CPU on this machine's 2 cores) while the other worker runs the rest; the
    Spark tests are well under half the suite's CPU, so the two workers stay balanced. Every other test
    is scheduled freely. The module-wide ``xdist_group("backends")`` marks of tests/backends pinned
    the DuckDB and PostgreSQL variants to the Spark worker as well, which made it the long pole of the
    run while the other idled; that group name is ignored here.

    The group travels as an ``@GROUP`` suffix on the node id. pytest 9 keeps node ids in ``item._id``
    and no longer reads the ``_nodeid`` that pytest-xdist 3.8 sets, so every grouped test was scheduled
    on its own (pytest-xdist issue #1386, fix proposed in PR #1388); this hook sets ``_id`` as that fix
    does. Does nothing without ``--dist loadgroup``.
    """
    if not getattr(config.option, "loadgroup", False):
        return
    try:
        from _pytest.nodeid import NodeId
    except ImportError:  # pytest < 9
        NodeId = None  # noqa: N806
    for item in items:
        nodeid = item.nodeid
        head, bracket, tail = nodeid.rpartition("]")
        if "@" in tail:  # pytest-xdist already appended a group: decide again here
            nodeid = (head + bracket if bracket else "") + tail.rpartition("@")[0]
        mark = item.get_closest_marker("xdist_group")
        group = (mark.args[0] if mark.args else mark.kwargs.get("name", "default")) if mark else None
        if group == LEGACY_SPARK_GROUP:
            group = None
        if item.get_closest_marker("spark") is not None:
            group = SPARK_XDIST_GROUP
        new_id = f"{nodeid}@{group}" if group else nodeid
        if new_id == item.nodeid:
            continue
        if NodeId is not None:
            item._id = NodeId.parse(new_id)
        else:
            item._nodeid = new_id


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

    if name == "duckdb":
        return Engine(name, classify_alone_on_duckdb)
    return Engine(name, lambda tables, config, index_date: classify_tables(
        tables, config or StudyConfig(), index_date=index_date, backend=name).patients)


# DuckDB results of single cases, kept for the worker's session: the DuckDB spec tests classify each
# case alone, and tests/spec/test_batching.py needs exactly those results again to compare with its
# batches (they share an xdist group, ENGINE_XDIST_GROUPS["duckdb"], so the same worker holds both).
_DUCKDB_ALONE: dict[str, pd.DataFrame] = {}


def classify_alone_on_duckdb(tables: Mapping[str, pd.DataFrame], config: StudyConfig | None = None,
                             index_date: dt.date | None = None) -> pd.DataFrame:
    """``classify_tables(..., backend="duckdb").patients``, classified once per distinct input."""
    from trdpath.api import classify_tables

    key = "\n".join([*(f"{n}={f.to_json(orient='split')}" for n, f in sorted(tables.items())),
                     f"config={config.model_dump_json() if config else None}", f"index_date={index_date}"])
    if key not in _DUCKDB_ALONE:
        _DUCKDB_ALONE[key] = classify_tables(tables, config or StudyConfig(), index_date=index_date,
                                             backend="duckdb").patients
    return _DUCKDB_ALONE[key].copy()


@pytest.fixture(params=[engine_param(e) for e in ENGINES], scope="session")
def engine(request) -> Engine:
    """Each engine in turn (spec tests run on all of them; on batched engines see tests/spec/conftest.py)."""
    return make_engine(request.param)


@pytest.fixture(params=[e for e in ENGINES if e != REFERENCE_ENGINE and e not in SLOW_ENGINES], scope="session")
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
