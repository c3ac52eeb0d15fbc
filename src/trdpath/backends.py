"""Backends: one narrow interface to the engines the pipeline runs on (through Ibis).

The pipeline is written once as Ibis expressions; a backend only has to connect and hold tables.
Three engines are supported:

- ``duckdb``   embedded, the default; a folder of CSV/Parquet files or a DuckDB file.
- ``postgres`` a PostgreSQL server (``postgresql://user:password@host:port/database?schema=cdm``).
- ``pyspark``  a Spark session: a local one (``local[2]``), a standalone master (``spark://host:7077``)
               or the session a Databricks notebook already has (passed in as ``session=``).

Every failure to reach a backend, or a table or schema that is not there, is one
:class:`~trdpath.errors.BackendError` naming the backend, the place and the missing thing.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

import ibis
import numpy as np
import pandas as pd
import pyarrow as pa
import sqlglot as sg

from trdpath.config import EngineSection
from trdpath.errors import BackendError
from trdpath.safety import mask_credentials

BACKENDS = ("duckdb", "postgres", "pyspark")
# Data formats a location can hold: the data contract's flat tables, or an OMOP CDM.
FORMATS = ("flat", "omop")

# A local Spark session stays modest: the machine is shared and local mode is for tests and small extracts.
SPARK_LOCAL_DEFAULTS = {
    "spark.sql.session.timeZone": "UTC",  # dates must not shift with the machine's time zone
    "spark.driver.memory": "2g",
    "spark.sql.shuffle.partitions": "2",  # one per local core; the default 200 makes small jobs slow
    "spark.default.parallelism": "2",
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.catalogImplementation": "in-memory",  # no metastore_db/ or spark-warehouse/ in the cwd
    "spark.driver.bindAddress": "127.0.0.1",
    "spark.driver.host": "127.0.0.1",
}


# --------------------------------------------------------------------------------------------
# Where the data is: --data strings
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class DataLocation:
    """What a ``--data`` string points at: which backend, how to connect, and the data's format."""

    backend: str  # one of BACKENDS
    format: str  # "flat" (data-contract.md tables) or "omop" (OMOP CDM v5.3/v5.4 tables)
    url: str | None = None  # connection URL for postgres; Spark master for pyspark; None = in-memory DuckDB
    path: Path | None = None  # folder of CSV/Parquet tables (duckdb)
    schema: str | None = None  # database schema (postgres) / database (Spark) holding the tables
    display: str = ""  # for messages and Extract.source, with any password removed


def backend_from_url(data: str) -> DataLocation:
    """Understand a ``--data`` value.

    ==========================================  ==========================================================
    ``DIR`` or ``flat:DIR``                     flat extract folder (data-contract.md), DuckDB
    ``omop:DIR``                                OMOP CDM tables as CSV or Parquet files in DIR, DuckDB
    ``postgresql://user:pw@host:5432/db``       OMOP CDM in PostgreSQL; ``?schema=cdm`` picks the schema
                                                (default ``public``), ``&format=flat`` reads contract tables
    ``spark:SCHEMA``                            the current (or a new local[2]) Spark session, tables in
                                                database SCHEMA; ``spark:`` alone = the default database
    ``spark://host:7077/SCHEMA``                a Spark standalone master, tables in database SCHEMA
    ==========================================  ==========================================================
    """
    text = str(data).strip()
    if not text:
        raise BackendError("--data is empty: give a folder, omop:FOLDER, postgresql://... or spark:SCHEMA.")
    lowered = text.lower()
    if lowered.startswith(("postgresql://", "postgres://", "postgresql+psycopg://", "postgresql+psycopg2://")):
        parts = urlsplit(text)
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        fmt = query.pop("format", "omop").lower()
        _check_format(fmt, text)
        schema = query.pop("schema", None) or query.pop("search_path", None)
        rest = "&".join(f"{k}={v}" for k, v in query.items())
        scheme = "postgresql"
        url = f"{scheme}://{parts.netloc}{parts.path}" + (f"?{rest}" if rest else "")
        return DataLocation("postgres", fmt, url=url, schema=schema or "public",
                            display=mask_credentials(url) + (f" (schema {schema})" if schema else ""))
    if lowered.startswith("spark://"):
        parts = urlsplit(text)
        schema = parts.path.strip("/") or None
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        fmt = query.get("format", "omop").lower()
        _check_format(fmt, text)
        master = f"spark://{parts.netloc}"
        return DataLocation("pyspark", fmt, url=master, schema=schema, display=mask_credentials(text))
    if lowered.startswith("spark:"):
        rest = text[len("spark:"):]
        schema, _, fmt = rest.partition("?format=")
        fmt = (fmt or "omop").lower()
        _check_format(fmt, text)
        return DataLocation("pyspark", fmt, url=None, schema=schema.strip() or None, display=mask_credentials(text))
    if lowered.startswith("omop:"):
        path = Path(text[len("omop:"):]).expanduser()
        return DataLocation("duckdb", "omop", path=path, display=f"omop:{path}")
    if lowered.startswith("flat:"):
        path = Path(text[len("flat:"):]).expanduser()
        return DataLocation("duckdb", "flat", path=path, display=f"flat:{path}")
    if re.match(r"^[a-z][a-z0-9+.-]*://", lowered):
        scheme = lowered.split("://", 1)[0]
        raise BackendError(
            f"--data {mask_credentials(text)!r}: unknown scheme '{scheme}://'. Use a folder, omop:FOLDER, "
            "postgresql://user@host/db?schema=cdm, spark:SCHEMA or spark://host:7077/SCHEMA."
        )
    path = Path(text).expanduser()
    return DataLocation("duckdb", "flat", path=path, display=f"flat:{path}")


def _check_format(fmt: str, text: str) -> None:
    if fmt not in FORMATS:
        raise BackendError(f"--data {mask_credentials(text)!r}: format '{fmt}' is not one of {', '.join(FORMATS)}.")


# --------------------------------------------------------------------------------------------
# Connecting
# --------------------------------------------------------------------------------------------
def connect(backend: str = "duckdb", url: str | None = None, engine: EngineSection | None = None,
            *, session=None):
    """Connect to a backend by name; `url` is a database URL where the backend needs one.

    duckdb: `url` is a database file (None = in memory). postgres: a ``postgresql://`` URL, else the
    TRDPATH_POSTGRES_URL environment variable (``?schema=`` is accepted and ignored here; see
    :func:`backend_from_url`). pyspark: None for a
    local[2] session (or the already active one), ``local[N]`` or ``spark://host:port`` for a master;
    ``session=`` passes in an existing SparkSession (Databricks notebooks).
    """
    engine = engine or EngineSection()
    if backend == "duckdb":
        return _connect_duckdb(url, engine)
    if backend in ("postgres", "postgresql"):
        return _connect_postgres(url)
    if backend in ("pyspark", "spark"):
        return _connect_pyspark(url, engine, session)
    raise BackendError(f"Unknown backend '{backend}'; choose one of: {', '.join(BACKENDS)}.")


def _half_of_memory() -> str | None:
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # not Linux/macOS: keep DuckDB's default
        return None
    return f"{max(total // 2 // 1024**2, 256)}MiB"


def _connect_duckdb(url: str | None, engine: EngineSection):
    try:
        con = ibis.duckdb.connect(url or ":memory:")
    except Exception as exc:  # duckdb raises its own IOException family
        raise BackendError(mask_credentials(f"Cannot open DuckDB database {url}: {_first_line(exc)}")) from None
    # DuckDB's own default (80% of RAM) leaves too little for the per-patient result, which lives
    # in Python beside the engine: at national scale that is a few GB.
    limit = engine.memory_limit or _half_of_memory()
    if limit:
        con.raw_sql(f"SET memory_limit = '{limit}'")
    if engine.threads:
        con.raw_sql(f"SET threads = {int(engine.threads)}")
    if engine.temp_directory:
        con.raw_sql(f"SET temp_directory = '{engine.temp_directory}'")
    # trdpath shows its own progress (the CLI's stage display); DuckDB's bar would print over it.
    con.raw_sql("SET enable_progress_bar = false")
    return con


POSTGRES_URL_VARIABLE = "TRDPATH_POSTGRES_URL"


def _connect_postgres(url: str | None):
    # No URL given (e.g. classify_tables(..., backend="postgres")): the environment may name the server.
    url = url or os.environ.get(POSTGRES_URL_VARIABLE, "").strip() or None
    if not url:
        raise BackendError("The postgres backend needs a URL: postgresql://user:password@host:5432/database "
                           f"(or set {POSTGRES_URL_VARIABLE}).")
    parts = urlsplit(url)
    if parts.scheme.split("+")[0] not in ("postgresql", "postgres"):
        raise BackendError(f"Not a PostgreSQL URL: {mask_credentials(url)} (expected postgresql://...).")
    database = unquote(parts.path.lstrip("/")) or None
    query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    query.pop("schema", None)
    query.pop("format", None)
    host = parts.hostname or "localhost"
    port = parts.port or 5432
    where = f"PostgreSQL at {host}:{port}" + (f", database '{database}'" if database else "")
    try:
        return ibis.postgres.connect(
            host=host, port=port, user=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None, database=database,
            connect_timeout=int(query.pop("connect_timeout", 10)), **query,
        )
    except Exception as exc:
        message = _first_line(exc)
        if "refused" in message.lower():
            hint = "connection refused - is the server running and listening on that host and port?"
        elif "does not exist" in message.lower():
            hint = message
        elif "password" in message.lower() or "authentication" in message.lower():
            hint = f"authentication failed ({message})"
        else:
            hint = message
        raise BackendError(mask_credentials(f"Cannot connect to {where}: {hint}")) from None


def _connect_pyspark(url: str | None, engine: EngineSection, session):
    try:
        from pyspark.sql import SparkSession
    except ImportError:  # pragma: no cover - pyspark is a pinned dependency
        raise BackendError("The pyspark backend needs the pyspark package.") from None
    if session is None:
        active = SparkSession.getActiveSession()
        if active is not None and url is None:
            session = active  # Databricks / an existing notebook session: use it as it is
        else:
            master = url or "local[2]"
            builder = SparkSession.builder.master(master).appName("trdpath")
            settings = dict(SPARK_LOCAL_DEFAULTS)
            if engine.memory_limit:
                settings["spark.driver.memory"] = engine.memory_limit.replace("GB", "g").replace("MB", "m")
            if engine.temp_directory:
                settings["spark.local.dir"] = engine.temp_directory
            for key, value in settings.items():
                builder = builder.config(key, value)
            try:
                session = builder.getOrCreate()
            except Exception as exc:
                raise BackendError(mask_credentials(f"Cannot start Spark (master {master}): {_first_line(exc)}")) from None
            session.sparkContext.setLogLevel("ERROR")
    try:
        con = ibis.pyspark.connect(session)
    except Exception as exc:
        raise BackendError(mask_credentials(f"Cannot use the Spark session: {_first_line(exc)}")) from None
    _register_memtables_before_cache(con)
    return con


def _register_memtables_before_cache(con) -> None:
    """ibis 12's PySpark `.cache()` compiles the query without registering in-memory tables it uses
    (reference lists, drug maps), so Spark cannot find them; register them first."""
    create_cached = con._create_cached_table

    def create_cached_with_memtables(name, expr):
        con._run_pre_execute_hooks(expr)
        return create_cached(name, expr)

    con._create_cached_table = create_cached_with_memtables


def backend_name(con) -> str:
    """'duckdb', 'postgres' or 'pyspark' for an Ibis connection."""
    return con.name


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0].strip()


# --------------------------------------------------------------------------------------------
# Tables
# --------------------------------------------------------------------------------------------
def load_tables(con, tables: Mapping[str, pd.DataFrame], prefix: str = "raw_",
                schemas: Mapping[str, ibis.Schema] | None = None) -> dict[str, ibis.Table]:
    """Put in-memory tables into the backend (tests, small extracts) and return Ibis tables.

    Column types are settled here, the same on every backend: dates (``datetime.date`` values or
    midnight timestamps) become DATE, booleans BOOLEAN, whole numbers BIGINT, other numbers DOUBLE,
    text VARCHAR; a column with no values at all is VARCHAR of NULLs. On PostgreSQL the tables are
    temporary (private to this connection, gone when it closes); on Spark they are temporary views.

    `schemas` (table name -> ibis schema) fixes the types of the columns it names: needed when a typed
    table went through pandas and lost a type (an all-empty date column comes back as objects).
    """
    loaded = {}
    for name, frame in tables.items():
        table_name = f"{prefix}{name}"
        arrow = frame_to_arrow(frame)
        if schemas and name in schemas:
            arrow = _with_types(arrow, schemas[name])
        backend = con.name
        if backend == "pyspark":
            session = con._session
            spark_frame = session.createDataFrame(arrow.to_pandas(types_mapper=None) if arrow.num_rows == 0
                                                  else arrow, schema=_spark_schema(arrow.schema))
            spark_frame.createOrReplaceTempView(table_name)
            loaded[name] = con.table(table_name)
        elif backend == "duckdb":
            # DuckDB reads Arrow directly (and this does not depend on ibis' sqlglot-built DROP statements,
            # which sqlglot 30 renders without a table name).
            view = f"__trdpath_arrow_{table_name}"
            con.con.register(view, arrow)
            try:
                con.con.execute(f"CREATE OR REPLACE TABLE {_quote(table_name)} AS SELECT * FROM {_quote(view)}")
            finally:
                con.con.unregister(view)
            loaded[name] = con.table(table_name)
        else:
            # Drop with our own statement first (see above), then create a private temporary table.
            _drop_table(con, table_name)
            loaded[name] = con.create_table(table_name, arrow, temp=True)
    return loaded


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def _drop_table(con, name: str) -> None:
    # Written out rather than built with sqlglot's Drop, whose arguments changed between versions.
    quoted = sg.table(name, quoted=True).sql(con.dialect)
    for kind in ("TABLE", "VIEW"):
        try:
            result = con.raw_sql(f"DROP {kind} IF EXISTS {quoted}")
        except Exception:
            # DuckDB refuses DROP VIEW on a table (and vice versa); the other kind is the right one.
            continue
        if con.name == "postgres":
            result.close()


def frame_to_arrow(frame: pd.DataFrame) -> pa.Table:
    """A pandas frame as an Arrow table with one settled type per column (see :func:`load_tables`)."""
    arrays, names = [], []
    for column in frame.columns:
        arrays.append(_column_to_arrow(frame[column]))
        names.append(str(column))
    return pa.Table.from_arrays(arrays, names=names) if names else pa.table({})


def _column_to_arrow(series: pd.Series) -> pa.Array:
    dtype = series.dtype
    if pd.api.types.is_datetime64_any_dtype(dtype):
        values = series.dt.tz_localize(None) if getattr(dtype, "tz", None) is not None else series
        non_null = values.dropna()
        if (non_null == non_null.dt.normalize()).all():
            return pa.array(values.dt.date.where(values.notna(), None), type=pa.date32())
        return pa.array(values, type=pa.timestamp("us"))
    if pd.api.types.is_bool_dtype(dtype):
        return pa.array(series, type=pa.bool_(), from_pandas=True)
    if pd.api.types.is_integer_dtype(dtype):
        return pa.array(series, type=pa.int64(), from_pandas=True)
    if pd.api.types.is_float_dtype(dtype):
        return pa.array(series, type=pa.float64(), from_pandas=True)
    # object / string columns: decide from the values that are there.
    values = [None if _is_missing(v) else v for v in series.tolist()]
    present = [v for v in values if v is not None]
    if not present:
        return pa.array(values, type=pa.string())
    if all(isinstance(v, (bool, np.bool_)) for v in present):
        return pa.array([None if v is None else bool(v) for v in values], type=pa.bool_())
    if all(isinstance(v, dt.datetime) for v in present):
        if all(v.time() == dt.time(0) for v in present):
            return pa.array([None if v is None else v.date() for v in values], type=pa.date32())
        return pa.array([None if v is None else pd.Timestamp(v).tz_localize(None).to_pydatetime()
                         for v in values], type=pa.timestamp("us"))
    if all(isinstance(v, dt.date) for v in present):
        return pa.array(values, type=pa.date32())
    if all(isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_)) for v in present):
        return pa.array([None if v is None else int(v) for v in values], type=pa.int64())
    if all(isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, (bool, np.bool_))
           for v in present):
        return pa.array([None if v is None else float(v) for v in values], type=pa.float64())
    return pa.array([None if v is None else str(v) for v in values], type=pa.string())


def _with_types(arrow: pa.Table, schema: ibis.Schema) -> pa.Table:
    target = schema.to_pyarrow()
    columns = []
    for field in arrow.schema:
        column = arrow[field.name]
        if field.name in target.names:
            wanted = target.field(field.name).type
            if column.type != wanted:
                try:
                    column = column.cast(wanted)
                except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
                    raise BackendError(f"Column '{field.name}' cannot be loaded as {wanted}: {exc}") from None
        columns.append(column)
    return pa.Table.from_arrays(columns, names=arrow.schema.names)


def _is_missing(value) -> bool:
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    return isinstance(value, float) and np.isnan(value)


def _spark_schema(schema: pa.Schema):
    from pyspark.sql import types as T

    mapping = {
        pa.string(): T.StringType(), pa.large_string(): T.StringType(), pa.bool_(): T.BooleanType(),
        pa.int64(): T.LongType(), pa.float64(): T.DoubleType(), pa.date32(): T.DateType(),
        pa.timestamp("us"): T.TimestampNTZType(),
    }
    fields = []
    for field in schema:
        spark_type = mapping.get(field.type)
        if spark_type is None:
            raise BackendError(f"Column '{field.name}' has type {field.type}, which trdpath does not load into Spark.")
        fields.append(T.StructField(field.name, spark_type, nullable=True))
    return T.StructType(fields)


def require_tables(con, names: Iterable[str], schema: str | None = None, *, optional: Iterable[str] = (),
                   where: str | None = None) -> dict[str, ibis.Table]:
    """Open the named tables in `schema` (a PostgreSQL schema / Spark database; None = the default).

    Raises one BackendError naming the schema when it does not exist, or naming every missing
    required table. Optional tables that are missing are left out of the result.
    """
    names, optional = list(names), list(optional)
    place = where or _place(con, schema)
    if schema is not None:
        try:
            schemas = _list_schemas(con)
        except Exception as exc:
            raise BackendError(mask_credentials(f"Cannot list the schemas of {place}: {_first_line(exc)}")) from None
        if schema not in schemas and schema.lower() not in {s.lower() for s in schemas}:
            raise BackendError(
                f"Schema '{schema}' does not exist on {place}; schemas there: {', '.join(sorted(schemas)) or '(none)'}."
            )
    try:
        present = _list_tables(con, schema)
    except Exception as exc:
        raise BackendError(mask_credentials(f"Cannot list the tables of {place}: {_first_line(exc)}")) from None
    by_lower = {t.lower(): t for t in present}
    missing = [n for n in names if n.lower() not in by_lower]
    if missing:
        raise BackendError(
            f"{place} has no table {', '.join(repr(m) for m in missing)}"
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


def _list_schemas(con) -> list[str]:
    if con.name == "duckdb":
        # ibis 12's DuckDB listing calls an API that duckdb 2 removed; ask the catalog directly.
        return [r[0] for r in con.con.execute(
            "SELECT DISTINCT schema_name FROM information_schema.schemata").fetchall()]
    return list(con.list_databases())


def _list_tables(con, schema: str | None) -> list[str]:
    if con.name == "duckdb":
        query = "SELECT table_name FROM information_schema.tables WHERE table_schema = ?"
        if schema is None:
            return [r[0] for r in con.con.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() "
                "OR table_catalog = 'temp'").fetchall()]
        return [r[0] for r in con.con.execute(query, [schema]).fetchall()]
    return list(con.list_tables(database=schema) if schema is not None else con.list_tables())


def _place(con, schema: str | None) -> str:
    return {"duckdb": "DuckDB", "postgres": "PostgreSQL", "pyspark": "Spark"}.get(con.name, con.name)


def read_folder(con, folder: Path, names: Iterable[str], optional: Iterable[str] = (),
                kind: str = "table") -> dict[str, ibis.Table]:
    """Register NAME.parquet / NAME.csv files (or NAME/ folders of Parquet parts) of `folder` as tables.

    CSV is read with every column as text (identifiers such as '007' stay as written); the source
    that reads them casts the columns it uses. Raises one BackendError listing the missing files.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise BackendError(f"Data folder {folder} does not exist or is not a folder.")
    names, optional = list(names), list(optional)
    # Any case of NAME (PERSON.csv, Person.parquet, person/): CDM exports differ (issue 13).
    entries: dict[str, list[Path]] = {}
    for entry in folder.iterdir():
        entries.setdefault(entry.name.lower(), []).append(entry)
    found: dict[str, Path] = {}
    for name in names + optional:
        present = [path for suffix in (".parquet", "", ".csv", ".csv.gz")
                   for path in entries.get(f"{name}{suffix}", [])
                   if path.is_file() or (path.is_dir() and any(path.glob("*.parquet")))]
        if len(present) > 1:
            raise BackendError(f"{folder} has more than one file for table '{name}' "
                               f"({', '.join(sorted(p.name for p in present))}); keep one.")
        if present:
            found[name] = present[0]
    missing = [n for n in names if n not in found]
    if missing:
        raise BackendError(
            f"{folder} has no {kind} {', '.join(repr(m) for m in missing)} "
            f"(expected NAME.csv or NAME.parquet; found: {', '.join(sorted(p.name for p in folder.iterdir())) or 'nothing'})."
        )
    tables = {}
    for name, path in found.items():
        tables[name] = _read_file(con, path, name)
    return tables


def _read_file(con, path: Path, name: str) -> ibis.Table:
    table_name = f"file_{name}"
    if path.is_dir() or path.suffix == ".parquet":
        source = str(path / "*.parquet") if path.is_dir() else str(path)
        if con.name == "duckdb":
            return con.read_parquet(source, table_name=table_name)
        if con.name == "postgres":  # no Parquet reader in the server: through Arrow, types kept
            import pyarrow.parquet as pq

            arrow = pq.read_table(str(path))
            _drop_table(con, table_name)
            return con.create_table(table_name, arrow, temp=True)
        return con.read_parquet(str(path), table_name=table_name)
    if con.name == "duckdb":
        # all_varchar keeps identifiers and codes exactly as written (no '007' -> 7).
        return con.read_csv(str(path), table_name=table_name, all_varchar=True, header=True)
    if con.name == "pyspark":
        return con.read_csv(str(path), table_name=table_name, header=True, inferSchema=False)
    frame = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])
    return load_tables(con, {name: frame}, prefix="file_")[name]


# --------------------------------------------------------------------------------------------
# Expressions that differ between engines
# --------------------------------------------------------------------------------------------
def ordered_group_concat(con, value: ibis.Value, order_by: list[ibis.Value], sep: str = ";") -> ibis.Value:
    """An aggregate joining `value` with `sep` in the order of `order_by` (ties broken by later keys).

    ibis 12 cannot order group_concat on PySpark, so there the values are collected as structs of
    (order keys..., value), sorted (structs compare field by field) and joined.
    """
    if con.name != "pyspark":
        return value.group_concat(sep, order_by=order_by)
    fields = {f"k{i}": key for i, key in enumerate(order_by)}
    fields["value"] = value
    collected = ibis.struct(fields).collect()
    return collected.sort().map(lambda item: item["value"]).join(sep)


# Leading/trailing whitespace as a regex every engine reads the same way.
_EDGE_WHITESPACE = r"^[ \t\r\n]+|[ \t\r\n]+$"


def strip_text(value: ibis.Value) -> ibis.Value:
    """`value.strip()` that is safe on every backend.

    ibis 12 compiles `.strip()` on PySpark to TRIM(... ' \\t\\n\\rvf'): it removes the letters v and f
    ("fluoxetine" -> "luoxetine", "F32" -> "32"). A regex replacement is the same everywhere.
    """
    return value.re_replace(_EDGE_WHITESPACE, "")
