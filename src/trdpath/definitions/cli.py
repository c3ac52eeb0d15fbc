"""`trdpath definitions list` and `trdpath compare` (registered in trdpath/cli.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

app = typer.Typer(help="TRD definitions as data: list the shipped ones (see docs/definitions.md).",
                  no_args_is_help=True, add_completion=False)


@app.command("list")
def list_definitions() -> None:
    """Every shipped definition: id, what it counts, source."""
    from trdpath.definitions import shipped_definitions

    for d in shipped_definitions().values():
        typer.echo(f"{d.id}\t{d.summary}\t{d.sources[0]}")


def compare_command(
    data: Annotated[str, typer.Option("--data", help="An extract, as for `trdpath classify` (folder, omop:FOLDER, postgresql://...).")],
    out: Annotated[Path, typer.Option("--out", help="Results folder: writes definitions/ (patient-level) and release/definitions/.")],
    definitions: Annotated[Optional[list[str]], typer.Option(
        "--definitions", help="Shipped ids (comma-separated) and/or your own .toml files; default: every shipped definition.")] = None,
    config: Annotated[Optional[Path], typer.Option("--config", help="Study configuration TOML (see `trdpath default-config`).")] = None,
    index_date: Annotated[Optional[str], typer.Option("--index-date", help="Point of data extraction, YYYY-MM-DD.")] = None,
    backend: Annotated[Optional[str], typer.Option("--backend", help="duckdb (default), postgres or pyspark.")] = None,
    why: Annotated[str, typer.Option("--why", help="why.csv rows: all (everyone in each definition's population), trd (its TRD patients) or none.")] = "all",
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress display or summary.")] = False,
    dial: Annotated[bool, typer.Option("--dial", help="Also the definition dial: the Maudsley rule over trial days 28/42/56 x "
                                       "persistence gap 30/90/180 x augmentation (three more classifications).")] = False,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace OUT/definitions/ and OUT/release/definitions/ even if "
                                            "they hold files that trdpath did not write.")] = False,
) -> None:
    """Every chosen TRD definition side by side on the same patients (prevalence, agreement, why)."""
    from trdpath.commandline import check_backend as _check_backend, console, parse_index_date as _parse_index_date, stage_progress
    from trdpath.config import load_config
    from trdpath.errors import UserError
    from trdpath.api import compare
    from trdpath.definitions.compare import prevalence_counts
    from trdpath.definitions.model import definition_files, resolve_definitions

    chosen = resolve_definitions(definitions)  # bad files stop here, before any work
    if why not in ("all", "trd", "none"):
        raise UserError(f"--why must be one of all, trd, none (got {why!r}).")
    settings = load_config(config)
    day = _parse_index_date(index_date)
    with stage_progress("Comparing definitions", total=12 + dial, enabled=not quiet) as progress:
        result = compare(data, out, chosen, settings, day, progress, _check_backend(backend), why, dial, overwrite,
                         [("--config", config), *(("--definitions", f) for f in definition_files(definitions))])
    if not quiet:
        table = Table(title=f"TRD by definition (index date {result.classification.index_date}; true counts, patient-level)")
        for column in ("definition", "population", "TRD", "%"):
            table.add_column(column, justify="left" if column == "definition" else "right")
        for row in prevalence_counts(result).itertuples(index=False):
            table.add_row(row.definition, f"{row.population_n:,}", f"{row.trd_n:,}", f"{row.trd_pct:.1f}")
        console.print(table)
        console.print(f"Wrote {out / 'definitions'}/patients.csv, why.csv and {out / 'release' / 'definitions'}/prevalence.csv, agreement.csv")


def classify_with_definition_command(data, out, config, index_date, backend, quiet, overwrite, definition: str) -> None:
    """`trdpath classify --definition FILE|ID` (mounted by trdpath/cli.py's classify)."""
    from trdpath.commandline import (STAGES, check_backend, console, keep_inputs, parse_index_date, stage_progress,
                                     summary_table, wrote)
    from trdpath.config import load_config
    from trdpath.api import classify_with_definition
    from trdpath.definitions.classify import definition_from_option

    keep_inputs(out, ("--definition", definition))
    chosen, text = definition_from_option(definition)  # a bad file stops here, before any work
    settings = load_config(config)
    day = parse_index_date(index_date)
    with stage_progress(f"Classifying ({chosen.id})", STAGES + 1, enabled=not quiet) as progress:
        result = classify_with_definition(data, out, settings, day, progress, check_backend(backend), overwrite,
                                          chosen, text)
    if not quiet:
        console.print(f"TRD by the definition {chosen.id!r} ({chosen.title})")
        console.print(summary_table(result))
        console.print(wrote(out, False))
