"""OMOP CDM v5.3 / v5.4 as a source: CDM tables -> the typed :class:`~trdpath.sources.Extract`.

Everything here builds Ibis expressions over the CDM tables, so the mapping runs inside the
database (DuckDB, PostgreSQL, Spark); nothing is pulled into Python. What is mapped and what is
lost is documented in docs/backends.md; in short:

- person -> patients: birth date from birth_datetime, else year/month/day_of_birth (1 July when only
  the year is known, data-contract.md); sex from gender_concept_id (8507 male, 8532 female), else
  gender_source_value; ethnicity from race_source_value, else ethnicity_source_value (UK trusts keep the
  NHS ethnic category there); employment from an `observation` row whose observation_source_value is
  'employment_status' (a local convention; the CDM has no field); death_date from `death`.
- condition_occurrence -> diagnoses with a code_system: the ICD-10 / ICD-9-CM code of the source concept
  (its vocabulary_id says which), else condition_source_value when it is shaped like an ICD code (the
  system then decided by codes.system), else the ICD-10 code that 'Maps to' the standard (SNOMED)
  condition_concept_id through concept_relationship; every row is kept (see diagnoses()).
- drug_exposure -> prescriptions: the ingredient through concept_ancestor when the vocabulary is present,
  else the shipped RxNorm ingredient ids (omop_data/rxnorm_ingredients.csv), else the drug concept's
  concept_name (no concept_ancestor needed), else drug_source_value (not an NDC code) as
  the drug name; daily dose = strength (drug_strength, else "NN mg" in drug_source_value) x quantity /
  days_supply. drug_era rows fill in (person, ingredient) pairs that no named exposure covers.
- visit_occurrence / visit_detail -> referrals: the care site's name, else visit_source_value, as service.
- note -> notes.
"""

from __future__ import annotations

from collections.abc import Mapping
from importlib import resources
from pathlib import Path

import ibis
import ibis.expr.datatypes as dt
import pandas as pd

from trdpath import engines
from trdpath.config import StudyConfig
from trdpath.errors import BackendError, InputError
from trdpath.reference import SERVICE_CATEGORIES
from trdpath.sources import Extract
from trdpath.sources.folder import read_folder

# CDM tables: the clinical ones we need, the ones we use when present, and the vocabulary.
REQUIRED_TABLES = ("person", "condition_occurrence")
DRUG_TABLES = ("drug_exposure", "drug_era")  # at least one of them
CLINICAL_OPTIONAL = ("drug_exposure", "drug_era", "death", "visit_occurrence", "visit_detail", "care_site",
                     "note", "observation")
VOCABULARY_TABLES = ("concept", "concept_ancestor", "concept_relationship", "drug_strength")
OPTIONAL_TABLES = CLINICAL_OPTIONAL + VOCABULARY_TABLES

# Standard concept ids used by the mapping (OHDSI vocabulary: Gender, Unit and Visit domains).
GENDER_MALE, GENDER_FEMALE = 8507, 8532
UNIT_MILLIGRAM, UNIT_MICROGRAM, UNIT_GRAM = 8576, 9655, 8504
VISIT_INPATIENT, VISIT_ER_AND_INPATIENT, VISIT_EMERGENCY = 9201, 262, 9203
ICD10_VOCABULARIES = ("ICD10", "ICD10CM")
ICD9_VOCABULARIES = ("ICD9CM",)
RXNORM_VOCABULARIES = ("RxNorm", "RxNorm Extension")
# Where observation rows hold employment status (trust-local convention, see docs/backends.md).
EMPLOYMENT_OBSERVATION = "employment_status"
# ICD-10 as written in source values: a letter, two digits, an optional dot and up to four more characters.
ICD10_PATTERN = r"^[A-Z][0-9][0-9](\.?[0-9A-Z]{0,4})?$"
# ICD-9-CM as written: three digits (.d/.dd), E800-E999 (.d) or V01-V91 (.d/.dd); which one a code is
# (and whether a V code is ICD-9-CM at all) is decided later by codes.system (cohort/code_lists.py).
ICD9_PATTERN = r"^([0-9]{3}(\.?[0-9]{1,2})?|E[89][0-9]{2}(\.?[0-9])?|V[0-9]{2}(\.?[0-9]{1,2})?)$"

PATIENT_ID_CHOICES = ("person_id", "person_source_value")
# NDC product codes as drug_source_value (4-5, 3-4 and 1-2 digits, dashed or not): a code, not a name.
NDC_PATTERN = r"^[0-9]{4,5}-?[0-9]{3,4}-?[0-9]{1,2}$"


def load_ingredient_map(path: Path | None = None) -> pd.DataFrame:
    """The RxNorm ingredient concept ids of the reference drugs (ingredient, concept_id)."""
    if path is None:
        source = resources.files("trdpath.sources.omop_data").joinpath("rxnorm_ingredients.csv")
    else:
        source = Path(path)
        if not source.is_file():
            raise InputError("ingredient concept map does not exist", file=str(source))
    with source.open("r", encoding="utf-8") as fh:
        frame = pd.read_csv(fh, dtype=str, keep_default_na=False)
    for column in ("ingredient", "concept_id"):
        if column not in frame.columns:
            raise InputError(f"ingredient concept map lacks column '{column}'", file=str(source))
    frame = frame[frame["concept_id"].str.strip() != ""]
    return pd.DataFrame({
        "map_concept_id": frame["concept_id"].astype("int64"),
        "map_ingredient": frame["ingredient"].str.strip().str.lower(),
    })


def read_omop(con, tables: Mapping[str, ibis.Table] | str | None = None, config: StudyConfig | None = None,
              *, patient_id: str = "person_id", ingredient_map: Path | None = None,
              source: str | None = None) -> Extract:
    """Map OMOP CDM tables to an Extract.

    `tables` is either a mapping of CDM table name -> Ibis table (e.g. from :func:`read_omop_folder` or
    :func:`trdpath.engines.load_tables`), or the schema (PostgreSQL) / database (Spark) holding the CDM,
    or None for the connection's default schema. `patient_id` picks the CDM column that becomes the
    data contract's patient_id: ``person_id`` (the CDM key) or ``person_source_value`` (the trust's own id).
    """
    config = config or StudyConfig()
    if patient_id not in PATIENT_ID_CHOICES:
        raise BackendError(f"patient_id must be one of {', '.join(PATIENT_ID_CHOICES)}; got {patient_id!r}.")
    if tables is None or isinstance(tables, str):
        schema = tables
        cdm = engines.require_tables(con, REQUIRED_TABLES, schema, optional=OPTIONAL_TABLES)
        where = f"{engines.place(con)}" + (f" schema '{schema}'" if schema else "")
    else:
        cdm = {name.lower(): table for name, table in tables.items()}
        missing = [n for n in REQUIRED_TABLES if n not in cdm]
        if missing:
            raise BackendError(f"The OMOP CDM has no table {', '.join(repr(m) for m in missing)} "
                               f"(tables given: {', '.join(sorted(cdm)) or 'none'}).")
        where = source or "the OMOP CDM"
    if not any(name in cdm for name in DRUG_TABLES):
        raise BackendError(f"{where} has neither 'drug_exposure' nor 'drug_era': trdpath needs one of them "
                           "to find antidepressant treatment.")
    mapping = _OmopMapping(con, cdm, load_ingredient_map(ingredient_map), patient_id)
    return Extract(
        patients=mapping.patients(),
        diagnoses=mapping.diagnoses(),
        prescriptions=mapping.prescriptions(),
        referrals=mapping.referrals(),
        notes=mapping.notes(),
        source=source or f"omop:{where}",
    )


def read_omop_folder(folder: Path | str, con=None, config: StudyConfig | None = None, **kwargs) -> Extract:
    """`--data omop:DIR`: CDM tables as NAME.csv / NAME.parquet files (any case of NAME) in DIR, on DuckDB."""
    folder = Path(folder)
    con = con if con is not None else engines.connect("duckdb", engine=(config or StudyConfig()).engine)
    tables = read_folder(con, folder, REQUIRED_TABLES, optional=OPTIONAL_TABLES, kind="OMOP CDM table")
    return read_omop(con, tables, config, source=kwargs.pop("source", f"omop:{folder}"), **kwargs)


def read_omop_location(location: engines.DataLocation, config: StudyConfig | None = None, *, session=None,
                       backend: str | None = None, **kwargs) -> tuple[object, Extract]:
    """Connect to where a ``--data`` value points (engines.backend_from_url) and read its OMOP CDM.

    An ``omop:DIR`` folder is read on `backend` (``--backend``; default the configuration's, DuckDB);
    a database location runs where its tables are, and another `backend` there is an error.
    Returns (connection, Extract); the pipeline runs on that connection.
    """
    config = config or StudyConfig()
    if location.format != "omop":
        raise BackendError(f"{location.display} holds flat tables, not an OMOP CDM.")
    if location.path is not None:
        engine = backend or config.engine.backend
        con = engines.connect(engine, engine=config.engine, session=session)
        return con, read_omop_folder(location.path, con, config, source=location.display, **kwargs)
    if backend is not None and backend != location.backend:
        raise BackendError(f"--backend {backend} cannot run on {location.display}: its tables are in "
                           f"{location.backend}, where the pipeline runs. Leave --backend out.")
    con = engines.connect(location.backend, location.url, config.engine, session=session)
    return con, read_omop(con, location.schema, config, source=location.display, **kwargs)


# ------------------------------------------------------------------------------------------------
def _text(table: ibis.Table, name: str) -> ibis.Value:
    """A column as trimmed text, empty -> NULL; a typed NULL when the table lacks it (optional CDM fields)."""
    if name not in table.columns:
        return ibis.null().cast(dt.string)
    value = table[name]
    if not value.type().is_string():
        value = value.cast(dt.string)
    value = engines.strip_text(value)  # not .strip(): on PySpark it also strips the letters v and f
    return ibis.ifelse(value == "", ibis.null().cast(dt.string), value)


# A whole number as written in text: cast directly, never through a float (a 64-bit person_id such as
# -1095016967997700156 comes out of a float as -1095016967997700096: issue 13).
_WHOLE_NUMBER = r"^[+-]?[0-9]+$"
_ZERO_FRACTION = r"^[+-]?[0-9]+[.]0*$"


def _integer(table: ibis.Table, name: str) -> ibis.Value:
    """A column as int64: whole-number text exactly, "30.0" style text through a float (small values only)."""
    if name not in table.columns:
        return ibis.null().cast(dt.int64)
    value = table[name]
    if value.type().is_string():
        text = _text(table, name)
        return ibis.ifelse(text.re_search(_WHOLE_NUMBER), text.cast(dt.int64), text.cast(dt.float64).cast(dt.int64))
    return value.cast(dt.int64)


def _identifier(table: ibis.Table, name: str) -> ibis.Value:
    """A person_id as text, exactly as the source gives it (data-contract.md: ids are carried unchanged).

    An integer column is written in decimal; text is kept (trimmed), except that a zero fraction some
    exports add ("123.0") is dropped so that CSV and Parquet copies of one CDM give the same ids.
    """
    if name not in table.columns:
        return ibis.null().cast(dt.string)
    value = table[name]
    if value.type().is_integer():
        return value.cast(dt.string)
    if value.type().is_numeric():  # a float or decimal column: whole values, as integers
        return value.cast(dt.int64).cast(dt.string)
    text = _text(table, name)
    return ibis.ifelse(text.re_search(_ZERO_FRACTION), text.re_replace(r"[.]0*$", ""), text)


def _number(table: ibis.Table, name: str) -> ibis.Value:
    if name not in table.columns:
        return ibis.null().cast(dt.float64)
    value = table[name]
    if value.type().is_string():
        value = _text(table, name)
    return value.cast(dt.float64)


def _date(table: ibis.Table, name: str) -> ibis.Value:
    if name not in table.columns:
        return ibis.null().cast(dt.date)
    value = table[name]
    if value.type().is_string():
        # CSV text: keep the YYYY-MM-DD part of dates and datetimes alike.
        value = _text(table, name).substr(0, 10)
    elif value.type().is_timestamp():
        return value.date()
    elif not value.type().is_date():
        # A date column of another type: Spark reads an all-null Parquet column (an empty note table
        # written by pandas) as INT, which no engine can cast to a date. It holds no date.
        return ibis.null().cast(dt.date)
    return value.cast(dt.date)


class _OmopMapping:
    """The CDM -> Extract expressions for one set of tables."""

    def __init__(self, con, cdm: Mapping[str, ibis.Table], ingredient_map: pd.DataFrame, patient_id: str):
        self.con = con
        self.cdm = cdm
        self.ingredient_map = ibis.memtable(ingredient_map, schema={"map_concept_id": "int64", "map_ingredient": "string"})
        self.patient_id = patient_id
        self.has_vocabulary = "concept" in cdm

    # -- identifiers -------------------------------------------------------------------------
    def _person_key(self) -> ibis.Table:
        """person_id -> the contract's patient_id (person_id as text, or person_source_value)."""
        person = self.cdm["person"]
        key = _identifier(person, "person_id")
        if self.patient_id == "person_id":
            patient = key
        else:
            patient = ibis.coalesce(_text(person, "person_source_value"), key)
        return person.select(key_person_id=key, patient_id=patient)

    def _with_patient(self, table: ibis.Table) -> ibis.Table:
        """Add patient_id to a table that has key_person_id."""
        if self.patient_id == "person_id":
            return table.mutate(patient_id=table.key_person_id)
        keys = self._person_key()
        return table.join(keys, "key_person_id", how="inner")

    # -- patients ------------------------------------------------------------------------------
    def patients(self) -> ibis.Table:
        person = self.cdm["person"]
        year = _integer(person, "year_of_birth")
        # data-contract.md: a year-only birth is 1 July of that year; a month without a day is the 1st.
        month = ibis.coalesce(_integer(person, "month_of_birth"), ibis.ifelse(year.notnull(), 7, None))
        day = ibis.coalesce(_integer(person, "day_of_birth"), 1)
        from_parts = ibis.ifelse(year.notnull() & month.notnull(), ibis.date(year, month, day),
                                 ibis.null().cast(dt.date))
        birth_date = ibis.coalesce(_date(person, "birth_datetime"), from_parts)
        gender = _integer(person, "gender_concept_id")
        sex = ibis.cases(
            (gender == GENDER_FEMALE, "female"), (gender == GENDER_MALE, "male"),
            else_=_text(person, "gender_source_value"),
        )
        ethnicity = ibis.coalesce(_text(person, "race_source_value"), _text(person, "ethnicity_source_value"))
        key = _identifier(person, "person_id")
        patient = key
        if self.patient_id == "person_source_value":
            patient = ibis.coalesce(_text(person, "person_source_value"), patient)
        base = person.select(key_person_id=key, patient_id=patient, birth_date=birth_date, sex=sex,
                             ethnicity=ethnicity)
        base = base.left_join(self._deaths(), "key_person_id")
        base = base.left_join(self._employment(), "key_person_id")
        return base.select(
            patient_id=base.patient_id, birth_date=base.birth_date, sex=base.sex, ethnicity=base.ethnicity,
            employment_status=base.employment_status, death_date=base.death_date,
        )

    def _deaths(self) -> ibis.Table:
        if "death" not in self.cdm:
            return ibis.memtable(pd.DataFrame({"key_person_id": pd.Series([], dtype="string"),
                                               "death_date": pd.Series([], dtype="datetime64[s]")})).select(
                "key_person_id", death_date=ibis._.death_date.cast(dt.date))
        death = self.cdm["death"]
        rows = death.select(key_person_id=_identifier(death, "person_id"), death_date=_date(death, "death_date"))
        return rows.group_by("key_person_id").aggregate(death_date=rows.death_date.min())

    def _employment(self) -> ibis.Table:
        empty = ibis.memtable(pd.DataFrame({"key_person_id": pd.Series([], dtype="string"),
                                            "employment_status": pd.Series([], dtype="string")}))
        if "observation" not in self.cdm:
            return empty.select("key_person_id", employment_status=ibis._.employment_status.cast(dt.string))
        obs = self.cdm["observation"]
        rows = obs.select(
            key_person_id=_identifier(obs, "person_id"), kind=_text(obs, "observation_source_value").lower(),
            value=_text(obs, "value_as_string"), when=_date(obs, "observation_date"),
        )
        rows = rows.filter((rows.kind == EMPLOYMENT_OBSERVATION) & rows.value.notnull())
        # The latest recorded status (ties broken by the value, so every backend picks the same one).
        ranked = rows.mutate(rank=ibis.row_number().over(
            group_by=rows.key_person_id, order_by=[ibis.desc(rows.when), ibis.desc(rows.value)]))
        return ranked.filter(ranked["rank"] == 0).select("key_person_id", employment_status=ranked.value)

    # -- diagnoses -----------------------------------------------------------------------------
    def diagnoses(self) -> ibis.Table:
        """condition_occurrence -> (patient_id, code, date, code_system), every row kept.

        The code and its system, in this order: the source concept's code when the vocabulary says it
        is ICD-10(-CM) or ICD-9-CM; for a source concept of another vocabulary (SNOMED, Read), the ICD-10
        code that 'Maps to' the standard concept, else the source value labelled with that vocabulary;
        without a source concept, condition_source_value when it is shaped like an ICD code (its system
        then decided by codes.system), else the mapped ICD-10 code, else the source value as it is.
        Rows no list can read are counted in data_quality.csv, not dropped here (issue 13).
        """
        co = self.cdm["condition_occurrence"]
        rows = co.select(
            key_person_id=_identifier(co, "person_id"), date=_date(co, "condition_start_date"),
            source_value=_text(co, "condition_source_value"),
            source_concept_id=_integer(co, "condition_source_concept_id"),
            concept_id=_integer(co, "condition_concept_id"),
        )
        normalised = rows.source_value.upper()
        icd_shaped = normalised.re_search(ICD10_PATTERN) | normalised.re_search(ICD9_PATTERN)
        rows = rows.mutate(value_code=ibis.ifelse(icd_shaped, rows.source_value, ibis.null().cast(dt.string)))
        none = ibis.null().cast(dt.string)
        if self.has_vocabulary:
            concept = self.cdm["concept"]
            sources = concept.select(src_concept_id=_integer(concept, "concept_id"),
                                     src_code=_text(concept, "concept_code"),
                                     src_vocabulary=_text(concept, "vocabulary_id"))
            rows = rows.left_join(sources, rows.source_concept_id == sources.src_concept_id).drop("src_concept_id")
            if "concept_relationship" in self.cdm:
                icd10 = concept.filter(_text(concept, "vocabulary_id").isin(ICD10_VOCABULARIES)).select(
                    icd_concept_id=_integer(concept, "concept_id"), icd_code=_text(concept, "concept_code"))
                mapped = self._icd10_of_standard(icd10)
                rows = rows.left_join(mapped, rows.concept_id == mapped.standard_concept_id)
                rows = rows.drop("standard_concept_id")
            else:
                rows = rows.mutate(mapped_code=none)
        else:
            rows = rows.mutate(src_code=none, src_vocabulary=none, mapped_code=none)
        icd_source = rows.src_vocabulary.isin(ICD10_VOCABULARIES + ICD9_VOCABULARIES)
        other_source = rows.src_vocabulary.notnull() & ~icd_source
        code = ibis.cases(
            (icd_source, rows.src_code),
            (other_source & rows.mapped_code.notnull(), rows.mapped_code),
            (other_source, rows.source_value),
            (rows.value_code.notnull(), rows.value_code),
            (rows.mapped_code.notnull(), rows.mapped_code),
            else_=rows.source_value,
        )
        system = ibis.cases(
            (icd_source, rows.src_vocabulary),
            (other_source & rows.mapped_code.notnull(), ibis.literal("ICD10")),
            (other_source, rows.src_vocabulary),
            (rows.value_code.notnull(), none),
            (rows.mapped_code.notnull(), ibis.literal("ICD10")),
            else_=none,
        )
        rows = self._with_patient(rows.mutate(code=code, code_system=system))
        return rows.select("patient_id", "code", "date", "code_system")

    def _icd10_of_standard(self, icd10: ibis.Table) -> ibis.Table:
        """For each standard (SNOMED) concept, one ICD-10 code that 'Maps to' it.

        Several ICD-10 codes can map to one SNOMED concept; the smallest code is taken so every backend
        gives the same answer (documented as a loss: e.g. F32.9 over F33.9 for 'depressive disorder').
        """
        rel = self.cdm["concept_relationship"]
        maps_to = rel.filter(_text(rel, "relationship_id") == "Maps to")
        if "invalid_reason" in rel.columns:
            maps_to = maps_to.filter(_text(maps_to, "invalid_reason").isnull())
        pairs = maps_to.select(from_id=_integer(maps_to, "concept_id_1"), standard_concept_id=_integer(maps_to, "concept_id_2"))
        pairs = pairs.join(icd10, pairs.from_id == icd10.icd_concept_id)
        return pairs.group_by("standard_concept_id").aggregate(mapped_code=pairs.icd_code.min())

    # -- prescriptions -------------------------------------------------------------------------
    def _ingredients_of(self) -> ibis.Table | None:
        """drug concept -> (ingredient concept, ingredient name) through concept_ancestor (vocabulary)."""
        if not (self.has_vocabulary and "concept_ancestor" in self.cdm):
            return None
        concept, ancestor = self.cdm["concept"], self.cdm["concept_ancestor"]
        ingredients = concept.filter(
            (_text(concept, "concept_class_id") == "Ingredient")
            & _text(concept, "vocabulary_id").isin(RXNORM_VOCABULARIES)
        ).select(ingredient_concept_id=_integer(concept, "concept_id"),
                 ingredient_name=_text(concept, "concept_name").lower())
        links = ancestor.select(drug_concept_id=_integer(ancestor, "descendant_concept_id"),
                                ingredient_concept_id=_integer(ancestor, "ancestor_concept_id"))
        # An ingredient is its own ancestor; add that row in case the CDM's concept_ancestor omits it.
        selves = ingredients.select(drug_concept_id=ingredients.ingredient_concept_id,
                                    ingredient_concept_id=ingredients.ingredient_concept_id)
        links = links.union(selves, distinct=True)
        return links.join(ingredients, "ingredient_concept_id").select(
            "drug_concept_id", "ingredient_concept_id", "ingredient_name")

    def _name_drugs(self, rows: ibis.Table) -> ibis.Table:
        """Add drug (a name the treatment stage maps to an ingredient) and ingredient_concept_id."""
        ingredients_of = self._ingredients_of()
        if ingredients_of is not None:
            rows = rows.left_join(ingredients_of, "drug_concept_id")
        else:
            rows = rows.mutate(ingredient_concept_id=ibis.null().cast(dt.int64),
                               ingredient_name=ibis.null().cast(dt.string))
        shipped = self.ingredient_map
        lookup_id = ibis.coalesce(rows.ingredient_concept_id, rows.drug_concept_id)
        rows = rows.mutate(lookup_id=lookup_id)
        rows = rows.left_join(shipped, rows.lookup_id == shipped.map_concept_id).drop("map_concept_id")
        if self.has_vocabulary:
            # Without concept_ancestor the drug concept's own name still names it ("quetiapine 25 MG Oral
            # Tablet" -> quetiapine, by the treatment stage's name matching): augmenting agents included.
            concept = self.cdm["concept"]
            names = concept.select(name_concept_id=_integer(concept, "concept_id"),
                                   concept_name=_text(concept, "concept_name"))
            rows = rows.left_join(names, rows.drug_concept_id == names.name_concept_id).drop("name_concept_id")
        else:
            rows = rows.mutate(concept_name=ibis.null().cast(dt.string))
        # An NDC (or other all-digit code) names nothing without a vocabulary: unnamed, counted (issue 13).
        source_name = ibis.ifelse(rows.source_value.re_search(NDC_PATTERN), ibis.null().cast(dt.string), rows.source_value)
        drug = ibis.coalesce(rows.map_ingredient, rows.ingredient_name, rows.concept_name, source_name)
        return rows.mutate(drug=drug, ingredient_concept_id=ibis.coalesce(
            rows.ingredient_concept_id, ibis.ifelse(rows.map_ingredient.notnull(), rows.drug_concept_id, None)))

    def _strengths(self) -> ibis.Table | None:
        """(drug concept, ingredient concept) -> mg of the ingredient per unit, from drug_strength."""
        if "drug_strength" not in self.cdm:
            return None
        ds = self.cdm["drug_strength"]
        unit = _integer(ds, "amount_unit_concept_id")
        amount = _number(ds, "amount_value")
        mg = ibis.cases((unit == UNIT_MILLIGRAM, amount), (unit == UNIT_MICROGRAM, amount / 1000),
                        (unit == UNIT_GRAM, amount * 1000), else_=ibis.null().cast(dt.float64))
        rows = ds.select(strength_drug_concept_id=_integer(ds, "drug_concept_id"),
                         strength_ingredient_id=_integer(ds, "ingredient_concept_id"), strength_mg=mg)
        return rows.group_by("strength_drug_concept_id", "strength_ingredient_id").aggregate(
            strength_mg=rows.strength_mg.max())

    def _single_ingredient_strengths(self, strengths: ibis.Table) -> ibis.Table:
        """drug concept -> mg, for products of one ingredient: the strength when no concept_ancestor says
        which ingredient a product is (the product was named by its concept_name)."""
        per_drug = strengths.group_by("strength_drug_concept_id").aggregate(
            n_ingredients=strengths.count(), single_mg=strengths.strength_mg.max())
        return per_drug.filter(per_drug.n_ingredients == 1).select(
            single_drug_concept_id=per_drug.strength_drug_concept_id, single_mg=per_drug.single_mg)

    def prescriptions(self) -> ibis.Table:
        named = None
        if "drug_exposure" in self.cdm:
            de = self.cdm["drug_exposure"]
            start = _date(de, "drug_exposure_start_date")
            end = _date(de, "drug_exposure_end_date")
            days_supply = _integer(de, "days_supply")
            rows = de.select(
                key_person_id=_identifier(de, "person_id"), drug_concept_id=_integer(de, "drug_concept_id"),
                source_value=_text(de, "drug_source_value"), start_date=start,
                # OHDSI ETL convention: end = start when the duration is unknown; that is no duration at all.
                end_date=ibis.ifelse((end == start) & days_supply.isnull(), ibis.null().cast(dt.date), end),
                days_supply=ibis.ifelse(days_supply > 0, days_supply, ibis.null().cast(dt.int64)),
                quantity=_number(de, "quantity"),
            )
            rows = self._name_drugs(rows)
            strengths = self._strengths()
            if strengths is not None:
                rows = rows.left_join(strengths, (rows.drug_concept_id == strengths.strength_drug_concept_id)
                                      & (rows.ingredient_concept_id == strengths.strength_ingredient_id))
                rows = rows.drop("strength_drug_concept_id", "strength_ingredient_id")
                single = self._single_ingredient_strengths(strengths)
                rows = rows.left_join(single, rows.drug_concept_id == single.single_drug_concept_id)
                rows = rows.mutate(strength_mg=ibis.coalesce(rows.strength_mg, rows.single_mg)).drop(
                    "single_drug_concept_id", "single_mg")
            else:
                rows = rows.mutate(strength_mg=ibis.null().cast(dt.float64))
            # Without drug_strength, "sertraline 50 mg tablets" in drug_source_value still gives the strength
            # (a pattern without inline flags or \\d, which PostgreSQL, Spark and DuckDB all read the same).
            written = rows.source_value.re_extract(r"([0-9]+(?:\.[0-9]+)?) *[mM][gG]", 1)
            written_mg = ibis.ifelse(written == "", ibis.null().cast(dt.string), written).cast(dt.float64)
            strength = ibis.coalesce(rows.strength_mg, written_mg)
            daily = ibis.ifelse((rows.quantity > 0) & (rows.days_supply > 0),
                                strength * rows.quantity / rows.days_supply.cast(dt.float64),
                                ibis.null().cast(dt.float64))
            named = rows.select(
                "key_person_id", "drug", "start_date", "end_date", "days_supply", daily_dose_mg=daily,
            )
        if "drug_era" in self.cdm:
            era = self.cdm["drug_era"]
            eras = era.select(
                key_person_id=_identifier(era, "person_id"), drug_concept_id=_integer(era, "drug_concept_id"),
                source_value=ibis.null().cast(dt.string), start_date=_date(era, "drug_era_start_date"),
                end_date=_date(era, "drug_era_end_date"),
            )
            eras = self._name_drugs(eras)
            eras = eras.select(
                "key_person_id", "drug", "start_date", "end_date",
                days_supply=ibis.null().cast(dt.int64), daily_dose_mg=ibis.null().cast(dt.float64),
            )
            if named is not None:
                # Eras only where no named exposure covers that person and ingredient (no double counting).
                covered = named.select("key_person_id", "drug").distinct()
                eras = eras.anti_join(covered, ["key_person_id", "drug"])
                named = named.union(eras)
            else:
                named = eras
        named = self._with_patient(named)
        return named.select(
            "patient_id", "drug", "start_date", "end_date", "days_supply", "daily_dose_mg",
            atc_code=ibis.null().cast(dt.string),
        )

    # -- referrals and notes -------------------------------------------------------------------
    def _service_rows(self, table: ibis.Table, date_column: str, concept_column: str,
                      source_column: str) -> ibis.Table:
        visit = _integer(table, concept_column)
        return table.select(
            key_person_id=_identifier(table, "person_id"), care_site_id=_integer(table, "care_site_id"),
            visit_source=_text(table, source_column), date=_date(table, date_column),
            # Only the visit types that say the category for certain; the rest is mapped from the name.
            service_category=ibis.cases(
                (visit.isin([VISIT_INPATIENT, VISIT_ER_AND_INPATIENT]), "inpatient"),
                (visit == VISIT_EMERGENCY, "urgent_care"), else_=ibis.null().cast(dt.string)),
        )

    def referrals(self) -> ibis.Table | None:
        parts = []
        if "visit_detail" in self.cdm:
            detail = self.cdm["visit_detail"]
            parts.append(self._service_rows(detail, "visit_detail_start_date", "visit_detail_concept_id",
                                            "visit_detail_source_value"))
        if "visit_occurrence" in self.cdm:
            visits = self.cdm["visit_occurrence"]
            if "visit_detail" in self.cdm:
                # A visit with details is represented by its details (ward / team level), not twice.
                detailed = self.cdm["visit_detail"].select(
                    detailed_visit_id=_integer(self.cdm["visit_detail"], "visit_occurrence_id")).distinct()
                visits = visits.anti_join(detailed, _integer(visits, "visit_occurrence_id") == detailed.detailed_visit_id)
            parts.append(self._service_rows(visits, "visit_start_date", "visit_concept_id", "visit_source_value"))
        if not parts:
            return None
        rows = parts[0] if len(parts) == 1 else parts[0].union(parts[1])
        if "care_site" in self.cdm:
            site = self.cdm["care_site"]
            place = _text(site, "place_of_service_source_value").lower()
            names = site.select(site_id=_integer(site, "care_site_id"),
                                site_name=ibis.coalesce(_text(site, "care_site_name"),
                                                        _text(site, "care_site_source_value")),
                                # A trust may record the service category of a site here (data-contract.md values).
                                site_category=ibis.ifelse(place.isin(SERVICE_CATEGORIES), place,
                                                          ibis.null().cast(dt.string)))
            rows = rows.left_join(names, rows.care_site_id == names.site_id).drop("site_id")
        else:
            rows = rows.mutate(site_name=ibis.null().cast(dt.string), site_category=ibis.null().cast(dt.string))
        service = ibis.coalesce(rows.site_name, rows.visit_source)
        rows = rows.mutate(service=service, service_category=ibis.coalesce(rows.site_category, rows.service_category))
        rows = self._with_patient(rows.filter(service.notnull()))
        return rows.select("patient_id", "service", "date", "service_category")

    def notes(self) -> ibis.Table | None:
        if "note" not in self.cdm:
            return None
        note = self.cdm["note"]
        rows = note.select(
            key_person_id=_identifier(note, "person_id"), note_id=_text(note, "note_id"),
            date=_date(note, "note_date"), text=_text(note, "note_text"),
        )
        rows = self._with_patient(rows.filter(rows.text.notnull()))
        return rows.select("patient_id", "note_id", "date", "text")
