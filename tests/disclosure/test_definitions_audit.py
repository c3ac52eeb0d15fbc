"""The definitions atlas inside the one release audit (issue 17 + issue 14): attacks first, then the rules.

A reader sees release/definitions/ beside the report: prevalence per definition, each pair's 2 x 2 agreement
table with Cohen's kappa, the UpSet groups (overlap.csv, the figure's numbers) and the dial. The attacker
(tests/disclosure/attacker.py, Attack._definitions) solves for every count with the links a reader can assume.
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trdpath.config import DisclosureSection
from trdpath.definitions.compare import protect_agreement, protect_prevalence
from trdpath.definitions.dial import protect_dial
from trdpath.definitions.audit import DefinitionCounts, protect_alone, publish
from trdpath.stats.disclosure import protect
from support.cli import run_trdpath
from support.synthetic import analysed_cohort

from .attacker import (
    Attack, definitions_of, definitions_true_values, read_definitions, read_release, release_of, true_values,
    truth_of_results,
)
from .definitions_support import _kappa, atlas_of, synthetic_definitions

SETTINGS = DisclosureSection()  # min_count 8, rounding 5


def _atlas(verdicts: dict[str, list[bool]]) -> DefinitionCounts:
    """True tables of an atlas whose definitions share one population (counted here, not by compare)."""
    return atlas_of(verdicts)


def _pinned(release: dict, truth: dict) -> dict:
    attack = Attack(release)
    assert attack.p.holds(truth) == [], "the true counts should be one of the attacker's candidates"
    return {k: v for k, v in attack.ranges().items() if not v[0] == v[1] == 0 and v[1] <= v[0]}


# 22 patients under two definitions: 13 TRD under both, 1 under d0 only, 8 under neither.
SMALL = {"d0": [True] * 13 + [True] + [False] * 8, "d1": [True] * 13 + [False] + [False] * 8}


def test_upset_groups_pinned_the_agreement_table_the_old_protection_hid():
    """Found on a generated 22-patient atlas. Protected on their own, the 2 x 2 table hides 13/1/0/8 as
    suppressed/<8/0/suppressed, but the UpSet plot draws both-TRD 13 as 15 (13..17) and neither 8 as 10 (8..12),
    and n = 22 is printed 20 (18..22). A reader: both >= 13, only d0 >= 1 (<8), neither >= 8, only d1 = 0, so
    n = 13 + 1 + 8 = 22 at the least, and n <= 22: every cell is pinned (13, 1, 0, 8)."""
    counts = _atlas(SMALL)
    old = publish(counts, SETTINGS)  # each table by its own rules, no audit (the atlas before this change)
    assert list(old.agreement.loc[0, ["both", "a_only", "b_only", "neither"]]) == ["suppressed", "<8", 0, "suppressed"]
    assert sorted(old.overlap["n"]) == [10, 15]
    pinned = _pinned(definitions_of(old), definitions_true_values(counts))
    assert pinned["def:agree:d0:d1:a_only"] == (1, 1)
    assert pinned["def:agree:d0:d1:both"] == (13, 13)
    # Audited as one programme, the release no longer pins anything.
    new = protect_alone(counts, SETTINGS)
    assert _pinned(definitions_of(new), definitions_true_values(counts)) == {}
    assert new.hidden["pinned"] == []


def test_kappa_of_the_true_cells_picked_the_true_table_out_of_the_rounding_windows():
    """Cells 28/9/9/9 (n 55): po = 37/55 = 0.6727, pe = (37*37 + 18*18)/55^2 = 1693/3025 = 0.5597,
    kappa = (0.6727 - 0.5597)/(1 - 0.5597) = 0.2568 -> 0.257. Printed 30/10/10/10, margins 37 -> 35 and
    n 55 -> 55: of the 5^4 tables in the windows only the true one has kappa 0.257. Published now: the kappa of
    the printed cells, (40/60 - (40*40 + 20*20)/3600)/(1 - 2000/3600) = (0.6667 - 0.5556)/0.4444 = 0.25."""
    def windows(v):
        r = 5 * int(v / 5 + 0.5)
        return range(max(8, r - 2), r + 3)

    true = (28, 9, 9, 9)

    def candidates(kappa_printed, kappa_of):
        return [x for x in itertools.product(*(windows(v) for v in true))
                if round(kappa_of(x), len(kappa_printed.split(".")[1])) == float(kappa_printed)
                and sum(x) in windows(55) and x[0] + x[1] in windows(37) and x[0] + x[2] in windows(37)]

    assert candidates("0.257", lambda x: _kappa(*x)) == [true]  # the old publication: the leak
    table = pd.DataFrame([("a", "b", 55, *true, _kappa(*true))], columns=["definition_a", "definition_b", "n", "both",
                                                                          "a_only", "b_only", "neither", "kappa"])
    shown = protect_agreement(table, SETTINGS)
    assert list(shown.loc[0, ["both", "a_only", "b_only", "neither", "kappa"]]) == [30, 10, 10, 10, 0.25]
    assert len(candidates("0.25", lambda x: _kappa(*x))) >= 2


def test_cells_named_by_the_audit_are_hidden_by_the_protect_functions():
    """forced cells: prevalence TRD 40 of 100 -> suppressed, and its % with it; a dial level hidden takes a second
    one with it (the levels add up to the printed TRD: one hidden cell would be TRD minus the others)."""
    prevalence = pd.DataFrame([("a", 100, 40, 40.0)], columns=["definition", "population_n", "trd_n", "trd_pct"])
    shown = protect_prevalence(prevalence, SETTINGS, forced={("a", "trd_n")})
    assert list(shown.loc[0]) == ["a", 100, "suppressed", "suppressed"]
    assert list(protect_prevalence(prevalence, SETTINGS).loc[0]) == ["a", 100, 40, 40.0]  # 40/100 = 40.0%
    dial = pd.DataFrame([(28, 30, True, 100, 60, 60.0, 20, 15, 25)],
                        columns=["min_trial_days", "persistence_gap_days", "augmentation_counts", "population_n",
                                 "trd_n", "trd_pct", "level_2_n", "level_3_n", "level_4plus_n"])
    row = protect_dial(dial, SETTINGS, forced={((28, 30, True), "level_2_n")}).loc[0]
    # level 2 forced; the smallest other visible level (3: 15) follows; 4+ (25) stays
    assert [row["level_2_n"], row["level_3_n"], row["level_4plus_n"], row["trd_n"]] == ["suppressed", "suppressed", 25, 60]


def _release_with_atlas(n: int, seed: int):
    patients, analysis, attrition = analysed_cohort(n, seed)
    counts = synthetic_definitions(patients, seed)
    protected = protect(analysis, SETTINGS, attrition, None, counts)
    release = release_of(protected, protected.published_attrition)
    release.update(definitions_of(protected.definitions))
    return Attack(release), analysis, attrition, counts, protected


def _assert_nothing_recovered(attack, analysis, attrition, counts, protected):
    assert protected.audit_pinned == []
    truth = true_values(attack, analysis, attrition, None, counts)
    assert attack.p.holds(truth) == []
    pinned = {k: v for k, v in attack.ranges().items() if not v[0] == v[1] == 0 and v[1] <= v[0]}
    assert pinned == {}
    assert attack.derived_figures_mismatches() == []


@pytest.mark.slow
@pytest.mark.parametrize(("n", "seed"), [(60, 0), (150, 1)])
def test_attacker_on_a_release_with_the_atlas(n, seed):
    """The main release and the atlas (Maudsley row = the headline, dial default point = the level sizes)."""
    attack, *rest = _release_with_atlas(n, seed)
    assert any(name.startswith("def:dial:28:30:True") for name in attack.p.names)
    _assert_nothing_recovered(attack, *rest)


@pytest.mark.slow
@settings(max_examples=3, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(n=st.integers(min_value=20, max_value=120), seed=st.integers(min_value=0, max_value=100_000),
       k=st.integers(min_value=2, max_value=4))
def test_attacker_on_generated_small_atlases(n, seed, k):
    """Atlases alone (compare without a report): 2-4 definitions turning a random share of the verdicts."""
    rng = np.random.default_rng(seed)
    base = rng.random(n) < rng.uniform(0.1, 0.6)
    verdicts = {"d0": base, **{f"d{j}": base ^ (rng.random(n) < rng.uniform(0.02, 0.3)) for j in range(1, k)}}
    counts = _atlas(verdicts)
    shown = protect_alone(counts, SETTINGS)
    assert _pinned(definitions_of(shown), definitions_true_values(counts)) == {}


@pytest.mark.slow
def test_attacker_on_the_300_patient_synthetic_cohort_with_the_atlas(tmp_path):
    """`trdpath synth --patients 300`, `trdpath run`, then `trdpath compare --dial` into the same results folder
    (which re-runs the report): the release and release/definitions/ as written, read back as strings."""
    from trdpath.definitions import audit as definitions_audit

    out = tmp_path / "results"
    for args in (["synth", "--patients", "300", "--out", str(tmp_path / "extract")],
                 ["run", "--data", str(tmp_path / "extract"), "--out", str(out)],
                 ["compare", "--data", str(tmp_path / "extract"), "--out", str(out), "--dial", "--quiet"]):
        run_trdpath(*args, check=True)  # `trdpath ARGS` in this process, as a process would run it
    release = read_release(out / "release" / "tables")
    release.update(read_definitions(out / "release" / "definitions"))
    assert {"definitions_prevalence", "definitions_agreement", "definitions_overlap", "definitions_dial"} <= set(release)
    assert 'id="definitions"' in (out / "release" / "report.html").read_text(encoding="utf-8")
    analysis, attrition, extras, _config = truth_of_results(out)
    counts = definitions_audit.load(out / "definitions")
    attack = Attack(release)
    assert sum(name.startswith("def:") for name in attack.p.names) > 150  # 12 definitions, 66 pairs, 18 dial points
    truth = true_values(attack, analysis, attrition, extras, counts)
    assert attack.p.holds(truth) == [], "the true counts should be one of the attacker's candidates"
    pinned = {k: v for k, v in attack.ranges().items() if not v[0] == v[1] == 0 and v[1] <= v[0]}
    assert pinned == {}
    assert attack.derived_figures_mismatches() == []


def test_an_atlas_with_no_group_to_draw():
    """Seven patients (every group below 8): nothing is drawn, every count is <8, and nothing fails."""
    counts = _atlas({"d0": [True] * 4 + [False] * 3, "d1": [True] * 2 + [False] * 5})
    shown = protect_alone(counts, SETTINGS)
    assert shown.overlap.empty and list(shown.overlap.columns) == ["d0", "d1", "n"]
    assert list(shown.prevalence["trd_n"]) == ["<8", "<8"]  # 4 and 2
