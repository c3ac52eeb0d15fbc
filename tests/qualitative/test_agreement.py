"""Inter-coder agreement against published worked values, hand calculations and scikit-learn."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import cohen_kappa_score

from trdpath.errors import UserError
from trdpath.qualitative.agreement import (SEGMENT_COLUMNS, agreement_by_code, agreement_by_document, coded_mask,
                                           disagreements, krippendorff_alpha_nominal, nvivo_agreement)


def frame(rows, lengths):
    """Segments table from (document, code, coder, start, end) tuples."""
    return pd.DataFrame(
        [(i, d, lengths[d], None, None, 1, 0, code, coder, s, e) for i, (d, code, coder, s, e) in enumerate(rows)],
        columns=SEGMENT_COLUMNS)


def test_nvivo_worked_example_85_percent():
    # NVivo help: a 1000-character source, 50 characters coded by both users, 150 by only one of them:
    # agreement = (50 both + 800 neither) / 1000 = 85%.
    segs = frame([("doc", "Hope", "A", 0, 150), ("doc", "Hope", "B", 100, 200)], {"doc": 1000})
    row = agreement_by_code(segs).iloc[0]
    assert row["coded_both"] == 50
    assert row["coded_a"] + row["coded_b"] - 2 * row["coded_both"] == 150
    assert row["agreement_pct"] == pytest.approx(85.0)


def test_kappa_worked_by_hand():
    # A coded 150 characters, B 100, 50 by both, of N = 1000. Observed agreement 0.85.
    # Expected = (150*100 + 850*900)/1000 = 780 characters -> kappa = (850 - 780)/(1000 - 780) = 70/220 = 7/22.
    segs = frame([("doc", "Hope", "A", 0, 150), ("doc", "Hope", "B", 100, 200)], {"doc": 1000})
    row = agreement_by_code(segs).iloc[0]
    assert row["kappa"] == pytest.approx(7 / 22)
    assert row["kappa_nvivo_weighted"] == pytest.approx(7 / 22)


def test_kappa_is_one_when_neither_coder_used_the_code_in_a_document():
    # NVivo convention: no coding by either user in a source counts as complete agreement (kappa 1).
    a = np.zeros(10, dtype=bool)
    assert nvivo_agreement(a, a)["kappa"] == 1.0
    assert nvivo_agreement(a, a)["agreement_pct"] == 100.0


def test_weighted_kappa_averages_documents_by_length():
    # doc1 (1000 chars): the worked example, kappa 7/22. doc2 (200 chars): identical coding, kappa 1.
    # NVivo's weighted mean = (1000 * 7/22 + 200 * 1) / 1200.
    segs = frame([("d1", "Hope", "A", 0, 150), ("d1", "Hope", "B", 100, 200),
                  ("d2", "Hope", "A", 10, 20), ("d2", "Hope", "B", 10, 20)], {"d1": 1000, "d2": 200})
    row = agreement_by_code(segs).iloc[0]
    assert row["kappa_nvivo_weighted"] == pytest.approx((1000 * 7 / 22 + 200) / 1200)
    # Pooled over all 1200 characters: A 160, B 110, both 60 -> observed (60 + 990)/1200;
    # expected = (160*110 + 1040*1090)/1200.
    expected = (160 * 110 + 1040 * 1090) / 1200
    assert row["kappa"] == pytest.approx((1050 - expected) / (1200 - expected))


def test_krippendorff_2011_nominal_example():
    # Krippendorff (2011) "Computing Krippendorff's alpha-reliability", example C: 4 observers, 12 units,
    # missing values; nominal alpha = 0.743.
    n = np.nan
    data = [[1, 2, 3, 3, 2, 1, 4, 1, 2, n, n, n],
            [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, n, 3],
            [n, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, n],
            [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, n]]
    assert krippendorff_alpha_nominal(data) == pytest.approx(0.743, abs=5e-4)


def test_krippendorff_2011_binary_example_through_coded_characters():
    # Krippendorff (2011) example A: two observers, ten units, binary; alpha = 0.095.
    # A: 0 1 0 0 0 0 0 0 1 0   B: 1 1 1 0 0 1 0 0 0 0 -- here each unit is one character of a 10-character
    # document and 1 means the coder applied the code to it.
    segs = frame([("doc", "Hope", "A", 1, 2), ("doc", "Hope", "A", 8, 9),
                  ("doc", "Hope", "B", 0, 3), ("doc", "Hope", "B", 5, 6)], {"doc": 10})
    row = agreement_by_code(segs).iloc[0]
    assert row["krippendorff_alpha"] == pytest.approx(0.095, abs=5e-4)
    # and the same units give agreement 6/10 and Cohen's kappa from the 2x2 table by hand:
    # A coded 2, B coded 4, both 1, neither 5; expected = (2*4 + 8*6)/10 = 5.6; kappa = (6-5.6)/(10-5.6).
    assert row["agreement_pct"] == pytest.approx(60.0)
    assert row["kappa"] == pytest.approx(0.4 / 4.4)


@settings(max_examples=60, deadline=None, derandomize=True)
@given(st.data())
def test_kappa_matches_scikit_learn_on_the_same_character_units(data):
    lengths = {"d1": data.draw(st.integers(5, 80)), "d2": data.draw(st.integers(5, 80))}
    rows = []
    for coder in ("A", "B"):
        for document, length in lengths.items():
            for _ in range(data.draw(st.integers(1, 4))):
                start = data.draw(st.integers(0, length - 1))
                end = data.draw(st.integers(start + 1, length))
                rows.append((document, "Hope", coder, start, end))
    segs = frame(rows, lengths)
    row = agreement_by_code(segs).iloc[0]
    units = {}
    for coder in ("A", "B"):
        parts = []
        for document, length in lengths.items():
            mask = np.zeros(length, dtype=int)
            for d, _c, who, s, e in rows:
                if d == document and who == coder:
                    mask[s:e] = 1  # coded or not, set character by character (independent of coded_mask)
            parts.append(mask)
        units[coder] = np.concatenate(parts)
    agree = float((units["A"] == units["B"]).mean() * 100)
    assert row["agreement_pct"] == pytest.approx(agree)
    if len(set(units["A"])) == 1 and len(set(units["B"])) == 1 and units["A"][0] == units["B"][0]:
        assert row["kappa"] == 1.0  # scikit-learn returns nan here; NVivo's convention is 1
    else:
        assert row["kappa"] == pytest.approx(cohen_kappa_score(units["A"], units["B"]), abs=1e-9)


@settings(max_examples=40, deadline=None, derandomize=True)
@given(st.integers(1, 60), st.lists(st.tuples(st.integers(0, 59), st.integers(1, 30)), max_size=6))
def test_coded_mask_equals_character_by_character_marking(length, spans):
    spans = [(s, min(s + w, length)) for s, w in spans if s < length]
    expected = np.zeros(length, dtype=bool)
    for s, e in spans:
        expected[s:e] = True
    got = coded_mask(length, [s for s, _ in spans], [e for _, e in spans])
    assert got.tolist() == expected.tolist()


def test_disagreements_list_the_stretches_coded_by_one_coder_only():
    text = "0123456789" * 3
    segs = frame([("doc", "Hope", "A", 0, 10), ("doc", "Hope", "B", 5, 15)], {"doc": 30})
    out = disagreements(segs, {"doc": text})
    assert out[["start", "end", "coded_by", "not_coded_by"]].values.tolist() == [
        [0, 5, "A", "B"], [10, 15, "B", "A"]]
    assert out["text"].tolist() == ["01234", "01234"]


def test_three_coders_pairs_and_alpha():
    segs = frame([("doc", "Hope", "A", 0, 10), ("doc", "Hope", "B", 0, 10), ("doc", "Hope", "C", 0, 5)],
                 {"doc": 20})
    table = agreement_by_code(segs)
    assert sorted(zip(table["coder_a"], table["coder_b"])) == [("A", "B"), ("A", "C"), ("B", "C")]
    ab = table[(table["coder_a"] == "A") & (table["coder_b"] == "B")].iloc[0]
    assert ab["kappa"] == 1.0
    # Alpha by hand (nominal, 3 coders x 20 units, no missing): units 0-4 all 1, 5-9 (1,1,0), 10-19 all 0.
    # Coincidences: o11 = 5*6/2 + 5*2/2 = 20, o00 = 10*6/2 + 5*0 = 30, o10 = o01 = 5*2/2 = 5; n = 60.
    # n1 = 25, n0 = 35. D_o = (o10 + o01)/n = 10/60; D_e = 2*n1*n0/(n(n-1)) = 1750/3540.
    expected_alpha = 1 - (10 / 60) / (1750 / 3540)
    assert ab["krippendorff_alpha"] == pytest.approx(expected_alpha)


def test_agreement_by_document_pools_codes():
    segs = frame([("doc", "Hope", "A", 0, 10), ("doc", "Hope", "B", 0, 10),
                  ("doc", "Loss", "A", 10, 20), ("doc", "Loss", "B", 15, 20)], {"doc": 20})
    row = agreement_by_document(segs).iloc[0]
    # 40 units (20 chars x 2 codes); they differ on 5 characters of "Loss" -> 35/40.
    assert row["units"] == 40 and row["agreement_pct"] == pytest.approx(87.5)


def test_unknown_coder_is_a_user_error():
    segs = frame([("doc", "Hope", "A", 0, 10), ("doc", "Hope", "B", 0, 10)], {"doc": 20})
    with pytest.raises(UserError, match="no segments by coder"):
        agreement_by_code(segs, coders=["A", "Z"])
    assert math.isnan(krippendorff_alpha_nominal([[1, 1], [1, 1]]))


@settings(max_examples=60, deadline=None, derandomize=True)
@given(st.integers(2, 5), st.integers(2, 40), st.data())
def test_closed_form_binary_alpha_equals_the_krippendorff_package(coders, units, data):
    from trdpath.qualitative.agreement import binary_alpha

    rows = [np.array(data.draw(st.lists(st.booleans(), min_size=units, max_size=units))) for _ in range(coders)]
    expected = krippendorff_alpha_nominal(np.vstack([r.astype(float) for r in rows]))
    got = binary_alpha(rows)
    assert (math.isnan(got) and math.isnan(expected)) or got == pytest.approx(expected, abs=1e-12)


def test_large_projects_use_the_closed_form_with_the_same_result(monkeypatch):
    import trdpath.qualitative.agreement as agreement

    segs = frame([("d1", "Hope", "A", 0, 150), ("d1", "Hope", "B", 100, 200), ("d1", "Hope", "C", 120, 180),
                  ("d2", "Hope", "A", 5, 9), ("d2", "Hope", "C", 0, 9)], {"d1": 1000, "d2": 50})
    with_package = agreement_by_code(segs)
    monkeypatch.setattr(agreement, "PACKAGE_VALUE_LIMIT", 0)
    closed_form = agreement_by_code(segs)
    assert closed_form["krippendorff_alpha"].tolist() == pytest.approx(with_package["krippendorff_alpha"].tolist(),
                                                                       abs=1e-12)
