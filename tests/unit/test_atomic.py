"""trdpath.atomic: the one staging-and-swap helper every writer uses (issue 14 item 5, issue 15 item 5)."""

from __future__ import annotations

import os
import stat
import threading

import pytest

from trdpath import atomic
from trdpath.errors import UserError


def tree(folder):
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def fill(folder, files):
    for name, text in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(text)


@pytest.mark.parametrize("exchange", [True, False], ids=["renameat2-exchange", "two-renames"])
def test_replace_folder_swaps_the_whole_folder(tmp_path, monkeypatch, exchange):
    if not exchange:
        monkeypatch.setattr(atomic, "_exchange", lambda a, b: False)
    out = tmp_path / "out"
    fill(out, {"patients.csv": b"old", "release/report.html": b"old report", "stale.txt": b"x"})
    with atomic.replace_folder(out) as staging:
        fill(staging, {"patients.csv": b"new", "release/report.html": b"new report"})
        assert tree(out)["patients.csv"] == b"old"  # nothing reaches OUT before the swap
    assert tree(out) == {"patients.csv": b"new", "release/report.html": b"new report"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_a_failure_leaves_the_old_folder_and_no_staging(tmp_path):
    out = tmp_path / "out"
    fill(out, {"patients.csv": b"old"})
    with pytest.raises(RuntimeError), atomic.replace_folder(out) as staging:
        fill(staging, {"patients.csv": b"half"})
        raise RuntimeError("disk full")
    assert tree(out) == {"patients.csv": b"old"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_leftovers_of_killed_runs_are_removed_and_others_kept(tmp_path):
    out = tmp_path / "out"
    fill(out, {"patients.csv": b"current", ".report-tmp-k2j4_x9q/report.html": b"x",
               ".report-old-1a2b3c4d/tables/t.csv": b"y", "notes.txt": b"mine"})
    # staging folders of trdpath 0.1 (mkdtemp '.out.' + 8) and of this version, holding patient-level files
    fill(tmp_path, {".out.k2j4_x9q/patients.csv": b"p", ".out.new-abcd1234/patients.csv": b"p",
                    ".out.new-abcd1234.x/keep": b"k", ".out.backup-2024/keep": b"k", ".other.abcd1234/keep": b"k"})
    removed = atomic.remove_leftovers(out)
    assert sorted(p.name for p in removed) == [".out.k2j4_x9q", ".out.new-abcd1234", ".report-old-1a2b3c4d",
                                               ".report-tmp-k2j4_x9q"]
    assert tree(out) == {"patients.csv": b"current", "notes.txt": b"mine"}
    assert sorted(p.name for p in tmp_path.iterdir()) == [".other.abcd1234", ".out.backup-2024",
                                                          ".out.new-abcd1234.x", "out"]


def test_a_kill_between_the_two_renames_is_undone_by_the_next_run(tmp_path):
    # Where no exchange exists: OUT renamed away, killed before the staging folder took its place.
    fill(tmp_path, {".out.old-abcd1234/patients.csv": b"old", ".out.new-efgh5678/patients.csv": b"new"})
    atomic.remove_leftovers(tmp_path / "out")
    assert tree(tmp_path / "out") == {"patients.csv": b"old"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_two_writers_at_once_the_second_is_refused(tmp_path):
    out = tmp_path / "out"
    inside, release = threading.Event(), threading.Event()

    def first():
        with atomic.replace_folder(out) as staging:
            fill(staging, {"a": b"first"})
            inside.set()
            release.wait(10)

    thread = threading.Thread(target=first)
    thread.start()
    assert inside.wait(10)
    with pytest.raises(UserError, match="being written by another trdpath run"):
        with atomic.replace_folder(out):
            pass
    release.set()
    thread.join()
    assert tree(out) == {"a": b"first"}  # the refused run did not clean the first run's staging away


@pytest.mark.parametrize("mask", [0o022, 0o027, 0o077])
def test_outputs_get_the_users_umask_not_tempfiles_0600(tmp_path, mask):
    old = os.umask(mask)
    try:
        with atomic.replace_folder(tmp_path / "out") as staging:
            (staging / "patients.csv").write_text("x")
        with atomic.replace_file(tmp_path / "mentions.csv") as temporary:
            temporary.write_text("y")
    finally:
        os.umask(old)
    # 0777 & ~mask for folders, 0666 & ~mask for files: e.g. umask 022 gives 0755 and 0644
    assert stat.S_IMODE((tmp_path / "out").stat().st_mode) == 0o777 & ~mask
    assert stat.S_IMODE((tmp_path / "out" / "patients.csv").stat().st_mode) == 0o666 & ~mask
    assert stat.S_IMODE((tmp_path / "mentions.csv").stat().st_mode) == 0o666 & ~mask
    assert atomic.umask() == old


def test_replace_file_failure_keeps_the_old_file(tmp_path):
    target = tmp_path / "flags.csv"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic.replace_file(target) as temporary:
        temporary.write_text("half")
        raise RuntimeError
    assert target.read_text() == "old" and sorted(p.name for p in tmp_path.iterdir()) == ["flags.csv"]


def test_carry_over_links_instead_of_copying(tmp_path):
    source = tmp_path / "out"
    fill(source, {"patients.csv": b"p" * 1000, "release/report.html": b"r", "release/definitions/agreement.csv": b"a"})
    staging = tmp_path / "staging"
    staging.mkdir()
    atomic.carry_over(source, staging, skip={"release/report.html"})
    assert tree(staging) == {"patients.csv": b"p" * 1000, "release/definitions/agreement.csv": b"a"}
    assert (staging / "patients.csv").stat().st_ino == (source / "patients.csv").stat().st_ino


def test_a_symlinked_target_keeps_its_link(tmp_path):
    real = tmp_path / "store" / "run1"
    fill(real, {"patients.csv": b"old"})
    link = tmp_path / "latest"
    link.symlink_to(real)
    with atomic.replace_folder(link) as staging:
        fill(staging, {"patients.csv": b"new"})
    assert link.is_symlink() and tree(link) == {"patients.csv": b"new"} == tree(real)
    assert sorted(p.name for p in (tmp_path / "store").iterdir()) == ["run1"]
