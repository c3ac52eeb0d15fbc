"""The one folder reader, for flat extracts and OMOP CDM folders alike (docs/data-contract.md "Input").

A table NAME is the file NAME.csv or NAME.parquet, or a folder NAME/ of Parquet parts, with NAME in
any case (CDM exports write PERSON.csv; issue 13). Two files for one table are refused rather than one
picked silently.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import ibis

from trdpath import engines
from trdpath.errors import BackendError

SUFFIXES = (".csv", ".parquet", "")  # "" = a folder of Parquet parts


def find_table_files(folder: Path, names: Iterable[str], optional: Iterable[str] = (),
                     kind: str = "table") -> dict[str, Path]:
    """name -> file for each table of `names` + `optional` found in `folder`; one BackendError naming
    the folder when it is missing, when a table has two files, or listing every missing required table."""
    folder = Path(folder)
    if not folder.is_dir():
        raise BackendError(f"Data folder {folder} does not exist or is not a folder.")
    names, optional = list(names), list(optional)
    entries: dict[str, list[Path]] = {}
    for entry in folder.iterdir():
        entries.setdefault(entry.name.lower(), []).append(entry)
    found: dict[str, Path] = {}
    for name in names + optional:
        present = [path for suffix in SUFFIXES for path in entries.get(f"{name.lower()}{suffix}", [])
                   if (path.is_file() and suffix) or (path.is_dir() and any(path.glob("*.parquet")))]
        if len(present) > 1:
            raise BackendError(f"{folder} has more than one file for table '{name}' "
                               f"({', '.join(sorted(p.name for p in present))}); keep one.")
        if present:
            found[name] = present[0]
    missing = [n for n in names if n not in found]
    if missing:
        listing = ", ".join(sorted(p.name for p in folder.iterdir())) or "nothing"
        raise BackendError(
            f"{folder} lacks the required {kind}(s) {', '.join(missing)}: it has no {kind} "
            f"{', '.join(repr(m) for m in missing)} (expected NAME.csv or NAME.parquet; found: {listing})."
        )
    return found


def read_folder(con, folder: Path, names: Iterable[str], optional: Iterable[str] = (),
                kind: str = "table") -> dict[str, ibis.Table]:
    """The tables of `folder` (find_table_files) read in place by the engine: CSV with every column as
    text (identifiers such as '007' stay as written; the source casts what it uses), Parquet typed."""
    return {name: engines.read_file(con, path, name)
            for name, path in find_table_files(folder, names, optional, kind).items()}
