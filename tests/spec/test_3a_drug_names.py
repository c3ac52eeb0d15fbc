"""3.1 From prescriptions to ingredients

Each prescription is mapped to one ingredient of the reference lists (antidepressants.csv,
augmenting_agents.csv). When `atc_code` is one of the lists' codes it decides, even against the
name. Otherwise (no code, a class code such as N06AB, a drug outside the lists, a local code) the
name decides: it is lower-cased, dose text
("50mg", "15 mg/5ml") is removed, and it must contain the ingredient's generic name or one of its
brand names as a whole word ("venlafaxine" does not match "desvenlafaxine"). If a name contains
several ingredients, the one written first wins. Unmapped prescriptions are ignored.

`treatment_sequence` shows the ingredient each prescription became: the ingredients with an era
in the current episode, in order of first start (ties by name), augmenting agents marked `+`.
"""


def test_brand_names(spec_test):
    """Brand names map to their ingredient, in any case."""
    spec_test(
        prescriptions="""
            patient_id | drug          | start_date | end_date
            1          | Prozac        | 2021-01-01 | 2021-03-01
            2          | LUSTRAL       | 2021-01-01 | 2021-03-01
            3          | Efexor XL     | 2021-01-01 | 2021-03-01
            4          | Cipramil      | 2021-01-01 | 2021-03-01
            4          | Priadel       | 2021-02-01 | 2021-03-01
        """,
        expected="""
            patient_id | n_antidepressants | treatment_sequence
            1          | 1                 | fluoxetine
            2          | 1                 | sertraline
            3          | 1                 | venlafaxine
            4          | 1                 | citalopram;+lithium
        """,
    )


def test_dose_text_in_the_name(spec_test):
    """Strength and form written in the name do not stop the match, even without a space."""
    spec_test(
        prescriptions="""
            patient_id | drug                                | start_date | end_date
            1          | sertraline 50mg tablets             | 2021-01-01 | 2021-03-01
            2          | Fluoxetine20mg capsules             | 2021-01-01 | 2021-03-01
            3          | Mirtazapine 15 mg/5ml oral solution | 2021-01-01 | 2021-03-01
            4          | VENLAFAXINE 37.5MG M/R TABLETS      | 2021-01-01 | 2021-03-01
        """,
        expected="""
            patient_id | n_antidepressants | treatment_sequence
            1          | 1                 | sertraline
            2          | 1                 | fluoxetine
            3          | 1                 | mirtazapine
            4          | 1                 | venlafaxine
        """,
    )


def test_whole_words_only(spec_test):
    """A name matches only as a whole word: desvenlafaxine is not venlafaxine, escitalopram not citalopram."""
    spec_test(
        prescriptions="""
            patient_id | drug                 | start_date | end_date
            1          | desvenlafaxine 50mg  | 2021-01-01 | 2021-03-01
            2          | Sertralinex          | 2021-01-01 | 2021-03-01
            2          | fluoxetine           | 2021-01-01 | 2021-03-01
            3          | Escitalopram 10mg    | 2021-01-01 | 2021-03-01
            4          | Exsertraline         | 2021-01-01 | 2021-03-01
            4          | fluoxetine           | 2021-01-01 | 2021-03-01
        """,
        expected="""
            patient_id | n_antidepressants | treatment_sequence
            1          | 1                 | desvenlafaxine
            2          | 1                 | fluoxetine
            3          | 1                 | escitalopram
            4          | 1                 | fluoxetine
        """,
    )


def test_atc_code_wins_over_the_name(spec_test):
    """A listed ATC code wins over the name; a code outside the lists leaves the name to decide."""
    spec_test(
        prescriptions="""
            patient_id | drug            | start_date | end_date   | atc_code
            1          | sertraline      | 2021-01-01 | 2021-03-01 | N06AB03
            2          | unknown tablets | 2021-01-01 | 2021-03-01 | N06AX11
            3          | sertraline      | 2021-01-01 | 2021-03-01 | N06AB
            4          | diazepam 5mg    | 2021-01-01 | 2021-03-01 | N05BA01
            5          | Cipramil        | 2021-01-01 | 2021-03-01 | n06ab04
        """,
        # 1: N06AB03 is fluoxetine. 2: N06AX11 is mirtazapine. 3: N06AB is the SSRI class, not an
        # ingredient: the name decides. 4: N05BA01 (diazepam) and its name are in no list.
        expected="""
            patient_id | in_cohort | exclusion_reason  | n_antidepressants | treatment_sequence
            1          | T         |                   | 1                 | fluoxetine
            2          | T         |                   | 1                 | mirtazapine
            3          | T         |                   | 1                 | sertraline
            4          | F         | no_antidepressant | 0                 |
            5          | T         |                   | 1                 | citalopram
        """,
    )


def test_unmapped_drugs_are_ignored(spec_test):
    """Drugs outside the lists do not count, and esketamine is an augmenting agent, not a line."""
    spec_test(
        prescriptions="""
            patient_id | drug              | start_date | end_date
            1          | paracetamol 500mg | 2021-01-01 | 2021-03-01
            1          | sertraline        | 2021-01-01 | 2021-03-01
            2          | sertraline        | 2021-01-01 | 2021-03-01
            2          | Spravato          | 2021-02-01 | 2021-03-01
        """,
        expected="""
            patient_id | n_antidepressants | treatment_sequence
            1          | 1                 | sertraline
            2          | 1                 | sertraline;+esketamine
        """,
    )
