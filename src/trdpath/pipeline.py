"""The classification pipeline: Extract -> cohort -> treatment -> classification -> one row per patient.

Written once as Ibis expressions; runs inside whichever backend holds the extract. Only small
data dictionaries (distinct drug names, service names, labels) and the final per-patient table
come back to Python.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

import ibis
import numpy as np
import pandas as pd

from trdpath.classify import in_current_episode, resistance_level, trd_steps
from trdpath.cohort.code_lists import diagnosis_flags, malformed_codes
from trdpath.cohort.demographics import completed_years, employment_group, ethnicity_group, label_map, sex_group
from trdpath.config import StudyConfig
from trdpath.errors import UserError
from trdpath.reference import COMORBIDITY_FLAGS, EXCLUSION_LISTS, ReferenceData
from trdpath.schema import EXCLUSION_REASONS, PATIENT_COLUMNS, REFERRAL_COLUMNS, TABLES
from trdpath.service_use import ServiceCategories, referral_counts, service_map
from trdpath.sources import Extract
from trdpath.treatment.adequate_trials import adequate_trials, era_segments, eras_from_segments
from trdpath.treatment.drug_names import ANTIDEPRESSANT, AUGMENTING, DrugDictionary
from trdpath.treatment.episodes import current_episodes
from trdpath.treatment.exposures import build_exposures, drug_map

EPOCH = dt.date(1970, 1, 1)
Progress = Callable[[str], None]


@dataclass
class Classification:
    patients: pd.DataFrame
    attrition: pd.DataFrame
    data_quality: pd.DataFrame
    index_date: dt.date
    date_range: tuple[dt.date | None, dt.date | None]
    config: StudyConfig
    source: str = ""


def _as_date(value) -> dt.date | None:
    if value is None or value is pd.NaT or (not isinstance(value, dt.date) and pd.isna(value)):
        return None
    if isinstance(value, pd.Timestamp):
        return value.date()
    if isinstance(value, dt.datetime):
        return value.date()
    return value


def extract_date_range(con, extract: Extract) -> tuple[dt.date | None, dt.date | None, dt.date | None]:
    """(earliest event date, latest event date, latest date anywhere) in the extract (trd-rules.md 1)."""
    latest_any: list[dt.date] = []
    events_min: list[dt.date] = []
    events_max: list[dt.date] = []
    tables = {"patients": extract.patients, "diagnoses": extract.diagnoses,
              "prescriptions": extract.prescriptions, "referrals": extract.referrals}
    for name, table in tables.items():
        if table is None:
            continue
        dates = TABLES[name]["dates"]
        aggs = {}
        for col in dates:
            aggs[f"max_{col}"] = table[col].max()
            aggs[f"min_{col}"] = table[col].min()
        row = con.execute(table.aggregate(**aggs)).iloc[0]
        for col in dates:
            hi, lo = _as_date(row[f"max_{col}"]), _as_date(row[f"min_{col}"])
            if hi is not None:
                latest_any.append(hi)
                if name != "patients" and col != "end_date":
                    events_max.append(hi)
            if lo is not None and name != "patients" and col != "end_date":
                events_min.append(lo)
    return (min(events_min) if events_min else None, max(events_max) if events_max else None,
            max(latest_any) if latest_any else None)


def _label_join(con, table: ibis.Table, column: str, mapper, out: str, quality: list, source: str) -> ibis.Table:
    mapping = label_map(con, table[column].fill_null(""), mapper, out)
    for row in mapping[~mapping["recognised"]].itertuples(index=False):
        quality.append((source, column, f"value not recognised, grouped as {getattr(row, out)}", row.value, int(row.n)))
    lookup = ibis.memtable(mapping[["value", out]].rename(columns={"value": f"_{column}_key"}))
    keyed = table.mutate(**{f"_{column}_key": table[column].fill_null("")})
    return keyed.left_join(lookup, f"_{column}_key").drop(f"_{column}_key", f"_{column}_key_right")


def classify_extract(con, extract: Extract, config: StudyConfig, index_date: dt.date | None = None,
                     progress: Progress | None = None) -> Classification:
    step = progress or (lambda _stage: None)
    reference = ReferenceData(config)
    quality: list[tuple] = []

    step("Finding the index date")
    first_event, last_event, latest_any = extract_date_range(con, extract)
    index_date = index_date or config.study.index_date or latest_any
    if index_date is None:
        raise UserError("The extract has no dates at all, so no index date can be set; give --index-date.")
    index_day = (index_date - EPOCH).days
    index_lit = ibis.literal(index_date, "date")

    step("Mapping drug names to ingredients")
    drugs = DrugDictionary(reference)
    mapping = drug_map(con, extract.prescriptions, drugs)
    for row in mapping[mapping["ingredient"].isna()].sort_values("n", ascending=False).itertuples(index=False):
        quality.append(("prescriptions", "drug", "drug name not an antidepressant or augmenting agent in the reference lists (ignored)",
                        row.drug_key + (f" [{row.atc_key}]" if row.atc_key else ""), int(row.n)))
    ingredient_table = drugs.ingredient_table()
    mapped = mapping.dropna(subset=["ingredient"]).merge(ingredient_table[["ingredient", "ingredient_id"]], on="ingredient")
    mapping_t = ibis.memtable(mapped[["drug_key", "atc_key", "ingredient_id"]])
    ingredients_t = ibis.memtable(ingredient_table)

    step("Building exposures and eras")
    # An integer surrogate key per patient for the treatment stages (faster windows and joins).
    keyed = extract.patients.mutate(pkey=ibis.row_number().cast("int64")).cache()
    patient_keys = keyed.select("patient_id", "pkey")
    exposures = build_exposures(extract.prescriptions, patient_keys, mapping_t, ingredients_t, index_day, config.treatment)
    segments = era_segments(exposures, config.treatment).cache()
    eras = eras_from_segments(segments).cache()
    ad_eras = eras.filter(eras.role == ANTIDEPRESSANT)
    aug_eras = eras.filter(eras.role == AUGMENTING)

    step("Finding adequate trials and episodes")
    trials = adequate_trials(segments, config.treatment)
    episodes = current_episodes(ad_eras, config.treatment).cache()

    step("Classifying TRD")
    steps = trd_steps(ad_eras, aug_eras, trials, episodes, config.trd)
    eras_now = in_current_episode(eras, episodes, "era_start")
    per_drug = eras_now.group_by(["pkey", "ingredient_id", "role"]).agg(first_start=eras_now.era_start.min())
    per_drug = per_drug.join(ingredients_t.select("ingredient_id", "ingredient"), "ingredient_id")
    per_drug = per_drug.mutate(
        label=ibis.ifelse(per_drug.role == AUGMENTING, "+" + per_drug.ingredient, per_drug.ingredient)
    )
    order = ibis.window(group_by="pkey", order_by=[per_drug.first_start, per_drug.ingredient])
    per_drug = per_drug.mutate(position=ibis.row_number().over(order)).cache()
    # treatment_sequence: one column per position, then joined with ';' (NULLs skipped). Ordered
    # string aggregates are an order of magnitude slower in DuckDB than this pivot.
    longest = int(con.execute(per_drug.position.max()) or 0) + 1
    lines = per_drug.group_by("pkey").agg(
        n_antidepressants=(per_drug.role == ANTIDEPRESSANT).ifelse(1, 0).sum(),
        **{f"_step{i}": per_drug.label.max(where=per_drug.position == i) for i in range(longest)},
    )
    lines = lines.select(
        "pkey", "n_antidepressants",
        treatment_sequence=ibis.literal(";").join([lines[f"_step{i}"] for i in range(longest)]),
    )
    has_antidepressant = ad_eras.select("pkey").distinct().mutate(has_antidepressant=True)

    step("Applying cohort rules")
    lists = ["recurrent_depression", "psychotic_symptoms", *EXCLUSION_LISTS, *COMORBIDITY_FLAGS]
    dx = diagnosis_flags(extract.diagnoses, reference, ["depression", *dict.fromkeys(lists)], index_lit)

    p = keyed
    p = _label_join(con, p, "sex", sex_group, "sex_group", quality, "patients")
    p = _label_join(con, p, "ethnicity", lambda v: ethnicity_group(v, reference), "ethnicity_group", quality, "patients")
    p = _label_join(con, p, "employment_status", lambda v: employment_group(v, reference), "employment_group", quality, "patients")

    t = p.left_join(dx, "patient_id").drop("patient_id_right")
    t = t.left_join(has_antidepressant, "pkey").drop("pkey_right")
    t = t.left_join(episodes, "pkey").drop("pkey_right")
    t = t.left_join(lines, "pkey").drop("pkey_right")
    t = t.left_join(steps, "pkey").drop("pkey_right")
    if extract.referrals is not None:
        categories = ServiceCategories(reference)
        smap = service_map(con, extract.referrals, categories)
        for row in smap[smap["category"].isna()].sort_values("n", ascending=False).itertuples(index=False):
            quality.append(("referrals", "service", "service name matches no service category (not counted)", row.service_key, int(row.n)))
        counts = referral_counts(extract.referrals, ibis.memtable(smap[["service_key", "given", "category"]]), index_lit)
        t = t.left_join(counts, "patient_id").drop("patient_id_right")
    else:
        t = t.mutate(**{c: ibis.literal(0, "int64") for c in REFERRAL_COLUMNS})

    def flag(name):
        return t[name].fill_null(False)

    age = completed_years(t.birth_date, index_lit)
    exclusion = ibis.cases(
        (~flag("depression"), "no_depression_diagnosis"),
        (age.notnull() & (age < config.cohort.min_age), "under_18"),
        (flag("bipolar_or_mania"), "bipolar_or_mania"),
        (flag("psychosis"), "psychosis"),
        (flag("dementia"), "dementia"),
        (flag("cognitive_or_neurological"), "cognitive_or_neurological"),
        (~flag("has_antidepressant"), "no_antidepressant"),
        else_=ibis.null("string"),
    )
    in_cohort = exclusion.isnull()
    trd = in_cohort & t.trd_day.notnull()
    died = t.death_date.notnull() & (t.death_date <= index_lit)
    out = t.select(
        "patient_id",
        in_cohort=in_cohort,
        exclusion_reason=exclusion,
        depression_code=ibis.ifelse(flag("recurrent_depression"), "F33", ibis.ifelse(flag("depression"), "F32", ibis.null("string"))),
        psychotic_symptoms=flag("psychotic_symptoms"),
        n_antidepressants=t.n_antidepressants.fill_null(0),
        n_adequate_trials=t.n_adequate_trials.fill_null(0),
        augmented=trd & t.augment_day.notnull(),
        trd=trd,
        trd_day=ibis.ifelse(trd, t.trd_day, ibis.null("int64")),
        resistance_level=resistance_level(trd, t.n_antidepressants.fill_null(0), in_cohort),
        episode_day=t.episode_start,
        sex=t.sex_group,
        age=age,
        age_at_diagnosis=completed_years(t.birth_date, t.first_depression_date),
        ethnicity_group=t.ethnicity_group,
        employment_group=t.employment_group,
        died=died,
        age_at_death=ibis.ifelse(died, completed_years(t.birth_date, t.death_date), ibis.null("int64")),
        **{name: flag(name) for name in COMORBIDITY_FLAGS},
        **{c: t[c].fill_null(0) for c in REFERRAL_COLUMNS},
        treatment_sequence=t.treatment_sequence.fill_null(""),
    )

    step("Collecting the per-patient table")
    patients = con.execute(out.order_by("patient_id"))
    step("Reading the notes")
    patients = _add_note_flags(con, patients, extract, config, index_date)
    patients = _finish_patients(patients)

    step("Data quality and attrition")
    quality.extend(_data_quality(con, extract, index_date))
    attrition = attrition_table(patients)
    data_quality = pd.DataFrame(quality, columns=["table", "column", "issue", "value", "count"])
    return Classification(patients, attrition, data_quality, index_date, (first_event, last_event), config, extract.source)


def _add_note_flags(con, patients: pd.DataFrame, extract: Extract, config: StudyConfig, index_date: dt.date) -> pd.DataFrame:
    """Self-harm, suicidal ideation and suicide attempt from the notes (issue 6), up to the index date.

    `self_harm_any` = coded self-harm or an affirmed self-harm mention in the notes.
    """
    from trdpath.nlp.patient import FLAG_COLUMNS, patient_flags

    if extract.notes is None or not config.nlp.enabled:
        for col in FLAG_COLUMNS:
            patients[col] = pd.array([pd.NA] * len(patients), dtype="boolean")
        patients["self_harm_any"] = patients["self_harm"].astype("boolean")
        return patients
    notes = con.execute(extract.notes.filter(extract.notes.date <= index_date))
    flags = patient_flags(notes, index_date, extra_rule_files=config.nlp.extra_rules, n_process=config.nlp.n_process)
    patients = patients.merge(flags, on="patient_id", how="left")
    for col in FLAG_COLUMNS:
        patients[col] = patients[col].fillna(False).astype("boolean")
    patients["self_harm_any"] = (patients["self_harm"].astype(bool) | patients["self_harm_nlp"].astype(bool)).astype("boolean")
    return patients


def _days_to_dates(days: pd.Series) -> pd.Series:
    """Days since 1970-01-01 -> datetime.date objects (None where missing)."""
    values = pd.to_numeric(days, errors="coerce")
    present = values.notna().to_numpy()
    out = np.full(len(values), None, dtype=object)
    out[present] = (np.datetime64("1970-01-01", "D") + values[present].to_numpy("int64").astype("timedelta64[D]")).astype(object)
    return pd.Series(out, index=days.index)


def _finish_patients(frame: pd.DataFrame) -> pd.DataFrame:
    frame["trd_date"] = _days_to_dates(frame.pop("trd_day"))
    frame["episode_start"] = _days_to_dates(frame.pop("episode_day"))
    for col in ("n_antidepressants", "n_adequate_trials", *REFERRAL_COLUMNS):
        frame[col] = frame[col].astype("int64")
    for col in ("age", "age_at_diagnosis", "age_at_death"):
        frame[col] = frame[col].astype("Int64")
    for col in ("in_cohort", "psychotic_symptoms", "augmented", "trd", "died", *COMORBIDITY_FLAGS):
        frame[col] = frame[col].astype(bool)
    for col in ("exclusion_reason", "depression_code", "resistance_level"):
        frame[col] = frame[col].astype(object).where(frame[col].notna(), None)
    return frame[list(PATIENT_COLUMNS)]


def attrition_table(patients: pd.DataFrame) -> pd.DataFrame:
    """Each cohort rule with the number remaining after it and the number it excluded."""
    counts = patients["exclusion_reason"].value_counts()
    remaining = len(patients)
    rows = [("extract", remaining, 0)]
    for reason in EXCLUSION_REASONS:
        excluded = int(counts.get(reason, 0))
        remaining -= excluded
        rows.append((reason, remaining, excluded))
    rows.append(("cohort", remaining, 0))
    return pd.DataFrame(rows, columns=["rule", "remaining", "excluded"])


def _data_quality(con, extract: Extract, index_date: dt.date) -> list[tuple]:
    rows: list[tuple] = []
    rx = extract.prescriptions
    stats = con.execute(rx.aggregate(
        end_before_start=(rx.end_date < rx.start_date).ifelse(1, 0).sum(),
        after_index=(rx.start_date > index_date).ifelse(1, 0).sum(),
        no_dose=rx.daily_dose_mg.isnull().ifelse(1, 0).sum(),
        no_end=(rx.end_date.isnull() & rx.days_supply.isnull()).ifelse(1, 0).sum(),
    )).iloc[0]
    if stats["end_before_start"]:
        rows.append(("prescriptions", "end_date", "end_date before start_date (treated as a zero-day exposure)", "", int(stats["end_before_start"])))
    if stats["after_index"]:
        rows.append(("prescriptions", "start_date", f"starts after the index date {index_date} (ignored)", "", int(stats["after_index"])))
    if stats["no_dose"]:
        rows.append(("prescriptions", "daily_dose_mg", "no daily dose (judged by the unknown_dose setting)", "", int(stats["no_dose"])))
    if stats["no_end"]:
        rows.append(("prescriptions", "end_date", "no end_date or days_supply (default exposure length used)", "", int(stats["no_end"])))
    bad = malformed_codes(extract.diagnoses)
    bad_counts = con.execute(bad.group_by("code").agg(n=ibis._.count()).order_by(ibis.desc("n")).limit(50))
    for row in bad_counts.itertuples(index=False):
        rows.append(("diagnoses", "code", "not an ICD-10 code (ignored)", "" if row.code is None else row.code, int(row.n)))
    dx_after = con.execute((extract.diagnoses.date > index_date).ifelse(1, 0).sum())
    if dx_after:
        rows.append(("diagnoses", "date", f"recorded after the index date {index_date} (ignored)", "", int(dx_after)))
    no_birth = con.execute(extract.patients.birth_date.isnull().ifelse(1, 0).sum())
    if no_birth:
        rows.append(("patients", "birth_date", "no birth date: age unknown, not excluded as under_18", "", int(no_birth)))
    return rows
