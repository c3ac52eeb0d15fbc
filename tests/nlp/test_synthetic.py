"""make_notes writes notes whose truth it knows; the NLP must recover that truth."""

import datetime as dt

import numpy as np
import pandas as pd

from trdpath.nlp.patient import flags_from_mentions
from trdpath.nlp.pipeline import extract_mentions
from trdpath.nlp.synthetic import make_notes


def _patients(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "patient_id": [f"P{i:04d}" for i in range(n)],
        "index_date": [dt.date(2022, 1, 1) - dt.timedelta(days=int(d)) for d in rng.integers(0, 800, n)],
        "self_harm": rng.random(n) < 0.25,
        "suicidal_ideation": rng.random(n) < 0.25,
        "suicide_attempt": rng.random(n) < 0.08,
    })


def test_notes_follow_the_data_contract_and_dates_precede_index():
    patients = _patients(200, seed=5)
    notes, truth = make_notes(patients, seed=11)
    assert list(notes.columns) == ["patient_id", "note_id", "date", "text"]
    assert notes["note_id"].is_unique
    counts = notes.groupby("patient_id").size().reindex(patients["patient_id"], fill_value=0)
    assert counts.between(0, 5).all()
    positive = patients[["self_harm", "suicidal_ideation", "suicide_attempt"]].any(axis=1).to_numpy()
    assert (counts.to_numpy()[positive] >= 1).all()
    index = notes["patient_id"].map(patients.set_index("patient_id")["index_date"])
    assert (notes["date"] <= index).all()
    words = notes["text"].str.split().str.len()
    assert 80 <= words.mean() <= 120
    # NICE NG225: a suicide attempt is self-harm, so the truth of self-harm includes attempts.
    expected = (patients["self_harm"] | patients["suicide_attempt"]).to_numpy()
    assert (truth["self_harm_true"].to_numpy() == expected).all()
    assert (truth["suicidal_ideation_true"].to_numpy() == patients["suicidal_ideation"].to_numpy()).all()


def test_same_seed_same_notes():
    patients = _patients(50, seed=1)
    first, _ = make_notes(patients, seed=3)
    second, _ = make_notes(patients, seed=3)
    pd.testing.assert_frame_equal(first, second)


def test_patient_flags_recover_the_truth(nlp):
    patients = _patients(300, seed=7)
    notes, truth = make_notes(patients, seed=2)
    mentions = extract_mentions(notes, nlp)
    flags = flags_from_mentions(mentions, patients["patient_id"],
                                patients.set_index("patient_id")["index_date"])
    joined = truth.merge(flags, on="patient_id")
    assert len(joined) == 300
    for category in ("self_harm", "suicidal_ideation", "suicide_attempt"):
        agreement = (joined[f"{category}_true"] == joined[f"{category}_nlp"]).mean()
        assert agreement >= 0.97, (category, agreement)
        # Distractors (negated, family, risk, OD dosing) must not create positives.
        false_positive = (joined[f"{category}_nlp"] & ~joined[f"{category}_true"]).sum()
        assert false_positive == 0, category


def test_pronouns_follow_recorded_sex():
    patients = _patients(60, seed=9).assign(sex=["Female", "male"] * 30,
                                           self_harm=True)  # every patient gets notes
    notes, _ = make_notes(patients, seed=4)
    sex = notes["patient_id"].map(patients.set_index("patient_id")["sex"])
    has_she = notes["text"].str.contains(r"\b(?:She|she|her|Her)\b")
    has_he = notes["text"].str.contains(r"\b(?:He|he|his|His|him)\b")
    assert not (has_he & (sex == "Female")).any()
    assert not (has_she & (sex == "male")).any()
