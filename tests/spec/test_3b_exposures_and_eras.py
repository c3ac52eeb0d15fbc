"""3.2-3.3 Exposures and eras

An exposure runs from `start_date` to `end_date`, else to `start_date + days_supply`, else to
`start_date + treatment.default_exposure_days` (28). Its length is end - start in days.
Exposures to the same ingredient merge into one era while the next starts no more than
`treatment.era_gap_days` (30) after the current era's end: a gap of 30 days merges, 31 does not.
The same ingredient restarted later is still one antidepressant.
"""

import datetime as dt

from trdpath.config import config_from_dict

INDEX = dt.date(2021, 12, 31)


def test_exposure_end(spec_test):
    """end_date wins, then days_supply, then the default of 28 days; 28 days make a trial adequate."""
    spec_test(
        prescriptions="""
            patient_id | drug       | start_date | end_date   | days_supply
            1          | sertraline | 2021-01-01 | 2021-01-29 |
            2          | sertraline | 2021-01-01 | 2021-01-28 |
            3          | sertraline | 2021-01-01 |            | 28
            4          | sertraline | 2021-01-01 |            | 27
            5          | sertraline | 2021-01-01 |            |
            6          | sertraline | 2021-01-01 | 2021-01-10 | 60
        """,
        index_date=INDEX,
        # 1: 01-29 - 01-01 = 28 days. 2: 27 days. 3: 28. 4: 27. 5: default 28. 6: end_date -> 9 days.
        expected="""
            patient_id | n_antidepressants | n_adequate_trials
            1          | 1                 | 1
            2          | 1                 | 0
            3          | 1                 | 1
            4          | 1                 | 0
            5          | 1                 | 1
            6          | 1                 | 0
        """,
    )


def test_default_exposure_days_is_a_setting(spec_test):
    """`treatment.default_exposure_days` sets the length of a prescription with no end or supply."""
    spec_test(
        prescriptions="""
            patient_id | drug       | start_date
            1          | sertraline | 2021-01-01
        """,
        index_date=INDEX,
        config=config_from_dict({"treatment": {"default_exposure_days": 27}}),
        # 27 days < min_trial_days 28
        expected="""
            patient_id | n_antidepressants | n_adequate_trials
            1          | 1                 | 0
        """,
    )


def test_era_gap_30_merges_31_does_not(spec_test):
    """Two 14-day exposures 30 days apart are one 58-day era (adequate); 31 days apart, two short eras."""
    spec_test(
        prescriptions="""
            patient_id | drug       | start_date | end_date
            1          | sertraline | 2021-01-01 | 2021-01-15
            1          | sertraline | 2021-02-14 | 2021-02-28
            2          | sertraline | 2021-01-01 | 2021-01-15
            2          | sertraline | 2021-02-15 | 2021-03-01
        """,
        index_date=INDEX,
        # 1: 2021-01-15 + 30 days = 2021-02-14 -> merged era 01-01..02-28 = 58 days >= 28.
        # 2: 2021-02-15 is 31 days after 01-15 -> eras of 14 and 14 days, neither adequate.
        expected="""
            patient_id | n_antidepressants | n_adequate_trials
            1          | 1                 | 1
            2          | 1                 | 0
        """,
    )


def test_era_gap_is_a_setting(spec_test):
    """With `treatment.era_gap_days` = 31, the 31-day gap merges too."""
    spec_test(
        prescriptions="""
            patient_id | drug       | start_date | end_date
            2          | sertraline | 2021-01-01 | 2021-01-15
            2          | sertraline | 2021-02-15 | 2021-03-01
        """,
        index_date=INDEX,
        config=config_from_dict({"treatment": {"era_gap_days": 31}}),
        # 2021-01-15 + 31 days = 2021-02-15 -> merged era 01-01..03-01 = 59 days
        expected="""
            patient_id | n_adequate_trials
            2          | 1
        """,
    )


def test_overlapping_exposures_merge(spec_test):
    """Overlapping or nested prescriptions of one drug form one era ending at the latest end."""
    spec_test(
        prescriptions="""
            patient_id | drug       | start_date | end_date
            1          | sertraline | 2021-01-01 | 2021-01-20
            1          | sertraline | 2021-01-10 | 2021-01-15
            1          | sertraline | 2021-01-18 | 2021-02-05
        """,
        index_date=INDEX,
        # 01-01..01-20, nested 01-10..01-15, then 01-18..02-05 -> one era 01-01..02-05 = 35 days
        expected="""
            patient_id | n_antidepressants | n_adequate_trials
            1          | 1                 | 1
        """,
    )


def test_restarted_drug_is_one_antidepressant(spec_test):
    """The same ingredient restarted after a break (a new era) is still one antidepressant."""
    spec_test(
        prescriptions="""
            patient_id | drug         | start_date | end_date
            1          | sertraline   | 2021-01-01 | 2021-01-15
            1          | Lustral 50mg | 2021-06-01 | 2021-06-15
        """,
        index_date=INDEX,
        # two sertraline eras (gap 137 days > 30), same episode (137 <= 183): one antidepressant
        expected="""
            patient_id | n_antidepressants | n_adequate_trials | treatment_sequence
            1          | 1                 | 0                 | sertraline
        """,
    )
