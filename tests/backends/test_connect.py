"""Connecting to backends and finding tables: every failure is one BackendError that names the problem."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pandas as pd
import pytest

from trdpath import engines
from trdpath.sources.folder import read_folder
from trdpath.errors import BackendError

pytestmark = pytest.mark.xdist_group("backends")


def closed_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_unknown_backend_names_the_choices():
    with pytest.raises(BackendError) as err:
        engines.connect("oracle")
    assert str(err.value) == "Unknown backend 'oracle'; choose one of: duckdb, postgres, pyspark."


def test_refused_postgres_connection_is_one_clear_message():
    port = closed_port()
    with pytest.raises(BackendError) as err:
        engines.connect("postgres", f"postgresql://someone:secret@127.0.0.1:{port}/cdm")
    message = str(err.value)
    assert message.startswith(f"Cannot connect to PostgreSQL at 127.0.0.1:{port}, database 'cdm': connection refused")
    assert "secret" not in message  # the password never appears in messages


def test_postgres_needs_a_url(monkeypatch):
    monkeypatch.delenv("TRDPATH_POSTGRES_URL", raising=False)
    with pytest.raises(BackendError, match="needs a URL"):
        engines.connect("postgres")


def test_postgres_url_from_the_environment(monkeypatch):
    port = closed_port()
    monkeypatch.setenv("TRDPATH_POSTGRES_URL", f"postgresql://u@127.0.0.1:{port}/from_env")
    with pytest.raises(BackendError, match=f"127.0.0.1:{port}, database 'from_env': connection refused"):
        engines.connect("postgres")


@pytest.mark.parametrize(
    ("data", "backend", "fmt", "url", "path", "schema"),
    [
        ("extract", "duckdb", "flat", None, Path("extract"), None),
        ("flat:/data/x", "duckdb", "flat", None, Path("/data/x"), None),
        ("omop:/data/cdm", "duckdb", "omop", None, Path("/data/cdm"), None),
        ("postgresql://u:p@db:5433/warehouse?schema=cdm", "postgres", "omop",
         "postgresql://u:p@db:5433/warehouse", None, "cdm"),
        ("postgres://u@db/warehouse", "postgres", "omop", "postgresql://u@db/warehouse", None, "public"),
        ("postgresql://u@db/w?schema=extract&format=flat", "postgres", "flat", "postgresql://u@db/w", None, "extract"),
        ("spark:cdm", "pyspark", "omop", None, None, "cdm"),
        ("spark:", "pyspark", "omop", None, None, None),
        ("spark://master:7077/cdm_v54", "pyspark", "omop", "spark://master:7077", None, "cdm_v54"),
    ],
)
def test_backend_from_url(data, backend, fmt, url, path, schema):
    location = engines.backend_from_url(data)
    assert (location.backend, location.format, location.url, location.path, location.schema) == (
        backend, fmt, url, path, schema)


def test_backend_from_url_hides_the_password_in_display():
    location = engines.backend_from_url("postgresql://u:hunter2@db/w?schema=cdm")
    assert location.display == "postgresql://u:***@db/w (schema cdm)"


@pytest.mark.parametrize("data", ["mysql://u@h/db", "postgresql://u@h/db?format=fhir", ""])
def test_backend_from_url_rejects_what_it_cannot_read(data):
    with pytest.raises(BackendError):
        engines.backend_from_url(data)


def test_missing_table_is_named_duckdb():
    con = engines.connect("duckdb")
    engines.load_tables(con, {"person": pd.DataFrame({"person_id": [1]})}, prefix="")
    with pytest.raises(BackendError) as err:
        engines.require_tables(con, ["person", "condition_occurrence", "drug_exposure"])
    assert str(err.value) == ("DuckDB has no table 'condition_occurrence', 'drug_exposure' "
                              "(tables found: person).")


def test_missing_schema_and_table_postgres(postgres_con):
    with pytest.raises(BackendError) as err:
        engines.require_tables(postgres_con, ["person"], "no_such_cdm")
    assert str(err.value).startswith("Schema 'no_such_cdm' does not exist on PostgreSQL; schemas there: ")
    assert postgres_con.test_schema in str(err.value)
    with pytest.raises(BackendError) as err:
        engines.require_tables(postgres_con, ["person"], postgres_con.test_schema)
    assert str(err.value) == f"PostgreSQL has no table 'person' in schema '{postgres_con.test_schema}' (tables found: none)."


def test_missing_database_spark(spark_con):
    with pytest.raises(BackendError) as err:
        engines.require_tables(spark_con, ["person"], "no_such_cdm")
    assert str(err.value).startswith("Schema 'no_such_cdm' does not exist on Spark; schemas there: default")


def test_missing_file_in_a_folder_is_named(tmp_path):
    (tmp_path / "person.csv").write_text("person_id\n1\n", encoding="utf-8")
    con = engines.connect("duckdb")
    with pytest.raises(BackendError) as err:
        read_folder(con, tmp_path, ["person", "condition_occurrence"], kind="OMOP CDM table")
    assert str(err.value) == (f"{tmp_path} lacks the required OMOP CDM table(s) condition_occurrence: it has no "
                              "OMOP CDM table 'condition_occurrence' (expected NAME.csv or NAME.parquet; found: person.csv).")


def test_missing_folder_is_named(tmp_path):
    con = engines.connect("duckdb")
    with pytest.raises(BackendError, match="does not exist or is not a folder"):
        read_folder(con, tmp_path / "nowhere", ["person"])


def _duckdb_memory_limit_bytes(con) -> int:
    """DuckDB reports its limit rounded as text, e.g. '11.2 GiB'."""
    value, unit = con.raw_sql("SELECT current_setting('memory_limit')").fetchone()[0].split()
    return int(float(value) * {"KiB": 2**10, "MiB": 2**20, "GiB": 2**30, "TiB": 2**40}[unit])


def test_duckdb_gets_half_the_memory_unless_told():
    from trdpath.config import config_from_dict

    half = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2
    default = engines.connect("duckdb", engine=config_from_dict({}).engine)
    assert _duckdb_memory_limit_bytes(default) == pytest.approx(half, rel=0.01)
    told = engines.connect("duckdb", engine=config_from_dict({"engine": {"memory_limit": "300MB"}}).engine)
    assert _duckdb_memory_limit_bytes(told) == pytest.approx(300 * 10**6, rel=0.01)
