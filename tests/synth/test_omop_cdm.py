"""`trdpath synth --format omop`: one synthetic CDM, every route, one answer (issue 13).

The CDM has what tripped trdpath on a real one: 64-bit hashed person ids, mixed ICD-9-CM / ICD-10
source codes, a vocabulary subset with and without concept_ancestor (or none), NDC-coded exposures,
NDC-only exposures nothing can name, and an empty note table. The reference is a second
implementation of the same patients: the flat extract the CDM was made from, with the hashed ids as
patient_id (synth.omop.flat_equivalent), classified by the flat route. Every route must write the
same patients.csv, every column and every id.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from trdpath.api import classify
from trdpath.sources.omop_export import write_omop_folder
from trdpath.synth import generate
from trdpath.synth.omop import (NOISE_NDC, UNLISTED_ICD9, flat_equivalent, generate_omop, hashed_person_id,
                                read_flat_folder_frames, realistic_cdm)

pytestmark = pytest.mark.xdist_group("backends")

N_PATIENTS = 150
SEED = 13


@pytest.fixture(scope="module")
def flat(tmp_path_factory) -> dict[str, pd.DataFrame]:
    folder = tmp_path_factory.mktemp("synthetic") / "extract"
    generate(folder, N_PATIENTS, seed=SEED, fmt="csv", notes=False)
    return read_flat_folder_frames(folder)


def _patients_csv(out: Path) -> pd.DataFrame:
    frame = pd.read_csv(out / "patients.csv", dtype=str, keep_default_na=False)
    return frame.sort_values("patient_id").reset_index(drop=True)


@pytest.fixture(scope="module")
def reference(flat, tmp_path_factory) -> pd.DataFrame:
    folder = tmp_path_factory.mktemp("flat") / "extract"
    folder.mkdir()
    for name, frame in flat_equivalent(flat).items():
        frame.to_csv(folder / f"{name}.csv", index=False)
    out = tmp_path_factory.mktemp("flat-out") / "out"
    classify(folder, out)
    patients = _patients_csv(out)
    # Worth comparing only if every kind of patient is there, with ids a float would change.
    assert (patients["trd"] == "true").sum() >= 3 and (patients["in_cohort"] == "false").sum() >= 3
    assert any(abs(int(v)) > 2**53 for v in patients["patient_id"])
    return patients


def test_cdm_has_the_traits_of_a_real_one(flat):
    cdm = realistic_cdm(flat, "no-ancestor")
    ids = cdm["person"]["person_id"]
    # hashed 64-bit ids: beyond a float's 53 exact bits, both signs; the trust's id kept aside
    assert (ids.abs() > 2**53).all() and (ids < 0).any() and (ids > 0).any()
    assert list(cdm["person"]["person_source_value"].map(hashed_person_id)) == list(ids)
    codes = cdm["condition_occurrence"]["condition_source_value"]
    assert codes.str.match(r"^[0-9]{3}").any() and codes.str.match(r"^F3[23]").any() and (codes == UNLISTED_ICD9).any()
    assert "ICD9CM" in set(cdm["concept"]["vocabulary_id"]) and "concept_ancestor" not in cdm
    exposures = cdm["drug_exposure"]["drug_source_value"]
    assert exposures.isin(NOISE_NDC).any() and exposures.str.match(r"^[0-9]{5}-[0-9]{4}-[0-9]{2}$").sum() > exposures.isin(NOISE_NDC).sum()
    assert len(cdm["note"]) == 0 and "person_id" in cdm["note"].columns
    assert "concept_ancestor" in realistic_cdm(flat, "full") and "concept" not in realistic_cdm(flat, "none")


@pytest.mark.parametrize("vocabulary", ["full", "no-ancestor", "none"])
def test_duckdb_csv_cdm_equals_flat_route(flat, reference, tmp_path, vocabulary):
    folder = write_omop_folder(realistic_cdm(flat, vocabulary), tmp_path / "cdm", "csv")
    classify(f"omop:{folder}", tmp_path / "out")
    pd.testing.assert_frame_equal(_patients_csv(tmp_path / "out"), reference)


def test_duckdb_parquet_cdm_equals_flat_route(flat, reference, tmp_path):
    folder = write_omop_folder(realistic_cdm(flat, "no-ancestor"), tmp_path / "cdm", "parquet")
    classify(f"omop:{folder}", tmp_path / "out")
    pd.testing.assert_frame_equal(_patients_csv(tmp_path / "out"), reference)


def test_postgres_cdm_equals_flat_route(flat, reference, tmp_path, postgres_url, monkeypatch):
    monkeypatch.setenv("TRDPATH_POSTGRES_URL", postgres_url)
    folder = write_omop_folder(realistic_cdm(flat, "no-ancestor"), tmp_path / "cdm", "csv")
    classify(f"omop:{folder}", tmp_path / "out", backend="postgres")
    pd.testing.assert_frame_equal(_patients_csv(tmp_path / "out"), reference)


@pytest.mark.slow
def test_pyspark_cdm_equals_flat_route(flat, reference, tmp_path, spark_con):
    folder = write_omop_folder(realistic_cdm(flat, "full"), tmp_path / "cdm", "parquet")
    classify(f"omop:{folder}", tmp_path / "out", backend="pyspark")
    pd.testing.assert_frame_equal(_patients_csv(tmp_path / "out"), reference)


def test_generate_omop_writes_a_readable_cdm(tmp_path):
    counts = generate_omop(tmp_path / "cdm", 30, seed=1, vocabulary="none")
    assert counts["person"] == 30 and counts["note"] == 0
    written = {p.name for p in (tmp_path / "cdm").iterdir()}
    assert {"person.csv", "condition_occurrence.csv", "drug_exposure.csv", "note.csv"} <= written
    assert "concept.csv" not in written  # vocabulary "none"
