"""The public Python API. The CLI (cli.py) is a thin layer over these functions."""

from __future__ import annotations

import datetime as dt
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from trdpath import backends
from trdpath.config import StudyConfig
from trdpath.output import staging_folder, write_classification
from trdpath.pipeline import Classification, Progress, classify_extract
from trdpath.errors import UserError
from trdpath.sources import Extract
from trdpath.sources.flat import read_flat_folder, read_flat_location
from trdpath.sources.omop import read_omop_location
from trdpath.sources.validate import validate_extract
from trdpath.stats.extract_outputs import write_extract_outputs

__all__ = ["Classification", "classify", "classify_tables"]


def _with_row_numbers(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.copy()
    frame.columns = [str(c).strip().lower() for c in frame.columns]
    for col in frame.columns:
        # Text (and all-empty) columns as strings: a column of only None has no type otherwise.
        if frame[col].dtype == object or frame[col].isna().all():
            frame[col] = frame[col].astype("string")
    frame["_row"] = range(1, len(frame) + 1)
    return frame


def classify_tables(tables: Mapping[str, pd.DataFrame], config: StudyConfig | None = None,
                    index_date: dt.date | None = None, backend: str = "duckdb",
                    progress: Progress | None = None) -> Classification:
    """Classify in-memory tables (the data contract's raw columns). Used by tests on every backend.

    Tables are validated on DuckDB, then the pipeline runs on `backend`.
    """
    config = config or StudyConfig()
    duck = backends.connect("duckdb", engine=config.engine)
    raw = {name: duck.create_table(f"raw_{name}", _with_row_numbers(frame), temp=True)
           for name, frame in tables.items()}
    extract = validate_extract(duck, raw, {name: f"{name} table" for name in tables}, source="in-memory tables")
    if backend == "duckdb":
        return classify_extract(duck, extract, config, index_date, progress)
    con, moved = _move_to_backend(duck, extract, backend, config)
    return classify_extract(con, moved, config, index_date, progress)


def _move_to_backend(duck, extract: Extract, backend: str, config: StudyConfig) -> tuple[object, Extract]:
    """Validated tables from DuckDB into another backend (through Arrow), for `--backend` with flat files."""
    con = backends.connect(backend, engine=config.engine)
    names = [n for n in ("patients", "diagnoses", "prescriptions", "referrals", "notes") if getattr(extract, n) is not None]
    typed = {name: duck.execute(getattr(extract, name)) for name in names}
    loaded = backends.load_tables(con, typed, schemas={name: getattr(extract, name).schema() for name in names})
    # Same rows: the date ranges and quality counts found while validating still hold.
    return con, Extract(**{n: loaded.get(n) for n in ("patients", "diagnoses", "prescriptions", "referrals", "notes")},
                        source=extract.source, date_bounds=extract.date_bounds, quality_counts=extract.quality_counts)


def classify(data: str | Path, out: str | Path, config: StudyConfig | None = None,
             index_date: dt.date | None = None, progress: Progress | None = None,
             backend: str | None = None) -> Classification:
    """Read an extract, classify, and write the results into `out` atomically.

    `data` is a folder of flat tables (or ``flat:DIR``), ``omop:DIR``, ``postgresql://...`` (an OMOP
    CDM schema) or ``spark:SCHEMA`` (see backends.backend_from_url). `backend` runs a flat folder's
    pipeline on another engine (default: the configuration's, DuckDB).
    """
    config = config or StudyConfig()
    location = backends.backend_from_url(str(data))
    backend = backend or config.engine.backend
    work = Path(tempfile.mkdtemp(prefix="trdpath-engine-"))
    try:
        if location.format == "omop":
            con, extract = read_omop_location(location, config)
        elif location.path is None:  # the contract's tables in a database schema
            con, extract = read_flat_location(location, config)
        else:
            # A database file (not memory) so DuckDB can spill to disk on national-scale extracts.
            con = backends.connect("duckdb", url=str(work / "engine.duckdb"), engine=config.engine)
            if not config.engine.temp_directory:
                con.raw_sql(f"SET temp_directory = '{work / 'spill'}'")
            raw, files = read_flat_folder(con, location.path)
            extract = validate_extract(con, raw, {k: str(v) for k, v in files.items()}, source=f"flat:{location.path}")
            if backend != "duckdb":
                con, extract = _move_to_backend(con, extract, backend, config)
        result = classify_extract(con, extract, config, index_date, progress)
        with staging_folder(Path(out)) as folder:
            write_classification(result, folder)
            # Issue 16: the assumption sensitivity and the pathway steps need the extract (patient-level side).
            write_extract_outputs(con, extract, result, folder)
        return result
    finally:
        shutil.rmtree(work, ignore_errors=True)
