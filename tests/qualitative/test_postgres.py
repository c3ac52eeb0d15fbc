"""The same project on PostgreSQL (team server) as on SQLite. Needs TRDPATH_TEST_POSTGRES_URL; a throw-away
database is created on that server and dropped afterwards."""

from __future__ import annotations

import os
import uuid

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DatabaseError

from trdpath.qualitative.agreement import agreement_by_code, segments_frame
from trdpath.qualitative.demo import build_demo_project

from .test_refi import snapshot

URL = os.environ.get("TRDPATH_TEST_POSTGRES_URL")
pytestmark = [pytest.mark.postgres,
              pytest.mark.skipif(not URL, reason="set TRDPATH_TEST_POSTGRES_URL to a PostgreSQL server")]


@pytest.fixture
def postgres_url():
    name = f"trdpath_qual_{uuid.uuid4().hex[:10]}"
    admin = create_engine(URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    yield make_url(URL).set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def test_demo_project_on_postgresql_equals_sqlite(postgres_url, demo_project):
    on_postgres = build_demo_project(postgres_url)
    try:
        assert snapshot(on_postgres) == snapshot(demo_project)
        columns = ["code", "agreement_pct", "kappa", "krippendorff_alpha"]
        pg = agreement_by_code(segments_frame(on_postgres))[columns]
        lite = agreement_by_code(segments_frame(demo_project))[columns]
        assert pg.round(12).values.tolist() == lite.round(12).values.tolist()
        with pytest.raises(DatabaseError, match="append-only"):
            with on_postgres.engine.begin() as conn:
                conn.execute(text("DELETE FROM change_log"))
    finally:
        on_postgres.close()
