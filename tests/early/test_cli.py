"""`trdpath worklist` end to end, and its bad inputs: one message, exit 2, nothing written."""

from __future__ import annotations

import json

import pytest

from cli.test_bad_input import run_cli, write_extract


def test_worklist_command_writes_every_file(tmp_path):
    data = write_extract(tmp_path / "extract")
    out = tmp_path / "out"
    done = run_cli("worklist", "--data", str(data), "--out", str(out), "--as-of", "2020-03-01",
                   "--cohort-to", f"duckdb:{tmp_path / 'cdm.duckdb'}?schema=results")
    assert done.returncode == 0, done.stderr
    assert {p.name for p in out.iterdir()} == {"worklist.csv", "worklist.xlsx", "worklist.html", "flags.ndjson", "worklist.json"}
    # By hand: 007 sertraline 50 mg from 2020-01-10 (adequate 02-07), 008 citalopram 20 mg from 02-01 for
    # 56 days (not yet 28 days by ... 02-29 is day 28: adequate 2020-02-29): both at stage 1 on 2020-03-01.
    lines = (out / "worklist.csv").read_text(encoding="utf-8").splitlines()
    assert len(lines) == 3 and all(",1," in line for line in lines[1:])
    assert json.loads((out / "worklist.json").read_text())["as_of"] == "2020-03-01"
    assert (out / "flags.ndjson").read_text() == ""  # nobody has TRD


@pytest.mark.parametrize("formats, files", [
    ("csv,fhir", {"worklist.csv", "flags.ndjson"}),
    ("HTML", {"worklist.html"}),
    ("xlsx, csv", {"worklist.csv", "worklist.xlsx"}),
])
def test_formats_write_only_the_files_asked_for(tmp_path, formats, files):
    """--formats: exactly the files named (and worklist.json, which lists them), the same worklist.csv
    as a run writing every file, and the same files again from an incremental refresh (its state too)."""
    data = write_extract(tmp_path / "extract")
    every = tmp_path / "every"
    assert run_cli("worklist", "--data", str(data), "--out", str(every), "--as-of", "2020-03-01").returncode == 0
    for incremental in ([], ["--incremental"]):
        out = tmp_path / f"out{len(incremental)}"
        done = run_cli("worklist", "--data", str(data), "--out", str(out), "--as-of", "2020-03-01", "--formats", formats,
                       *incremental)
        assert done.returncode == 0, done.stderr
        state = {"state"} if incremental else set()
        assert {p.name for p in out.iterdir()} == files | {"worklist.json"} | state
        assert set(json.loads((out / "worklist.json").read_text())["files"]) == files
        for name in files:
            assert (out / name).read_bytes() == (every / name).read_bytes() or name == "worklist.xlsx"


@pytest.mark.parametrize("args, message", [
    (["--as-of", "2020-13-01"], "--as-of must be a date as YYYY-MM-DD (got '2020-13-01')"),
    (["--rules", "missing.csv"], "--rules missing.csv: no such file."),
    (["--rules", "."], "--rules . is a folder: give the rule table's CSV file."),
    (["--cohort-to", "mysql://u:secret@h/db"], "unknown scheme"),
    (["--formats", "csv,pdf"], "--formats takes a comma-separated list of csv, xlsx, html, fhir (got 'csv,pdf': 'pdf' unknown)"),
    (["--formats", " , "], "(got ' , ': none named)"),
    (["--formats", "csv", "--flag-stage2"], "--flag-stage2 adds stage 2 to the FHIR Flags, but --formats leaves out fhir"),
])
def test_bad_input_writes_nothing(tmp_path, args, message):
    data = write_extract(tmp_path / "extract")
    out = tmp_path / "out"
    done = run_cli("worklist", "--data", str(data), "--out", str(out), *args)
    assert done.returncode == 2, done.stderr
    assert message in done.stderr and "Traceback" not in done.stderr and "secret" not in done.stderr
    assert not out.exists()
