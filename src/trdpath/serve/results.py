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

WORKLIST_CSV = "worklist.csv"  # written by `trdpath worklist` (trdpath.early.outputs), patient level


def _quoted(path: Path) -> str:
    """A path as a SQL string literal (DuckDB's table functions take no parameters for file names)."""
    return "'" + str(path).replace("'", "''") + "'"


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
        """One DuckDB connection per server thread, with the patients Parquet file as a view (and the pathway
        steps and the worklist, patient level, when the run made them)."""
        con = getattr(self._local, "con", None)
        if con is None:
            con = duckdb.connect()
            con.execute(f"CREATE VIEW patients AS SELECT * FROM read_parquet({_quoted(self.root / layout.PATIENTS_PARQUET)})")
            steps_parquet, steps_csv = self.root / layout.PATHWAY_STEPS_PARQUET, self.root / layout.PATHWAY_STEPS_CSV
            if steps_parquet.is_file():
                con.execute(f"CREATE VIEW steps AS SELECT * FROM read_parquet({_quoted(steps_parquet)})")
            elif steps_csv.is_file():
                con.execute(f"CREATE VIEW steps AS SELECT * FROM read_csv({_quoted(steps_csv)}, header = true, "
                            "types = {'patient_id': 'VARCHAR'})")
            worklist = self.optional(WORKLIST_CSV)
            if worklist is not None:
                # Every column as text, as written (the worklist's cells are already formula-neutralised).
                con.execute(f"CREATE VIEW worklist AS SELECT * FROM read_csv({_quoted(worklist)}, header = true, "
                            "all_varchar = true)")
            self._local.con = con
        return con

    def has_view(self, name: str) -> bool:
        return bool(self.connection().execute(
            "SELECT count(*) FROM duckdb_views() WHERE view_name = ? AND NOT internal", [name]).fetchone()[0])

    def worklist_row(self, patient_id: str) -> dict[str, str]:
        """The patient's worklist row (stage, next step, reasons) when the result has a worklist."""
        if not self.has_view("worklist"):
            return {}
        found = self.connection().execute("SELECT * FROM worklist WHERE patient_id = ? LIMIT 1", [patient_id]).fetch_df()
        return {} if found.empty else {k: ("" if pd.isna(v) else str(v)) for k, v in found.iloc[0].items()}

    def columns(self) -> list[str]:
        return [row[0] for row in self.connection().execute("DESCRIBE patients").fetchall()]
