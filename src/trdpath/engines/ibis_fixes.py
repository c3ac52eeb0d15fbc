"""Workarounds for Ibis 12 on particular engines, in one place (remove each when Ibis fixes it)."""

from __future__ import annotations

import ibis

# Leading/trailing whitespace as a regex every engine reads the same way.
_EDGE_WHITESPACE = r"^[ \t\r\n]+|[ \t\r\n]+$"


def strip_text(value: ibis.Value) -> ibis.Value:
    """`value.strip()` that is safe on every backend.

    ibis 12 compiles `.strip()` on PySpark to TRIM(... ' \\t\\n\\rvf'): it removes the letters v and f
    ("fluoxetine" -> "luoxetine", "F32" -> "32"). A regex replacement is the same everywhere.
    """
    return value.re_replace(_EDGE_WHITESPACE, "")


def register_memtables_before_cache(con) -> None:
    """ibis 12's PySpark `.cache()` compiles the query without registering in-memory tables it uses
    (reference lists, drug maps), so Spark cannot find them; register them first. Patches the
    connection's private `_create_cached_table` (the only hook there is)."""
    create_cached = con._create_cached_table

    def create_cached_with_memtables(name, expr):
        con._run_pre_execute_hooks(expr)
        return create_cached(name, expr)

    con._create_cached_table = create_cached_with_memtables
