"""A flat extract (data-contract.md tables) as OMOP CDM v5.4 tables: the synthetic OMOP fixture.

The same patients then exist in both forms, and classifying either must give the same
patients.csv (tests/backends). It is also a small, honest example of what a trust's OMOP ETL
produces. Concept ids are consistent: reference ingredients use the shipped RxNorm ids
(omop_data/rxnorm_ingredients.csv) where known; everything else synthetic uses the OMOP range
for local concepts (>= 2,000,000,000). With ``vocabulary=True`` a tiny vocabulary is written
too (concept, concept_ancestor, concept_relationship, drug_strength), so the vocabulary paths
of the OMOP source are exercised; without it the source falls back to source values.

Conventions of the export (documented in docs/backends.md):
- person_id is 1..n in the order of the patients table; person_source_value keeps patient_id.
- A prescription's daily dose is written as a strength of one unit (drug_strength and "NN mg" in
  drug_source_value) with quantity = days_supply units, so strength x quantity / days_supply is the
  dose. A prescription with neither end_date nor days_supply gets days_supply = the default
  exposure length (the CDM cannot hold a dose without a duration).
- Each referral is one visit_occurrence at a care_site named after the service; an explicit
  service_category is kept in care_site.place_of_service_source_value.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from trdpath.atomic import replace_folder
from trdpath.config import StudyConfig
from trdpath.errors import InputError
from trdpath.reference import ReferenceData
from trdpath.sources.omop import (EMPLOYMENT_OBSERVATION, GENDER_FEMALE, GENDER_MALE, UNIT_MILLIGRAM,
                                  VISIT_EMERGENCY, VISIT_INPATIENT, load_ingredient_map)

VISIT_OUTPATIENT = 9202
TYPE_EHR = 32817  # type concept "EHR": where the record came from
TYPE_EHR_PRESCRIPTION = 32838
LOCAL_CONCEPT_BASE = 2_000_000_000  # OMOP's range for site-specific concepts
_ICD_BASE, _SNOMED_BASE, _INGREDIENT_BASE, _CLINICAL_DRUG_BASE = (
    LOCAL_CONCEPT_BASE + 100_000, LOCAL_CONCEPT_BASE + 200_000, LOCAL_CONCEPT_BASE + 300_000,
    LOCAL_CONCEPT_BASE + 400_000)
_FEMALE = {"female", "f", "woman", "girl"}
_MALE = {"male", "m", "man", "boy"}


def _dates(series: pd.Series | None, n: int) -> pd.Series:
    if series is None:
        return pd.Series([pd.NaT] * n, dtype="datetime64[ns]")
    return pd.to_datetime(series.replace("", None), errors="coerce").dt.normalize()


def _numbers(series: pd.Series | None, n: int) -> pd.Series:
    if series is None:
        return pd.Series([np.nan] * n, dtype="float64")
    return pd.to_numeric(series.replace("", None), errors="coerce")


def _text(series: pd.Series | None, n: int) -> pd.Series:
    if series is None:
        return pd.Series([None] * n, dtype=object)
    values = series.astype(object).where(series.notna(), None)
    return values.map(lambda v: None if v is None or str(v).strip() == "" else str(v).strip())


def _as_date(values: pd.Series) -> pd.Series:
    return values.dt.date.astype(object).where(values.notna(), None)


def _icd10_dotted(code: str) -> str:
    """'f321' / 'F32.1' -> 'F32.1' (the form OMOP's ICD10 vocabulary uses)."""
    compact = code.upper().replace(".", "").strip()
    return compact if len(compact) <= 3 else f"{compact[:3]}.{compact[3:]}"


class _DrugNames:
    """Flat drug names / ATC codes -> reference ingredient (conservative: whole name, first word, ATC)."""

    def __init__(self, reference: ReferenceData):
        self.by_name: dict[str, str] = {}
        self.by_atc: dict[str, str] = {}
        for frame in (reference.antidepressants, reference.augmenting_agents):
            for row in frame.itertuples():
                ingredient = row.ingredient.strip().lower()
                self.by_atc[row.atc_code.strip().upper()] = ingredient
                self.by_name[ingredient] = ingredient
                for synonym in str(row.synonyms).split("|"):
                    if synonym.strip():
                        self.by_name[synonym.strip().lower()] = ingredient

    def ingredient(self, name: str | None, atc: str | None) -> str | None:
        if atc and atc.strip().upper() in self.by_atc:
            return self.by_atc[atc.strip().upper()]
        if not name:
            return None
        text = name.strip().lower()
        if text in self.by_name:
            return self.by_name[text]
        first = re.split(r"[^a-z\-]+", text)[0] if text else ""
        return self.by_name.get(first)


def flat_to_omop(tables: Mapping[str, pd.DataFrame], config: StudyConfig | None = None,
                 vocabulary: bool = False) -> dict[str, pd.DataFrame]:
    """The data contract's tables (patients, diagnoses, prescriptions, referrals?, notes?) as CDM tables."""
    config = config or StudyConfig()
    for name in ("patients", "diagnoses", "prescriptions"):
        if name not in tables:
            raise InputError(f"the flat extract has no '{name}' table")
    reference = ReferenceData(config)
    names = _DrugNames(reference)
    shipped = dict(zip(load_ingredient_map()["map_ingredient"], load_ingredient_map()["map_concept_id"]))

    patients = tables["patients"].reset_index(drop=True)
    n = len(patients)
    patient_ids = _text(patients["patient_id"], n)
    person_of = {pid: i + 1 for i, pid in enumerate(patient_ids)}

    def person_ids(frame: pd.DataFrame) -> pd.Series:
        ids = _text(frame["patient_id"], len(frame)).map(person_of)
        if ids.isna().any():
            unknown = _text(frame["patient_id"], len(frame))[ids.isna()].iloc[0]
            raise InputError("patient_id not in the patients table", value=unknown)
        return ids.astype("int64")

    # The extraction date (latest date anywhere): the date an employment status was observed.
    all_dates = [_dates(patients.get(c), n) for c in ("birth_date", "death_date")]
    for name, columns in (("diagnoses", ("date",)), ("prescriptions", ("start_date", "end_date")),
                          ("referrals", ("date",)), ("notes", ("date",))):
        if name in tables and tables[name] is not None:
            all_dates += [_dates(tables[name].get(c), len(tables[name])) for c in columns]
    extraction_date = max((s.max() for s in all_dates if s.notna().any()), default=pd.Timestamp("2000-01-01"))

    # person
    birth = _dates(patients.get("birth_date"), n)
    year_only = _numbers(patients.get("year_of_birth"), n)
    sex = _text(patients.get("sex"), n)
    sex_lower = sex.map(lambda v: v.lower() if v else "")
    person = pd.DataFrame({
        "person_id": np.arange(1, n + 1, dtype="int64"),
        "gender_concept_id": np.select([sex_lower.isin(_FEMALE), sex_lower.isin(_MALE)],
                                       [GENDER_FEMALE, GENDER_MALE], 0).astype("int64"),
        "year_of_birth": birth.dt.year.fillna(year_only).astype("Int64"),
        "month_of_birth": birth.dt.month.astype("Int64"),
        "day_of_birth": birth.dt.day.astype("Int64"),
        "birth_datetime": birth,
        "race_concept_id": np.zeros(n, dtype="int64"),
        "ethnicity_concept_id": np.zeros(n, dtype="int64"),
        "person_source_value": patient_ids,
        "gender_source_value": sex,
        "race_source_value": _text(patients.get("ethnicity"), n),
    })
    omop: dict[str, pd.DataFrame] = {"person": person}

    death = _dates(patients.get("death_date"), n)
    omop["death"] = pd.DataFrame({
        "person_id": person["person_id"][death.notna()].to_numpy(),
        "death_date": _as_date(death[death.notna()]).to_numpy(),
        "death_type_concept_id": TYPE_EHR,
    })

    employment = _text(patients.get("employment_status"), n)
    has_employment = employment.notna()
    omop["observation"] = pd.DataFrame({
        "observation_id": np.arange(1, int(has_employment.sum()) + 1, dtype="int64"),
        "person_id": person["person_id"][has_employment].to_numpy(),
        "observation_concept_id": 0,
        "observation_date": extraction_date.date(),
        "observation_type_concept_id": TYPE_EHR,
        "value_as_string": employment[has_employment].to_numpy(),
        "observation_source_value": EMPLOYMENT_OBSERVATION,
    })

    # condition_occurrence
    diagnoses = tables["diagnoses"].reset_index(drop=True)
    codes = _text(diagnoses["code"], len(diagnoses))
    dotted = codes.map(lambda c: _icd10_dotted(c) if c else None)
    distinct_codes = sorted(set(dotted.dropna()))
    code_index = {code: i for i, code in enumerate(distinct_codes)}
    omop["condition_occurrence"] = pd.DataFrame({
        "condition_occurrence_id": np.arange(1, len(diagnoses) + 1, dtype="int64"),
        "person_id": person_ids(diagnoses),
        "condition_concept_id": (dotted.map(code_index) + _SNOMED_BASE).fillna(0).astype("int64")
        if vocabulary else 0,
        "condition_start_date": _as_date(_dates(diagnoses["date"], len(diagnoses))),
        "condition_type_concept_id": TYPE_EHR,
        "condition_source_value": codes,
        "condition_source_concept_id": (dotted.map(code_index) + _ICD_BASE).fillna(0).astype("int64")
        if vocabulary else 0,
    })

    # drug_exposure
    rx = tables["prescriptions"].reset_index(drop=True)
    m = len(rx)
    start = _dates(rx["start_date"], m)
    end = _dates(rx.get("end_date"), m)
    supply = _numbers(rx.get("days_supply"), m)
    dose = _numbers(rx.get("daily_dose_mg"), m)
    drug_names = _text(rx["drug"], m)
    ingredient = pd.Series([names.ingredient(d, a) for d, a in zip(drug_names, _text(rx.get("atc_code"), m))],
                           dtype=object)
    # days_supply: as given, else the end date's span (at least 1 day), else the default exposure length.
    span = (end - start).dt.days.clip(lower=1)
    days_supply = supply.where(supply.notna(), span.where(end.notna()))
    days_supply = days_supply.fillna(config.treatment.default_exposure_days).astype("int64")
    end_written = end.where(end.notna(), start + pd.to_timedelta(days_supply, unit="D"))
    strength_text = dose.map(lambda v: "" if pd.isna(v) else f" {v:g} mg")
    source_value = [
        (f"{ing}{s}" if ing and not vocabulary else f"{name or ''}{s}".strip() or None)
        for ing, name, s in zip(ingredient, drug_names, strength_text)
    ]
    if vocabulary:
        ingredient_ids = {ing: shipped.get(ing, _INGREDIENT_BASE + i)
                          for i, ing in enumerate(sorted(set(ingredient.dropna())))}
        products = sorted({(ing, float(v)) for ing, v in zip(ingredient, dose) if ing and not pd.isna(v)})
        product_ids = {p: _CLINICAL_DRUG_BASE + i for i, p in enumerate(products)}
        drug_concept = [
            (product_ids[(ing, float(v))] if not pd.isna(v) else ingredient_ids[ing]) if ing else 0
            for ing, v in zip(ingredient, dose)
        ]
    else:
        drug_concept = [shipped.get(ing, 0) if ing else 0 for ing in ingredient]
    omop["drug_exposure"] = pd.DataFrame({
        "drug_exposure_id": np.arange(1, m + 1, dtype="int64"),
        "person_id": person_ids(rx),
        "drug_concept_id": pd.Series(drug_concept, dtype="int64"),
        "drug_exposure_start_date": _as_date(start),
        "drug_exposure_end_date": _as_date(end_written),
        "drug_type_concept_id": TYPE_EHR_PRESCRIPTION,
        "quantity": days_supply.astype("float64"),
        "days_supply": days_supply,
        "drug_source_value": pd.Series(source_value, dtype=object),
    })

    # visit_occurrence + care_site
    referrals = tables.get("referrals")
    if referrals is not None:
        referrals = referrals.reset_index(drop=True)
        k = len(referrals)
        service = _text(referrals["service"], k)
        category = _text(referrals.get("service_category"), k)
        sites = sorted({(s, c or "") for s, c in zip(service, category)})
        site_ids = {site: i + 1 for i, site in enumerate(sites)}
        omop["care_site"] = pd.DataFrame({
            "care_site_id": np.arange(1, len(sites) + 1, dtype="int64"),
            "care_site_name": [s for s, _ in sites],
            "place_of_service_source_value": [c or None for _, c in sites],
            "care_site_source_value": [s for s, _ in sites],
        })
        visit_date = _as_date(_dates(referrals["date"], k))
        omop["visit_occurrence"] = pd.DataFrame({
            "visit_occurrence_id": np.arange(1, k + 1, dtype="int64"),
            "person_id": person_ids(referrals),
            "visit_concept_id": np.select([category == "inpatient", category == "urgent_care"],
                                          [VISIT_INPATIENT, VISIT_EMERGENCY], VISIT_OUTPATIENT).astype("int64"),
            "visit_start_date": visit_date,
            "visit_end_date": visit_date,
            "visit_type_concept_id": TYPE_EHR,
            "care_site_id": [site_ids[(s, c or "")] for s, c in zip(service, category)],
            "visit_source_value": service,
        })

    notes = tables.get("notes")
    if notes is not None:
        notes = notes.reset_index(drop=True)
        j = len(notes)
        omop["note"] = pd.DataFrame({
            "note_id": np.arange(1, j + 1, dtype="int64"),
            "person_id": person_ids(notes),
            "note_date": _as_date(_dates(notes["date"], j)),
            "note_type_concept_id": TYPE_EHR,
            "note_class_concept_id": 0,
            "note_title": None,
            "note_text": _text(notes["text"], j),
            "encoding_concept_id": 0,
            "language_concept_id": 0,
            "note_source_value": _text(notes["note_id"], j),
        })

    if vocabulary:
        omop.update(_vocabulary(distinct_codes, ingredient_ids, product_ids))
    return omop


def _vocabulary(codes: list[str], ingredient_ids: dict[str, int],
                product_ids: dict[tuple[str, float], int]) -> dict[str, pd.DataFrame]:
    """A tiny vocabulary: ICD10 + SNOMED-like condition concepts, RxNorm ingredients and products."""
    valid = {"valid_start_date": dt.date(1970, 1, 1), "valid_end_date": dt.date(2099, 12, 31), "invalid_reason": None}
    concept_rows = []
    for i, code in enumerate(codes):
        concept_rows.append({"concept_id": _ICD_BASE + i, "concept_name": f"ICD-10 {code}", "domain_id": "Condition",
                             "vocabulary_id": "ICD10", "concept_class_id": "ICD10 code", "standard_concept": None,
                             "concept_code": code, **valid})
        concept_rows.append({"concept_id": _SNOMED_BASE + i, "concept_name": f"Condition mapped from {code}",
                             "domain_id": "Condition", "vocabulary_id": "SNOMED", "concept_class_id": "Clinical Finding",
                             "standard_concept": "S", "concept_code": f"local-{i}", **valid})
    for ingredient, concept_id in ingredient_ids.items():
        concept_rows.append({"concept_id": concept_id, "concept_name": ingredient.capitalize(), "domain_id": "Drug",
                             "vocabulary_id": "RxNorm", "concept_class_id": "Ingredient", "standard_concept": "S",
                             "concept_code": f"local-{concept_id}", **valid})
    for (ingredient, strength), concept_id in product_ids.items():
        concept_rows.append({"concept_id": concept_id, "concept_name": f"{ingredient} {strength:g} MG Oral Tablet",
                             "domain_id": "Drug", "vocabulary_id": "RxNorm", "concept_class_id": "Clinical Drug",
                             "standard_concept": "S", "concept_code": f"local-{concept_id}", **valid})
    ancestors = [{"ancestor_concept_id": ingredient_ids[ing], "descendant_concept_id": cid,
                  "min_levels_of_separation": 1, "max_levels_of_separation": 1}
                 for (ing, _), cid in product_ids.items()]
    ancestors += [{"ancestor_concept_id": cid, "descendant_concept_id": cid, "min_levels_of_separation": 0,
                   "max_levels_of_separation": 0} for cid in ingredient_ids.values()]
    relationships = [{"concept_id_1": _ICD_BASE + i, "concept_id_2": _SNOMED_BASE + i, "relationship_id": "Maps to",
                      **valid} for i in range(len(codes))]
    strengths = [{"drug_concept_id": cid, "ingredient_concept_id": ingredient_ids[ing], "amount_value": strength,
                  "amount_unit_concept_id": UNIT_MILLIGRAM, **valid} for (ing, strength), cid in product_ids.items()]
    columns = {
        "concept_ancestor": ["ancestor_concept_id", "descendant_concept_id", "min_levels_of_separation",
                             "max_levels_of_separation"],
        "concept_relationship": ["concept_id_1", "concept_id_2", "relationship_id", "valid_start_date",
                                 "valid_end_date", "invalid_reason"],
        "drug_strength": ["drug_concept_id", "ingredient_concept_id", "amount_value", "amount_unit_concept_id",
                          "valid_start_date", "valid_end_date", "invalid_reason"],
    }
    return {
        "concept": pd.DataFrame(concept_rows),
        "concept_ancestor": pd.DataFrame(ancestors, columns=columns["concept_ancestor"]),
        "concept_relationship": pd.DataFrame(relationships, columns=columns["concept_relationship"]),
        "drug_strength": pd.DataFrame(strengths, columns=columns["drug_strength"]),
    }


def write_omop_folder(omop: Mapping[str, pd.DataFrame], folder: Path | str, file_format: str = "csv") -> Path:
    """Write CDM tables as NAME.csv or NAME.parquet into `folder`, atomically (all files or none)."""
    if file_format not in ("csv", "parquet"):
        raise InputError(f"file format must be csv or parquet, not {file_format!r}")
    folder = Path(folder)
    with replace_folder(folder) as staging:  # all files or none (trdpath.atomic)
        for name, frame in omop.items():
            if file_format == "csv":
                frame.to_csv(staging / f"{name}.csv", index=False, date_format="%Y-%m-%d")
            else:
                # Microsecond timestamps: Spark cannot read pandas' default nanoseconds from Parquet.
                frame.to_parquet(staging / f"{name}.parquet", index=False, coerce_timestamps="us",
                                 allow_truncated_timestamps=True)
    return folder
