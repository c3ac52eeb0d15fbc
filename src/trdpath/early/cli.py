"""`trdpath worklist` and `trdpath backtest` (registered on the main app by cli._mount_subcommands)."""


import datetime as dt
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.text import Text

from trdpath.errors import UserError


def _date(value: str | None, option: str) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise UserError(f"{option} must be a date as YYYY-MM-DD (got {value!r}).") from None


def register(app: typer.Typer) -> None:
    from trdpath.commandline import BackendOption, ConfigOption, DataOption, OutOption, OverwriteOption, QuietOption, console, keep_inputs
    from trdpath.commandline import check_backend as _check_backend
    from trdpath.config import load_config

    RulesOption = Annotated[Optional[Path], typer.Option("--rules", help="A next-step rule table (CSV: order, when, priority, next_step, source); default: the shipped Maudsley/NICE NG222 table.")]

    @app.command()
    def worklist(data: DataOption, out: OutOption,
                 as_of: Annotated[Optional[str], typer.Option("--as-of", help="YYYY-MM-DD; only what was recorded up to this date is used (default: the index date).")] = None,
                 config: ConfigOption = None, backend: BackendOption = None, rules: RulesOption = None,
                 inertia_days: Annotated[int, typer.Option("--inertia-days", min=0, help="Flag treatment inertia this many days after the last adequacy date with no change.")] = 56,
                 contact_gap_days: Annotated[int, typer.Option("--contact-gap-days", min=0, help="No recent contact: last contact older than this.")] = 183,
                 care_window_days: Annotated[int, typer.Option("--care-window-days", min=0, help="In current care: a drug or contact within this many days.")] = 183,
                 flag_stage2: Annotated[bool, typer.Option("--flag-stage2", help="Also write FHIR Flags for stage 2 (two failed adequate trials).")] = False,
                 cohort_url: Annotated[Optional[str], typer.Option("--cohort-to", help="Write the TRD cohort as an OMOP cohort table: duckdb:FILE, postgresql://...?schema=results or spark:SCHEMA.")] = None,
                 cohort_definition_id: Annotated[int, typer.Option("--cohort-definition-id", min=1)] = 1,
                 incremental: Annotated[bool, typer.Option("--incremental", help="Keep the state in OUT/state; when it is there, recompute only the patients whose records changed since its as-of date (same worklist).")] = False,
                 formats: Annotated[Optional[str], typer.Option("--formats", help="Which files to write, comma-separated: csv, xlsx, html, fhir (flags.ndjson); default all. At 1M patients the XLSX and HTML take most of a run.")] = None,
                 overwrite: OverwriteOption = False, quiet: QuietOption = False) -> None:
        """Who is where on the TRD pathway as of a date, the next step and why (patient-level: stays in the secure environment)."""
        keep_inputs(out, ("--config", config))
        from trdpath.early.api import worklist as run
        from trdpath.early.outputs import FORMATS, parse_formats
        from trdpath.early.worklist import WorklistSettings

        chosen = parse_formats(formats)

        settings = WorklistSettings(inertia_days=inertia_days, contact_gap_days=contact_gap_days, care_window_days=care_window_days)
        frame = run(data, out, _date(as_of, "--as-of"), load_config(config), _check_backend(backend), rules, settings,
                    fhir_stage2=flag_stage2, cohort_url=cohort_url, cohort_definition_id=cohort_definition_id,
                    incremental=incremental, overwrite=overwrite, formats=chosen)
        if quiet:
            return
        counts = frame["stage"].value_counts().to_dict()
        console.print(Text(f"{len(frame):,} patients in current care ("
                           + ", ".join(f"stage {k}: {v:,}" for k, v in sorted(counts.items())) + "). Wrote "
                           + ", ".join(FORMATS[f] for f in chosen) + " to " + str(out)
                           + (f" (state: {frame.attrs['refresh']})" if frame.attrs.get("refresh") else "")))

    @app.command()
    def backtest(data: DataOption, out: OutOption,
                 date_from: Annotated[str, typer.Option("--from", help="First as-of date, YYYY-MM-DD.")],
                 date_to: Annotated[str, typer.Option("--to", help="Last as-of date, YYYY-MM-DD.")],
                 every: Annotated[str, typer.Option("--every", help="month, quarter or week.")] = "month",
                 config: ConfigOption = None, backend: BackendOption = None, overwrite: OverwriteOption = False,
                 quiet: QuietOption = False) -> None:
        """Silent mode: the worklist's stages at every date, and how early they came before TRD."""
        keep_inputs(out, ("--config", config))
        from trdpath.early.backtest import run_backtest

        summary = run_backtest(data, out, _date(date_from, "--from"), _date(date_to, "--to"), every,
                               load_config(config), _check_backend(backend), overwrite)
        if not quiet:
            console.print(Text(summary))

    @app.command()
    def risk(data: DataOption, out: OutOption,
             model: Annotated[str, typer.Option("--model", help="logistic (penalised, default) or boosting.")] = "logistic",
             mentions: Annotated[Optional[Path], typer.Option("--mentions", help="The mention table of `trdpath nlp extract`: its self-harm and suicidality flags (as known at each index day) enter as predictors.")] = None,
             config: ConfigOption = None, backend: BackendOption = None, overwrite: OverwriteOption = False,
             quiet: QuietOption = False) -> None:
        """Risk of TRD within 12 months of the first failed adequate trial: temporal split, AUROC, calibration (research only)."""
        keep_inputs(out, ("--config", config))
        from trdpath.early.risk import run_risk

        summary = run_risk(data, out, model, load_config(config), _check_backend(backend), mentions, overwrite)
        if not quiet:
            console.print(Text(summary))
