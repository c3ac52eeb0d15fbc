"""4. TRD (Maudsley: two failed adequate trials, then a third antidepressant or augmentation)

Within the current episode, the antidepressants with an adequate trial are ordered by adequacy
date (the earliest of their adequate trials starting in the episode; ties by ingredient name). T2
is the second one's adequacy date (the `trd.failed_trials`-th in general). A **next step** is,
strictly after T2:

- the start of an era (any dose, any length) of an antidepressant other than the first two
  adequately trialled ones, or
- the start of an augmenting-agent era that overlaps an antidepressant era by at least
  `trd.augmentation_min_overlap_days` (1) day, overlap = min(ends) - max(starts), when
  `trd.augmentation_counts` is true.

A cohort patient with a next step has TRD; `trd_date` is the first next step's start, `augmented`
is true when an augmenting step exists, and `resistance_level` is `2`, `3` or `4+` from
`n_antidepressants` (all distinct antidepressants in the episode, also those after `trd_date`).
Other cohort patients are `MDD`.

Most tests below share two failed trials: sertraline 100 mg 2021-01-01..2021-03-01 (adequacy
date 01-01 + 28 = 2021-01-29) and citalopram 20 mg 2021-03-01..2021-05-01 (adequacy date 03-01 +
28 = 2021-03-29 = T2).
"""

import datetime as dt

from trdpath.config import config_from_dict

INDEX = dt.date(2021, 12, 31)


def test_third_antidepressant_after_second_adequacy_date(spec_test):
    """A third antidepressant started after T2 is a next step: TRD from its start."""
    spec_test(
        prescriptions="""
            patient_id | drug        | start_date | end_date   | daily_dose_mg
            1          | sertraline  | 2021-01-01 | 2021-03-01 | 100
            1          | citalopram  | 2021-03-01 | 2021-05-01 | 20
            1          | mirtazapine | 2021-05-01 | 2021-06-01 | 30
        """,
        index_date=INDEX,
        # T2 = 2021-03-29 < 2021-05-01; mirtazapine 31 days is adequate too (3 adequate trials).
        expected="""
            patient_id | trd | trd_date   | augmented | n_antidepressants | n_adequate_trials | resistance_level
            1          | T   | 2021-05-01 | F         | 3                 | 3                 | 3
        """,
    )


def test_third_antidepressant_before_second_adequacy_date(spec_test):
    """A third antidepressant started before (or on) T2 is not a next step.

    Patient 1 starts mirtazapine on 2021-03-15, before T2, and keeps taking it; patient 2 on T2
    itself (a next step must be strictly after); patient 3 the day after.
    """
    spec_test(
        prescriptions="""
            patient_id | drug        | start_date | end_date   | daily_dose_mg
            1          | sertraline  | 2021-01-01 | 2021-03-01 | 100
            1          | citalopram  | 2021-03-01 | 2021-05-01 | 20
            1          | mirtazapine | 2021-03-15 | 2021-06-01 | 30
            2          | sertraline  | 2021-01-01 | 2021-03-01 | 100
            2          | citalopram  | 2021-03-01 | 2021-05-01 | 20
            2          | mirtazapine | 2021-03-29 | 2021-06-01 | 30
            3          | sertraline  | 2021-01-01 | 2021-03-01 | 100
            3          | citalopram  | 2021-03-01 | 2021-05-01 | 20
            3          | mirtazapine | 2021-03-30 | 2021-06-01 | 30
        """,
        index_date=INDEX,
        # 1: mirtazapine adequacy 03-15 + 28 = 04-12 comes third; T2 stays citalopram's 03-29,
        #    and mirtazapine's only era starts 03-15 < T2.
        # 2: start 03-29 = T2, not after. 3: 03-30 > T2.
        expected="""
            patient_id | trd | trd_date   | n_antidepressants | n_adequate_trials | resistance_level
            1          | F   |            | 3                 | 3                 | MDD
            2          | F   |            | 3                 | 3                 | MDD
            3          | T   | 2021-03-30 | 3                 | 3                 | 3
        """,
    )


def test_third_antidepressant_at_any_dose_or_length(spec_test):
    """The next step is the start of the third drug, whatever its dose or how long it lasts."""
    spec_test(
        prescriptions="""
            patient_id | drug        | start_date | end_date   | daily_dose_mg
            1          | sertraline  | 2021-01-01 | 2021-03-01 | 100
            1          | citalopram  | 2021-03-01 | 2021-05-01 | 20
            1          | mirtazapine | 2021-05-01 | 2021-05-10 | 7.5
        """,
        index_date=INDEX,
        expected="""
            patient_id | trd | trd_date   | n_antidepressants | n_adequate_trials
            1          | T   | 2021-05-01 | 3                 | 2
        """,
    )


def test_restarting_a_failed_drug_is_not_a_next_step(spec_test):
    """Going back to one of the two failed antidepressants after T2 is not a next step."""
    spec_test(
        prescriptions="""
            patient_id | drug       | start_date | end_date   | daily_dose_mg
            1          | sertraline | 2021-01-01 | 2021-03-01 | 100
            1          | citalopram | 2021-03-01 | 2021-05-01 | 20
            1          | sertraline | 2021-07-01 | 2021-08-01 | 150
        """,
        index_date=INDEX,
        # the sertraline restart is a new era (07-01 is 122 days after 03-01) of a failed drug
        expected="""
            patient_id | trd | n_antidepressants | n_adequate_trials | resistance_level | treatment_sequence
            1          | F   | 2                 | 2                 | MDD              | sertraline;citalopram
        """,
    )


def test_augmentation_overlapping_an_antidepressant(spec_test):
    """An augmenting agent started after T2 while an antidepressant is taken is a next step.

    Overlap is min(ends) - max(starts) in days and must be at least 1: lithium starting on the
    day citalopram ends (patient 3) overlaps by 0 days; starting the day before (patient 4), by 1.
    """
    spec_test(
        prescriptions="""
            patient_id | drug       | start_date | end_date   | daily_dose_mg
            1          | sertraline | 2021-01-01 | 2021-03-01 | 100
            1          | citalopram | 2021-03-01 | 2021-05-01 | 20
            1          | lithium    | 2021-04-01 | 2021-06-01 | 800
            2          | sertraline | 2021-01-01 | 2021-03-01 | 100
            2          | citalopram | 2021-03-01 | 2021-05-01 | 20
            2          | lithium    | 2021-05-02 | 2021-07-01 | 800
            3          | sertraline | 2021-01-01 | 2021-03-01 | 100
            3          | citalopram | 2021-03-01 | 2021-05-01 | 20
            3          | lithium    | 2021-05-01 | 2021-06-01 | 800
            4          | sertraline | 2021-01-01 | 2021-03-01 | 100
            4          | citalopram | 2021-03-01 | 2021-05-01 | 20
            4          | lithium    | 2021-04-30 | 2021-06-01 | 800
        """,
        index_date=INDEX,
        # 1: min(06-01, 05-01) - max(04-01, 03-01) = 30 days. 2: 05-01 - 05-02 = -1.
        # 3: 05-01 - 05-01 = 0. 4: 05-01 - 04-30 = 1.
        expected="""
            patient_id | trd | trd_date   | augmented | n_antidepressants | resistance_level | treatment_sequence
            1          | T   | 2021-04-01 | T         | 2                 | 2                | sertraline;citalopram;+lithium
            2          | F   |            | F         | 2                 | MDD              | sertraline;citalopram;+lithium
            3          | F   |            | F         | 2                 | MDD              | sertraline;citalopram;+lithium
            4          | T   | 2021-04-30 | T         | 2                 | 2                | sertraline;citalopram;+lithium
        """,
    )


def test_augmentation_started_before_second_adequacy_date(spec_test):
    """An augmenting agent started before or on T2 is not a next step; restarted after T2 it is."""
    spec_test(
        prescriptions="""
            patient_id | drug       | start_date | end_date   | daily_dose_mg
            1          | sertraline | 2021-01-01 | 2021-03-01 | 100
            1          | citalopram | 2021-03-01 | 2021-06-01 | 20
            1          | quetiapine | 2021-03-15 | 2021-05-01 | 150
            2          | sertraline | 2021-01-01 | 2021-03-01 | 100
            2          | citalopram | 2021-03-01 | 2021-08-01 | 20
            2          | quetiapine | 2021-02-15 | 2021-03-01 | 150
            2          | quetiapine | 2021-04-01 | 2021-05-01 | 150
            3          | sertraline | 2021-01-01 | 2021-03-01 | 100
            3          | citalopram | 2021-03-01 | 2021-08-01 | 20
            3          | quetiapine | 2021-02-15 | 2021-03-01 | 150
            3          | quetiapine | 2021-04-01 | 2021-05-01 | 150
            3          | quetiapine | 2021-06-01 | 2021-07-01 | 150
            4          | sertraline | 2021-01-01 | 2021-03-01 | 100
            4          | citalopram | 2021-03-01 | 2021-06-01 | 20
            4          | quetiapine | 2021-03-29 | 2021-05-01 | 150
        """,
        index_date=INDEX,
        # 1: quetiapine era starts 03-15 < T2 (03-29).
        # 2: 02-15..03-01, then 04-01 is 31 days after 03-01: a new era starting 04-01 > T2 -> step.
        # 3: as 2, and 06-01 is 31 days after 05-01: a third era, a second augmenting step on
        #    06-01; the first step is still 04-01.
        # 4: quetiapine starts on T2 itself: a next step must be strictly after T2.
        expected="""
            patient_id | trd | trd_date   | augmented
            1          | F   |            | F
            2          | T   | 2021-04-01 | T
            3          | T   | 2021-04-01 | T
            4          | F   |            | F
        """,
    )


def test_augmented_even_when_a_third_antidepressant_came_first(spec_test):
    """`augmented` is true for any augmenting step after T2, even if a switch was the first step."""
    spec_test(
        prescriptions="""
            patient_id | drug         | start_date | end_date   | daily_dose_mg
            1          | sertraline   | 2021-01-01 | 2021-03-01 | 100
            1          | citalopram   | 2021-03-01 | 2021-05-01 | 20
            1          | venlafaxine  | 2021-05-01 | 2021-09-01 | 150
            1          | aripiprazole | 2021-07-01 | 2021-09-01 | 5
        """,
        index_date=INDEX,
        expected="""
            patient_id | trd | trd_date   | augmented | n_antidepressants | resistance_level
            1          | T   | 2021-05-01 | T         | 3                 | 3
        """,
    )


def test_augmentation_can_be_switched_off(spec_test):
    """With `trd.augmentation_counts = false`, only a third antidepressant is a next step."""
    spec_test(
        prescriptions="""
            patient_id | drug       | start_date | end_date   | daily_dose_mg
            1          | sertraline | 2021-01-01 | 2021-03-01 | 100
            1          | citalopram | 2021-03-01 | 2021-05-01 | 20
            1          | lithium    | 2021-04-01 | 2021-06-01 | 800
        """,
        index_date=INDEX,
        config=config_from_dict({"trd": {"augmentation_counts": False}}),
        expected="""
            patient_id | trd | augmented | resistance_level
            1          | F   | F         | MDD
        """,
    )


def test_combination_of_two_antidepressants(spec_test):
    """Two antidepressants started together are two trials; ties in adequacy date go by name.

    Patient 1: sertraline and mirtazapine together from 2021-01-01 (both adequacy dates 01-29, so
    T2 = 01-29), then venlafaxine. Patient 2: the combination alone. Patient 3: after the two
    failed trials, a combination of two new antidepressants started the same day.
    """
    spec_test(
        prescriptions="""
            patient_id | drug        | start_date | end_date   | daily_dose_mg
            1          | sertraline  | 2021-01-01 | 2021-04-01 | 100
            1          | mirtazapine | 2021-01-01 | 2021-04-01 | 30
            1          | venlafaxine | 2021-04-01 | 2021-05-01 | 150
            2          | sertraline  | 2021-01-01 | 2021-04-01 | 100
            2          | mirtazapine | 2021-01-01 | 2021-04-01 | 30
            3          | sertraline  | 2021-01-01 | 2021-03-01 | 100
            3          | citalopram  | 2021-03-01 | 2021-05-01 | 20
            3          | mirtazapine | 2021-06-01 | 2021-07-01 | 30
            3          | venlafaxine | 2021-06-01 | 2021-07-01 | 150
        """,
        index_date=INDEX,
        expected="""
            patient_id | trd | trd_date   | n_antidepressants | n_adequate_trials | resistance_level | treatment_sequence
            1          | T   | 2021-04-01 | 3                 | 3                 | 3                | mirtazapine;sertraline;venlafaxine
            2          | F   |            | 2                 | 2                 | MDD              | mirtazapine;sertraline
            3          | T   | 2021-06-01 | 4                 | 4                 | 4+               | sertraline;citalopram;mirtazapine;venlafaxine
        """,
    )


def test_resistance_levels(spec_test):
    """resistance_level is 2, 3 or 4+ antidepressants in the episode for TRD, MDD otherwise.

    Every patient has the two failed trials; then patient 1 adds lithium (2 antidepressants),
    patient 2 a third antidepressant, patient 3 a third and a fourth, patient 4 three more,
    patient 5 nothing (MDD).
    """
    spec_test(
        prescriptions="""
            patient_id | drug        | start_date | end_date   | daily_dose_mg
            1          | sertraline  | 2021-01-01 | 2021-03-01 | 100
            1          | citalopram  | 2021-03-01 | 2021-05-01 | 20
            1          | lithium     | 2021-04-01 | 2021-06-01 | 800
            2          | sertraline  | 2021-01-01 | 2021-03-01 | 100
            2          | citalopram  | 2021-03-01 | 2021-05-01 | 20
            2          | mirtazapine | 2021-05-01 | 2021-06-01 | 30
            3          | sertraline  | 2021-01-01 | 2021-03-01 | 100
            3          | citalopram  | 2021-03-01 | 2021-05-01 | 20
            3          | mirtazapine | 2021-05-01 | 2021-06-01 | 30
            3          | venlafaxine | 2021-06-01 | 2021-07-01 | 150
            4          | sertraline  | 2021-01-01 | 2021-03-01 | 100
            4          | citalopram  | 2021-03-01 | 2021-05-01 | 20
            4          | mirtazapine | 2021-05-01 | 2021-06-01 | 30
            4          | venlafaxine | 2021-06-01 | 2021-07-01 | 150
            4          | duloxetine  | 2021-07-01 | 2021-08-01 | 60
            5          | sertraline  | 2021-01-01 | 2021-03-01 | 100
            5          | citalopram  | 2021-03-01 | 2021-05-01 | 20
        """,
        index_date=INDEX,
        expected="""
            patient_id | trd | trd_date   | n_antidepressants | resistance_level
            1          | T   | 2021-04-01 | 2                 | 2
            2          | T   | 2021-05-01 | 3                 | 3
            3          | T   | 2021-05-01 | 4                 | 4+
            4          | T   | 2021-05-01 | 5                 | 4+
            5          | F   |            | 2                 | MDD
        """,
    )


def test_failed_trials_is_a_setting(spec_test):
    """With `trd.failed_trials = 3`, the next step must follow the third adequacy date.

    Mirtazapine 2021-05-01..06-01 is the third adequate trial (adequacy date 05-29 = T3): by the
    default rule it would be the next step (TRD on 05-01); here venlafaxine on 07-01 is.
    """
    spec_test(
        prescriptions="""
            patient_id | drug        | start_date | end_date   | daily_dose_mg
            1          | sertraline  | 2021-01-01 | 2021-03-01 | 100
            1          | citalopram  | 2021-03-01 | 2021-05-01 | 20
            1          | mirtazapine | 2021-05-01 | 2021-06-01 | 30
            1          | venlafaxine | 2021-07-01 | 2021-08-01 | 150
        """,
        index_date=INDEX,
        config=config_from_dict({"trd": {"failed_trials": 3}}),
        expected="""
            patient_id | trd | trd_date   | n_antidepressants | resistance_level
            1          | T   | 2021-07-01 | 4                 | 4+
        """,
    )


def test_only_the_current_episode_counts_for_trd(spec_test):
    """Failed trials of an earlier episode do not count towards TRD in the current one.

    2019: sertraline and citalopram fail (two adequate trials). 2021: after more than 183 days,
    fluoxetine and mirtazapine: one adequate trial so far in the current episode.
    """
    spec_test(
        prescriptions="""
            patient_id | drug        | start_date | end_date   | daily_dose_mg
            1          | sertraline  | 2019-01-01 | 2019-03-01 | 100
            1          | citalopram  | 2019-03-01 | 2019-05-01 | 20
            1          | fluoxetine  | 2021-01-01 | 2021-03-01 | 20
            1          | mirtazapine | 2021-03-01 | 2021-03-20 | 30
        """,
        index_date=INDEX,
        # 2019-05-01 -> 2021-01-01 = 611 days > 183. Fluoxetine adequate; mirtazapine 19 days.
        expected="""
            patient_id | episode_start | trd | n_antidepressants | n_adequate_trials | resistance_level
            1          | 2021-01-01    | F   | 2                 | 1                 | MDD
        """,
    )
