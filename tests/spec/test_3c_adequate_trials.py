"""3.4 Adequate trials

An adequate trial is an era built the same way (gap <= `era_gap_days`) from only the exposures
whose `daily_dose_mg` is at least the ingredient's minimum effective dose (antidepressants.csv),
lasting at least `treatment.min_trial_days` (28: the paper's 4-6 weeks, lower bound). A
prescription without a dose counts as adequate when `treatment.unknown_dose = "adequate"` (the
default) and as inadequate when it is `"inadequate"`. The trial's **adequacy date** is its start +
`min_trial_days`. `n_adequate_trials` counts the distinct antidepressants with an adequate trial
starting in the current episode.
"""

import datetime as dt

from trdpath.config import config_from_dict

INDEX = dt.date(2021, 12, 31)


def test_switch_before_four_weeks(spec_test):
    """A drug switched before 28 days is not an adequate trial.

    Sertraline for 27 days, then citalopram and mirtazapine for 28 days each: only the last two
    are adequate, so the second adequacy date (T2) is mirtazapine's, and nothing follows it.
    """
    spec_test(
        prescriptions="""
            patient_id | drug        | start_date | end_date   | daily_dose_mg
            1          | sertraline  | 2021-01-01 | 2021-01-28 | 100
            1          | citalopram  | 2021-01-28 | 2021-02-25 | 20
            1          | mirtazapine | 2021-02-25 | 2021-03-25 | 30
        """,
        index_date=INDEX,
        # sertraline 27 days (no); citalopram 01-28..02-25 = 28 days, adequacy date 02-25;
        # mirtazapine 02-25..03-25 = 28 days, adequacy date 03-25 = T2; no next step after it.
        expected="""
            patient_id | n_antidepressants | n_adequate_trials | trd | resistance_level
            1          | 3                 | 2                 | F   | MDD
        """,
    )


def test_dose_below_the_minimum(spec_test):
    """A dose below the minimum effective dose is not an adequate trial; the minimum itself is."""
    spec_test(
        prescriptions="""
            patient_id | drug        | start_date | end_date   | daily_dose_mg
            1          | sertraline  | 2021-01-01 | 2021-03-01 | 25
            2          | sertraline  | 2021-01-01 | 2021-03-01 | 50
            3          | venlafaxine | 2021-01-01 | 2021-03-01 | 37.5
            4          | venlafaxine | 2021-01-01 | 2021-03-01 | 75
            5          | lofepramine | 2021-01-01 | 2021-03-01 | 70
            6          | lofepramine | 2021-01-01 | 2021-03-01 | 140
        """,
        index_date=INDEX,
        # minimum doses: sertraline 50, venlafaxine 75, lofepramine 140 (mg/day)
        expected="""
            patient_id | n_antidepressants | n_adequate_trials
            1          | 1                 | 0
            2          | 1                 | 1
            3          | 1                 | 0
            4          | 1                 | 1
            5          | 1                 | 0
            6          | 1                 | 1
        """,
    )


def test_only_adequate_dose_days_count(spec_test):
    """Days at a low starting dose do not count towards the 28 days of an adequate trial."""
    spec_test(
        prescriptions="""
            patient_id | drug       | start_date | end_date   | daily_dose_mg
            1          | sertraline | 2021-01-01 | 2021-01-20 | 25
            1          | sertraline | 2021-01-20 | 2021-02-10 | 100
            2          | sertraline | 2021-01-01 | 2021-01-20 | 25
            2          | sertraline | 2021-01-20 | 2021-02-17 | 100
            2          | citalopram | 2021-02-17 | 2021-04-01 | 20
            2          | mirtazapine| 2021-03-20 | 2021-04-20 | 30
        """,
        index_date=INDEX,
        # 1: one era 01-01..02-10 (40 days) but the 100 mg part is 01-20..02-10 = 21 days < 28.
        # 2: 100 mg 01-20..02-17 = 28 days: adequacy date 02-17; citalopram adequacy 02-17 + 28
        #    = 03-17 = T2; mirtazapine starts 03-20 > T2: TRD on 2021-03-20.
        expected="""
            patient_id | n_antidepressants | n_adequate_trials | trd | trd_date
            1          | 1                 | 0                 | F   |
            2          | 3                 | 3                 | T   | 2021-03-20
        """,
    )


def test_unknown_dose_counts_as_adequate_by_default(spec_test):
    """A prescription without a daily dose counts as adequate under the default policy."""
    spec_test(
        prescriptions="""
            patient_id | drug       | start_date | end_date   | daily_dose_mg
            1          | sertraline | 2021-01-01 | 2021-03-01 |
            2          | sertraline | 2021-01-01 | 2021-03-01 | 25
        """,
        index_date=INDEX,
        expected="""
            patient_id | n_adequate_trials
            1          | 1
            2          | 0
        """,
    )


def test_unknown_dose_inadequate_policy(spec_test):
    """With `unknown_dose = "inadequate"`, a prescription without a dose is not an adequate trial."""
    spec_test(
        prescriptions="""
            patient_id | drug       | start_date | end_date   | daily_dose_mg
            1          | sertraline | 2021-01-01 | 2021-03-01 |
            2          | sertraline | 2021-01-01 | 2021-03-01 | 100
            3          | sertraline | 2021-01-01 | 2021-01-20 | 100
            3          | sertraline | 2021-01-20 | 2021-03-01 |
        """,
        index_date=INDEX,
        config=config_from_dict({"treatment": {"unknown_dose": "inadequate"}}),
        # 3: the dosed part 01-01..01-20 lasts 19 days; the undosed part does not count.
        expected="""
            patient_id | n_antidepressants | n_adequate_trials
            1          | 1                 | 0
            2          | 1                 | 1
            3          | 1                 | 0
        """,
    )


def test_min_trial_days_is_a_setting(spec_test):
    """`treatment.min_trial_days` = 42 (six weeks) needs 42 days at an adequate dose."""
    spec_test(
        prescriptions="""
            patient_id | drug       | start_date | end_date   | daily_dose_mg
            1          | sertraline | 2021-01-01 | 2021-02-11 | 100
            2          | sertraline | 2021-01-01 | 2021-02-12 | 100
        """,
        index_date=INDEX,
        config=config_from_dict({"treatment": {"min_trial_days": 42}}),
        # 1: 31 + 10 = 41 days. 2: 42 days.
        expected="""
            patient_id | n_adequate_trials
            1          | 0
            2          | 1
        """,
    )
