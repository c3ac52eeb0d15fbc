"""Hard cases named in issue 6, each with the answer a clinician would give."""

import pytest

from trdpath.nlp.pipeline import mentions_in_doc

P, F, O = "patient", "family", "other"
# sentence, expected (category, negated, historical, hypothetical, experiencer, uncertain) per mention
CASES = [
    ("Denies self-harm.", [("self_harm", True, False, False, P, False)]),
    ("Nil SI.", [("suicidal_ideation", True, False, False, P, False)]),
    ("Suicidal ideation: nil.", [("suicidal_ideation", True, False, False, P, False)]),
    ("No thoughts of ending her life.", [("suicidal_ideation", True, False, False, P, False)]),
    ("She has never self-harmed.", [("self_harm", True, False, False, P, False)]),
    ("Previous overdose.", [("self_harm", False, True, False, P, False)]),
    ("Overdose in 2015.", [("self_harm", False, True, False, P, False)]),
    ("Cut her arms 5 years ago.", [("self_harm", False, True, False, P, False)]),
    ("History of self-harm.", [("self_harm", False, True, False, P, False)]),
    ("Risk of self-harm assessed as low.", [("self_harm", False, False, True, P, False)]),
    ("If she feels suicidal she will ring the crisis line.", [("suicidal_ideation", False, False, True, P, False)]),
    ("Mother self-harmed.", [("self_harm", False, False, False, F, False)]),
    ("Self-harm in her mother.", [("self_harm", False, False, False, F, False)]),
    ("Her friend self-harms.", [("self_harm", False, False, False, O, False)]),
    ("?OD last night.", [("self_harm", False, False, False, P, True)]),
    ("Possible overdose.", [("self_harm", False, False, False, P, True)]),
    ("Took an overdose last night.", [("self_harm", False, False, False, P, False)]),
    ("Mother reports she has been cutting her arms.", [("self_harm", False, False, False, P, False)]),
    ("Tried to kill herself in March.", [("suicide_attempt", False, False, False, P, False)]),
    ("Currently suicidal with a plan.", [("suicidal_ideation", False, False, False, P, False)]),
    ("Denies SI but cut her wrists yesterday.",
     [("suicidal_ideation", True, False, False, P, False), ("self_harm", False, False, False, P, False)]),
    # a new patient subject ends a relative's scope
    ("Told her sister she had cut herself.", [("self_harm", False, False, False, P, False)]),
    ("Self-harm in her brother; she denies it.", [("self_harm", False, False, False, F, False)]),
    # once-daily dosing is not an overdose
    ("Sertraline 50mg OD.", []),
    ("Fluoxetine 20 mg OD with breakfast.", []),
    ("Take one tablet OD.", []),
    ("Cutting down on alcohol.", []),
]


@pytest.mark.parametrize("sentence, expected", CASES)
def test_hard_case(nlp, sentence, expected):
    found = [(m["category"], m["negated"], m["historical"], m["hypothetical"], m["experiencer"],
              m["certainty"] == "uncertain") for m in mentions_in_doc(nlp(sentence))]
    assert found == expected


def test_family_history_section_sets_family(nlp):
    text = "Family history:\nSister took an overdose.\nPlan:\nReview in 2 weeks."
    found = mentions_in_doc(nlp(text))
    assert [(m["text"], m["experiencer"], m["section"]) for m in found] == [
        ("overdose", "family", "family_history")]


def test_header_words_inside_a_sentence_do_not_open_a_section(nlp):
    text = "Seen today. Family history: father died by suicide. Describes passive thoughts of ending her life."
    found = {m["text"]: (m["experiencer"], m["section"]) for m in mentions_in_doc(nlp(text))}
    assert found["thoughts of ending her life"] == ("patient", None)
    assert found["died by suicide"][0] == "family"


def test_every_family_and_historical_rule_has_its_terminations(nlp):
    """medspaCy 1.3.1 applies ConText's terminating_types only to the first rule of a category."""
    context = nlp.get_pipe("medspacy_context")
    for rule in context.rules:
        if rule.category in ("FAMILY", "OTHER_EXPERIENCER"):
            assert "PATIENT_SUBJECT" in rule.terminated_by, rule.literal
        if rule.category == "HISTORICAL":
            assert "CURRENT" in rule.terminated_by, rule.literal
