"""The worklist as of a date: who is where on the pathway, what is current, what is next, and why.

Computed in the engine from the timeline (timeline.py); the engine's parts (patients, current drugs,
trials) are written as rows with their reasons by one DuckDB statement (assemble.py).
"""

from __future__ import annotations

import csv
import datetime as dt
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import ibis
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from trdpath.early.assemble import WORKLIST_COLUMNS  # re-exported: the columns live with the SQL that writes them
from trdpath.early.timeline import EPOCH, Timeline, day_number, status_at
from trdpath.errors import UserError
from trdpath.treatment.drug_names import ANTIDEPRESSANT, AUGMENTING

RULES_FILE = "next_steps.csv"
RULE_COLUMNS = ("order", "when", "priority", "next_step", "source")
FLAG_TERMS = ("inertia", "subtherapeutic", "no_recent_contact", "augmented")



class WorklistSettings(BaseModel):
    """Thresholds of the worklist (docs/early-identification.md)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    # In current care: an antidepressant exposure within this many days before the as-of date, or a contact.
    care_window_days: int = Field(183, ge=0)
    # Treatment inertia: this many days or more since the last adequacy date with no change recorded.
    inertia_days: int = Field(56, ge=0)
    # No recent contact: the last referral is older than this (or there is none).
    contact_gap_days: int = Field(183, ge=0)


@dataclass(frozen=True)
class Rule:
    order: int
    stage: str | None
    flags: tuple[str, ...]
    priority: int
    next_step: str
    source: str


@dataclass
class RuleTable:
    rules: list[Rule]
    path: str = "(shipped next_steps.csv)"
    terms: tuple[str, ...] = field(default=FLAG_TERMS)


def load_rules(path: Path | None = None) -> RuleTable:
    """The next-step rule table: rows tried in `order`, the first whose `when` holds gives the step.

    `when` is terms joined with `&`: `stage=V` (V = 0, 1, 2 ... or TRD) and the flags inertia,
    subtherapeutic, no_recent_contact, augmented; a bad row stops with the file, row and value.
    """
    name = str(path) if path else f"(shipped) {RULES_FILE}"
    try:
        text = (Path(path).read_text(encoding="utf-8") if path
                else resources.files("trdpath.early").joinpath(RULES_FILE).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserError(f"--rules {name}: no such file.") from None
    except IsADirectoryError:
        raise UserError(f"--rules {name} is a folder: give the rule table's CSV file.") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"Next-step rule table {name} cannot be read as UTF-8 text: {exc.__class__.__name__}.") from None
    reader = csv.DictReader(text.splitlines())
    missing = [c for c in RULE_COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        raise UserError(f"{name}: the next-step rule table lacks the column(s) {', '.join(missing)}.")
    rules = []
    for row_number, row in enumerate(reader, start=2):
        stage, flags = None, []
        for term in (row["when"] or "").split("&"):
            term = term.strip()
            if term.startswith("stage="):
                stage = term.removeprefix("stage=").strip()
                if stage != "TRD" and not stage.isdigit():
                    raise UserError(f"{name}, row {row_number}, column when: stage must be a number or TRD (got {term!r}).")
            elif term in FLAG_TERMS:
                flags.append(term)
            elif term and term != "any":
                raise UserError(f"{name}, row {row_number}, column when: unknown term {term!r} "
                                f"(use stage=V, {', '.join(FLAG_TERMS)}).")
        try:
            order, priority = int(row["order"]), int(row["priority"])
        except (TypeError, ValueError):
            raise UserError(f"{name}, row {row_number}: order and priority must be whole numbers "
                            f"(got {row['order']!r}, {row['priority']!r}).") from None
        if not (row["next_step"] or "").strip() or not (row["source"] or "").strip():
            raise UserError(f"{name}, row {row_number}: every rule needs a next_step and its source.")
        rules.append(Rule(order, stage, tuple(flags), priority, row["next_step"].strip(), row["source"].strip()))
    if not rules:
        raise UserError(f"{name}: the next-step rule table has no rules.")
    return RuleTable(sorted(rules, key=lambda r: r.order), name)


def _date_of(days: pd.Series) -> pd.Series:
    """Days since 1970-01-01 (nullable) -> datetime.date or None."""
    out = pd.to_datetime(pd.to_numeric(days, errors="coerce"), unit="D", origin="unix")
    return out.dt.date.astype(object).where(out.notna(), None)


def dose_events(t: Timeline, extract) -> ibis.Table:
    """pkey, ingredient_id, start, dose_mg, min_dose_mg: the recorded daily dose of each prescription
    start (highest if several start that day), for the dose of each current drug's latest prescription."""
    rx = extract.prescriptions.mutate(drug_key=extract.prescriptions.drug.fill_null(""),
                                      atc_key=extract.prescriptions.atc_code.fill_null(""),
                                      start=extract.prescriptions.start_date.epoch_days().cast("int64"))
    rx = rx.join(t.patients.select("pkey", "patient_id"), "patient_id").join(t.mapping, ["drug_key", "atc_key"])
    rx = rx.mutate(ingredient_id=rx.ingredient_id.cast("int64"))
    return rx.group_by(["pkey", "ingredient_id", "start"]).agg(
        dose_mg=rx.daily_dose_mg.max(), min_dose_mg=rx.min_daily_dose_mg.max())


def contacts_as_of(extract, as_of: dt.date) -> ibis.Table | None:
    """patient_id, last_contact_day, team, service_category: each patient's latest referral dated by
    `as_of` (its service and category; the first by name if several that day). None without referrals."""
    if extract.referrals is None:
        return None
    r = extract.referrals.filter(extract.referrals.date <= ibis.literal(as_of, "date"))
    r = r.mutate(day=r.date.epoch_days().cast("int64"))
    last = r.group_by("patient_id").agg(last_contact_day=r.day.max())
    team = r.join(last, "patient_id")
    return team.filter(team.day == team.last_contact_day).group_by(["patient_id", "last_contact_day"]).agg(
        team=team.service.min(), service_category=team.service_category.min())


def worklist_frame(t: Timeline, extract, as_of: dt.date, rules: RuleTable,
                   settings: WorklistSettings | None = None) -> pd.DataFrame:
    """One row per patient in current care on `as_of` (the columns of WORKLIST_COLUMNS)."""
    return worklist_from(t, dose_events(t, extract), contacts_as_of(extract, as_of), as_of, rules, settings)


def worklist_parts(t: Timeline, doses: ibis.Table, contacts: ibis.Table | None, as_of: dt.date):
    """(patients, drugs, trials) as Ibis tables: what the engine gives _assemble for `as_of`."""
    treatment = t.config.treatment
    d = day_number(as_of)
    status = status_at(t, [as_of])
    status = status.filter(status.in_cohort & status.alive)

    x = t.exposures.filter(t.exposures.start <= d)
    # Current drugs: an exposure reaching within the era gap of the date (its era is still open).
    current = x.filter(x.end >= d - treatment.era_gap_days).group_by(["pkey", "ingredient_id", "role"]).agg(
        era=ibis._.era.max(), last_start=ibis._.start.max())
    latest = x.join(current, ["pkey", "ingredient_id", "role"])
    latest = latest.filter(latest.start == latest.last_start).group_by(["pkey", "ingredient_id"]).agg(
        adequate_now=latest.adequate_dose.max())
    current = current.join(latest, ["pkey", "ingredient_id"]).join(t.eras, ["pkey", "ingredient_id", "role", "era"])
    trials_now = t.trials.filter(t.trials.known_day <= d)
    current = current.left_join(
        trials_now.group_by(["pkey", "ingredient_id", "era_start"]).agg(era_adequacy_day=ibis._.adequacy_day.min()),
        ["pkey", "ingredient_id", "era_start"]).drop("pkey_right", "ingredient_id_right", "era_start_right")
    current = current.select("pkey", "ingredient_id", "role", "era_start", "last_start", "adequate_now", "era_adequacy_day")

    # The dose of the latest prescription of each current drug (highest if several start that day).
    dose = doses.join(current.select("pkey", "ingredient_id", "last_start"), ["pkey", "ingredient_id"])
    dose = dose.filter(dose.start == dose.last_start).select("pkey", "ingredient_id", "dose_mg", "min_dose_mg")
    current = current.left_join(dose, ["pkey", "ingredient_id"]).drop("pkey_right", "ingredient_id_right")

    # The last treatment change: the latest start of any era (a new drug or a restart) by the date.
    changes = t.eras.filter(t.eras.era_start <= d).group_by("pkey").agg(last_change_day=ibis._.era_start.max())

    cohort = status.select("pkey", "patient_id", "stage", "resistance_level", "episode_start", "trd_day", "n_adequate_trials",
                           "augment_day")
    cohort = cohort.left_join(changes, "pkey").drop("pkey_right")
    if contacts is not None:
        cohort = cohort.left_join(contacts, "patient_id").drop("patient_id_right")
    else:
        cohort = cohort.mutate(last_contact_day=ibis.null("int64"), team=ibis.null("string"),
                               service_category=ibis.null("string"))

    # Trials of the current episode (for the reasons), known by the date.
    ep = status.select("pkey", "episode_start")
    tr = trials_now.join(ep, "pkey")
    tr = tr.filter(tr.era_start >= tr.episode_start).group_by(["pkey", "ingredient_id"]).agg(adequacy_day=tr.adequacy_day.min())

    return cohort, current.join(status.select("pkey"), "pkey"), tr


def worklist_from(t: Timeline, doses: ibis.Table, contacts: ibis.Table | None, as_of: dt.date, rules: RuleTable,
                  settings: WorklistSettings | None = None) -> pd.DataFrame:
    """The worklist from a timeline, its dose events and the contacts as of `as_of` (dose_events,
    contacts_as_of); the incremental refresh (incremental.py) gives them from its kept state."""
    from trdpath.early.assemble import assemble_arrow
    from trdpath.engines import fetch_arrow

    patients, drugs, trials = (fetch_arrow(t.con, part) for part in worklist_parts(t, doses, contacts, as_of))
    return assemble_arrow(patients, drugs, trials, t.ingredients, as_of, rules, settings or WorklistSettings(), t.config)


def next_change(t: Timeline, as_of: dt.date) -> ibis.Table:
    """pkey, next_day: for records fixed as of `as_of`, the first later day on which worklist_parts
    could give another answer (a trial or augmentation becomes known, a drug stops being current,
    the minimum age is reached, death); until then only the day counts move, which _assemble
    computes from the date. Earlier than the true day is safe (the patient is recomputed)."""
    d, gap = day_number(as_of), t.config.treatment.era_gap_days
    x = t.exposures
    days = [t.trials.filter(t.trials.known_day > d).select("pkey", day=t.trials.known_day),
            t.augments.filter(t.augments.known_day > d).select("pkey", day=t.augments.known_day),
            x.filter(x.end + gap + 1 > d).select("pkey", day=x.end + gap + 1)]
    p = t.patients
    death = p.death_date.epoch_days().cast("int64")
    days.append(p.filter(death > d).select("pkey", day=death))
    # Date + years gives Feb 28 for a Feb 29 birthday: never after the day completed_years reaches it.
    birthday = (p.birth_date + ibis.interval(years=t.config.cohort.min_age)).epoch_days().cast("int64")
    days.append(p.filter(birthday > d).select("pkey", day=birthday))
    days = ibis.union(*[table.mutate(pkey=table.pkey.cast("int64"), day=table.day.cast("int64")) for table in days])
    return days.group_by("pkey").agg(next_day=days.day.min())


def _joined(frame: pd.DataFrame, column: str, sep: str) -> pd.Series:
    """The texts of each pkey joined with `sep`, in row order: a grouped sum of object strings runs in
    pandas' compiled loop (a Python join per group took ~30 s for 100k patients)."""
    if frame.empty:
        return pd.Series(dtype=object)
    text = frame[column].astype(object).astype(str) + sep
    return text.groupby(frame["pkey"], sort=True).sum().str[: -len(sep)]


def _assemble(patients: pd.DataFrame, drugs: pd.DataFrame, trials: pd.DataFrame, t: Timeline, as_of: dt.date,
              rules: RuleTable, settings: WorklistSettings) -> pd.DataFrame:
    """The rows in pandas: the second implementation of assemble.py's SQL, kept for the tests that
    compare the two (tests/early/test_assemble.py); production runs the SQL (~10x faster)."""
    d = day_number(as_of)
    window = t.config.treatment.min_trial_days
    names = dict(zip(t.ingredients["ingredient_id"].astype(int), t.ingredients["ingredient"]))
    drugs = drugs.copy()
    drugs["name"] = drugs["ingredient_id"].astype(int).map(names)
    for col in ("era_start", "last_start", "era_adequacy_day"):
        drugs[col] = pd.to_numeric(drugs[col], errors="coerce")
    drugs["days_on"] = d - drugs["era_start"]
    # Sub-therapeutic held: the latest dose is below the minimum and the era has lasted longer than
    # the adequacy window with no adequate trial in it (study-definition.md 3.4).
    is_ad = drugs["role"] == ANTIDEPRESSANT
    adequate_now = drugs["adequate_now"].astype("boolean").fillna(False).astype(bool)
    drugs["subtherapeutic"] = is_ad & ~adequate_now & (drugs["days_on"] > window) & drugs["era_adequacy_day"].isna()
    dose_text = drugs["dose_mg"].map(lambda v: "dose not recorded" if pd.isna(v) else f"{v:g} mg/day")
    minimum = drugs["min_dose_mg"].map(lambda v: "" if pd.isna(v) else f", minimum {v:g}")
    judged = pd.Series("", index=drugs.index).where(~is_ad, adequate_now.map({True: ", adequate", False: ", below minimum"}))
    drugs["text"] = (drugs["name"] + " " + dose_text + minimum + judged + " (since "
                     + _date_of(drugs["era_start"]).astype(str) + ", " + drugs["days_on"].astype("Int64").astype(str) + " days)")
    drugs = drugs.sort_values(["pkey", "era_start", "name"])
    ad, aug = drugs[is_ad.loc[drugs.index]], drugs[~is_ad.loc[drugs.index]]
    per = pd.DataFrame(index=patients["pkey"].unique())
    per["current_antidepressants"] = _joined(ad, "text", "; ")
    per["current_augmenting_agents"] = _joined(aug, "text", "; ")
    per["dose_adequate"] = ad.assign(ok=adequate_now.loc[ad.index]).groupby("pkey")["ok"].all()
    per["days_on_current_drug"] = ad.groupby("pkey")["days_on"].min()
    per["subtherapeutic_held"] = ad.groupby("pkey")["subtherapeutic"].any()
    per["subtherapeutic_text"] = _joined(ad[ad["subtherapeutic"]], "name", ", ")
    per["has_current"] = drugs.groupby("pkey").size() > 0

    trials = trials.copy()
    trials["name"] = trials["ingredient_id"].astype(int).map(names)
    trials["adequacy_day"] = pd.to_numeric(trials["adequacy_day"])
    trials = trials.sort_values(["pkey", "adequacy_day", "ingredient_id"])
    trials["text"] = trials["name"] + " (adequate " + _date_of(trials["adequacy_day"]).astype(str) + ")"
    per["trials_text"] = _joined(trials, "text", ", ")
    per["last_adequacy_day"] = trials.groupby("pkey")["adequacy_day"].max()

    w = patients.set_index("pkey").join(per)
    for col in ("last_change_day", "last_contact_day", "episode_start", "trd_day", "last_adequacy_day"):
        w[col] = pd.to_numeric(w[col], errors="coerce")
    w["days_since_contact"] = (d - w["last_contact_day"]).astype("Int64")
    # In current care: a current drug, or a contact within the care window.
    w = w[w["has_current"].astype("boolean").fillna(False).astype(bool) | (w["days_since_contact"] <= settings.care_window_days).fillna(False)].copy()
    # Inertia: an antidepressant still current, an adequacy date, and no era started after it.
    no_change = (w["current_antidepressants"].notna() & w["last_adequacy_day"].notna()
                 & (w["last_change_day"].isna() | (w["last_change_day"] <= w["last_adequacy_day"])))
    w["inertia_days"] = (d - w["last_adequacy_day"]).where(no_change).astype("Int64")
    w["subtherapeutic_held"] = w["subtherapeutic_held"].astype("boolean").fillna(False)
    flags = {
        "inertia": (w["inertia_days"] >= settings.inertia_days).fillna(False).astype(bool),
        "subtherapeutic": w["subtherapeutic_held"].astype(bool),
        "no_recent_contact": (w["days_since_contact"].isna() | (w["days_since_contact"] > settings.contact_gap_days)).astype(bool),
        "augmented": w["augment_day"].notna(),
    }
    w["next_step"], w["next_step_source"] = None, None
    w["priority"] = pd.Series(pd.NA, index=w.index, dtype="Int64")
    chosen = pd.Series(False, index=w.index)
    for rule in rules.rules:
        hit = ~chosen
        if rule.stage is not None:
            hit &= w["stage"] == rule.stage
        for f in rule.flags:
            hit &= flags[f]
        w.loc[hit, ["next_step", "priority", "next_step_source"]] = [rule.next_step, rule.priority, rule.source]
        chosen |= hit
    w["priority"] = w["priority"].fillna(max(r.priority for r in rules.rules) + 1).astype("int64")
    w.loc[~chosen, "next_step"] = "No rule of the table applies: review as usual."
    w.loc[~chosen, "next_step_source"] = rules.path

    # Reasons a clinician can check against the record, one sentence per fact.
    failed = t.config.trd.failed_trials
    ep_text = _date_of(w["episode_start"]).astype(str)
    reasons = "Current episode from " + ep_text + ". "
    reasons += w["n_adequate_trials"].astype(int).astype(str) + " adequate trial(s) in the episode"
    reasons += w["trials_text"].fillna("").map(lambda s: f": {s}" if s else "") + ". "
    trd = w["stage"] == "TRD"
    reasons = reasons.where(~trd, reasons + "Next step after failed trial " + str(failed) + ", on "
                            + _date_of(w["trd_day"]).astype(str) + " (TRD, " + w["resistance_level"].fillna("").astype(str)
                            + " antidepressants). ")
    reasons = reasons.where(~flags["inertia"], reasons + "No treatment change since the last adequacy date, "
                            + w["inertia_days"].astype(str) + " days ago. ")
    reasons = reasons.where(~flags["subtherapeutic"], reasons + "Below the minimum effective dose for longer than "
                            + str(window) + " days: " + w["subtherapeutic_text"].fillna("") + ". ")
    contact = ("Last contact " + w["days_since_contact"].astype(str) + " days ago. ").where(
        w["days_since_contact"].notna(), "No contact recorded. ")
    w["reasons"] = (reasons + contact).str.strip()
    w["episode_start"] = _date_of(w["episode_start"])
    w["trd_date"] = _date_of(w["trd_day"])
    w["last_adequacy_date"] = _date_of(w["last_adequacy_day"])
    w["days_on_current_drug"] = w["days_on_current_drug"].astype("Int64")
    w["dose_adequate"] = w["dose_adequate"].astype("boolean")
    w["team"] = w["team"].fillna("(no team recorded)")
    w["as_of"] = as_of
    w = w.sort_values(["team", "priority", "inertia_days", "patient_id"], ascending=[True, True, False, True], na_position="last")
    return w.reset_index(drop=True)[list(WORKLIST_COLUMNS)]


def day_to_date(day: int | None) -> dt.date | None:
    return None if day is None or pd.isna(day) else EPOCH + dt.timedelta(days=int(day))
