"""open_source: the one way to open an extract, whatever `--data` points at; every command uses it.

It yields (connection, validated Extract), the same shape for a flat folder (validated in DuckDB,
then moved to the chosen engine), ``omop:DIR``, the contract's tables in a database schema, or an
OMOP CDM in PostgreSQL or Spark. In-memory tables (tests, notebooks) go through `open_tables`.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import pandas as pd

from trdpath import engines
from trdpath.config import StudyConfig
from trdpath.engines import DataLocation
from trdpath.sources import TABLE_NAMES, Extract
from trdpath.sources.flat import read_flat_folder, read_flat_location
from trdpath.sources.omop import read_omop_location
from trdpath.sources.validate import validate_extract


def move_to_engine(con, extract: Extract, backend: str | None, config: StudyConfig) -> tuple[object, Extract]:
    """Validated tables into another engine (through Arrow), for `--backend` with flat files; the same
    connection and extract when `backend` is None or the engine they are already on."""
    if backend is None or engines.engine_named(backend) is engines.engine_of(con):
        return con, extract
    target = engines.connect(backend, engine=config.engine)
    names = [n for n in TABLE_NAMES if getattr(extract, n) is not None]
    typed = {name: con.execute(getattr(extract, name)) for name in names}
    loaded = engines.load_tables(target, typed, schemas={name: getattr(extract, name).schema() for name in names})
    # Same rows: the date ranges and quality counts found while validating still hold.
    return target, Extract(**{n: loaded.get(n) for n in TABLE_NAMES}, source=extract.source,
                           date_bounds=extract.date_bounds, quality_counts=extract.quality_counts)


def with_row_numbers(frame: pd.DataFrame) -> pd.DataFrame:
    """An in-memory table as validation reads a file: lower-case column names, text columns as strings
    (an all-empty column has no type otherwise) and a 1-based `_row` for messages."""
    frame = frame.copy()
    frame.columns = [str(c).strip().lower() for c in frame.columns]
    for col in frame.columns:
        if frame[col].dtype == object or frame[col].isna().all():
            frame[col] = frame[col].astype("string")
    frame["_row"] = range(1, len(frame) + 1)
    return frame


def open_tables(tables: Mapping[str, pd.DataFrame], config: StudyConfig | None = None,
                backend: str | None = None) -> tuple[object, Extract]:
    """(connection, validated Extract) for in-memory tables (the data contract's raw columns):
    validated on DuckDB, then moved to `backend`."""
    config = config or StudyConfig()
    duck = engines.connect("duckdb", engine=config.engine)
    raw = {name: duck.create_table(f"raw_{name}", with_row_numbers(frame), temp=True) for name, frame in tables.items()}
    extract = validate_extract(duck, raw, {name: f"{name} table" for name in tables}, source="in-memory tables")
    return move_to_engine(duck, extract, backend, config)


@contextmanager
def open_source(location: str | Path | DataLocation, config: StudyConfig,
                backend: str | None = None) -> Iterator[tuple[object, Extract]]:
    """(connection, validated Extract) for any `--data` location: a flat folder (validated in DuckDB,
    then moved to `backend`), ``omop:DIR``, or a database schema. The engine's working folder is
    removed afterwards."""
    if not isinstance(location, DataLocation):
        location = engines.backend_from_url(str(location))
    asked, backend = backend, backend or config.engine.backend
    work = Path(tempfile.mkdtemp(prefix="trdpath-engine-"))
    try:
        if location.format == "omop":
            con, extract = read_omop_location(location, config, backend=asked if location.path is None else backend)
        elif location.path is None:  # the contract's tables in a database schema
            con, extract = read_flat_location(location, config)
        else:
            # A database file (not memory) so DuckDB can spill to disk on national-scale extracts.
            con = engines.connect("duckdb", url=str(work / "engine.duckdb"), engine=config.engine)
            if not config.engine.temp_directory:
                engines.spill_to(con, work / "spill")
            raw, files = read_flat_folder(con, location.path)
            extract = validate_extract(con, raw, {k: str(v) for k, v in files.items()}, source=f"flat:{location.path}")
            con, extract = move_to_engine(con, extract, backend, config)
        yield con, extract
    finally:
        shutil.rmtree(work, ignore_errors=True)
