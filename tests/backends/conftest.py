"""Fixtures for the backend tests: a PostgreSQL connection and one PySpark session per run.

PostgreSQL: `bash scripts/ci-services.sh` starts a local server and prints TRDPATH_TEST_POSTGRES_URL.
Without that variable the PostgreSQL tests are skipped on a developer machine, but FAIL under CI
(CI=true), so CI cannot silently stop testing a backend.
"""

from __future__ import annotations

import gc
import os
import uuid

import pytest

from trdpath import engines

POSTGRES_URL_VARIABLE = "TRDPATH_TEST_POSTGRES_URL"


def _under_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


@pytest.fixture(scope="session")
def postgres_url() -> str:
    url = os.environ.get(POSTGRES_URL_VARIABLE, "").strip()
    if not url:
        message = (f"{POSTGRES_URL_VARIABLE} is not set; start a server with "
                   f"`eval \"$(bash scripts/ci-services.sh)\"`")
        if _under_ci():
            pytest.fail(f"CI=true but {message}", pytrace=False)
        pytest.skip(message)
    return url


@pytest.fixture(scope="session")
def postgres_server(postgres_url):
    """One connection per test session; each test gets its own schema (xdist workers share the server)."""
    con = engines.connect("postgres", postgres_url)  # a BackendError here fails the test: server expected
    yield con
    con.disconnect()


@pytest.fixture
def postgres_con(postgres_server, postgres_url):
    """A PostgreSQL connection whose tables live in a fresh schema, dropped afterwards."""
    schema = f"trdpath_test_{uuid.uuid4().hex[:10]}"
    postgres_server.raw_sql(f'CREATE SCHEMA "{schema}"').close()
    con = engines.connect("postgres", postgres_url)
    con.raw_sql(f'SET search_path TO "{schema}", public').close()
    con.test_schema = schema
    yield con
    gc.collect()  # ibis drops cached tables when their expressions are collected: do it while connected
    con.disconnect()
    postgres_server.raw_sql(f'DROP SCHEMA "{schema}" CASCADE').close()


@pytest.fixture(scope="session")
def spark_con():
    """One local[2] Spark session for the whole run (TEST_SPARK_SETTINGS of tests/conftest.py); every Spark
    test is in one xdist group, so under -n 2 only one worker starts it."""
    pytest.importorskip("pyspark")
    con = engines.connect("pyspark")
    yield con
    con._session.stop()


BACKEND_FIXTURES = {"duckdb": None, "postgres": "postgres_con", "pyspark": "spark_con"}


@pytest.fixture(params=list(BACKEND_FIXTURES))
def any_con(request):
    """A connection to each backend in turn (DuckDB in memory, a fresh PostgreSQL schema, Spark)."""
    fixture = BACKEND_FIXTURES[request.param]
    return engines.connect("duckdb") if fixture is None else request.getfixturevalue(fixture)
