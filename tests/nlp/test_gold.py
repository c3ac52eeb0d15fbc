"""The gold set format, the scoring arithmetic, and the acceptance figures on the held-out test split."""

from importlib import resources

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from trdpath.errors import InputError
from trdpath.nlp.evaluate import (Score, bootstrap_f1, build_gold_csv, counts_by_sentence, markup_to_frame,
                                  parse_markup, predict_gold, read_gold, score, score_report)

GOLD = resources.files("trdpath.nlp") / "gold"


def test_parse_markup_offsets_by_hand():
    text, mentions = parse_markup("Denies [SI|SI|n]; [mother|-|-] [self-harmed|SH|fh] in 2010.")
    assert text == "Denies SI; mother self-harmed in 2010."
    # 'SI' starts after 'Denies ' (7 characters); 'self-harmed' after 'Denies SI; mother ' (18).
    assert [(m["start"], m["end"], m["span"]) for m in mentions] == [(7, 9, "SI"), (18, 29, "self-harmed")]
    assert mentions[0]["negated"] and not mentions[0]["historical"]
    assert mentions[1]["experiencer"] == "family" and mentions[1]["historical"]


def test_parse_markup_rejects_unknown_category():
    with pytest.raises(ValueError):
        parse_markup("[cut|XX|] her arm")


@pytest.mark.parametrize("split", ["dev", "test", "heldout"])
def test_shipped_csv_is_built_from_the_markup(split, tmp_path):
    rebuilt = build_gold_csv(GOLD / f"{split}.txt", tmp_path / "gold.csv", split[0].upper())
    shipped = read_gold(GOLD / f"{split}.csv")
    assert len(rebuilt) == len(shipped)
    assert (rebuilt["span"].fillna("").to_numpy() == shipped["span"].to_numpy()).all()


def test_build_gold_csv_failing_mid_write_keeps_the_old_file(tmp_path, monkeypatch):
    # A writer that dies half way (a kill, a full disk) must leave the previous gold file whole, not half of one.
    target = tmp_path / "gold.csv"
    target.write_text("old gold\n", encoding="utf-8")

    def dies_half_way(self, path, **kwargs):
        with open(path, "w", encoding="utf-8") as handle:
            handle.write("sentence_id,te")
        raise OSError("disk full")

    monkeypatch.setattr(pd.DataFrame, "to_csv", dies_half_way)
    with pytest.raises(OSError):
        build_gold_csv(GOLD / "dev.txt", target, "D")
    assert target.read_text(encoding="utf-8") == "old gold\n"
    assert [p.name for p in tmp_path.iterdir()] == ["gold.csv"]  # no staging file left behind


def test_gold_set_size_and_hard_cases():
    dev, test = read_gold(GOLD / "dev.csv"), read_gold(GOLD / "test.csv")
    assert dev["sentence_id"].nunique() + test["sentence_id"].nunique() >= 400
    for gold in (dev, test):
        labelled = gold[gold["category"] != ""]
        assert labelled["negated"].sum() >= 20 and labelled["historical"].sum() >= 20
        assert labelled["hypothetical"].sum() >= 15
        assert (labelled["experiencer"] == "family").sum() >= 10
        assert (labelled["experiencer"] == "other").sum() >= 10
        assert (labelled["certainty"] == "uncertain").sum() >= 10
        # once-daily dosing sentences carry no label
        dosing = gold[gold["text"].str.contains(r"\d+ ?mg OD", regex=True)]
        assert len(dosing) >= 3 and (dosing["category"] == "").all()


def test_read_gold_names_the_bad_row(tmp_path):
    bad = tmp_path / "gold.csv"
    frame = markup_to_frame("[Self-harm|SH|] today.\nNo [SI|SI|n].", "X")
    frame.loc[1, "span"] = "XX"
    frame.to_csv(bad, index=False)
    with pytest.raises(InputError, match="row 3"):
        read_gold(bad)


def test_score_arithmetic_by_hand():
    gold = markup_to_frame("[Self-harm|SH|n] and [SI|SI|].\n[Overdose|SH|h].\nNothing here.", "G")
    predicted = pd.DataFrame([
        # sentence 1: self-harm found, negated correctly; SI found but wrongly negated
        {"sentence_id": "G0001", "start": 0, "end": 9, "category": "self_harm", "negated": True,
         "historical": False, "hypothetical": False, "experiencer": "patient", "certainty": "certain"},
        {"sentence_id": "G0001", "start": 14, "end": 16, "category": "suicidal_ideation", "negated": True,
         "historical": False, "hypothetical": False, "experiencer": "patient", "certainty": "certain"},
        # sentence 2: overdose missed; sentence 3: a false positive self-harm
        {"sentence_id": "G0003", "start": 0, "end": 7, "category": "self_harm", "negated": False,
         "historical": False, "hypothetical": False, "experiencer": "patient", "certainty": "certain"},
    ])
    scores = score(gold, predicted)
    assert (scores["category:self_harm"].tp, scores["category:self_harm"].fp, scores["category:self_harm"].fn) == (1, 1, 1)
    assert scores["category:self_harm"].f1 == pytest.approx(0.5)
    assert (scores["category:suicidal_ideation"].tp, scores["category:suicidal_ideation"].fp) == (1, 0)
    negated = scores["attribute:negated"]
    assert (negated.tp, negated.fp, negated.fn) == (1, 1, 0)  # SI negated in error
    assert negated.precision == pytest.approx(0.5) and negated.recall == pytest.approx(1.0)


def test_score_properties():
    assert Score(8, 2, 0).precision == pytest.approx(0.8)
    assert Score(8, 2, 0).f1 == pytest.approx(2 * 0.8 * 1.0 / 1.8)


def test_acceptance_on_held_out_test_split(nlp):
    """Issue 6 'done when': F1 >= 0.90 for self-harm and suicidal ideation, >= 0.85 per context attribute.

    The test split was written and committed before the rules were tuned on dev (see docs/nlp.md).
    """
    gold = read_gold(GOLD / "test.csv")
    scores = score(gold, predict_gold(gold, nlp))
    assert scores["category:self_harm"].f1 >= 0.90
    assert scores["category:suicidal_ideation"].f1 >= 0.90
    for attribute in ("negated", "historical", "hypothetical", "experiencer", "certainty"):
        assert scores[f"attribute:{attribute}"].f1 >= 0.85, attribute


_plain = st.text(alphabet=st.characters(blacklist_characters="[]|", blacklist_categories=("Cs",)), max_size=15)
_span = st.text(alphabet="abcdefghij -", min_size=1, max_size=10)


@given(st.lists(st.tuples(_plain, _span, st.sampled_from(["SH", "SI", "SA"]),
                          st.sets(st.sampled_from("nhyfou"))), max_size=4), _plain)
def test_markup_offsets_point_at_their_spans(pieces, tail):
    line = "".join(f"{before}[{span}|{code}|{''.join(sorted(flags))}]" for before, span, code, flags in pieces) + tail
    text, mentions = parse_markup(line)
    assert len(mentions) == len(pieces)
    for mention, (_, span, _, flags) in zip(mentions, pieces):
        assert text[mention["start"]:mention["end"]] == span
        assert mention["negated"] == ("n" in flags)


def test_family_headers_give_a_family_column():
    frame = markup_to_frame("# family: alpha\n[SI|SI|n] here.\nPlain.\n# family: beta\n[Overdose|SH|h].", "F")
    assert frame.set_index("sentence_id")["family"].to_dict() == {"F0001": "alpha", "F0002": "alpha", "F0003": "beta"}
    assert "family" not in markup_to_frame("[SI|SI|n] here.", "F").columns


def test_heldout_split_families_and_size():
    """Issue 21: a held-out split written from the failure families, each family with enough items to score."""
    heldout = read_gold(GOLD / "heldout.csv")
    sizes = heldout.drop_duplicates("sentence_id")["family"].value_counts()
    for family in ("time_qualifier", "intent_act", "historical_cue", "contrastive", "negex_trigger"):
        assert sizes[family] >= 20, family
    labelled = heldout[heldout["category"] != ""]
    assert labelled["negated"].sum() >= 50 and labelled["historical"].sum() >= 50


def test_bootstrap_interval_by_hand():
    """Two sentences, one TP and one FP. A replicate draws sentence 1 k times (k ~ Binomial(2, 1/2)):
    F1 = 2k / (2k + (2 - k)) is 0, 2/3 or 1 with probability 1/4, 1/2, 1/4, so the 95% interval is [0, 1]
    and about half the replicates give 2/3."""
    gold = markup_to_frame("[Self-harm|SH|] today.\nNothing here.", "B")
    predicted = pd.DataFrame([
        {"sentence_id": "B0001", "start": 0, "end": 9, "category": "self_harm", "negated": False,
         "historical": False, "hypothetical": False, "experiencer": "patient", "certainty": "certain"},
        {"sentence_id": "B0002", "start": 0, "end": 7, "category": "self_harm", "negated": False,
         "historical": False, "hypothetical": False, "experiencer": "patient", "certainty": "certain"}])
    counts = counts_by_sentence(gold, predicted)
    assert counts[("category:self_harm", "tp")].tolist() == [1, 0]
    assert counts[("category:self_harm", "fp")].tolist() == [0, 1]
    interval = bootstrap_f1(counts, replicates=4000).set_index("key").loc["category:self_harm"]
    assert (interval["f1_low"], interval["f1_high"]) == (0.0, 1.0)
    report = score_report(gold, predicted, replicates=400).set_index("key").loc["category:self_harm"]
    assert report["f1"] == pytest.approx(2 / 3)  # P = 1/2, R = 1: 2 * 0.5 / 1.5


def test_one_sentence_bootstrap_has_no_spread():
    gold = markup_to_frame("[Self-harm|SH|n] today.", "B")
    predicted = pd.DataFrame([{"sentence_id": "B0001", "start": 0, "end": 9, "category": "self_harm",
                               "negated": True, "historical": False, "hypothetical": False,
                               "experiencer": "patient", "certainty": "certain"}])
    interval = bootstrap_f1(counts_by_sentence(gold, predicted), replicates=50).set_index("key")
    assert (interval.loc["attribute:negated", "f1_low"], interval.loc["attribute:negated", "f1_high"]) == (1.0, 1.0)
