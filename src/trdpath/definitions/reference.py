"""The reference implementation of every definition: plain Python, one patient at a time.

Like trdpath.in_memory for the Maudsley rule, this module *defines* what a definition file means,
in code written to be read rather than to be fast; the tests check the engine (definitions/engine.py,
Ibis on DuckDB, PostgreSQL and Spark) against it. Never run it on a real extract.

Shared with trdpath.in_memory: the drug dictionary, exposures and the era merge (study-definition.md 3.1-3.3),
and the cohort (the population of every definition, narrowed by its ages).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field

import pandas as pd

from trdpath.config import StudyConfig
from trdpath.definitions.model import Definition
from trdpath.definitions.params import (Resolved, duration_points, esm_stage, failure_points, format_score,
                                        resolve, thase_rush_stage)
from trdpath import in_memory as im
from trdpath.reference import ReferenceData



@dataclass
class Verdict:
    trd: bool | None = None  # None = outside the definition's population
    date: dt.date | None = None
    stage: str | None = None
    why: list[tuple] = field(default_factory=list)  # (drug, start, end, counted, reason)


@dataclass
class _Trial:
    ingredient: im.Ingredient
    start: dt.date
    end: dt.date
    adequacy: dt.date


def _exposures(tables, config: StudyConfig, index_date: dt.date) -> dict[str, list[im.Exposure]]:
    """study-definition.md 3.1-3.2, exactly as trdpath.in_memory.classify_in_memory builds them."""
    drugs = im._reference_lists(config.reference).drugs
    out: dict[str, list[im.Exposure]] = {}
    for row in im._rows(tables, "prescriptions"):
        start = im._as_date(row.get("start_date"))
        if start is None or start > index_date:
            continue
        ingredient = drugs.ingredient(im._as_text(row.get("drug")), im._as_text(row.get("atc_code")))
        if ingredient is None:
            continue
        end = im._as_date(row.get("end_date"))
        if end is None:
            supply = im._as_number(row.get("days_supply"))
            end = start + dt.timedelta(days=int(supply if supply is not None else config.treatment.default_exposure_days))
        dose = im._as_number(row.get("daily_dose_mg"))
        adequate = (config.treatment.unknown_dose == "adequate") if dose is None else (
            ingredient.min_daily_dose_mg is not None and dose >= ingredient.min_daily_dose_mg)
        out.setdefault(im._as_text(row["patient_id"]), []).append(
            im.Exposure(ingredient, start, min(end, index_date), adequate))
    return out


def _first_depression(tables, index_date: dt.date) -> dict[str, dt.date]:
    """The first F32/F33 diagnosis date up to the index date, per patient."""
    first: dict[str, dt.date] = {}
    for row in im._rows(tables, "diagnoses"):
        date, code = im._as_date(row.get("date")), im._as_text(row.get("code"))
        if code is None or date is None or date > index_date:
            continue
        if im.normalise_icd10(code)[:3] in ("F32", "F33"):
            pid = im._as_text(row["patient_id"])
            first[pid] = min(date, first.get(pid, date))
    return first


def _episode_start(ad_eras: list[im.Era], gap: int) -> dt.date | None:
    """study-definition.md 3.5 with the definition's gap."""
    start = latest = None
    for era in sorted(ad_eras, key=lambda e: (e.start, e.end)):
        if latest is None or era.start > latest + dt.timedelta(days=gap):
            start = era.start
        latest = era.end if latest is None else max(latest, era.end)
    return start


def evaluate_patient(exposures: list[im.Exposure], r: Resolved, config: StudyConfig, index_date: dt.date,
                     first_dx: dt.date | None, classes: dict[str, str]) -> Verdict:
    d = r.definition
    gap = config.treatment.era_gap_days
    by_ing: dict[im.Ingredient, list[im.Exposure]] = {}
    for e in exposures:
        by_ing.setdefault(e.ingredient, []).append(e)
    eras = {ing: im.merge_into_eras(x, gap) for ing, x in by_ing.items()}
    ad_eras = [e for ing, es in eras.items() if ing.is_antidepressant for e in es]
    aug_eras = [e for ing, es in eras.items() if not ing.is_antidepressant for e in es]
    verdict = Verdict(trd=False)

    # The window of the grouping: [lo, hi] (None = open).
    lo = hi = None
    if r.grouping == "current_episode":
        lo = _episode_start(ad_eras, r.episode_gap_days)
        if lo is None:
            return verdict
    elif r.grouping == "after_first_diagnosis":
        if first_dx is None:
            return verdict
        lo, hi = first_dx, first_dx + dt.timedelta(days=r.window_days)

    def inside(day: dt.date) -> bool:
        return (lo is None or day >= lo) and (hi is None or day <= hi)

    # Trials: per antidepressant, its first qualifying era (dose rule, >= min_days) starting in the window.
    trials: dict[im.Ingredient, _Trial] = {}
    for ing, xs in by_ing.items():
        if not ing.is_antidepressant:
            continue
        candidates = im.merge_into_eras([x for x in xs if x.adequate_dose], gap) if r.dose == "adequate" else eras[ing]
        for c in candidates:
            if c.length_days >= r.min_days and inside(c.start):
                t = _Trial(ing, c.start, c.end, c.start + dt.timedelta(days=r.min_days))
                if ing not in trials or t.adequacy < trials[ing].adequacy:
                    trials[ing] = t
    ordered = sorted(trials.values(), key=lambda t: (t.adequacy, t.ingredient.name))
    ad_in = [e for e in ad_eras if inside(e.start)]
    agents = [e for e in aug_eras if r.agents is None or e.ingredient.name in r.agents]

    def augmentations(after: dt.date | None) -> list[im.Era]:
        """Augmenting eras in the window, after `after`, overlapping any antidepressant era (study-definition.md 4)."""
        if not r.augmentation:
            return []
        return [a for a in agents if inside(a.start) and (after is None or a.start > after)
                and any(im.overlap_days(a, ad) >= r.min_overlap_days for ad in ad_eras)]

    event = d.event
    counted: dict[str, str] = {}  # ingredient name -> reason it counts
    date = None
    step_drug = None
    if event.kind in ("next_step", "failures"):
        n = r.failures
        class_day = None
        if event.min_classes > 1:
            first_by_class: dict[str, dt.date] = {}
            for t in ordered:
                c = classes.get(t.ingredient.name, t.ingredient.name)
                first_by_class.setdefault(c, t.adequacy)
            days = sorted(first_by_class.values())
            class_day = days[event.min_classes - 1] if len(days) >= event.min_classes else None
        if len(ordered) >= n and (event.min_classes == 1 or class_day is not None):
            t_n = max(ordered[n - 1].adequacy, class_day or ordered[n - 1].adequacy)
            failed = ordered[:n] if event.min_classes == 1 else [t for t in ordered if t.adequacy <= t_n]
            for k, t in enumerate(failed, start=1):
                counted[t.ingredient.name] = f"failed trial {k}"
            if event.kind == "failures":
                date = t_n
            else:
                failed_names = {t.ingredient.name for t in failed}
                switches = [e for e in ad_in if e.ingredient.name not in failed_names and e.start > t_n]
                augs = augmentations(t_n)
                steps = sorted([(e.start, e.ingredient.name, "switch") for e in switches]
                               + [(a.start, a.ingredient.name, "augmentation") for a in augs])
                if steps:
                    date, step_drug, how = steps[0]
                    counted[step_drug] = f"next step ({how}) after the failed trials"
            if date is not None and event.within_days is not None:
                if date > ordered[0].start + dt.timedelta(days=event.within_days):
                    date = None
    elif event.kind == "distinct_drugs":
        k, back = event.distinct_drugs, dt.timedelta(days=event.lookback_days)
        candidates = []
        for e in ad_eras:
            recent = [x for x in ad_eras if x.end >= e.start - back]
            on_or_before = {x.ingredient.name for x in recent if x.start <= e.start}
            before = {x.ingredient.name for x in recent if x.start < e.start}
            if len(on_or_before) >= k and len(before) >= k - 1:
                candidates.append(e.start)
        wanted = {a.strip().lower() for a in event.antipsychotic_agents}
        for a in aug_eras:
            if a.ingredient.name in wanted and any(x.start <= a.start and x.end >= a.start - back for x in ad_eras):
                candidates.append(a.start)
            if event.esketamine_after and a.ingredient.name == "esketamine":
                if len({x.ingredient.name for x in ad_eras if x.start < a.start}) >= event.esketamine_after:
                    candidates.append(a.start)
        date = min(candidates) if candidates else None
        if date is not None:
            for e in ad_eras:
                if e.start <= date:
                    counted[e.ingredient.name] = "antidepressant era on or before the index event"
    elif event.kind == "score":
        s = d.score
        augs = augmentations(None)
        first_aug: dict[str, dt.date] = {}
        for a in augs:
            first_aug[a.ingredient.name] = min(a.start, first_aug.get(a.ingredient.name, a.start))
        for k, t in enumerate(ordered, start=1):
            counted[t.ingredient.name] = f"failed trial {k}"
        for name in first_aug:
            counted[name] = "augmentation"
        if s.kind == "mgh_s":
            events = sorted([(t.adequacy, s.per_trial) for t in ordered] + [(day, s.per_augmentation) for day in first_aug.values()])
            # the first day whose cumulative total (all events of that day added) reaches the threshold
            total, date = 0.0, None
            for day in sorted({e[0] for e in events}):
                total += sum(p for e_day, p in events if e_day == day)
                if date is None and total >= s.threshold:
                    date = day
            score = total
        else:  # msm: at the index date
            duration = (index_date - lo).days if lo is not None else 0
            score = (failure_points(len(ordered), s.failure_bands) + duration_points(duration, s.duration_bands_months)
                     + (s.augmentation_points if first_aug else 0))
            date = index_date if score >= s.threshold else None
        if d.stage.kind == "score":
            verdict.stage = format_score(score)

    verdict.trd = date is not None
    verdict.date = date
    if d.stage.kind == "resistance_level":
        n_ad = len({e.ingredient.name for e in ad_in})
        verdict.stage = ("4+" if n_ad >= 4 else str(n_ad)) if verdict.trd else "MDD"
    elif d.stage.kind == "thase_rush":
        verdict.stage = thase_rush_stage({classes.get(t.ingredient.name, t.ingredient.name) for t in ordered})
    elif d.stage.kind == "esm":
        if verdict.trd:
            span = max(e.end for e in ad_in) - ordered[0].start if ordered and ad_in else dt.timedelta(0)
            verdict.stage = esm_stage(span.days, d.stage.bands_weeks)
        else:
            verdict.stage = None

    # The why trace: each antidepressant (and counted augmenting agent) with an era in the window.
    first_era: dict[str, im.Era] = {}
    for e in sorted(ad_in + [a for a in agents if inside(a.start)], key=lambda e: (e.start, e.end)):
        first_era.setdefault(e.ingredient.name, e)
    trial_names = {t.ingredient.name for t in ordered}
    for name, e in sorted(first_era.items(), key=lambda kv: (kv[1].start, kv[0])):
        if name in counted:
            verdict.why.append((name, e.start, e.end, True, counted[name]))
        elif not e.ingredient.is_antidepressant:
            verdict.why.append((name, e.start, e.end, False, "augmenting agent not counted"))
        elif name in trial_names:
            verdict.why.append((name, e.start, e.end, False, "trial not counted by this definition"))
        else:
            verdict.why.append((name, e.start, e.end, False, f"not a trial: no era of {r.min_days}+ days at "
                                f"{'an adequate' if r.dose == 'adequate' else 'any'} dose"))
    return verdict


def evaluate_in_memory(tables: Mapping[str, pd.DataFrame], definitions: list[Definition],
                       config: StudyConfig | None = None, index_date: dt.date | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(patients, why) for raw tables: the interface columns of patients.csv and why.csv."""
    config = config or StudyConfig()
    index_date = index_date or config.study.index_date or im.default_index_date(tables) or dt.date.today()
    cohort = im.classify_in_memory(tables, config, index_date)
    exposures = _exposures(tables, config, index_date)
    first_dx = _first_depression(tables, index_date)
    classes = {row["ingredient"].strip().lower(): row["class"]
               for row in ReferenceData(config).antidepressants.to_dict("records")}
    resolved = [resolve(d, config) for d in definitions]
    rows, why = [], []
    for person in cohort.to_dict("records"):
        pid = person["patient_id"]
        row = {"patient_id": pid}
        for r in resolved:
            age = None if pd.isna(person["age"]) else person["age"]
            # The cohort already applied the study's minimum age; a definition's own ages narrow it
            # (an unknown age stays in, as in the cohort).
            inside = bool(person["in_cohort"]) and (age is None or (
                (r.min_age is None or age >= r.min_age) and (r.max_age is None or age <= r.max_age)))
            if inside:
                v = evaluate_patient(exposures.get(pid, []), r, config, index_date, first_dx.get(pid), classes)
                for drug, start, end, counted, reason in v.why:
                    why.append((pid, r.id, drug, start, end, counted, reason))
            else:
                v = Verdict()
            row[f"{r.id}__trd"] = v.trd
            row[f"{r.id}__date"] = v.date
            if r.definition.has_stage:
                row[f"{r.id}__stage"] = v.stage if inside else None
        rows.append(row)
    columns = ["patient_id"] + [c for r in resolved for c in (
        [f"{r.id}__trd", f"{r.id}__date"] + ([f"{r.id}__stage"] if r.definition.has_stage else []))]
    return (pd.DataFrame(rows, columns=columns),
            pd.DataFrame(why, columns=["patient_id", "definition", "drug", "start_date", "end_date", "counted", "reason"]))
