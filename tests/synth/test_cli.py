"""`trdpath synth` as the lead mounts it: a Typer app whose callback writes an extract."""

from __future__ import annotations

import json

import pandas as pd
from typer.testing import CliRunner

from trdpath.errors import UserError
from trdpath.synth.cli import app


def test_synth_command_writes_the_requested_extract(tmp_path):
    out = tmp_path / "extract"
    result = CliRunner().invoke(app, ["--patients", "300", "--seed", "9", "--out", str(out), "--format", "parquet", "-q"])
    assert result.exit_code == 0, result.output
    assert len(pd.read_parquet(out / "patients.parquet")) == 300
    manifest = json.loads((out / "synth.json").read_text())
    assert manifest["seed"] == 9 and manifest["format"] == "parquet"
    assert manifest["counts"]["prescriptions"] == len(pd.read_parquet(out / "prescriptions.parquet"))


def test_bad_format_is_a_user_error(tmp_path):
    result = CliRunner().invoke(app, ["--patients", "5", "--out", str(tmp_path / "x"), "--format", "xml", "-q"])
    assert isinstance(result.exception, UserError)
    assert "csv or parquet" in str(result.exception)
    assert not (tmp_path / "x").exists()


def test_progress_and_summary_are_shown_unless_quiet(tmp_path):
    result = CliRunner().invoke(app, ["--patients", "50", "--out", str(tmp_path / "x"), "--no-notes"])
    assert result.exit_code == 0, result.output
    assert "patients 50" in result.output
    assert not (tmp_path / "x" / "notes.csv").exists()
    assert len(pd.read_csv(tmp_path / "x" / "patients.csv")) == 50


def test_works_when_mounted_under_a_parent_app(tmp_path):
    import typer

    parent = typer.Typer()

    @parent.command()
    def version() -> None:  # a sibling command, as in trdpath's own CLI
        typer.echo("0")

    parent.add_typer(app, name="synth")
    result = CliRunner().invoke(parent, ["synth", "--patients", "20", "--seed", "3", "--out", str(tmp_path / "m"), "-q"])
    assert result.exit_code == 0, result.output
    assert len(pd.read_csv(tmp_path / "m" / "patients.csv")) == 20
