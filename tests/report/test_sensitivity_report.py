"""The report's section "Sensitivity analysis: self-harm from codes and notes" (issue 6, item 3).

Counts of the hand-made cohort (tests/stats/test_sensitivity.py): MDD 100, TRD 80; self-harm from codes
MDD 5, TRD 10; from codes + notes MDD 15, TRD 35; found by notes only MDD 10, TRD 25.
"""

from __future__ import annotations

import datetime as dt
import math

import pandas as pd
import pytest
from docx import Document
from scipy import stats as scipy_stats

from trdpath import layout
from trdpath.config import config_from_dict
from trdpath.report import write_report
from support.synthetic import self_harm_sources_cohort as hand_made_cohort, synthetic_patients

META = {"software_version": "9.9.9-test", "index_date": dt.date(2021, 10, 31),
        "data_date_range": (dt.date(2000, 1, 1), dt.date(2021, 10, 31)), "source": "unit test"}
NO_DISCLOSURE = config_from_dict({"disclosure": {"enabled": False}})
TITLE = "Sensitivity analysis: self-harm from codes and notes"


def attrition_for(patients):
    n = len(patients)
    return pd.DataFrame({"rule": ["extract", "no_depression_diagnosis"], "remaining": [n + 50, n],
                         "excluded": [0, 50]})


@pytest.fixture(scope="module")
def hand_report(tmp_path_factory):
    out = tmp_path_factory.mktemp("sensitivity")
    patients = hand_made_cohort()
    write_report(out, patients, attrition_for(patients), NO_DISCLOSURE, META)
    return out


def test_csv_and_xlsx_hold_the_sensitivity_tables(hand_report):
    tables = layout.tables_dir(hand_report)
    self_harm = pd.read_csv(tables / "sensitivity_self_harm.csv", keep_default_na=False)
    assert list(self_harm.columns[:8]) == ["section", "variable", "mdd_n", "mdd_pct", "trd_n", "trd_pct", "all_n",
                                           "all_pct"]
    rows = self_harm.set_index("variable")
    assert (int(rows.at["self_harm_any", "mdd_n"]), int(rows.at["self_harm_any", "trd_n"])) == (15, 35)
    assert (int(rows.at["notes_only", "mdd_n"]), int(rows.at["notes_only", "trd_n"])) == (10, 25)
    assert float(rows.at["self_harm_any", "statistic"]) == pytest.approx(180 * 2300 ** 2 / 52_000_000)
    regression = pd.read_csv(tables / "sensitivity_regression.csv")
    assert {"codes_odds_ratio", "codes_notes_odds_ratio", "codes_notes_ci_lower", "codes_notes_p_value"} <= set(
        regression.columns)
    # The saturated-in-self-harm case: in the hand-made cohort only self-harm varies among Model 3's predictors
    # (all other flags are False, every code F32, everyone employed), so its odds ratio is the 2x2 cross-product
    # ratio: codes (10 * 95) / (5 * 70), codes + notes (35 * 85) / (15 * 45); Woolf's interval.
    row = regression[(regression["model"] == "Model 3") & (regression["term"] == "self_harm")].iloc[0]
    assert row["codes_odds_ratio"] == pytest.approx(10 * 95 / (5 * 70), rel=1e-6)
    assert row["codes_notes_odds_ratio"] == pytest.approx(35 * 85 / (15 * 45), rel=1e-6)
    se = math.sqrt(1 / 35 + 1 / 85 + 1 / 15 + 1 / 45)
    z = scipy_stats.norm.ppf(0.975)
    assert row["codes_notes_ci_lower"] == pytest.approx(35 * 85 / (15 * 45) * math.exp(-z * se), rel=1e-6)
    assert row["codes_notes_ci_upper"] == pytest.approx(35 * 85 / (15 * 45) * math.exp(z * se), rel=1e-6)
    sheets = pd.read_excel(tables / "tables.xlsx", sheet_name=None, keep_default_na=False)
    for stem in ("sensitivity_self_harm", "sensitivity_regression"):
        csv = pd.read_csv(tables / f"{stem}.csv", keep_default_na=False)
        assert list(sheets[stem].columns) == list(csv.columns)
        assert sheets[stem]["variable" if stem.endswith("harm") else "term"].tolist() == \
            csv["variable" if stem.endswith("harm") else "term"].tolist()


def test_html_section_states_how_many_more_patients_the_notes_find(hand_report):
    html = layout.report_html(hand_report).read_text(encoding="utf-8")
    section = html.split('<h2 id="sensitivity">')[1].split('<h2 id="journeys">')[0]
    # Overall: codes 15, codes + notes 50 (50 / 15 = 3.3 times), notes only 35.
    assert "codes alone found self-harm in 15 patients and codes + notes in 50 (3.3 times as many)" in section
    assert "the notes found 35 more patients" in section
    assert "In MDD, codes alone found self-harm in 5 patients and codes + notes in 15 (3.0 times" in section
    assert "In TRD, codes alone found self-harm in 10 patients and codes + notes in 35 (3.5 times" in section
    # Table S1 in the paper's format: 35 of 80 TRD = 43.75%; chi-squared 18.31 on 1 df.
    assert "35 (43.75)" in section and "χ²(1) = 18.31" in section
    assert "Table S2" in section and "Self-harm from codes + notes" in section
    assert f"{10 * 95 / (5 * 70):.2f}" in section and f"{35 * 85 / (15 * 45):.2f}" in section


def test_docx_has_the_section(hand_report):
    document = Document(str(layout.report_docx(hand_report)))
    headings = [p.text for p in document.paragraphs if p.style.name.startswith("Heading")]
    assert TITLE in headings and any(h.startswith("Table S1") for h in headings)
    text = "\n".join(cell.text for table in document.tables for row in table.rows for cell in row.cells)
    assert "35 (43.75)" in text and "Notes only (found by the notes, not by the codes)" in text


def test_report_without_notes_says_so(tmp_path):
    patients = synthetic_patients(600, seed=5, notes=False)
    write_report(tmp_path, patients, attrition_for(patients), config_from_dict({}), META)
    html = layout.report_html(tmp_path).read_text(encoding="utf-8")
    section = html.split('<h2 id="sensitivity">')[1].split('<h2 id="journeys">')[0]
    assert "No notes in this extract" in section and "Table S1" not in section
    for stem in ("sensitivity_self_harm", "sensitivity_regression"):
        table = pd.read_csv(layout.tables_dir(tmp_path) / f"{stem}.csv")
        assert table.empty and len(table.columns) > 5
    paragraphs = [p.text for p in Document(str(layout.report_docx(tmp_path))).paragraphs]
    assert TITLE in paragraphs and any(p.startswith("No notes in this extract") for p in paragraphs)


def test_disclosure_reaches_the_section(tmp_path):
    """With disclosure on (default), the hand-made cohort's small cells are hidden in the HTML too."""
    patients = hand_made_cohort()
    write_report(tmp_path, patients, attrition_for(patients), config_from_dict({}), META)
    section = layout.report_html(tmp_path).read_text(encoding="utf-8").split('<h2 id="sensitivity">')[1].split(
        '<h2 id="journeys">')[0]
    table = pd.read_csv(layout.tables_dir(tmp_path) / "sensitivity_self_harm.csv", dtype=str, keep_default_na=False)
    rows = table.set_index("variable")
    assert rows.at["both", "mdd_n"] == "<8" and rows.at["codes_only", "mdd_n"] == "<8"
    assert "&lt;8" in section
    # Codes + notes: 15 and 35 rounded to 15 and 35; 50 overall; the summary uses only published counts.
    assert "codes + notes in 50" in section and "In MDD, codes alone found self-harm in &lt;8 patients" in section
