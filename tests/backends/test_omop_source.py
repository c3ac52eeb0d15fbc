"""OMOP CDM -> Extract on hand-made CDM rows: column types and values worked out by hand."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from trdpath import engines
from trdpath.errors import BackendError
from trdpath.sources.omop import read_omop, read_omop_folder
from trdpath.sources.omop_export import write_omop_folder

pytestmark = pytest.mark.xdist_group("backends")

D = dt.date
SERTRALINE = 739138  # RxNorm ingredient concept id shipped in omop_data/rxnorm_ingredients.csv
EXTRACT_TYPES = {
    "patients": {"patient_id": "string", "birth_date": "date", "sex": "string", "ethnicity": "string",
                 "employment_status": "string", "death_date": "date"},
    "diagnoses": {"patient_id": "string", "code": "string", "date": "date", "code_system": "string"},
    "prescriptions": {"patient_id": "string", "drug": "string", "start_date": "date", "end_date": "date",
                      "days_supply": "int64", "daily_dose_mg": "float64", "atc_code": "string"},
    "referrals": {"patient_id": "string", "service": "string", "date": "date", "service_category": "string"},
    "notes": {"patient_id": "string", "note_id": "string", "date": "date", "text": "string"},
}


def cdm_without_vocabulary() -> dict[str, pd.DataFrame]:
    return {
        "person": pd.DataFrame({
            "person_id": [1, 2, 3], "gender_concept_id": [8532, 8507, 0], "year_of_birth": [1980, 1990, 1975],
            "month_of_birth": [2, None, None], "day_of_birth": [3, None, None],
            "birth_datetime": [None, None, dt.datetime(1975, 5, 6, 14, 30)],
            "person_source_value": ["007", "p2", "p3"], "gender_source_value": ["F", "M", "X"],
            "race_source_value": ["A", None, None], "ethnicity_source_value": [None, "Black British", None],
        }),
        "condition_occurrence": pd.DataFrame({
            "condition_occurrence_id": [1, 2, 3, 4], "person_id": [1, 1, 2, 3],
            "condition_concept_id": [0, 0, 0, 0], "condition_source_concept_id": [0, 0, 0, 0],
            "condition_start_date": [D(2019, 1, 1), D(2019, 2, 1), D(2019, 3, 1), D(2019, 4, 1)],
            "condition_source_value": ["F32.1", "XaX1Z", "f33", " F41 "],
        }),
        "drug_exposure": pd.DataFrame({
            "drug_exposure_id": [1, 2, 3, 4], "person_id": [1, 1, 2, 3],
            "drug_concept_id": [SERTRALINE, 0, 0, 0],
            "drug_exposure_start_date": [D(2019, 1, 1), D(2019, 3, 1), D(2019, 3, 5), D(2019, 4, 1)],
            "drug_exposure_end_date": [D(2019, 1, 31), D(2019, 3, 1), D(2019, 4, 2), D(2019, 4, 29)],
            "days_supply": [30, None, 28, 28], "quantity": [60.0, 28.0, 28.0, None],
            "drug_source_value": ["Lustral 50mg tablets", "Prozac 20 mg capsules", "citalopram 10mg", "Zispin"],
        }),
        "death": pd.DataFrame({"person_id": [2, 2], "death_date": [D(2021, 6, 1), D(2021, 5, 1)]}),
        "observation": pd.DataFrame({
            "person_id": [1, 1, 2], "observation_concept_id": [0, 0, 0],
            "observation_date": [D(2018, 1, 1), D(2020, 1, 1), D(2020, 1, 1)],
            "observation_source_value": ["employment_status", "employment_status", "smoking"],
            "value_as_string": ["Unemployed", "Employed", "never"],
        }),
        "care_site": pd.DataFrame({"care_site_id": [10, 11], "care_site_name": ["CMHT North", None],
                                   "care_site_source_value": [None, "Ward 7"],
                                   "place_of_service_source_value": [None, "inpatient"]}),
        "visit_occurrence": pd.DataFrame({
            "visit_occurrence_id": [100, 101, 102], "person_id": [1, 2, 3],
            "visit_concept_id": [9202, 9201, 9203], "visit_start_date": [D(2019, 5, 1), D(2019, 6, 1), D(2019, 7, 1)],
            "care_site_id": [10, 11, None], "visit_source_value": ["opd", "adm", "Crisis line"],
        }),
        "note": pd.DataFrame({"note_id": [5], "person_id": [3], "note_date": [D(2019, 8, 1)],
                              "note_text": ["Low mood, poor sleep."]}),
    }


def records(con, table, order):
    frame = con.execute(table).sort_values(order).reset_index(drop=True)
    for column in frame.columns:
        if pd.api.types.is_datetime64_any_dtype(frame[column]):
            frame[column] = frame[column].dt.date.astype(object).where(frame[column].notna(), None)
    frame = frame.astype(object).where(frame.notna(), None)
    return frame.to_dict("records")


def test_cdm_rows_become_the_extract(any_con):
    tables = engines.load_tables(any_con, cdm_without_vocabulary(), prefix="cdm_")
    extract = read_omop(any_con, tables)

    for name, types in EXTRACT_TYPES.items():
        assert {k: str(v) for k, v in getattr(extract, name).schema().items()} == types, name

    assert records(any_con, extract.patients, "patient_id") == [
        # full date of birth; the latest employment observation wins
        {"patient_id": "1", "birth_date": D(1980, 2, 3), "sex": "female", "ethnicity": "A",
         "employment_status": "Employed", "death_date": None},
        # year only -> 1 July (data-contract.md); the earliest death record; ethnicity from ethnicity_source_value
        {"patient_id": "2", "birth_date": D(1990, 7, 1), "sex": "male", "ethnicity": "Black British",
         "employment_status": None, "death_date": D(2021, 5, 1)},
        # birth_datetime wins over the parts; unknown gender concept -> the source value
        {"patient_id": "3", "birth_date": D(1975, 5, 6), "sex": "X", "ethnicity": None,
         "employment_status": None, "death_date": None},
    ]
    # A Read code (XaX1Z) is no ICD code and there is no vocabulary to map it: kept as written, with no
    # code system, so no list reads it and data_quality.csv counts it (issue 13). Values stay as written.
    assert records(any_con, extract.diagnoses, ["patient_id", "date"]) == [
        {"patient_id": "1", "code": "F32.1", "date": D(2019, 1, 1), "code_system": None},
        {"patient_id": "1", "code": "XaX1Z", "date": D(2019, 2, 1), "code_system": None},
        {"patient_id": "2", "code": "f33", "date": D(2019, 3, 1), "code_system": None},
        {"patient_id": "3", "code": "F41", "date": D(2019, 4, 1), "code_system": None},
    ]
    assert records(any_con, extract.prescriptions, ["patient_id", "start_date"]) == [
        # shipped ingredient id -> sertraline; 50 mg x 60 tablets / 30 days = 100 mg a day
        {"patient_id": "1", "drug": "sertraline", "start_date": D(2019, 1, 1), "end_date": D(2019, 1, 31),
         "days_supply": 30, "daily_dose_mg": 100.0, "atc_code": None},
        # end = start without days_supply is the CDM's "unknown duration" -> no end, no dose
        {"patient_id": "1", "drug": "Prozac 20 mg capsules", "start_date": D(2019, 3, 1), "end_date": None,
         "days_supply": None, "daily_dose_mg": None, "atc_code": None},
        # 10 mg x 28 / 28 days = 10 mg a day
        {"patient_id": "2", "drug": "citalopram 10mg", "start_date": D(2019, 3, 5), "end_date": D(2019, 4, 2),
         "days_supply": 28, "daily_dose_mg": 10.0, "atc_code": None},
        # no quantity -> no dose
        {"patient_id": "3", "drug": "Zispin", "start_date": D(2019, 4, 1), "end_date": D(2019, 4, 29),
         "days_supply": 28, "daily_dose_mg": None, "atc_code": None},
    ]
    assert records(any_con, extract.referrals, "patient_id") == [
        {"patient_id": "1", "service": "CMHT North", "date": D(2019, 5, 1), "service_category": None},
        {"patient_id": "2", "service": "Ward 7", "date": D(2019, 6, 1), "service_category": "inpatient"},
        {"patient_id": "3", "service": "Crisis line", "date": D(2019, 7, 1), "service_category": "urgent_care"},
    ]
    assert records(any_con, extract.notes, "patient_id") == [
        {"patient_id": "3", "note_id": "5", "date": D(2019, 8, 1), "text": "Low mood, poor sleep."},
    ]


def test_person_source_value_as_patient_id():
    con = engines.connect("duckdb")
    extract = read_omop(con, engines.load_tables(con, cdm_without_vocabulary(), prefix="cdm_"),
                        patient_id="person_source_value")
    assert sorted(con.execute(extract.prescriptions)["patient_id"]) == ["007", "007", "p2", "p3"]
    assert sorted(con.execute(extract.patients)["patient_id"]) == ["007", "p2", "p3"]


def vocabulary_cdm() -> dict[str, pd.DataFrame]:
    """Conditions recorded only as SNOMED, drugs as clinical products, a µg strength, a drug_era."""
    snomed_depression, icd_f329, icd_f339 = 440383, 45591000, 45591001
    clinical_drug, t3_product, ingredient_t3 = 40000001, 40000002, 1505346
    concept = pd.DataFrame([
        (snomed_depression, "Depressive disorder", "SNOMED", "Clinical Finding", "35489007"),
        (icd_f329, "Depressive episode, unspecified", "ICD10", "ICD10 code", "F32.9"),
        (icd_f339, "Recurrent depressive disorder, unspecified", "ICD10", "ICD10 code", "F33.9"),
        (SERTRALINE, "sertraline", "RxNorm", "Ingredient", "36437"),
        (clinical_drug, "sertraline 100 MG Oral Tablet", "RxNorm", "Clinical Drug", "312941"),
        (ingredient_t3, "Liothyronine", "RxNorm", "Ingredient", "10814"),
        (t3_product, "liothyronine 0.02 MG Oral Tablet", "RxNorm", "Clinical Drug", "x"),
    ], columns=["concept_id", "concept_name", "vocabulary_id", "concept_class_id", "concept_code"])
    return {
        "person": pd.DataFrame({"person_id": [1, 2], "gender_concept_id": [8532, 8507], "year_of_birth": [1980, 1981]}),
        "condition_occurrence": pd.DataFrame({
            "person_id": [1, 2], "condition_concept_id": [snomed_depression, snomed_depression],
            "condition_source_concept_id": [0, icd_f339], "condition_start_date": [D(2019, 1, 1), D(2019, 2, 1)],
            "condition_source_value": [None, "296.3"],
        }),
        "drug_exposure": pd.DataFrame({
            "person_id": [1, 1], "drug_concept_id": [clinical_drug, t3_product],
            "drug_exposure_start_date": [D(2019, 1, 1), D(2019, 2, 1)],
            "drug_exposure_end_date": [D(2019, 1, 29), D(2019, 3, 1)], "days_supply": [28, 28],
            "quantity": [14.0, 56.0], "drug_source_value": ["local code 1", "local code 2"],
        }),
        "drug_era": pd.DataFrame({
            "person_id": [1, 2], "drug_concept_id": [SERTRALINE, SERTRALINE],
            "drug_era_start_date": [D(2019, 1, 1), D(2019, 5, 1)], "drug_era_end_date": [D(2019, 1, 29), D(2019, 8, 1)],
        }),
        "concept": concept,
        "concept_ancestor": pd.DataFrame({"ancestor_concept_id": [SERTRALINE, ingredient_t3],
                                          "descendant_concept_id": [clinical_drug, t3_product]}),
        "concept_relationship": pd.DataFrame({
            "concept_id_1": [icd_f339, icd_f329, snomed_depression], "concept_id_2": [snomed_depression] * 2 + [icd_f329],
            "relationship_id": ["Maps to", "Maps to", "Mapped from"],
        }),
        "drug_strength": pd.DataFrame({
            "drug_concept_id": [clinical_drug, t3_product], "ingredient_concept_id": [SERTRALINE, ingredient_t3],
            "amount_value": [100.0, 20.0], "amount_unit_concept_id": [8576, 9655],  # mg, µg
        }),
    }


def test_vocabulary_paths():
    con = engines.connect("duckdb")
    extract = read_omop(con, engines.load_tables(con, vocabulary_cdm(), prefix="cdm_"))
    assert records(con, extract.diagnoses, "patient_id") == [
        # SNOMED only: two ICD-10 codes map to it; the smallest is taken (F32.9, documented loss)
        {"patient_id": "1", "code": "F32.9", "date": D(2019, 1, 1), "code_system": "ICD10"},
        # the ICD-10 source concept wins over the (ICD-9) source value and the SNOMED mapping
        {"patient_id": "2", "code": "F33.9", "date": D(2019, 2, 1), "code_system": "ICD10"},
    ]
    assert records(con, extract.prescriptions, ["patient_id", "start_date"]) == [
        # concept_ancestor names the ingredient; 100 mg x 14 / 28 days = 50 mg a day
        {"patient_id": "1", "drug": "sertraline", "start_date": D(2019, 1, 1), "end_date": D(2019, 1, 29),
         "days_supply": 28, "daily_dose_mg": 50.0, "atc_code": None},
        # 20 µg = 0.02 mg x 56 / 28 days = 0.04 mg a day
        {"patient_id": "1", "drug": "liothyronine", "start_date": D(2019, 2, 1), "end_date": D(2019, 3, 1),
         "days_supply": 28, "daily_dose_mg": 0.04, "atc_code": None},
        # patient 2 has no exposures: the drug_era fills in (patient 1's era is covered by an exposure)
        {"patient_id": "2", "drug": "sertraline", "start_date": D(2019, 5, 1), "end_date": D(2019, 8, 1),
         "days_supply": None, "daily_dose_mg": None, "atc_code": None},
    ]


def test_drug_era_alone_is_enough():
    cdm = vocabulary_cdm()
    del cdm["drug_exposure"]
    con = engines.connect("duckdb")
    extract = read_omop(con, engines.load_tables(con, cdm, prefix="cdm_"))
    rows = con.execute(extract.prescriptions).sort_values("patient_id")
    assert rows[["patient_id", "drug"]].values.tolist() == [["1", "sertraline"], ["2", "sertraline"]]


def test_missing_tables_are_named():
    con = engines.connect("duckdb")
    cdm = cdm_without_vocabulary()
    with pytest.raises(BackendError) as err:
        read_omop(con, engines.load_tables(con, {"person": cdm["person"]}, prefix="cdm_"))
    assert str(err.value) == "The OMOP CDM has no table 'condition_occurrence' (tables given: person)."
    no_drugs = {k: cdm[k] for k in ("person", "condition_occurrence")}
    with pytest.raises(BackendError, match="has neither 'drug_exposure' nor 'drug_era'"):
        read_omop(con, engines.load_tables(con, no_drugs, prefix="cdm_"))


def test_cdm_schema_on_postgres(postgres_con):
    engines.load_tables(postgres_con, cdm_without_vocabulary(), prefix="")  # temp tables are not in a schema
    with pytest.raises(BackendError) as err:
        read_omop(postgres_con, postgres_con.test_schema)
    assert str(err.value).startswith(f"PostgreSQL has no table 'person', 'condition_occurrence' in schema "
                                     f"'{postgres_con.test_schema}'")
    for name, frame in cdm_without_vocabulary().items():
        postgres_con.create_table(name, engines.frame_to_arrow(frame), database=postgres_con.test_schema)
    extract = read_omop(postgres_con, postgres_con.test_schema)
    assert sorted(postgres_con.execute(extract.patients)["patient_id"]) == ["1", "2", "3"]
    assert postgres_con.execute(extract.diagnoses.count()) == 4  # every condition row, the Read code included (counted in data quality, not dropped)


@pytest.mark.parametrize("file_format", ["csv", "parquet"])
def test_omop_folder(tmp_path, file_format):
    folder = write_omop_folder(cdm_without_vocabulary(), tmp_path / "cdm", file_format)
    if file_format == "csv":  # table names in capitals, as some CDM exports write them
        (folder / "person.csv").rename(folder / "PERSON.csv")
    con = engines.connect("duckdb")
    extract = read_omop_folder(folder, con)
    assert extract.source == f"omop:{folder}"
    assert records(con, extract.prescriptions.select("patient_id", "drug", "daily_dose_mg"), "drug") == [
        {"patient_id": "1", "drug": "Prozac 20 mg capsules", "daily_dose_mg": None},
        {"patient_id": "3", "drug": "Zispin", "daily_dose_mg": None},
        {"patient_id": "2", "drug": "citalopram 10mg", "daily_dose_mg": 10.0},
        {"patient_id": "1", "drug": "sertraline", "daily_dose_mg": 100.0},
    ]
    assert records(con, extract.patients.select("patient_id", "birth_date"), "patient_id")[2] == {
        "patient_id": "3", "birth_date": D(1975, 5, 6)}


def test_data_string_to_extract(tmp_path):
    from trdpath.sources.omop import read_omop_location

    folder = write_omop_folder(cdm_without_vocabulary(), tmp_path / "cdm", "parquet")
    con, extract = read_omop_location(engines.backend_from_url(f"omop:{folder}"), patient_id="person_source_value")
    assert extract.source == f"omop:{folder}"
    assert sorted(con.execute(extract.patients)["patient_id"]) == ["007", "p2", "p3"]
    with pytest.raises(BackendError, match="holds flat tables, not an OMOP CDM"):
        read_omop_location(engines.backend_from_url(str(folder)))
