"""The `trdpath` command line: a thin Typer layer over trdpath.api.

One error handler (`main`) and one exit-code table (EXIT_*): a usage mistake prints Typer's usage
text and exits 2; a problem with the user's data or settings prints one message and exits 2; a bug
prints a short message and exits 1 (`trdpath --debug ...` shows the traceback). No message shows a
password (trdpath.safety.mask_credentials); no failure leaves a half-written result (trdpath.atomic).
Sub-command groups are mounted in `_mount_subcommands`.
"""

from __future__ import annotations

import atexit
import datetime as dt
import os
import sys
import threading
import time
import traceback
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from trdpath import __version__, layout
from trdpath.config import DEFAULT_CONFIG_TOML, StudyConfig, load_config
from trdpath.errors import UserError
from trdpath.safety import mask_credentials

# The exit-code table (README "Exit codes").
EXIT_OK = 0
EXIT_INTERNAL = 1  # a bug: short message, traceback with --debug
EXIT_USAGE = 2  # the command line itself (Typer/click's own code for usage errors)
EXIT_USER = UserError.exit_code  # 2: the data, the settings, the output folder, the disk
EXIT_INTERRUPTED = 130  # Ctrl-C (128 + SIGINT)

app = typer.Typer(
    name="trdpath",
    help="Find, classify and study treatment-resistant depression (TRD) in health records.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
console = Console(stderr=True, soft_wrap=True)
_debug = {"on": bool(os.environ.get("TRDPATH_DEBUG"))}

DataOption = Annotated[str, typer.Option("--data", "-d", help="Folder with patients, diagnoses, prescriptions (+ referrals, notes) as CSV or Parquet; or omop:FOLDER, postgresql://... (OMOP CDM, ?schema=cdm), spark:SCHEMA.")]
BackendOption = Annotated[Optional[str], typer.Option("--backend", "-b", help="Engine for a folder (flat or omop:): duckdb (default), postgres (TRDPATH_POSTGRES_URL) or pyspark.")]
OutOption = Annotated[Path, typer.Option("--out", "-o", help="Results folder to write (created if missing; an earlier result there is replaced whole).")]
ConfigOption = Annotated[Optional[Path], typer.Option("--config", "-c", help="Study configuration TOML (see `trdpath default-config`).")]
IndexDateOption = Annotated[Optional[str], typer.Option("--index-date", help="Point of data extraction, YYYY-MM-DD (default: latest event date in the extract).")]
QuietOption = Annotated[bool, typer.Option("--quiet", "-q", help="No progress display or summary.")]
NoExtraPassesOption = Annotated[bool, typer.Option("--no-extra-passes", help="Skip the assumption-sensitivity and pathway passes (analysis.assumption_sensitivity / analysis.pathways = false); the report says they were not run.")]
OverwriteOption = Annotated[bool, typer.Option("--overwrite", help="Replace --out even if it is a non-empty folder that is not a trdpath result.")]
ResultsOption = Annotated[Optional[Path], typer.Option("--results", "-r", help="An existing results folder (from `trdpath classify` or `run`).")]

_STAGES = 10


def _version(value: bool) -> None:
    if value:
        typer.echo(f"trdpath {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[bool, typer.Option("--version", "-V", callback=_version, is_eager=True,
                                          help="Print the version and exit.")] = False,
    debug: Annotated[bool, typer.Option("--debug", envvar="TRDPATH_DEBUG",
                                        help="On an internal error, print the full traceback.")] = False,
) -> None:
    """Find, classify and study treatment-resistant depression (TRD) in health records."""
    _debug["on"] = _debug["on"] or debug


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


def _wrote(out: Path, with_report: bool) -> str:
    text = (f"Wrote {out}/: patient-level {layout.PATIENTS_CSV}, {layout.PATIENTS_PARQUET}, {layout.DATA_QUALITY_CSV}, "
            f"{layout.ATTRITION_CSV} (do not release; see {layout.README})")
    if with_report:
        text += (f"\nRelease (disclosure-controlled): {layout.report_html(out)}, {layout.REPORT_DOCX}, "
                 f"{layout.TABLES}/, {layout.DATA_QUALITY_CSV}, {layout.ATTRITION_CSV}")
    return text


def run_classify(data: str, out: Path, config: StudyConfig, index_date: dt.date | None, quiet: bool = False,
                 backend: str | None = None, overwrite: bool = False, with_report: bool = False):
    """`classify` (or, with_report, `run`) through trdpath.api, with progress and a summary."""
    from trdpath import api

    entry = api.run if with_report else api.classify
    with stage_progress("Running" if with_report else "Classifying",
                        _STAGES + with_report, enabled=not quiet) as progress:
        result = entry(data, out, config=config, index_date=index_date, progress=progress, backend=backend,
                       overwrite=overwrite)
    if not quiet:
        console.print(_summary(result))
        console.print(Text(_wrote(out, with_report)))
    return result


def _passes(config: StudyConfig, no_extra_passes: bool) -> StudyConfig:
    """--no-extra-passes: the study config with both extra passes of issue 16 switched off."""
    if not no_extra_passes:
        return config
    off = config.analysis.model_copy(update={"assumption_sensitivity": False, "pathways": False})
    return config.model_copy(update={"analysis": off})


@app.command()
def classify(data: DataOption, out: OutOption, config: ConfigOption = None, index_date: IndexDateOption = None,
             backend: BackendOption = None, quiet: QuietOption = False, overwrite: OverwriteOption = False,
             no_extra_passes: NoExtraPassesOption = False,
             definition: Annotated[Optional[str], typer.Option("--definition", help="TRD by one definition: a shipped id "
                                   "(`trdpath definitions list`) or your .toml file (docs/definitions.md).")] = None) -> None:
    """Classify every patient of an extract: cohort, treatment lines, TRD and resistance level."""
    if definition is not None:  # the definitions atlas (issue 17): definitions/cli.py
        from trdpath.definitions.cli import classify_with_definition_command as by_definition
        return by_definition(data, out, config, index_date, backend, quiet, overwrite, definition)
    run_classify(data, out, _passes(load_config(config), no_extra_passes), _parse_index_date(index_date), quiet,
                 _check_backend(backend), overwrite)


@app.command()
def run(data: DataOption, out: OutOption, config: ConfigOption = None, index_date: IndexDateOption = None,
        backend: BackendOption = None, quiet: QuietOption = False, overwrite: OverwriteOption = False,
        no_extra_passes: NoExtraPassesOption = False) -> None:
    """Classify, then analyse and report (Tables 1-3, resistance levels, service use, figures)."""
    run_classify(data, out, _passes(load_config(config), no_extra_passes), _parse_index_date(index_date), quiet,
                 _check_backend(backend), overwrite, with_report=True)


@app.command()
def report(results: ResultsOption = None,
           out: Annotated[Optional[Path], typer.Option("--out", hidden=True,
                                                       help="Deprecated name of --results.")] = None,
           quiet: QuietOption = False) -> None:
    """Re-run the analysis and rewrite OUT/release/ of an existing result (`--results OUT`)."""
    from trdpath import api

    if out is not None:
        if results is not None:
            raise typer.BadParameter("give --results only (--out is its deprecated name)", param_hint="--out")
        console.print(Text("Warning: `trdpath report --out` is deprecated; use --results.", style="yellow"))
        results = out
    if results is None:
        raise typer.BadParameter("the results folder to report on is required", param_hint="'--results' / '-r'")
    with stage_progress("Report", 1, enabled=not quiet) as progress:
        progress("analysing and writing the report")
        api.report(results)
    if not quiet:
        console.print(Text(f"Report written: {layout.report_html(results)}, {layout.REPORT_DOCX}, "
                           f"{layout.TABLES}/ in {layout.release_dir(results)}"))


@app.command("default-config")
def default_config() -> None:
    """Print a commented study configuration with every default (trd-rules.md)."""
    typer.echo(DEFAULT_CONFIG_TOML, nl=False)


@app.command()
def demo(out: Annotated[Path, typer.Option("--out", "-o", help="Where to write the demo.")] = Path("trdpath-demo"),
         patients: Annotated[int, typer.Option("--patients", "-n", min=1, help="Size of the synthetic extract.")] = 5000,
         seed: Annotated[int, typer.Option("--seed", "-s")] = 2025) -> None:
    """Generate a synthetic extract and run everything on it into ./trdpath-demo/."""
    from trdpath.demo import run_demo

    run_demo(out, patients, seed, console, lambda title: stage_progress(title, _STAGES + 1), _summary)


@app.command()
def version() -> None:
    """Print the trdpath version."""
    typer.echo(__version__)


def _mount_subcommands() -> None:
    """Every sub-command group, one line each."""
    from trdpath.nlp.cli import app as nlp_app
    from trdpath.qualitative.cli import app as qual_app
    from trdpath.synth.cli import app as synth_app

    app.add_typer(synth_app, name="synth")
    app.add_typer(nlp_app, name="nlp", help="Free-text notes: find self-harm and suicidality (extract, flags, evaluate).")
    app.add_typer(qual_app, name="qual", help="Qualitative analysis: transcripts, codebooks, coding, agreement, saturation, REFI-QDA.")
    from trdpath.definitions.cli import app as definitions_app, compare_command  # the definitions atlas (issue 17)
    app.add_typer(definitions_app, name="definitions")
    app.command("compare")(compare_command)
    from trdpath.early.cli import register  # worklist, backtest (docs/early-identification.md)
    register(app)
    from trdpath.serve.cli import serve
    app.command("serve")(serve)
    from trdpath.joint.cli import joint  # mixed-methods joint displays (docs/joint-displays.md)
    app.command("joint")(joint)


_mount_subcommands()


def _say(prefix: str, message: object, style: str = "bold red") -> None:
    console.print(Text(prefix, style=style) + Text(mask_credentials(message)))


def handle(args: list[str] | None = None) -> int:
    """Run the command line and return its exit code (the exit-code table above); prints, never raises."""
    try:
        result = app(args=args, prog_name="trdpath", standalone_mode=False)
    except UserError as exc:
        _say("Error: ", exc)
        return exc.exit_code
    except typer.TyperException as exc:  # click's usage errors (Typer's own copy of click): usage text, exit 2
        text = _shown(exc)
        console.print(Text(mask_credentials(text).rstrip("\n")), highlight=False)
        return getattr(exc, "exit_code", EXIT_USAGE)
    except (typer.Abort, KeyboardInterrupt):
        console.print("Interrupted.")
        return EXIT_INTERRUPTED
    except OSError as exc:  # the machine, not trdpath: a full disk, no permission, a path through a file
        _say("Error: ", f"{exc.strerror or exc}" + (f": {exc.filename}" if exc.filename else ""))
        return EXIT_USER
    except SystemExit as exc:  # a sub-command calling sys.exit
        return exc.code if isinstance(exc.code, int) else (EXIT_OK if exc.code is None else EXIT_INTERNAL)
    except Exception as exc:  # noqa: BLE001 - the one place a bug becomes a short message
        if _debug["on"]:
            console.print(Text(mask_credentials(traceback.format_exc())), highlight=False)
        _say("Internal error: ", f"{type(exc).__name__}: {exc}")
        console.print(Text("This is a bug in trdpath, not a problem with your data. Run again as "
                           "`trdpath --debug ...` for the traceback and report it."))
        return EXIT_INTERNAL
    return result if isinstance(result, int) else EXIT_OK


def _shown(exc) -> str:
    """What click would print for an exception (usage line, hint, error), as text."""
    import io

    buffer = io.StringIO()
    exc.show(file=buffer)
    return buffer.getvalue()


def main() -> None:
    _exit_now(handle())


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
