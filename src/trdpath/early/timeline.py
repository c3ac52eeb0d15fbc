"""Each patient's pathway as dated events, computed once, from which the stage on any date follows.

The classification (trdpath.pipeline) answers for one index date. The early-identification
worklist and its backtest need the answer on many dates; running the pipeline once per date would
repeat its costliest work (the sorted window passes over every exposure). Instead the exposures are
built once, up to the latest date asked for, with the same stage functions (build_exposures,
number_eras), and every event the rules look at is given the first day on which it is *known*:

- exposures clipped at D merge into the same eras as exposures clipped at any later date, for the
  exposures that start by D (an exposure starting on or before D is merged with an earlier one
  exactly when the earlier end, clipped at D or not, plus the gap reaches it). So eras, adequate-dose
  eras and episodes as of D are the later ones cut at D: their starts never move.
- an adequate trial (adequate-dose era lasting >= min_trial_days) is known from the first day D on
  which its end, as of D, reaches its adequacy date: max(adequacy date, start of the first of its
  exposures that ends on or after the adequacy date).
- an augmentation step (augmenting era overlapping an antidepressant era by >= N days) likewise.
- an episode opens at an antidepressant exposure that starts more than episode_gap_days after every
  earlier antidepressant exposure ended; with episode_gap_days >= era_gap_days this is the same as
  the rule on eras (study-definition.md 3.5), and an exposure-level opening never moves as D grows.

`status_at` then evaluates the TRD rule (study-definition.md 4, as trdpath.classify.trd_steps) on each
as-of date from these events, inside the engine: a cross join of the few events per patient with the
dates and aggregates, no window over the exposures. tests/early check that the result equals
`classify --index-date D` on every backend, and with Hypothesis on random histories.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import ibis
import pandas as pd

from trdpath.classify import resistance_level
from trdpath.cohort.code_lists import code_map
from trdpath.cohort.demographics import completed_years
from trdpath.config import StudyConfig
from trdpath.errors import UserError
from trdpath.cohort.exclusions import EXCLUSION_LISTS
from trdpath.reference import ReferenceData
from trdpath.treatment.drug_names import ANTIDEPRESSANT, AUGMENTING, DrugDictionary
from trdpath.treatment.eras import number_eras
from trdpath.treatment.exposures import build_exposures, drug_map

EPOCH = dt.date(1970, 1, 1)
WINDOW_KEYS = ["pkey", "ingredient_id"]


def day_number(date: dt.date) -> int:
    return (date - EPOCH).days


@dataclass
class Timeline:
    """The dated events of every patient, up to `last_date` (Ibis tables, cached in the engine)."""

    con: object
    config: StudyConfig
    last_date: dt.date
    patients: ibis.Table      # pkey, patient_id, birth_date, death_date, + diagnosis days
    exposures: ibis.Table     # pkey, ingredient_id, role, start, end, adequate_dose, era
    eras: ibis.Table          # pkey, ingredient_id, role, era, era_start
    trials: ibis.Table        # pkey, ingredient_id, era_start, adequacy_day, known_day
    episode_opens: ibis.Table  # pkey, open_day
    augments: ibis.Table      # pkey, aug_start, known_day
    ingredients: pd.DataFrame  # ingredient_id, ingredient, role, min_daily_dose_mg
    mapping: ibis.Table       # drug_key, atc_key -> ingredient_id, role, min_daily_dose_mg


def build_timeline(con, extract, config: StudyConfig, last_date: dt.date) -> Timeline:
    """Everything the as-of stages need, computed once for all dates up to `last_date`."""
    treatment = config.treatment
    if treatment.episode_gap_days < treatment.era_gap_days:
        # Below that, an era bridging a gap longer than the episode gap can make an episode start
        # move as later prescriptions arrive, so the stage on D is not a cut of the later history.
        raise UserError(f"The worklist needs treatment.episode_gap_days ({treatment.episode_gap_days}) >= "
                        f"treatment.era_gap_days ({treatment.era_gap_days}); use classify --index-date instead.")
    reference = ReferenceData(config)
    last_day = day_number(last_date)
    drugs = DrugDictionary(reference)
    ingredient_table = drugs.ingredient_table()
    mapping = drug_map(con, extract.prescriptions, drugs).dropna(subset=["ingredient"]).merge(
        ingredient_table[["ingredient", "ingredient_id", "role", "min_daily_dose_mg"]], on="ingredient")
    mapping_t = ibis.memtable(mapping[["drug_key", "atc_key", "ingredient_id", "role", "min_daily_dose_mg"]],
                              schema={"drug_key": "string", "atc_key": "string", "ingredient_id": "int64",
                                      "role": "string", "min_daily_dose_mg": "float64"})
    keyed = extract.patients.mutate(pkey=ibis.row_number().cast("int32")).cache()
    exposures = build_exposures(extract.prescriptions, keyed.select("patient_id", "pkey"), mapping_t, last_day, treatment)
    roles = ibis.memtable(ingredient_table[["ingredient_id", "role"]].astype({"ingredient_id": "int64"}))
    # The same numbering as the pipeline's era_segments: one sort for eras and adequate-dose eras.
    numbered = number_eras(exposures, WINDOW_KEYS, treatment.era_gap_days, {"era": None, "adequate_era": "adequate_dose"})
    numbered = numbered.join(roles, numbered.ingredient_id.cast("int64") == roles.ingredient_id).drop("ingredient_id_right")
    numbered = numbered.mutate(ingredient_id=numbered.ingredient_id.cast("int64"), start=numbered.start.cast("int64"),
                               end=numbered.end.cast("int64")).cache()

    era_keys = [*WINDOW_KEYS, "era"]
    eras = numbered.group_by([*era_keys, "role"]).agg(era_start=numbered.start.min()).cache()

    # Adequate trials: adequate-dose eras, their adequacy date, and the day it became known.
    adequate = numbered.filter(numbered.adequate_era.notnull())
    adequate_eras = adequate.group_by([*era_keys, "adequate_era"]).agg(adequate_start=adequate.start.min())
    adequate_eras = adequate_eras.mutate(adequacy_day=adequate_eras.adequate_start + treatment.min_trial_days)
    reach = adequate.join(adequate_eras, [*era_keys, "adequate_era"])
    reach = reach.filter(reach.end >= reach.adequacy_day)
    trials = reach.group_by([*era_keys, "adequacy_day"]).agg(first_reaching=reach.start.min())
    trials = trials.join(eras, era_keys).select(
        "pkey", "ingredient_id", "era_start", "adequacy_day",
        known_day=ibis.greatest(trials.adequacy_day, trials.first_reaching)).cache()

    # Episode openings, on antidepressant exposures (see the module docstring).
    ad = numbered.filter(numbered.role == ANTIDEPRESSANT)
    earlier = ibis.window(group_by="pkey", order_by=[ad.start], rows=(None, -1))
    latest_end_before = ad.end.max().over(earlier)
    opens = ad.select("pkey", "start", _opens=latest_end_before.isnull() | (ad.start > latest_end_before + treatment.episode_gap_days))
    episode_opens = opens.filter(opens._opens).select("pkey", open_day=opens.start).distinct().cache()

    augments = _augment_events(numbered, eras, config)

    lists = ["depression", *EXCLUSION_LISTS]
    last_lit = ibis.literal(last_date, "date")
    codes = code_map(con, extract.diagnoses, reference, lists, last_lit)
    relevant = codes[codes[lists].any(axis=1)][["code_key", *lists]]
    lookup = ibis.memtable(relevant, schema={"code_key": "string", **{name: "boolean" for name in lists}})
    dx = extract.diagnoses.filter(extract.diagnoses.date <= last_lit)
    dx = dx.mutate(code_key=dx.code.fill_null("")).join(lookup, "code_key")
    excluded = ibis.or_(*[dx[name] for name in EXCLUSION_LISTS])
    days = dx.date.epoch_days().cast("int64")
    dx_days = dx.group_by("patient_id").agg(first_depression_day=days.min(where=dx.depression),
                                            first_exclusion_day=days.min(where=excluded))
    patients = keyed.select("pkey", "patient_id", "birth_date", "death_date", "sex")
    patients = patients.left_join(dx_days, "patient_id").drop("patient_id_right").cache()
    return Timeline(con, config, last_date, patients, numbered, eras, trials, episode_opens, augments,
                    ingredient_table, mapping_t)


def _augment_events(numbered: ibis.Table, eras: ibis.Table, config: StudyConfig) -> ibis.Table:
    """pkey, aug_start, known_day: each augmenting era with the first day on which it overlaps some
    antidepressant era by >= augmentation_min_overlap_days (study-definition.md 4, as classify.trd_steps)."""
    n = config.trd.augmentation_min_overlap_days
    aug = eras.filter(eras.role == AUGMENTING).select("pkey", aug_ingredient="ingredient_id", aug_era="era", aug_start="era_start")
    ad = eras.filter(eras.role == ANTIDEPRESSANT).select("pkey", ad_ingredient="ingredient_id", ad_era="era", ad_start="era_start")
    pairs = aug.join(ad, "pkey")
    pairs = pairs.mutate(k=ibis.greatest(pairs.aug_start, pairs.ad_start) + n)
    # The first day each side's end, as of that day, reaches k (see reach in build_timeline).
    sides = []
    for side in ("aug", "ad"):
        x = numbered.select("pkey", **{f"{side}_ingredient": "ingredient_id", f"{side}_era": "era",
                                       "x_start": "start", "x_end": "end"})
        hit = pairs.join(x, ["pkey", f"{side}_ingredient", f"{side}_era"])
        hit = hit.filter(hit.x_end >= hit.k)
        sides.append(hit.group_by(["pkey", "aug_ingredient", "aug_era", "ad_ingredient", "ad_era", "aug_start", "k"])
                     .agg(**{f"{side}_day": hit.x_start.min()}))
    both = sides[0].join(sides[1], ["pkey", "aug_ingredient", "aug_era", "ad_ingredient", "ad_era", "aug_start", "k"])
    known = ibis.greatest(both.k, both.aug_day, both.ad_day)
    return both.group_by(["pkey", "aug_start"]).agg(known_day=known.min()).cache()


def dates_table(dates: list[dt.date]) -> ibis.Table:
    frame = pd.DataFrame({"as_of": [day_number(d) for d in dates], "as_of_date": list(dates)})
    return ibis.memtable(frame, schema={"as_of": "int64", "as_of_date": "date"})


def status_at(t: Timeline, dates: list[dt.date] | None, treated_only: bool = False,
              patient_dates: ibis.Table | None = None) -> ibis.Table:
    """One row per (as_of, pkey) for every patient: as_of, pkey, patient_id, in_cohort,
    episode_start, n_antidepressants, n_adequate_trials, t1_day, t2_day, trd_day, augment_day,
    trd, resistance_level, stage ('0', '1', ... failed trials short of the rule, or 'TRD').
    `treated_only`: only (date, patient) pairs with an episode by the date (the others are never in
    the cohort): the backtest's grid then grows with the treated patients, not the whole extract.
    `patient_dates` (pkey, as_of, as_of_date): each patient's own as-of dates instead of `dates`
    (implies treated_only; the backtest's change dates)."""
    failed = t.config.trd.failed_trials
    if patient_dates is not None:
        when, treated_only = patient_dates, True
        ep = t.episode_opens.join(when, "pkey")
    else:
        if max(dates) > t.last_date:
            raise ValueError("an as-of date after the timeline's last date")
        when = dates_table(dates)
        ep = t.episode_opens.cross_join(when)
    # Cached: each intermediate used more than once would otherwise be computed once per use.
    ep = ep.filter(ep.open_day <= ep.as_of).group_by(["as_of", "pkey"]).agg(episode_start=ibis._.open_day.max()).cache()

    eras = t.eras.join(ep, "pkey")
    eras_now = eras.filter((eras.era_start >= eras.episode_start) & (eras.era_start <= eras.as_of)
                           & (eras.role == ANTIDEPRESSANT)).cache()
    n_ad = eras_now.group_by(["as_of", "pkey"]).agg(
        n_antidepressants=ibis._.ingredient_id.nunique())

    tr = t.trials.join(ep, "pkey")
    tr = tr.filter((tr.era_start >= tr.episode_start) & (tr.known_day <= tr.as_of))
    per_drug = tr.group_by(["as_of", "pkey", "ingredient_id"]).agg(adequacy_day=tr.adequacy_day.min())
    order = ibis.window(group_by=["as_of", "pkey"], order_by=[per_drug.adequacy_day, per_drug.ingredient_id])
    ranked = per_drug.mutate(trial_rank=ibis.row_number().over(order)).cache()
    trials = ranked.group_by(["as_of", "pkey"]).agg(
        n_adequate_trials=ranked.count(),
        t1_day=ranked.adequacy_day.min(),
        t2_day=ranked.adequacy_day.max(where=ranked.trial_rank == failed - 1))
    trials = trials.cache()
    with_t2 = trials.filter(trials.t2_day.notnull()).select("as_of", "pkey", "t2_day")
    failed_drugs = ranked.filter(ranked.trial_rank < failed).select("as_of", "pkey", "ingredient_id")

    # Only (date, patient) pairs past T2 can have a step: narrow to them before the anti join.
    other = eras_now.join(with_t2, ["as_of", "pkey"])
    other = other.filter(other.era_start > other.t2_day).anti_join(failed_drugs, ["as_of", "pkey", "ingredient_id"])
    switch = other.group_by(["as_of", "pkey"]).agg(switch_day=ibis._.era_start.min())
    steps = with_t2.left_join(switch, ["as_of", "pkey"]).drop("as_of_right", "pkey_right")
    if t.config.trd.augmentation_counts:
        aug = t.augments.join(with_t2, "pkey")
        aug = aug.filter((aug.aug_start > aug.t2_day) & (aug.known_day <= aug.as_of))
        aug = aug.group_by(["as_of", "pkey"]).agg(augment_day=ibis._.aug_start.min())
        steps = steps.left_join(aug, ["as_of", "pkey"]).drop("as_of_right", "pkey_right")
    else:
        steps = steps.mutate(augment_day=ibis.null("int64"))
    trd_day = ibis.ifelse(steps.switch_day.isnull(), steps.augment_day,
                          ibis.ifelse(steps.augment_day.isnull(), steps.switch_day,
                                      ibis.least(steps.switch_day, steps.augment_day)))
    steps = steps.select("as_of", "pkey", trd_day=trd_day, augment_day=steps.augment_day)
    # One table per (date, patient) with a trial: one join into the patients below instead of three.
    trials = trials.left_join(steps, ["as_of", "pkey"]).drop("as_of_right", "pkey_right")

    if patient_dates is not None:
        p = t.patients.join(ep.join(when, ["pkey", "as_of"]), "pkey")
    elif treated_only:
        p = t.patients.join(ep.join(when, "as_of"), "pkey")
    else:
        p = t.patients.cross_join(when)
    for table in ((n_ad,) if treated_only else (ep, n_ad)) + (trials,):
        p = p.left_join(table, ["as_of", "pkey"]).drop("as_of_right", "pkey_right")
    age = completed_years(p.birth_date, p.as_of_date)
    in_cohort = ((p.first_depression_day.notnull() & (p.first_depression_day <= p.as_of))
                 & ~(age.notnull() & (age < t.config.cohort.min_age))
                 & ~(p.first_exclusion_day.notnull() & (p.first_exclusion_day <= p.as_of))
                 & p.episode_start.notnull())
    trd = in_cohort & p.trd_day.notnull()
    n_trials = p.n_adequate_trials.fill_null(0)
    n_antidepressants = p.n_antidepressants.fill_null(0)
    stage = ibis.ifelse(trd, "TRD", ibis.ifelse(n_trials >= failed, str(failed), n_trials.cast("string")))
    return p.select(
        "as_of", "as_of_date", "pkey", "patient_id", in_cohort=in_cohort,
        alive=p.death_date.isnull() | (p.death_date > p.as_of_date),
        episode_start=p.episode_start, n_antidepressants=n_antidepressants, n_adequate_trials=n_trials,
        t1_day=p.t1_day, t2_day=p.t2_day,
        trd=trd, trd_day=ibis.ifelse(trd, p.trd_day, ibis.null("int64")),
        augment_day=ibis.ifelse(trd, p.augment_day, ibis.null("int64")),
        resistance_level=resistance_level(trd, n_antidepressants, in_cohort),
        stage=ibis.ifelse(in_cohort, stage, ibis.null("string")),
    )
