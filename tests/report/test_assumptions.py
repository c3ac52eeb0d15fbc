"""Issue 16 item 3: prevalence and levels under alternative handling of missing doses and durations, by hand."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from trdpath import layout as paths
from trdpath import engines
from trdpath.config import StudyConfig, config_from_dict
from trdpath.pipeline import classify_extract
from trdpath.stats.assumptions import assumption_sensitivity
from trdpath.stats.extra_tables import protect_assumptions

# Minimum daily doses (reference list): sertraline 50, citalopram 20, mirtazapine 30, venlafaxine 75 mg.
# Every prescription lasts 56 days (an adequate trial needs 28 days at an adequate dose) and starts 60 days after
# the previous one, so each drug with a dose is an adequate trial, and a third drug is the next step after T2.
#   P1  sertraline, citalopram, mirtazapine, all complete                       -> TRD level 3 everywhere
#   P2  as P1, citalopram without a dose                                         -> TRD 3 if counted adequate;
#       counted inadequate: trials sertraline + mirtazapine, nothing after T2 -> MDD; excluded: 2 drugs -> MDD
#   P3  as P1, mirtazapine without end date or days' supply (28 days assumed)    -> TRD 3 (mirtazapine starts
#       after T2 whatever its length); duration excluded: 2 drugs -> MDD
#   P4  sertraline only, no dose and no duration                                 -> MDD; excluded either way:
#       no antidepressant left -> out of the cohort
#   P5  four drugs, complete                                                     -> TRD 4+ everywhere
#   P6  sertraline only, complete                                                -> MDD everywhere
DRUGS = (("sertraline", 100), ("citalopram", 20), ("mirtazapine", 30), ("venlafaxine", 75))


def extract_tables():
    rows = []

    def give(pid, n, no_dose=(), no_duration=()):
        for j in range(n):
            drug, dose = DRUGS[j]
            rows.append({"patient_id": pid, "drug": drug,
                         "start_date": (dt.date(2020, 1, 1) + dt.timedelta(days=60 * j)).isoformat(),
                         "days_supply": None if drug in no_duration else 56,
                         "daily_dose_mg": None if drug in no_dose else dose})

    give("P1", 3)
    give("P2", 3, no_dose=("citalopram",))
    give("P3", 3, no_duration=("mirtazapine",))
    give("P4", 1, no_dose=("sertraline",), no_duration=("sertraline",))
    give("P5", 4)
    give("P6", 1)
    ids = [f"P{i}" for i in range(1, 7)]
    return {"patients": pd.DataFrame({"patient_id": ids, "birth_date": "1970-01-01", "sex": "F"}),
            "diagnoses": pd.DataFrame({"patient_id": ids, "code": "F32.1", "date": "2010-01-01"}),
            "prescriptions": pd.DataFrame(rows)}


def classify_with_sensitivity(config: StudyConfig):
    from trdpath.sources.open import with_row_numbers as _with_row_numbers
    from trdpath.sources.validate import validate_extract

    con = engines.connect("duckdb", engine=config.engine)
    raw = {name: con.create_table(f"raw_{name}", _with_row_numbers(frame), temp=True)
           for name, frame in extract_tables().items()}
    extract = validate_extract(con, raw, {name: name for name in raw}, source="hand-made")
    result = classify_extract(con, extract, config, dt.date(2021, 1, 1))
    return result, assumption_sensitivity(con, extract, config, result.patients, result.index_date)


EXPECTED = pd.DataFrame(
    # scenario            cohort MDD TRD  L2 L3 L4+   (worked out patient by patient above)
    [("as_configured",     6,    2,  4,   0, 3, 1),   # TRD: P1 P2 P3 (3), P5 (4+); MDD: P4 P6
     ("dose_inadequate",   6,    3,  3,   0, 2, 1),   # P2 -> MDD
     ("dose_excluded",     5,    2,  3,   0, 2, 1),   # P2 -> MDD, P4 leaves the cohort
     ("duration_excluded", 5,    2,  3,   0, 2, 1),   # P3 -> MDD, P4 leaves the cohort
     ("complete_records",  5,    3,  2,   0, 1, 1)],  # P2, P3 -> MDD, P4 leaves
    columns=["scenario", "cohort_n", "mdd_n", "trd_n", "level2_n", "level3_n", "level4plus_n"])


def test_the_sensitivity_table_reproduces_by_hand():
    result, frame = classify_with_sensitivity(StudyConfig())
    got = frame[list(EXPECTED.columns)].reset_index(drop=True)
    pd.testing.assert_frame_equal(got, EXPECTED, check_dtype=False)
    # Percentages: TRD of the cohort (4/6 = 66.67%), levels of TRD (3/4 = 75%, 1/4 = 25%).
    first = frame.iloc[0]
    assert first["trd_pct"] == pytest.approx(100 * 4 / 6)
    assert (first["level3_pct"], first["level4plus_pct"]) == pytest.approx((75.0, 25.0))
    assert list(frame["missing_dose"]) == ["counted adequate", "counted inadequate", "prescription excluded",
                                           "counted adequate", "prescription excluded"]
    assert frame.iloc[3]["missing_duration"] == "prescription excluded"
    assert frame.iloc[0]["missing_duration"] == "28 days assumed"
    # The configured row is the main classification itself.
    cohort = result.patients[result.patients["in_cohort"]]
    assert first["trd_n"] == cohort["trd"].sum() and first["cohort_n"] == len(cohort)


def test_configured_inadequate_swaps_the_rows():
    config = config_from_dict({"treatment": {"unknown_dose": "inadequate"}})
    _, frame = classify_with_sensitivity(config)
    # The configured handling is now "inadequate" (P2 MDD: 3 TRD), its alternative "adequate" (4 TRD).
    assert list(frame["scenario"][:2]) == ["as_configured", "dose_adequate"]
    assert list(frame["trd_n"][:2]) == [3, 4]
    assert list(frame["missing_dose"][:2]) == ["counted inadequate", "counted adequate"]


def test_protection_rounds_and_hides_linked_cells():
    frame = pd.DataFrame([{"scenario": "s", "missing_dose": "d", "missing_duration": "t", "cohort_n": 503,
                           "mdd_n": 300, "trd_n": 203, "trd_pct": 0.0, "level2_n": 100, "level2_pct": 0.0,
                           "level3_n": 98, "level3_pct": 0.0, "level4plus_n": 5, "level4plus_pct": 0.0}])
    out = protect_assumptions(frame, StudyConfig().disclosure).iloc[0]
    # 4+ = 5 is below 8 (primary); the levels add up to TRD, so the smallest other level (98) is hidden too.
    assert out["level4plus_n"] == "<8" and out["level3_n"] == "suppressed"
    # The rest rounded to 5: cohort 503 -> 505, TRD 203 -> 205, MDD 300, level 2 100.
    assert (out["cohort_n"], out["trd_n"], out["mdd_n"], out["level2_n"]) == (505, 205, 300, 100)
    # Percentages from rounded counts: 205 / 505 and 100 / 205; hidden cells' percentages hidden.
    assert out["trd_pct"] == pytest.approx(100 * 205 / 505)
    assert out["level2_pct"] == pytest.approx(100 * 100 / 205)
    assert out["level3_pct"] == "suppressed" and out["level4plus_pct"] == "suppressed"


def test_the_report_publishes_the_table_protected(tmp_path):
    from trdpath.report import write_report
    from support.synthetic import synthetic_patients

    frame = pd.DataFrame([
        {"scenario": "as_configured", "missing_dose": "counted adequate", "missing_duration": "28 days assumed",
         "cohort_n": 1002, "mdd_n": 521, "trd_n": 481, "trd_pct": 48.0, "level2_n": 190, "level2_pct": 0.0,
         "level3_n": 101, "level3_pct": 0.0, "level4plus_n": 190, "level4plus_pct": 0.0},
        {"scenario": "dose_excluded", "missing_dose": "prescription excluded", "missing_duration": "28 days assumed",
         "cohort_n": 998, "mdd_n": 540, "trd_n": 458, "trd_pct": 45.9, "level2_n": 180, "level2_pct": 0.0,
         "level3_n": 93, "level3_pct": 0.0, "level4plus_n": 185, "level4plus_pct": 0.0}])
    frame.to_csv(tmp_path / "assumption_sensitivity.csv", index=False)
    patients = synthetic_patients(400, seed=4)
    attrition = pd.DataFrame({"rule": ["extract"], "remaining": [len(patients)], "excluded": [0]})
    write_report(tmp_path, patients, attrition, StudyConfig(), {"software_version": "t", "index_date": "",
                                                                  "data_date_range": (None, None), "source": "t"})
    published = pd.read_csv(paths.tables_dir(tmp_path) / "assumption_sensitivity.csv")
    # Rounded to 5: 1002 -> 1000, 481 -> 480, 101 -> 100; 458 -> 460, 93 -> 95; TRD % = 480 / 1000, 460 / 1000.
    assert list(published["cohort_n"]) == [1000, 1000] and list(published["trd_n"]) == [480, 460]
    assert list(published["level3_n"]) == [100, 95]
    assert list(published["trd_pct"]) == pytest.approx([48.0, 46.0])
    html = paths.report_html(tmp_path).read_text(encoding="utf-8")
    section = html.split('<h2 id="assumptions">', 1)[1].split("<h2 ", 1)[0]
    assert "Table 6 Prevalence of TRD" in section
    assert "<td>480 (48.0)</td>" in section and "<td>460 (46.0)</td>" in section
    assert "<td>95 (20.7)</td>" in section  # 95 of the rounded 460 TRD, one decimal (by hand: 20.65 -> 20.7)
