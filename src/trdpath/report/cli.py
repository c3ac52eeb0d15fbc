"""`trdpath report --out DIR`: re-run the analysis and report on an existing classification folder.

The lead mounts ``app`` (or calls :func:`report_folder`) under ``trdpath``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import pandas as pd
import typer
from rich.console import Console

from trdpath import __version__
from trdpath.report import read_classification, write_report

app = typer.Typer(help="The study report: Tables 1-3, resistance levels, service use, figures (HTML, DOCX, CSV).")


def classification_meta(out_dir: Path, patients: pd.DataFrame, config) -> dict:
    """What the report states about its data when only the classification folder is at hand."""
    saved = Path(out_dir) / "metadata.json"
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
    console = console or Console(stderr=True)
    with console.status("Reading the classification ..."):
        patients, attrition, config = read_classification(out_dir)
    with console.status(f"Analysing {int(patients['in_cohort'].sum()):,} patients and writing the report ..."):
        write_report(out_dir, patients, attrition, config, classification_meta(out_dir, patients, config))
    console.print(f"Report written: {out_dir / 'report.html'}, {out_dir / 'report.docx'}, {out_dir / 'tables'}/")


@app.command("report")
def report(out: Annotated[Path, typer.Option("--out", help="A classification folder (from `trdpath classify`).")]
           ) -> None:
    """Re-run the analysis and report on an existing classification folder."""
    report_folder(out)
