"""7. Code systems: ICD-10 and ICD-9-CM

Real CDMs hold a mix of ICD-9-CM and ICD-10(-CM) codes. Each diagnosis is read in one code system:
the one the source states (an OMOP vocabulary's `vocabulary_id`, or a flat extract's optional
`code_system` column: ICD10 / ICD9CM in any spelling), else the `codes.system` setting. Its default
"auto" decides by shape: three digits (296.32, 311) or E800-E999 (E950.0) are ICD-9-CM; a V code
(V62.84) is ICD-9-CM or ICD-10 and cannot be told apart, so it is read as neither (and counted);
a letter, a digit and a digit or letter (F32.1, E11.9) is ICD-10.

Depression (and recurrent depression, psychotic symptoms) is defined by the systems in
`codes.depression_systems`: the paper's ICD-10 F32-F33 by default. Exclusions and comorbidities use
every system: an ICD-9-CM psychosis excludes like an ICD-10 one. The ICD-9-CM lists are in
src/trdpath/reference/icd9cm_codes.csv (sources in SOURCES.md).
"""

import datetime as dt

from trdpath.config import config_from_dict

DIAGNOSES = """
    patient_id | code   | date
    1          | F32.1  | 2010-01-01
    1          | 298.9  | 2012-01-01
    2          | F32.1  | 2010-01-01
    2          | 295.30 | 2012-01-01
    3          | F32.1  | 2010-01-01
    3          | E950.0 | 2012-01-01
    4          | F32.1  | 2010-01-01
    4          | V62.84 | 2012-01-01
    5          | 296.32 | 2010-01-01
    6          | F32.1  | 2010-01-01
    6          | 250.01 | 2012-01-01
    6          | 401.9  | 2012-01-01
    7          | 311    | 2010-01-01
    7          | F33.1  | 2011-01-01
    8          | F32.1  | 2010-01-01
    8          | 290.0  | 2012-01-01
"""
PRESCRIPTIONS = """
    patient_id | drug       | start_date | end_date
    1          | sertraline | 2021-01-01 | 2021-03-01
    2          | sertraline | 2021-01-01 | 2021-03-01
    3          | sertraline | 2021-01-01 | 2021-03-01
    4          | sertraline | 2021-01-01 | 2021-03-01
    5          | sertraline | 2021-01-01 | 2021-03-01
    6          | sertraline | 2021-01-01 | 2021-03-01
    7          | sertraline | 2021-01-01 | 2021-03-01
    8          | sertraline | 2021-01-01 | 2021-03-01
"""


def test_icd9_exclusions_and_comorbidities(spec_test):
    """ICD-9-CM codes exclude and flag; ICD-9-CM depression does not define depression by default.

    1: 298.9 unspecified psychosis (ICD-9-CM 298.1-298.9) -> psychosis. 2: 295.30 schizophrenia (295)
    -> psychosis. 3: E950.0 suicide by poisoning (E950-E959) -> self_harm, and not read as ICD-10 E95.
    4: V62.84 is a V code: ambiguous, read as neither (no flag). 5: only 296.32 (ICD-9-CM recurrent major
    depression): not depression under the default ICD-10 definition. 6: 250.01 (fifth digit 1: type I)
    -> diabetes and diabetes_type1; 401.9 hypertension (390-459) -> cardiovascular.
    7: 311 and F33.1: depression from F33.1, recurrent -> F33. 8: 290.0 senile dementia -> dementia.
    """
    spec_test(
        diagnoses=DIAGNOSES,
        prescriptions=PRESCRIPTIONS,
        index_date=dt.date(2021, 6, 1),
        expected="""
            patient_id | in_cohort | exclusion_reason        | depression_code | self_harm | diabetes | diabetes_type1 | cardiovascular
            1          | F         | psychosis               | F32             | F         | F        | F              | F
            2          | F         | psychosis               | F32             | F         | F        | F              | F
            3          | T         |                         | F32             | T         | F        | F              | F
            4          | T         |                         | F32             | F         | F        | F              | F
            5          | F         | no_depression_diagnosis |                 | F         | F        | F              | F
            6          | T         |                         | F32             | F         | T        | T              | T
            7          | T         |                         | F33             | F         | F        | F              | F
            8          | F         | dementia                | F32             | F         | F        | F              | F
        """,
    )


def test_icd9_depression_when_configured(spec_test):
    """With `depression_systems = ["icd10", "icd9cm"]`, 296.32 (recurrent, 296.3x) defines depression,
    recurrent -> F33; 311 alone is depression (F32)."""
    spec_test(
        diagnoses="""
            patient_id | code   | date
            1          | 296.32 | 2010-01-01
            2          | 311    | 2010-01-01
            3          | 296.24 | 2010-01-01
        """,
        prescriptions="""
            patient_id | drug       | start_date | end_date
            1          | sertraline | 2021-01-01 | 2021-03-01
            2          | sertraline | 2021-01-01 | 2021-03-01
            3          | sertraline | 2021-01-01 | 2021-03-01
        """,
        config=config_from_dict({"codes": {"depression_systems": ["icd10", "icd9cm"]}}),
        index_date=dt.date(2021, 6, 1),
        # 3: 296.24 single episode, severe, with psychotic behavior -> F32 with psychotic symptoms.
        expected="""
            patient_id | in_cohort | depression_code | psychotic_symptoms
            1          | T         | F33             | F
            2          | T         | F32             | F
            3          | T         | F32             | T
        """,
    )


def test_stated_code_system_wins(spec_test):
    """A stated code_system decides: 295.3 stated as ICD-10 matches no ICD-10 list (no psychosis);
    V62.84 stated as ICD-9-CM is a known ICD-9-CM code in no list; F20.0 stated as SNOMED (another
    system) is not read as ICD-10 schizophrenia; 298.9 with no stated system is ICD-9-CM by shape."""
    spec_test(
        diagnoses="""
            patient_id | code   | date       | code_system
            1          | F32.1  | 2010-01-01 | ICD10
            1          | 295.3  | 2012-01-01 | ICD10
            2          | F32.1  | 2010-01-01 | ICD-10-CM
            2          | V62.84 | 2012-01-01 | ICD9CM
            3          | F32.1  | 2010-01-01 |
            3          | F20.0  | 2012-01-01 | SNOMED
            4          | F32.1  | 2010-01-01 |
            4          | 298.9  | 2012-01-01 |
        """,
        prescriptions="""
            patient_id | drug       | start_date | end_date
            1          | sertraline | 2021-01-01 | 2021-03-01
            2          | sertraline | 2021-01-01 | 2021-03-01
            3          | sertraline | 2021-01-01 | 2021-03-01
            4          | sertraline | 2021-01-01 | 2021-03-01
        """,
        index_date=dt.date(2021, 6, 1),
        expected="""
            patient_id | in_cohort | exclusion_reason
            1          | T         |
            2          | T         |
            3          | T         |
            4          | F         | psychosis
        """,
    )


def test_every_code_read_as_icd10_when_configured(spec_test):
    """`codes.system = "icd10"` reads every unlabelled code as ICD-10 (the paper's extracts): 298.9 is
    then no ICD-10 code and excludes nothing."""
    spec_test(
        diagnoses="""
            patient_id | code  | date
            1          | F32.1 | 2010-01-01
            1          | 298.9 | 2012-01-01
        """,
        prescriptions="""
            patient_id | drug       | start_date | end_date
            1          | sertraline | 2021-01-01 | 2021-03-01
        """,
        config=config_from_dict({"codes": {"system": "icd10"}}),
        index_date=dt.date(2021, 6, 1),
        expected="""
            patient_id | in_cohort
            1          | T
        """,
    )
