"""Spec tests of every shipped definition: named edge-case patients at each threshold, the hand
arithmetic in comments, checked on the reference (trdpath.definitions.reference) and on the engine
on DuckDB, PostgreSQL and PySpark.

All cases share the index date 2022-12-31 and have their own patient ids, so they are merged into one
extract and every engine evaluates all twelve definitions once (PySpark costs ~20 s a run). Each
patient is born 1970-01-01 with F32.1 on 2010-01-01 unless its case says otherwise. Doses are above
the minimum (sertraline 100, citalopram 20, venlafaxine 75, mirtazapine 30, amitriptyline 75,
phenelzine 45) unless a case says "low".
"""

from __future__ import annotations

import datetime as dt
import os

import pandas as pd
import pytest

from conftest import engine_param, _engine_unavailable
from spec.conftest import parse_table
from trdpath.definitions import shipped_definitions

INDEX = dt.date(2022, 12, 31)
DOSE = {"sertraline": 100, "citalopram": 20, "venlafaxine": 75, "mirtazapine": 30, "amitriptyline": 75,
        "phenelzine": 45, "lithium": 800, "quetiapine": 150, "aripiprazole": 10, "lamotrigine": 100, "esketamine": 56}

# case name -> (definition, prescriptions "patient | drug | start | end [| dose]", expected, extra tables)
CASES: dict[str, tuple] = {}


def case(name, definition, prescriptions, expected, diagnoses=None, patients=None):
    CASES[name] = (definition, prescriptions, expected, diagnoses, patients)


# --- maudsley (study defaults: adequate dose, 28 days, 2 failures, next step strictly after T2) -------
# sertraline 01-01..03-01: adequacy 01-01 + 28 = 01-29; citalopram 03-01..05-01: 03-29 = T2.
case("maudsley_next_step_on_t2_is_not_after", "maudsley", """
    mau1 | sertraline  | 2021-01-01 | 2021-03-01
    mau1 | citalopram  | 2021-03-01 | 2021-05-01
    mau1 | mirtazapine | 2021-03-29 | 2021-06-01
    mau2 | sertraline  | 2021-01-01 | 2021-03-01
    mau2 | citalopram  | 2021-03-01 | 2021-05-01
    mau2 | mirtazapine | 2021-03-30 | 2021-06-01
""", """
    mau1 | F |            | MDD
    mau2 | T | 2021-03-30 | 3
""")

# --- ema_two_failures: TRD on the 2nd adequacy date, no next step ------------------------------------
case("ema_second_adequacy_date", "ema_two_failures", """
    ema1 | sertraline | 2021-01-01 | 2021-03-01
    ema1 | citalopram | 2021-03-01 | 2021-03-29
    ema2 | sertraline | 2021-01-01 | 2021-03-01
    ema2 | citalopram | 2021-03-01 | 2021-03-28
    ema3 | sertraline | 2021-01-01 | 2021-03-01
    ema3 | citalopram | 2021-03-01 | 2021-05-01 | 10
""", """
    ema1 | T | 2021-03-29 |
    ema2 | F |            |
    ema3 | F |            |
""")
# ema1: citalopram 03-01..03-29 = 28 days = a trial; adequacy 03-01 + 28 = 03-29. ema2: 27 days, no
# trial. ema3: citalopram 10 mg < 20 mg minimum: no adequate-dose era.

# --- fabbri_2021: any dose, 42 days, 182-day episode gap, no augmentation --------------------------
case("fabbri_trials_of_42_days_any_dose", "fabbri_2021", """
    fab1 | sertraline  | 2021-01-01 | 2021-02-12 | 25
    fab1 | citalopram  | 2021-02-12 | 2021-03-26 | 10
    fab1 | mirtazapine | 2021-03-27 | 2021-04-27
    fab2 | sertraline  | 2021-01-01 | 2021-02-12 | 25
    fab2 | citalopram  | 2021-02-12 | 2021-03-25 | 10
    fab2 | mirtazapine | 2021-03-27 | 2021-04-27
    fab3 | sertraline  | 2021-01-01 | 2021-02-12
    fab3 | citalopram  | 2021-02-12 | 2021-05-01
    fab3 | lithium     | 2021-04-01 | 2021-05-01
""", """
    fab1 | T | 2021-03-27 |
    fab2 | F |            |
    fab3 | F |            |
""")
# fab1: sertraline 42 days (adequacy 02-12), citalopram 02-12..03-26 = 42 days (adequacy 03-26 = T2),
# low doses count; mirtazapine 03-27 > T2. fab2: citalopram 41 days, not a trial (mirtazapine 31 days
# neither). fab3: lithium after T2 overlapping citalopram, but augmentation does not count here.
case("fabbri_episode_gap_182_days", "fabbri_2021", """
    fab4 | sertraline  | 2020-01-01 | 2020-02-12
    fab4 | citalopram  | 2020-08-13 | 2020-09-24
    fab4 | mirtazapine | 2020-10-01 | 2020-11-01
    fab5 | sertraline  | 2020-01-01 | 2020-02-12
    fab5 | citalopram  | 2020-08-12 | 2020-09-24
    fab5 | mirtazapine | 2020-10-01 | 2020-11-01
""", """
    fab4 | F |            |
    fab5 | T | 2020-10-01 |
""")
# 2020-02-12 + 182 days = 2020-08-12 (leap February). fab4: citalopram 08-13 starts 183 days after,
# a new episode holding one trial. fab5: 08-12 is not more than 182: one episode; T2 = 08-12 + 42 = 09-23.

# --- kim_2020: any dose, 28 days, add-ons lithium and four antipsychotics -----------------------------
case("kim_add_on_after_two_trials", "kim_2020", """
    kim1 | sertraline | 2021-01-01 | 2021-01-29 | 25
    kim1 | citalopram | 2021-02-01 | 2021-04-01 | 10
    kim1 | lithium    | 2021-03-02 | 2021-04-01
    kim2 | sertraline | 2021-01-01 | 2021-01-29 | 25
    kim2 | citalopram | 2021-02-01 | 2021-04-01 | 10
    kim2 | lamotrigine| 2021-03-02 | 2021-04-01
    kim3 | sertraline | 2021-01-01 | 2021-01-28
    kim3 | citalopram | 2021-02-01 | 2021-04-01
    kim3 | mirtazapine| 2021-05-01 | 2021-06-01
""", """
    kim1 | T | 2021-03-02 |
    kim2 | F |            |
    kim3 | F |            |
""")
# kim1: sertraline 28 days (adequacy 01-29), citalopram from 02-01 (adequacy 03-01 = T2); lithium 03-02 >
# T2 overlaps citalopram min(04-01, 04-01) - max(03-02, 02-01) = 30 days. kim2: lamotrigine is not a KIM
# add-on. kim3: sertraline 27 days is no trial: citalopram and mirtazapine (31 days) make 2 trials only.

# --- reutfors_2018: KIM-like, ages 18-69 at the index date ----------------------------------------------
REUTFORS_RX = """
    {p} | sertraline | 2021-01-01 | 2021-01-29
    {p} | citalopram | 2021-02-01 | 2021-04-01
    {p} | lithium    | 2021-03-02 | 2021-04-01
"""
case("reutfors_ages_18_to_69", "reutfors_2018", REUTFORS_RX.format(p="reu1") + REUTFORS_RX.format(p="reu2"), """
    reu1 | T | 2021-03-02 |
    reu2 |   |            |
""", patients="""
    patient_id | birth_date | sex
    reu1       | 1953-12-31 | F
    reu2       | 1952-12-31 | F
""")
# reu1 turns 69 on the index date 2022-12-31: inside. reu2 turns 70 that day: outside (trd empty).

# --- gronemann_2021: 2nd shift within 365 days after the first F32/F33 ------------------------------------
GRONEMANN_DX = """
    patient_id | code  | date
    gro1       | F32.1 | 2021-01-01
    gro2       | F32.1 | 2021-01-01
    gro3       | F33.1 | 2021-01-01
"""
case("gronemann_window_after_first_diagnosis", "gronemann_2021", """
    gro1 | sertraline  | 2021-01-01 | 2021-01-29
    gro1 | citalopram  | 2021-02-01 | 2021-03-01
    gro1 | mirtazapine | 2022-01-01 | 2022-02-01
    gro2 | sertraline  | 2021-01-01 | 2021-01-29
    gro2 | citalopram  | 2021-02-01 | 2021-03-01
    gro2 | mirtazapine | 2022-01-02 | 2022-02-01
    gro3 | sertraline  | 2020-12-31 | 2021-01-29
    gro3 | citalopram  | 2021-02-01 | 2021-03-01
    gro3 | mirtazapine | 2021-06-01 | 2021-06-10
""", """
    gro1 | T | 2022-01-01 |
    gro2 | F |            |
    gro3 | F |            |
""", diagnoses=GRONEMANN_DX)
# Window 2021-01-01 .. 2021-01-01 + 365 = 2022-01-01. gro1: T2 = 02-01 + 28 = 03-01; mirtazapine on the
# last day of the window. gro2: the day after. gro3: sertraline starts before the diagnosis (outside),
# so citalopram is the only trial (mirtazapine 9 days is none).

# --- third_course_claims: adequate, 28 days, 180-day gap, within 730 days of the first course --------
case("third_course_within_two_years", "third_course_claims", """
    tcc1 | sertraline  | 2021-01-01 | 2021-03-01
    tcc1 | citalopram  | 2021-03-01 | 2022-12-31
    tcc1 | mirtazapine | 2022-12-31 | 2022-12-31
    tcc2 | sertraline  | 2020-12-30 | 2021-03-01
    tcc2 | citalopram  | 2021-03-01 | 2022-12-31
    tcc2 | mirtazapine | 2022-12-31 | 2022-12-31
    tcc3 | sertraline  | 2021-01-01 | 2021-03-01
    tcc3 | citalopram  | 2021-08-29 | 2021-10-29
    tcc3 | mirtazapine | 2021-11-01 | 2021-12-01
""", """
    tcc1 | T | 2022-12-31 |
    tcc2 | F |            |
    tcc3 | F |            |
""")
# tcc1: first course starts 2021-01-01; + 730 = 2023-01-01 >= the 3rd course 2022-12-31. tcc2: starts
# 2020-12-30; + 730 = 2022-12-30 < 2022-12-31. tcc3: 2021-03-01 + 180 = 08-28; citalopram 08-29 opens a
# new episode (under the study's 183 days it would not), which holds one course.

# --- thase_rush: stage from the failed trials' classes; TRD = 2 classes ---------------------------------
case("thase_rush_stages", "thase_rush", """
    thr1 | sertraline    | 2021-01-01 | 2021-03-01
    thr1 | citalopram    | 2021-03-01 | 2021-05-01
    thr2 | sertraline    | 2021-01-01 | 2021-03-01
    thr2 | venlafaxine   | 2021-03-01 | 2021-05-01
    thr3 | sertraline    | 2021-01-01 | 2021-03-01
    thr3 | venlafaxine   | 2021-03-01 | 2021-05-01
    thr3 | amitriptyline | 2021-05-01 | 2021-07-01
    thr4 | sertraline    | 2021-01-01 | 2021-03-01
    thr4 | venlafaxine   | 2021-03-01 | 2021-05-01
    thr4 | amitriptyline | 2021-05-01 | 2021-07-01
    thr4 | phenelzine    | 2021-07-01 | 2021-09-01
    thr5 | sertraline    | 2021-01-01 | 2021-03-01
    thr5 | amitriptyline | 2021-03-01 | 2021-05-01
""", """
    thr1 | F |            | I
    thr2 | T | 2021-03-29 | II
    thr3 | T | 2021-03-29 | III
    thr4 | T | 2021-03-29 | IV
    thr5 | T | 2021-03-29 | II
""")
# thr1: two SSRIs, one class. thr2: SSRI + SNRI, the 2nd class adequate on 03-01 + 28 = 03-29. thr3:
# + a TCA besides two other classes. thr4: + an MAOI. thr5: SSRI + TCA is two classes but only one
# besides the TCA: stage II.

# --- esm: 2 failures of 2 classes; TRD1..TRD5 by weeks from the first trial's start to the last end ----
ESM_RX = """
    {p} | sertraline  | 2021-01-01 | 2021-03-01
    {p} | venlafaxine | 2021-03-01 | {end}
"""
case("esm_duration_bands", "esm",
     ESM_RX.format(p="esm1", end="2021-04-23") + ESM_RX.format(p="esm2", end="2021-04-24")
     + ESM_RX.format(p="esm3", end="2021-12-31") + ESM_RX.format(p="esm4", end="2022-01-01") + """
    esm5 | sertraline | 2021-01-01 | 2021-03-01
    esm5 | citalopram | 2021-03-01 | 2021-05-01
""", """
    esm1 | T | 2021-03-29 | TRD1
    esm2 | T | 2021-03-29 | TRD2
    esm3 | T | 2021-03-29 | TRD5
    esm4 | T | 2021-03-29 | CRD
    esm5 | F |            |
""")
# From 2021-01-01: to 04-23 is 112 days = 16 weeks (TRD1); 04-24 is 113 (TRD2); 2021-12-31 is 364 = 52
# weeks (TRD5); 2022-01-01 is 365 (CRD). esm5: two SSRIs, one class: not TRD, no stage.

# --- mgh_s: 1 point per 42-day adequate trial, 0.5 per augmenting agent, TRD at 4 ----------------------
MGH_RX = """
    {p} | sertraline  | 2021-01-01 | 2021-02-12
    {p} | citalopram  | 2021-02-12 | 2021-03-26
    {p} | venlafaxine | 2021-03-26 | {vend}
"""
case("mgh_s_points", "mgh_s",
     MGH_RX.format(p="mgh1", vend="2021-05-07") + "mgh1 | mirtazapine | 2021-05-07 | 2021-06-18\n"
     + MGH_RX.format(p="mgh2", vend="2021-05-07") + "mgh2 | lithium | 2021-05-01 | 2021-06-01\nmgh2 | quetiapine | 2021-05-02 | 2021-06-01\n"
     + MGH_RX.format(p="mgh3", vend="2021-05-06") + "mgh3 | mirtazapine | 2021-05-07 | 2021-06-18\n"
     + MGH_RX.format(p="mgh4", vend="2021-05-07") + "mgh4 | lithium | 2021-05-01 | 2021-06-01\n", """
    mgh1 | T | 2021-06-18 | 4
    mgh2 | T | 2021-05-07 | 4
    mgh3 | F |            | 3
    mgh4 | F |            | 3.5
""")
# Adequacy dates: 01-01 + 42 = 02-12, 02-12 + 42 = 03-26, 03-26 + 42 = 05-07, 05-07 + 42 = 06-18.
# mgh1: 4 trials, the 4th point on 06-18. mgh2: 1 (02-12) + 1 (03-26) + 0.5 lithium (05-01) + 0.5
# quetiapine (05-02) + 1 (05-07) = 4 on 05-07. mgh3: venlafaxine 41 days is no trial: 3 points.
# mgh4: 3 trials + lithium = 3.5.

# --- msm_register: failure bands + episode duration at the index date + augmentation, TRD at 5 ------------
case("msm_register_points", "msm_register", """
    msm1 | sertraline  | 2021-01-01 | 2021-03-01
    msm1 | citalopram  | 2021-03-01 | 2022-12-31
    msm2 | sertraline  | 2020-12-30 | 2021-03-01
    msm2 | citalopram  | 2021-03-01 | 2022-12-31
    msm2 | lithium     | 2022-06-01 | 2022-07-01
    msm5 | sertraline  | 2020-12-31 | 2021-03-01
    msm5 | citalopram  | 2021-03-01 | 2022-12-31
    msm5 | lithium     | 2022-06-01 | 2022-07-01
    msm3 | sertraline  | 2021-01-01 | 2021-03-01
    msm3 | citalopram  | 2021-03-01 | 2021-05-01
    msm3 | venlafaxine | 2021-05-01 | 2022-12-31
    msm3 | lithium     | 2022-06-01 | 2022-07-01
    msm4 | sertraline  | 2022-01-01 | 2022-03-01
    msm4 | citalopram  | 2022-03-01 | 2022-12-31
    msm4 | lithium     | 2022-06-01 | 2022-07-01
""", """
    msm1 | F |            | 3
    msm2 | T | 2022-12-31 | 5
    msm3 | T | 2022-12-31 | 5
    msm4 | F |            | 3
    msm5 | F |            | 4
""")
# Duration = index - episode start: msm1 2021-01-01 -> 729 days (<= 730 = 24 months: 2 points) + 2
# failures (1) = 3. msm5: 2020-12-31 -> 730 days, still 2 points: 2 + 1 + lithium 1 = 4. msm2:
# 2020-12-30 -> 731 days (> 24 months: 3) + 1 + 1 = 5, TRD at the index date.
# msm3: 3 failures (2) + 729 days (2) + lithium (1) = 5. msm4: 2022-01-01 -> 364 days (1) + 1 + 1 = 3.

# --- ohdsi_1009: 3 distinct antidepressants within 365 days; antipsychotic; esketamine ------------------
case("ohdsi_entry_events", "ohdsi_1009", """
    ohd1 | sertraline   | 2021-01-01 | 2021-02-01
    ohd1 | citalopram   | 2021-03-01 | 2021-04-01
    ohd1 | mirtazapine  | 2021-05-01 | 2021-06-01
    ohd2 | sertraline   | 2020-01-01 | 2020-02-01
    ohd2 | citalopram   | 2020-12-01 | 2021-01-01
    ohd2 | mirtazapine  | 2021-02-01 | 2021-03-01
    ohd3 | sertraline   | 2020-01-01 | 2020-02-01
    ohd3 | citalopram   | 2020-12-01 | 2021-01-01
    ohd3 | mirtazapine  | 2021-01-31 | 2021-03-01
    ohd4 | sertraline   | 2020-06-01 | 2020-07-01
    ohd4 | aripiprazole | 2021-06-01 | 2021-07-01
    ohd5 | sertraline   | 2021-01-01 | 2021-02-01
    ohd5 | citalopram   | 2021-03-01 | 2021-04-01
    ohd5 | esketamine   | 2021-06-01 | 2021-06-02
    ohd6 | sertraline   | 2021-01-01 | 2021-02-01
    ohd6 | lamotrigine  | 2021-06-01 | 2021-07-01
""", """
    ohd1 | T | 2021-05-01 |
    ohd2 | F |            |
    ohd3 | T | 2021-01-31 |
    ohd4 | T | 2021-06-01 |
    ohd5 | T | 2021-06-01 |
    ohd6 | F |            |
""")
# ohd1: at mirtazapine's start 3 antidepressants, 2 before. ohd2: 2021-02-01 - 365 = 2020-02-02 (leap
# year): sertraline ended 2020-02-01, outside the look-back. ohd3: 2021-01-31 - 365 = 2020-02-01: inside.
# ohd4: aripiprazole with sertraline ending 2020-07-01 >= 2021-06-01 - 365 = 2020-06-01. ohd5: esketamine
# after 2 distinct antidepressants. ohd6: lamotrigine is not an atypical antipsychotic.


def _tables():
    prescriptions, diagnoses, patients, ids = [], [], [], []
    extra_dx, extra_pt = {}, {}
    for name, (_d, rx, _e, dx, pt) in CASES.items():
        for line in filter(str.strip, rx.splitlines()):
            cells = [c.strip() for c in line.split("|")]
            pid, drug, start, end = cells[:4]
            dose = cells[4] if len(cells) > 4 else DOSE[drug]
            prescriptions.append({"patient_id": pid, "drug": drug, "start_date": start, "end_date": end,
                                  "daily_dose_mg": str(dose)})
            if pid not in ids:
                ids.append(pid)
        if dx is not None:
            frame = parse_table(dx)
            for row in frame.to_dict("records"):
                extra_dx.setdefault(row["patient_id"], []).append(row)
        if pt is not None:
            for row in parse_table(pt).to_dict("records"):
                extra_pt[row["patient_id"]] = row
    for pid in ids:
        diagnoses += extra_dx.get(pid, [{"patient_id": pid, "code": "F32.1", "date": "2010-01-01"}])
        patients.append(extra_pt.get(pid, {"patient_id": pid, "birth_date": "1970-01-01", "sex": "F"}))
    return {"patients": pd.DataFrame(patients, dtype=object), "diagnoses": pd.DataFrame(diagnoses, dtype=object),
            "prescriptions": pd.DataFrame(prescriptions, dtype=object)}


_RESULTS: dict[str, pd.DataFrame] = {}


def evaluated(engine: str) -> pd.DataFrame:
    if engine not in _RESULTS:
        definitions = list(shipped_definitions().values())
        tables = _tables()
        if engine == "in_memory":
            from trdpath.definitions.reference import evaluate_in_memory

            frame, _why = evaluate_in_memory(tables, definitions, None, INDEX)
        else:
            reason = _engine_unavailable(engine)
            if reason:
                pytest.skip(f"engine {engine}: {reason}")
            if engine == "postgres":
                os.environ.setdefault("TRDPATH_POSTGRES_URL", os.environ["TRDPATH_TEST_POSTGRES_URL"])
            from trdpath.definitions.compare import compare_tables

            frame = compare_tables(tables, definitions, None, INDEX, backend=engine).patients.to_pandas()
        _RESULTS[engine] = frame.set_index("patient_id")
    return _RESULTS[engine]


def _norm(value):
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    if isinstance(value, (dt.date, pd.Timestamp)):
        return str(value)[:10]
    if isinstance(value, (bool,)) or type(value).__name__ == "bool_":
        return "T" if value else "F"
    return str(value).strip() or None


@pytest.mark.parametrize("engine", [engine_param(e) for e in ("in_memory", "duckdb", "postgres", "pyspark")])
@pytest.mark.parametrize("name", list(CASES))
def test_definition_spec_case(name, engine):
    definition, _rx, expected, _dx, _pt = CASES[name]
    result = evaluated(engine)
    has_stage = f"{definition}__stage" in result.columns
    problems = []
    for line in expected.strip().splitlines():
        cells = [c.strip() or None for c in line.split("|")]
        pid, trd, date, stage = (cells + [None] * 4)[:4]
        got = (_norm(result.at[pid, f"{definition}__trd"]), _norm(result.at[pid, f"{definition}__date"]),
               _norm(result.at[pid, f"{definition}__stage"]) if has_stage else None)
        if got != (trd, date, stage):
            problems.append(f"{pid}: expected {(trd, date, stage)}, got {got}")
    assert not problems, "\n".join(problems)
