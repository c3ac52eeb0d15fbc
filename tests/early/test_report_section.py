"""The report's early-identification section (trdpath.early.report): the backtest and the risk model
published with disclosure control (min_count 8, rounding 5: the project defaults).

Counts worked by hand: 913 -> 915 (nearest 5), 5 -> "<8", 457 -> 455, 123 -> 125; a PPV is computed
from the rounded counts: 125 / 455 = 0.2747 -> "0.27" (from the exact 123 / 457 = 0.2691 it would
print 0.27 too, but 0.269 at three decimals would pin the exact pair).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import docx
import pandas as pd
import pytest

from trdpath.config import DisclosureSection, StudyConfig
from trdpath.early.report import count, early_section, predictor_label, proportion

ON = DisclosureSection()
OFF = DisclosureSection(enabled=False)


def _backtest(folder: Path, flagged: int = 913, ppv_events: int = 123, ppv_n: int = 457) -> None:
    folder.mkdir(parents=True)
    summary = [{"measure": "TRD cases after the first as-of date", "value": 402},
               {"measure": "cases seen at stage 1 or beyond before TRD", "value": 5},
               {"measure": "days from first stage 1 to TRD: median (IQR)", "value": "169 (132-212)", "n": 5},
               {"measure": "patients flagged (stage 2) on some as-of date", "value": flagged},
               {"measure": "PPV of the flag for TRD within 6 months", "n": ppv_n, "events": ppv_events,
                "value": f"{ppv_events / ppv_n:.3f}"},
               {"measure": "PPV of the flag for TRD within 12 months", "n": 40, "events": 3, "value": "0.075"}]
    (folder / "backtest.json").write_text(json.dumps({"from": "2020-01-31", "to": "2020-03-31", "every": "month",
                                                      "dates": 3, "outcome_date": "2021-01-01", "summary": summary}))
    pd.DataFrame({"as_of": ["2020-01-31", "2020-02-29", "2020-03-31"], "stage_1": [101, 3, 0],
                  "stage_TRD": [12, 14, 17]}).to_csv(folder / "backtest_by_date.csv", index=False)


def _risk(folder: Path) -> None:
    folder.mkdir(parents=True)
    (folder / "risk_evaluation.json").write_text(json.dumps({
        "model": "logistic", "n": 457, "events": 123, "train_n": 1066, "train_events": 6, "auroc": 0.64412,
        "auroc_ci": [0.5921, 0.6953], "auprc": 0.70311, "calibration_slope": 1.2249, "calibration_intercept": 1.187,
        "lift_top_fifth": 1.4167, "calibration_points": [{"predicted": 0.1 * i, "observed": 0.09 * i} for i in range(1, 11)]}))
    pd.DataFrame({"predictor": ["cat__sex_female", "bin__self_harm", "num__age"],
                  "coefficient": ["0.213", "<8", "-0.0213"]}).to_csv(folder / "risk_coefficients.csv", index=False)
    pd.DataFrame({"threshold": [0.05, 0.1], "net_benefit_model": [0.2, 0.1], "net_benefit_all": [0.25, 0.2],
                  "treated_events": [120, 60], "treated_non_events": [300, 100]}).to_csv(
        folder / "risk_decision_curve.csv", index=False)


def test_counts_and_proportions_by_hand():
    assert count(913, ON) == "915" and count(5, ON) == "<8" and count(0, ON) == "0" and count("<8", ON) == "<8"
    assert count(915, ON) == "915"  # idempotent on a count rounded already
    assert count(913, OFF) == "913"
    assert proportion(123, 457, ON) == "0.27" and proportion(3, 40, ON) == "suppressed (small count)"
    assert proportion(37, 40, ON) == "suppressed (small count)"  # the non-events (3) are small too
    assert proportion(3, 40, OFF) == "0.07"  # 0.075 -> 0.07 (round half to even on the binary float)
    assert predictor_label("cat__sex_female") == "sex: female" and predictor_label("bin__self_harm") == "self harm"


def test_section_publishes_only_protected_counts(tmp_path):
    _backtest(tmp_path / "backtest")
    _risk(tmp_path / "risk")
    section, tables = early_section(tmp_path, ON)
    summary = tables["early_backtest_summary"].set_index("measure")
    assert summary.at["TRD cases after the first as-of date", "value"] == "400"  # 402 -> 400
    assert summary.at["cases seen at stage 1 or beyond before TRD", "value"] == "<8"
    # The median of fewer than 8 patients is withheld with its n.
    assert summary.at["days from first stage 1 to TRD: median (IQR)", "value"] == "suppressed (small count)"
    assert summary.at["patients flagged (stage 2) on some as-of date", "value"] == "915"
    assert summary.at["PPV of the flag for TRD within 6 months", "value"] == "0.27"
    assert summary.at["PPV of the flag for TRD within 12 months", "value"] == "suppressed (small count)"
    by_date = tables["early_backtest_by_date"]
    assert list(by_date["stage_1"]) == ["100", "<8", "0"] and list(by_date["stage_TRD"]) == ["10", "15", "15"]
    risk = tables["early_risk_evaluation"].set_index("measure")["value"]
    assert risk["Test set: patients"] == "455" and risk["Training set: TRD within 12 months"] == "<8"
    assert risk["Test set: proportion with TRD"] == "0.27"  # 125 / 455
    assert risk["AUROC"] == "0.64 (95% CI 0.59-0.70)" and risk["Calibration slope"] == "1.22"
    coefs = tables["early_risk_coefficients"].set_index("predictor")["coefficient"]
    assert coefs["self harm"] == "<8" and coefs["age"] == "-0.02"
    # Attacker: no published cell holds an unrounded count (a whole number not a multiple of 5 above 0).
    for name, table in tables.items():
        for value in table.astype(str).to_numpy().ravel():
            if re.fullmatch(r"\d+", value):
                assert int(value) % 5 == 0, (name, value)
    kinds = [kind for kind, _ in section.blocks]
    assert kinds.count("table") == 3 and kinds.count("figure") == 2


def test_no_outputs_no_section_and_damaged_output_reported(tmp_path):
    assert early_section(tmp_path, ON) == (None, {})
    (tmp_path / "risk").mkdir()
    (tmp_path / "risk" / "risk_evaluation.json").write_text("{not json")
    section, tables = early_section(tmp_path, ON)
    assert tables == {} and "could not be read" in section.blocks[0][1][0]


@pytest.fixture(scope="module")
def classified(tmp_path_factory):
    from trdpath.api import classify
    from trdpath.synth import generate

    base = tmp_path_factory.mktemp("early-report")
    generate(base / "extract", 300, seed=5)
    classify(base / "extract", base / "out", StudyConfig())
    return base / "out"


def test_report_shows_the_section_in_html_docx_and_tables(classified):
    from trdpath.api import report

    _backtest(classified / "backtest")
    _risk(classified / "risk")
    report(classified)
    release = classified / "release"
    html = (release / "report.html").read_text(encoding="utf-8")
    assert 'id="early"' in html and "Backtest: time gained before TRD" in html
    # Placed before the warnings, and its figures numbered after the others in reading order.
    assert html.index('id="early"') < html.index('id="warnings"')
    numbers = list(dict.fromkeys(int(n) for n in re.findall(r"Figure (\d+)", html)))  # first mentions, in order
    assert numbers == list(range(1, len(numbers) + 1))
    assert html.index("Figure 1 ") < html.index('id="early"') < html.index(f"Figure {numbers[-1]} ")
    text = "\n".join(p.text for p in docx.Document(str(release / "report.docx")).paragraphs)
    assert "Early identification: backtest and risk of progression" in text
    published = pd.read_csv(release / "tables" / "early_backtest_summary.csv", dtype=str, keep_default_na=False)
    assert "913" not in published.to_string() and "915" in set(published["value"])


def test_decision_curve_drawn_from_rounded_counts():
    """Net benefit TP/n - FP/n x t/(1-t) (Vickers & Elkin 2006) drawn exactly over a known n gives the
    counts treated back; drawn, it uses the counts rounded over the rounded n, and a threshold where
    either count is below 8 is not drawn. By hand (n 457 -> 455): t 0.05, TP 121 -> 120, FP 302 -> 300:
    120/455 - 300/455 x 0.05/0.95 = 0.263736 - 0.034702 = 0.229034; t 0.1, TP 61 -> 60, FP 99 -> 100:
    0.131868 - 0.219780/9 = 0.107448; t 0.5, TP 3: not drawn."""
    from trdpath.early.report import decision_curve_shown

    curve = pd.DataFrame({"threshold": [0.05, 0.1, 0.5], "net_benefit_model": [0.2301, 0.1083, 0.0021],
                          "net_benefit_all": [0.25, 0.2, -0.4], "treated_events": [121, 61, 3],
                          "treated_non_events": [302, 99, 40]})
    shown = decision_curve_shown(curve, 457, ON)
    assert list(shown["threshold"]) == [0.05, 0.1]
    assert shown["net_benefit_model"].round(6).tolist() == [0.229034, 0.107448]
    assert "treated_events" not in shown.columns
    assert decision_curve_shown(curve, 457, OFF) is curve  # disclosure control off: drawn as computed
    # A curve file without the counts (an older `trdpath risk`) is not drawn while the control is on.
    assert decision_curve_shown(curve.drop(columns=["treated_events", "treated_non_events"]), 457, ON).empty
