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


_FORMULA_BYTES = tuple(ord(c) for c in FORMULA_START)
_FORMULA_LOOKUP = None  # a 256-entry table: is this first byte one of FORMULA_START (set on first use)


def _formula_mask(chunk):  # noqa: ANN001, ANN202 - a pyarrow (large_)string Array in, a numpy bool array out
    """Which values of `chunk` start with one of FORMULA_START, read off the first byte of each value in
    Arrow's offsets and data buffers (numpy, no regular expression: 20x faster over 1M values)."""
    import numpy as np
    import pyarrow as pa

    global _FORMULA_LOOKUP
    if _FORMULA_LOOKUP is None:
        _FORMULA_LOOKUP = np.zeros(256, dtype=bool)
        _FORMULA_LOOKUP[list(_FORMULA_BYTES)] = True
    mask = np.zeros(len(chunk), dtype=bool)
    if len(chunk) == 0 or chunk.null_count == len(chunk):
        return mask
    validity, offsets, data = chunk.buffers()
    if data is None or data.size == 0:
        return mask
    width = np.int64 if pa.types.is_large_string(chunk.type) else np.int32
    offsets = np.frombuffer(offsets, dtype=width)[chunk.offset:chunk.offset + len(chunk) + 1]
    filled = offsets[1:] > offsets[:-1]
    mask[filled] = _FORMULA_LOOKUP[np.frombuffer(data, dtype=np.uint8)[offsets[:-1][filled]]]
    if chunk.null_count:
        mask &= chunk.is_valid().to_numpy(zero_copy_only=False)
    return mask


def _prefix_quote(chunk, mask):  # noqa: ANN001, ANN202 - a pyarrow (large_)string Array and a numpy mask
    """`chunk` with a ' inserted before each value where `mask` is set, by rebuilding its offsets and data
    buffers in numpy (Arrow's replace_with_mask takes 0.4 s for 1M values; this about 10 ms)."""
    import numpy as np
    import pyarrow as pa

    large = pa.types.is_large_string(chunk.type)
    width = np.int64 if large else np.int32
    validity, offsets, data = chunk.buffers()
    offsets = np.frombuffer(offsets, dtype=width)[chunk.offset:chunk.offset + len(chunk) + 1].astype(np.int64)
    values = np.frombuffer(data, dtype=np.uint8)[offsets[0]:offsets[-1]]
    before = np.concatenate([[0], np.cumsum(mask, dtype=np.int64)])  # quotes inserted before each value
    new_offsets = offsets - offsets[0] + before
    if not large and new_offsets[-1] > np.iinfo(np.int32).max:
        import pyarrow.compute as pc

        fixed = pc.binary_join_element_wise(pa.scalar("'", chunk.type), chunk.filter(pa.array(mask)),
                                            pa.scalar("", chunk.type))
        return pc.replace_with_mask(chunk, pa.array(mask), fixed)
    cuts = offsets[:-1][mask] - offsets[0]
    if len(cuts) <= 10_000:  # the usual case, a few values: copy the runs between them (np.insert is 10x slower)
        quote = np.array([ord("'")], np.uint8)
        pieces, previous = [], 0
        for cut in cuts.tolist():
            pieces += [values[previous:cut], quote]
            previous = cut
        new_values = np.concatenate([*pieces, values[previous:]])
    else:
        new_values = np.insert(values, cuts, ord("'"))
    # The validity bitmap keeps the chunk's bit offset: pad the offsets so both start at chunk.offset.
    new_offsets = np.concatenate([np.zeros(chunk.offset, np.int64), new_offsets]).astype(width)
    return pa.Array.from_buffers(chunk.type, len(chunk), [validity, pa.py_buffer(new_offsets), pa.py_buffer(new_values)],
                                 null_count=chunk.null_count, offset=chunk.offset)


def neutralise_arrow(table):  # noqa: ANN001, ANN201 - a pyarrow Table in, a Table out
    """The same for a pyarrow Table, in Arrow compute and numpy (no Python loop over rows). Only the
    values that start like a formula are looked at again (are they plain numbers?) and rewritten; a
    column with none costs one pass over its first bytes (patients.csv at 1M patients: 0.1 s)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    for i, field in enumerate(table.schema):
        if not (pa.types.is_string(field.type) or pa.types.is_large_string(field.type)):
            continue
        chunks, changed = [], False
        for chunk in table.column(i).chunks:
            mask = _formula_mask(chunk)
            if mask.any():
                where = np.flatnonzero(mask)
                candidates = chunk.take(pa.array(where))
                plain = pc.match_substring_regex(candidates, _PLAIN_NUMBER.pattern).to_numpy(zero_copy_only=False)
                mask[where[plain]] = False
                if mask.any():
                    chunk = _prefix_quote(chunk, mask)
                    changed = True
            chunks.append(chunk)
        if changed:
            table = table.set_column(i, field, pa.chunked_array(chunks, field.type))
    return table


def refuse_destructive_output(out, data=None, files=(), overwrite: bool = False, option: str = "--out") -> None:
    """Refuse an output folder whose replacement would destroy something (every command that writes a folder
    whole calls this before any work):
    - the extract: OUT equal to, inside or holding the `data` folder;
    - an input file (``files``: (option, path) pairs such as ("--rules", PATH)) that OUT is or holds; a path
      that is not an existing file is left to its reader's own message;
    - a file where a folder is wanted;
    - a non-empty folder that no trdpath command wrote (layout.is_output), unless ``overwrite``."""
    from pathlib import Path

    from trdpath import layout
    from trdpath.errors import UserError

    out_path = Path(out).expanduser().resolve()
    if data is not None:
        data_path = Path(data).expanduser().resolve()
        if out_path == data_path or data_path in out_path.parents:
            raise UserError(f"{option} {out} is {'the' if out_path == data_path else 'inside the'} --data folder "
                            f"{data}: the results would overwrite the extract. Choose another {option}.")
        if out_path in data_path.parents:
            raise UserError(f"--data {data} is inside {option} {out}: writing the results replaces that folder. "
                            f"Choose another {option}.")
    for name, given in files:
        path = Path(given).expanduser().resolve() if given is not None else None
        if path is None or not path.is_file():
            continue
        if out_path == path:
            raise UserError(f"{option} {out} is the {name} file {given}: the results would overwrite it. "
                            f"Choose another {option}.")
        if out_path in path.parents:
            raise UserError(f"{name} {given} is inside {option} {out}: writing the results replaces that folder. "
                            f"Choose another {option}.")
    for folder in (out_path, *out_path.parents):
        if folder.exists() and not folder.is_dir():
            raise UserError(f"{option} {out}: {folder} is a file, not a folder.")
    if out_path.is_dir() and any(out_path.iterdir()) and not layout.is_output(out_path) and not overwrite:
        raise UserError(f"{option} {out} is not empty and is not a trdpath result: its content would be replaced. "
                        "Choose an empty or new folder, or add --overwrite.")
