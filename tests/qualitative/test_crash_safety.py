"""Killing the process in the middle of an import leaves a project that opens with nothing lost."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

from sqlalchemy import func, select

from trdpath.qualitative import models as m
from trdpath.qualitative.coding import import_transcripts
from trdpath.qualitative.demo import DEMO_DIR
from trdpath.qualitative.store import create_project, open_project

SRC = Path(__file__).resolve().parents[2] / "src"


def state(project):
    with project.reading() as s:
        return dict(documents=sorted(s.scalars(select(m.Document.name))),
                    turns=s.scalar(select(func.count(m.Turn.id))),
                    log=s.scalar(select(func.count(m.ChangeLog.id))))


def test_kill_during_import_leaves_the_project_as_it_was(tmp_path):
    path = tmp_path / "study.qual"
    project = create_project(path, "crash test")
    import_transcripts(project, [DEMO_DIR / "transcripts" / "P1.txt"], who="Alex")
    before = state(project)
    project.close()
    # Many sizeable transcripts, so the import is still running when we kill it.
    body = (DEMO_DIR / "transcripts" / "C1.txt").read_text()
    files = []
    for i in range(300):
        f = tmp_path / "batch" / f"C{100 + i}.txt"
        f.parent.mkdir(exist_ok=True)
        f.write_text(body * 8)
        files.append(str(f))
    command = [sys.executable, "-m", "trdpath.qualitative.cli", "import", str(path), *files, "--who", "Alex"]
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    seen = []
    for line in process.stdout:
        seen.append(line)
        if len(seen) == 5:  # five documents written inside the open transaction
            process.send_signal(signal.SIGKILL)
            break
    process.wait(timeout=60)
    assert process.returncode == -signal.SIGKILL
    assert all(line.startswith("imported C") for line in seen) and len(seen) == 5

    with sqlite3.connect(path) as raw:
        assert raw.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    reopened = open_project(path)
    assert state(reopened) == before  # nothing of the interrupted import, nothing of the earlier work lost
    # The same import run to the end works and keeps the earlier document.
    assert len(import_transcripts(reopened, files[:20], who="Alex")) == 20
    after = state(reopened)
    assert after["documents"][:1] == ["C100"] and "P1" in after["documents"] and len(after["documents"]) == 21
    reopened.close()


def test_a_failing_import_command_keeps_none_of_its_parts(tmp_path):
    from typer.testing import CliRunner

    from trdpath.errors import InputError
    from trdpath.qualitative.cli import app

    path = tmp_path / "study.qual"
    create_project(path, "t").close()
    (tmp_path / "scan.pdf").write_bytes(b"%PDF-1.4")
    result = CliRunner().invoke(app, ["import", str(path), str(DEMO_DIR / "transcripts" / "P1.txt"),
                                      str(tmp_path / "scan.pdf"), "--participants",
                                      str(DEMO_DIR / "participants.csv")])
    assert isinstance(result.exception, InputError) and "unsupported transcript type" in str(result.exception)
    project = open_project(path)
    with project.reading() as s:
        assert s.scalar(select(func.count(m.Participant.id))) == 0  # the participants read first were not kept
        assert s.scalar(select(func.count(m.Document.id))) == 0
    project.close()
