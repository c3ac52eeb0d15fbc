"""Prevalence and agreement: kappa against scikit-learn's, counts by hand, disclosure control."""

from __future__ import annotations

import math

import pandas as pd
import pyarrow as pa
import pytest
from sklearn.metrics import cohen_kappa_score

from trdpath.config import DisclosureSection
from trdpath.definitions.compare import (Comparison, agreement_counts, cohen_kappa, prevalence_counts,
                                         protect_agreement, protect_prevalence)
from trdpath.definitions.params import resolve
from trdpath.definitions import shipped_definitions
from trdpath.config import StudyConfig


@pytest.mark.parametrize("both, a_only, b_only, neither", [(40, 10, 5, 45), (3, 0, 7, 90), (1, 1, 1, 1), (0, 12, 9, 0)])
def test_kappa_matches_scikit_learn(both, a_only, b_only, neither):
    a = [1] * both + [1] * a_only + [0] * b_only + [0] * neither
    b = [1] * both + [0] * a_only + [1] * b_only + [0] * neither
    assert cohen_kappa(both, a_only, b_only, neither) == pytest.approx(cohen_kappa_score(a, b))


def test_kappa_by_hand():
    # po = (40 + 45) / 100 = 0.85; pe = (50 * 45 + 50 * 55) / 100^2 = 0.5; kappa = 0.35 / 0.5 = 0.7
    assert cohen_kappa(40, 10, 5, 45) == pytest.approx(0.7)


def _comparison(columns: dict) -> Comparison:
    defs = shipped_definitions()
    resolved = [resolve(defs[name], StudyConfig()) for name in columns]
    table = pa.table({"patient_id": [str(i) for i in range(len(next(iter(columns.values()))))],
                      **{f"{k}__trd": pa.array(v, pa.bool_()) for k, v in columns.items()}})
    return Comparison(table, pa.table({}), resolved, None)


def test_counts_over_both_populations():
    # 6 patients; reutfors leaves patient 5 out (None): maudsley 4 of 6 TRD, reutfors 2 of 5.
    c = _comparison({"maudsley": [True, True, False, False, True, True],
                     "reutfors_2018": [True, False, True, False, False, None]})
    prev = prevalence_counts(c).set_index("definition")
    assert prev.loc["maudsley", ["population_n", "trd_n"]].tolist() == [6, 4]
    assert prev.loc["reutfors_2018", ["population_n", "trd_n"]].tolist() == [5, 2]
    row = agreement_counts(c).iloc[0]
    # patients 0-4: both = {0}, maudsley only = {1, 4}, reutfors only = {2}, neither = {3}
    assert [row.n, row.both, row.a_only, row.b_only, row.neither] == [5, 1, 2, 1, 1]
    a = [1, 1, 0, 0, 1]
    b = [1, 0, 1, 0, 0]
    assert row.kappa == pytest.approx(cohen_kappa_score(a, b))


def test_disclosure_hides_small_cells_and_their_kappa():
    settings = DisclosureSection()
    agreement = pd.DataFrame([("a", "b", 1000, 400, 5, 100, 495, 0.7), ("a", "c", 1000, 400, 100, 100, 400, 0.6)],
                             columns=["definition_a", "definition_b", "n", "both", "a_only", "b_only", "neither", "kappa"])
    shown = protect_agreement(agreement, settings)
    first, second = shown.iloc[0], shown.iloc[1]
    assert first.a_only == "<8"  # 5 is small
    # secondary: another cell of the same row must hide too, so 5 cannot be had from n - the others
    assert sum(v in ("<8", "suppressed") for v in first[["both", "a_only", "b_only", "neither"]]) >= 2
    assert first.kappa == "suppressed"
    assert second[["n", "both", "a_only", "b_only", "neither"]].tolist() == [1000, 400, 100, 100, 400]
    assert second.kappa == 0.6
    prevalence = pd.DataFrame([("a", 1003, 3, 0.3), ("b", 1003, 502, 50.0)], columns=["definition", "population_n", "trd_n", "trd_pct"])
    p = protect_prevalence(prevalence, settings)
    assert p.iloc[0].trd_n == "<8" and p.iloc[0].trd_pct == "suppressed"
    # 1003 -> 1005, 502 -> 500: 100 * 500 / 1005 = 49.75... -> 49.8 (from the rounded counts)
    assert p.iloc[1].tolist() == ["b", 1005, 500, 49.8]
