"""The three engines, one class each: how to connect, load in-memory tables, read a file, list what a
schema holds, fetch a result as Arrow, and what each can do (Capabilities). Everything else in trdpath
is written once as Ibis expressions and asks these objects (through trdpath.engines) when it must."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

import ibis
import pandas as pd
import pyarrow as pa
import sqlglot as sg

from trdpath.config import EngineSection
from trdpath.engines.arrow import _spark_schema
from trdpath.engines.ibis_fixes import register_memtables_before_cache
from trdpath.errors import BackendError
from trdpath.safety import mask_credentials

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
POSTGRES_URL_VARIABLE = "TRDPATH_POSTGRES_URL"


@dataclass(frozen=True)
class Capabilities:
    """What an engine can do that the expressions must know about."""

    bit_or: bool  # BIT_OR as an aggregate (the packing tricks; otherwise SUM of disjoint bit fields)
    try_cast: bool  # TRY_CAST gives NULL for a bad value (PostgreSQL's is a plain CAST that stops the query)
    safe_strip: bool  # Ibis' .strip() trims only whitespace (on PySpark it also strips the letters v and f)
    # plans one query joining a dozen derived tables quickly (Spark's optimiser takes minutes over such a plan)
    wide_queries: bool = False
    # statements in one BEGIN ... COMMIT (Spark has no multi-statement transaction: a table is overwritten whole)
    transactions: bool = True
    # HASH of a whole row (a struct of its columns) in one native call; PostgreSQL hashes text only
    row_hash: bool = True


def first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0].strip()


def quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


class Engine:
    """The protocol: every engine has these; the defaults suit SQL engines reached through Ibis."""

    name = ""
    label = ""  # for messages
    capabilities: Capabilities

    def connect(self, url: str | None, engine: EngineSection, session=None):
        raise NotImplementedError

    def prepare_for_classification(self, con) -> None:
        """Settings for the classification stages, once validation (which numbers rows) is done."""

    def load(self, con, table_name: str, arrow: pa.Table) -> ibis.Table:
        """An Arrow table as a table of this connection (temporary where the engine has them)."""
        self.drop(con, table_name)
        return con.create_table(table_name, arrow, temp=True)

    def stage(self, con, table_name: str, expr: ibis.Table) -> ibis.Table:
        """`expr` computed once into a table of this connection (temporary where the engine has them)."""
        return con.create_table(table_name, expr, temp=True, overwrite=True)

    def drop(self, con, name: str) -> None:
        # Written out rather than built with sqlglot's Drop, whose arguments changed between versions.
        quoted = sg.table(name, quoted=True).sql(con.dialect)
        for kind in ("TABLE", "VIEW"):
            try:
                self._close(con.raw_sql(f"DROP {kind} IF EXISTS {quoted}"))
            except Exception:
                # DuckDB refuses DROP VIEW on a table (and vice versa); the other kind is the right one.
                continue

    def _close(self, result) -> None:
        """Release what raw_sql returned (a cursor on PostgreSQL)."""

    def read_parquet(self, con, path: Path, table_name: str) -> ibis.Table:
        source = str(path / "*.parquet") if path.is_dir() else str(path)
        return con.read_parquet(source, table_name=table_name)

    def read_csv(self, con, path: Path, table_name: str) -> ibis.Table:
        """Every column as text: identifiers and codes stay exactly as written (no '007' -> 7)."""
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])
        from trdpath.engines.arrow import frame_to_arrow

        return self.load(con, table_name, frame_to_arrow(frame))

    def list_schemas(self, con) -> list[str]:
        return list(con.list_databases())

    def list_tables(self, con, schema: str | None) -> list[str]:
        return list(con.list_tables(database=schema) if schema is not None else con.list_tables())

    def fetch_arrow(self, con, expr: ibis.Table) -> pa.Table:
        return con.to_pyarrow(expr)

    def strip(self, value: ibis.Value) -> ibis.Value:
        return value.strip()

def _half_of_memory() -> str | None:
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # not Linux/macOS: keep DuckDB's default
        return None
    return f"{max(total // 2 // 1024**2, 256)}MiB"


class DuckDB(Engine):
    name, label = "duckdb", "DuckDB"
    capabilities = Capabilities(bit_or=True, try_cast=True, safe_strip=True, wide_queries=True)

    def connect(self, url, engine, session=None):
        try:
            con = ibis.duckdb.connect(url or ":memory:")
        except Exception as exc:  # duckdb raises its own IOException family
            raise BackendError(mask_credentials(f"Cannot open DuckDB database {url}: {first_line(exc)}")) from None
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

    def spill_to(self, con, folder: Path) -> None:
        """Where DuckDB spills to disk when the configuration does not say."""
        con.raw_sql(f"SET temp_directory = '{folder}'")

    def prepare_for_classification(self, con):
        # From here on every result needed in order says ORDER BY; DuckDB then spills with less memory.
        con.raw_sql("SET preserve_insertion_order = false")

    def load(self, con, table_name, arrow):
        # DuckDB reads Arrow directly (and this does not depend on ibis' sqlglot-built DROP statements,
        # which sqlglot 30 renders without a table name).
        view = f"__trdpath_arrow_{table_name}"
        con.con.register(view, arrow)
        try:
            con.con.execute(f"CREATE OR REPLACE TABLE {quote(table_name)} AS SELECT * FROM {quote(view)}")
        finally:
            con.con.unregister(view)
        return con.table(table_name)

    def read_csv(self, con, path, table_name):
        return con.read_csv(str(path), table_name=table_name, all_varchar=True, header=True)

    def list_schemas(self, con):
        # ibis 12's DuckDB listing calls an API that duckdb 2 removed; ask the catalog directly.
        return [r[0] for r in con.con.execute("SELECT DISTINCT schema_name FROM information_schema.schemata").fetchall()]

    def list_tables(self, con, schema):
        if schema is None:
            return [r[0] for r in con.con.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() "
                "OR table_catalog = 'temp'").fetchall()]
        return [r[0] for r in con.con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = ?", [schema]).fetchall()]

    def fetch_arrow(self, con, expr):
        # Streamed in batches, so the engine sorts (spilling to disk if it must) without also holding
        # the whole result: at national scale only the Arrow copy is kept. (Ibis 12's own batch reader
        # calls a DuckDB method that DuckDB 2.0 removed.)
        return con._to_duckdb_relation(expr).to_arrow_reader(1_000_000).read_all()


class PostgreSQL(Engine):
    name, label = "postgres", "PostgreSQL"
    capabilities = Capabilities(bit_or=True, try_cast=False, safe_strip=True, row_hash=False)

    def connect(self, url, engine, session=None):
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
            message = first_line(exc)
            if "refused" in message.lower():
                hint = "connection refused - is the server running and listening on that host and port?"
            elif "password" in message.lower() or "authentication" in message.lower():
                hint = f"authentication failed ({message})"
            else:
                hint = message
            raise BackendError(mask_credentials(f"Cannot connect to {where}: {hint}")) from None

    def _close(self, result):
        result.close()

    def read_parquet(self, con, path, table_name):
        # No Parquet reader in the server: through Arrow, types kept.
        import pyarrow.parquet as pq

        return self.load(con, table_name, pq.read_table(str(path)))


class PySpark(Engine):
    name, label = "pyspark", "Spark"
    capabilities = Capabilities(bit_or=False, try_cast=True, safe_strip=False, transactions=False)

    def connect(self, url, engine, session=None):
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
                    raise BackendError(mask_credentials(f"Cannot start Spark (master {master}): {first_line(exc)}")) from None
                session.sparkContext.setLogLevel("ERROR")
        try:
            con = ibis.pyspark.connect(session)
        except Exception as exc:
            raise BackendError(mask_credentials(f"Cannot use the Spark session: {first_line(exc)}")) from None
        register_memtables_before_cache(con)
        return con

    def load(self, con, table_name, arrow):
        session = con._session
        spark_frame = session.createDataFrame(arrow.to_pandas(types_mapper=None) if arrow.num_rows == 0
                                              else arrow, schema=_spark_schema(arrow.schema))
        spark_frame.createOrReplaceTempView(table_name)
        return con.table(table_name)

    def stage(self, con, table_name, expr):
        # ibis' PySpark backend has no temporary tables (text tables in a Spark database crashed validation):
        # a cached DataFrame instead.
        return expr.cache()

    def read_parquet(self, con, path, table_name):
        return con.read_parquet(str(path), table_name=table_name)

    def read_csv(self, con, path, table_name):
        return con.read_csv(str(path), table_name=table_name, header=True, inferSchema=False)

    def strip(self, value):
        from trdpath.engines.ibis_fixes import strip_text

        return strip_text(value)

ENGINES: dict[str, Engine] = {e.name: e for e in (DuckDB(), PostgreSQL(), PySpark())}
ALIASES = {"postgresql": "postgres", "spark": "pyspark"}


def engine_named(name: str) -> Engine:
    engine = ENGINES.get(ALIASES.get(name, name))
    if engine is None:
        raise BackendError(f"Unknown backend '{name}'; choose one of: {', '.join(ENGINES)}.")
    return engine


def engine_of(con) -> Engine:
    """The engine of an Ibis connection."""
    return engine_named(con.name)

