"""The same synthetic patients classify identically: flat and OMOP sources, and on every backend.

The synthetic extract comes from trdpath.synth.generate (seeded); the DuckDB classification of the
flat extract is the reference, and every other route must give the same patients table, every column.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from trdpath import engines
from trdpath.api import classify, classify_tables
from trdpath.config import StudyConfig
from trdpath.errors import BackendError, InputError
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
    con = engines.connect("duckdb")
    extract = read_omop(con, engines.load_tables(con, omop, prefix="cdm_"), patient_id="person_source_value")
    assert_same_patients(classify_extract(con, extract, StudyConfig()).patients, reference)


def test_omop_csv_folder_gives_the_same_patients(flat_tables, reference, tmp_path):
    folder = write_omop_folder(flat_to_omop(flat_tables), tmp_path / "cdm", "csv")
    con = engines.connect("duckdb")
    extract = read_omop_folder(folder, con, patient_id="person_source_value")
    assert_same_patients(classify_extract(con, extract, StudyConfig()).patients, reference)


def classify_on(con, tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """classify_tables with the validated extract moved to `con` (a test server's connection)."""
    duck = engines.connect("duckdb")
    raw = {name: engines.load_tables(duck, {name: frame.assign(_row=range(1, len(frame) + 1))})[name]
           for name, frame in tables.items()}
    extract = validate_extract(duck, raw, {name: f"{name} table" for name in tables}, source="test")
    typed = {name: duck.execute(getattr(extract, name)) for name in tables}
    loaded = engines.load_tables(con, typed, schemas={name: getattr(extract, name).schema() for name in typed})
    moved = Extract(**{name: loaded.get(name) for name in ("patients", "diagnoses", "prescriptions", "referrals", "notes")},
                    source="test")
    return classify_extract(con, moved, StudyConfig()).patients


def test_postgres_gives_the_same_patients(postgres_con, flat_tables, reference):
    assert_same_patients(classify_on(postgres_con, flat_tables), reference)


def test_pyspark_gives_the_same_patients(spark_con, flat_tables, reference):
    assert_same_patients(classify_on(spark_con, flat_tables), reference)


# -- the contract's flat tables held in a database schema (`postgresql://...?schema=S&format=flat`) --

def _flat_url(postgres_url: str, schema: str) -> str:
    return f"{postgres_url}{'&' if '?' in postgres_url else '?'}schema={schema}&format=flat"


def test_flat_tables_in_a_postgres_schema_give_the_same_patients(postgres_con, postgres_url, flat_tables,
                                                                  reference, tmp_path):
    # As a warehouse might hold an extract loaded from CSV: every column text. Validation, typing and
    # the whole classification then run inside PostgreSQL.
    for name, frame in flat_tables.items():
        postgres_con.create_table(name, engines.frame_to_arrow(frame), database=postgres_con.test_schema)
    result = classify(_flat_url(postgres_url, postgres_con.test_schema), tmp_path / "out")
    assert_same_patients(result.patients, reference)
    written = pd.read_csv(tmp_path / "out" / "patients.csv", dtype=str, keep_default_na=False)
    assert written["patient_id"].tolist() == sorted(flat_tables["patients"]["patient_id"])


def test_flat_schema_without_a_table_names_it(postgres_con, postgres_url, flat_tables, tmp_path):
    postgres_con.create_table("patients", engines.frame_to_arrow(flat_tables["patients"]), database=postgres_con.test_schema)
    with pytest.raises(BackendError) as err:
        classify(_flat_url(postgres_url, postgres_con.test_schema), tmp_path / "out")
    assert "has no table 'diagnoses', 'prescriptions' in schema" in str(err.value)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(("column", "value", "problem"), [
    ("start_date", "31/02/2020", "is not a date (YYYY-MM-DD)"),
    ("start_date", "2021-02-29", "is not a date (YYYY-MM-DD)"),  # no such day: PostgreSQL would refuse the cast
    ("daily_dose_mg", "twenty", "is not a number"),
])
def test_flat_schema_bad_values_name_the_table(postgres_con, postgres_url, flat_tables, tmp_path, column, value, problem):
    prescriptions = flat_tables["prescriptions"].copy()
    prescriptions.loc[5, column] = value
    for name, frame in {**flat_tables, "prescriptions": prescriptions}.items():
        postgres_con.create_table(name, engines.frame_to_arrow(frame), database=postgres_con.test_schema)
    url = _flat_url(postgres_url, postgres_con.test_schema)
    with pytest.raises(InputError) as err:
        classify(url, tmp_path / "out")
    message = str(err.value)
    # A database fixes no row order, so the row number is the engine's; table, column and value name the problem.
    assert message.startswith(f"{engines.backend_from_url(url).display} table prescriptions, row ")
    assert message.endswith(f"column '{column}': {problem} (value: '{value}')")
    assert not (tmp_path / "out").exists()
