"""Two small guards that every writer and every message uses (docs/security.md).

- `mask_credentials`: no password, token or secret reaches a message, a log line or a file.
- `neutralise_cell` / `neutralise_frame` / `neutralise_arrow`: no text that a spreadsheet would run
  as a formula reaches a CSV or XLSX cell (OWASP "CSV Injection": a cell starting with `=`, `+`,
  `-`, `@`, tab or carriage return is prefixed with a single quote).
"""

from __future__ import annotations

import re
from typing import Any

MASK = "***"

# scheme://user:password@host  ->  scheme://user:***@host   (any scheme: postgresql, spark, mysql, ...)
_URL_PASSWORD = re.compile(r"(?P<head>\b[A-Za-z][A-Za-z0-9+.\-]*://[^\s:/@?#]*:)(?P<secret>[^\s@/?#]*)(?P<tail>@)")
# key=value and key: value pairs whose key names a secret (libpq "password=...", query strings, env-style text)
_KEY_SECRET = re.compile(
    r"(?P<head>\b(?:password|passwd|pwd|secret|token|api[_-]?key|access[_-]?key|pgpassword)\b\s*[=:]\s*)"
    r"(?:(?P<quote>['\"])(?P<quoted>.*?)(?P=quote)|(?P<secret>[^\s&;,'\"]+))",
    re.IGNORECASE,
)


def mask_credentials(text: object) -> str:
    """`text` with every password in a URL (`user:PASSWORD@`) and every `password=...`-style value
    replaced by `***`. Safe to call on any message, URL or exception text."""
    text = str(text)
    text = _URL_PASSWORD.sub(lambda m: f"{m['head']}{MASK}{m['tail']}", text)
    return _KEY_SECRET.sub(lambda m: f"{m['head']}{m['quote'] or ''}{MASK}{m['quote'] or ''}", text)


FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$")


def needs_neutralising(value: str) -> bool:
    """A text a spreadsheet would read as a formula: it starts with = + - @ tab or CR and is not a
    plain number (`-5`, `+1.5e3` stay as they are: a number cannot run anything)."""
    return value.startswith(FORMULA_START) and not _PLAIN_NUMBER.match(value)


def neutralise_cell(value: Any) -> Any:
    """A cell value as it may be written to CSV or XLSX: formula-like text gets a leading `'`;
    anything that is not text is returned unchanged."""
    if isinstance(value, str) and needs_neutralising(value):
        return "'" + value
    return value


def neutralise_frame(frame):  # noqa: ANN001, ANN201 - a pandas DataFrame in, a DataFrame out
    """A copy of a pandas DataFrame whose text cells are neutralised (columns of numbers, dates and
    booleans untouched). Vectorised: one regular-expression pass per text column."""
    import pandas as pd

    out = frame.copy()
    for name in out.columns:
        column = out[name]
        if not (pd.api.types.is_object_dtype(column) or pd.api.types.is_string_dtype(column)):
            continue
        text = column.where(column.map(lambda v: isinstance(v, str)), None)
        starts = text.str.match(r"^[=+\-@\t\r]", na=False)
        if not starts.any():
            continue
        plain = text.str.match(_PLAIN_NUMBER.pattern, na=False)
        flag = starts & ~plain
        out.loc[flag, name] = "'" + column[flag].astype(str)
    return out


def neutralise_arrow(table):  # noqa: ANN001, ANN201 - a pyarrow Table in, a Table out
    """The same for a pyarrow Table, in Arrow compute (no Python loop over rows)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    for i, field in enumerate(table.schema):
        if not (pa.types.is_string(field.type) or pa.types.is_large_string(field.type)):
            continue
        column = table.column(i)
        starts = pc.match_substring_regex(column, r"^[=+\-@\t\r]")
        if not pc.any(starts).as_py():
            continue
        plain = pc.match_substring_regex(column, _PLAIN_NUMBER.pattern)
        flag = pc.and_(starts, pc.invert(plain))
        fixed = pc.if_else(flag, pc.binary_join_element_wise(pa.scalar("'", field.type), column, ""), column)
        table = table.set_column(i, field, fixed)
    return table
