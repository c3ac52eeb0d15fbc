"""The `trdpath` command line: a thin Typer layer over trdpath.api.

One error handler (`main`) and one exit-code table (EXIT_*): a usage mistake prints Typer's usage
text and exits 2; a problem with the user's data or settings prints one message and exits 2; a bug
prints a short message and exits 1 (`trdpath --debug ...` shows the traceback). No message shows a
password (trdpath.safety.mask_credentials); no failure leaves a half-written result (trdpath.atomic).
Sub-command groups are mounted in `_mount_subcommands`.
"""

from __future__ import annotations

import datetime as dt
import sys
import traceback
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.text import Text

from trdpath import __version__, layout
from trdpath.commandline import (STAGES, BackendOption, ConfigOption, DataOption, IndexDateOption, OutOption,
                                 OverwriteOption, QuietOption, ResultsOption, check_backend, console,
                                 keep_inputs, parse_index_date, stage_progress, summary_table, wrote)
from trdpath.commandline import debug as _debug  # the --debug flag, read by the error handler
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
NoExtraPassesOption = Annotated[bool, typer.Option("--no-extra-passes", help="Skip the assumption-sensitivity and pathway passes (analysis.assumption_sensitivity / analysis.pathways = false); the report says they were not run.")]


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


def run_classify(data: str, out: Path, config: StudyConfig, index_date: dt.date | None, quiet: bool = False,
                 backend: str | None = None, overwrite: bool = False, with_report: bool = False):
    """`classify` (or, with_report, `run`) through trdpath.api, with progress and a summary."""
    from trdpath import api

    entry = api.run if with_report else api.classify
    with stage_progress("Running" if with_report else "Classifying",
                        STAGES + with_report, enabled=not quiet) as progress:
        result = entry(data, out, config=config, index_date=index_date, progress=progress, backend=backend,
                       overwrite=overwrite)
    if not quiet:
        console.print(summary_table(result))
        console.print(Text(wrote(out, with_report)))
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
    keep_inputs(out, ("--config", config))
    if definition is not None:  # the definitions atlas (issue 17): definitions/cli.py
        from trdpath.definitions.cli import classify_with_definition_command as by_definition
        return by_definition(data, out, config, index_date, backend, quiet, overwrite, definition)
    run_classify(data, out, _passes(load_config(config), no_extra_passes), parse_index_date(index_date), quiet,
                 check_backend(backend), overwrite)


@app.command()
def run(data: DataOption, out: OutOption, config: ConfigOption = None, index_date: IndexDateOption = None,
        backend: BackendOption = None, quiet: QuietOption = False, overwrite: OverwriteOption = False,
        no_extra_passes: NoExtraPassesOption = False) -> None:
    """Classify, then analyse and report (Tables 1-3, resistance levels, service use, figures)."""
    keep_inputs(out, ("--config", config))
    run_classify(data, out, _passes(load_config(config), no_extra_passes), parse_index_date(index_date), quiet,
                 check_backend(backend), overwrite, with_report=True)


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
    """Print a commented study configuration with every default (study-definition.md)."""
    typer.echo(DEFAULT_CONFIG_TOML, nl=False)


@app.command()
def demo(out: Annotated[Path, typer.Option("--out", "-o", help="Where to write the demo.")] = Path("trdpath-demo"),
         patients: Annotated[int, typer.Option("--patients", "-n", min=1, help="Size of the synthetic extract.")] = 5000,
         seed: Annotated[int, typer.Option("--seed", "-s")] = 2025) -> None:
    """Generate a synthetic extract and run everything on it into ./trdpath-demo/."""
    from trdpath.demo import run_demo

    run_demo(out, patients, seed, console, lambda title: stage_progress(title, STAGES + 1), summary_table)


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
    sys.exit(handle())
