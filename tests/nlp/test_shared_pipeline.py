"""The pipeline built once per process (pipeline.shared_pipeline) gives exactly a fresh pipeline's mentions.

classify, the reference engine and `trdpath nlp` reuse one built pipeline per set of rule files instead of
building it (~1-2 s of CPU) on every call; the second implementation here is a pipeline built afresh for
each set of notes (build_pipeline), compared mention by mention, column by column, after the shared one
has already read other notes.
"""

import datetime as dt
import json
import threading
from importlib import resources

import numpy as np
import pandas as pd
import pytest

from trdpath.errors import InputError
from trdpath.nlp.evaluate import read_gold
from trdpath.nlp.patient import patient_flags
from trdpath.nlp.pipeline import build_pipeline, extract_mentions, shared_pipeline
from trdpath.nlp.synthetic import make_notes

GOLD_DIR = resources.files("trdpath.nlp") / "gold"


def _gold_notes(split: str) -> pd.DataFrame:
    sentences = read_gold(GOLD_DIR / f"{split}.csv").drop_duplicates("sentence_id")
    return pd.DataFrame({"patient_id": sentences["sentence_id"], "note_id": sentences["sentence_id"],
                         "date": "2020-01-01", "text": sentences["text"]})


def _synthetic_notes(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    patients = pd.DataFrame({
        "patient_id": [f"P{i:04d}" for i in range(n)],
        "index_date": [dt.date(2022, 1, 1) - dt.timedelta(days=int(d)) for d in rng.integers(0, 800, n)],
        "self_harm": rng.random(n) < 0.25, "suicidal_ideation": rng.random(n) < 0.25,
        "suicide_attempt": rng.random(n) < 0.08})
    return make_notes(patients, seed=seed)[0]


def _site_rules(tmp_path, literal: str):
    path = tmp_path / "site.json"
    path.write_text(json.dumps({"target_rules": [{"literal": literal, "category": "SUICIDE_ATTEMPT"}]}))
    return path


def test_one_pipeline_per_rule_set_and_thread(tmp_path):
    assert shared_pipeline() is shared_pipeline()
    site = _site_rules(tmp_path, "jumped from a bridge")
    with_site = shared_pipeline([site])
    assert with_site is not shared_pipeline() and with_site is shared_pipeline([site])
    other_thread = []
    worker = threading.Thread(target=lambda: other_thread.append(shared_pipeline()))
    worker.start()
    worker.join()
    assert other_thread[0] is not shared_pipeline()  # spaCy's vocabulary is written while it reads


def test_shared_pipeline_gives_a_fresh_pipelines_mentions():
    gold, synthetic = _gold_notes("test"), _synthetic_notes(300, seed=7)
    fresh = [extract_mentions(notes, build_pipeline()) for notes in (gold, synthetic)]  # one new pipeline each
    assert all(len(found) > 0 for found in fresh)
    # Read in this order by the one shared pipeline: every mention and column as a pipeline built for it alone.
    for notes, expected in ((gold, fresh[0]), (synthetic, fresh[1]), (gold, fresh[0])):
        shared = extract_mentions(notes, shared_pipeline())
        pd.testing.assert_frame_equal(shared, expected)
        assert shared.to_csv(index=False) == expected.to_csv(index=False)
    # extract_mentions without a pipeline uses the shared one
    assert extract_mentions(synthetic).to_csv(index=False) == fresh[1].to_csv(index=False)


def test_patient_flags_as_with_a_fresh_pipeline():
    notes = _synthetic_notes(200, seed=3)
    fresh = patient_flags(notes, dt.date(2021, 6, 1), mentions=extract_mentions(notes, build_pipeline()))
    for _ in range(2):  # the second call reuses the pipeline the first built
        pd.testing.assert_frame_equal(patient_flags(notes, dt.date(2021, 6, 1)), fresh)
    assert fresh["self_harm_nlp"].any() and not fresh["self_harm_nlp"].all()


def test_a_rewritten_rule_file_is_read_again(tmp_path):
    notes = pd.DataFrame({"patient_id": ["1"], "note_id": ["n1"], "date": ["2020-01-01"],
                          "text": ["She jumped from a bridge on Friday, then leapt off a roof."]})
    site = _site_rules(tmp_path, "jumped from a bridge")
    first = patient_flags(notes, extra_rule_files=[site])
    assert first["suicide_attempt_nlp"].tolist() == [True]
    # Same path, new contents: the shared pipeline must follow the file, as a fresh one does.
    site.write_text(json.dumps({"target_rules": [{"literal": "jumped into a river", "category": "SUICIDE_ATTEMPT"}]}))
    assert patient_flags(notes, extra_rule_files=[site])["suicide_attempt_nlp"].tolist() == [False]
    site.write_text(json.dumps({"target_rules": [{"literal": "leapt off a roof", "category": "SUICIDE_ATTEMPT"}]}))
    found = extract_mentions(notes, extra_rule_files=[site])
    assert found["text"].tolist() == ["leapt off a roof"]


def test_bad_rule_files_still_fail_every_time(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"target_rules": [{"literal": "x"}]}')
    notes = pd.DataFrame({"patient_id": ["1"], "note_id": ["n1"], "date": ["2020-01-01"], "text": ["Took an overdose."]})
    for _ in range(2):  # a failed build is not kept
        with pytest.raises(InputError, match="bad.json"):
            patient_flags(notes, extra_rule_files=[bad])
        with pytest.raises(InputError, match="not found"):
            patient_flags(notes, extra_rule_files=[tmp_path / "missing.json"])
