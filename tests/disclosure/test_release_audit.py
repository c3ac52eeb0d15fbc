"""The production audit (trdpath.stats.release_audit) on hand-made releases whose pins are worked out by hand.

Each case is a member of the class the n = 357 cohort belonged to: rounding windows of several linked sums that
meet at one number. A count shown r (rounding to 5, halves up) is r-2 .. r+2 (never below 8), '<8' is 1..7,
'suppressed' is >= 8. The audit must find every pinned count, and name a count whose hiding releases it.
"""

from __future__ import annotations

import pandas as pd

from trdpath.stats.release_audit import BIG, ReleaseModel, _attrition, _journeys


def _hide(model: ReleaseModel, key) -> None:
    """What protect() does with a chosen count: it is shown as 'suppressed' (>= 8) from then on."""
    v = model.index[key]
    model.low[v], model.high[v], model.shown[v], model.hideable[v] = model.min_count, BIG, False, False


def _pinned(model: ReleaseModel) -> set:
    return {model.keys[v] for v in model.pinned()}


def test_one_partition_whose_windows_meet_the_total_window():
    # A group of 22 shown as 20 (18..22) with levels 8, 13, 1 shown 10 (8..12), 15 (13..17), <8 (1..7):
    # the levels add up to at least 8 + 13 + 1 = 22 and the group to at most 22, so every count is pinned.
    m = ReleaseModel(min_count=8, rounding=5)
    group = m.size(("N", "g"), 22)
    levels = [m.count(("t", i, "g"), shown, true) for i, (shown, true) in enumerate([(10, 8), (15, 13), ("<8", 1)])]
    m.equal(levels, [group])
    assert _pinned(m) == {("N", "g"), ("t", 0, "g"), ("t", 1, "g"), ("t", 2, "g")}
    # Only the 13 has a lower bound above 8 that hiding would lower; hiding the 8 (already at 8) would not help.
    assert m.cells_to_hide(m.pinned()) == [("t", 1, "g")]
    _hide(m, ("t", 1, "g"))
    # Now the levels are >= 8 + 8 + 1 = 17 and the group 18..22: 18 + 4 = 22 ... five candidates for the group.
    assert _pinned(m) == set()


def _level_size_with(partitions) -> ReleaseModel:
    m = ReleaseModel(min_count=8, rounding=5)
    size = m.count(("levels", 0, "level3"), 35, 36)  # a level of 36 shown 35: 33..37
    for p, partition in enumerate(partitions):
        m.equal([m.count(("levels", 10 * p + k + 1, "level3"), shown, true)
                 for k, (shown, true) in enumerate(partition)], [size])
    return m


P = [(25, 23), (15, 13)]  # 23 + 13 shown 25 (23..27) + 15 (13..17): at least 36
Q = [(10, 12), (10, 12), (10, 12)]  # 12 + 12 + 12 shown 10 (8..12) three times: at most 36


def test_two_partitions_of_the_same_total_pin_it_where_neither_alone_does():
    # With the size's window 33..37: P alone leaves 36 or 37, Q alone 33..36; together only 36.
    assert ("levels", 0, "level3") not in _pinned(_level_size_with([P]))
    assert ("levels", 0, "level3") not in _pinned(_level_size_with([Q]))
    m = _level_size_with([P, Q])
    assert ("levels", 0, "level3") in _pinned(m)
    # Hiding one count at the edge of its window releases it: a 12 of Q (top) or the 23 / 13 of P (bottom, > 8).
    chosen = m.cells_to_hide(m.pinned())
    assert chosen and set(chosen) <= {("levels", k, "level3") for k in (1, 2, 11, 12, 13)}
    for key in chosen:
        _hide(m, key)
    assert ("levels", 0, "level3") not in _pinned(m)


def test_sankey_flow_conservation_pins_a_node():
    # Node X at position 2: inflows A->X 13 and B->X 13, shown 15 and 15 (13..17 each: at least 26); outflows
    # X->Y 12 shown 10 (<= 12), X->Z 7 and X->no further drug 7, shown <8 (<= 7 each): at most 26. In = out, so
    # every flow of X is pinned (13, 13, 12, 7, 7).
    true = pd.DataFrame({"step": [1, 1, 2, 2, 2], "source": ["A", "B", "X", "X", "X"],
                         "target": ["X", "X", "Y", "Z", "no further drug"], "n": [13, 13, 12, 7, 7]})
    published = true.assign(n=[15, 15, 10, "<8", "<8"])
    m = ReleaseModel(min_count=8, rounding=5)
    cohort = m.size(("N", "cohort"), 26)  # everyone starts at A or B: position 1's flows add up to the cohort
    _journeys(m, true, published, cohort)
    assert {("journeys", i) for i in range(5)} <= _pinned(m)
    # Hiding X->Y (12, the smallest shown flow at the top of its window) lifts the outflow's upper bound.
    assert m.cells_to_hide(m.pinned()) == [("journeys", 2)]
    _hide(m, ("journeys", 2))
    assert {("journeys", i) for i in range(5)}.isdisjoint(_pinned(m))


def test_cohort_flow_chain_pins_the_cohort_and_the_groups():
    # extract 102 (shown 100: 98..102) - 13 excluded (15: 13..17) = 89 (90: 88..92), so 89 is at most 102 - 13 = 89;
    # 89 - 13 excluded (15: >= 13) = 76 = the cohort = MDD 48 (50: >= 48) + TRD 28 (30: >= 28), so 89 is at
    # least 48 + 28 + 13 = 89. Pinned: 89, both exclusions, the cohort 76, MDD 48 and TRD 28.
    m = ReleaseModel(min_count=8, rounding=5)
    mdd, trd = m.size(("N", "mdd"), 48), m.size(("N", "trd"), 28)
    cohort = m.size(("N", "cohort"), 76)
    m.equal([mdd, trd], [cohort])
    true = pd.DataFrame({"rule": ["extract", "no depression", "no antidepressant"], "remaining": [102, 89, 76],
                         "excluded": [0, 13, 13]})
    published = pd.DataFrame({"rule": true["rule"], "remaining": [100, 90, 75], "excluded": [0, 15, 15]})
    _attrition(m, true, published, cohort)
    pinned = _pinned(m)
    assert {("attrition", 1, "remaining"), ("attrition", 1, "excluded"), ("attrition", 2, "excluded"),
            ("N", "cohort"), ("N", "mdd"), ("N", "trd")} <= pinned
    chosen = m.cells_to_hide(m.pinned())
    assert chosen and set(chosen) <= {("attrition", 1, "excluded"), ("attrition", 2, "excluded")}
    _hide(m, chosen[0])
    # The first exclusion hidden (>= 8): 89 <= 102 - 8 = 94, so 89..92 remain; with the second hidden, 76 + 8 = 84.
    assert not _pinned(m) & {("N", "cohort"), ("N", "mdd"), ("N", "trd"), ("attrition", 1, "remaining")}


def test_a_relation_the_true_counts_break_is_not_used():
    # A reader may guess that the age n is the group size; where ages are missing it is not, and the guess must
    # not make the audit see a pin that is not there (nor miss one): the relation is dropped.
    m = ReleaseModel(min_count=8, rounding=5)
    group = m.size(("N", "g"), 40)
    age_n = m.count(("t", 0, "g"), 40, 38)  # two patients without an age
    m.equal([age_n], [group])
    assert m.rows == []


def test_the_missing_predictor_warning_is_a_count_of_the_release():
    """warnings.csv's "N patients with a missing predictor" is cohort - model n: the audit holds it with the rest.
    MDD 142 (shown 140: 138..142) + TRD 147 (145: 143..147) = cohort 289 <= 142 + 147 = 289, while model n 288
    (290: 288..292) + left out 1 (<8: 1..7) >= 289: every one of them is pinned."""
    from types import SimpleNamespace

    from trdpath.config import DisclosureSection
    from trdpath.stats.release_audit import build

    empty = pd.DataFrame()
    table = pd.DataFrame(columns=["variable", "level", "test", "mdd_n", "trd_n"])
    analysis = SimpleNamespace(
        n_mdd=142, n_trd=147, n_cohort=289, table1=table, table2=table, resistance_levels=empty, service_use=None,
        journeys=None, model_fit=pd.DataFrame({"model": ["Model 1"], "n": [288]}),
        sensitivity=SimpleNamespace(self_harm=None),
        warnings=["1 patients with a missing predictor were left out of every model"])
    published = SimpleNamespace(table1=table, table2=table, resistance_levels=empty, service_use=None,
                                journeys=None, model_fit=pd.DataFrame({"n": [290]}),
                                sensitivity=SimpleNamespace(self_harm=None),
                                warnings=["<8 patients with a missing predictor were left out of every model"])
    model = build(analysis, published, DisclosureSection())
    assert {model.keys[v] for v in model.pinned()} == {("N", "mdd"), ("N", "trd"), ("N", "cohort"), ("fit", 0),
                                                        ("warning", "missing predictor")}
    # Only the warning's count can give way (the sizes and the model n are printed whatever happens): protect()
    # then writes it without its number ("some patients").
    assert model.cells_to_hide(model.pinned()) == [("warning", "missing predictor")]
    # Written so, the model n
    # says only n <= cohort: the cohort may be 288 or 289.
    published.warnings = ["some patients with a missing predictor were left out of every model"]
    model = build(analysis, published, DisclosureSection())
    assert ("N", "cohort") not in {model.keys[v] for v in model.pinned()}


def test_a_warning_count_the_audit_names_is_written_without_its_number():
    from types import SimpleNamespace

    from trdpath.config import DisclosureSection
    from trdpath.stats.disclosure import MISSING_PREDICTOR, published_warnings

    table = pd.DataFrame({"variable": [], "level": [], "warning": []})
    analysis = SimpleNamespace(warnings=["13 patients with a missing predictor were left out of every model"])
    protected = SimpleNamespace(table1=table, table2=table, resistance_levels=table,
                                service_use=pd.DataFrame({"measure": [], "category": [], "warning": []}),
                                sensitivity=SimpleNamespace(notes_available=False))
    # 13 rounded to the nearest 5 is 15; named by the audit, no number at all.
    assert published_warnings(analysis, protected, DisclosureSection()) == [
        "15 patients with a missing predictor were left out of every model"]
    assert published_warnings(analysis, protected, DisclosureSection(), {MISSING_PREDICTOR}) == [
        "some patients with a missing predictor were left out of every model"]
