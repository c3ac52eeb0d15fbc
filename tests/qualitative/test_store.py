"""The project store: SQLite settings, migrations with backup, the append-only change log, atomicity."""

from __future__ import annotations

import shutil
import sqlite3

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import select, text
from sqlalchemy.exc import DatabaseError

from trdpath.errors import BackendError, UserError
from trdpath.qualitative import models as m
from trdpath.qualitative import store
from trdpath.qualitative.coding import get_code
from trdpath.qualitative.store import codebook_history, create_project, open_project


def test_sqlite_uses_wal_and_enforces_foreign_keys(tmp_path):
    project = create_project(tmp_path / "p.qual", "t")
    with project.engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
    with pytest.raises(BackendError, match="FOREIGN KEY constraint failed"):
        with project.transaction() as s:
            s.add(m.Segment(document_id=999, code_id=999, start=0, end=1))
    project.close()


def _fk_key(constraint):
    return (constraint.parent.name, tuple(c.name for c in constraint.columns), constraint.referred_table.name)


def test_migrated_schema_matches_the_models(tmp_path):
    project = create_project(tmp_path / "p.qual", "t")
    with project.engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn), m.Base.metadata)
        # SQLAlchemy does not read ON DELETE from a column-level REFERENCES (the only form SQLite's ADD COLUMN
        # takes, used by migration 0002), so it reports those keys as removed and re-added; check them with
        # SQLite's own PRAGMA instead.
        removed = {_fk_key(d[1]) for d in diffs if d[0] == "remove_fk"}
        added = {_fk_key(d[1]): d[1].ondelete for d in diffs if d[0] == "add_fk"}
        assert removed == set(added)
        for (table, columns, target), on_delete in added.items():
            rows = conn.execute(text(f"PRAGMA foreign_key_list({table})")).all()
            assert [(r[2], r[6]) for r in rows if r[3] == columns[0]] == [(target, on_delete)]
    assert [d for d in diffs if d[0] not in ("remove_fk", "add_fk")] == []
    project.close()


def test_segment_offsets_must_be_a_non_empty_span(tmp_path):
    project = create_project(tmp_path / "p.qual", "t")
    with pytest.raises(BackendError, match="segment_span"):
        with project.transaction() as s:
            d = m.Document(name="d", text="hello")
            c = m.Code(name="c")
            s.add_all([d, c])
            s.flush()
            s.add(m.Segment(document=d, code=c, start=3, end=3))
    project.close()


def test_change_log_records_who_and_what_and_refuses_edits(tmp_path):
    project = create_project(tmp_path / "p.qual", "t")
    with project.transaction("Alex") as s:
        get_code(s, "Barriers / Waiting lists")
    with project.transaction("Sam") as s:
        code = s.scalar(select(m.Code).where(m.Code.name == "Waiting lists"))
        code.name = "Long waits"
        code.definition = "Waiting for psychology"
    history = codebook_history(project)
    assert history["action"].tolist() == ["create", "create", "update"]
    assert history["who"].tolist() == ["Alex", "Alex", "Sam"]
    assert history.iloc[2]["details"]["name"] == ["Waiting lists", "Long waits"]
    assert history.iloc[2]["details"]["definition"] == [None, "Waiting for psychology"]
    with project.engine.begin() as conn:
        with pytest.raises(DatabaseError, match="append-only"):
            conn.execute(text("UPDATE change_log SET who = 'Mallory'"))
    with project.engine.begin() as conn:
        with pytest.raises(DatabaseError, match="append-only"):
            conn.execute(text("DELETE FROM change_log"))
    assert len(codebook_history(project)) == 3
    project.close()


def test_a_failed_transaction_leaves_nothing(tmp_path):
    project = create_project(tmp_path / "p.qual", "t")
    with pytest.raises(RuntimeError):
        with project.transaction("Alex") as s:
            get_code(s, "Theme / Code")
            s.flush()
            raise RuntimeError("crash half-way")
    with project.reading() as s:
        assert s.scalars(select(m.Code)).all() == []
        assert s.scalars(select(m.ChangeLog).where(m.ChangeLog.entity == "code")).all() == []
    project.close()


def test_create_refuses_existing_and_open_refuses_missing(tmp_path):
    create_project(tmp_path / "p.qual", "t").close()
    with pytest.raises(UserError, match="already exists"):
        create_project(tmp_path / "p.qual", "t")
    with pytest.raises(UserError, match="no project here"):
        open_project(tmp_path / "missing.qual")


NEW_MIGRATION = '''"""add a code abbreviation"""
from alembic import op
import sqlalchemy as sa

revision = "9999"
down_revision = "{head}"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("code") as batch_op:
        batch_op.add_column(sa.Column("abbreviation", sa.String(20), nullable=True))


def downgrade():
    with op.batch_alter_table("code") as batch_op:
        batch_op.drop_column("abbreviation")
'''


def test_opening_an_older_project_backs_it_up_then_migrates(tmp_path, monkeypatch):
    path = tmp_path / "p.qual"
    project = create_project(path, "t")
    with project.transaction("Alex") as s:
        get_code(s, "Hope")
    project.close()
    # A newer version of trdpath ships migration 9999.
    migrations = tmp_path / "migrations"
    shutil.copytree(store.MIGRATIONS_DIR, migrations, ignore=shutil.ignore_patterns("__pycache__"))
    head = store.head_revision()  # the newest shipped revision; the "newer version" builds on it
    (migrations / "versions" / "9999_abbreviation.py").write_text(NEW_MIGRATION.replace("{head}", head))
    monkeypatch.setattr(store, "MIGRATIONS_DIR", migrations)

    reopened = open_project(path)
    assert reopened.backup is not None and reopened.backup.exists()
    assert reopened.backup.name.startswith(f"p.backup-{head}-")
    with reopened.engine.connect() as conn:
        assert MigrationContext.configure(conn).get_current_revision() == "9999"
        columns = [row[1] for row in conn.execute(text("PRAGMA table_info(code)"))]
    assert "abbreviation" in columns
    reopened.close()
    # The backup is the project as it was: old revision, old schema, same data.
    with sqlite3.connect(reopened.backup) as old:
        assert old.execute("SELECT version_num FROM alembic_version").fetchone() == (head,)
        assert old.execute("SELECT name FROM code").fetchall() == [("Hope",)]
        assert "abbreviation" not in [r[1] for r in old.execute("PRAGMA table_info(code)")]
    # Opening again at the newest revision makes no further backup.
    again = open_project(path)
    assert again.backup is None
    again.close()


def test_upgrading_a_revision_0001_project_keeps_every_segment_and_memo(tmp_path):
    # Migration 0002 adds columns with foreign keys; on SQLite a copy-and-move of `document` would cascade-delete
    # every segment (foreign keys are on), so this checks the data of an old project survives the upgrade.
    from alembic import command


    path = tmp_path / "old.qual"
    engine = store._make_engine(store.project_url(path))
    with engine.begin() as conn:
        command.upgrade(store.alembic_config(conn), "0001")
        conn.execute(text("INSERT INTO project_info (id, guid, name, created_at) VALUES (1, 'g', 'old', '2024-01-01')"))
        conn.execute(text("INSERT INTO document (id, guid, name, text, created_at) VALUES (1, 'd', 'P1', 'hello', "
                          "'2024-01-01')"))
        conn.execute(text("INSERT INTO code (id, guid, name, position, is_codable) VALUES (1, 'c', 'Hope', 0, 1)"))
        conn.execute(text("INSERT INTO segment (id, guid, document_id, code_id, start_offset, end_offset, created_at) "
                          "VALUES (1, 's', 1, 1, 0, 5, '2024-01-01')"))
        conn.execute(text("INSERT INTO memo (id, guid, text, segment_id, created_at) VALUES (1, 'm', 'note', 1, "
                          "'2024-01-01')"))
    engine.dispose()
    project = open_project(path)
    assert project.backup is not None
    with project.reading() as s:
        assert [(x.document.name, x.code.name, x.start, x.end, x.selection_id) for x in s.scalars(select(m.Segment))] \
            == [("P1", "Hope", 0, 5, None)]
        assert [(x.text, x.segment_id) for x in s.scalars(select(m.Memo))] == [("note", 1)]
    project.close()

