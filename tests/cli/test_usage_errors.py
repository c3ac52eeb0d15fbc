"""Every command-line mistake: Typer's usage text or one message, the exit code of the table in
trdpath.cli (usage 2, user data 2, internal 1), and never a traceback (issue 15, "Why")."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from .test_bad_input import run_cli, run_cli_process, write_extract
from trdpath import __version__, cli, layout


def assert_no_traceback(proc: subprocess.CompletedProcess) -> None:
    for stream in (proc.stdout, proc.stderr):
        assert "Traceback" not in stream and 'File "' not in stream, stream


@pytest.mark.parametrize(("args", "fragments"), [
    # bare `trdpath`: the help text (click's no_args_is_help is a usage error, exit 2)
    ((), ["Usage: trdpath", "classify", "run", "report"]),
    (("clasify", "--data", "x", "--out", "y"), ["Usage: trdpath", "No such command 'clasify'", "Did you mean 'classify'"]),
    (("classify", "--dta", "x", "--out", "y"), ["Usage: trdpath classify", "No such option: --dta"]),
    (("classify", "--out", "y"), ["Usage: trdpath classify", "Missing option '--data'"]),
    (("run", "-o", "y"), ["Usage: trdpath run", "Missing option '--data'"]),
    (("report",), ["Usage: trdpath report", "--results"]),
    (("synth", "--patients", "many"), ["Usage: trdpath synth", "Invalid value for '--patients'"]),
])
def test_usage_errors_print_usage_and_exit_2(args, fragments):
    run = run_cli_process if args == () else run_cli  # bare `trdpath`: the exit code of the real entry point
    proc = run(*args)
    assert proc.returncode == cli.EXIT_USAGE == 2, proc.stderr
    assert_no_traceback(proc)
    text = proc.stdout + proc.stderr
    for fragment in fragments:
        assert fragment in text, text


def test_version_flag_prints_the_package_version():
    proc = run_cli_process("--version")  # the real entry point: exit 0
    assert proc.returncode == 0, proc.stderr
    # pyproject's version, read independently of trdpath.__version__
    pyproject = (Path(__file__).resolve().parents[2] / "pyproject.toml").read_text()
    version = re.search(r'^version = "([^"]+)"', pyproject, re.M).group(1)
    assert proc.stdout.strip() == f"trdpath {version}" == f"trdpath {__version__}"


def test_out_equal_to_data_is_refused_and_the_extract_untouched(tmp_path):
    data = write_extract(tmp_path / "x")
    before = {p.name: p.read_bytes() for p in data.iterdir()}
    proc = run_cli("classify", "--data", str(data), "--out", str(data), "--quiet")
    assert proc.returncode == 2
    assert_no_traceback(proc)
    assert "would overwrite the extract" in " ".join(proc.stderr.split())
    assert {p.name: p.read_bytes() for p in data.iterdir()} == before


def test_out_inside_data_and_data_inside_out_are_refused(tmp_path):
    data = write_extract(tmp_path / "x")
    proc = run_cli("classify", "-d", str(data), "-o", str(data / "results"), "-q")
    assert proc.returncode == 2 and "inside the --data folder" in " ".join(proc.stderr.split())
    assert not (data / "results").exists()
    nested = write_extract(tmp_path / "study" / "extract")
    proc = run_cli("classify", "-d", str(nested), "-o", str(tmp_path / "study"), "-q", "--overwrite")
    assert proc.returncode == 2 and "is inside --out" in " ".join(proc.stderr.split())
    assert (nested / "patients.csv").is_file()


def test_non_empty_out_that_is_not_a_result_needs_overwrite(tmp_path):
    data = write_extract(tmp_path / "data")
    out = tmp_path / "thesis"
    out.mkdir()
    (out / "chapter1.docx").write_text("years of work")
    proc = run_cli("classify", "-d", str(data), "-o", str(out), "-q")
    assert proc.returncode == 2
    assert_no_traceback(proc)
    assert "not empty and is not a trdpath result" in " ".join(proc.stderr.split())
    assert (out / "chapter1.docx").read_text() == "years of work"
    # An earlier result is replaced without --overwrite; a foreign folder with it.
    proc = run_cli("classify", "-d", str(data), "-o", str(out), "-q", "--overwrite")
    assert proc.returncode == 0, proc.stderr
    assert layout.is_result(out) and not (out / "chapter1.docx").exists()
    proc = run_cli("classify", "-d", str(data), "-o", str(out), "-q")
    assert proc.returncode == 0, proc.stderr


def test_a_typo_in_the_predictors_stops_before_any_work(tmp_path):
    data = write_extract(tmp_path / "data")
    config = tmp_path / "study.toml"
    config.write_text('[analysis]\nregression_blocks = [["anxiety", "self_harmm"]]\n')
    out = tmp_path / "out"
    proc = run_cli("run", "-d", str(data), "-o", str(out), "-c", str(config), "-q")
    assert proc.returncode == 2
    assert_no_traceback(proc)
    message = " ".join(proc.stderr.split())
    assert "analysis.regression_blocks names 'self_harmm'" in message and "KeyError" not in message
    assert not out.exists()  # nothing classified, nothing written


def test_report_on_a_folder_that_is_not_a_result(tmp_path):
    proc = run_cli("report", "--results", str(tmp_path))
    assert proc.returncode == 2
    assert_no_traceback(proc)
    assert "is not a classification folder" in " ".join(proc.stderr.split())


def test_progress_is_logged_with_elapsed_time_when_not_on_a_terminal(tmp_path):
    data = write_extract(tmp_path / "data")
    proc = run_cli_process("classify", "-d", str(data), "-o", str(tmp_path / "out"))  # pipes: not a terminal
    assert proc.returncode == 0, proc.stderr
    stages = re.findall(r"^\[\s*\d+\.\d s\] Classifying: (.+)$", proc.stderr, re.M)
    assert len(stages) >= 5 and stages[-1] == "done", proc.stderr
    assert "\r" not in proc.stderr and "\x1b[" not in proc.stderr  # no progress bar redraws or colours


def test_an_internal_error_is_one_short_message_and_exit_1(monkeypatch, capsys, tmp_path):
    data = write_extract(tmp_path / "data")

    def bug(*args, **kwargs):
        raise ZeroDivisionError("division by zero in postgresql://u:hunter2@db/x")

    monkeypatch.setattr("trdpath.api.classify", bug)
    monkeypatch.setitem(cli._debug, "on", False)
    code = cli.handle(["classify", "-d", str(data), "-o", str(tmp_path / "out"), "-q"])
    err = capsys.readouterr().err
    assert code == cli.EXIT_INTERNAL == 1
    assert "Internal error: ZeroDivisionError" in err and "--debug" in err
    assert "Traceback" not in err and "hunter2" not in err
    code = cli.handle(["--debug", "classify", "-d", str(data), "-o", str(tmp_path / "out"), "-q"])
    err = capsys.readouterr().err
    assert code == 1 and "Traceback" in err and "ZeroDivisionError" in err and "hunter2" not in err


def test_report_out_still_works_as_a_deprecated_alias(tmp_path, monkeypatch, capsys):
    seen = []
    monkeypatch.setattr("trdpath.api.report", seen.append)
    assert cli.handle(["report", "--out", str(tmp_path), "-q"]) == 0
    assert seen == [tmp_path] and "deprecated" in capsys.readouterr().err
    assert cli.handle(["report", "--out", str(tmp_path), "--results", str(tmp_path)]) == 2


def test_a_missing_reference_file_stops_before_any_work(tmp_path):
    data = write_extract(tmp_path / "data")
    config = tmp_path / "study.toml"
    config.write_text('[reference]\nantidepressants = "my_drugs.csv"\n')
    proc = run_cli("classify", "-d", str(data), "-o", str(tmp_path / "out"), "-c", str(config), "-q")
    assert proc.returncode == 2
    assert_no_traceback(proc)
    assert "reference.antidepressants = 'my_drugs.csv'" in " ".join(proc.stderr.split())
    assert not (tmp_path / "out").exists()


def test_an_output_folder_that_cannot_be_made_is_a_message_not_a_bug(tmp_path):
    data = write_extract(tmp_path / "data")
    (tmp_path / "a-file").write_text("x")
    proc = run_cli("classify", "-d", str(data), "-o", str(tmp_path / "a-file" / "results"), "-q")
    assert proc.returncode == 2
    assert_no_traceback(proc)
    message = " ".join(proc.stderr.split())
    assert "a-file is a file, not a folder" in message and "Internal error" not in message, message


def test_a_full_disk_is_a_message_and_exit_2(monkeypatch, capsys, tmp_path):
    def full(*args, **kwargs):
        raise OSError(28, "No space left on device", str(tmp_path / "out" / "patients.csv"))

    monkeypatch.setattr("trdpath.api.classify", full)
    code = cli.handle(["classify", "-d", str(tmp_path), "-o", str(tmp_path / "out"), "-q"])
    err = " ".join(capsys.readouterr().err.split())
    assert code == cli.EXIT_USER == 2
    assert f"Error: No space left on device: {tmp_path / 'out' / 'patients.csv'}" in err and "Traceback" not in err


@pytest.mark.parametrize(("option", "label"), [("--config", "Configuration file"), ("--definition", "Definition file")])
def test_a_folder_or_a_missing_file_where_a_toml_file_is_wanted(option, label, tmp_path):
    """A folder named where a TOML file is wanted was reported as 'does not exist'."""
    data = write_extract(tmp_path / "x")
    (tmp_path / "settings").mkdir()
    for given, words in ((tmp_path / "settings", "is a folder, not a TOML file."), (tmp_path / "nothere.toml", "does not exist.")):
        proc = run_cli("classify", "-d", str(data), "-o", str(tmp_path / "out"), "-q", option, str(given))
        assert proc.returncode == 2
        assert_no_traceback(proc)
        assert f"{label} {given} {words}" in " ".join(proc.stderr.split())
        assert not (tmp_path / "out").exists()
