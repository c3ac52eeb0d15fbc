"""`trdpath synth`: write a synthetic EHR extract (the lead mounts this app under `trdpath`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

app = typer.Typer(help="Generate synthetic EHR extracts calibrated to the seed paper.", no_args_is_help=False)
console = Console(stderr=True)


@app.callback(invoke_without_command=True)
def synth(
    patients: Annotated[int, typer.Option("--patients", "-n", min=1, help="Number of patients to generate.")] = 5000,
    seed: Annotated[int, typer.Option("--seed", "-s", help="Random seed; the same seed gives the same files.")] = 0,
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder to write the extract into.")] = Path("synthetic-extract"),
    fmt: Annotated[str, typer.Option("--format", "-f", help="csv or parquet (parquet is partitioned into NAME/part-*.parquet "
                                     "when larger than one chunk), or omop / omop-parquet for an OMOP CDM "
                                     "(64-bit hashed person ids, mixed ICD-9-CM/ICD-10, NDC codes).")] = "csv",
    vocabulary: Annotated[str, typer.Option("--vocabulary", help="With --format omop: full (with concept_ancestor), "
                                            "no-ancestor, or none.")] = "full",
    chunk_size: Annotated[int, typer.Option("--chunk-size", min=1, help="Patients held in memory at a time.")] = 100_000,
    notes: Annotated[bool, typer.Option("--notes/--no-notes", help="Write free-text clinical notes (notes table).")] = True,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace a non-empty output folder.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar or summary.")] = False,
    modest_signal: Annotated[bool, typer.Option("--modest-signal", help="Add the documented modest risk signal (anxiety "
                                                "before the episode, odds ratio 2 for TRD; docs/early-identification.md).")] = False,
) -> None:
    """Write patients, diagnoses, prescriptions, referrals and notes tables (data-contract.md) into OUT."""
    from trdpath import api
    from trdpath.errors import UserError

    if modest_signal and fmt.lower() not in ("csv", "parquet"):
        raise UserError(f"--modest-signal works with --format csv or parquet (got {fmt!r}).")
    counts = api.synth(out, patients, seed=seed, fmt=fmt, chunk_size=chunk_size, notes=notes, overwrite=overwrite,
                       vocabulary=vocabulary, progress=not quiet)
    if fmt.lower() in ("omop", "omop-csv", "omop-parquet"):
        if not quiet:
            console.print(f"Wrote an OMOP CDM to {out}: " + ", ".join(f"{k} {v:,}" for k, v in counts.items())
                          + f". Classify it with: trdpath classify --data omop:{out} --out results/")
        return
    if modest_signal:  # issue 18: the risk model's evaluation needs a known, modest association
        from trdpath.early.synth_signal import add_modest_signal

        design = add_modest_signal(out, seed=seed)
        if not quiet:
            console.print(f"Modest signal: anxiety (F41.1) 30 days before the episode in {design['added']:,} patients "
                          f"(p0 {design['p0']:.2f}, p1 {design['p1']:.3f}, odds ratio {design['odds_ratio']:g}).")
    if not quiet:
        rows = ", ".join(f"{name} {count:,}" for name, count in counts.items())
        console.print(f"Wrote {out} ({fmt}): {rows}.")
