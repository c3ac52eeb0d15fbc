"""Live disclosure: no filtered view shows a count of 1-7, and no cell can be pinned down by putting a
partition's views together with the published table.

The attacker here is written independently of the server's audit: it enumerates every integer a shown
value allows (by applying the display rule to 0..N, not by the server's interval arithmetic) and keeps the
values of each cell that some combination of the other cells completes to the published total."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.signal import fftconvolve
from hypothesis import given, settings as hsettings, strategies as st

from trdpath.config import DisclosureSection
from trdpath.serve.live import GROUPS, LiveTables, audit, partitions
from trdpath.serve.results import ResultFolder
from trdpath.stats.disclosure import SUPPRESSED, round_count

SETTINGS = DisclosureSection()  # counts 1-7 hidden, others rounded to 5
LIMIT = 2500  # the largest true count the attacker tries (the test result's cohort is about 1,600)


def shown(value: int) -> object:
    """The report's display rule for a count with no secondary suppression."""
    if 0 < value < SETTINGS.min_count:
        return f"<{SETTINGS.min_count}"
    return round_count(value, SETTINGS.rounding)


def possible(display) -> np.ndarray:
    """Every true count (0..LIMIT) that the display could stand for, as a boolean mask."""
    if display == SUPPRESSED or display is None:
        return np.ones(LIMIT + 1, dtype=bool)
    if isinstance(display, str) and not display.startswith("<"):
        display = float(display)
    return np.array([shown(v) == display for v in range(LIMIT + 1)])


def _sums(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The set {x + y} of two sets of counts (boolean masks), by convolution."""
    return fftconvolve(a.astype(float), b.astype(float))[: LIMIT + 1] > 0.5


def attacker(total_display, view_displays) -> list[set[int]]:
    """For the published total and each view: the values consistent with everything shown."""
    views = [possible(d) for d in view_displays]
    zero = np.zeros(LIMIT + 1, dtype=bool)
    zero[0] = True
    prefix = [zero]
    for options in views:
        prefix.append(_sums(prefix[-1], options))
    suffix = [zero]
    for options in reversed(views):
        suffix.append(_sums(suffix[-1], options))
    suffix.reverse()
    totals = possible(total_display) & prefix[-1]
    result = [set(np.flatnonzero(totals).tolist())]
    for j, options in enumerate(views):
        rest = _sums(prefix[j], suffix[j + 1])
        # x is possible when some r in rest has x + r in totals: correlate totals with rest
        reach = fftconvolve(totals.astype(float), rest[::-1].astype(float))[LIMIT: 2 * LIMIT + 1] > 0.5
        result.append(set(np.flatnonzero(options & reach).tolist()))
    return result


def one_row(value) -> pd.DataFrame:
    return pd.DataFrame({"variable": ["flag"], "level": [""], "mdd_n": [value], "trd_n": [value]})


@hsettings(max_examples=300, deadline=None)
@given(st.lists(st.integers(0, 60), min_size=2, max_size=6))
def test_the_audit_leaves_every_cell_two_possible_values(counts):
    """Any partition of a count into views: after the audit, a reader learns no cell exactly (zeros aside)."""
    total = sum(counts)
    published = one_row(shown(total))
    views = [one_row(shown(c)) for c in counts]
    hide = audit(published, views, SETTINGS, refused_bound=LIMIT)
    displays = [SUPPRESSED if (0, "mdd") in hide else v.at[0, "mdd_n"] for v in views]
    candidates = attacker(published.at[0, "mdd_n"], displays)
    for true, options in zip([total] + counts, candidates):
        assert true in options  # the attacker's reasoning is sound
        if true > 0:
            assert len(options) >= 2, (counts, displays, options)


def test_the_audit_catches_the_edge_case_of_rounding():
    """4 views of 12 each show 10, 10, 10, 10 and the total 48 shows 50: the views sum to at most
    4 x 12 = 48 and the total is at least 48, so every view must be exactly 12 (and the total 48).
    The audit hides the row in every view; the attacker then finds many values."""
    counts = [12, 12, 12, 12]
    displays = [shown(c) for c in counts]
    assert displays == [10, 10, 10, 10] and shown(48) == 50
    assert attacker(50, displays)[1:] == [{12}] * 4  # without the audit: pinned
    hide = audit(one_row(50), [one_row(d) for d in displays], SETTINGS, refused_bound=LIMIT)
    assert hide == {(0, "mdd"), (0, "trd")}


@pytest.fixture(scope="module")
def live(result_folder):
    tables = LiveTables(ResultFolder.open(result_folder))
    tables.warm()
    return tables


def test_no_view_shows_a_count_from_1_to_7_and_no_cell_is_pinned(live, result_folder):
    """Every view of every partition of the test result, every count of Tables 1 and 2."""
    checked = 0
    for dimension, values in partitions(live.folder).items():
        views = [live.view(dimension, v) for v in values]
        for name in ("table1", "table2"):
            base = live.base_table(name)
            for i in base.index:
                for g in GROUPS:
                    column = f"{g}_n"
                    if pd.isna(base.at[i, column]):
                        continue
                    displays = []
                    for view in views:
                        if view.refused:
                            displays.append(SUPPRESSED)
                            continue
                        value = view.tables[name].at[i, column]
                        if pd.isna(value):
                            value = 0  # the group is empty in this view (e.g. MDD under level 2)
                        if not isinstance(value, str):
                            assert not (0 < float(value) < SETTINGS.min_count), (dimension, i, g, value)
                        displays.append(value)
                    if base.at[i, column] in (0, 0.0, "0"):
                        continue  # a published zero: every view is zero, and nothing is learned
                    candidates = attacker(base.at[i, column], displays)
                    for options, display in zip(candidates, [base.at[i, column]] + displays):
                        if display not in (0, 0.0, "0"):
                            assert len(options) >= 2, (dimension, name, base.at[i, "variable"], g, displays)
                    checked += 1
    assert checked > 100


def test_small_views_and_small_complements_are_refused(live):
    """Query-set size: a view (or the rest of the cohort) under 80 patients is not shown at all."""
    cohort = live.folder.connection().execute("SELECT count(*) FROM patients WHERE in_cohort").fetchone()[0]
    for dimension, values in partitions(live.folder).items():
        for value in values:
            view = live.view(dimension, value)
            n = view.n_mdd + view.n_trd
            assert bool(view.refused) == (n < 80 or cohort - n < 80), (dimension, value, n)
