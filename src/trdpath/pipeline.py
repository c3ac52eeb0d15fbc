"""The classification pipeline: extract -> index date -> treatment -> TRD -> cohort -> one row per patient.

Written once as Ibis expressions; runs inside whichever engine holds the extract. Each stage lives
in its own module (cohort/, treatment/, classify.py for the TRD rule, data_quality.py); this module
only calls them in order. Only small data dictionaries (distinct drug names, service names, labels)
and the final per-patient table come back to Python.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property

import ibis
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from trdpath import data_quality, engines
from trdpath.classify import resistance_level, trd_steps
from trdpath.cohort.code_lists import code_map, diagnosis_flags
from trdpath.cohort.demographics import demographic_columns, possible_birth_dates, with_label_groups
from trdpath.cohort.exclusions import EXCLUSION_LISTS, first_exclusion
from trdpath.cohort.index_date import EPOCH, choose_index_date, extract_date_range
from trdpath.cohort.notes import with_note_flags
from trdpath.config import StudyConfig
from trdpath.patient_table import attrition_table, finish_patients, patients_frame
from trdpath.reference import COMORBIDITY_FLAGS, ReferenceData
from trdpath.schema import REFERRAL_COLUMNS
from trdpath.service_use import with_referral_counts
from trdpath.sources import Extract
from trdpath.treatment.adequate_trials import era_segments, eras_from_segments
from trdpath.treatment.drug_names import ANTIDEPRESSANT, AUGMENTING, DrugDictionary
from trdpath.treatment.episodes import current_episodes
from trdpath.treatment.exposures import build_exposures, drug_map
from trdpath.treatment.lines import drugs_in_episode, sequence_labels, treatment_lines

DRUG_MAP_SCHEMA = {"drug_key": "string", "atc_key": "string", "ingredient_id": "int64", "role": "string",
                   "min_daily_dose_mg": "float64"}
# Code lists the cohort rules and the patient characteristics read (study-definition.md 2, 6).
CODE_LISTS = list(dict.fromkeys(["depression", "recurrent_depression", "psychotic_symptoms", *EXCLUSION_LISTS,
                                 *COMORBIDITY_FLAGS]))
Progress = Callable[[str], None]


@dataclass
class Classification:
    table: pa.Table  # one row per patient (PATIENT_COLUMNS), as Arrow: cheap to hold even at national scale
    attrition: pd.DataFrame
    data_quality: pd.DataFrame
    index_date: dt.date
    date_range: tuple[dt.date | None, dt.date | None]
    config: StudyConfig
    source: str = ""
    # The treatment stages as built (and cached in the engine) for this classification: the extra passes
    # (stats/assumptions.py, stats/pathways.py) start from them instead of rebuilding them. Valid only while
    # the connection they were built on is open; carried along by dataclasses.replace.
    stages: dict | None = field(default=None, repr=False, compare=False)

    @cached_property
    def patients(self) -> pd.DataFrame:
        """The per-patient table as pandas (converted on first use; see `patients_frame`)."""
        return patients_frame(self.table)

    def summary(self) -> dict[str, int]:
        """Counts for the command line: extract, cohort, TRD and each resistance level among TRD."""
        cohort = self.table.filter(pc.field("in_cohort"))
        levels = {row["values"]: row["counts"] for row in pc.value_counts(cohort["resistance_level"]).to_pylist()}
        return {"extract": self.table.num_rows, "cohort": cohort.num_rows,
                "trd": int(pc.sum(cohort["trd"]).as_py() or 0),
                **{level: levels.get(level, 0) for level in ("2", "3", "4+")}}


def classify_extract(con, extract: Extract, config: StudyConfig, index_date: dt.date | None = None,
                     progress: Progress | None = None, on_stages: Callable[[dict], None] | None = None) -> Classification:
    step = progress or (lambda _stage: None)
    engines.prepare_for_classification(con)
    reference = ReferenceData(config)
    quality: list[tuple] = []

    step("Finding the index date")
    first_event, last_event, _ = extract_date_range(con, extract)
    index_date = choose_index_date(index_date, config, last_event)
    index_day = (index_date - EPOCH).days
    index_lit = ibis.literal(index_date, "date")

    step("Mapping drug names to ingredients")
    drugs = DrugDictionary(reference)
    mapping = drug_map(con, extract.prescriptions, drugs)
    quality.extend(data_quality.drug_mapping_rows(mapping))
    ingredients = drugs.ingredient_table()
    mapped = mapping.dropna(subset=["ingredient"]).merge(
        ingredients[["ingredient", "ingredient_id", "role", "min_daily_dose_mg"]], on="ingredient")
    # Every small table sent to the engine carries its types: an empty one would otherwise have
    # null-typed columns, which PostgreSQL refuses (issue 13: an extract with no named drug).
    mapping_t = ibis.memtable(mapped[list(DRUG_MAP_SCHEMA)], schema=DRUG_MAP_SCHEMA)

    step("Building exposures and eras")
    # An integer surrogate key per patient for the treatment stages (faster windows and joins;
    # 32 bits, like the days and ingredient ids: narrower sort keys make DuckDB's windows ~10% faster).
    keyed = possible_birth_dates(extract.patients, index_lit).mutate(pkey=ibis.row_number().cast("int32")).cache()
    exposures = build_exposures(extract.prescriptions, keyed.select("patient_id", "pkey"), mapping_t, index_day,
                                config.treatment)
    segments = era_segments(exposures, config.treatment)
    if on_stages is not None:  # the definitions atlas reads the adequate-dose segments again: keep them
        segments = segments.cache()
    # Otherwise only the eras read the segments: one query, without writing ~3.7M rows at 1M patients
    # to a table and reading them back.
    eras = eras_from_segments(segments, ibis.memtable(ingredients), config.treatment).cache()
    ad_eras = eras.filter(eras.role == ANTIDEPRESSANT)
    aug_eras = eras.filter(eras.role == AUGMENTING)

    step("Finding adequate trials and episodes")
    episodes = current_episodes(ad_eras, config.treatment).cache()
    stages = {"con": con, "extract": extract, "keyed": keyed, "segments": segments, "eras": eras,
              "episodes": episodes, "ingredients": ingredients, "index_day": index_day}
    if on_stages is not None:  # the definitions atlas (issue 17) evaluates its definitions from these same stages
        on_stages(dict(stages))
    per_drug = drugs_in_episode(eras, episodes).cache()
    stages.update(mapping=mapped, mapping_table=mapping_t, per_drug=per_drug)

    step("Classifying TRD")
    steps = trd_steps(ad_eras, aug_eras, per_drug, episodes, config.trd)
    lines, packing = treatment_lines(con, per_drug, ingredients)

    step("Applying cohort rules")
    codes = code_map(con, extract.diagnoses, reference, CODE_LISTS, index_lit, config.codes)
    dx = diagnosis_flags(extract.diagnoses, codes, CODE_LISTS, index_lit, packed=engines.has_bit_or(con))
    p, labels = with_label_groups(con, keyed, reference)
    for column, (label_map, group) in labels.items():
        quality.extend(data_quality.unrecognised_label_rows(column, label_map, group))
    t = p.left_join(dx.table, "patient_id").drop("patient_id_right")
    for table in (episodes, lines, steps):
        t = t.left_join(table, "pkey").drop("pkey_right")
    t, services = with_referral_counts(con, t, extract.referrals, reference, index_lit)
    if services is not None:
        quality.extend(data_quality.unmatched_service_rows(services))

    def flag(name):
        return dx.flag(t, name)

    demographics = demographic_columns(t, index_lit)
    age = demographics["age"]
    exclusion = first_exclusion({
        "no_depression_diagnosis": ~flag("depression"),
        "under_18": age.notnull() & (age < config.cohort.min_age),
        **{name: flag(name) for name in EXCLUSION_LISTS},
        # A patient has a current episode exactly when they have an antidepressant era.
        "no_antidepressant": t.episode_start.isnull(),
    })
    in_cohort = exclusion.isnull()
    trd = in_cohort & t.trd_day.notnull()
    # Where the lists are packed, the comorbidity flags travel as the masks and are unpacked on the
    # fetched table (patient_table.finish_patients); self_harm is also needed by the notes stage.
    flags_in_engine = COMORBIDITY_FLAGS if dx.bits is None else ("self_harm",)
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
        **demographics,
        **{name: flag(name) for name in flags_in_engine},
        **{mask: t[mask].fill_null(0) for mask in dx.masks},
        **{c: t[c] for c in REFERRAL_COLUMNS},
        **{word: t[word].fill_null(0) for word in packing.names},
    )

    step("Reading the notes")
    out = with_note_flags(con, out, extract, config, index_date)
    step("Collecting the per-patient table")
    table = finish_patients(engines.fetch_arrow(con, out.order_by("patient_id")), packing, sequence_labels(ingredients), dx)
    stages["table"] = table  # this classification by the study's rule (a definition may replace Classification.table)

    step("Data quality and attrition")
    quality.extend(data_quality.data_quality_rows(index_date, data_quality.extract_counts(con, extract, index_date),
                                                  codes, config))
    return Classification(table, attrition_table(table), data_quality.quality_frame(quality), index_date,
                          (first_event, last_event), config, extract.source, stages)
