"""Empty and absent optional tables are typed empty relations on every backend (issue 13).

A header-only referrals.csv crashed `trdpath run` with an IbisTypeError, and a note table without a
note up to the index date gave PostgreSQL "cannot yet reliably handle null typed columns". Every case
here has the same one patient (a depressed adult on sertraline for two months), so the expected row is
worked out once: in the cohort, no referral counted, no note flag raised.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from trdpath.api import classify
from trdpath.schema import REFERRAL_COLUMNS

pytestmark = pytest.mark.xdist_group("backends")

BACKENDS = ["duckdb", "postgres", pytest.param("pyspark", marks=pytest.mark.slow)]


def _need(backend: str, request) -> None:
    if backend == "postgres":
        url = request.getfixturevalue("postgres_url")
        request.getfixturevalue("monkeypatch").setenv("TRDPATH_POSTGRES_URL", url)
    if backend == "pyspark":
        request.getfixturevalue("spark_con")


def _write(folder: Path, name: str, text: str) -> None:
    (folder / f"{name}.csv").write_text(text.strip() + "\n", encoding="utf-8")


def _check_one_patient(out: Path, patient_id: str, notes: bool) -> None:
    row = pd.read_csv(out / "patients.csv", dtype=str, keep_default_na=False).set_index("patient_id").loc[patient_id]
    assert row["in_cohort"].lower() == "true"
    assert row["n_antidepressants"] == "1"
    assert all(row[c] == "0" for c in REFERRAL_COLUMNS)
    # A notes table with nothing up to the index date: the NLP flags are false, not empty (they are
    # empty only without a notes table).
    assert row["self_harm_nlp"].lower() == ("false" if notes else "")


@pytest.mark.parametrize("backend", BACKENDS)
def test_flat_header_only_optional_tables(tmp_path, backend, request):
    _need(backend, request)
    folder = tmp_path / "extract"
    folder.mkdir()
    _write(folder, "patients", "patient_id,birth_date,sex\n1,1970-01-01,F")
    _write(folder, "diagnoses", "patient_id,code,date\n1,F32.1,2010-01-01")
    _write(folder, "prescriptions", "patient_id,drug,start_date,end_date,daily_dose_mg\n1,sertraline,2020-01-01,2020-03-01,100")
    _write(folder, "referrals", "patient_id,service,date,service_category")
    _write(folder, "notes", "patient_id,note_id,date,text")
    classify(folder, tmp_path / "out", backend=backend)
    _check_one_patient(tmp_path / "out", "1", notes=True)


@pytest.mark.parametrize("backend", BACKENDS)
def test_flat_notes_only_after_the_index_date(tmp_path, backend, request):
    """The notes exist but none is on or before the index date (2020-03-01, the latest event date other
    than the note itself... which is later: so give the index date)."""
    _need(backend, request)
    folder = tmp_path / "extract"
    folder.mkdir()
    _write(folder, "patients", "patient_id,birth_date,sex\n1,1970-01-01,F")
    _write(folder, "diagnoses", "patient_id,code,date\n1,F32.1,2010-01-01")
    _write(folder, "prescriptions", "patient_id,drug,start_date,end_date,daily_dose_mg\n1,sertraline,2020-01-01,2020-03-01,100")
    _write(folder, "notes", "patient_id,note_id,date,text\n1,n1,2021-06-01,Took an overdose last night.")
    import datetime as dt

    classify(folder, tmp_path / "out", backend=backend, index_date=dt.date(2020, 6, 1))
    _check_one_patient(tmp_path / "out", "1", notes=True)


# Each optional CDM table as a header-only file: the columns the OMOP source reads.
EMPTY_CDM_TABLES = {
    "note": "note_id,person_id,note_date,note_text",
    "visit_occurrence": "visit_occurrence_id,person_id,visit_concept_id,visit_start_date,care_site_id,visit_source_value",
    "visit_detail": "visit_detail_id,person_id,visit_detail_concept_id,visit_detail_start_date,care_site_id,"
                    "visit_detail_source_value,visit_occurrence_id",
    "care_site": "care_site_id,care_site_name,care_site_source_value,place_of_service_source_value",
    "death": "person_id,death_date",
    "drug_era": "drug_era_id,person_id,drug_concept_id,drug_era_start_date,drug_era_end_date",
    "observation": "observation_id,person_id,observation_concept_id,observation_date,observation_source_value,value_as_string",
    "concept": "concept_id,concept_name,domain_id,vocabulary_id,concept_class_id,standard_concept,concept_code",
    "concept_ancestor": "ancestor_concept_id,descendant_concept_id,min_levels_of_separation,max_levels_of_separation",
    "concept_relationship": "concept_id_1,concept_id_2,relationship_id,invalid_reason",
    "drug_strength": "drug_concept_id,ingredient_concept_id,amount_value,amount_unit_concept_id",
}


@pytest.mark.parametrize("backend", BACKENDS)
def test_omop_header_only_optional_tables(tmp_path, backend, request):
    _need(backend, request)
    folder = tmp_path / "cdm"
    folder.mkdir()
    _write(folder, "person", "person_id,gender_concept_id,year_of_birth\n-1095016967997700156,8532,1970")
    _write(folder, "condition_occurrence", "condition_occurrence_id,person_id,condition_concept_id,"
           "condition_source_concept_id,condition_start_date,condition_source_value\n"
           "1,-1095016967997700156,0,0,2010-01-01,F32.1")
    _write(folder, "drug_exposure", "drug_exposure_id,person_id,drug_concept_id,drug_exposure_start_date,"
           "drug_exposure_end_date,days_supply,quantity,drug_source_value\n"
           "1,-1095016967997700156,739138,2020-01-01,2020-03-01,60,120,sertraline 50 mg tablet")
    for name, header in EMPTY_CDM_TABLES.items():
        _write(folder, name, header)
    classify(f"omop:{folder}", tmp_path / "out", backend=backend)
    _check_one_patient(tmp_path / "out", "-1095016967997700156", notes=True)


@pytest.mark.parametrize("backend", BACKENDS)
def test_omop_without_optional_tables(tmp_path, backend, request):
    _need(backend, request)
    folder = tmp_path / "cdm"
    folder.mkdir()
    _write(folder, "person", "person_id,gender_concept_id,year_of_birth\n5,8532,1970")
    _write(folder, "condition_occurrence", "person_id,condition_start_date,condition_source_value\n5,2010-01-01,F32.1")
    _write(folder, "drug_era", "person_id,drug_concept_id,drug_era_start_date,drug_era_end_date\n5,739138,2020-01-01,2020-03-01")
    classify(f"omop:{folder}", tmp_path / "out", backend=backend)
    _check_one_patient(tmp_path / "out", "5", notes=False)
