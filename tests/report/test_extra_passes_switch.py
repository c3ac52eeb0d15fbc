"""Issue 16: the assumption-sensitivity and pathway passes of `classify` can be switched off.

`[analysis] assumption_sensitivity` / `pathways` (default true) and `trdpath classify/run --no-extra-passes`;
a pass switched off writes nothing, and the report says it was not run instead of showing empty tables.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from typer.testing import CliRunner

from trdpath import layout
from trdpath.cli import app
from trdpath.config import StudyConfig, config_from_dict, load_config

from .test_with_classification import small_extract

runner = CliRunner()


def _extract_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "extract"
    folder.mkdir()
    for name, table in small_extract().items():
        table.to_csv(folder / f"{name}.csv", index=False)
    return folder


def test_both_passes_are_on_by_default_and_each_can_be_switched_off():
    assert StudyConfig().analysis.assumption_sensitivity is True
    assert StudyConfig().analysis.pathways is True
    config = config_from_dict({"analysis": {"pathways": False}})
    assert (config.analysis.assumption_sensitivity, config.analysis.pathways) == (True, False)
    assert "pathways = false" in config.to_toml()


def test_run_with_no_extra_passes_says_so_in_the_report(tmp_path):
    out = tmp_path / "out"
    result = runner.invoke(app, ["run", "--data", str(_extract_folder(tmp_path)), "--out", str(out), "--quiet",
                                 "--no-extra-passes"])
    assert result.exit_code == 0, result.output
    # The switch is recorded in the result's configuration, so `trdpath report` later says the same.
    written = load_config(out / "config.toml")
    assert (written.analysis.assumption_sensitivity, written.analysis.pathways) == (False, False)
    # Neither pass ran: no patient-level file of theirs, no published table of theirs.
    assert not (out / "assumption_sensitivity.csv").exists()
    assert not list(out.glob("pathway_steps.*"))
    tables = layout.tables_dir(out)
    for stem in ("assumption_sensitivity", "lines", "steps", "step_times", "time_to_trd"):
        assert not (tables / f"{stem}.csv").exists(), stem
    html = (layout.release_dir(out) / layout.REPORT_HTML).read_text(encoding="utf-8")
    assert "analysis.assumption_sensitivity = false" in html
    assert "analysis.pathways = false" in html
    assert html.count("Not run: this classification was made with") == 2
    assert "Table 6 Prevalence of TRD" not in html  # no empty table in its place
    # `trdpath report` on the same folder reads the switch from OUT/config.toml and says it again.
    again = runner.invoke(app, ["report", "--results", str(out), "--quiet"])
    assert again.exit_code == 0, again.output
    html = (layout.release_dir(out) / layout.REPORT_HTML).read_text(encoding="utf-8")
    assert html.count("Not run: this classification was made with") == 2


def test_run_by_default_writes_both_passes(tmp_path):
    out = tmp_path / "out"
    result = runner.invoke(app, ["run", "--data", str(_extract_folder(tmp_path)), "--out", str(out), "--quiet"])
    assert result.exit_code == 0, result.output
    assert (out / "assumption_sensitivity.csv").exists()
    assert list(out.glob("pathway_steps.*"))
    tables = layout.tables_dir(out)
    assert (tables / "assumption_sensitivity.csv").exists() and (tables / "lines.csv").exists()
    # The 40 hand-made patients all take a first antidepressant: line 1's total is the whole cohort.
    lines = pd.read_csv(tables / "lines.csv", keep_default_na=False)
    assert "any" in set(lines["drug"])
    html = (layout.release_dir(out) / layout.REPORT_HTML).read_text(encoding="utf-8")
    assert "Not run: this classification was made with" not in html


def test_only_the_pathway_pass_switched_off_in_the_study_config(tmp_path):
    config = tmp_path / "study.toml"
    config.write_text("[analysis]\npathways = false\n", encoding="utf-8")
    out = tmp_path / "out"
    result = runner.invoke(app, ["run", "--data", str(_extract_folder(tmp_path)), "--out", str(out), "--quiet",
                                 "--config", str(config)])
    assert result.exit_code == 0, result.output
    assert (out / "assumption_sensitivity.csv").exists()
    assert not list(out.glob("pathway_steps.*"))
    html = (layout.release_dir(out) / layout.REPORT_HTML).read_text(encoding="utf-8")
    assert html.count("Not run: this classification was made with") == 1
    assert "analysis.pathways = false" in html
