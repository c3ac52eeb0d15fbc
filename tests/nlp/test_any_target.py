"""Issue 21: the context layer works for any target a user adds with --rules, and the CSV writers are safe."""

import json

import pandas as pd
import pytest
from typer.testing import CliRunner

from trdpath.nlp.cli import app
from trdpath.nlp.patient import patient_flags
from trdpath.nlp.pipeline import build_pipeline, extract_mentions

runner = CliRunner()

# A condition far from self-harm, with a category name the package has never heard of.
RULES = {"target_rules": [{"literal": "chest pain", "category": "CHEST_PAIN"},
                          {"literal": "angina", "category": "CHEST_PAIN"}],
         "prefilter": "chest pain|angina"}
# sentence -> (negated, historical, hypothetical, experiencer), as a clinician reads it
EXPECTED = {
    "Denies chest pain.": (True, False, False, "patient"),
    "History of angina in 2015, none since.": (False, True, False, "patient"),
    "Chest pain on exertion this morning.": (False, False, False, "patient"),
    "Return to A&E if chest pain recurs.": (False, False, True, "patient"),
    "Her father has angina.": (False, False, False, "family"),
    "No chest pain, but angina last week.": (True, False, False, "patient"),
}


@pytest.fixture(scope="module")
def rule_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("rules") / "cardiac.json"
    path.write_text(json.dumps(RULES))
    return path


def _notes(texts, date="2020-06-01"):
    return pd.DataFrame({"patient_id": [f"p{i}" for i in range(len(texts))], "note_id": [f"n{i}" for i in range(len(texts))],
                         "date": date, "text": texts})


def test_a_new_category_gets_negation_history_hypothetical_and_experiencer(rule_file):
    nlp = build_pipeline([rule_file])
    found = extract_mentions(_notes(list(EXPECTED)), nlp)
    found = found[found["category"] == "chest_pain"]
    got = {}
    for row in found.itertuples():
        sentence = list(EXPECTED)[int(row.patient_id[1:])]
        got.setdefault(sentence, (row.negated, row.historical, row.hypothetical, row.experiencer))
    assert got == EXPECTED
    # the audit columns name the rule behind each attribute, for the new category as for the built-in ones
    by_text = found.set_index("text")
    assert by_text.loc["chest pain"].iloc[0]["negated_rule"] == "context:no"
    assert "context:none since" in by_text.loc["angina"].iloc[0]["historical_rule"]
    assert by_text.loc["angina"].iloc[1]["experiencer_rule"] == "context:mother"


def test_the_new_category_gets_its_own_patient_flag(rule_file):
    notes = _notes(["Denies chest pain.", "Her father has angina.", "Angina on exertion."])
    flags = patient_flags(notes, extra_rule_files=[rule_file]).set_index("patient_id")
    assert flags["chest_pain_nlp"].to_dict() == {"p0": False, "p1": False, "p2": True}
    assert list(flags.columns[:3]) == ["self_harm_nlp", "suicidal_ideation_nlp", "suicide_attempt_nlp"]


def test_extract_cli_with_extra_rules_and_formula_text_is_neutralised(tmp_path, rule_file):
    """issue 14 item 3: a note whose mention starts with '=' or '-' must not reach the CSV as a formula."""
    notes = tmp_path / "notes.csv"
    pd.DataFrame({"patient_id": ["=HYPERLINK(\"http://x\")", "2"], "note_id": ["a", "-b"], "date": ["2021-01-01"] * 2,
                  "text": ["Denies chest pain.", "Took an overdose on Friday."]}).to_csv(notes, index=False)
    out = tmp_path / "mentions.csv"
    result = runner.invoke(app, ["extract", "--notes", str(notes), "--out", str(out), "--rules", str(rule_file)])
    assert result.exit_code == 0, result.output
    written = pd.read_csv(out, dtype=str, keep_default_na=False)
    assert written["patient_id"].tolist() == ["'=HYPERLINK(\"http://x\")", "2"]
    assert written["note_id"].tolist() == ["a", "'-b"]
    assert written["category"].tolist() == ["chest_pain", "self_harm"]
    assert written["negated"].tolist() == ["True", "False"]
    flags_out = tmp_path / "flags.csv"
    result = runner.invoke(app, ["flags", "--notes", str(notes), "--out", str(flags_out), "--rules", str(rule_file)])
    assert result.exit_code == 0, result.output
    flags = pd.read_csv(flags_out, dtype=str, keep_default_na=False)
    assert flags["patient_id"].tolist() == ["'=HYPERLINK(\"http://x\")", "2"]
    assert flags["self_harm_nlp"].tolist() == ["False", "True"]


def test_parquet_output_keeps_the_text_as_it_is(tmp_path):
    """Neutralising is for spreadsheets; a Parquet table keeps the exact identifiers."""
    notes = tmp_path / "notes.csv"
    pd.DataFrame({"patient_id": ["=1+1"], "note_id": ["a"], "date": ["2021-01-01"],
                  "text": ["Took an overdose on Friday."]}).to_csv(notes, index=False)
    out = tmp_path / "mentions.parquet"
    result = runner.invoke(app, ["extract", "--notes", str(notes), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert pd.read_parquet(out)["patient_id"].tolist() == ["=1+1"]


def test_unknown_on_modifies_callback_is_a_clean_error(tmp_path):
    from trdpath.errors import InputError

    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"context_rules": [{"literal": "x", "category": "HISTORICAL",
                                                   "metadata": {"on_modifies": "os.system"}}]}))
    with pytest.raises(InputError, match=r"bad\.json, row 1: .*unknown on_modifies 'os\.system'"):
        build_pipeline([path])
