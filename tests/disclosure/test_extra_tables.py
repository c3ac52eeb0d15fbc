"""Tables 6-9 and the Kaplan-Meier curve protected inside protect() and audited with the release (issue 14).

Hand-worked cases for the rules of trdpath.stats.extra_tables and the relations release_audit adds for them;
the whole-release attacker runs on them in test_attacker.py.
"""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pandas as pd
import pytest

from trdpath.config import DisclosureSection
from trdpath.stats import extra_tables as xt
from trdpath.stats.release_audit import ReleaseModel
from trdpath.values import is_missing

SETTINGS = DisclosureSection()  # min_count 8, rounding 5


def test_lines_hide_and_round_within_each_line():
    lines = pd.DataFrame({"line": [1, 1, 1, 1], "drug": ["any", "sertraline", "citalopram", "other"],
                          "n": [203, 150, 48, 5], "pct_cohort": 0.0, "pct_treated": 0.0})
    out = xt.protect_lines(lines, SETTINGS, n_cohort=402)
    # 'other' 5 is below 8; the drugs add up to the line's total, so the smallest other drug (48) is hidden too.
    assert list(out["n"]) == [205, 150, "suppressed", "<8"]
    # Percentages from rounded counts: 150 of the rounded cohort 400 = 37.5; of the rounded line total 205.
    assert out.at[1, "pct_cohort"] == pytest.approx(37.5) and out.at[1, "pct_treated"] == pytest.approx(100 * 150 / 205)
    # A cell the release audit names is hidden (forced): sertraline 150 hidden beside 'other' 5 makes two hidden
    # cells adding up to 155 >= 8, so citalopram 48 is shown (sertraline = 203..207 - 48..52 - 1..7: 144..158).
    forced = xt.protect_lines(lines, SETTINGS, 402, forced={1})
    assert list(forced["n"]) == [205, "suppressed", 50, "<8"]
    assert forced.at[1, "pct_cohort"] == "suppressed" and forced.at[2, "pct_cohort"] == pytest.approx(12.5)


def test_step_times_round_quantiles_to_whole_days_halves_up():
    # 12.5 (a median of an even number of whole days) -> 13, not 12 (half-even would say 'even n' by its parity);
    # 12.25 -> 12 and 40.75 -> 41 (numpy's linear-interpolated quartiles: the fraction says n modulo 4).
    times = pd.DataFrame({"interval": ["a", "b", "c"], "n": [5, 23, 6], "mean": [10.0, 20.04, 1.0],
                          "sd": [1.0, 2.06, 1.0], "median": [10.0, 12.5, 1.0], "q1": [9.0, 12.25, 1.0],
                          "q3": [11.0, 40.75, 1.0]})
    out = xt.protect_step_times(times, SETTINGS, forced={2})
    assert out.at[0, "n"] == "<8" and out.at[0, "median"] == "suppressed"
    assert (out.at[1, "n"], out.at[1, "mean"], out.at[1, "sd"]) == (25, 20.0, 2.1)
    assert (out.at[1, "median"], out.at[1, "q1"], out.at[1, "q3"]) == (13, 12, 41)
    # A row the audit names whose n is below 8 is withheld: its '<8' would cap the column it totals.
    assert out.at[2, "n"] == "withheld" and out.at[2, "mean"] == "suppressed"


def test_assumption_rows_hide_linked_cells_and_forced_cells():
    frame = pd.DataFrame([{"scenario": "s", "missing_dose": "d", "missing_duration": "t", "cohort_n": 503,
                           "mdd_n": 300, "trd_n": 203, "trd_pct": 0.0, "level2_n": 100, "level2_pct": 0.0,
                           "level3_n": 98, "level3_pct": 0.0, "level4plus_n": 5, "level4plus_pct": 0.0}])
    out = xt.protect_assumptions(frame, SETTINGS).iloc[0]
    # 4+ = 5 is below 8 (primary); the levels add up to TRD, so the smallest other level (98) is hidden too.
    assert out["level4plus_n"] == "<8" and out["level3_n"] == "suppressed"
    assert (out["cohort_n"], out["trd_n"], out["mdd_n"], out["level2_n"]) == (505, 205, 300, 100)
    assert out["trd_pct"] == pytest.approx(100 * 205 / 505) and out["level2_pct"] == pytest.approx(100 * 100 / 205)
    # Level 2 forced (hidden in the resistance-level table): hidden here too; with 4+ that makes two hidden cells
    # adding up to 105 >= 8, so level 3 (98) is shown (level 2 = 203..207 - 98..102 - 1..7: 94..108).
    forced = xt.protect_assumptions(frame, SETTINGS, forced={(0, "level2")}).iloc[0]
    assert (forced["level2_n"], forced["level3_n"], forced["level4plus_n"]) == ("suppressed", 100, "<8")


def test_the_headline_row_and_the_level_sizes_are_hidden_alike():
    levels_true = pd.DataFrame({"variable": ["resistance_level", "age"], "level": ["", "#n"]})
    levels = pd.DataFrame({"level2_n": [40, 1], "level3_n": ["suppressed", 1], "level4plus_n": ["<8", 1]})
    headline = pd.DataFrame({"level2_n": ["suppressed", 9], "level3_n": [35, 9], "level4plus_n": ["<8", 9]})
    to_assumptions, to_levels = xt.headline_copies(headline, levels, levels_true)
    # Level 3 hidden among the sizes only, level 2 hidden in Table 6 only: each hidden in the other table.
    assert to_assumptions == {(0, "level3")} and to_levels == {(0, "level2")}


def test_kaplan_meier_truth_rounds_to_the_published_curve():
    """km_counts (the audit's truth) against stats.pathways.time_to_trd (the published curve), two codes."""
    from trdpath.stats.pathways import time_to_trd
    from trdpath.stats.disclosure import round_count

    rng = np.random.default_rng(3)
    n = 300
    start = pd.Timestamp("2019-01-01") + pd.to_timedelta(rng.integers(0, 300, n), unit="D")
    trd = rng.random(n) < 0.4
    patients = pd.DataFrame({"in_cohort": True, "trd": trd, "episode_start": start,
                             "trd_date": (start + pd.to_timedelta(rng.integers(0, 700, n), unit="D")).where(trd)})
    index_date = dt.date(2021, 6, 30)
    curve = time_to_trd(patients, index_date, rounding=5)
    counts = xt.km_counts(patients, index_date).set_index("day")
    events, censored = xt.published_cumulative(curve)
    for k, day in enumerate(curve["day"]):
        assert events[k] == round_count(int(counts.at[day, "events"]), 5)
        assert censored[k] == round_count(int(counts.at[day, "censored"]), 5)
    assert int(counts["events"].iloc[-1]) == int(trd.sum()) and int(counts["total"].iloc[0]) == n
    assert curve["at_risk"].iloc[0] == round_count(n, 5)


def test_the_audit_withholds_a_small_total_that_its_flows_fill():
    """n = 60, seed 0 (found by the extended attacker): seven Sankey flows into position 4, each '<8' (>= 1), and
    Table 9's 'step 3 to step 4' n = 7 shown '<8' (<= 7): 7 <= total <= 7 pins the total and every flow at 1."""
    m = ReleaseModel(min_count=8, rounding=5)
    total = m._var(("position", 4), (0.0, 10.0 ** 9), 7, False, False)
    flows = [m.count(("journeys", k), "<8", 1) for k in range(7)]
    n = m.count(("step_times", 2), "<8", 7, withholdable=True)
    m.equal(flows, [total])
    m.equal([n], [total])
    assert {m.keys[v] for v in m.pinned()} == {("position", 4), ("step_times", 2)} | {("journeys", k) for k in range(7)}
    # Hiding cannot widen a '<8' of a flow (a row exists only for a count >= 1); withholding the n can.
    assert m.cells_to_hide(m.pinned()) == [("step_times", 2)]
    withheld = ReleaseModel(min_count=8, rounding=5)
    total = withheld._var(("position", 4), (0.0, 10.0 ** 9), 7, False, False)
    flows = [withheld.count(("journeys", k), "<8", 1) for k in range(7)]
    withheld.equal(flows, [total])
    withheld.equal([withheld.count(("step_times", 2), "withheld", 7)], [total])
    assert withheld.pinned() == []


def test_km_counts_and_the_cohort_window():
    """The curve's cumulative counts are rounded without the small-number rule: 0 stands for 0-2, 5 for 3-7."""
    assert xt.cumulative_window(0, 5) == (0.0, 2.0) and xt.cumulative_window(5, 5) == (3.0, 7.0)
    assert xt.cumulative_window(120, 5) == (118.0, 122.0) and xt.cumulative_window(7, 1) == (7.0, 7.0)


# The private helpers the shared trdpath.values.is_missing replaced, as they were (stats/disclosure.py and
# report/display.py before this change), to show the shared one gives what each gave.
def _old_disclosure(value) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))


def _old_display(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA or value == ""


VALUES = [None, pd.NA, float("nan"), np.nan, np.float64("nan"), 0, 0.0, 1, 12.5, np.int64(3), "", "x", "<8",
          "suppressed", "withheld", False, True]


@pytest.mark.parametrize("value", VALUES, ids=repr)
def test_the_shared_missing_value_test_gives_what_the_private_ones_gave(value):
    assert is_missing(value) == _old_disclosure(value)
    assert is_missing(value, blank_text=True) == _old_display(value)


def test_the_shared_missing_value_test_also_knows_nat():
    # The one difference, on purpose: NaT is missing (the private helpers let it through as a value).
    assert is_missing(pd.NaT) and not _old_disclosure(pd.NaT)
