"""The classification pipeline: Extract -> cohort -> treatment -> classification -> one row per patient.

Written once as Ibis expressions; runs inside whichever backend holds the extract. Only small
data dictionaries (distinct drug names, service names, labels) and the final per-patient table
come back to Python.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property

import ibis
import ibis.expr.operations as ops
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from trdpath.classify import in_current_episode, resistance_level, trd_steps
from trdpath.cohort.code_lists import AMBIGUOUS, SYSTEM_LABELS, DiagnosisFlags, code_map, diagnosis_flags
from trdpath.cohort.demographics import completed_years, employment_group, ethnicity_group, label_maps, sex_group
from trdpath.config import StudyConfig
from trdpath.errors import UserError
from trdpath.reference import COMORBIDITY_FLAGS, EXCLUSION_LISTS, ReferenceData
from trdpath.schema import MAX_AGE, MAX_DAILY_DOSE_MG, MAX_DAYS_SUPPLY, EXCLUSION_REASONS, NLP_COLUMNS, PATIENT_COLUMNS, REFERRAL_COLUMNS, TABLES
from trdpath.service_use import ServiceCategories, referral_counts, service_map
from trdpath.sources import Extract
from trdpath.sources.validate import QUALITY_CHECKS, as_count, as_date
from trdpath.treatment.adequate_trials import era_segments, eras_from_segments
from trdpath.treatment.drug_names import ANTIDEPRESSANT, AUGMENTING, DrugDictionary
from trdpath.treatment.episodes import current_episodes
from trdpath.treatment.exposures import build_exposures, drug_map

EPOCH = dt.date(1970, 1, 1)
DRUG_MAP_SCHEMA = {"drug_key": "string", "atc_key": "string", "ingredient_id": "int64", "role": "string",
                   "min_daily_dose_mg": "float64"}
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



def extract_date_range(con, extract: Extract) -> tuple[dt.date | None, dt.date | None, dt.date | None]:
    """(earliest event date, latest event date, latest date anywhere) in the extract (trd-rules.md 1).

    Event dates: prescriptions.start_date, diagnoses.date, referrals.date, notes.date. Birth, death and
    prescription end dates are not events: one wrong birth date (2090) must not move the index date."""
    latest_any: list[dt.date] = []
    events_min: list[dt.date] = []
    events_max: list[dt.date] = []
    tables = {"patients": extract.patients, "diagnoses": extract.diagnoses,
              "prescriptions": extract.prescriptions, "referrals": extract.referrals, "notes": extract.notes}
    known = extract.date_bounds or {}
    for name, table in tables.items():
        if table is None:
            continue
        dates = TABLES[name]["dates"]
        if name in known:  # found while validating
            bounds = known[name]
        else:
            row = con.execute(table.aggregate(
                **{f"{bound}_{col}": getattr(table[col], bound)() for col in dates for bound in ("min", "max")})).iloc[0]
            bounds = {col: (as_date(row[f"min_{col}"]), as_date(row[f"max_{col}"])) for col in dates}
        for col in dates:
            lo, hi = bounds[col]
            if hi is not None:
                latest_any.append(hi)
                if name != "patients" and col != "end_date":
                    events_max.append(hi)
            if lo is not None and name != "patients" and col != "end_date":
                events_min.append(lo)
    return (min(events_min) if events_min else None, max(events_max) if events_max else None,
            max(latest_any) if latest_any else None)


def _possible_birth_dates(patients: ibis.Table, index_lit) -> ibis.Table:
    """Birth dates that give an age outside 0..MAX_AGE at the index date (a future birth, a date-shifted
    record) are unknown: no age, not excluded as under_18, counted in data quality (issue 13)."""
    age = completed_years(patients.birth_date, index_lit)
    return patients.mutate(birth_date=ibis.ifelse((age >= 0) & (age <= MAX_AGE), patients.birth_date, ibis.null("date")))


def _label_joins(con, table: ibis.Table, mappers: dict, quality: list, source: str) -> ibis.Table:
    """Add each grouped label (`mappers`: column -> (mapper, output name)) by joining a small map;
    values no group recognises are counted in data quality."""
    for column, mapping in label_maps(con, table, mappers).items():
        out = mappers[column][1]
        unrecognised = mapping[~mapping["recognised"]].sort_values(["n", "value"], ascending=[False, True])
        for row in unrecognised.itertuples(index=False):
            quality.append((source, column, f"value not recognised, grouped as {getattr(row, out)}", row.value, int(row.n)))
        lookup = ibis.memtable(mapping[["value", out]].rename(columns={"value": f"_{column}_key"}),
                               schema={f"_{column}_key": "string", out: "string"})
        keyed = table.mutate(**{f"_{column}_key": table[column].fill_null("")})
        table = keyed.left_join(lookup, f"_{column}_key").drop(f"_{column}_key", f"_{column}_key_right")
    return table


def classify_extract(con, extract: Extract, config: StudyConfig, index_date: dt.date | None = None,
                     progress: Progress | None = None, on_stages: Callable[[dict], None] | None = None) -> Classification:
    step = progress or (lambda _stage: None)
    if con.name == "duckdb":
        # From here on every result needed in order says ORDER BY (validation, which numbers the
        # rows of the files for its messages, is done); DuckDB then spills with less memory.
        con.raw_sql("SET preserve_insertion_order = false")
    reference = ReferenceData(config)
    quality: list[tuple] = []

    step("Finding the index date")
    first_event, last_event, latest_any = extract_date_range(con, extract)
    # trd-rules.md 1: the latest event date; dates after it are counted in data quality (_data_quality).
    index_date = index_date or config.study.index_date or last_event
    if index_date is None:
        raise UserError("The extract has no dates at all, so no index date can be set; give --index-date.")
    index_day = (index_date - EPOCH).days
    index_lit = ibis.literal(index_date, "date")

    step("Mapping drug names to ingredients")
    drugs = DrugDictionary(reference)
    mapping = drug_map(con, extract.prescriptions, drugs)
    unnamed = mapping[mapping["ingredient"].isna() & (mapping["drug_key"].str.strip() == "")]
    if len(unnamed):
        quality.append(("prescriptions", "drug", "no drug name (e.g. an NDC code with no vocabulary to name it; ignored)",
                        "", int(unnamed["n"].sum())))
    for row in mapping[mapping["ingredient"].isna() & (mapping["drug_key"].str.strip() != "")].sort_values(
            ["n", "drug_key", "atc_key"], ascending=[False, True, True]).itertuples(index=False):
        quality.append(("prescriptions", "drug", "drug name not an antidepressant or augmenting agent in the reference lists (ignored)",
                        row.drug_key + (f" [{row.atc_key}]" if row.atc_key else ""), int(row.n)))
    ingredient_table = drugs.ingredient_table()
    mapped = mapping.dropna(subset=["ingredient"]).merge(
        ingredient_table[["ingredient", "ingredient_id", "role", "min_daily_dose_mg"]], on="ingredient")
    # Every small table sent to the engine carries its types: an empty one would otherwise have
    # null-typed columns, which PostgreSQL refuses (issue 13: an extract with no named drug).
    mapping_t = ibis.memtable(mapped[["drug_key", "atc_key", "ingredient_id", "role", "min_daily_dose_mg"]],
                              schema=DRUG_MAP_SCHEMA)
    ingredients_t = ibis.memtable(ingredient_table)

    step("Building exposures and eras")
    # An integer surrogate key per patient for the treatment stages (faster windows and joins;
    # 32 bits, like the days and ingredient ids: narrower sort keys make DuckDB's windows ~10% faster).
    keyed = _possible_birth_dates(extract.patients, index_lit).mutate(pkey=ibis.row_number().cast("int32")).cache()
    patient_keys = keyed.select("patient_id", "pkey")
    exposures = build_exposures(extract.prescriptions, patient_keys, mapping_t, index_day, config.treatment)
    segments = era_segments(exposures, config.treatment).cache()
    eras = eras_from_segments(segments, ingredients_t, config.treatment).cache()
    ad_eras = eras.filter(eras.role == ANTIDEPRESSANT)
    aug_eras = eras.filter(eras.role == AUGMENTING)

    step("Finding adequate trials and episodes")
    episodes = current_episodes(ad_eras, config.treatment).cache()
    if on_stages is not None:  # the definitions atlas (issue 17) evaluates its definitions from these same stages
        on_stages({"con": con, "extract": extract, "keyed": keyed, "segments": segments, "eras": eras,
                   "episodes": episodes, "ingredients": ingredient_table, "index_day": index_day})
    # Each drug of the current episode: its first era start and its first adequacy date (an
    # adequate trial is in the episode exactly when its era is: episodes hold whole eras).
    # Positions are numbered on integers only (ingredient ids are in alphabetical order of names, so
    # ties on the start day still go alphabetically); names join afterwards, outside the window.
    eras_now = in_current_episode(eras, episodes, "era_start")
    per_drug = eras_now.group_by(["pkey", "ingredient_id"]).agg(
        first_start=eras_now.era_start.min(), adequacy_day=eras_now.first_adequacy_day.min())
    order = ibis.window(group_by="pkey", order_by=[per_drug.first_start, per_drug.ingredient_id])
    per_drug = per_drug.mutate(position=ibis.row_number().over(order)).cache()

    step("Classifying TRD")
    steps = trd_steps(ad_eras, aug_eras, per_drug, episodes, config.trd)
    # treatment_sequence: the ingredient ids in position order, packed into 64-bit words (a few
    # positions per word, each in its own bit field), one OR per word and patient; the words are
    # unpacked and the names joined with ';' on the fetched Arrow table (see _finish_patients).
    # Ordered string aggregates, a pivot on names, or one column per position cost the engine
    # several times more. The max of no rows is NULL: None from DuckDB and PostgreSQL, NaN from Spark.
    last_position = con.execute(per_drug.position.max())
    longest = (0 if pd.isna(last_position) else int(last_position)) + 1
    packing = SequencePacking(int(ingredient_table["ingredient_id"].max()), longest)
    antidepressant_ids = ingredient_table.loc[ingredient_table["role"] == ANTIDEPRESSANT, "ingredient_id"].tolist()
    lines = per_drug.group_by("pkey").agg(
        n_antidepressants=per_drug.count(where=per_drug.ingredient_id.isin(antidepressant_ids)),
        **packing.words(per_drug.ingredient_id, per_drug.position, bit_or=con.has_operation(ops.BitOr)),
    )

    step("Applying cohort rules")
    lists = list(dict.fromkeys(["depression", "recurrent_depression", "psychotic_symptoms", *EXCLUSION_LISTS, *COMORBIDITY_FLAGS]))
    codes = code_map(con, extract.diagnoses, reference, lists, index_lit, config.codes)
    dx = diagnosis_flags(extract.diagnoses, codes, lists, index_lit, packed=con.has_operation(ops.BitOr))
    # Where the lists are packed, the comorbidity flags travel as the masks and are unpacked on the
    # fetched table (see _finish_patients); self_harm is also needed by the notes stage.
    flags_in_engine = COMORBIDITY_FLAGS if dx.bits is None else ("self_harm",)

    p = keyed
    p = _label_joins(con, p, {
        "sex": (sex_group, "sex_group"),
        "ethnicity": (lambda v: ethnicity_group(v, reference), "ethnicity_group"),
        "employment_status": (lambda v: employment_group(v, reference), "employment_group"),
    }, quality, "patients")

    t = p.left_join(dx.table, "patient_id").drop("patient_id_right")
    t = t.left_join(episodes, "pkey").drop("pkey_right")
    t = t.left_join(lines, "pkey").drop("pkey_right")
    t = t.left_join(steps, "pkey").drop("pkey_right")
    if extract.referrals is not None:
        categories = ServiceCategories(reference)
        smap = service_map(con, extract.referrals, categories)
        for row in smap[smap["category"].isna()].sort_values(
                ["n", "service_key", "given"], ascending=[False, True, True]).itertuples(index=False):
            quality.append(("referrals", "service", "service name matches no service category (not counted)", row.service_key, int(row.n)))
        smap_t = ibis.memtable(smap[["service_key", "given", "category"]],
                               schema={"service_key": "string", "given": "string", "category": "string"})
        counts = referral_counts(extract.referrals, smap_t, index_lit)
        t = t.left_join(counts, "patient_id").drop("patient_id_right")
    else:
        t = t.mutate(**{c: ibis.literal(0, "int64") for c in REFERRAL_COLUMNS})

    def flag(name):
        return dx.flag(t, name)

    age = completed_years(t.birth_date, index_lit)
    exclusion = ibis.cases(
        (~flag("depression"), "no_depression_diagnosis"),
        (age.notnull() & (age < config.cohort.min_age), "under_18"),
        (flag("bipolar_or_mania"), "bipolar_or_mania"),
        (flag("psychosis"), "psychosis"),
        (flag("dementia"), "dementia"),
        (flag("cognitive_or_neurological"), "cognitive_or_neurological"),
        # A patient has a current episode exactly when they have an antidepressant era.
        (t.episode_start.isnull(), "no_antidepressant"),
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
        age_at_diagnosis=ibis.ifelse(t.first_depression_date >= t.birth_date,
                                     completed_years(t.birth_date, t.first_depression_date), ibis.null("int64")),
        ethnicity_group=t.ethnicity_group,
        employment_group=t.employment_group,
        died=died,
        # A death before the birth gives no age at death (counted in data quality; issue 13).
        age_at_death=ibis.ifelse(died & (t.death_date >= t.birth_date), completed_years(t.birth_date, t.death_date),
                                 ibis.null("int64")),
        **{name: flag(name) for name in flags_in_engine},
        **{mask: t[mask].fill_null(0) for mask in dx.masks},
        **{c: t[c].fill_null(0) for c in REFERRAL_COLUMNS},
        **{word: t[word].fill_null(0) for word in packing.names},
    )

    step("Reading the notes")
    out = _with_note_flags(con, out, extract, config, index_date)
    step("Collecting the per-patient table")
    labels = {row.ingredient_id: ("+" if row.role == AUGMENTING else "") + row.ingredient
              for row in ingredient_table.itertuples(index=False)}
    table = _finish_patients(_fetch_arrow(con, out.order_by("patient_id")), packing, labels, dx)

    step("Data quality and attrition")
    quality.extend(_data_quality(con, extract, index_date, _prescription_checks(con, extract, index_date), codes, config))
    attrition = attrition_table(table)
    data_quality = pd.DataFrame(quality, columns=["table", "column", "issue", "value", "count"])
    return Classification(table, attrition, data_quality, index_date, (first_event, last_event), config, extract.source)


def _fetch_arrow(con, expr: ibis.Table) -> pa.Table:
    """The result as Arrow. On DuckDB it is streamed in batches, so the engine sorts (spilling to
    disk if it must) without also holding the whole result: at national scale only the Arrow copy
    is kept. (Ibis 12's own batch reader calls a DuckDB method that DuckDB 2.0 removed.)"""
    if con.name == "duckdb":
        return con._to_duckdb_relation(expr).to_arrow_reader(1_000_000).read_all()
    return con.to_pyarrow(expr)


def _with_note_flags(con, out: ibis.Table, extract: Extract, config: StudyConfig, index_date: dt.date) -> ibis.Table:
    """Self-harm, suicidal ideation and suicide attempt from the notes (issue 6), up to the index date.

    `self_harm_any` = coded self-harm or an affirmed self-harm mention in the notes. Without notes
    (or with NLP off) the note columns are empty (NULL) and `self_harm_any` is the coded flag.
    """
    if extract.notes is None or not config.nlp.enabled:
        empty = {col: ibis.null("boolean") for col in NLP_COLUMNS[:-1]}
        return out.mutate(**empty, self_harm_any=out.self_harm)
    from trdpath.nlp.patient import FLAG_COLUMNS, patient_flags

    notes = con.execute(extract.notes.filter(extract.notes.date <= index_date))
    flags = patient_flags(notes, index_date, extra_rule_files=config.nlp.extra_rules, n_process=config.nlp.n_process)
    # Typed even when no patient has a note up to the index date (issue 13: PostgreSQL refused the
    # null-typed column of an empty flags table).
    flags = ibis.memtable(flags[["patient_id", *FLAG_COLUMNS]].rename(columns={"patient_id": "_note_patient_id"}),
                          schema={"_note_patient_id": "string", **{col: "boolean" for col in FLAG_COLUMNS}})
    joined = out.left_join(flags, out.patient_id == flags._note_patient_id).drop("_note_patient_id")
    filled = {col: joined[col].fill_null(False) for col in FLAG_COLUMNS}
    return joined.mutate(**filled).mutate(self_harm_any=ibis._.self_harm | ibis._.self_harm_nlp)


_DATE_COLUMNS = {"trd_day": "trd_date", "episode_day": "episode_start"}
_INTEGER_COLUMNS = ("n_antidepressants", "n_adequate_trials", "age", "age_at_diagnosis", "age_at_death", *REFERRAL_COLUMNS)
_BOOLEAN_COLUMNS = ("in_cohort", "psychotic_symptoms", "augmented", "trd", "died", *COMORBIDITY_FLAGS, *NLP_COLUMNS)
# Columns that are never missing become plain numpy columns in pandas; the others nullable ones.
_PANDAS_NULLABLE = ("age", "age_at_diagnosis", "age_at_death", *NLP_COLUMNS)


def patients_schema() -> pa.Schema:
    """The Arrow types of the per-patient table (the same on every backend)."""
    def kind(col: str) -> pa.DataType:
        if col in _DATE_COLUMNS.values():
            return pa.date32()
        if col in _INTEGER_COLUMNS:
            return pa.int64()
        if col in _BOOLEAN_COLUMNS:
            return pa.bool_()
        return pa.string()
    return pa.schema([(col, kind(col)) for col in PATIENT_COLUMNS])


class SequencePacking:
    """How treatment_sequence travels from the engine: ingredient ids (1..`max_id`) at positions
    0..`longest`-1, `per_word` positions to a 64-bit word, each in a field of `bits` bits (0 = none)."""

    def __init__(self, max_id: int, longest: int):
        self.bits = max(max_id, 1).bit_length()
        self.per_word = 62 // self.bits  # leave the sign bit alone
        self.longest = longest
        self.names = [f"_seq{w}" for w in range(-(-longest // self.per_word))]

    def words(self, ingredient_id: ibis.IntegerValue, position: ibis.IntegerValue, bit_or: bool) -> dict[str, ibis.Value]:
        """Aggregates (one per word) over rows of (ingredient_id, 0-based position) of one patient.
        Positions are distinct, so their fields never overlap: OR and SUM agree; BIT_OR where the
        backend has it (SUM on DuckDB gives a 128-bit integer)."""
        out = {}
        for w, name in enumerate(self.names):
            first = w * self.per_word
            in_word = (position >= first) & (position < first + self.per_word)
            # Rows of other words get shift 0 (only rows of this word are aggregated, but the
            # shift is computed for every row, and an over-long shift is an error on DuckDB).
            shift = ibis.ifelse(in_word, (position - first) * self.bits, 0).cast("int32")
            field = ingredient_id.cast("int64") << shift
            # SUM's declared type is int64 but PostgreSQL returns NUMERIC: cast explicitly.
            word = field.bit_or(where=in_word) if bit_or else ops.Cast(field.sum(where=in_word), to="int64").to_expr()
            # 0 for no drug, never NULL: a NULL would make some engines' pandas route turn the
            # column into floats, which cannot hold 62 bits.
            out[name] = word.fill_null(0)
        return out

    def ids(self, table: pa.Table) -> np.ndarray:
        """rows x longest matrix of ingredient ids (0 = no drug at that position) from the words."""
        mask = (1 << self.bits) - 1
        ids = np.zeros((table.num_rows, self.longest), np.uint8 if self.bits <= 8 else np.int32)
        for w, name in enumerate(self.names):
            word = pc.fill_null(pc.cast(table[name], pa.int64()), 0).to_numpy()
            for j in range(min(self.per_word, self.longest - w * self.per_word)):
                ids[:, w * self.per_word + j] = (word >> (j * self.bits)) & mask
        return ids


def _finish_patients(table: pa.Table, packing: SequencePacking, labels: dict[int, str], dx: DiagnosisFlags) -> pa.Table:
    """Days since 1970-01-01 -> dates; treatment_sequence from the packed ingredient ids (`labels`:
    ingredient_id -> name, '+name' for augmenting agents); comorbidity flags from the packed
    diagnosis masks where the engine packed them; one type per column whatever the backend;
    contract column order."""
    sequence = _sequences(packing.ids(table), labels)
    table = table.drop_columns(packing.names).append_column("treatment_sequence", sequence)
    if dx.masks:
        masks = {mask: pc.cast(table[mask], pa.int64()).to_numpy() for mask in dx.masks}
        for name in COMORBIDITY_FLAGS:
            if name not in table.column_names:
                table = table.append_column(name, pa.array(dx.unpack(masks, name)))
        table = table.drop_columns(dx.masks)
    for day_col, date_col in _DATE_COLUMNS.items():
        days = pc.cast(table[day_col], pa.int32())
        table = table.append_column(date_col, days.cast(pa.date32())).drop_columns([day_col])
    schema = patients_schema()
    table = table.select(list(PATIENT_COLUMNS))
    # Cast only the columns a backend returned in another type (integer widths differ between engines).
    for i, field in enumerate(schema):
        if table.schema.field(i).type != field.type:
            table = table.set_column(i, field, pc.cast(table.column(i), field.type))
    return table.replace_schema_metadata(None)


def _sequences(ids: np.ndarray, labels: dict[int, str]) -> pa.Array:
    """'name;name;...' per row from a rows x positions matrix of ingredient ids (0 = none).

    The present ids are kept in row-then-position order as one list per row, named with one
    take, and each list joined: a few vectorised passes, whatever the number of positions.
    """
    names = pa.array([labels.get(i) for i in range(max(labels, default=0) + 1)], pa.string())
    present = ids > 0
    offsets = np.zeros(ids.shape[0] + 1, np.int64)
    np.cumsum(present.sum(axis=1), out=offsets[1:])
    lists = pa.LargeListArray.from_arrays(pa.array(offsets), pc.take(names, pa.array(ids[present])))
    return pc.binary_join(lists, ";")


def patients_frame(table: pa.Table) -> pd.DataFrame:
    """The per-patient table as pandas: dates as datetime.date, None for missing text, nullable
    integers for ages and nullable booleans for the note flags (which are empty without notes)."""
    nullable = {pa.int64(): pd.Int64Dtype(), pa.bool_(): pd.BooleanDtype()}
    columns = {}
    for col in table.column_names:
        mapper = nullable.get if col in _PANDAS_NULLABLE else None
        columns[col] = table[col].to_pandas(types_mapper=mapper)
    frame = pd.DataFrame(columns)
    for col in ("exclusion_reason", "depression_code", "resistance_level"):
        frame[col] = frame[col].astype(object).where(frame[col].notna(), None)
    return frame


def attrition_table(patients: pa.Table) -> pd.DataFrame:
    """Each cohort rule with the number remaining after it and the number it excluded."""
    counted = pc.value_counts(patients["exclusion_reason"]).to_pylist()
    counts = {row["values"]: row["counts"] for row in counted if row["values"] is not None}
    remaining = patients.num_rows
    rows = [("extract", remaining, 0)]
    for reason in EXCLUSION_REASONS:
        excluded = counts.get(reason, 0)
        remaining -= excluded
        rows.append((reason, remaining, excluded))
    rows.append(("cohort", remaining, 0))
    return pd.DataFrame(rows, columns=["rule", "remaining", "excluded"])


def _check_counts(con, extract: Extract, name: str) -> dict[str, int]:
    """Rows of table `name` failing each of its QUALITY_CHECKS: counted while validating where the
    source was validated here, else by one query of the same conditions (OMOP sources)."""
    counts = (extract.quality_counts or {}).get(name)
    if counts is None:
        table = getattr(extract, name)
        checks = QUALITY_CHECKS[name]
        row = con.execute(table.aggregate(**{check: table.count(where=condition(table))
                                             for check, condition in checks.items()})).iloc[0]
        counts = {check: as_count(row[check]) for check in checks}
    return counts


def _prescription_checks(con, extract: Extract, index_date: dt.date) -> dict[str, int]:
    """The prescription checks (_check_counts) and the rows starting after the index date, which
    need a query only when the index date is before the latest prescription."""
    rx = extract.prescriptions
    latest_start = ((extract.date_bounds or {}).get("prescriptions") or {}).get("start_date", (None, None))[1]
    after = 0 if latest_start is not None and latest_start <= index_date else as_count(
        con.execute(rx.count(where=rx.start_date > ibis.literal(index_date, "date"))))
    return {**_check_counts(con, extract, "prescriptions"), "after_index": after}


def _data_quality(con, extract: Extract, index_date: dt.date, stats: dict[str, int], codes: pd.DataFrame,
                  config: StudyConfig | None = None) -> list[tuple]:
    """Rows of data_quality.csv; `stats`: the prescription checks (_prescription_checks);
    `codes`: the distinct diagnosis codes with their counts (cohort.code_lists.code_map)."""
    rows: list[tuple] = []
    if stats["end_before_start"]:
        rows.append(("prescriptions", "end_date", "end_date before start_date (treated as a zero-day exposure)", "", int(stats["end_before_start"])))
    if stats["after_index"]:
        rows.append(("prescriptions", "start_date", f"starts after the index date {index_date} (ignored)", "", int(stats["after_index"])))
    if stats["no_dose"]:
        rows.append(("prescriptions", "daily_dose_mg", "no daily dose (judged by the unknown_dose setting)", "", int(stats["no_dose"])))
    if stats["impossible_dose"]:
        rows.append(("prescriptions", "daily_dose_mg", f"impossible daily dose (negative, NaN, infinite or above "
                     f"{MAX_DAILY_DOSE_MG:g} mg): treated as unknown", "", int(stats["impossible_dose"])))
    if stats["impossible_days_supply"]:
        rows.append(("prescriptions", "days_supply", f"impossible days_supply (negative or above {MAX_DAYS_SUPPLY}): "
                     "treated as unknown", "", int(stats["impossible_days_supply"])))
    if stats["no_end"]:
        rows.append(("prescriptions", "end_date", "no end_date or days_supply (default exposure length used)", "", int(stats["no_end"])))
    rows.extend(_code_system_rows(codes, (config or StudyConfig()).codes))
    dx_after = codes["n_after_index"].fillna(0).sum()
    if dx_after:
        rows.append(("diagnoses", "date", f"recorded after the index date {index_date} (ignored)", "", int(dx_after)))
    no_birth = _check_counts(con, extract, "patients")["no_birth_date"]
    if no_birth:
        rows.append(("patients", "birth_date", "no birth date: age unknown, not excluded as under_18", "", int(no_birth)))
    rows.extend(_patient_date_checks(con, extract, index_date))
    rows.extend(_events_after_index(con, extract, index_date))
    return rows


def _code_system_rows(codes: pd.DataFrame, codes_config) -> list[tuple]:
    """Diagnosis rows by code system, and what was not used (issue 13: 87% of a US CDM's condition rows
    were dropped without a line)."""
    rows = []
    system = codes["system"].fillna("")
    for key, label in SYSTEM_LABELS.items():
        n = int(codes.loc[system == key, "n"].sum())
        if n:
            rows.append(("diagnoses", "code_system", f"rows read as {label}", key, n))
    used = {s.upper() for s in codes_config.depression_systems}
    for key, label in SYSTEM_LABELS.items():
        if key not in used:
            n = int(codes.loc[(system == key) & codes["depression_in_system"], "n"].sum())
            if n:
                rows.append(("diagnoses", "code", f"{label} depression code: not used to define depression "
                             "(codes.depression_systems)", key, n))
    ambiguous = int(codes.loc[system == AMBIGUOUS, "n"].sum())
    if ambiguous:
        rows.append(("diagnoses", "code", "V code without a code system: ICD-9-CM or ICD-10 cannot be told apart "
                     "(ignored; give code_system or set codes.system)", "", ambiguous))
    missing = int(codes.loc[codes["code_key"].str.strip() == "", "n"].sum())
    if missing:
        rows.append(("diagnoses", "code", "no code (no source value and no ICD mapping; ignored)", "", missing))
    other = codes[~system.isin([*SYSTEM_LABELS, AMBIGUOUS, ""]) & (codes["code_key"].str.strip() != "")]
    for vocabulary, n in other.groupby(system[other.index])["n"].sum().sort_values(ascending=False).items():
        rows.append(("diagnoses", "code_system", f"rows in another code system: {vocabulary} (ignored)", vocabulary, int(n)))
    bad = codes[(system == "") & (codes["code_key"].str.strip() != "")].sort_values(["n", "code_key"], ascending=[False, True]).head(50)
    for row in bad.itertuples(index=False):
        rows.append(("diagnoses", "code", "not an ICD-10 or ICD-9-CM code (ignored)", row.code_key, int(row.n)))
    return rows


def _patient_date_checks(con, extract: Extract, index_date: dt.date) -> list[tuple]:
    """Birth and death dates that are impossible at the index date (issue 13), in one query."""
    p = extract.patients
    index_lit = ibis.literal(index_date, "date")
    age = completed_years(p.birth_date, index_lit)
    row = con.execute(p.aggregate(
        future_birth=p.count(where=p.birth_date > index_lit),
        too_old=p.count(where=age > MAX_AGE),
        death_before_birth=p.count(where=p.death_date < p.birth_date),
        death_after_index=p.count(where=p.death_date > index_lit),
    )).iloc[0]
    rows = []
    if as_count(row["future_birth"]):
        rows.append(("patients", "birth_date", f"after the index date {index_date}: age unknown (birth date ignored)",
                     "", as_count(row["future_birth"])))
    if as_count(row["too_old"]):
        rows.append(("patients", "birth_date", f"age above {MAX_AGE} at the index date: age unknown (birth date ignored)",
                     "", as_count(row["too_old"])))
    if as_count(row["death_before_birth"]):
        rows.append(("patients", "death_date", "before birth_date: no age at death", "", as_count(row["death_before_birth"])))
    if as_count(row["death_after_index"]):
        rows.append(("patients", "death_date", f"after the index date {index_date}: not counted as died", "",
                     as_count(row["death_after_index"])))
    return rows


def _events_after_index(con, extract: Extract, index_date: dt.date) -> list[tuple]:
    """Referrals and notes dated after the index date (ignored); prescriptions and diagnoses are
    counted with their own checks. Needs a query only when the date bounds say some exist."""
    rows = []
    bounds = extract.date_bounds or {}
    for name, label in (("referrals", "referrals"), ("notes", "notes")):
        table = getattr(extract, name)
        if table is None:
            continue
        latest = (bounds.get(name) or {}).get("date", (None, None))[1] if name in bounds else None
        if name in bounds and (latest is None or latest <= index_date):
            continue
        n = as_count(con.execute(table.count(where=table.date > ibis.literal(index_date, "date"))))
        if n:
            rows.append((name, "date", f"after the index date {index_date} (ignored)", "", n))
    return rows
