"""The one file-name rule for flat and OMOP folders (docs/data-contract.md "Input"): NAME.csv,
NAME.parquet or a folder NAME/ of Parquet parts, NAME in any case; two files for one table refused."""

from __future__ import annotations

import pandas as pd
import pytest

from trdpath import engines
from trdpath.errors import BackendError
from trdpath.sources.flat import read_flat_folder
from trdpath.sources.folder import find_table_files, read_folder

PATIENTS = "patient_id,birth_date,sex\n007,1970-01-01,F\n"
DIAGNOSES = "patient_id,code,date\n007,F32.1,2010-01-01\n"
PRESCRIPTIONS = "patient_id,drug,start_date\n007,sertraline,2020-01-01\n"


def _flat(folder, **names):
    """Write the three required tables under the given file names (default NAME.csv)."""
    folder.mkdir(exist_ok=True)
    for table, text in (("patients", PATIENTS), ("diagnoses", DIAGNOSES), ("prescriptions", PRESCRIPTIONS)):
        (folder / names.get(table, f"{table}.csv")).write_text(text, encoding="utf-8")
    return folder


@pytest.mark.parametrize("file_name", ["patients.csv", "Patients.csv", "PATIENTS.CSV"])
def test_flat_table_names_in_any_case(tmp_path, file_name):
    folder = _flat(tmp_path / "x", patients=file_name)
    raw, files = read_flat_folder(engines.connect("duckdb"), folder)
    assert files["patients"].name == file_name
    # '007' stays as written (CSV read as text).
    assert raw["patients"].execute()["patient_id"].tolist() == ["007"]


@pytest.mark.parametrize("file_name", ["person.csv", "PERSON.csv", "Person.csv"])
def test_omop_table_names_in_any_case(tmp_path, file_name):
    (tmp_path / file_name).write_text("person_id\n1\n", encoding="utf-8")
    tables = read_folder(engines.connect("duckdb"), tmp_path, ["person"], kind="OMOP CDM table")
    assert tables["person"].execute()["person_id"].tolist() == ["1"]


def test_a_folder_of_parquet_parts_is_one_table_for_flat_and_omop(tmp_path):
    parts = tmp_path / "patients"
    parts.mkdir()
    pd.DataFrame({"patient_id": ["1"], "birth_date": ["1970-01-01"], "sex": ["F"]}).to_parquet(parts / "a.parquet")
    pd.DataFrame({"patient_id": ["2"], "birth_date": ["1971-01-01"], "sex": ["M"]}).to_parquet(parts / "b.parquet")
    assert find_table_files(tmp_path, ["patients"]) == {"patients": parts}
    table = read_folder(engines.connect("duckdb"), tmp_path, ["patients"])["patients"]
    assert sorted(table.execute()["patient_id"]) == ["1", "2"]


def test_an_empty_folder_or_other_files_are_not_tables(tmp_path):
    (tmp_path / "patients").mkdir()  # no Parquet parts
    (tmp_path / "patients.txt").write_text(PATIENTS, encoding="utf-8")
    with pytest.raises(BackendError) as err:
        find_table_files(tmp_path, ["patients"])
    assert str(err.value) == (f"{tmp_path} lacks the required table(s) patients: it has no table 'patients' "
                              "(expected NAME.csv or NAME.parquet; found: patients, patients.txt).")


@pytest.mark.parametrize("second", ["patients.parquet", "PATIENTS.csv"])
def test_two_files_for_one_table_are_refused_for_flat_and_omop(tmp_path, second):
    folder = _flat(tmp_path / "x")
    if second.endswith(".parquet"):
        pd.DataFrame({"patient_id": ["1"]}).to_parquet(folder / second)
    else:
        (folder / second).write_text(PATIENTS, encoding="utf-8")
        if sum(p.name.lower() == "patients.csv" for p in folder.iterdir()) < 2:  # a case-insensitive file system
            pytest.skip("the file system does not tell PATIENTS.csv from patients.csv")
    for read in (lambda: read_flat_folder(engines.connect("duckdb"), folder),
                 lambda: read_folder(engines.connect("duckdb"), folder, ["patients"], kind="OMOP CDM table")):
        with pytest.raises(BackendError, match="has more than one file for table 'patients'"):
            read()


def test_an_optional_table_may_be_absent(tmp_path):
    folder = _flat(tmp_path / "x")
    _, files = read_flat_folder(engines.connect("duckdb"), folder)
    assert sorted(files) == ["diagnoses", "patients", "prescriptions"]
