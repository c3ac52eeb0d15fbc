"""Backends: one narrow interface to the engines the pipeline runs on (through Ibis).

The pipeline is written once as Ibis expressions; a backend only has to connect and hold tables.
"""

from __future__ import annotations

from collections.abc import Mapping

import ibis
import pandas as pd

from trdpath.config import EngineSection
from trdpath.errors import BackendError

BACKENDS = ("duckdb", "postgres", "pyspark")


def connect(backend: str = "duckdb", url: str | None = None, engine: EngineSection | None = None):
    """Connect to a backend by name; `url` is a database URL where the backend needs one."""
    engine = engine or EngineSection()
    if backend == "duckdb":
        con = ibis.duckdb.connect(url or ":memory:")
        if engine.memory_limit:
            con.raw_sql(f"SET memory_limit = '{engine.memory_limit}'")
        if engine.threads:
            con.raw_sql(f"SET threads = {int(engine.threads)}")
        if engine.temp_directory:
            con.raw_sql(f"SET temp_directory = '{engine.temp_directory}'")
        return con
    raise BackendError(f"Backend '{backend}' is not available yet; choose one of: duckdb.")


def load_tables(con, tables: Mapping[str, pd.DataFrame]) -> dict[str, ibis.Table]:
    """Put in-memory tables into the backend (tests, small extracts) and return Ibis tables."""
    loaded = {}
    for name, frame in tables.items():
        loaded[name] = con.create_table(f"raw_{name}", frame, overwrite=True)
    return loaded
