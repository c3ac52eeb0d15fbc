"""Patient ids at the edges come out exactly as they went in, on every backend and both source kinds.

Issue 13: a 64-bit hashed person_id read from CSV went through a float (-1095016967997700156 came out
as -1095016967997700096), so CSV and Parquet copies of one CDM disagreed on every id. The expected ids
below are the input ids themselves: nothing may change them (no arithmetic to redo).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from trdpath.api import classify

pytestmark = pytest.mark.xdist_group("backends")

# int64's two ends, a hashed id whose last digits a float64 loses, and a text id with leading zeros.
EDGE_INTEGERS = ["-9223372036854775808", "9223372036854775807", "-1095016967997700156"]
TEXT_ID = "007"
BACKENDS = ["duckdb", "postgres", pytest.param("pyspark", marks=pytest.mark.slow)]


def _need(backend: str, request) -> None:
    if backend == "postgres":
        url = request.getfixturevalue("postgres_url")  # skips (or fails under CI) without a server
        request.getfixturevalue("monkeypatch").setenv("TRDPATH_POSTGRES_URL", url)
    if backend == "pyspark":
        request.getfixturevalue("spark_con")  # one local session for the run


def _written_ids(out: Path) -> list[str]:
    frame = pd.read_csv(out / "patients.csv", dtype=str, keep_default_na=False)
    return sorted(frame["patient_id"])


def _flat_folder(folder: Path, ids: list[str], fmt: str) -> Path:
    folder.mkdir(parents=True)
    n = len(ids)
    tables = {
        "patients": {"patient_id": ids, "birth_date": ["1970-01-01"] * n, "sex": ["F"] * n},
        "diagnoses": {"patient_id": ids, "code": ["F32.1"] * n, "date": ["2010-01-01"] * n},
        "prescriptions": {"patient_id": ids, "drug": ["sertraline"] * n, "start_date": ["2020-01-01"] * n,
                          "end_date": ["2020-03-01"] * n, "daily_dose_mg": ["100"] * n},
    }
    for name, columns in tables.items():
        if fmt == "csv":
            pd.DataFrame(columns).to_csv(folder / f"{name}.csv", index=False)
        else:
            # Integer ids as a real int64 Parquet column (how a database export writes them).
            arrays = {k: pa.array([int(v) for v in vals], pa.int64()) if k == "patient_id" else pa.array(vals)
                      for k, vals in columns.items()}
            pq.write_table(pa.table(arrays), folder / f"{name}.parquet")
    return folder


@pytest.mark.parametrize("backend", BACKENDS)
def test_flat_csv_ids_unchanged(tmp_path, backend, request):
    _need(backend, request)
    ids = EDGE_INTEGERS + [TEXT_ID]
    folder = _flat_folder(tmp_path / "extract", ids, "csv")
    result = classify(folder, tmp_path / "out", backend=backend)
    assert _written_ids(tmp_path / "out") == sorted(ids)
    assert sorted(result.patients["patient_id"]) == sorted(ids)
    assert result.patients["in_cohort"].all()  # each is a depressed adult on sertraline


def test_flat_parquet_int64_ids_unchanged(tmp_path):
    folder = _flat_folder(tmp_path / "extract", EDGE_INTEGERS, "parquet")
    classify(folder, tmp_path / "out")
    assert _written_ids(tmp_path / "out") == sorted(EDGE_INTEGERS)


def _omop_folder(folder: Path, fmt: str) -> Path:
    """A three-person CDM: person_id at the edges, person_source_value with leading zeros."""
    folder.mkdir(parents=True)
    n = len(EDGE_INTEGERS)
    person_ids = [int(v) for v in EDGE_INTEGERS]
    tables = {
        "person": {"person_id": person_ids, "gender_concept_id": [8532] * n, "year_of_birth": [1970] * n,
                   "person_source_value": [f"00{i}" for i in range(n)]},
        "condition_occurrence": {"condition_occurrence_id": list(range(1, n + 1)), "person_id": person_ids,
                                 "condition_concept_id": [0] * n, "condition_start_date": ["2010-01-01"] * n,
                                 "condition_source_value": ["F32.1"] * n},
        "drug_exposure": {"drug_exposure_id": list(range(1, n + 1)), "person_id": person_ids,
                          "drug_concept_id": [739138] * n,  # RxNorm sertraline (shipped ingredient id)
                          "drug_exposure_start_date": ["2020-01-01"] * n,
                          "drug_exposure_end_date": ["2020-03-01"] * n, "drug_source_value": ["sertraline"] * n},
    }
    for name, columns in tables.items():
        if fmt == "csv":
            # Capitals, as some exports write table names (issue 13: PERSON.csv was not found).
            pd.DataFrame(columns).to_csv(folder / f"{name.upper()}.csv", index=False)
        else:
            arrays = {k: pa.array(v, pa.int64()) if isinstance(v[0], int) else pa.array(v) for k, v in columns.items()}
            pq.write_table(pa.table(arrays), folder / f"{name.upper()}.parquet")
    return folder


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
@pytest.mark.parametrize("backend", BACKENDS)
def test_omop_person_ids_unchanged(tmp_path, backend, fmt, request):
    _need(backend, request)
    folder = _omop_folder(tmp_path / "cdm", fmt)
    result = classify(f"omop:{folder}", tmp_path / "out", backend=backend)
    assert _written_ids(tmp_path / "out") == sorted(EDGE_INTEGERS)
    assert result.patients["in_cohort"].all()


def test_omop_text_ids_keep_leading_zeros(tmp_path):
    from trdpath.sources.omop import read_omop_folder
    from trdpath import engines

    folder = _omop_folder(tmp_path / "cdm", "csv")
    con = engines.connect("duckdb")
    extract = read_omop_folder(folder, con, patient_id="person_source_value")
    assert sorted(con.execute(extract.patients)["patient_id"]) == ["000", "001", "002"]


def test_database_location_refuses_another_backend():
    from trdpath import engines
    from trdpath.errors import BackendError
    from trdpath.sources.omop import read_omop_location

    location = engines.backend_from_url("postgresql://u@127.0.0.1:1/db?schema=cdm")
    with pytest.raises(BackendError, match="--backend pyspark cannot run on"):
        read_omop_location(location, backend="pyspark")
