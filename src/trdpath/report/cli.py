"""`trdpath report --results DIR`: what the report states about an existing results folder.

The command itself is in trdpath.cli (over trdpath.api.report).
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
from rich.console import Console

from trdpath import __version__, layout


def classification_meta(out_dir: Path, patients: pd.DataFrame, config) -> dict:
    """What the report states about its data when only the classification folder is at hand."""
    saved = Path(out_dir) / layout.METADATA_JSON
    if saved.is_file():  # written by `trdpath classify` since 0.1.0
        meta = json.loads(saved.read_text(encoding="utf-8"))
        meta["data_date_range"] = tuple(meta.get("data_date_range") or (None, None))
        meta["software_version"] = __version__
        return meta
    index_date = config.study.index_date
    starts = pd.to_datetime(patients.get("episode_start"), errors="coerce") if "episode_start" in patients else None
    first = starts.min() if starts is not None and starts.notna().any() else None
    return {"software_version": __version__, "index_date": index_date or "unknown",
            "data_date_range": (first.date() if first is not None else None, index_date),
            "source": f"classification in {out_dir}"}


def report_folder(out_dir: Path, console: Console | None = None) -> None:
    """Rewrite the release part of an existing results folder (trdpath.api.report) and say where."""
    from trdpath.api import report

    console = console or Console(stderr=True)
    with console.status("Analysing and writing the report ..."):
        report(out_dir)
    console.print(f"Report written: {layout.report_html(out_dir)}, {layout.report_docx(out_dir)}, "
                  f"{layout.tables_dir(out_dir)}/")
