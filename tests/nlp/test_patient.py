"""Patient-level flags: affirmed mentions about the patient, on or before the index date."""

import datetime as dt
import json

import pandas as pd
import pytest

from trdpath.errors import InputError
from trdpath.nlp.patient import (flags_from_mentions, patient_flags, self_harm_gain,
                                 self_harm_sensitivity_inputs)
from trdpath.nlp.pipeline import build_pipeline, extract_mentions


def _notes(rows):
    return pd.DataFrame(rows, columns=["patient_id", "note_id", "date", "text"])


NOTES = _notes([
    ("A", "a1", "2020-01-10", "Took an overdose last night."),              # self-harm, before index
    ("B", "b1", "2020-01-10", "Denies SI. Mother self-harmed."),             # negated + family: nothing
    ("B", "b2", "2020-06-01", "Cut her arms yesterday."),                    # after B's index date
    ("C", "c1", "2019-05-05", "Previous suicide attempt in 2012."),          # historical attempt counts
    ("D", "d1", "2020-01-10", "Risk of self-harm assessed as low. If she feels suicidal she will call."),
    ("E", "e1", "2020-01-10", "?OD, intent unclear. Sertraline 50mg OD."),   # uncertain, dosing
    ("F", "f1", "2020-01-10", "Reports suicidal ideation most days."),
])


def test_patient_flags_by_hand(nlp):
    index = pd.Series({"A": dt.date(2020, 2, 1), "B": dt.date(2020, 2, 1), "C": dt.date(2020, 2, 1),
                       "D": dt.date(2020, 2, 1), "E": dt.date(2020, 2, 1), "F": dt.date(2020, 1, 10)})
    flags = flags_from_mentions(extract_mentions(NOTES, nlp), NOTES["patient_id"], index).set_index("patient_id")
    expected = pd.DataFrame({
        # NICE NG225: a suicide attempt is self-harm, so C has self_harm_nlp too
        "self_harm_nlp":         {"A": True,  "B": False, "C": True,  "D": False, "E": False, "F": False},
        "suicidal_ideation_nlp": {"A": False, "B": False, "C": False, "D": False, "E": False, "F": True},
        "suicide_attempt_nlp":   {"A": False, "B": False, "C": True,  "D": False, "E": False, "F": False},
    })
    pd.testing.assert_frame_equal(flags[expected.columns], expected.loc[flags.index], check_names=False)


def test_single_index_date_and_none(nlp):
    before = patient_flags(NOTES, dt.date(2020, 1, 1)).set_index("patient_id")
    # only C's 2019 note is on or before 2020-01-01
    assert before["self_harm_nlp"].to_dict() == {"A": False, "B": False, "C": True, "D": False, "E": False, "F": False}
    everything = patient_flags(NOTES).set_index("patient_id")
    assert everything.loc["B", "self_harm_nlp"]  # the June note counts without a cut-off


def test_flags_from_empty_mentions():
    empty = pd.DataFrame(columns=["patient_id", "note_id", "date", "start", "end", "text", "category",
                                  "negated", "historical", "hypothetical", "experiencer", "certainty"])
    flags = flags_from_mentions(empty, ["X", "Y"], dt.date(2020, 1, 1))
    assert flags["patient_id"].tolist() == ["X", "Y"]
    assert not flags[["self_harm_nlp", "suicidal_ideation_nlp", "suicide_attempt_nlp"]].any().any()


def test_sensitivity_inputs_and_gain():
    patients = pd.DataFrame({"patient_id": ["1", "2", "3", "4"], "self_harm": [True, False, False, True],
                             "trd": [True, True, False, False]})
    flags = pd.DataFrame({"patient_id": ["2", "3", "4"], "self_harm_nlp": [True, False, True],
                          "suicidal_ideation_nlp": [False, True, False], "suicide_attempt_nlp": [False] * 3})
    table = self_harm_sensitivity_inputs(patients, flags)
    assert table["self_harm_any"].tolist() == [True, True, False, True]
    gain = self_harm_gain(table, "trd").set_index("group")
    # TRD: codes 1 (patient 1), notes 1 (patient 2), any 2, notes only 1; MDD: codes 1, notes 1, any 1, notes only 0
    assert gain.loc[True, ["self_harm_codes", "self_harm_nlp", "self_harm_any", "notes_only"]].tolist() == [1, 1, 2, 1]
    assert gain.loc[False, ["self_harm_codes", "self_harm_nlp", "self_harm_any", "notes_only"]].tolist() == [1, 1, 1, 0]
    with pytest.raises(InputError):
        self_harm_sensitivity_inputs(patients.drop(columns="self_harm"), flags)


def test_bad_notes_table_is_a_user_error():
    with pytest.raises(InputError, match="missing column"):
        patient_flags(pd.DataFrame({"patient_id": ["1"], "text": ["x"]}))
    bad_date = _notes([("1", "n1", "10/01/2020x", "Denies SI.")])
    with pytest.raises(InputError, match="row 2"):
        patient_flags(bad_date)


def test_extra_rule_file_extends_the_targets(tmp_path):
    extra = tmp_path / "site.json"
    extra.write_text(json.dumps({"target_rules": [
        {"literal": "jumped from a bridge", "category": "SUICIDE_ATTEMPT"}]}))
    notes = _notes([("1", "n1", "2020-01-01", "She jumped from a bridge on Friday.")])
    assert len(extract_mentions(notes, build_pipeline())) == 0
    nlp = build_pipeline([extra])
    assert nlp.meta["trdpath_prefilter"] is None  # new targets without a prefilter: every note is read
    found = extract_mentions(notes, nlp)
    assert found[["text", "category"]].values.tolist() == [["jumped from a bridge", "suicide_attempt"]]


def test_bad_rule_file_names_the_file(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"target_rules": [{"literal": "x"}]}')
    with pytest.raises(InputError, match="bad.json"):
        build_pipeline([bad])
    with pytest.raises(InputError, match="not found"):
        build_pipeline([tmp_path / "missing.json"])
