from importlib import resources

import pandas as pd
from typer.testing import CliRunner

from trdpath.nlp.cli import app

runner = CliRunner()


def test_evaluate_prints_scores_per_category_and_attribute():
    gold = resources.files("trdpath.nlp") / "gold" / "dev.csv"
    result = runner.invoke(app, ["evaluate", str(gold)], terminal_width=160)
    assert result.exit_code == 0, result.output
    for label in ("self_harm", "suicidal_ideation", "suicide_attempt", "negated", "historical",
                  "hypothetical", "experiencer", "certainty", "precision", "recall", "F1"):
        assert label in result.output


def test_extract_writes_mentions(tmp_path):
    notes = tmp_path / "notes.csv"
    pd.DataFrame({"patient_id": ["007", "008"], "note_id": ["a", "b"], "date": ["2021-01-01"] * 2,
                  "text": ["Denies SI. Took an overdose on Friday.", "Sertraline 50mg OD."]}).to_csv(notes, index=False)
    out = tmp_path / "out" / "mentions.csv"
    result = runner.invoke(app, ["extract", "--notes", str(notes), "--out", str(out)])
    assert result.exit_code == 0, result.output
    mentions = pd.read_csv(out, dtype={"patient_id": str})
    assert mentions[["patient_id", "text", "category", "negated"]].values.tolist() == [
        ["007", "SI", "suicidal_ideation", True], ["007", "overdose", "self_harm", False]]
    assert [p.name for p in out.parent.iterdir()] == ["mentions.csv"]  # no temporary left behind


def test_missing_notes_file_is_a_clean_error(tmp_path):
    result = runner.invoke(app, ["extract", "--notes", str(tmp_path / "none.csv"), "--out", str(tmp_path / "o.csv")])
    assert result.exit_code == 2
    assert "file not found" in result.output
