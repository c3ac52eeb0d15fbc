"""README.md's "A short tour", run as written, in order, on a synthetic extract (issue 15 item 7).

The commands are read from README.md itself, so the tour cannot drift from what the program does.
Each command runs as a user runs it (`trdpath ...` in a fresh folder, no terminal, COLUMNS=200), must
exit 0, and the files it promises are checked against values worked out without trdpath's
classifier: the generator's own latent truth (synth_truth.csv), row counts read with the csv module,
the defaults written in docs/study-definition.md, the version in pyproject.toml.

Left out, each for the reason given in SKIPPED: the lines that need a server the tour only names
(`postgresql://user@host/db`), the Spark line (the same pipeline on Spark is tests/backends), and
`serve`, which runs until stopped (tests/serve drives it). Sizes are made smaller (SMALLER) so the
tour takes a minute, not ten. The first line runs as a real `python -m trdpath` process; the others run
the same entry point in the test's process (tests/support/cli.py: own stdout/stderr, environment and
working folder), which spares ~1.5 s of imports per line and loads the report and NLP libraries once.
"""

from __future__ import annotations

import csv
import re
import shlex
import subprocess
import tomllib
from collections import Counter
from pathlib import Path

import pytest

from support.cli import run_trdpath, run_trdpath_process

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow

# Lines of the tour not run here (matched on the command's text), and why.
SKIPPED = {
    "postgresql://user@host/db?schema=cdm": "needs the PostgreSQL server the tour only names",
    "postgresql://user@host/db?schema=extract&format=flat": "needs the PostgreSQL server the tour only names",
    "--backend pyspark": "the same pipeline on Spark is tests/backends/test_agreement.py",
    "trdpath serve": "runs until stopped; tests/serve drives it in a browser",
    "trdpath qual serve": "runs until stopped; tests/serve/test_coding_browser.py drives it in a browser",
    "source .venv/bin/activate": "the test runs in the interpreter it was started with",
}
# Smaller synthetic extracts: the tour's numbers are for a person trying it.
SMALLER = {"--patients 20000": "--patients 1500", "--patients 1000": "--patients 400"}
PATIENTS = {"extract/": 1500, "cdm/": 400}


def tour_lines() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## A short tour", 1)[1]
    block = re.search(r"```sh\n(.*?)```", section, re.S).group(1)
    return [line.strip() for line in block.splitlines() if line.strip()]


def rows(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def run_line(line: str, cwd: Path, process: bool = False) -> subprocess.CompletedProcess:
    for before, after in SMALLER.items():
        line = line.replace(before, after)
    line = line.replace(" src/trdpath/", f" {ROOT / 'src' / 'trdpath'}/")  # files shipped in the repository
    words = shlex.split(line, comments=True)
    assert words[0] == "trdpath", line
    output = None
    if ">" in words:  # `trdpath default-config > study.toml`
        at = words.index(">")
        words, output = words[:at], cwd / words[at + 1]
    run = run_trdpath_process if process else run_trdpath
    proc = run(*words[1:], cwd=cwd, env={"COLUMNS": "200"})
    assert proc.returncode == 0, f"{line}\nexit {proc.returncode}\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}"
    assert "Traceback" not in proc.stderr, line
    if output is not None:
        output.write_text(proc.stdout, encoding="utf-8")
    return proc


def test_every_tour_line_is_run_or_skipped_for_a_reason():
    lines = tour_lines()
    assert len(lines) >= 15
    for key in SKIPPED:  # every skip still matches a line: the list cannot go stale
        assert any(key in line for line in lines), key


def test_the_readme_tour_in_order(tmp_path):
    done = []
    for line in tour_lines():
        if any(key in line for key in SKIPPED):
            continue
        proc = run_line(line, tmp_path, process=not done)  # the first line as a real process
        done.append(line)
        check_after(line, proc, tmp_path)
    assert len(done) >= 12, done


def check_after(line: str, proc: subprocess.CompletedProcess, cwd: Path) -> None:
    """What the README says this line writes, checked right after it ran."""
    command = line.split("#")[0].strip()
    if command.startswith("trdpath synth") and "--format omop" not in command:
        extract = cwd / "extract"
        patients = rows(extract / "patients.csv")
        assert len(patients) == PATIENTS["extract/"]
        assert len({p["patient_id"] for p in patients}) == len(patients)
        for name in ("diagnoses", "prescriptions"):
            assert rows(extract / f"{name}.csv"), name
    elif command.startswith("trdpath default-config"):
        config = tomllib.loads((cwd / "study.toml").read_text(encoding="utf-8"))
        # The defaults of docs/study-definition.md sections 2-4.
        assert config["cohort"]["min_age"] == 18
        assert config["treatment"]["default_exposure_days"] == 28
        assert config["treatment"]["era_gap_days"] == 30
        assert config["treatment"]["min_trial_days"] == 28
        assert config["treatment"]["episode_gap_days"] == 183
        assert config["treatment"]["unknown_dose"] == "adequate"
        assert config["trd"]["failed_trials"] == 2 and config["trd"]["augmentation_counts"] is True
        assert config["disclosure"]["enabled"] is True
    elif command.startswith("trdpath classify --data extract/"):
        check_classification_against_the_generators_truth(cwd)
        (cwd / "classified.csv").write_bytes((cwd / "results" / "patients.csv").read_bytes())
    elif command.startswith("trdpath run"):
        results = cwd / "results"
        # study.toml holds the defaults, so `run` without it classifies exactly as `classify` with it.
        assert (results / "patients.csv").read_bytes() == (cwd / "classified.csv").read_bytes()
        release = results / "release"
        for name in ("README.md", "report.html", "report.docx", "attrition.csv", "data_quality.csv",
                     "tables/tables.xlsx", "tables/table1_sociodemographics.csv"):
            assert (release / name).is_file(), name
        assert not (release / "patients.csv").exists()
        check_release_counts_are_rounded(release, cwd)
        (cwd / "report-before.html").write_bytes((release / "report.html").read_bytes())
    elif command.startswith("trdpath report"):
        release = cwd / "results" / "release"
        assert (release / "report.html").is_file() and (release / "report.docx").is_file()
        # The same result gives the same tables.
        assert rows(release / "tables" / "table1_sociodemographics.csv")
    elif command.startswith("trdpath synth") and "--format omop" in command:
        persons = rows(cwd / "cdm" / "person.csv")
        assert len(persons) == PATIENTS["cdm/"]
    elif command.startswith("trdpath classify --data omop:cdm/"):
        persons = {p["person_id"] for p in rows(cwd / "cdm" / "person.csv")}
        patients = rows(cwd / "results-omop" / "patients.csv")
        assert {p["patient_id"] for p in patients} == persons  # every person, ids unchanged
    elif command.startswith("trdpath nlp evaluate"):
        gold = rows(ROOT / "src" / "trdpath" / "nlp" / "gold" / "test.csv")
        for category in {g["category"] for g in gold if g["category"]}:
            assert category in proc.stdout, category
        assert "precision" in proc.stdout and "recall" in proc.stdout
    elif command.startswith("trdpath qual demo"):
        demo = cwd / "qual-demo"
        assert (demo / "report.html").is_file() and (demo / "demo_project.sqlite").is_file()
    elif command.startswith("trdpath worklist") and "--formats csv,fhir" in command:
        feed = cwd / "feed"
        assert {p.name for p in feed.iterdir()} == {"worklist.csv", "flags.ndjson", "worklist.json", "state"}
        # The same rows as the worklist of the line before, on the same date.
        assert (feed / "worklist.csv").read_bytes() == (cwd / "worklist" / "worklist.csv").read_bytes()
    elif command.startswith("trdpath worklist"):
        worklist = cwd / "worklist"
        for name in ("worklist.csv", "worklist.xlsx", "worklist.json"):
            assert (worklist / name).is_file(), name
    elif command.startswith("trdpath backtest"):
        by_date = rows(cwd / "bt" / "backtest_by_date.csv")
        # Monthly from 2019-11-30 to 2021-10-31: 2019-11-30 plus 0..23 months (the 30th, or the last
        # day of February), 2 dates in 2019, 12 in 2020, 10 in 2021.
        assert [r["as_of"] for r in by_date][:4] == ["2019-11-30", "2019-12-30", "2020-01-30", "2020-02-29"]
        assert len({r["as_of"] for r in by_date}) == 24 and by_date[-1]["as_of"] == "2021-10-30"
    elif command.startswith("trdpath joint"):
        for name in ("joint_display.html", "joint_display.docx", "joint_display.xlsx"):
            assert (cwd / "joint" / name).is_file(), name
    elif command == "trdpath --help":
        for sub in ("classify", "run", "report", "synth", "nlp", "qual", "serve", "worklist", "joint"):
            assert sub in proc.stdout, sub
    elif command.startswith("trdpath --version"):
        version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
        assert version in proc.stdout


def check_classification_against_the_generators_truth(cwd: Path) -> None:
    """The generator writes what it meant each patient to be (synth_truth.csv): the classification
    must find exactly that, and attrition.csv must count what patients.csv holds."""
    patients = {p["patient_id"]: p for p in rows(cwd / "results" / "patients.csv")}
    truth = {t["patient_id"]: t for t in rows(cwd / "extract" / "synth_truth.csv")}
    assert set(patients) == set(truth) and len(patients) == PATIENTS["extract/"]
    for pid, want in truth.items():
        got = patients[pid]
        assert got["exclusion_reason"] == want["intended_exclusion_reason"], pid
        if got["in_cohort"] == "true":
            assert got["trd"] == want["intended_trd"].lower(), pid
            assert got["resistance_level"] == want["intended_resistance_level"], pid
    excluded = Counter(p["exclusion_reason"] for p in patients.values() if p["in_cohort"] != "true")
    attrition = {r["rule"]: r for r in rows(cwd / "results" / "attrition.csv")}
    for reason, n in excluded.items():
        assert int(attrition[reason]["excluded"]) == n, reason
    assert sum(excluded.values()) > 0 and any(p["trd"] == "true" for p in patients.values())


def check_release_counts_are_rounded(release: Path, cwd: Path) -> None:
    """Published attrition: each count is a multiple of 5 (config: rounding 5) or hidden."""
    exact = {r["rule"]: r for r in rows(cwd / "results" / "attrition.csv")}
    published = rows(release / "attrition.csv")
    assert {r["rule"] for r in published} <= set(exact)
    for row in published:
        for column, value in row.items():
            if column != "rule" and value.strip().lstrip("-").isdigit():
                assert int(value) % 5 == 0, (row["rule"], column, value)
