"""The same synthetic patients classify identically: flat and OMOP sources, and on every backend.

The synthetic extract comes from trdpath.synth.generate (seeded); the DuckDB classification of the
flat extract is the reference, and every other route must give the same patients table, every column.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from trdpath import backends
from trdpath.api import classify_tables
from trdpath.config import StudyConfig
from trdpath.pipeline import classify_extract
from trdpath.schema import TABLES
from trdpath.sources import Extract
from trdpath.sources.omop import read_omop, read_omop_folder
from trdpath.sources.omop_export import flat_to_omop, write_omop_folder
from trdpath.sources.validate import validate_extract
from trdpath.synth import generate

pytestmark = pytest.mark.xdist_group("backends")

N_PATIENTS = 120
SEED = 20261122


@pytest.fixture(scope="module")
def flat_tables(tmp_path_factory) -> dict[str, pd.DataFrame]:
    folder = tmp_path_factory.mktemp("synthetic") / "extract"
    generate(folder, N_PATIENTS, seed=SEED, fmt="csv", notes=False)
    # Only the data contract's tables (the generator also writes its ground truth beside them).
    return {path.stem: pd.read_csv(path, dtype=str, keep_default_na=False)
            for path in sorted(Path(folder).glob("*.csv")) if path.stem in TABLES}


@pytest.fixture(scope="module")
def reference(flat_tables) -> pd.DataFrame:
    patients = classify_tables(flat_tables).patients
    # The comparison is only worth something if the extract has every kind of patient in it.
    assert patients["trd"].sum() >= 5 and (~patients["in_cohort"]).sum() >= 5
    assert patients["augmented"].sum() >= 1
    return patients


def assert_same_patients(result: pd.DataFrame, reference: pd.DataFrame) -> None:
    result = result.sort_values("patient_id").reset_index(drop=True)
    expected = reference.sort_values("patient_id").reset_index(drop=True)
    assert list(result.columns) == list(expected.columns)
    pd.testing.assert_frame_equal(result, expected, check_dtype=True)


@pytest.mark.parametrize("vocabulary", [False, True], ids=["source-values", "vocabulary"])
def test_flat_and_omop_give_the_same_patients_on_duckdb(flat_tables, reference, vocabulary):
    omop = flat_to_omop(flat_tables, vocabulary=vocabulary)
    con = backends.connect("duckdb")
    extract = read_omop(con, backends.load_tables(con, omop, prefix="cdm_"), patient_id="person_source_value")
    assert_same_patients(classify_extract(con, extract, StudyConfig()).patients, reference)


def test_omop_csv_folder_gives_the_same_patients(flat_tables, reference, tmp_path):
    folder = write_omop_folder(flat_to_omop(flat_tables), tmp_path / "cdm", "csv")
    con = backends.connect("duckdb")
    extract = read_omop_folder(folder, con, patient_id="person_source_value")
    assert_same_patients(classify_extract(con, extract, StudyConfig()).patients, reference)


def classify_on(con, tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """classify_tables with the validated extract moved to `con` (a test server's connection)."""
    duck = backends.connect("duckdb")
    raw = {name: backends.load_tables(duck, {name: frame.assign(_row=range(1, len(frame) + 1))})[name]
           for name, frame in tables.items()}
    extract = validate_extract(duck, raw, {name: f"{name} table" for name in tables}, source="test")
    typed = {name: duck.execute(getattr(extract, name)) for name in tables}
    loaded = backends.load_tables(con, typed, schemas={name: getattr(extract, name).schema() for name in typed})
    moved = Extract(**{name: loaded.get(name) for name in ("patients", "diagnoses", "prescriptions", "referrals", "notes")},
                    source="test")
    return classify_extract(con, moved, StudyConfig()).patients


def test_postgres_gives_the_same_patients(postgres_con, flat_tables, reference):
    assert_same_patients(classify_on(postgres_con, flat_tables), reference)


def test_pyspark_gives_the_same_patients(spark_con, flat_tables, reference):
    assert_same_patients(classify_on(spark_con, flat_tables), reference)
