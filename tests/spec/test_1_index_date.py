"""1. Index date

The index date is the point of data extraction (study-definition.md 1). Unless given (the `index_date`
argument, else `study.index_date` in the configuration), it is the latest *event* date: diagnoses.date,
prescriptions.start_date, referrals.date, notes.date. Birth and death dates, prescription end dates
and exposure ends computed from days_supply never move it, so one wrong birth date (2090) cannot shift
every age; dates after it are counted in data_quality.csv. Ages are completed years at the index date. Diagnoses, referrals and
prescriptions dated after it are ignored; an exposure running past it is cut at the index date.
"""

import datetime as dt

from trdpath.config import config_from_dict


def test_default_index_date_is_latest_date(spec_test):
    """The default index date is the latest event date in the extract, and exposures are cut there.

    Patient 2's diagnosis on 2021-01-20 is the latest event (patient 1's prescription end is computed
    from days_supply, which is not an event), so patient 1's 60-day supply is cut at 2021-01-20:
    19 days, short of an adequate trial.
    """
    spec_test(
        diagnoses="""
            patient_id | code  | date
            1          | F32.1 | 2010-01-01
            2          | F32.1 | 2021-01-20
        """,
        prescriptions="""
            patient_id | drug       | start_date | days_supply | daily_dose_mg
            1          | sertraline | 2021-01-01 | 60          | 100
        """,
        # index date 2021-01-20; exposure 2021-01-01 .. min(2021-03-02, 2021-01-20) = 19 days < 28
        expected="""
            patient_id | n_antidepressants | n_adequate_trials | episode_start
            1          | 1                 | 0                 | 2021-01-01
            2          | 0                 | 0                 |
        """,
    )


def test_given_index_date_keeps_whole_exposure(spec_test):
    """With an index date after the exposure ends, the same 60-day supply is one adequate trial."""
    spec_test(
        prescriptions="""
            patient_id | drug       | start_date | days_supply | daily_dose_mg
            1          | sertraline | 2021-01-01 | 60          | 100
        """,
        index_date=dt.date(2021, 12, 31),
        # exposure 2021-01-01 .. 2021-03-02 = 60 days >= 28
        expected="""
            patient_id | n_antidepressants | n_adequate_trials
            1          | 1                 | 1
        """,
    )


def test_events_after_index_date_are_ignored(spec_test):
    """Prescriptions, diagnoses and exposure days after the index date do not count.

    Every patient has sertraline 2021-01-01..2021-03-01 and citalopram 2021-03-01..2021-05-01
    (T2 = 2021-03-01 + 28 days = 2021-03-29). Patient 1's third antidepressant starts after the
    index date; patient 2's starts on it (an event on the index date counts); patient 3's bipolar
    diagnosis and patient 4's only depression diagnosis come after it; patient 5's second
    antidepressant is cut at the index date; patient 6's only antidepressant starts after it.
    """
    spec_test(
        diagnoses="""
            patient_id | code  | date
            1          | F32.1 | 2010-01-01
            2          | F32.1 | 2010-01-01
            3          | F32.1 | 2010-01-01
            3          | F31.1 | 2021-06-01
            4          | F32.1 | 2021-06-01
            5          | F32.1 | 2010-01-01
            6          | F32.1 | 2010-01-01
        """,
        prescriptions="""
            patient_id | drug        | start_date | end_date   | daily_dose_mg
            1          | sertraline  | 2021-01-01 | 2021-03-01 | 100
            1          | citalopram  | 2021-03-01 | 2021-05-01 | 20
            1          | mirtazapine | 2021-05-02 | 2021-07-01 | 30
            2          | sertraline  | 2021-01-01 | 2021-03-01 | 100
            2          | citalopram  | 2021-03-01 | 2021-05-01 | 20
            2          | mirtazapine | 2021-05-01 | 2021-07-01 | 30
            3          | sertraline  | 2021-01-01 | 2021-03-01 | 100
            4          | sertraline  | 2021-01-01 | 2021-03-01 | 100
            5          | sertraline  | 2021-01-01 | 2021-03-01 | 100
            5          | citalopram  | 2021-04-10 | 2021-06-01 | 20
            6          | sertraline  | 2021-05-02 | 2021-07-01 | 100
        """,
        index_date=dt.date(2021, 5, 1),
        # 1: mirtazapine starts 2021-05-02 > index date: ignored, 2 antidepressants, no next step.
        # 2: mirtazapine starts 2021-05-01 = index date > T2 (2021-03-29): next step, TRD.
        # 3: F31.1 on 2021-06-01 is after the index date: still in the cohort.
        # 4: the only depression code is after the index date.
        # 5: citalopram 2021-04-10 .. min(2021-06-01, 2021-05-01) = 21 days < 28: not adequate.
        # 6: the only antidepressant starts after the index date: no antidepressant.
        expected="""
            patient_id | in_cohort | exclusion_reason        | n_antidepressants | n_adequate_trials | trd | trd_date
            1          | T         |                         | 2                 | 2                 | F   |
            2          | T         |                         | 3                 | 2                 | T   | 2021-05-01
            3          | T         |                         | 1                 | 1                 | F   |
            4          | F         | no_depression_diagnosis | 1                 | 1                 | F   |
            5          | T         |                         | 2                 | 1                 | F   |
            6          | F         | no_antidepressant       | 0                 | 0                 | F   |
        """,
    )


def test_index_date_from_configuration(spec_test):
    """`study.index_date` in the configuration is used when no index date is passed.

    Born 2003-05-02: on 2021-05-01 the patient is 17 (the 18th birthday is the next day).
    """
    spec_test(
        patients="""
            patient_id | birth_date | sex
            1          | 2003-05-02 | F
            2          | 2003-05-01 | F
        """,
        prescriptions="""
            patient_id | drug       | start_date | end_date
            1          | sertraline | 2021-01-01 | 2021-03-01
            2          | sertraline | 2021-01-01 | 2021-03-01
        """,
        config=config_from_dict({"study": {"index_date": "2021-05-01"}}),
        # 1: 2021 - 2003 = 18, birthday (05-02) not reached on 05-01 -> 17. 2: birthday reached -> 18.
        expected="""
            patient_id | age | in_cohort | exclusion_reason
            1          | 17  | F         | under_18
            2          | 18  | T         |
        """,
    )


def test_birth_and_death_dates_do_not_move_the_index_date(spec_test):
    """A birth date of 2090 (a typing error) and a death date in 2030 do not set the index date.

    The latest event is patient 1's anxiety diagnosis on 2021-06-01, so that is the index date, not
    2090-01-01. Patient 2, "born" after it, has no age (unknown, so not excluded as under 18, and
    counted in data_quality.csv); patient 3's death after the index date is not a death by then.
    """
    spec_test(
        patients="""
            patient_id | birth_date | sex | death_date
            1          | 1970-01-01 | F   |
            2          | 2090-01-01 | F   |
            3          | 1970-06-02 | F   | 2030-01-01
        """,
        diagnoses="""
            patient_id | code  | date
            1          | F32.1 | 2010-01-01
            1          | F41.1 | 2021-06-01
            2          | F32.1 | 2010-01-01
            3          | F32.1 | 2010-01-01
        """,
        prescriptions="""
            patient_id | drug       | start_date | end_date   | daily_dose_mg
            1          | sertraline | 2021-01-01 | 2021-03-01 | 100
            2          | sertraline | 2021-01-01 | 2021-03-01 | 100
            3          | sertraline | 2021-01-01 | 2021-03-01 | 100
        """,
        # index 2021-06-01. 1: 2021 - 1970 = 51 (birthday 01-01 passed). 2: born after the index date:
        # age unknown. 3: 2021 - 1970 = 51, birthday 06-02 not reached on 06-01 -> 50; dies 2030 > index.
        # Every sertraline exposure is 2021-01-01 .. 2021-03-01 = 59 days >= 28: one adequate trial.
        expected="""
            patient_id | age | in_cohort | died | n_adequate_trials
            1          | 51  | T         | F    | 1
            2          |     | T         | F    | 1
            3          | 50  | T         | F    | 1
        """,
    )
