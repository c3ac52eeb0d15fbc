"""The speed-ups must not change a single mention: the sentence pre-filter and the compiled rules are
checked against the plain pipeline run on whole notes (an independent second implementation)."""

from collections import defaultdict
from importlib import resources

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trdpath.nlp.evaluate import read_gold
from trdpath.nlp.pipeline import AUDIT_COLUMNS, build_pipeline, extract_mentions
from trdpath.nlp.rules import expand_first_token, finite_strings, load_rules
from trdpath.nlp.synthetic import DISTRACTORS, FILLER, SELF_HARM, SUICIDAL_IDEATION, SUICIDE_ATTEMPT

GOLD = resources.files("trdpath.nlp") / "gold"


@pytest.fixture(scope="module")
def plain_nlp():
    return build_pipeline(compile_rules=False)


@pytest.fixture(scope="module")
def gold_sentences():
    gold = pd.concat([read_gold(GOLD / f"{split}.csv") for split in ("dev", "test", "heldout")])
    return gold.drop_duplicates("sentence_id")["text"].tolist()


def _notes(texts):
    return pd.DataFrame({"patient_id": [f"P{i}" for i in range(len(texts))],
                         "note_id": [f"N{i}" for i in range(len(texts))],
                         "date": "2021-03-01", "text": texts})


def test_fast_path_equals_plain_whole_note_pipeline_on_gold(nlp, plain_nlp, gold_sentences):
    # gold sentences glued into multi-sentence notes, with section headers and line breaks
    texts = [" ".join(gold_sentences[i:i + 5]) for i in range(0, len(gold_sentences), 5)]
    texts += ["Family history:\n" + gold_sentences[3] + "\nPlan:\n" + gold_sentences[7],
              "Past psychiatric history:\n  " + gold_sentences[20] + "\r\nRisk:\n" + gold_sentences[30],
              "Seen today. Family history: " + gold_sentences[40] + " " + gold_sentences[41],
              "Plan: review. " + gold_sentences[50] + "\nFamily history: " + gold_sentences[51]]
    notes = _notes(texts)
    fast = extract_mentions(notes, nlp)
    plain = extract_mentions(notes, plain_nlp, use_prefilter=False)
    assert len(fast) > 300
    assert_same_mentions(fast, plain)


def assert_same_mentions(fast, plain):
    """Every column equal; for the audit columns, the same attributes have a rule. When two rules of one
    ConText category match the very same words (e.g. 'several years ago'), medspaCy keeps either, and
    which one depends on matcher order, which compilation changes; the attribute it sets is the same."""
    pd.testing.assert_frame_equal(fast.drop(columns=AUDIT_COLUMNS), plain.drop(columns=AUDIT_COLUMNS))
    pd.testing.assert_frame_equal(fast[AUDIT_COLUMNS] != "", plain[AUDIT_COLUMNS] != "")


SENTENCES = [s.format(p="she", P="She", o="her", s="her", S="Her", r="herself")
             for s in FILLER + DISTRACTORS + SELF_HARM + SUICIDAL_IDEATION + SUICIDE_ATTEMPT]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.lists(st.sampled_from(SENTENCES), min_size=1, max_size=8),
                min_size=1, max_size=6),
       st.sampled_from([" ", "\n", "  ", "\n\n", " Family history: ", "\nFamily history:\n", " Plan: "]))
def test_fast_path_equals_plain_pipeline_on_random_notes(nlp, plain_nlp, notes_sentences, joiner):
    notes = _notes([joiner.join(sentences) for sentences in notes_sentences])
    fast = extract_mentions(notes, nlp)
    plain = extract_mentions(notes, plain_nlp, use_prefilter=False)
    assert_same_mentions(fast, plain)


def test_two_processes_give_the_same_mentions(nlp, gold_sentences):
    notes = _notes(gold_sentences * 2)
    pd.testing.assert_frame_equal(extract_mentions(notes, nlp, n_process=2, batch_size=32),
                                  extract_mentions(notes, nlp))


def test_finite_strings_expands_by_hand():
    assert sorted(finite_strings("^harm(s|ed|ing)?$")) == ["harm", "harmed", "harming", "harms"]
    assert sorted(finite_strings("^o[dD]$")) == ["oD", "od"]
    assert finite_strings("^\\d+mg$") is None  # not finite
    assert finite_strings("harm") is None  # not anchored


def test_no_phrase_has_two_meanings():
    """Two rules matching the same words with different effects would make the result depend on order."""
    rules = load_rules()
    for kind, rule_list in (("target", rules.target_rules), ("context", rules.context_rules)):
        meanings = defaultdict(set)
        for rule in rule_list:
            if rule.pattern is None:
                meanings[rule.literal].add((rule.category, getattr(rule, "direction", None),
                                            getattr(rule, "max_scope", None)))
        clashes = {phrase: m for phrase, m in meanings.items() if len(m) > 1}
        assert clashes == {}, kind


def _examples(pattern):
    """Texts a token pattern matches: each fixed-word choice of every token, optional tokens left out."""
    choices = []
    for token in pattern:
        if token.get("OP") in ("?", "*"):
            continue
        value = token.get("LOWER", token.get("TEXT"))
        if isinstance(value, str):
            choices.append([value])
        elif isinstance(value, dict) and "IN" in value:
            choices.append(value["IN"])
        else:
            return []  # LIKE_NUM, REGEX on digits ...: covered by the note-level equivalence tests
    texts = [""]
    for words in choices:
        texts = [f"{t} {w}".strip() for t in texts for w in words][:5000]
    return texts


def test_prefilter_admits_every_target_phrase():
    """The pre-filter may only skip sentences no target rule can match: every fixed-word target must pass."""
    rules = load_rules()
    prefilter = rules.prefilter()
    missed = []
    for rule in rules.target_rules:
        if rule.category in ("OD_DOSING", "METHOD"):  # matched only to suppress overlaps, never reported
            continue
        texts = [rule.literal] if rule.pattern is None else _examples(rule.pattern)
        missed += [(rule.category, t) for t in texts if not prefilter.search(t)]
    assert missed == []


def test_expand_first_token_by_hand():
    """A? C = A C | C; A* C = A A* C | C; A+ C = A A* C; a flag first token stays as it is."""
    a_or_b = {"LOWER": {"IN": ["a", "b"]}}
    c = {"LOWER": "c"}
    assert expand_first_token([a_or_b, c]) == [[{"LOWER": "a"}, c], [{"LOWER": "b"}, c]]
    assert expand_first_token([{**a_or_b, "OP": "?"}, c]) == [[{"LOWER": "a"}, c], [{"LOWER": "b"}, c], [c]]
    star = {"LOWER": {"IN": ["a", "b"]}, "OP": "*"}
    assert expand_first_token([{**a_or_b, "OP": "*"}, c]) == [[{"LOWER": "a"}, star, c], [{"LOWER": "b"}, star, c], [c]]
    assert expand_first_token([{**a_or_b, "OP": "+"}, c]) == [[{"LOWER": "a"}, star, c], [{"LOWER": "b"}, star, c]]
    assert expand_first_token([{"LIKE_NUM": True}, c]) == [[{"LIKE_NUM": True}, c]]
    # an optional run with nothing after it cannot be unfolded into a pattern of at least one token
    assert expand_first_token([{**a_or_b, "OP": "?"}]) == [[{**a_or_b, "OP": "?"}]]


def test_expanded_patterns_match_the_same_spans():
    """Second implementation: spaCy's Matcher with the original pattern against the unfolded ones."""
    import spacy
    from spacy.matcher import Matcher

    nlp = spacy.blank("en")
    pattern = [{"LOWER": {"IN": ["no", "nil"]}, "OP": "*"}, {"LOWER": {"IN": ["further", "recent"]}, "OP": "?"},
               {"LOWER": "episodes"}]
    doc = nlp("no no further episodes and nil episodes or recent episodes, episodes")
    original, unfolded = Matcher(nlp.vocab), Matcher(nlp.vocab)
    original.add("x", [pattern])
    unfolded.add("x", expand_first_token(pattern))
    spans = lambda matcher: sorted({(start, end) for _, start, end in matcher(doc)})  # noqa: E731
    assert spans(original) == spans(unfolded)
    assert (0, 4) in spans(original)  # 'no no further episodes'
