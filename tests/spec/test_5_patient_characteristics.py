"""5. Patient characteristics (extra output columns)

Comorbidity flags (study-definition.md 6) are true when any diagnosis up to the index date falls in the
flag's code ranges (icd10_codes.csv), compared like the cohort codes (no dot, any case, on the
first len(code_from) characters). Referral counts (study-definition.md 7) count referrals up to the index
date per service category: the `service_category` column when given, else the first pattern of
service_categories.csv (in file order, case-insensitive) found in the service name; unmatched
services are not counted. Ethnicity and employment are grouped with ethnicity.csv and
employment.csv (lower case, punctuation as spaces); anything else is `Unknown`. `age` is in
completed years at the index date; `died` is true for a death date on or before it.
"""

import datetime as dt

INDEX = dt.date(2021, 12, 31)

_SERTRALINE = "| sertraline | 2021-01-01 | 2021-03-01"


def _everyone_on_sertraline(n: int) -> str:
    rows = "\n".join(f"{p} {_SERTRALINE}" for p in range(1, n + 1))
    return "patient_id | drug | start_date | end_date\n" + rows


def test_anxiety_and_self_harm_code_ranges(spec_test):
    """anxiety is F40, F41 and F43.1 (not F43.2); self_harm is X60-X84 (not X85) and Z91.5."""
    spec_test(
        diagnoses="""
            patient_id | code  | date
            1          | F32.1 | 2015-01-01
            1          | F43.1 | 2016-01-01
            2          | F32.1 | 2015-01-01
            2          | F43.2 | 2016-01-01
            3          | F32.1 | 2015-01-01
            3          | f411  | 2016-01-01
            4          | F32.1 | 2015-01-01
            4          | F43   | 2016-01-01
            5          | F32.1 | 2015-01-01
            5          | X84   | 2016-01-01
            6          | F32.1 | 2015-01-01
            6          | X85   | 2016-01-01
            7          | F32.1 | 2015-01-01
            7          | X60.0 | 2016-01-01
            8          | F32.1 | 2015-01-01
            8          | Z91.5 | 2016-01-01
            9          | F32.1 | 2015-01-01
            9          | Z91.4 | 2016-01-01
        """,
        prescriptions=_everyone_on_sertraline(9),
        index_date=INDEX,
        # 4: "F43" without a fourth character cannot be F43.1 ("F43" < "F431").
        expected="""
            patient_id | anxiety | self_harm
            1          | T       | F
            2          | F       | F
            3          | T       | F
            4          | F       | F
            5          | F       | T
            6          | F       | F
            7          | F       | T
            8          | F       | T
            9          | F       | F
        """,
    )


def test_substance_misuse_flags(spec_test):
    """F10-F19 is substance misuse, split into alcohol, drugs, sedatives, tobacco and other drugs."""
    spec_test(
        diagnoses="""
            patient_id | code  | date
            1          | F32.1 | 2015-01-01
            1          | F10.2 | 2016-01-01
            2          | F32.1 | 2015-01-01
            2          | F12.1 | 2016-01-01
            3          | F32.1 | 2015-01-01
            3          | F13   | 2016-01-01
            4          | F32.1 | 2015-01-01
            4          | F17.2 | 2016-01-01
            5          | F32.1 | 2015-01-01
            5          | F18.0 | 2016-01-01
            6          | F32.1 | 2015-01-01
            6          | F19.9 | 2016-01-01
            7          | F32.1 | 2015-01-01
            7          | F09   | 2016-01-01
        """,
        prescriptions=_everyone_on_sertraline(7),
        index_date=INDEX,
        expected="""
            patient_id | substance_misuse | alcohol | drugs | sedatives | tobacco | other_drugs
            1          | T                | T       | F     | F         | F       | F
            2          | T                | F       | T     | F         | F       | F
            3          | T                | F       | F     | T         | F       | F
            4          | T                | F       | F     | F         | T       | F
            5          | T                | F       | T     | F         | F       | F
            6          | T                | F       | F     | F         | F       | T
            7          | F                | F       | F     | F         | F       | F
        """,
    )


def test_physical_health_flags(spec_test):
    """Diabetes E10-E14 with its types; cardiovascular I00-I99; respiratory J; gastrointestinal K00-K93."""
    spec_test(
        diagnoses="""
            patient_id | code  | date
            1          | F32.1 | 2015-01-01
            1          | E10.9 | 2016-01-01
            2          | F32.1 | 2015-01-01
            2          | e11.9 | 2016-01-01
            3          | F32.1 | 2015-01-01
            3          | E14   | 2016-01-01
            4          | F32.1 | 2015-01-01
            4          | E12   | 2016-01-01
            5          | F32.1 | 2015-01-01
            5          | E15   | 2016-01-01
            6          | F32.1 | 2015-01-01
            6          | I10   | 2016-01-01
            7          | F32.1 | 2015-01-01
            7          | J45.9 | 2016-01-01
            8          | F32.1 | 2015-01-01
            8          | K92.1 | 2016-01-01
            9          | F32.1 | 2015-01-01
            9          | K94.0 | 2016-01-01
        """,
        prescriptions=_everyone_on_sertraline(9),
        index_date=INDEX,
        # 4: E12 is in E10..E14 but none of the three types. 9: K94 is after K93.
        expected="""
            patient_id | diabetes | diabetes_type1 | diabetes_type2 | diabetes_unspecified | cardiovascular | respiratory | gastrointestinal
            1          | T        | T              | F              | F                    | F              | F           | F
            2          | T        | F              | T              | F                    | F              | F           | F
            3          | T        | F              | F              | T                    | F              | F           | F
            4          | T        | F              | F              | F                    | F              | F           | F
            5          | F        | F              | F              | F                    | F              | F           | F
            6          | F        | F              | F              | F                    | T              | F           | F
            7          | F        | F              | F              | F                    | F              | T           | F
            8          | F        | F              | F              | F                    | F              | F           | T
            9          | F        | F              | F              | F                    | F              | F           | F
        """,
    )


def test_other_mental_health_flags(spec_test):
    """Eating disorder F50, personality disorder F60-F61, developmental F80-F89."""
    spec_test(
        diagnoses="""
            patient_id | code  | date
            1          | F32.1 | 2015-01-01
            1          | F50.0 | 2016-01-01
            2          | F32.1 | 2015-01-01
            2          | F60.3 | 2016-01-01
            3          | F32.1 | 2015-01-01
            3          | F61   | 2016-01-01
            4          | F32.1 | 2015-01-01
            4          | F62.0 | 2016-01-01
            5          | F32.1 | 2015-01-01
            5          | F84.5 | 2016-01-01
            6          | F32.1 | 2015-01-01
            6          | F90.0 | 2016-01-01
        """,
        prescriptions=_everyone_on_sertraline(6),
        index_date=INDEX,
        expected="""
            patient_id | eating_disorder | personality_disorder | developmental
            1          | T               | F                    | F
            2          | F               | T                    | F
            3          | F               | T                    | F
            4          | F               | F                    | F
            5          | F               | F                    | T
            6          | F               | F                    | F
        """,
    )


def test_flags_ignore_codes_after_the_index_date(spec_test):
    """A comorbidity recorded after the index date is not counted."""
    spec_test(
        diagnoses="""
            patient_id | code  | date
            1          | F32.1 | 2015-01-01
            1          | F41.1 | 2021-06-01
        """,
        prescriptions=_everyone_on_sertraline(1),
        index_date=dt.date(2021, 5, 31),
        expected="""
            patient_id | anxiety
            1          | F
        """,
    )


def test_referral_counts_by_service_category(spec_test):
    """Referrals are counted per service category, mapped from the team name when not given.

    "Crisis home treatment team" matches both "home treatment" (community) and "crisis"
    (urgent care): the first pattern in the file, "home treatment", wins. The given category of
    "Team 7" wins; the referral after the index date and the unmatched "Gardening club" do not count.
    """
    spec_test(
        prescriptions=_everyone_on_sertraline(1),
        referrals="""
            patient_id | service                    | date       | service_category
            1          | CMHT North                 | 2021-02-01 |
            1          | Crisis home treatment team | 2021-02-02 |
            1          | Crisis Line                | 2021-02-03 |
            1          | ECT clinic                 | 2021-02-04 |
            1          | Ward 3                     | 2021-02-05 |
            1          | Forensic outreach          | 2021-02-06 |
            1          | Drug and Alcohol service   | 2021-02-07 |
            1          | Team 7                     | 2021-02-08 | forensic
            1          | Gardening club             | 2021-02-09 |
            1          | Psychology                 | 2021-07-01 |
        """,
        index_date=dt.date(2021, 6, 30),
        expected="""
            patient_id | referrals_community | referrals_urgent_care | referrals_specialist | referrals_inpatient | referrals_forensic | referrals_addiction
            1          | 2                   | 1                     | 1                    | 1                   | 2                  | 1
        """,
    )


def test_treatment_sequence(spec_test):
    """Ingredients of the current episode by first start (ties by name), augmenting agents marked +.

    A restarted drug appears once, at its first start; a drug of an earlier episode not at all.
    """
    spec_test(
        prescriptions="""
            patient_id | drug        | start_date | end_date
            1          | sertraline  | 2021-01-01 | 2021-02-01
            1          | lithium     | 2021-02-01 | 2021-04-01
            1          | citalopram  | 2021-03-01 | 2021-04-01
            1          | sertraline  | 2021-06-01 | 2021-07-01
            2          | mirtazapine | 2021-01-01 | 2021-02-01
            2          | citalopram  | 2021-01-01 | 2021-02-01
            3          | fluoxetine  | 2019-01-01 | 2019-02-01
            3          | sertraline  | 2021-01-01 | 2021-02-01
            4          | lithium     | 2021-01-01 | 2021-02-01
        """,
        index_date=INDEX,
        expected="""
            patient_id | treatment_sequence
            1          | sertraline;+lithium;citalopram
            2          | citalopram;mirtazapine
            3          | sertraline
            4          |
        """,
    )


def test_demographic_groups(spec_test):
    """Ethnicity and employment are grouped; age in completed years; died on or before the index date."""
    spec_test(
        patients="""
            patient_id | birth_date | year_of_birth | sex | ethnicity                     | employment_status       | death_date
            1          | 1980-07-02 |               | F   | A                             | Full-time               |
            2          | 1980-07-01 |               | M   | White British                 | Retired                 | 2021-03-01
            3          |            | 1980          | F   | Asian or Asian British: Indian | Unemployed seeking work |
            4          | 1990-01-01 |               | M   | m                             | Long-term sick or disabled |
            5          | 1990-01-01 |               | F   |                               |                         |
            6          | 1990-01-01 |               | F   | Martian                       | astronaut               | 2021-08-01
        """,
        prescriptions=_everyone_on_sertraline(6),
        index_date=dt.date(2021, 7, 1),
        # 1: 41st birthday 2021-07-02 not reached -> 40. 2: 41. 3: born 1980-07-01 -> 41.
        # 6: death after the index date -> not died.
        expected="""
            patient_id | age | ethnicity_group | employment_group      | died
            1          | 40  | White           | Employed              | F
            2          | 41  | White           | Economically inactive | T
            3          | 41  | South Asian     | Unemployed (seeking)  | F
            4          | 31  | Black           | Economically inactive | F
            5          | 31  | Unknown         | Unknown               | F
            6          | 31  | Unknown         | Unknown               | F
        """,
    )


def test_sex_groups(spec_test):
    """sex is female, male, other or unknown: the words and single letters, NHS codes 2 (female),
    1 (male), 0 and 9 (not known / not stated), any case and spacing; an empty cell is unknown and any
    other text is other."""
    spec_test(
        patients="""
            patient_id | birth_date | sex
            1          | 1970-01-01 | F
            2          | 1970-01-01 | Male
            3          | 1970-01-01 | 2
            4          | 1970-01-01 | 1
            5          | 1970-01-01 | 9
            6          | 1970-01-01 |
            7          | 1970-01-01 | Non-binary
            8          | 1970-01-01 | walrus
            9          | 1970-01-01 |  NOT   STATED
        """,
        prescriptions=_everyone_on_sertraline(9),
        index_date=INDEX,
        # 7: "non binary" after punctuation is read as a space -> other. 8: not a sex -> other.
        expected="""
            patient_id | sex
            1          | female
            2          | male
            3          | female
            4          | male
            5          | unknown
            6          | unknown
            7          | other
            8          | other
            9          | unknown
        """,
    )


def test_age_at_diagnosis(spec_test):
    """age_at_diagnosis is the completed years at the first depression diagnosis up to the index date
    (later diagnoses and other codes do not count); none without a birth date."""
    spec_test(
        patients="""
            patient_id | birth_date | sex
            1          | 1980-06-15 | F
            2          | 1980-06-15 | F
            3          | 1980-06-15 | F
            4          |            | F
        """,
        diagnoses="""
            patient_id | code  | date
            1          | F32.1 | 2010-06-14
            1          | F33.0 | 2015-01-01
            2          | F41.1 | 2005-01-01
            2          | F32.1 | 2010-06-15
            3          | F32.1 | 2022-06-15
            3          | F33.1 | 2012-06-16
            4          | F32.1 | 2015-01-01
        """,
        prescriptions=_everyone_on_sertraline(4),
        index_date=INDEX,
        # 1: first depression 2010-06-14, the day before the 30th birthday -> 29.
        # 2: the anxiety code (2005) is not depression; first depression on the 30th birthday -> 30.
        # 3: the 2022 diagnosis is after the index date 2021-12-31: first is F33.1 on 2012-06-16 -> 32.
        # 4: no birth date -> no age at diagnosis.
        expected="""
            patient_id | age_at_diagnosis
            1          | 29
            2          | 30
            3          | 32
            4          |
        """,
    )


def test_age_at_death(spec_test):
    """age_at_death is the completed years at a death on or before the index date; none for the living,
    for a death after the index date, or without a birth date."""
    spec_test(
        patients="""
            patient_id | birth_date | sex | death_date
            1          | 1950-03-01 | F   | 2021-02-28
            2          | 1950-03-01 | F   | 2021-03-01
            3          | 1950-03-01 | F   |
            4          | 1950-03-01 | F   | 2022-01-01
            5          |            | F   | 2021-01-01
        """,
        prescriptions=_everyone_on_sertraline(5),
        index_date=INDEX,
        # 1: the day before the 71st birthday -> 70. 2: on the 71st birthday -> 71. 3: alive.
        # 4: death after the index date 2021-12-31 -> not died, no age. 5: died, age unknown.
        expected="""
            patient_id | died | age_at_death
            1          | T    | 70
            2          | T    | 71
            3          | F    |
            4          | F    |
            5          | T    |
        """,
    )
