"""Bad inputs get one clear message naming file, row and value, a non-zero exit, and no output."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from support.cli import run_trdpath, run_trdpath_process

GOOD = {
    "patients.csv": "patient_id,birth_date,sex,ethnicity,employment_status\n007,1980-02-03,F,A,Employed\n008,1975-01-01,M,,\n",
    "diagnoses.csv": "patient_id,code,date\n007,F32.1,2020-01-10\n008,F33,2020-02-01\n",
    "prescriptions.csv": (
        "patient_id,drug,start_date,end_date,days_supply,daily_dose_mg\n"
        "007,Sertraline 50mg tablets,2020-01-10,2020-03-10,,50\n"
        "008,citalopram,2020-02-01,,56,20\n"
    ),
}


def write_extract(folder: Path, **overrides: str | bytes | None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    files = dict(GOOD)
    files.update(overrides)
    for name, content in files.items():
        if content is None:
            continue
        path = folder / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
    return folder


# In the test's process (tests/support/cli.py): ~1.5 s of imports less per command. The tests about the
# process itself (exit code of `python -m trdpath`, real pipes) use run_cli_process.
run_cli = run_trdpath
run_cli_process = run_trdpath_process


def classify(tmp_path: Path, process: bool = False, **overrides) -> tuple[subprocess.CompletedProcess, Path]:
    data = write_extract(tmp_path / "data", **overrides)
    out = tmp_path / "out"
    run = run_cli_process if process else run_cli
    return run("classify", "--data", str(data), "--out", str(out), "--quiet"), out


def assert_clean_failure(proc: subprocess.CompletedProcess, out: Path, *fragments: str) -> None:
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    message = " ".join(proc.stderr.split())
    for fragment in fragments:
        assert fragment in message, message
    assert not out.exists() or not any(out.iterdir())


def test_good_extract_classifies(tmp_path):
    proc, out = classify(tmp_path)
    assert proc.returncode == 0, proc.stderr
    text = (out / "patients.csv").read_text()
    assert text.splitlines()[1].startswith("007,")  # identifiers stay as written


def test_missing_table(tmp_path):
    proc, out = classify(tmp_path, **{"prescriptions.csv": None})
    assert_clean_failure(proc, out, "lacks the required table(s) prescriptions")


def test_missing_column(tmp_path):
    proc, out = classify(tmp_path, **{"diagnoses.csv": "patient_id,date\n007,2020-01-10\n"})
    assert_clean_failure(proc, out, "diagnoses.csv", "missing required column(s) code")


def test_unparseable_date_names_file_row_and_value(tmp_path):
    bad = GOOD["prescriptions.csv"].replace("2020-02-01,,56", "01/02/2020,,56")
    # a real `python -m trdpath` process: a shell sees exit 2 and one message, no traceback
    proc, out = classify(tmp_path, process=True, **{"prescriptions.csv": bad})
    assert_clean_failure(proc, out, "prescriptions.csv", "row 2", "column 'start_date'", "'01/02/2020'", "YYYY-MM-DD")


def test_bad_number(tmp_path):
    bad = GOOD["prescriptions.csv"].replace(",,50\n", ",,fifty\n")
    proc, out = classify(tmp_path, **{"prescriptions.csv": bad})
    assert_clean_failure(proc, out, "prescriptions.csv", "row 1", "daily_dose_mg", "'fifty'")


def test_duplicate_patient_id(tmp_path):
    dup = GOOD["patients.csv"] + "007,1990-01-01,F,,\n"
    proc, out = classify(tmp_path, **{"patients.csv": dup})
    assert_clean_failure(proc, out, "patients.csv", "'007' appears 2 times", "rows 1 and 3")


def test_empty_file(tmp_path):
    proc, out = classify(tmp_path, **{"diagnoses.csv": ""})
    assert_clean_failure(proc, out, "diagnoses.csv", "empty")


def test_header_only_file(tmp_path):
    proc, out = classify(tmp_path, **{"diagnoses.csv": "patient_id,code,date\n"})
    assert_clean_failure(proc, out, "diagnoses.csv", "no data rows")


def test_wrong_delimiter(tmp_path):
    semi = GOOD["diagnoses.csv"].replace(",", ";")
    proc, out = classify(tmp_path, **{"diagnoses.csv": semi})
    assert_clean_failure(proc, out, "diagnoses.csv", "semicolon-separated")


def test_wrong_encoding(tmp_path):
    latin1 = (GOOD["patients.csv"] + "009,1970-01-01,F,Caf\u00e9 owner,\n").encode("latin-1")
    proc, out = classify(tmp_path, **{"patients.csv": latin1})
    assert_clean_failure(proc, out, "patients.csv", "line 4", "not UTF-8")


def test_empty_patient_id(tmp_path):
    proc, out = classify(tmp_path, **{"patients.csv": GOOD["patients.csv"] + ",1970-01-01,F,,\n"})
    assert_clean_failure(proc, out, "patients.csv", "row 3", "patient_id is empty")


def test_bad_config_is_named(tmp_path):
    data = write_extract(tmp_path / "data")
    config = tmp_path / "study.toml"
    config.write_text("[treatment]\nera_gap_days = -3\nunknown_dose = 'maybe'\n")
    proc = run_cli("classify", "--data", str(data), "--out", str(tmp_path / "out"), "--config", str(config))
    assert_clean_failure(proc, tmp_path / "out", "treatment.era_gap_days", "treatment.unknown_dose")


def test_bad_index_date(tmp_path):
    data = write_extract(tmp_path / "data")
    proc = run_cli("classify", "--data", str(data), "--out", str(tmp_path / "out"), "--index-date", "31/10/2021")
    assert_clean_failure(proc, tmp_path / "out", "--index-date must be a date")


def test_failed_run_keeps_previous_results(tmp_path):
    """A failing re-run must not destroy the results of an earlier good run."""
    proc, out = classify(tmp_path)
    assert proc.returncode == 0
    before = (out / "patients.csv").read_text()
    proc = run_cli("classify", "--data", str(write_extract(tmp_path / "bad", **{"diagnoses.csv": ""})), "--out", str(out))
    assert proc.returncode == 2
    assert (out / "patients.csv").read_text() == before


@pytest.mark.parametrize("command", ["classify", "default-config", "demo", "version"])
def test_help_everywhere(command):
    proc = run_cli(command, "--help")
    assert proc.returncode == 0 and "Usage" in proc.stdout
