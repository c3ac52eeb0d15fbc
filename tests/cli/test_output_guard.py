"""No command destroys what it did not write (the class of `classify --out` = `--data`, found on `worklist`).

Every command that replaces a folder whole (classify, run, compare's two folders, worklist, backtest, risk)
refuses, before any work and with exit 2, an --out that is, holds or sits inside an input (the extract, a
configuration, rule, mention or definition file) and a non-empty folder that no trdpath command wrote unless
--overwrite; `nlp extract/flags` refuse an --out that is their input. Each case checks that every file is
still there, byte for byte."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest

from support.cli import run_trdpath
from trdpath import api, layout

SHIPPED = Path(api.__file__).parent / "definitions" / "shipped"

# (command, the arguments after --data/--out, the options naming one more input file of that command)
COMMANDS = {
    "classify": ((), ("--config", "--definition")),
    "run": ((), ("--config",)),
    "compare": (("--why", "none", "--definitions", "maudsley"), ("--config", "--definitions")),
    "worklist": ((), ("--config", "--rules")),
    "backtest": (("--from", "2020-01-31", "--to", "2020-03-31"), ("--config",)),
    "risk": ((), ("--config", "--mentions")),
}


def _digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _message(proc) -> str:
    return " ".join((proc.stdout + proc.stderr).split())


def _refused(proc, fragment: str) -> None:
    text = _message(proc)
    assert proc.returncode == 2, text
    assert fragment in text, text
    assert "Traceback" not in text and "Internal error" not in text, text


@pytest.fixture(scope="module")
def extract(tmp_path_factory) -> Path:
    """A 2,000-patient synthetic extract (enough patients with a year of follow-up for `risk`)."""
    folder = tmp_path_factory.mktemp("guard") / "extract"
    api.synth(folder, 2000, seed=11)
    return folder


@pytest.fixture
def data(extract, tmp_path) -> Path:
    """A copy per test, so a command that wrongly wrote into it could not hide behind another test."""
    return Path(shutil.copytree(extract, tmp_path / "extract"))


@pytest.mark.parametrize("command", COMMANDS)
def test_out_equal_to_or_inside_the_extract_is_refused(command, data, tmp_path):
    before = _digest(data)
    extra, _ = COMMANDS[command]
    for out, fragment in ((data, "would overwrite the extract"), (data / "results", "inside the --data folder")):
        _refused(run_trdpath(command, "--data", str(data), "--out", str(out), *extra), fragment)
    assert _digest(data) == before


@pytest.mark.parametrize("command", COMMANDS)
def test_extract_inside_out_is_refused_even_with_overwrite(command, extract, tmp_path):
    study = tmp_path / "study"
    # compare replaces OUT/definitions only: the extract is at risk when it is that folder
    inner = "definitions" if command == "compare" else "extract"
    data = Path(shutil.copytree(extract, study / inner))
    before = _digest(study)
    extra, _ = COMMANDS[command]
    _refused(run_trdpath(command, "--data", str(data), "--out", str(study), *extra, "--overwrite"),
             "is the --data folder" if command == "compare" else "is inside --out")
    assert _digest(study) == before


@pytest.mark.parametrize("command", COMMANDS)
def test_a_folder_trdpath_did_not_write_needs_overwrite(command, data, tmp_path):
    out = tmp_path / "thesis"
    # compare replaces only OUT/definitions and OUT/release/definitions: the user's own definitions folder
    mine = out / ("definitions" if command == "compare" else "") / "chapter1.docx"
    mine.parent.mkdir(parents=True)
    mine.write_text("years of work")
    before = _digest(out)
    extra, _ = COMMANDS[command]
    _refused(run_trdpath(command, "--data", str(data), "--out", str(out), *extra),
             "is not empty and is not a trdpath result")
    assert _digest(out) == before


@pytest.mark.parametrize(("command", "option"), [(c, o) for c, (_, options) in COMMANDS.items() for o in options])
def test_an_input_file_inside_out_is_refused(command, option, data, tmp_path):
    """--config, --rules, --mentions, --definition(s) inside OUT: replacing OUT would delete the user's file."""
    out = tmp_path / "out"
    folder = out / "definitions" if command == "compare" else out
    folder.mkdir(parents=True)
    name = "mine.toml" if option in ("--config", "--definition", "--definitions") else "mine.csv"
    own = folder / name
    if option in ("--definition", "--definitions"):
        text = (SHIPPED / "maudsley.toml").read_text(encoding="utf-8").replace('id = "maudsley"', 'id = "mine"')
        own.write_text(text, encoding="utf-8")
    else:
        own.write_text("[study]\nname = 'mine'\n" if option == "--config" else "order\n", encoding="utf-8")
    before = _digest(out)
    extra, _ = COMMANDS[command]
    if option == "--definitions":
        extra = tuple(v if v != "maudsley" else str(own) for v in extra)
        args = extra
    else:
        args = (*extra, option, str(own))
    _refused(run_trdpath(command, "--data", str(data), "--out", str(out), *args, "--overwrite"),
             f"{option} {own} is inside --out")
    assert _digest(out) == before


def test_each_commands_own_output_is_recognised_and_replaced_without_overwrite(data, tmp_path):
    """A folder each command wrote is a trdpath output (layout.is_output), so the same command may write it
    again without --overwrite; a foreign folder is replaced only with --overwrite."""
    runs = {
        "classify": ("classify", "--quiet"), "worklist": ("worklist",), "risk": ("risk",),
        "backtest": ("backtest", "--from", "2020-01-31", "--to", "2020-03-31"),
        "compare": ("compare", "--why", "none", "--definitions", "maudsley,esm", "--quiet"),
    }
    for name, (command, *extra) in runs.items():
        out = tmp_path / name
        proc = run_trdpath(command, "--data", str(data), "--out", str(out), *extra)
        assert proc.returncode == 0, _message(proc)
        folders = [out / "definitions", out / "release" / "definitions"] if command == "compare" else [out]
        assert all(layout.is_output(f) for f in folders), name
        assert not layout.is_output(tmp_path) and not layout.is_output(data)
    again = run_trdpath("worklist", "--data", str(data), "--out", str(tmp_path / "worklist"), "--quiet")
    assert again.returncode == 0, _message(again)
    assert again.stdout == "" and "patients in current care" in _message(run_trdpath(
        "worklist", "--data", str(data), "--out", str(tmp_path / "worklist")))  # --quiet: no summary
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    proc = run_trdpath("worklist", "--data", str(data), "--out", str(foreign), "--overwrite")
    assert proc.returncode == 0, _message(proc)
    assert not (foreign / "notes.txt").exists() and layout.is_output(foreign)


@pytest.mark.parametrize("command", ["extract", "flags"])
def test_nlp_out_may_not_be_its_input_or_a_folder(command, data, tmp_path):
    notes = data / "notes.csv"
    rules = tmp_path / "rules.json"
    rules.write_text("{}")
    before, rules_before = _digest(data), rules.read_bytes()
    _refused(run_trdpath("nlp", command, "--notes", str(notes), "--out", str(notes)), "is the --notes file")
    _refused(run_trdpath("nlp", command, "--notes", str(notes), "--out", str(rules), "--rules", str(rules)),
             "is the --rules file")
    _refused(run_trdpath("nlp", command, "--notes", str(notes), "--out", str(data)), "is a folder")
    assert _digest(data) == before and rules.read_bytes() == rules_before


@pytest.mark.parametrize("args", [
    ("qual", "codebook", "{p}", "--export", "{p}"),  # replaced the whole project with a .qdc before
    ("qual", "export", "{p}", "{p}"),
    ("qual", "export", "{p}", "{p}-wal"),  # SQLite's journal beside it is the project's too
])
def test_a_qualitative_export_may_not_be_the_project_file(args, tmp_path):
    project = tmp_path / "study.qdpx"  # a project file may carry any suffix, also an export's
    api.qual_init(project)
    before = project.read_bytes()
    proc = run_trdpath(*(a.format(p=project) for a in args))
    _refused(proc, f"is the project file {project}")
    assert project.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["study.qdpx"]


def test_the_themes_report_may_not_replace_the_classifications_report(tmp_path):
    """`qual report P results/release` wrote report.html/.docx over the statistics report of `trdpath run`."""
    results = tmp_path / "results"
    release = results / "release"
    release.mkdir(parents=True)
    (results / "metadata.json").write_text('{"software_version": "0.1.0"}')  # what layout.is_result reads
    (release / "report.html").write_text("<p>Table 1</p>")
    project = tmp_path / "study.qual"
    api.qual_init(project)
    _refused(run_trdpath("qual", "report", str(project), str(release)), "is the release folder of the classification")
    assert sorted(p.name for p in release.iterdir()) == ["report.html"]
    assert (release / "report.html").read_text() == "<p>Table 1</p>"
