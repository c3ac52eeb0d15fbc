"""Read a flat extract: a folder with one CSV or Parquet file (or folder of Parquet parts) per table
(found by sources.folder.find_table_files, the one file-name rule for flat and OMOP folders).

Files are read in place by DuckDB; CSV columns are read as text so that identifiers such as
``007`` stay as written and every value can be checked with a message naming file, row and value.
"""

from __future__ import annotations

import re
from pathlib import Path

import duckdb
import ibis

from trdpath.errors import InputError, UserError
from trdpath.schema import OPTIONAL_TABLES, REQUIRED_TABLES, TABLES
from trdpath.sources.folder import find_table_files

_OTHER_DELIMITERS = {";": "semicolon", "\t": "tab", "|": "pipe"}


def _sql_path(path: Path) -> str:
    return str(path).replace("'", "''")


def read_table(con: ibis.BaseBackend, name: str, path: Path) -> ibis.Table:
    """Register one file as a DuckDB view; CSV as all-text columns."""
    raw = con.con  # the duckdb connection behind Ibis
    view = f"src_{name}"
    if path.is_dir():
        source = f"read_parquet('{_sql_path(path)}/*.parquet')"
    elif path.suffix == ".parquet":
        source = f"read_parquet('{_sql_path(path)}')"
    else:
        _check_csv_header(path, name)
        source = (
            f"read_csv('{_sql_path(path)}', header=true, delim=',', quote='\"', escape='\"', "
            f"all_varchar=true, encoding='utf-8', strict_mode=false, null_padding=true)"
        )
    try:
        raw.execute(
            f"CREATE OR REPLACE TEMP VIEW {view} AS "
            f"SELECT * FROM {source}"
        )
        # Force a schema read now so that a broken file fails here, with its name.
        columns = [c[0] for c in raw.execute(f"DESCRIBE {view}").fetchall()]
    except duckdb.Error as exc:
        raise _explain_duckdb_error(exc, path) from None
    normalised = {c: c.strip().lower() for c in columns}
    if len(set(normalised.values())) != len(normalised):
        raise InputError("two columns have the same name (ignoring case)", file=str(path))
    table = con.table(view)
    return table.rename({new: old for old, new in normalised.items() if old != new})


def _check_csv_header(path: Path, name: str) -> None:
    with path.open("rb") as fh:
        first = fh.readline()
    if not first.strip():
        raise InputError("the file is empty (no header row)", file=str(path))
    try:
        header = first.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InputError(
            "line 1 is not UTF-8 text; save the file as UTF-8 CSV", file=str(path)
        ) from None
    if "," not in header:
        for delim, label in _OTHER_DELIMITERS.items():
            if delim in header:
                raise InputError(
                    f"the header looks {label}-separated; trdpath reads comma-separated CSV "
                    f"(re-export with commas, or save as Parquet)",
                    file=str(path),
                )
        required = TABLES[name]["required"]
        if len(required) > 1:
            raise InputError(
                f"the header has a single column ({header.strip()!r}); expected comma-separated "
                f"columns including {', '.join(required)}",
                file=str(path),
            )


def _explain_duckdb_error(exc: duckdb.Error, path: Path) -> UserError:
    text = str(exc)
    line = re.search(r"Line: (\d+)", text)
    where = f"line {line.group(1)}" if line else "somewhere"
    if "unicode" in text.lower() or "utf-8" in text.lower():
        return InputError(
            f"{where} is not UTF-8 text (perhaps saved as Windows-1252/Latin-1); save the file as UTF-8 CSV",
            file=str(path),
        )
    if "parquet" in text.lower() and "magic" in text.lower():
        return InputError("is not a valid Parquet file", file=str(path))
    first_line = text.strip().splitlines()[0] if text.strip() else type(exc).__name__
    return InputError(f"could not be read ({where}): {first_line}", file=str(path))


def read_flat_folder(con: ibis.BaseBackend, data_dir: Path) -> tuple[dict[str, ibis.Table], dict[str, Path]]:
    """All tables of a flat extract as raw Ibis tables (on DuckDB), with the file each came from."""
    files = find_table_files(Path(data_dir), REQUIRED_TABLES, OPTIONAL_TABLES)
    return {name: read_table(con, name, path) for name, path in files.items()}, files


def read_flat_location(location, config=None):
    """`--data postgresql://...?schema=S&format=flat` or ``spark:S?format=flat``: the data contract's
    tables (patients, diagnoses, prescriptions; referrals and notes if present) held in a database
    schema. Returns (connection, validated Extract); the pipeline then runs inside that database.

    The checks are those of a folder of files; a message names the table (and, where it can, a row
    number in the engine's scan order, which a database does not fix: use the value to find the row).
    """
    from trdpath import engines
    from trdpath.config import StudyConfig
    from trdpath.sources.validate import validate_extract

    config = config or StudyConfig()
    con = engines.connect(location.backend, location.url, config.engine)
    raw = engines.require_tables(con, REQUIRED_TABLES, location.schema, optional=OPTIONAL_TABLES)
    where = {name: f"{location.display} table {name}" for name in raw}
    return con, validate_extract(con, raw, where, source=location.display)
