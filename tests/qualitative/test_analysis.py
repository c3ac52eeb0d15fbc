"""Code frequencies, co-occurrence, code x participant matrix and saturation, against values worked by hand."""

from __future__ import annotations

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trdpath.errors import UserError
from trdpath.qualitative.agreement import SEGMENT_COLUMNS
from trdpath.qualitative.analysis import co_occurrence, code_by_participant, code_frequencies
from trdpath.qualitative.saturation import codes_per_interview, discovery_curve, guest_saturation

DOCS = {"P1": ("P1", "person_with_trd", 1), "C1": ("C1", "clinician", 2)}


def frame(rows):
    return pd.DataFrame([(i, d, 100, *DOCS[d], 0, code, coder, s, e) for i, (d, code, coder, s, e) in enumerate(rows)],
                        columns=SEGMENT_COLUMNS)


SEGMENTS = frame([("P1", "A / x", "Alex", 0, 10), ("P1", "A / y", "Alex", 5, 15), ("P1", "B", "Alex", 20, 30),
                  ("C1", "A / x", "Alex", 0, 5), ("C1", "B", "Alex", 3, 8), ("C1", "A / x", "Sam", 0, 5)])


def test_code_frequencies_roll_up_to_themes_and_split_by_group():
    table = code_frequencies(SEGMENTS).set_index("code")
    assert table.loc["A"].to_dict() == dict(segments=4, documents=2, participants=2,
                                            participants_person_with_trd=1, participants_clinician=1)
    assert table.loc["A / x"].to_dict() == dict(segments=3, documents=2, participants=2,
                                                participants_person_with_trd=1, participants_clinician=1)
    assert table.loc["A / y"].to_dict() == dict(segments=1, documents=1, participants=1,
                                                participants_person_with_trd=1, participants_clinician=0)
    only_sam = code_frequencies(SEGMENTS, coders=["Sam"]).set_index("code")
    assert only_sam.loc["A / x", "segments"] == 1 and "B" not in only_sam.index


def test_co_occurrence_counts_overlapping_segments_of_one_coder():
    matrix = co_occurrence(SEGMENTS)
    assert matrix.loc["A / x", "A / y"] == 1 and matrix.loc["A / y", "A / x"] == 1
    assert matrix.loc["A / x", "B"] == 1  # C1: Alex's A/x 0-5 overlaps B 3-8; Sam's A/x is another coder
    assert matrix.loc["A / y", "B"] == 0
    assert int(matrix.values.sum()) == 4


def test_code_by_participant_matrix_in_interview_order():
    matrix = code_by_participant(SEGMENTS)
    assert list(matrix.columns) == ["P1", "C1"]
    assert matrix.to_dict(orient="index") == {"A / x": {"P1": 1, "C1": 2}, "A / y": {"P1": 1, "C1": 0},
                                              "B": {"P1": 1, "C1": 1}}


# Ten interviews; base of 4 finds {a..f} = 6 codes. Worked by hand:
# runs of 2 after the base: 5-6 adds g (1/6), 6-7 adds nothing (0), 7-8 adds h, 8-9 adds h (h first seen in 8),
# 9-10 nothing.
INTERVIEWS = [(f"I{i + 1}", frozenset(c)) for i, c in enumerate(
    ["abc", "ad", "be", "f", "ag", "b", "c", "h", "a", "b"])]


def test_discovery_curve_by_hand():
    curve = discovery_curve(INTERVIEWS)
    assert curve["new_codes"].tolist() == [3, 1, 1, 1, 1, 0, 0, 1, 0, 0]
    assert curve["cumulative_codes"].tolist() == [3, 4, 5, 6, 7, 7, 7, 8, 8, 8]


def test_guest_namey_chen_saturation_by_hand():
    result = guest_saturation(INTERVIEWS, base_size=4, run_length=2, threshold=0.05)
    assert result.base_codes == 6
    assert result.runs["new_codes"].tolist() == [1, 0, 1, 1, 0]
    assert result.runs["ratio"].tolist() == pytest.approx([1 / 6, 0, 1 / 6, 1 / 6, 0])
    assert (result.reached, result.interviews_needed, result.confirmed_at) == (True, 5, 7)
    # A looser threshold (20%) accepts the first run (1/6 = 16.7%).
    loose = guest_saturation(INTERVIEWS, base_size=4, run_length=2, threshold=0.20)
    assert (loose.interviews_needed, loose.confirmed_at) == (4, 6)
    # Every run of 3 after the base holds g or h in an interview where it is first seen: never 0% new.
    strict = guest_saturation(INTERVIEWS, base_size=4, run_length=3, threshold=0.0)
    assert strict.runs["new_codes"].tolist() == [1, 1, 1, 1]
    assert not strict.reached and "not reached" in strict.sentence()


def test_bootstrap_is_seeded_and_exact_when_every_order_saturates():
    same = [(f"I{i}", frozenset("ab")) for i in range(8)]
    result = guest_saturation(same, base_size=4, run_length=2, threshold=0.0, bootstrap=30, seed=3)
    assert result.bootstrap["proportion_reached"] == 1.0 and result.bootstrap["median_interviews"] == 4
    a = guest_saturation(INTERVIEWS, bootstrap=50, seed=7).bootstrap
    b = guest_saturation(INTERVIEWS, bootstrap=50, seed=7).bootstrap
    assert a == b


def test_saturation_parameters_are_checked():
    with pytest.raises(UserError, match="at least base size"):
        guest_saturation(INTERVIEWS[:5], base_size=4, run_length=2)
    with pytest.raises(UserError, match="proportion"):
        guest_saturation(INTERVIEWS, threshold=5)


@settings(max_examples=50, deadline=None, derandomize=True)
@given(st.lists(st.frozensets(st.sampled_from("abcdefghij"), max_size=5), min_size=1, max_size=12))
def test_discovery_curve_counts_the_union_so_far(code_sets):
    curve = discovery_curve([(f"I{i}", c) for i, c in enumerate(code_sets)])
    for k in range(len(code_sets)):
        assert curve["cumulative_codes"].iloc[k] == len(frozenset().union(*code_sets[:k + 1]))
    assert curve["new_codes"].sum() == len(frozenset().union(*code_sets))


def test_codes_per_interview_follows_interview_order_and_levels():
    interviews = codes_per_interview(SEGMENTS)
    assert interviews == [("P1", frozenset({"A / x", "A / y", "B"})), ("C1", frozenset({"A / x", "B"}))]
    assert codes_per_interview(SEGMENTS, level=1)[0] == ("P1", frozenset({"A", "B"}))
