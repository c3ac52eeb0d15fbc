"""Everything that differs between the engines (DuckDB, PostgreSQL, PySpark), behind one small protocol
(engines.kinds.Engine: connect, load, read a file, fetch Arrow, capabilities such as BIT_OR and
TRY_CAST). Nothing outside this package asks which backend it is on.

The pipeline is written once as Ibis expressions; an engine only has to connect and hold tables:

- ``duckdb``   embedded, the default; a folder of CSV/Parquet files or a DuckDB file.
- ``postgres`` a PostgreSQL server (``postgresql://user:password@host:port/database?schema=cdm``).
- ``pyspark``  a Spark session: a local one (``local[2]``), a standalone master (``spark://host:7077``)
               or the session a Databricks notebook already has (passed in as ``session=``).

Every failure to reach an engine, or a table or schema that is not there, is one
:class:`~trdpath.errors.BackendError` naming the engine, the place and the missing thing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

import ibis
import pandas as pd
import pyarrow as pa

from trdpath.config import EngineSection
from trdpath.engines.arrow import _with_types, frame_to_arrow
from trdpath.engines.ibis_fixes import strip_text
from trdpath.engines.kinds import (POSTGRES_URL_VARIABLE, SPARK_LOCAL_DEFAULTS, Capabilities, Engine, engine_named,
                                   engine_of, first_line)
from trdpath.engines.location import BACKENDS, FORMATS, DataLocation, backend_from_url, local_path
from trdpath.errors import BackendError
from trdpath.safety import mask_credentials

__all__ = [
    "BACKENDS", "FORMATS", "POSTGRES_URL_VARIABLE", "SPARK_LOCAL_DEFAULTS", "Capabilities", "DataLocation", "Engine",
    "backend_from_url", "capabilities", "local_path", "connect", "engine_named", "engine_of", "fetch_arrow", "frame_to_arrow",
    "has_bit_or", "load_tables", "place", "prepare_for_classification", "read_file",
    "require_tables", "spill_to", "strip", "strip_text",
]


def connect(backend: str = "duckdb", url: str | None = None, engine: EngineSection | None = None, *, session=None):
    """Connect to an engine by name; `url` is a database URL where the engine needs one.

    duckdb: `url` is a database file (None = in memory). postgres: a ``postgresql://`` URL, else the
    TRDPATH_POSTGRES_URL environment variable (``?schema=`` is accepted and ignored here; see
    :func:`backend_from_url`). pyspark: None for a local[2] session (or the already active one),
    ``local[N]`` or ``spark://host:port`` for a master; ``session=`` passes in an existing SparkSession
    (Databricks notebooks).
    """
    return engine_named(backend).connect(url, engine or EngineSection(), session)


def capabilities(con) -> Capabilities:
    return engine_of(con).capabilities


def has_bit_or(con) -> bool:
    """BIT_OR as an aggregate (the packing tricks use it; otherwise SUM of disjoint bit fields)."""
    return engine_of(con).capabilities.bit_or


def prepare_for_classification(con) -> None:
    engine_of(con).prepare_for_classification(con)


def spill_to(con, folder: Path) -> None:
    """Where an embedded engine spills to disk (DuckDB); nothing for a server."""
    spill = getattr(engine_of(con), "spill_to", None)
    if spill is not None:
        spill(con, folder)


def fetch_arrow(con, expr: ibis.Table) -> pa.Table:
    """The result as Arrow, the cheapest way the engine has (DuckDB: streamed in batches)."""
    return engine_of(con).fetch_arrow(con, expr)


def execute(con, statement: str) -> None:
    """Run one SQL statement for its effect and release what the engine returned (a cursor on PostgreSQL)."""
    engine = engine_of(con)
    engine._close(con.raw_sql(statement))


def strip(con, value: ibis.Value) -> ibis.Value:
    """Leading and trailing whitespace removed, the same on every engine."""
    return engine_of(con).strip(value)


def place(con) -> str:
    """The engine's name for messages: DuckDB, PostgreSQL, Spark."""
    return engine_of(con).label


def load_tables(con, tables: Mapping[str, pd.DataFrame], prefix: str = "raw_",
                schemas: Mapping[str, ibis.Schema] | None = None) -> dict[str, ibis.Table]:
    """Put in-memory tables into the engine (tests, small extracts) and return Ibis tables.

    Column types are settled here, the same on every engine: dates (``datetime.date`` values or
    midnight timestamps) become DATE, booleans BOOLEAN, whole numbers BIGINT, other numbers DOUBLE,
    text VARCHAR; a column with no values at all is VARCHAR of NULLs. On PostgreSQL the tables are
    temporary (private to this connection, gone when it closes); on Spark they are temporary views.

    `schemas` (table name -> ibis schema) fixes the types of the columns it names: needed when a typed
    table went through pandas and lost a type (an all-empty date column comes back as objects).
    """
    engine = engine_of(con)
    loaded = {}
    for name, frame in tables.items():
        arrow = frame_to_arrow(frame)
        if schemas and name in schemas:
            arrow = _with_types(arrow, schemas[name])
        loaded[name] = engine.load(con, f"{prefix}{name}", arrow)
    return loaded


def read_file(con, path: Path, name: str) -> ibis.Table:
    """A NAME.parquet / NAME.csv file or a NAME/ folder of Parquet parts as a table (CSV as text)."""
    engine, table_name = engine_of(con), f"file_{name}"
    if path.is_dir() or path.suffix == ".parquet":
        return engine.read_parquet(con, path, table_name)
    return engine.read_csv(con, path, table_name)


def require_tables(con, names: Iterable[str], schema: str | None = None, *, optional: Iterable[str] = (),
                   where: str | None = None) -> dict[str, ibis.Table]:
    """Open the named tables in `schema` (a PostgreSQL schema / Spark database; None = the default).

    Raises one BackendError naming the schema when it does not exist, or naming every missing
    required table. Optional tables that are missing are left out of the result.
    """
    engine = engine_of(con)
    names, optional = list(names), list(optional)
    where = where or engine.label
    if schema is not None:
        try:
            schemas = engine.list_schemas(con)
        except Exception as exc:
            raise BackendError(mask_credentials(f"Cannot list the schemas of {where}: {first_line(exc)}")) from None
        if schema not in schemas and schema.lower() not in {s.lower() for s in schemas}:
            raise BackendError(
                f"Schema '{schema}' does not exist on {where}; schemas there: {', '.join(sorted(schemas)) or '(none)'}."
            )
    try:
        present = engine.list_tables(con, schema)
    except Exception as exc:
        raise BackendError(mask_credentials(f"Cannot list the tables of {where}: {first_line(exc)}")) from None
    by_lower = {t.lower(): t for t in present}
    missing = [n for n in names if n.lower() not in by_lower]
    if missing:
        raise BackendError(
            f"{where} has no table {', '.join(repr(m) for m in missing)}"
            + (f" in schema '{schema}'" if schema else "")
            + f" (tables found: {', '.join(sorted(present)) or 'none'})."
        )
    opened = {}
    for name in names + optional:
        actual = by_lower.get(name.lower())
        if actual is None:
            continue
        opened[name] = con.table(actual, database=schema) if schema is not None else con.table(actual)
    return opened
