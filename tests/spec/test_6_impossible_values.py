"""6. Impossible values

Real extracts hold values no record can have: a negative or infinite dose, a negative supply, a death
before the birth, an age of 131 from a date-shifted record, a label typed with a look-alike letter
from another alphabet. Each is counted in data_quality.csv (tests/backends/test_quality_counts.py)
and kept out of the computation it would corrupt:

- daily_dose_mg that is negative, NaN, infinite or above 10,000 mg is *unknown*: judged by the
  `unknown_dose` setting (adequate by default), never compared with the minimum dose;
- days_supply that is negative or above 3,650 days is unknown: the exposure lasts the default 28 days
  (when there is no end_date);
- a birth date giving an age outside 0..120 at the index date is unknown: no age, not excluded as
  under 18, no age at death;
- a death before the birth gives no age at death (the death itself is kept);
- labels (ethnicity, employment, sex) and drug names are read after Unicode NFKC normalisation
  (full-width letters are plain letters); a label that still holds a letter from another alphabet
  matches no group and is counted.
"""

import datetime as dt

from trdpath.config import config_from_dict


def test_impossible_doses_are_unknown(spec_test):
    """A negative, infinite, NaN or absurd (1e308) dose is unknown, hence adequate by default.

    Every exposure is sertraline 2021-01-01 .. 2021-03-01 = 59 days >= 28 (minimum dose 50 mg).
    Compared as numbers, -100 would be inadequate; now it is unknown -> adequate. Patient 5's 25 mg is
    a real (low) dose: inadequate.
    """
    spec_test(
        prescriptions="""
            patient_id | drug       | start_date | end_date   | daily_dose_mg
            1          | sertraline | 2021-01-01 | 2021-03-01 | -100
            2          | sertraline | 2021-01-01 | 2021-03-01 | inf
            3          | sertraline | 2021-01-01 | 2021-03-01 | NaN
            4          | sertraline | 2021-01-01 | 2021-03-01 | 1e308
            5          | sertraline | 2021-01-01 | 2021-03-01 | 25
        """,
        index_date=dt.date(2021, 12, 31),
        expected="""
            patient_id | n_adequate_trials
            1          | 1
            2          | 1
            3          | 1
            4          | 1
            5          | 0
        """,
    )


def test_impossible_doses_with_unknown_dose_inadequate(spec_test):
    """With `unknown_dose = "inadequate"`, the same impossible doses are inadequate: an infinite or
    1e308 dose no longer passes the 50 mg minimum. Patient 5's 100 mg is adequate."""
    spec_test(
        prescriptions="""
            patient_id | drug       | start_date | end_date   | daily_dose_mg
            1          | sertraline | 2021-01-01 | 2021-03-01 | -100
            2          | sertraline | 2021-01-01 | 2021-03-01 | inf
            3          | sertraline | 2021-01-01 | 2021-03-01 | NaN
            4          | sertraline | 2021-01-01 | 2021-03-01 | 1e308
            5          | sertraline | 2021-01-01 | 2021-03-01 | 100
        """,
        config=config_from_dict({"treatment": {"unknown_dose": "inadequate"}}),
        index_date=dt.date(2021, 12, 31),
        expected="""
            patient_id | n_adequate_trials
            1          | 0
            2          | 0
            3          | 0
            4          | 0
            5          | 1
        """,
    )


def test_impossible_days_supply_is_unknown(spec_test):
    """A negative or absurd days_supply (without an end_date) is unknown: the default 28 days apply.

    1: -30 would end the exposure before it starts (0 days); unknown -> 28 days >= 28: adequate.
    2: 1e308 -> unknown -> 28 days: adequate. 3: 3651 > 3650 -> unknown -> 28 days: adequate.
    4: 20 days is a real supply: 20 < 28, not adequate.
    """
    spec_test(
        prescriptions="""
            patient_id | drug       | start_date | days_supply | daily_dose_mg
            1          | sertraline | 2021-01-01 | -30         | 100
            2          | sertraline | 2021-01-01 | 1e308       | 100
            3          | sertraline | 2021-01-01 | 3651        | 100
            4          | sertraline | 2021-01-01 | 20          | 100
        """,
        index_date=dt.date(2021, 12, 31),
        expected="""
            patient_id | n_antidepressants | n_adequate_trials
            1          | 1                 | 1
            2          | 1                 | 1
            3          | 1                 | 1
            4          | 1                 | 0
        """,
    )


def test_impossible_ages_and_death_before_birth(spec_test):
    """Ages outside 0..120 at the index date are unknown; a death before the birth has no age at death.

    Index date 2021-06-01. 1: born 1890-01-01 -> 131 > 120: unknown. 2: born 1901-06-01 -> exactly 120:
    kept. 3: born 1901-06-02 -> 119 (birthday not reached). 4: born 1900-06-01 -> 2021 - 1900 = 121 > 120:
    unknown. 5: died 1950-06-01, before the 1970 birth: died, but no age at death.
    6: died 2021-03-01 at 2021 - 1970 = 51.
    """
    spec_test(
        patients="""
            patient_id | birth_date | sex | death_date
            1          | 1890-01-01 | F   |
            2          | 1901-06-01 | F   |
            3          | 1901-06-02 | F   |
            4          | 1900-06-01 | F   |
            5          | 1970-01-01 | F   | 1950-06-01
            6          | 1970-01-01 | F   | 2021-03-01
        """,
        prescriptions="""
            patient_id | drug       | start_date | end_date
            1          | sertraline | 2021-01-01 | 2021-03-01
            2          | sertraline | 2021-01-01 | 2021-03-01
            3          | sertraline | 2021-01-01 | 2021-03-01
            4          | sertraline | 2021-01-01 | 2021-03-01
            5          | sertraline | 2021-01-01 | 2021-03-01
            6          | sertraline | 2021-01-01 | 2021-03-01
        """,
        index_date=dt.date(2021, 6, 1),
        # Unknown ages are not under 18: everyone is in the cohort.
        expected="""
            patient_id | age | died | age_at_death | in_cohort
            1          |     | F    |              | T
            2          | 120 | F    |              | T
            3          | 119 | F    |              | T
            4          |     | F    |              | T
            5          | 51  | T    |              | T
            6          | 51  | T    | 51           | T
        """,
    )


def test_labels_after_unicode_nfkc(spec_test):
    """Full-width letters are the plain letters (NFKC); a Cyrillic "а" in "Blаck British" is not a
    Latin "a", so that label matches no group: Unknown (and counted), never guessed as White.

    1: "White British" -> White. 2: full-width "Ｗｈｉｔｅ Ｂｒｉｔｉｓｈ" -> NFKC "White British" -> White.
    3: "Black British" -> Black. 4: "Blаck British" with a Cyrillic а -> Unknown.
    5: full-width "ｓｅｒｔｒａｌｉｎｅ" -> NFKC "sertraline": one antidepressant.
    """
    spec_test(
        patients="""
            patient_id | birth_date | sex | ethnicity
            1          | 1970-01-01 | F   | White British
            2          | 1970-01-01 | F   | Ｗｈｉｔｅ Ｂｒｉｔｉｓｈ
            3          | 1970-01-01 | F   | Black British
            4          | 1970-01-01 | F   | Blаck British
            5          | 1970-01-01 | F   |
        """,
        prescriptions="""
            patient_id | drug       | start_date | end_date
            5          | ｓｅｒｔｒａｌｉｎｅ | 2021-01-01 | 2021-03-01
        """,
        index_date=dt.date(2021, 6, 1),
        expected="""
            patient_id | ethnicity_group | n_antidepressants
            1          | White           | 0
            2          | White           | 0
            3          | Black           | 0
            4          | Unknown         | 0
            5          | Unknown         | 1
        """,
    )
