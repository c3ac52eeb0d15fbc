"""What every command shares (the main CLI and each sub-command group): the console, the common options,
their parsing and the stage progress. A module below the commands, so a sub-command group imports it
without importing the CLI that mounts it (no import cycle).
"""

from __future__ import annotations

import datetime as dt
import os
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from trdpath import layout
from trdpath.errors import UserError

console = Console(stderr=True, soft_wrap=True)
debug = {"on": bool(os.environ.get("TRDPATH_DEBUG"))}

DataOption = Annotated[str, typer.Option("--data", "-d", help="Folder with patients, diagnoses, prescriptions (+ referrals, notes) as CSV or Parquet; or omop:FOLDER, postgresql://... (OMOP CDM, ?schema=cdm), spark:SCHEMA.")]
BackendOption = Annotated[Optional[str], typer.Option("--backend", "-b", help="Engine for a folder (flat or omop:): duckdb (default), postgres (TRDPATH_POSTGRES_URL) or pyspark.")]
OutOption = Annotated[Path, typer.Option("--out", "-o", help="Results folder to write (created if missing; an earlier result there is replaced whole).")]
ConfigOption = Annotated[Optional[Path], typer.Option("--config", "-c", help="Study configuration TOML (see `trdpath default-config`).")]
IndexDateOption = Annotated[Optional[str], typer.Option("--index-date", help="Point of data extraction, YYYY-MM-DD (default: latest event date in the extract).")]
QuietOption = Annotated[bool, typer.Option("--quiet", "-q", help="No progress display or summary.")]
OverwriteOption = Annotated[bool, typer.Option("--overwrite", help="Replace --out even if it is a non-empty folder that is not a trdpath result.")]
ResultsOption = Annotated[Optional[Path], typer.Option("--results", "-r", help="An existing results folder (from `trdpath classify` or `run`).")]

STAGES = 10  # progress steps of a classification (pipeline.classify_extract)


def keep_inputs(out, *inputs) -> None:
    """Refuse --out that is, holds or sits inside a file named on the command line (`inputs`: (option, path)
    pairs such as ("--config", PATH)): writing OUT whole would delete it. The API checks --data and OUT itself."""
    from trdpath.safety import refuse_destructive_output

    refuse_destructive_output(out, files=inputs, overwrite=True)


def check_backend(value: str | None) -> str | None:
    from trdpath.engines import BACKENDS

    if value is not None and value not in BACKENDS:
        raise UserError(f"--backend must be one of {', '.join(BACKENDS)} (got {value!r}).")
    return value


def parse_index_date(value: str | None) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise UserError(f"--index-date must be a date as YYYY-MM-DD (got {value!r}).") from None


@contextmanager
def stage_progress(title: str, total: int = STAGES, enabled: bool = True):
    """A progress callback naming each pipeline stage as it starts: a Rich bar on a terminal, else
    (a batch job, a log file) one line per stage with the elapsed time."""
    if not enabled:
        yield lambda _stage: None
        return
    if not console.is_terminal:
        start = time.perf_counter()
        console.print(f"[{0.0:7.1f} s] {title}", highlight=False)

        def log(stage: str) -> None:
            console.print(f"[{time.perf_counter() - start:7.1f} s] {title}: {stage}", highlight=False)

        yield log
        console.print(f"[{time.perf_counter() - start:7.1f} s] {title}: done", highlight=False)
        return
    with Progress(SpinnerColumn(), TextColumn("[bold]{task.description}"), BarColumn(), TimeElapsedColumn(),
                  console=console, transient=True) as progress:
        task = progress.add_task(title, total=total)

        def advance(stage: str) -> None:
            progress.update(task, description=f"{title}: {stage}", advance=1)

        yield advance


def summary_table(result) -> Table:
    counts = result.summary()
    table = Table(title=f"Classification (index date {result.index_date})", show_header=True)
    table.add_column("")
    table.add_column("patients", justify="right")
    table.add_row("in the extract", f"{counts['extract']:,}")
    table.add_row("in the cohort", f"{counts['cohort']:,}")
    if counts["cohort"]:
        n_trd = counts["trd"]
        table.add_row("TRD", f"{n_trd:,} ({100 * n_trd / counts['cohort']:.1f}%)")
        for level in ("2", "3", "4+"):
            share = f" ({100 * counts[level] / n_trd:.1f}% of TRD)" if n_trd else ""
            table.add_row(f"  {level} antidepressants", f"{counts[level]:,}{share}")
    return table


def wrote(out: Path, with_report: bool) -> str:
    """The closing line of classify/run: which files are patient-level and which may be released."""
    text = (f"Wrote {out}/: patient-level {layout.PATIENTS_CSV}, {layout.PATIENTS_PARQUET}, {layout.DATA_QUALITY_CSV}, "
            f"{layout.ATTRITION_CSV} (do not release; see {layout.README})")
    if with_report:
        text += (f"\nRelease (disclosure-controlled): {layout.report_html(out)}, {layout.REPORT_DOCX}, "
                 f"{layout.TABLES}/, {layout.DATA_QUALITY_CSV}, {layout.ATTRITION_CSV}")
    return text
