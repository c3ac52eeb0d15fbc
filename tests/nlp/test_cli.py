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


def test_flags_command_applies_the_index_date(tmp_path):
    notes = tmp_path / "notes.csv"
    pd.DataFrame({"patient_id": ["1", "1", "2"], "note_id": ["a", "b", "c"],
                  "date": ["2020-01-01", "2021-06-01", "2020-01-01"],
                  "text": ["No self-harm.", "Cut her wrists last night.", "Reports suicidal ideation."]}
                 ).to_csv(notes, index=False)
    out = tmp_path / "flags.csv"
    result = runner.invoke(app, ["flags", "--notes", str(notes), "--out", str(out), "--index-date", "2021-01-01"])
    assert result.exit_code == 0, result.output
    table = pd.read_csv(out, dtype={"patient_id": str}).set_index("patient_id")
    assert table.loc["1", "self_harm_nlp"] == False  # noqa: E712  the June 2021 note is after the index date
    assert table.loc["2", "suicidal_ideation_nlp"] == True  # noqa: E712
    bad = runner.invoke(app, ["flags", "--notes", str(notes), "--out", str(out), "--index-date", "June"])
    assert bad.exit_code == 2 and "YYYY-MM-DD" in bad.output


def test_evaluate_by_family_prints_intervals_per_family():
    gold = resources.files("trdpath.nlp") / "gold" / "heldout.csv"
    result = runner.invoke(app, ["evaluate", str(gold), "--by-family", "--bootstrap", "200"], terminal_width=200)
    assert result.exit_code == 0, result.output
    for label in ("95% CI", "family time_qualifier", "family intent_act", "family historical_cue",
                  "family contrastive", "family negex_trigger"):
        assert label in result.output
