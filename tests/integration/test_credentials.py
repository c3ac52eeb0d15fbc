"""A password given to trdpath is never printed or written (issue 14 item 6; docs/security.md "Credentials").

The password `Sup3rS3cret` goes through every main entry point (flat, OMOP and Spark URLs, the
TRDPATH_POSTGRES_URL environment variable, format typos, unknown schemes and drivers, a refused
connection); stdout, stderr and every file written are searched for it.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from support.cli import run_trdpath
from trdpath import api, engines
from trdpath.errors import UserError

SECRET = "Sup3rS3cret"
CLOSED = "127.0.0.1:9"  # the discard port: nothing listens there, the connection is refused at once
EXTRACT = {
    "patients.csv": "patient_id,birth_date,sex\n1,1980-01-01,F\n",
    "diagnoses.csv": "patient_id,code,date\n1,F32.1,2020-01-10\n",
    "prescriptions.csv": "patient_id,drug,start_date,end_date,days_supply,daily_dose_mg\n1,sertraline,2020-01-10,,28,50\n",
}


def trdpath(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """`trdpath ARGS` in the test's process (tests/support/cli.py: its stdout, stderr, file descriptors 1
    and 2, warnings and log records are all searched), ~1.5 s of imports less than a new process."""
    return run_trdpath(*args, env=env)


def assert_not_shown(proc: subprocess.CompletedProcess, folder: Path, *fragments: str) -> None:
    assert proc.returncode == 2, proc.stderr
    shown = proc.stdout + proc.stderr
    assert SECRET not in shown and "Traceback" not in shown, shown
    message = " ".join(proc.stderr.split())
    for fragment in fragments:
        assert fragment in message, message
    for path in folder.rglob("*"):
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes(), path


@pytest.mark.parametrize(("data", "fragments"), [
    # a format typo in a PostgreSQL URL (OMOP or flat)
    (f"postgresql://alice:{SECRET}@{CLOSED}/cdm?schema=cdm&format=flta",
     ["postgresql://alice:***@", "format 'flta' is not one of"]),
    # an unknown scheme, and a bad driver name
    (f"mysql://alice:{SECRET}@{CLOSED}/cdm", ["mysql://alice:***@", "unknown scheme 'mysql://'"]),
    (f"postgresql+asyncpg://alice:{SECRET}@{CLOSED}/cdm", ["postgresql+asyncpg://alice:***@", "unknown scheme"]),
    # a Spark master URL with a format typo
    (f"spark://alice:{SECRET}@{CLOSED}/cdm?format=omopp", ["spark://alice:***@", "format 'omopp'"]),
    # the server refuses the connection (a password in the URL, and one in the query string)
    (f"postgresql://alice:{SECRET}@{CLOSED}/cdm?schema=cdm", ["Cannot connect to PostgreSQL at 127.0.0.1:9"]),
    (f"postgresql://alice@{CLOSED}/cdm?password={SECRET}", ["Cannot connect to PostgreSQL at 127.0.0.1:9"]),
])
@pytest.mark.parametrize("command", ["classify", "run"])
def test_data_urls_never_show_the_password(tmp_path, data, fragments, command):
    proc = trdpath(command, "--data", data, "--out", str(tmp_path / "out"), "--quiet")
    assert_not_shown(proc, tmp_path, *fragments)
    assert not (tmp_path / "out").exists()


def test_the_environment_variable_never_shows_the_password(tmp_path):
    for name, text in EXTRACT.items():
        (tmp_path / "data").mkdir(exist_ok=True)
        (tmp_path / "data" / name).write_text(text)
    proc = trdpath("classify", "-d", str(tmp_path / "data"), "-o", str(tmp_path / "out"), "-q", "-b", "postgres",
                   env={"TRDPATH_POSTGRES_URL": f"postgresql://alice:{SECRET}@{CLOSED}/trd"})
    assert_not_shown(proc, tmp_path, "Cannot connect to PostgreSQL at 127.0.0.1:9")


@pytest.mark.postgres
def test_a_real_server_with_a_password_in_the_url(tmp_path):
    """Refused (wrong password) or accepted (a server that trusts local users, as the test server does,
    then stopping at the missing schema): either way the message names the server, not the password."""
    real = os.environ.get("TRDPATH_TEST_POSTGRES_URL")
    if not real:
        pytest.skip("needs TRDPATH_TEST_POSTGRES_URL")
    from urllib.parse import urlsplit

    parts = urlsplit(real)
    url = f"postgresql://{parts.username}:{SECRET}@{parts.hostname}:{parts.port}{parts.path}?schema=cdm"
    url = url.replace("?schema=cdm", "?schema=no_such_schema_here")
    proc = trdpath("classify", "--data", url, "--out", str(tmp_path / "out"), "-q")
    assert_not_shown(proc, tmp_path, "PostgreSQL")


def test_a_spark_master_that_cannot_start(monkeypatch):
    pyspark_sql = pytest.importorskip("pyspark.sql")

    class Builder:  # Spark's own error repeats the master URL, password included
        def master(self, url):
            self.url = url
            return self

        def appName(self, name):
            return self

        def config(self, key, value):
            return self

        def getOrCreate(self):
            raise RuntimeError(f"Could not connect to master {self.url}")

    monkeypatch.setattr(pyspark_sql.SparkSession, "getActiveSession", staticmethod(lambda: None))
    monkeypatch.setattr(pyspark_sql.SparkSession, "builder", Builder())
    location = engines.backend_from_url(f"spark://alice:{SECRET}@{CLOSED}/cdm")
    assert SECRET not in location.display and "spark://alice:***@" in location.display
    with pytest.raises(UserError) as failure:
        engines.connect("pyspark", location.url)
    assert SECRET not in str(failure.value) and "spark://alice:***@127.0.0.1:9" in str(failure.value)


def test_metadata_and_report_source_are_masked(tmp_path, monkeypatch):
    """A successful run from a URL: the source is written into metadata.json, the report and tables.xlsx."""
    from trdpath import output

    result = api.classify_tables({
        "patients": pd.DataFrame({"patient_id": ["1", "2"], "birth_date": ["1980-01-01"] * 2, "sex": ["F", "M"]}),
        "diagnoses": pd.DataFrame({"patient_id": ["1", "2"], "code": ["F32.1", "F33"], "date": ["2020-01-10"] * 2}),
        "prescriptions": pd.DataFrame({"patient_id": ["1", "2"], "drug": ["sertraline"] * 2,
                                       "start_date": ["2020-01-10"] * 2, "days_supply": [28, 28],
                                       "daily_dose_mg": [50.0, 50.0]}),
    })
    # as read from postgresql://...: the Extract's source as an unmasked reader would give it
    result = dataclasses.replace(result, source=f"postgresql://alice:{SECRET}@db/cdm (schema cdm)")
    meta = output.run_metadata(result)
    assert meta["source"] == "postgresql://alice:***@db/cdm (schema cdm)"
    from trdpath.report import write_report

    write_report(tmp_path / "out", result.patients, result.attrition, result.config, meta)
    write_report(tmp_path / "out2", result.patients, result.attrition, result.config,
                 {**meta, "source": result.source})  # even when handed the raw text
    for path in (tmp_path).rglob("*"):
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes(), path
    assert "postgresql://alice:***@db" in json.dumps(meta, default=str)
