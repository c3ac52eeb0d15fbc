"""A result folder as the web application sees it: published tables, the per-patient Parquet file
(queried in DuckDB, never loaded whole) and the study configuration it was made with."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pandas as pd

from trdpath import layout
from trdpath.config import StudyConfig, load_config
from trdpath.errors import UserError



@dataclass
class ResultFolder:
    root: Path
    config: StudyConfig
    metadata: dict

    @classmethod
    def open(cls, root: Path) -> "ResultFolder":
        root = Path(root)
        if not (root / layout.PATIENTS_PARQUET).is_file():
            raise UserError(f"{root} is not a trdpath result: it has no patients.parquet "
                            "(make one with `trdpath run --data DIR --out DIR`).")
        config = load_config(root / layout.CONFIG_TOML) if (root / layout.CONFIG_TOML).is_file() else StudyConfig()
        meta_path = root / layout.METADATA_JSON
        metadata = json.loads(meta_path.read_text(encoding="utf-8")) if meta_path.is_file() else {}
        folder = cls(root, config, metadata)
        folder._local = threading.local()
        return folder

    @property
    def release(self) -> Path:
        """The publishable part: `release/` where the result is split, else the folder itself."""
        split = layout.release_dir(self.root)
        return split if split.is_dir() else self.root

    def published_table(self, stem: str) -> pd.DataFrame | None:
        """A table exactly as the run published it (tables/STEM.csv), or None if the run made none."""
        for folder in (self.release / layout.TABLES, self.release):
            path = folder / f"{stem}.csv"
            if path.is_file():
                return pd.read_csv(path, dtype=str, keep_default_na=False)
        return None

    def optional(self, *parts: str) -> Path | None:
        """A file the run may have made (definitions, worklist, ...), looked up in release/ then the root."""
        for base in (self.release, self.root):
            path = base.joinpath(*parts)
            if path.is_file():
                return path
        return None

    def connection(self) -> duckdb.DuckDBPyConnection:
        """One DuckDB connection per server thread, with the patients Parquet file as a view."""
        con = getattr(self._local, "con", None)
        if con is None:
            con = duckdb.connect()
            path = str(self.root / layout.PATIENTS_PARQUET).replace("'", "''")
            con.execute(f"CREATE VIEW patients AS SELECT * FROM read_parquet('{path}')")
            self._local.con = con
        return con

    def columns(self) -> list[str]:
        return [row[0] for row in self.connection().execute("DESCRIBE patients").fetchall()]
