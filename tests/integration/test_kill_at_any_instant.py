"""A run killed at any instant leaves OUT holding the complete old or the complete new result, and the
next run removes what the killed one left (issue 14 item 5; docs/security.md "Results folder").

Two attacks:
- every step: an audit hook (PEP 578) stops at every file-system call of a whole `run` (open for
  writing, mkdir, rename, link, chmod, unlink, rmtree) and looks at the disk as a kill at that instant
  would leave it (a SIGKILL runs no cleanup, so the disk at that instant is exactly what remains);
- real kills: `trdpath classify` in a subprocess, SIGKILLed at random instants (marked slow).
"""

from __future__ import annotations

import hashlib
import os
import random
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

from trdpath import api, atomic, layout

PATIENTS = "patient_id,birth_date,sex,ethnicity,employment_status\n007,1980-02-03,F,A,Employed\n008,1975-01-01,M,,\n"
DIAGNOSES = "patient_id,code,date\n007,F32.1,2020-01-10\n008,F33,2020-02-01\n009,F32,2020-03-01\n"
PRESCRIPTIONS = ("patient_id,drug,start_date,end_date,days_supply,daily_dose_mg\n"
                 "007,Sertraline 50mg tablets,2020-01-10,2020-03-10,,50\n008,citalopram,2020-02-01,,56,20\n")


def write_extract(folder: Path, patients: str = PATIENTS) -> Path:
    folder.mkdir(parents=True)
    (folder / "patients.csv").write_text(patients)
    (folder / "diagnoses.csv").write_text(DIAGNOSES)
    (folder / "prescriptions.csv").write_text(PRESCRIPTIONS)
    return folder

WATCHED = {"open", "os.mkdir", "os.rename", "os.link", "os.chmod", "os.remove", "os.rmdir", "shutil.rmtree",
           "os.truncate", "os.symlink"}
_active: dict = {"check": None, "under": None}


def _changes_disk(event: str, args: tuple) -> bool:
    if event != "open":
        return True
    _path, mode, flags = args
    if mode is not None:  # builtins.open
        return any(c in str(mode) for c in "wax+")
    return bool(flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT))  # os.open


def _hook(event: str, args: tuple) -> None:
    if not isinstance(_active, dict):  # interpreter shutdown
        return
    check = _active["check"]
    if check is None or event not in WATCHED or not _changes_disk(event, args):
        return
    if not any(str(a).startswith(str(_active["under"])) for a in args[:2] if isinstance(a, (str, bytes, os.PathLike))):
        return  # elsewhere (the engine's temporary database, caches)
    _active["check"] = None  # the check itself touches files: no recursion
    try:
        check(event, args)
    finally:
        _active["check"] = check


sys.addaudithook(_hook)  # cannot be removed; it does nothing while _active["check"] is None


STAMPED = {"report.html", "report.docx", "tables.xlsx"}  # state the time they were generated


def snapshot(folder: Path) -> dict[str, str] | None:
    """Every file under `folder` with a hash of its bytes (None when `folder` does not exist); files that
    carry a time stamp only by name and by being a complete file (docx and xlsx are zips: an intact
    central directory; the HTML ends with its closing tag)."""
    if not folder.is_dir():
        return None
    files = {}
    for path in sorted(folder.rglob("*")):
        if not path.is_file():
            continue
        if path.name in STAMPED:
            data = path.read_bytes()
            complete = data.rstrip().endswith(b"</html>") if path.suffix == ".html" else zipfile.is_zipfile(path)
            files[str(path.relative_to(folder))] = "complete" if complete else "TRUNCATED"
        else:
            files[str(path.relative_to(folder))] = hashlib.sha1(path.read_bytes()).hexdigest()
    return files


def other_extract(folder: Path) -> Path:
    """The GOOD extract with a third patient (so the old and the new result differ everywhere)."""
    return write_extract(folder, PATIENTS + "009,1990-05-05,F,,\n")


@pytest.mark.parametrize("exchange", [True, False], ids=["renameat2-exchange", "two-renames"])
def test_a_kill_at_every_file_system_step_of_a_run(tmp_path, monkeypatch, exchange):
    if not exchange:
        monkeypatch.setattr(atomic, "_exchange", lambda a, b: False)
    parent = tmp_path / "results"
    out = parent / "out"
    api.classify(other_extract(tmp_path / "old-data"), out)
    old = snapshot(out)
    data = write_extract(tmp_path / "data")
    seen: list[tuple[str, dict | None, dict | None, list[str]]] = []

    def check(event, args):  # records only: an exception here would be the pipeline's to handle
        scratch = tmp_path / f"after-kill-{len(seen)}"
        shutil.copytree(parent, scratch, symlinks=True)  # the disk as a SIGKILL now would leave it
        raw = snapshot(scratch / "out")
        atomic.remove_leftovers(scratch / "out")  # what the next run does first
        seen.append((f"{event} {args[:2]}", raw, snapshot(scratch / "out"), sorted(p.name for p in scratch.iterdir())))
        shutil.rmtree(scratch)

    _active["under"], _active["check"] = parent, check
    try:
        api.run(data, out)
    finally:
        _active["check"] = None
    new = snapshot(out)
    assert old != new and layout.report_html(out).relative_to(out).as_posix() in new
    assert not (set(old) & {"release/report.html"})  # the old result was a classification only
    assert len(seen) > 30, [e for e, *_ in seen]  # the run did go through many steps
    for event, raw, cleaned, names in seen:
        assert cleaned in (old, new), event  # after the next run's clean-up: complete old or complete new
        # nothing else beside OUT (the lock file is taken and removed by the next run)
        assert names in (["out"], [".out.lock", "out"]), (event, names)
        if exchange:
            assert raw in (old, new), event  # with one exchange, even before any clean-up
    assert {cleaned == old for _, _, cleaned, _ in seen} == {True, False}  # both states were met
    assert sorted(p.name for p in parent.iterdir()) == ["out"]


@pytest.mark.slow
def test_real_sigkills_at_random_instants(tmp_path):
    parent = tmp_path / "results"
    out = parent / "out"
    old_data = other_extract(tmp_path / "old-data")
    api.classify(old_data, out)
    old = snapshot(out)
    data = write_extract(tmp_path / "data")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2] / "src")}
    # classify (the every-step test above covers run's single swap of classification and report)
    command = [sys.executable, "-m", "trdpath", "classify", "--data", str(data), "--out", str(out), "--quiet"]

    started = time.perf_counter()
    subprocess.run(command, env=env, check=True, capture_output=True, timeout=600)
    duration = time.perf_counter() - started
    new = snapshot(out)
    api.classify(old_data, out)  # back to the old result
    assert snapshot(out) == old

    rng = random.Random(14)
    outcomes = []
    for _ in range(5):
        process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.3, duration))
        process.send_signal(signal.SIGKILL)
        process.wait()
        state = snapshot(out)
        assert state in (old, new)
        outcomes.append(state == new)
        if state == new:  # start again from the old result
            shutil.rmtree(out)
            api.classify(old_data, out)
    subprocess.run(command, env=env, check=True, capture_output=True, timeout=600)
    assert snapshot(out) == new
    assert sorted(p.name for p in parent.iterdir()) == ["out"]  # leftovers removed
