"""Several coders on one project at once: no duplicated code or coder, no "database is locked" or IntegrityError
traceback, a clear message when a writer waits too long. Real threads (each with its own connection) and real
processes, on SQLite and on PostgreSQL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from sqlalchemy import func, select, text

from trdpath.errors import BackendError
from trdpath.qualitative import models as m
from trdpath.qualitative.coding import get_code, get_coder, import_transcripts
from trdpath.qualitative.demo import DEMO_DIR
from trdpath.qualitative.store import create_project, open_project

from .test_postgres import URL as POSTGRES_URL
from .test_postgres import postgres_url  # noqa: F401 - the fixture

SRC = Path(__file__).resolve().parents[2] / "src"


@pytest.fixture(params=["sqlite", "postgresql"])
def location(request, tmp_path):
    if request.param == "sqlite":
        return str(tmp_path / "team.qual")
    if not POSTGRES_URL:
        pytest.skip("set TRDPATH_TEST_POSTGRES_URL to a PostgreSQL server")
    return request.getfixturevalue("postgres_url")


def run_at_once(jobs):
    """Start every job in its own thread behind one barrier; return the exceptions they raised."""
    barrier = threading.Barrier(len(jobs))
    errors = []

    def wrapped(job):
        try:
            barrier.wait(timeout=60)
            job()
        except BaseException as exc:  # noqa: BLE001 - collected and asserted on
            errors.append(exc)

    threads = [threading.Thread(target=wrapped, args=(job,)) for job in jobs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    return errors


def test_a_second_top_level_code_of_one_name_is_refused_by_the_database(location):
    project = create_project(location, "t")
    with project.transaction() as s:
        s.add(m.Code(name="Hope"))
    with pytest.raises(BackendError, match="conflicts with what is already in the project"):
        with project.transaction() as s:
            s.add(m.Code(name="Hope"))  # inserted directly, bypassing create-if-absent
    with project.transaction() as s:  # the same name under a parent, or another name, is fine
        parent = s.scalar(select(m.Code))
        s.add_all([m.Code(name="Hope", parent=parent), m.Code(name="Despair")])
    project.close()


def test_twenty_pairs_of_coders_creating_one_new_top_level_code_make_one_code_each(location):
    create_project(location, "team").close()
    with open_project(location) as setup, setup.transaction() as s:
        s.add(m.Document(name="P1", text="waiting and hoping"))
    projects = [open_project(location) for _ in range(40)]

    def code(project, theme, coder):
        def job():
            with project.transaction(coder) as s:
                document = s.scalar(select(m.Document))
                s.add(m.Segment(document=document, code=get_code(s, theme), coder=get_coder(s, coder),
                                start=0, end=7))
        return job

    jobs = [code(projects[2 * i + k], f"New theme {i}", ["Alex", "Sam"][k]) for i in range(20) for k in (0, 1)]
    errors = run_at_once(jobs)
    for project in projects:
        project.close()
    assert errors == []
    with open_project(location) as project, project.reading() as s:
        # 20 pairs -> 20 codes, each with both coders' segment (2 x 20 = 40 segments), 2 coders
        codes = s.execute(select(m.Code.name, func.count(m.Segment.id)).join(m.Segment).group_by(m.Code.name)).all()
        assert sorted(codes) == sorted((f"New theme {i}", 2) for i in range(20))
        assert s.scalar(select(func.count(m.Code.id))) == 20
        assert sorted(s.scalars(select(m.Coder.name))) == ["Alex", "Sam"]


def test_the_same_new_coder_name_at_once_is_one_coder(location):
    create_project(location, "team").close()
    with open_project(location) as setup, setup.transaction() as s:
        s.add_all([m.Document(name="P1", text="waiting"), m.Code(name="Waiting")])
    projects = [open_project(location) for _ in range(10)]

    def first_use(project):
        def job():
            with project.transaction("Robin") as s:
                s.add(m.Segment(document=s.scalar(select(m.Document)), code=s.scalar(select(m.Code)),
                                coder=get_coder(s, "Robin"), start=0, end=7))
        return job

    errors = run_at_once([first_use(p) for p in projects])
    for project in projects:
        project.close()
    assert errors == []
    with open_project(location) as project, project.reading() as s:
        assert s.execute(select(m.Coder.name, func.count(m.Segment.id)).join(m.Segment, m.Segment.coder_id ==
                                                                              m.Coder.id).group_by(m.Coder.name)
                         ).all() == [("Robin", 10)]


def test_migration_0003_keeps_old_duplicate_top_level_codes_apart(tmp_path):
    from alembic import command

    from trdpath.qualitative import store

    path = tmp_path / "old.qual"
    engine = store._make_engine(store.project_url(path))
    with engine.begin() as conn:
        command.upgrade(store.alembic_config(conn), "0002")
        conn.execute(text("INSERT INTO project_info (id, guid, name, created_at) VALUES (1, 'g', 'o', '2024-01-01')"))
        for i in (1, 2, 3):  # what two coders at once made before this fix
            conn.execute(text(f"INSERT INTO code (id, guid, name, position, is_codable) VALUES ({i}, 'c{i}', "
                              f"'{'Hope' if i < 3 else 'Hope (2)'}', 0, 1)"))
    engine.dispose()
    with open_project(path) as project, project.reading() as s:
        assert sorted((c.id, c.name) for c in s.scalars(select(m.Code))) == [(1, "Hope"), (2, "Hope (3)"),
                                                                             (3, "Hope (2)")]
        log = s.scalar(select(m.ChangeLog.details).where(m.ChangeLog.who == "migration 0003"))
        assert log == '{"name": ["Hope", "Hope (3)"]}'


def _cli(*args, busy=None):
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    if busy is not None:
        env["TRDPATH_QUAL_BUSY_SECONDS"] = str(busy)
    return [sys.executable, "-m", "trdpath.qualitative.cli", *map(str, args)], env


def test_coding_during_a_long_import_waits_or_says_it_is_busy(tmp_path):
    path = tmp_path / "study.qual"
    project = create_project(path, "team")
    import_transcripts(project, [DEMO_DIR / "transcripts" / "P1.txt"], who="Alex")
    project.close()
    body = (DEMO_DIR / "transcripts" / "C1.txt").read_text()
    files = []
    for i in range(150):
        f = tmp_path / "batch" / f"C{100 + i}.txt"
        f.parent.mkdir(exist_ok=True)
        f.write_text(body * 8)
        files.append(f)
    table = tmp_path / "coding.csv"
    table.write_text("document,code,coder,start,end\nP1,New theme,Sam,0,10\n")
    command, env = _cli("import", path, *files, "--who", "Alex")
    importer = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        for line in importer.stdout:  # the import holds the write lock once it has written a document
            if line.startswith("imported C"):
                break
        # 1. a coder who will wait 0.5 s at most is told the project is busy: exit 2, no traceback, no change
        command, env = _cli("code", path, table, busy=0.5)
        impatient = subprocess.run(command, capture_output=True, text=True, env=env, timeout=120)
        assert importer.poll() is None, "the import finished too early for this test"
        assert impatient.returncode == 2 and "Traceback" not in impatient.stderr
        assert "is busy" in impatient.stderr and "Nothing was changed" in impatient.stderr
        # 2. a coder with the default wait (60 s) is served once the import commits
        command, env = _cli("code", path, table)
        patient = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
        assert patient.returncode == 0, patient.stderr
        importer.stdout.read()
        assert importer.wait(timeout=300) == 0
    finally:
        if importer.poll() is None:
            importer.send_signal(signal.SIGKILL)
            importer.wait()
    with open_project(path) as project, project.reading() as s:
        assert s.scalar(select(func.count(m.Document.id))) == 151  # P1 + the 150 imported
        assert [(x.code.name, x.coder.name) for x in s.scalars(select(m.Segment))] == [("New theme", "Sam")]
