"""Notes flags (trdpath.nlp) as optional predictors of the risk model: they enter when the mention
table of `trdpath nlp extract` is given, are cut at each patient's own index day, and are refused
with a clear message when the notes were not processed."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cli.test_bad_input import run_cli, write_extract
from trdpath.early.risk import PREDICTOR_LISTS, add_notes_flags, fit_and_evaluate, read_mentions
from trdpath.errors import UserError
from trdpath.nlp.patient import FLAG_COLUMNS

DAY = 18_000  # 2019-04-14 (days since 1970-01-01)


def _mention(pid, date, category, negated=False):
    return {"patient_id": pid, "note_id": f"n{pid}{date}", "date": date, "category": category, "negated": negated,
            "hypothetical": False, "experiencer": "patient", "certainty": "certain"}


def test_flags_known_by_each_index_day():
    frame = pd.DataFrame({"patient_id": ["a", "b", "c", "d", "e"], "index_day": [DAY] * 5})
    mentions = pd.DataFrame([
        _mention("a", "2019-04-01", "self_harm"),                   # before the index day: counts
        _mention("b", "2019-04-15", "self_harm"),                   # the day after 2019-04-14: not yet known
        _mention("c", "2019-01-01", "suicidal_ideation", negated=True),  # negated: not affirmed
        _mention("d", "2019-04-14", "suicide_attempt"),             # on the index day; an attempt is self-harm too
    ])
    mentions["date"] = pd.to_datetime(mentions["date"])
    flags = add_notes_flags(frame, mentions).set_index("patient_id")
    assert flags["self_harm_nlp"].to_dict() == {"a": True, "b": False, "c": False, "d": True, "e": False}
    assert flags["suicide_attempt_nlp"].to_dict() == {"a": False, "b": False, "c": False, "d": True, "e": False}
    assert not flags["suicidal_ideation_nlp"].any()


def _frame(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"patient_id": [f"{i:06d}" for i in range(n)], "index_day": rng.integers(17000, 19000, n),
                          "age": rng.normal(45, 15, n), "sex": rng.choice(["female", "male"], n),
                          "prior_episodes": rng.poisson(0.5, n), "referrals_before": rng.poisson(1.0, n)})
    for name in PREDICTOR_LISTS:
        frame[name] = rng.random(n) < 0.2
    for name in FLAG_COLUMNS:
        frame[name] = rng.random(n) < 0.25
    # Known effect: log-odds +2 with suicidal ideation in the notes, nothing else.
    frame["outcome"] = rng.random(n) < 1 / (1 + np.exp(-(-1.5 + 2.0 * frame["suicidal_ideation_nlp"])))
    return frame


def test_notes_flags_enter_the_model_when_present():
    frame = _frame(4000, seed=8)
    with_notes = fit_and_evaluate(frame, "logistic")
    coefs = with_notes["coefficients"].set_index("predictor")["coefficient"]
    assert {f"bin__{c}" for c in FLAG_COLUMNS} <= set(coefs.index)
    # The true log-odds ratio is 2; L2 shrinkage at C=1 with 2,800 training patients is slight.
    assert 1.6 < coefs["bin__suicidal_ideation_nlp"] < 2.4 and abs(coefs["bin__self_harm_nlp"]) < 0.4
    without = fit_and_evaluate(frame.drop(columns=FLAG_COLUMNS), "logistic")
    assert not any(p.endswith("_nlp") for p in without["coefficients"]["predictor"])
    # The flag carries the only signal: the test AUROC falls to chance without it.
    assert with_notes["test"]["auroc_ci"][0] > 0.6 and without["test"]["auroc"] < 0.58


def test_refused_when_the_notes_were_not_processed(tmp_path):
    with pytest.raises(UserError, match="notes were not processed"):
        read_mentions(tmp_path / "mentions.parquet")
    (tmp_path / "notes.csv").write_text("patient_id,note_id,date,text\n1,n1,2020-01-01,low mood\n")
    with pytest.raises(UserError, match="lacks the column.*category"):
        read_mentions(tmp_path / "notes.csv")  # the raw notes, not the mention table
    bad = pd.DataFrame([_mention("a", "2019-04-01", "self_harm")]).assign(negated="perhaps")
    bad.to_csv(tmp_path / "bad.csv", index=False)
    with pytest.raises(UserError, match="row 2, column negated.*perhaps"):
        read_mentions(tmp_path / "bad.csv")


def test_cli_refuses_before_any_work(tmp_path):
    data = write_extract(tmp_path / "extract")
    done = run_cli("risk", "--data", str(data), "--out", str(tmp_path / "risk"), "--mentions", str(tmp_path / "none.csv"))
    assert done.returncode == 2 and "notes were not processed" in done.stderr + done.stdout
    assert "Traceback" not in done.stderr and not (tmp_path / "risk").exists()
