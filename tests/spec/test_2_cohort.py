"""2. Cohort

A patient is in the cohort when no rule below fails; otherwise `exclusion_reason` is the first
failing rule, in this order (study-definition.md 2): `no_depression_diagnosis` (no F32* or F33*),
`under_18` (age < `cohort.min_age` at the index date), `bipolar_or_mania` (F30, F31),
`psychosis` (F20-F25, F28, F29), `dementia` (F00-F03, G30), `cognitive_or_neurological`
(F04-F09, G10-G13, G20-G26, G31, G35-G37, G40, G41), `no_antidepressant` (no antidepressant
prescription, by ATC code or name, up to the index date).

Codes count at any date up to the index date. They are compared without the dot and in any case,
on their first characters: a range code_from..code_to contains a code when the code's first
len(code_from) characters lie between the two, inclusive. Age is in completed years; with only
`year_of_birth` the birthday is taken as 1 July; with no birth date at all the patient is not
excluded as under 18. F32.3 and F33.3 (depression with psychotic symptoms) do not exclude: they set
`psychotic_symptoms`. `depression_code` is F33 when any F33 code is recorded, else F32.

Excluded patients keep their treatment counts (`n_antidepressants`, `n_adequate_trials`,
`episode_start`), but `trd` is false, `augmented` false, and `trd_date` and `resistance_level` empty.
"""

import datetime as dt

from trdpath.config import config_from_dict


def test_depression_codes_in_any_form(spec_test):
    """F32/F33 codes count with or without the dot and in any case; "F3" alone is not depression."""
    spec_test(
        diagnoses="""
            patient_id | code   | date
            1          | F32.1  | 2015-01-01
            2          | f321   | 2015-01-01
            3          | F33    | 2015-01-01
            4          | f33.0  | 2015-01-01
            5          | F3     | 2015-01-01
            6          | F34.1  | 2015-01-01
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
        # 5: "F3"[:3] = "F3" < "F32". 6: F34 (dysthymia) is outside F32..F33.
        expected="""
            patient_id | in_cohort | exclusion_reason        | depression_code
            1          | T         |                         | F32
            2          | T         |                         | F32
            3          | T         |                         | F33
            4          | T         |                         | F33
            5          | F         | no_depression_diagnosis |
            6          | F         | no_depression_diagnosis |
        """,
    )


def test_recurrent_depression_wins(spec_test):
    """depression_code is F33 when any F33 code is recorded, whatever the order of the codes."""
    spec_test(
        diagnoses="""
            patient_id | code  | date
            1          | F32.1 | 2015-01-01
            1          | F33.1 | 2018-01-01
            2          | F33.1 | 2015-01-01
            2          | F32.0 | 2018-01-01
            3          | F32.0 | 2015-01-01
        """,
        prescriptions="""
            patient_id | drug       | start_date | end_date
            1          | sertraline | 2021-01-01 | 2021-03-01
            2          | sertraline | 2021-01-01 | 2021-03-01
            3          | sertraline | 2021-01-01 | 2021-03-01
        """,
        expected="""
            patient_id | depression_code
            1          | F33
            2          | F33
            3          | F32
        """,
    )


def test_psychotic_depression_stays_in_cohort(spec_test):
    """F32.3 and F33.3 (depression with psychotic symptoms) keep the patient in the cohort."""
    spec_test(
        diagnoses="""
            patient_id | code  | date
            1          | F32.3 | 2015-01-01
            2          | f333  | 2015-01-01
            3          | F32.2 | 2015-01-01
        """,
        prescriptions="""
            patient_id | drug       | start_date | end_date
            1          | sertraline | 2021-01-01 | 2021-03-01
            2          | sertraline | 2021-01-01 | 2021-03-01
            3          | sertraline | 2021-01-01 | 2021-03-01
        """,
        expected="""
            patient_id | in_cohort | exclusion_reason | psychotic_symptoms | psychotic_illness | depression_code
            1          | T         |                  | T                  | T                 | F32
            2          | T         |                  | T                  | T                 | F33
            3          | T         |                  | F                  | F                 | F32
        """,
    )


def test_under_18_at_index_date(spec_test):
    """Patients younger than 18 at the index date are excluded; unknown birth dates are not.

    With only a year of birth, the birthday is 1 July of that year.
    """
    spec_test(
        patients="""
            patient_id | birth_date | year_of_birth | sex
            1          | 2003-06-30 |               | F
            2          | 2003-07-01 |               | M
            3          |            | 2003          | F
            4          |            | 2002          | M
            5          |            |               | F
        """,
        prescriptions="""
            patient_id | drug       | start_date | end_date
            1          | sertraline | 2021-01-01 | 2021-03-01
            2          | sertraline | 2021-01-01 | 2021-03-01
            3          | sertraline | 2021-01-01 | 2021-03-01
            4          | sertraline | 2021-01-01 | 2021-03-01
            5          | sertraline | 2021-01-01 | 2021-03-01
        """,
        index_date=dt.date(2021, 6, 30),
        # 1: 18th birthday on 2021-06-30 = index date -> 18. 2: birthday 2021-07-01 not reached -> 17.
        # 3: born 2003-07-01 -> 17. 4: born 2002-07-01 -> 18. 5: age unknown -> not excluded.
        expected="""
            patient_id | age | in_cohort | exclusion_reason
            1          | 18  | T         |
            2          | 17  | F         | under_18
            3          | 17  | F         | under_18
            4          | 18  | T         |
            5          |     | T         |
        """,
    )


def test_minimum_age_is_a_setting(spec_test):
    """`cohort.min_age` changes the age limit (here 65, for an older-adults study)."""
    spec_test(
        patients="""
            patient_id | birth_date | sex
            1          | 1956-06-30 | F
            2          | 1956-07-01 | F
        """,
        prescriptions="""
            patient_id | drug       | start_date | end_date
            1          | sertraline | 2021-01-01 | 2021-03-01
            2          | sertraline | 2021-01-01 | 2021-03-01
        """,
        index_date=dt.date(2021, 6, 30),
        config=config_from_dict({"cohort": {"min_age": 65}}),
        # 1: 2021 - 1956 = 65 on the birthday. 2: 64 (birthday the next day) < 65.
        expected="""
            patient_id | age | in_cohort | exclusion_reason
            1          | 65  | T         |
            2          | 64  | F         | under_18
        """,
    )


def test_each_exclusion_code_list(spec_test):
    """Each excluding diagnosis, at the edges of its code ranges; codes next to a range do not exclude."""
    spec_test(
        diagnoses="""
            patient_id | code  | date
            1          | F32.1 | 2015-01-01
            1          | F30.1 | 2016-01-01
            2          | F32.1 | 2015-01-01
            2          | f31.9 | 2016-01-01
            3          | F32.1 | 2015-01-01
            3          | F20.0 | 2016-01-01
            4          | F32.1 | 2015-01-01
            4          | F25.1 | 2016-01-01
            5          | F32.1 | 2015-01-01
            5          | F28   | 2016-01-01
            6          | F32.1 | 2015-01-01
            6          | F29   | 2016-01-01
            7          | F32.1 | 2015-01-01
            7          | F00.1 | 2016-01-01
            8          | F32.1 | 2015-01-01
            8          | F03   | 2016-01-01
            9          | F32.1 | 2015-01-01
            9          | G30.9 | 2016-01-01
            10         | F32.1 | 2015-01-01
            10         | F06.3 | 2016-01-01
            11         | F32.1 | 2015-01-01
            11         | G20   | 2016-01-01
            12         | F32.1 | 2015-01-01
            12         | G35   | 2016-01-01
            13         | F32.1 | 2015-01-01
            13         | G40.9 | 2016-01-01
            14         | F32.1 | 2015-01-01
            14         | G41.0 | 2016-01-01
            15         | F32.1 | 2015-01-01
            15         | G12.2 | 2016-01-01
            16         | F32.1 | 2015-01-01
            16         | G32.0 | 2016-01-01
            17         | F32.1 | 2015-01-01
            17         | G43.9 | 2016-01-01
            18         | F32.1 | 2015-01-01
            18         | F10.2 | 2016-01-01
        """,
        prescriptions="""
            patient_id | drug       | start_date | end_date
            1          | sertraline | 2021-01-01 | 2021-03-01
            2          | sertraline | 2021-01-01 | 2021-03-01
            3          | sertraline | 2021-01-01 | 2021-03-01
            4          | sertraline | 2021-01-01 | 2021-03-01
            5          | sertraline | 2021-01-01 | 2021-03-01
            6          | sertraline | 2021-01-01 | 2021-03-01
            7          | sertraline | 2021-01-01 | 2021-03-01
            8          | sertraline | 2021-01-01 | 2021-03-01
            9          | sertraline | 2021-01-01 | 2021-03-01
            10         | sertraline | 2021-01-01 | 2021-03-01
            11         | sertraline | 2021-01-01 | 2021-03-01
            12         | sertraline | 2021-01-01 | 2021-03-01
            13         | sertraline | 2021-01-01 | 2021-03-01
            14         | sertraline | 2021-01-01 | 2021-03-01
            15         | sertraline | 2021-01-01 | 2021-03-01
            16         | sertraline | 2021-01-01 | 2021-03-01
            17         | sertraline | 2021-01-01 | 2021-03-01
            18         | sertraline | 2021-01-01 | 2021-03-01
        """,
        # 16: G32 is between G31 and G35 (not listed). 17: G43 (migraine) is after G41.
        # 18: F10 (alcohol) is a comorbidity, not an exclusion.
        expected="""
            patient_id | in_cohort | exclusion_reason
            1          | F         | bipolar_or_mania
            2          | F         | bipolar_or_mania
            3          | F         | psychosis
            4          | F         | psychosis
            5          | F         | psychosis
            6          | F         | psychosis
            7          | F         | dementia
            8          | F         | dementia
            9          | F         | dementia
            10         | F         | cognitive_or_neurological
            11         | F         | cognitive_or_neurological
            12         | F         | cognitive_or_neurological
            13         | F         | cognitive_or_neurological
            14         | F         | cognitive_or_neurological
            15         | F         | cognitive_or_neurological
            16         | T         |
            17         | T         |
            18         | T         |
        """,
    )


def test_first_failing_rule_names_the_exclusion(spec_test):
    """A patient failing several rules is excluded by the first, in the order of study-definition.md 2."""
    spec_test(
        patients="""
            patient_id | birth_date | sex
            1          | 1970-01-01 | F
            2          | 2010-01-01 | F
            3          | 1970-01-01 | F
            4          | 1970-01-01 | F
            5          | 1970-01-01 | F
            6          | 1970-01-01 | F
        """,
        diagnoses="""
            patient_id | code  | date
            1          | F31.1 | 2016-01-01
            2          | F32.1 | 2015-01-01
            2          | F31.1 | 2016-01-01
            3          | F32.1 | 2015-01-01
            3          | F31.1 | 2016-01-01
            3          | F20.0 | 2016-01-01
            4          | F32.1 | 2015-01-01
            4          | F20.0 | 2016-01-01
            4          | F01.0 | 2016-01-01
            5          | F32.1 | 2015-01-01
            5          | F01.0 | 2016-01-01
            5          | G40.1 | 2016-01-01
            6          | F32.1 | 2015-01-01
            6          | G40.1 | 2016-01-01
        """,
        # Nobody has an antidepressant, so every patient also fails no_antidepressant.
        prescriptions="""
            patient_id | drug    | start_date | end_date
            1          | lithium | 2021-01-01 | 2021-03-01
        """,
        expected="""
            patient_id | in_cohort | exclusion_reason
            1          | F         | no_depression_diagnosis
            2          | F         | under_18
            3          | F         | bipolar_or_mania
            4          | F         | psychosis
            5          | F         | dementia
            6          | F         | cognitive_or_neurological
        """,
    )


def test_no_antidepressant(spec_test):
    """Patients without an antidepressant prescription are excluded.

    An augmenting agent alone, a drug outside the lists, or no prescription at all is not enough.
    """
    spec_test(
        diagnoses="""
            patient_id | code  | date
            1          | F32.1 | 2015-01-01
            2          | F32.1 | 2015-01-01
            3          | F32.1 | 2015-01-01
            4          | F32.1 | 2015-01-01
            5          | F32.1 | 2015-01-01
        """,
        prescriptions="""
            patient_id | drug         | start_date | end_date   | atc_code
            1          | Priadel      | 2021-01-01 | 2021-03-01 |
            2          | diazepam 5mg | 2021-01-01 | 2021-03-01 |
            4          | sertraline   | 2021-01-01 | 2021-03-01 |
            5          | Spravato     | 2021-01-01 | 2021-03-01 | N06AX27
        """,
        # 5: esketamine (N06AX27) is an augmenting agent here, not an antidepressant.
        expected="""
            patient_id | in_cohort | exclusion_reason  | n_antidepressants
            1          | F         | no_antidepressant | 0
            2          | F         | no_antidepressant | 0
            3          | F         | no_antidepressant | 0
            4          | T         |                   | 1
            5          | F         | no_antidepressant | 0
        """,
    )


def test_excluded_patients_keep_treatment_counts_but_not_trd(spec_test):
    """An excluded patient with a TRD-like history: counts are kept, TRD is not given.

    Both have sertraline (adequacy date 2021-01-01 + 28 = 2021-01-29), citalopram (adequacy date
    2021-03-01 + 28 = 2021-03-29 = T2) and lithium from 2021-04-01 overlapping citalopram.
    """
    spec_test(
        diagnoses="""
            patient_id | code  | date
            1          | F32.1 | 2015-01-01
            1          | F31.0 | 2016-01-01
            2          | F32.1 | 2015-01-01
        """,
        prescriptions="""
            patient_id | drug       | start_date | end_date   | daily_dose_mg
            1          | sertraline | 2021-01-01 | 2021-03-01 | 100
            1          | citalopram | 2021-03-01 | 2021-05-01 | 20
            1          | lithium    | 2021-04-01 | 2021-06-01 | 800
            2          | sertraline | 2021-01-01 | 2021-03-01 | 100
            2          | citalopram | 2021-03-01 | 2021-05-01 | 20
            2          | lithium    | 2021-04-01 | 2021-06-01 | 800
        """,
        # The extraction is after the last end date (the latest *event* is lithium's start, 2021-04-01,
        # which would cut lithium to 0 days: study-definition.md 1).
        index_date=dt.date(2021, 6, 1),
        expected="""
            patient_id | in_cohort | exclusion_reason | n_antidepressants | n_adequate_trials | episode_start | trd | trd_date   | augmented | resistance_level
            1          | F         | bipolar_or_mania | 2                 | 2                 | 2021-01-01    | F   |            | F         |
            2          | T         |                  | 2                 | 2                 | 2021-01-01    | T   | 2021-04-01 | T         | 2
        """,
    )
