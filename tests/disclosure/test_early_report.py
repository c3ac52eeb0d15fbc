"""The early-identification section (issue 18) as a reader attacks it: its counts' links and its figures."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pandas as pd

from trdpath.config import DisclosureSection
from trdpath.early import report as early_report
from trdpath.early.report import calibration_shown, count

SETTINGS = DisclosureSection()  # min_count 8, rounding 5


def _tenth_sizes(n: int) -> np.ndarray:
    """Patients per tenth of predicted risk in a test set of n (risk.py's rule: rank * 10 // n, capped at 9)."""
    return np.bincount(np.minimum(np.arange(n) * 10 // n, 9), minlength=10)


def test_exact_calibration_points_gave_back_the_test_set_n_and_each_tenths_events():
    """A test set of 103 patients (printed 105: 103..107) in tenths of 11,10,10,11,10,10,11,10,10,10; events
    per tenth 1,1,2,2,3,3,4,5,6,9. Drawn exactly (1/11 = 0.0909, 1/10 = 0.1, ...), only n = 103 makes every
    observed x tenth size a whole number: the old figure gave n and the small counts (1, 2, 3) back."""
    n, events = 103, np.array([1, 1, 2, 2, 3, 3, 4, 5, 6, 9])
    sizes = _tenth_sizes(n)
    assert list(sizes) == [11, 10, 10, 11, 10, 10, 11, 10, 10, 10]
    observed = events / sizes

    def candidates(points):
        out = []
        for m in range(103, 108):  # the printed 105's window
            size = _tenth_sizes(m)
            e = np.asarray(points) * size
            if np.allclose(e, np.round(e), atol=1e-6):
                out.append(m)
        return out

    assert candidates(observed) == [103]  # the leak
    shown = calibration_shown(pd.DataFrame({"predicted": np.linspace(0.05, 0.95, 10), "observed": observed}),
                              count(n, SETTINGS), SETTINGS)
    # Now: events = observed x 105/10 rounded to 5 over the tenth size 10.5 rounded (10): 0.0909 x 10.5 = 0.95
    # -> 0 (< 8: not drawn) ... 9/10 x 10.5 = 9.45 -> 10 of 10 (non-events 0 < 8: not drawn). No tenth has 8
    # events and 8 non-events in 10, so nothing is drawn.
    assert shown.empty


def test_calibration_points_from_rounded_counts():
    """n 400 (tenths of 40): observed 0.45 -> 18 events -> 20 of 40 = 0.5; 0.1 -> 4 -> 5 (< 8: not drawn);
    0.9 -> 36 -> 35 (non-events 40 - 35 = 5 < 8: not drawn); 0.3 -> 12 -> 10 of 40 = 0.25."""
    points = pd.DataFrame({"predicted": [0.2, 0.1, 0.8, 0.3], "observed": [0.45, 0.1, 0.9, 0.3]})
    shown = calibration_shown(points, "400", SETTINGS)
    assert list(shown["predicted"]) == [0.2, 0.3]
    assert list(shown["observed"]) == [0.5, 0.25]
    assert calibration_shown(points, "<8", SETTINGS).empty  # a small test set: nothing drawn
    assert calibration_shown(points, "400", DisclosureSection(enabled=False)).equals(points)


def test_the_risk_section_draws_only_the_published_points(tmp_path, monkeypatch):
    """risk_part hands the figure the points of calibration_shown and a "treat all" line from the rounded
    prevalence (events 50 of n 200 printed as they are: 0.25), never the exact ones of risk_evaluation.json."""
    summary = {"model": "logistic", "n": 200, "events": 50, "train_n": 400, "train_events": 100, "auroc": 0.61,
               "calibration_points": [{"predicted": 0.1, "observed": 0.35}, {"predicted": 0.2, "observed": 0.05}]}
    (tmp_path / "risk_evaluation.json").write_text(json.dumps(summary))
    pd.DataFrame({"threshold": [0.1, 0.2, 0.3], "net_benefit_model": [0.1, 0.05, 0.01],
                  "net_benefit_all": [0.2537, 0.1234, 0.0], "treated_events": [41, 33, 7],
                  "treated_non_events": [62, 27, 9]}).to_csv(tmp_path / "risk_decision_curve.csv", index=False)
    seen = {}
    monkeypatch.setattr(early_report, "_risk_figure", lambda s, c: seen.update(summary=s, curve=c))
    early_report.risk_part(tmp_path, SETTINGS)
    # 0.35 x 20 = 7 -> 5 (< 8): not drawn; 0.05 x 20 = 1 -> 0: not drawn
    assert seen["summary"]["calibration_points"] == []
    # treat all at 0.1: 0.25 - 0.75 x 0.1/0.9 = 0.25 - 0.08333 = 0.16667; at 0.2: 0.25 - 0.75 x 0.25 = 0.0625
    assert np.allclose(seen["curve"]["net_benefit_all"], [0.25 - 0.75 / 9, 0.0625])
    # the model's points from the counts rounded to 5 over n 200, not the exact file values: at 0.1, 41 -> 40 and
    # 62 -> 60: 40/200 - 60/200 x 0.1/0.9 = 0.2 - 0.03333; at 0.2, 33 -> 35 and 27 -> 25: 0.175 - 0.125 x 0.25;
    # at 0.3, 7 treated with the event (< 8): not drawn
    assert list(seen["curve"]["threshold"]) == [0.1, 0.2]
    assert np.allclose(seen["curve"]["net_benefit_model"], [0.2 - 0.3 / 9, 0.175 - 0.03125])


def test_the_backtest_links_cannot_pin_a_count_under_the_default_policy():
    """The backtest's published counts are linked only by inequalities (cases seen at stage 2 <= at stage 1 <=
    cases; PPV n at 12 months <= at 6 months <= flagged; events <= n). x <= y pins y only if x's smallest
    candidate is y's largest: a printed '<8' (1..7) or rounded r (max(8, r-2)..r+2) never has a lower bound equal
    to another's upper bound (7 v. 1 or >= 8; r-2 = r'+2 needs r - r' = 4, not a multiple of 5; 8 = r'+2 needs
    r' = 6). Checked for every pair of true counts up to 60 with x <= y."""
    def window(v):
        if v == 0:
            return 0, 0
        if v < 8:
            return 1, 7
        r = 5 * int(v / 5 + 0.5)
        return max(8, r - 2), r + 2

    for x, y in itertools.combinations_with_replacement(range(0, 61), 2):
        (xl, xh), (yl, yh) = window(x), window(y)
        # candidates under x <= y: x in [xl, min(xh, yh)], y in [max(yl, xl), yh]
        if x:
            assert min(xh, yh) > xl, (x, y)
        if y:
            assert yh > max(yl, xl), (x, y)


def test_lift_to_two_decimals_narrowed_the_test_sets_counts(tmp_path):
    """The 300-patient synthetic risk run: test set n 40 and events 20 printed (true n 38..42, events 18..22: 25
    pairs), lift 1.85. lift = (top events / top n) / (events / n) with top n = n // 5 .. n // 5 + 2: only
    (38, 18) with 7 of 8 (7/8 / (18/38) = 1.847) and (41, 20) with 9 of 10 (0.9 / (20/41) = 1.845) print 1.85.
    Printed to 1 decimal (1.8: 1.75..1.85) 16 pairs remain."""
    def pairs(low, high):
        return {(n, e) for n in range(38, 43) for e in range(18, 23) for top in range(n // 5, n // 5 + 3)
                for hit in range(top + 1) if low <= (hit / top) / (e / n) < high}

    assert pairs(1.845, 1.855) == {(38, 18), (41, 20)}
    assert len(pairs(1.75, 1.85)) == 16
    (tmp_path / "risk_evaluation.json").write_text(json.dumps({"n": 40, "events": 20, "lift_top_fifth": 1.8471}))
    blocks, published = early_report.risk_part(tmp_path, SETTINGS)
    table = published["early_risk_evaluation"].set_index("measure")["value"]
    assert table["Lift in the top fifth of predicted risk"] == "1.8"
