"""3.5 Episodes

Antidepressant eras of any dose, in start order, form episodes: a new episode begins when an era
starts more than `treatment.episode_gap_days` (183) after the latest end of every earlier
antidepressant era. The **current episode** is the last one up to the index date; `episode_start`
is its first era's start, and only eras starting in it count (`n_antidepressants`,
`n_adequate_trials`, TRD). Augmenting agents do not make or bridge episodes.
"""

import datetime as dt

INDEX = dt.date(2021, 12, 31)


def test_new_episode_after_a_long_gap(spec_test):
    """After more than 183 days without antidepressants, earlier trials no longer count.

    Two adequate trials in 2018 and a third antidepressant in 2019 would be TRD in one episode;
    but the 2019 start is 396 days after the last end, so it opens a new episode with one drug.
    """
    spec_test(
        prescriptions="""
            patient_id | drug        | start_date | end_date   | daily_dose_mg
            1          | citalopram  | 2018-01-01 | 2018-03-01 | 20
            1          | fluoxetine  | 2018-03-01 | 2018-05-01 | 20
            1          | sertraline  | 2019-06-01 | 2019-08-01 | 100
        """,
        index_date=INDEX,
        # 2018-05-01 -> 2019-05-01 = 365 days, + 31 (May) = 396 > 183
        expected="""
            patient_id | episode_start | n_antidepressants | n_adequate_trials | trd | treatment_sequence
            1          | 2019-06-01    | 1                 | 1                 | F   | sertraline
        """,
    )


def test_episode_gap_183_vs_184_days(spec_test):
    """A gap of exactly 183 days stays in the episode; 184 days starts a new one."""
    spec_test(
        prescriptions="""
            patient_id | drug       | start_date | end_date
            1          | sertraline | 2021-01-01 | 2021-01-31
            1          | citalopram | 2021-08-02 | 2021-09-01
            2          | sertraline | 2021-01-01 | 2021-01-31
            2          | citalopram | 2021-08-03 | 2021-09-01
        """,
        index_date=INDEX,
        # 01-31 + 183 days: Feb 28, Mar 31, Apr 30, May 31, Jun 30, Jul 31 = 181 days -> 08-02.
        expected="""
            patient_id | episode_start | n_antidepressants | treatment_sequence
            1          | 2021-01-01    | 2                 | sertraline;citalopram
            2          | 2021-08-03    | 1                 | citalopram
        """,
    )


def test_gap_is_measured_from_the_latest_end(spec_test):
    """The gap counts from the latest end of every earlier era, not only the previous one.

    Citalopram ended 2020-03-01, a year before mirtazapine; but sertraline ran to 2020-12-31, only
    60 days before, so all three are one episode.
    """
    spec_test(
        prescriptions="""
            patient_id | drug        | start_date | end_date
            1          | sertraline  | 2020-01-01 | 2020-12-31
            1          | citalopram  | 2020-02-01 | 2020-03-01
            1          | mirtazapine | 2021-03-01 | 2021-04-01
        """,
        index_date=INDEX,
        # 2020-12-31 -> 2021-03-01 = 31 + 28 + 1 = 60 days <= 183
        expected="""
            patient_id | episode_start | n_antidepressants | treatment_sequence
            1          | 2020-01-01    | 3                 | sertraline;citalopram;mirtazapine
        """,
    )


def test_augmenting_agents_do_not_bridge_episodes(spec_test):
    """Lithium alone between two antidepressants does not keep the episode going."""
    spec_test(
        prescriptions="""
            patient_id | drug       | start_date | end_date
            1          | sertraline | 2019-01-01 | 2019-03-01
            1          | lithium    | 2019-02-01 | 2020-01-15
            1          | citalopram | 2020-02-01 | 2020-03-01
        """,
        index_date=INDEX,
        # citalopram starts 2019-03-01 + 337 days > 183; lithium's era began before the episode.
        expected="""
            patient_id | episode_start | n_antidepressants | treatment_sequence
            1          | 2020-02-01    | 1                 | citalopram
        """,
    )
