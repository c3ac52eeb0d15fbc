"""Where the data is: a ``--data`` string as a DataLocation (which engine, how to connect, which format)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from trdpath.errors import BackendError
from trdpath.safety import mask_credentials

BACKENDS = ("duckdb", "postgres", "pyspark")
# Data formats a location can hold: the data contract's flat tables, or an OMOP CDM.
FORMATS = ("flat", "omop")


@dataclass(frozen=True)
class DataLocation:
    """What a ``--data`` string points at: which backend, how to connect, and the data's format."""

    backend: str  # one of BACKENDS
    format: str  # "flat" (data-contract.md tables) or "omop" (OMOP CDM v5.3/v5.4 tables)
    url: str | None = None  # connection URL for postgres; Spark master for pyspark; None = in-memory DuckDB
    path: Path | None = None  # folder of CSV/Parquet tables (duckdb)
    schema: str | None = None  # database schema (postgres) / database (Spark) holding the tables
    display: str = ""  # for messages and Extract.source, with any password removed


def local_path(data) -> Path | None:
    """The local folder a ``--data`` value reads, or None (a database, Spark, or no --data)."""
    return None if data is None else backend_from_url(str(data)).path


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
