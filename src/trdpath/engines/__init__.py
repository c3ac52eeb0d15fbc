"""Everything that differs between the engines (DuckDB, PostgreSQL, PySpark), behind a few functions
that take an Ibis connection. Nothing outside this package asks which backend it is on."""

from __future__ import annotations

import ibis
import ibis.expr.operations as ops
import pyarrow as pa


def has_bit_or(con) -> bool:
    """BIT_OR as an aggregate (the packing tricks use it; otherwise SUM of disjoint bit fields)."""
    return con.has_operation(ops.BitOr)


def prepare_for_classification(con) -> None:
    """Settings for the classification stages, once validation (which numbers rows) is done."""
    if con.name == "duckdb":
        # From here on every result needed in order says ORDER BY; DuckDB then spills with less memory.
        con.raw_sql("SET preserve_insertion_order = false")


def fetch_arrow(con, expr: ibis.Table) -> pa.Table:
    """The result as Arrow. On DuckDB it is streamed in batches, so the engine sorts (spilling to
    disk if it must) without also holding the whole result: at national scale only the Arrow copy
    is kept. (Ibis 12's own batch reader calls a DuckDB method that DuckDB 2.0 removed.)"""
    if con.name == "duckdb":
        return con._to_duckdb_relation(expr).to_arrow_reader(1_000_000).read_all()
    return con.to_pyarrow(expr)
