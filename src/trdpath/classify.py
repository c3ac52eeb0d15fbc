"""The TRD rule (study-definition.md 4, Maudsley): two failed adequate trials, then a next step.

Within the current episode, antidepressants with an adequate trial are ordered by adequacy
date; T2 is the second one's. A next step is the start of an era of any other antidepressant,
or of an augmenting-agent era overlapping an antidepressant era, strictly after T2.
"""

from __future__ import annotations

import ibis

from trdpath.config import TrdSection


def in_current_episode(table: ibis.Table, episodes: ibis.Table, start: str) -> ibis.Table:
    """Rows of `table` starting on or after the patient's current episode start."""
    joined = table.join(episodes, "pkey")
    return joined.filter(joined[start] >= joined.episode_start).drop("episode_start")


def trd_steps(antidepressant_eras: ibis.Table, augmenting_eras: ibis.Table, drugs_now: ibis.Table,
              episodes: ibis.Table, trd: TrdSection) -> ibis.Table:
    """pkey, n_adequate_trials, t2_day, trd_day, augmented_day for patients with an adequate trial.

    `drugs_now`: pkey, ingredient_id, adequacy_day, one row per drug of the current episode, with
    the adequacy date of its first adequate trial in the episode (NULL if none).
    """
    first_trial = drugs_now.filter(drugs_now.adequacy_day.notnull())
    order = ibis.window(group_by="pkey", order_by=[first_trial.adequacy_day, first_trial.ingredient_id])
    ranked = first_trial.mutate(trial_rank=ibis.row_number().over(order))  # 0-based
    failed = trd.failed_trials
    per_patient = ranked.group_by("pkey").agg(
        n_adequate_trials=ranked.count(),
        t2_day=ranked.adequacy_day.max(where=ranked.trial_rank == failed - 1),
    )
    with_t2 = per_patient.filter(per_patient.t2_day.notnull())
    failed_drugs = ranked.filter(ranked.trial_rank < failed).select("pkey", "ingredient_id")

    # Next step 1: an era of an antidepressant other than the failed ones, starting after T2.
    ad_now = in_current_episode(antidepressant_eras, episodes, "era_start")
    other_ad = ad_now.anti_join(failed_drugs, ["pkey", "ingredient_id"]).join(with_t2, "pkey")
    switch_day = (
        other_ad.filter(other_ad.era_start > other_ad.t2_day)
        .group_by("pkey").agg(switch_day=ibis._.era_start.min())
    )

    steps = with_t2.left_join(switch_day, "pkey").drop("pkey_right")
    if trd.augmentation_counts:
        # Next step 2: an augmenting era overlapping an antidepressant era by >= N days, starting after T2.
        aug = augmenting_eras.join(with_t2.select("pkey", "t2_day"), "pkey")
        aug = aug.filter(aug.era_start > aug.t2_day)
        ad = antidepressant_eras.select("pkey", ad_start=antidepressant_eras.era_start, ad_end=antidepressant_eras.era_end)
        pairs = aug.join(ad, "pkey")
        overlap = ibis.least(pairs.era_end, pairs.ad_end) - ibis.greatest(pairs.era_start, pairs.ad_start)
        augment_day = (
            pairs.filter(overlap >= trd.augmentation_min_overlap_days)
            .group_by("pkey").agg(augment_day=ibis._.era_start.min())
        )
        steps = steps.left_join(augment_day, "pkey").drop("pkey_right")
    else:
        steps = steps.mutate(augment_day=ibis.null("int64"))
    trd_day = ibis.least(steps.switch_day, steps.augment_day)
    # LEAST ignores NULL on DuckDB/PostgreSQL/Spark, but say it explicitly for any backend.
    trd_day = ibis.ifelse(steps.switch_day.isnull(), steps.augment_day,
                          ibis.ifelse(steps.augment_day.isnull(), steps.switch_day, trd_day))
    steps = steps.select("pkey", "t2_day", trd_day=trd_day, augment_day=steps.augment_day)
    return per_patient.select("pkey", "n_adequate_trials").left_join(steps, "pkey").drop("pkey_right")


def resistance_level(trd: ibis.Value, n_antidepressants: ibis.Value, in_cohort: ibis.Value) -> ibis.Value:
    """`MDD` for cohort non-TRD; `2`, `3`, `4+` antidepressants in the current episode for TRD."""
    # With failed_trials = 1 a TRD patient can have one antidepressant: the level is then "1".
    level = ibis.ifelse(n_antidepressants >= 4, "4+", n_antidepressants.cast("string"))
    return ibis.ifelse(in_cohort, ibis.ifelse(trd, level, "MDD"), ibis.null("string"))
