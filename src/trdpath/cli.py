"""The `trdpath` command line: a thin Typer layer over trdpath.api.

User mistakes (bad files, bad settings) print one clear message and exit with status 2;
nothing half-written is left in the output folder.
"""

from __future__ import annotations

import atexit
import datetime as dt
import os
import sys
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Optional

import click
import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from trdpath import __version__
from trdpath.config import DEFAULT_CONFIG_TOML, StudyConfig, load_config
from trdpath.errors import UserError

app = typer.Typer(
    name="trdpath",
    help="Find, classify and study treatment-resistant depression (TRD) in health records.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
console = Console(stderr=True, soft_wrap=True)

DataOption = Annotated[str, typer.Option("--data", help="Folder with patients, diagnoses, prescriptions (+ referrals, notes) as CSV or Parquet; or omop:FOLDER, postgresql://... (OMOP CDM, ?schema=cdm), spark:SCHEMA.")]
BackendOption = Annotated[Optional[str], typer.Option("--backend", help="Engine for a flat folder: duckdb (default), postgres (TRDPATH_POSTGRES_URL) or pyspark.")]
OutOption = Annotated[Path, typer.Option("--out", help="Folder to write the results into (created if missing).")]
ConfigOption = Annotated[Optional[Path], typer.Option("--config", help="Study configuration TOML (see `trdpath default-config`).")]
IndexDateOption = Annotated[Optional[str], typer.Option("--index-date", help="Point of data extraction, YYYY-MM-DD (default: latest date in the extract).")]

_STAGES = 10


def _check_backend(value: str | None) -> str | None:
    from trdpath.backends import BACKENDS

    if value is not None and value not in BACKENDS:
        raise UserError(f"--backend must be one of {', '.join(BACKENDS)} (got {value!r}).")
    return value


def _parse_index_date(value: str | None) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise UserError(f"--index-date must be a date as YYYY-MM-DD (got {value!r}).") from None


@contextmanager
def stage_progress(title: str, total: int = _STAGES, enabled: bool = True):
    """A Rich progress display whose callback names each pipeline stage as it starts."""
    if not enabled:
        yield lambda _stage: None
        return
    with Progress(SpinnerColumn(), TextColumn("[bold]{task.description}"), BarColumn(), TimeElapsedColumn(),
                  console=console, transient=True) as progress:
        task = progress.add_task(title, total=total)

        def advance(stage: str) -> None:
            progress.update(task, description=f"{title}: {stage}", advance=1)

        yield advance


def _summary(result) -> Table:
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


def run_classify(data: str, out: Path, config: StudyConfig, index_date: dt.date | None, quiet: bool = False,
                 backend: str | None = None):
    from trdpath.api import classify

    with stage_progress("Classifying", enabled=not quiet) as progress:
        result = classify(data, out, config=config, index_date=index_date, progress=progress, backend=backend)
    if not quiet:
        console.print(_summary(result))
        console.print(Text(f"Wrote patients.csv, patients.parquet, attrition.csv, data_quality.csv, config.toml to {out}"))
    return result


@app.command()
def classify(data: DataOption, out: OutOption, config: ConfigOption = None, index_date: IndexDateOption = None,
             backend: BackendOption = None,
             quiet: Annotated[bool, typer.Option("--quiet", help="No progress display or summary.")] = False) -> None:
    """Classify every patient of an extract: cohort, treatment lines, TRD and resistance level."""
    run_classify(data, out, load_config(config), _parse_index_date(index_date), quiet, _check_backend(backend))


def run_report(out: Path, result, quiet: bool = False) -> None:
    from trdpath.output import run_metadata
    from trdpath.report import write_report

    with console.status("Analysing and writing the report ...") if not quiet else _nothing():
        write_report(out, result.patients, result.attrition, result.config, run_metadata(result))
    if not quiet:
        console.print(Text(f"Report: {out / 'report.html'}, {out / 'report.docx'}, tables in {out / 'tables'}/"))


@contextmanager
def _nothing():
    yield


@app.command()
def run(data: DataOption, out: OutOption, config: ConfigOption = None, index_date: IndexDateOption = None,
        backend: BackendOption = None,
        quiet: Annotated[bool, typer.Option("--quiet", help="No progress display or summary.")] = False) -> None:
    """Classify, then analyse and report (Tables 1-3, resistance levels, service use, figures)."""
    result = run_classify(data, out, load_config(config), _parse_index_date(index_date), quiet, _check_backend(backend))
    run_report(out, result, quiet)


@app.command()
def report(out: Annotated[Path, typer.Option("--out", help="A classification folder (from `trdpath classify` or `run`).")]) -> None:
    """Re-run the analysis and report on an existing classification folder."""
    from trdpath.report.cli import report_folder

    report_folder(out, console)


@app.command("default-config")
def default_config() -> None:
    """Print a commented study configuration with every default (trd-rules.md)."""
    typer.echo(DEFAULT_CONFIG_TOML, nl=False)


@app.command()
def demo(out: Annotated[Path, typer.Option("--out", help="Where to write the demo.")] = Path("trdpath-demo"),
         patients: Annotated[int, typer.Option("--patients", help="Size of the synthetic extract.")] = 5000,
         seed: Annotated[int, typer.Option("--seed")] = 2025) -> None:
    """Generate a synthetic extract and run everything on it into ./trdpath-demo/."""
    from trdpath.demo import run_demo

    run_demo(out, patients, seed, console)


@app.command()
def version() -> None:
    """Print the trdpath version."""
    typer.echo(__version__)


def _mount_subcommands() -> None:
    from trdpath.nlp.cli import app as nlp_app
    from trdpath.qualitative.cli import app as qual_app
    from trdpath.synth.cli import app as synth_app

    app.add_typer(synth_app, name="synth")
    app.add_typer(nlp_app, name="nlp", help="Free-text notes: find self-harm and suicidality (extract, flags, evaluate).")
    app.add_typer(qual_app, name="qual", help="Qualitative analysis: transcripts, codebooks, coding, agreement, saturation, REFI-QDA.")
    from trdpath.serve.cli import serve
    app.command("serve")(serve)


_mount_subcommands()


def main() -> None:
    try:
        result = app(standalone_mode=False)
    except UserError as exc:
        console.print(Text("Error: ", style="bold red") + Text(str(exc)))
        sys.exit(exc.exit_code)
    except click.exceptions.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        console.print("Aborted.")
        sys.exit(130)
    _exit_now(result if isinstance(result, int) else 0)


def _exit_now(code: int) -> None:
    """End the process once a command has finished, without tearing the interpreter down object by
    object: after a 1M-patient classification that teardown (the engine's tables, the per-patient
    result, every module) takes 0.2 s. Exit handlers still run and the output streams are flushed;
    every output file is already closed. If some other thread is still working, exit normally
    (which waits for it)."""
    if any(t.is_alive() and not t.daemon for t in threading.enumerate() if t is not threading.current_thread()):
        sys.exit(code)
    atexit._run_exitfuncs()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
