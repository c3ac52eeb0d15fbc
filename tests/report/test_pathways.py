"""Issue 16 item 4: pathways with time and adequacy, worked by hand on four patients (engine: DuckDB)."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from trdpath import layout as paths
from trdpath import engines
from trdpath.config import StudyConfig
from trdpath.pipeline import classify_extract
from trdpath.stats import pathways as pw

INDEX = dt.date(2021, 1, 1)
# Minimum doses: sertraline 50, citalopram 20, mirtazapine 30, venlafaxine 75 mg; an adequate trial is 28 days
# at an adequate dose, adequate on its start + 28 days. 2020 is a leap year (February has 29 days).
#   P1  sertraline 100 mg 01-01 (56 d, ends 02-26); citalopram 20 mg 03-01 (56 d); mirtazapine 30 mg 05-01 (56 d)
#       -> line 1 first drug, 2 switch (sertraline over by 03-01), 3 switch; all adequate.
#       T1 01-29 (28 d), T2 03-29 (31 + 29 + 28 = 88 d), TRD 05-01 (31 + 29 + 31 + 30 = 121 d);
#       gaps 01-01 -> 03-01 = 60 d, 03-01 -> 05-01 = 61 d.
#   P2  sertraline 100 mg 01-01 (120 d, ends 04-30); citalopram 20 mg 03-01 (56 d); lithium 04-15 (56 d)
#       -> line 2 combination (sertraline still taken on 03-01), line 3 augmentation (not judged);
#       T1 28 d, T2 88 d, TRD on 04-15 (lithium overlaps sertraline after T2): 31 + 29 + 31 + 14 = 105 d;
#       gaps 60 d and 03-01 -> 04-15 = 45 d.
#   P3  venlafaxine 37.5 mg 2020-11-01 (90 d, clipped at the index date) -> first drug, ongoing (no adequate dose)
#   P4  sertraline 25 mg 01-01 (56 d) -> first drug, inadequate (dose below 50 mg, stopped)
PRESCRIPTIONS = [
    ("P1", "sertraline", "2020-01-01", 56, 100), ("P1", "citalopram", "2020-03-01", 56, 20),
    ("P1", "mirtazapine", "2020-05-01", 56, 30),
    ("P2", "sertraline", "2020-01-01", 120, 100), ("P2", "citalopram", "2020-03-01", 56, 20),
    ("P2", "lithium", "2020-04-15", 56, 800),
    ("P3", "venlafaxine", "2020-11-01", 90, 37.5),
    ("P4", "sertraline", "2020-01-01", 56, 25),
]


@pytest.fixture(scope="module")
def classified():
    from trdpath.sources.open import with_row_numbers as _with_row_numbers
    from trdpath.sources.validate import validate_extract

    ids = ["P1", "P2", "P3", "P4"]
    tables = {"patients": pd.DataFrame({"patient_id": ids, "birth_date": "1970-01-01", "sex": "F"}),
              "diagnoses": pd.DataFrame({"patient_id": ids, "code": "F32.1", "date": "2010-01-01"}),
              "prescriptions": pd.DataFrame(PRESCRIPTIONS, columns=["patient_id", "drug", "start_date",
                                                                    "days_supply", "daily_dose_mg"])}
    config = StudyConfig()
    con = engines.connect("duckdb", engine=config.engine)
    raw = {name: con.create_table(f"raw_{name}", _with_row_numbers(frame), temp=True) for name, frame in tables.items()}
    extract = validate_extract(con, raw, {name: name for name in raw}, source="hand-made")
    result = classify_extract(con, extract, config, INDEX)
    steps = pw.patient_steps(con, extract, config, INDEX)
    return result, steps


def test_each_step_is_labelled(classified):
    result, steps = classified
    got = [tuple(r) for r in steps[["patient_id", "position", "drug", "step", "adequacy"]].itertuples(index=False)]
    assert got == [
        ("P1", 1, "sertraline", "first drug", "adequate"), ("P1", 2, "citalopram", "switch", "adequate"),
        ("P1", 3, "mirtazapine", "switch", "adequate"),
        ("P2", 1, "sertraline", "first drug", "adequate"), ("P2", 2, "citalopram", "combination", "adequate"),
        ("P2", 3, "augmentation: lithium", "augmentation", "not judged"),
        ("P3", 1, "venlafaxine", "first drug", "ongoing"),
        ("P4", 1, "sertraline", "first drug", "inadequate"),
    ]
    # Lines count antidepressants only (GLOSSARY): P2's lithium is a step (position 3) but not a line.
    assert [None if pd.isna(v) else int(v) for v in steps["line"]] == [1, 2, 3, 1, 2, None, 1, 1]
    assert list(steps.loc[steps["patient_id"] == "P1", "adequacy_date"]) == [
        dt.date(2020, 1, 29), dt.date(2020, 3, 29), dt.date(2020, 5, 29)]
    # The classification agrees: P1 and P2 TRD (levels 3 and 2), P3 and P4 MDD.
    patients = result.patients.set_index("patient_id")
    assert list(patients["trd"]) == [True, True, False, False]
    assert str(patients.at["P1", "trd_date"]) == "2020-05-01" and str(patients.at["P2", "trd_date"]) == "2020-04-15"


def test_lines_table_by_hand(classified):
    result, steps = classified
    lines = pw.lines_table(pw.cohort_steps(steps, result.patients), n_cohort=4)
    rows = {(r.line, r.drug): (r.n, r.pct_cohort, r.pct_treated) for r in lines.itertuples()}
    # Line 1: 4 patients, sertraline 3 (75% of the cohort of 4), venlafaxine 1 (25%).
    assert rows[(1, "any")] == (4, 100.0, 100.0)
    assert rows[(1, "sertraline")] == (3, 75.0, 75.0) and rows[(1, "venlafaxine")] == (1, 25.0, 25.0)
    # Line 2: P1 and P2, both citalopram: 50% of the cohort, 100% of those at line 2.
    assert rows[(2, "any")] == (2, 50.0, 100.0) and rows[(2, "citalopram")] == (2, 50.0, 100.0)
    # Line 3: only P1 has a third antidepressant (mirtazapine): 25% of the cohort, 100% of line 3; P2's lithium
    # is not a line.
    assert rows[(3, "any")] == (1, 25.0, 100.0) and rows[(3, "mirtazapine")] == (1, 25.0, 100.0)
    assert len(lines) == 7
    # Drugs below min_named join "other": at line 1 venlafaxine (1 patient) with min_named = 2.
    folded = pw.lines_table(pw.cohort_steps(steps, result.patients), n_cohort=4, min_named=2)
    line1 = folded[folded["line"] == 1].set_index("drug")["n"].to_dict()
    assert line1 == {"any": 4, "sertraline": 3, "other": 1}
    counted = pw.steps_table(pw.cohort_steps(steps, result.patients))
    assert {(r.position, r.step, r.adequacy): r.n for r in counted.itertuples()} == {
        (1, "first drug", "adequate"): 2, (1, "first drug", "inadequate"): 1, (1, "first drug", "ongoing"): 1,
        (2, "switch", "adequate"): 1, (2, "combination", "adequate"): 1,
        (3, "switch", "adequate"): 1, (3, "augmentation", "not judged"): 1}


def test_step_times_by_hand(classified):
    result, steps = classified
    times = pw.step_times_table(pw.cohort_steps(steps, result.patients), result.patients).set_index("interval")
    # Step 1 -> 2: 60 and 60 days.
    assert times.loc["step 1 to step 2", ["n", "mean", "sd", "median"]].tolist() == [2, 60, 0, 60]
    # Step 2 -> 3 (P2's third step is lithium): 61 (P1) and 45 (P2): mean 53, s.d. sqrt((8² + 8²) / 1) = 11.314, median 53,
    # quartiles 45 + 0.25 x 16 = 49 and 45 + 0.75 x 16 = 57 (linear interpolation).
    row = times.loc["step 2 to step 3"]
    assert (row["n"], row["mean"], row["median"], row["q1"], row["q3"]) == (2, 53, 53, 49, 57)
    assert row["sd"] == pytest.approx(np.sqrt(128))
    assert times.loc["step 3 to step 4", "n"] == 0
    # Episode start to T1: 28 and 28; to T2: 88 and 88; to TRD: 121 and 105 (mean 113, s.d. 11.314).
    assert times.loc["episode start to T1", ["n", "mean", "median"]].tolist() == [2, 28, 28]
    assert times.loc["episode start to T2", ["n", "mean", "median"]].tolist() == [2, 88, 88]
    trd = times.loc["episode start to TRD"]
    assert (trd["n"], trd["mean"], trd["median"]) == (2, 113, 113) and trd["sd"] == pytest.approx(np.sqrt(128))


def test_kaplan_meier_by_hand(classified):
    result, _ = classified
    curve = pw.time_to_trd(result.patients, INDEX).set_index("day")
    # 30-day bins: P2's TRD on day 105 counts at day 120, P1's (121) at 150; P3 censored at the index date
    # (2020-11-01 -> 2021-01-01 = 61 days, bin 90), P4 at 366 days (bin 390).
    # At risk 4; P3 censored at 90 -> 3 at risk at 120: S = 2/3; 2 at risk at 150: S = 2/3 x 1/2 = 1/3.
    assert curve.loc[90, "survival"] == 1.0 and curve.loc[90, "censored"] == 1
    assert curve.loc[120, "at_risk"] == 3 and curve.loc[120, "survival"] == pytest.approx(2 / 3)
    assert curve.loc[150, "at_risk"] == 2 and curve.loc[150, "survival"] == pytest.approx(1 / 3)
    assert curve.loc[390, "censored"] == 1 and curve.loc[390, "survival"] == pytest.approx(1 / 3)
    # Greenwood: var S(150) = S² (1/(3·2) + 1/(2·1)) = (1/9)(2/3), s.e. 0.2722; log(-log) interval:
    # half-width 1.959964 x 0.2722 / (S |ln S|) = 1.4567, limits S^exp(+1.4568) and S^exp(-1.4568).
    s, se = 1 / 3, np.sqrt((1 / 9) * (2 / 3))
    half = 1.959964 * se / (s * abs(np.log(s)))
    assert half == pytest.approx(1.4567, abs=1e-4)
    assert curve.loc[150, "ci_lower"] == pytest.approx(s ** np.exp(half))  # 0.0089
    assert curve.loc[150, "ci_upper"] == pytest.approx(s ** np.exp(-half))  # 0.774


def test_kaplan_meier_from_rounded_counts():
    """Cumulative counts are rounded before fitting: 12 events in the first bin and 3 more in the second
    are published as 10 and then 15 - 10 = 5; the curve is fitted on those."""
    patients = pd.DataFrame({
        "patient_id": [f"p{i}" for i in range(40)], "in_cohort": True,
        "trd": [True] * 15 + [False] * 25,
        "episode_start": pd.Timestamp("2020-01-01"),
        "trd_date": [pd.Timestamp("2020-01-20")] * 12 + [pd.Timestamp("2020-02-20")] * 3 + [pd.NaT] * 25})
    curve = pw.time_to_trd(patients, dt.date(2021, 1, 1), rounding=5).set_index("day")
    # 40 at risk: 10 events at day 30 -> S = 30/40; then 5 events among 30 at day 60 -> S = 0.75 x 25/30.
    assert curve.loc[30, "events"] == 10 and curve.loc[30, "survival"] == pytest.approx(0.75)
    assert curve.loc[60, "events"] == 5 and curve.loc[60, "survival"] == pytest.approx(0.75 * 25 / 30)


def test_published_tables_follow_the_disclosure_rules():
    """The rules of stats.extra_tables (protect() applies them with the whole-release audit)."""
    from trdpath.stats import extra_tables as xt

    settings = StudyConfig().disclosure
    # Nothing hidden (found on the demo's screenshot: every percentage showed '*'): 40 of 400, 40 of 100.
    plain = xt.protect_lines(pd.DataFrame({"line": [1, 1, 1], "drug": ["any", "sertraline", "other"],
                                           "n": [101, 41, 60], "pct_cohort": 0.0, "pct_treated": 0.0}),
                             settings, n_cohort=402)
    assert list(plain["n"]) == [100, 40, 60]
    assert list(plain["pct_cohort"]) == pytest.approx([25.0, 10.0, 15.0])
    assert list(plain["pct_treated"]) == pytest.approx([100.0, 40.0, 60.0])
    times = pd.DataFrame({"interval": ["a", "b"], "n": [5, 23], "mean": [10.0, 20.0], "sd": [1.0, 2.0],
                          "median": [10.0, 20.0], "q1": [9.0, 19.0], "q3": [11.0, 21.0]})
    protected = xt.protect_step_times(times, settings)
    assert protected.at[0, "n"] == "<8" and protected.at[0, "median"] == "suppressed"
    assert protected.at[1, "n"] == 25 and protected.at[1, "median"] == 20


def test_classify_writes_the_steps_and_the_report_publishes_them(tmp_path):
    """End to end: `classify` writes pathway_steps (CSV + Parquet) and assumption_sensitivity.csv beside
    patients.csv; the report then carries Tables 6-9 and the Kaplan-Meier figure, numbered after the Sankey."""
    import re

    from trdpath.api import classify
    from trdpath.config import config_from_dict
    from trdpath.report import write_report

    data = tmp_path / "extract"
    data.mkdir()
    ids = ["P1", "P2", "P3", "P4"]
    pd.DataFrame({"patient_id": ids, "birth_date": "1970-01-01", "sex": "F"}).to_csv(data / "patients.csv", index=False)
    pd.DataFrame({"patient_id": ids, "code": "F32.1", "date": "2010-01-01"}).to_csv(data / "diagnoses.csv", index=False)
    pd.DataFrame(PRESCRIPTIONS, columns=["patient_id", "drug", "start_date", "days_supply", "daily_dose_mg"]).to_csv(
        data / "prescriptions.csv", index=False)
    out = tmp_path / "out"
    config = config_from_dict({"study": {"index_date": "2021-01-01"}, "disclosure": {"enabled": False}})
    result = classify(data, out, config)
    for name in ("pathway_steps.csv", "pathway_steps.parquet", "assumption_sensitivity.csv"):
        assert (out / name).is_file()
    csv_steps = pd.read_csv(out / "pathway_steps.csv")
    assert list(csv_steps["step"]) == ["first drug", "switch", "switch", "first drug", "combination",
                                       "augmentation", "first drug", "first drug"]
    write_report(out, result.patients, result.attrition, config,
                 {"software_version": "t", "index_date": result.index_date, "data_date_range": (None, None),
                  "source": "t"})
    html = paths.report_html(out).read_text(encoding="utf-8")
    for title in ("Table 6 Prevalence of TRD", "Table 7 Patients by treatment line", "Table 8 How each step",
                  "Table 9 Days between"):
        assert title in html
    numbers = re.findall(r"<figcaption><b>Figure (\d+)</b> ([^<]{0,60})", html)
    assert [int(n) for n, _ in numbers] == list(range(1, len(numbers) + 1))
    assert numbers[-1][1].startswith("Time from the start of the current episode to TRD")
    lines = pd.read_csv(paths.tables_dir(out) / "lines.csv")
    assert lines[(lines["line"] == 1) & (lines["drug"] == "sertraline")]["n"].tolist() == [3]


def test_a_steps_file_without_its_columns_is_refused(tmp_path):
    from trdpath.errors import UserError

    pd.DataFrame({"patient_id": ["P1"], "line": [1]}).to_csv(tmp_path / pw.STEPS_FILE, index=False)
    with pytest.raises(UserError, match=r"pathway_steps.csv lacks the columns position, drug"):
        pw.read_pathway_steps(tmp_path)
