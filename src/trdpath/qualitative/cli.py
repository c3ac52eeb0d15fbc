"""`trdpath qual ...`: a thin Typer layer over trdpath.api's qual_* functions (mounted by the main CLI): it
parses the options, calls one api function and prints what it returns.

Every command that changes a project runs in one database transaction, and every file written appears only
when complete, so an interrupted command leaves the project and the output folder as they were.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from trdpath.errors import UserError
from trdpath.safety import mask_credentials

app = typer.Typer(help="Qualitative thematic analysis: coding projects, codebooks, agreement, saturation, "
                       "REFI-QDA exchange and theme reports.", no_args_is_help=True, add_completion=False,
                  pretty_exceptions_enable=False)
console = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)

ProjectArg = Annotated[str, typer.Argument(help="Project file (SQLite, e.g. study.qual) or a PostgreSQL URL.")]
WhoOption = Annotated[Optional[str], typer.Option("--who", help="Your name, recorded in the change log.")]
CoderOption = Annotated[Optional[list[str]], typer.Option("--coder", help="Restrict to this coder (repeatable).")]
MaxEntryOption = Annotated[Optional[float], typer.Option(
    "--max-entry-mb", help="REFI-QDA files: largest uncompressed entry read (default 64 MB).")]
MaxTotalOption = Annotated[Optional[float], typer.Option(
    "--max-total-mb", help="REFI-QDA files: most read from one archive in total (default 256 MB).")]
MaxEntriesOption = Annotated[Optional[int], typer.Option(
    "--max-entries", help="REFI-QDA files: most entries an archive may list (default 10000).")]


def _summary(counts: dict[str, int]) -> str:
    """What an import read, then everything it left out, so nothing is skipped without a word."""
    read = ", ".join(f"{counts[k]} {k}" for k in ("sources", "codes", "selections", "segments", "memos", "cases",
                                                   "users"))
    renamed = [f"{v} {k.replace('renamed_same_name_', '')} renamed to keep same-name siblings apart"
               for k, v in counts.items() if k.startswith("renamed_") and v]
    skipped = [f"{v} {k.replace('skipped_', '').replace('_', ' ')}" for k, v in counts.items()
               if k.startswith("skipped_") and v]
    text = f"read {read}"
    if renamed:
        text += "; " + "; ".join(renamed)
    text += "; not imported (trdpath analyses text only): " + (", ".join(skipped) if skipped else "nothing")
    return text


def _table(frame, title: str | None = None, max_rows: int = 60) -> Table:  # noqa: ANN001
    table = Table(title=title, show_header=True)
    for column in frame.columns:
        table.add_column(str(column))
    for row in frame.head(max_rows).itertuples(index=False):
        table.add_row(*[f"{v:.3f}" if isinstance(v, float) else str(v) for v in row])
    return table


@app.command()
def init(project: ProjectArg, name: Annotated[str, typer.Option(help="Project name.")] = "Qualitative study",
         ) -> None:
    """Create a new, empty project."""
    from trdpath.api import qual_init

    qual_init(project, name)
    # The location may be a PostgreSQL URL with a password: never print it, even on success.
    console.print(f"Created project [bold]{escape(name)}[/] at {escape(mask_credentials(project))}")


@app.command("import")
def import_(project: ProjectArg,
            files: Annotated[Optional[list[Path]], typer.Argument(
                help="Transcripts (.txt .docx .vtt .srt, imported in interview order) or a REFI-QDA .qdpx.")] = None,
            participants: Annotated[Optional[Path], typer.Option(
                help="CSV with a participant column (P1, C5), role and any attributes (age, gender...).")] = None,
            memos: Annotated[Optional[Path], typer.Option(help="CSV of memos (target_type, target, coder, text).")]
            = None,
            who: WhoOption = None, max_entry_mb: MaxEntryOption = None, max_total_mb: MaxTotalOption = None,
            max_entries: MaxEntriesOption = None) -> None:
    """Import transcripts, a whole .qdpx project, participants or memos. All or nothing."""
    from trdpath.api import qual_import

    done = qual_import(project, files or [], participants=participants, memos=memos, who=who,
                       max_entry_mb=max_entry_mb, max_total_mb=max_total_mb, max_entries=max_entries,
                       on_transcript=lambda name: console.print(f"imported {escape(name)}"))
    if done["participants"] is not None:
        console.print(f"Participants: {done['participants']} rows")
    for name, counts in done["projects"].items():
        console.print(f"{escape(name)}: {_summary(counts)}")
    if done["transcripts"]:
        console.print(f"Imported {len(done['transcripts'])} transcript(s).")
    if done["memos"] is not None:
        console.print(f"Memos: {done['memos']}")


@app.command()
def code(project: ProjectArg,
         table: Annotated[Path, typer.Argument(help="CSV: document, code, coder, and start+end or quote.")],
         coder: Annotated[Optional[str], typer.Option(help="Coder for rows without a coder column.")] = None,
         who: WhoOption = None) -> None:
    """Add coded segments from a CSV of quotes or offsets (code point offsets, end-exclusive)."""
    from trdpath.api import qual_code

    console.print(f"Added {qual_code(project, table, coder=coder, who=who)} coded segment(s).")


@app.command()
def codebook(project: ProjectArg,
             load: Annotated[Optional[Path], typer.Option("--import", help="Codebook to merge in (.yaml .csv .qdc).")]
             = None,
             export: Annotated[Optional[Path], typer.Option(help="Write the codebook as REFI-QDA .qdc.")] = None,
             history: Annotated[bool, typer.Option(help="Show every change to the codebook.")] = False,
             who: WhoOption = None, max_entry_mb: MaxEntryOption = None) -> None:
    """Show, import, export the codebook, or show its history from the change log."""
    from trdpath.api import qual_codebook

    done = qual_codebook(project, load=load, export=export, who=who, max_entry_mb=max_entry_mb)
    if load:
        console.print(f"Read {done['loaded']} code(s) from {escape(str(load))}")
    if export:
        console.print(f"Wrote {escape(str(export))}")
    if history:
        frame = done["history"]
        frame = frame.assign(details=frame["details"].map(lambda d: ", ".join(f"{k}={v}" for k, v in d.items()
                                                                             if k in ("name", "definition",
                                                                                      "parent_id"))))
        console.print(_table(frame, "Codebook history", max_rows=500))
    elif not load and not export:
        book = done["codebook"]
        book = book.assign(code=["  " * d + n for d, n in zip(book["depth"], book["name"])])
        console.print(_table(book[["code", "definition"]], "Codebook", max_rows=1000))


@app.command()
def agree(project: ProjectArg, coder: CoderOption = None,
          out: Annotated[Optional[Path], typer.Option(help="Folder for agreement_by_code.csv, "
                                                          "agreement_by_document.csv, disagreements.csv.")] = None
          ) -> None:
    """Inter-coder agreement per code and document (% agreement, Cohen's kappa, Krippendorff's alpha)."""
    from trdpath.api import qual_agreement

    frames = qual_agreement(project, coder, out)
    by_code, by_document = frames["by_code"], frames["by_document"]
    show = by_code.assign(code=by_code["code"].str.split(" / ").str[-1])
    console.print(_table(show[["code", "coder_a", "coder_b", "agreement_pct", "kappa", "krippendorff_alpha"]],
                         "Agreement by code", max_rows=500))
    console.print(_table(by_document[["document", "coder_a", "coder_b", "agreement_pct", "kappa",
                                      "krippendorff_alpha"]], "Agreement by document", max_rows=500))
    console.print(f"{len(frames['disagreements'])} disagreement(s) to discuss.")
    if out:
        console.print(f"Wrote tables to {escape(str(out))}")


@app.command()
def saturation(project: ProjectArg, coder: CoderOption = None,
               base: Annotated[int, typer.Option(help="Base size (interviews).")] = 4,
               run: Annotated[int, typer.Option(help="Run length (interviews).")] = 2,
               threshold: Annotated[float, typer.Option(help="New-information threshold (0.05 = 5%).")] = 0.05,
               bootstrap: Annotated[int, typer.Option(help="Random interview orders to try (0 = none).")] = 0,
               seed: Annotated[int, typer.Option(help="Seed for the bootstrap.")] = 0,
               level: Annotated[Optional[int], typer.Option(help="Count codes at this depth (1 = themes).")]
               = None) -> None:
    """Code-discovery curve and Guest, Namey & Chen (2020) saturation."""
    from trdpath.api import qual_saturation

    curve, result = qual_saturation(project, coder, base=base, run=run, threshold=threshold, bootstrap=bootstrap,
                                    seed=seed, level=level)
    console.print(_table(curve, "Code discovery", max_rows=1000))
    console.print(_table(result.runs, "Runs after the base", max_rows=1000))
    console.print(result.sentence())
    if result.bootstrap:
        console.print(f"Bootstrap: {result.bootstrap}")


@app.command()
def tables(project: ProjectArg, out: Annotated[Path, typer.Argument(help="Folder for the CSV tables.")],
           coder: CoderOption = None) -> None:
    """Code frequencies by participant group, code co-occurrence and the code x participant matrix (CSV)."""
    from trdpath.api import qual_tables

    for path in qual_tables(project, out, coder):
        console.print(f"Wrote {escape(str(path))}")


@app.command()
def report(project: ProjectArg, out: Annotated[Path, typer.Argument(help="Folder to write the report into.")],
           theme_coder: Annotated[Optional[list[str]], typer.Option(
               help="Coder(s) whose coding the themes table and saturation use (default: all).")] = None,
           coder: Annotated[Optional[list[str]], typer.Option(help="Coders to compare for agreement.")] = None,
           format: Annotated[str, typer.Option(help="Comma-separated: html,docx,md.")] = "html,docx,md",
           base: int = 4, run: int = 2, threshold: float = 0.05, bootstrap: int = 200, seed: int = 0) -> None:
    """Themes table with quotes, participant characteristics, saturation curve and agreement table."""
    from trdpath.api import qual_report

    for path in qual_report(project, out, formats=format.split(","), theme_coders=theme_coder,
                            agreement_coders=coder, base=base, run=run, threshold=threshold, bootstrap=bootstrap,
                            seed=seed):
        console.print(f"Wrote {escape(str(path))}")


@app.command()
def export(project: ProjectArg,
           target: Annotated[Path, typer.Argument(help="Output: .qdpx (project), .qdc (codebook), .csv/.xlsx "
                                                      "(segments).")],
           coder: CoderOption = None) -> None:
    """Export to REFI-QDA (validated against the schema) or a table of segments."""
    from trdpath.api import qual_export

    console.print(f"Wrote {escape(str(qual_export(project, target, coder)))}")


@app.command()
def merge(project: ProjectArg, other: Annotated[str, typer.Argument(help="The other coder's project.")],
          who: WhoOption = None) -> None:
    """Merge another coder's project into this one (documents by name, codes by path; nothing duplicated)."""
    from trdpath.api import qual_merge

    counts = qual_merge(project, other, who=who)
    console.print("Merged: " + ", ".join(f"{v} {k}" for k, v in counts.items()))


@app.command()
def demo(out: Annotated[Path, typer.Argument(help="Folder for the demo project and its report.")]) -> None:
    """Build the fictional demonstration project and write its report."""
    from trdpath.api import qual_demo

    console.print(f"Wrote {escape(str(qual_demo(out)))}")


@app.command()
def account(project: ProjectArg,
            name: Annotated[str, typer.Argument(help="The account's name (also its coder name).")],
            role: Annotated[str, typer.Option("--role", help="lead, coder or viewer.")] = "coder",
            password_env: Annotated[Optional[str], typer.Option(
                "--password-env", help="Read the password from this environment variable (else asked for).")] = None,
            reset: Annotated[bool, typer.Option("--reset", help="Set a new password for an existing account.")] = False,
            who: WhoOption = None) -> None:
    """Add an account for `qual serve` (or --reset its password); the password is stored as an argon2id hash."""
    import os

    from trdpath.api import qual_account

    if password_env:
        if password_env not in os.environ:
            raise UserError(f"the environment variable {password_env} is not set (it should hold the password)")
        password = os.environ[password_env]
    else:
        password = typer.prompt("Password (12 characters or more)", hide_input=True, confirmation_prompt=True)
    qual_account(project, name, password, role=role, reset=reset, who=who)
    console.print(f"new password set for {escape(name)}" if reset else f"account {escape(name)} ({role}) added")


@app.command()
def serve(project: ProjectArg,
          host: Annotated[str, typer.Option("--host", help="Address to listen on. Default: this machine only.")] = "127.0.0.1",
          port: Annotated[int, typer.Option("--port", "-p", min=1, max=65535)] = 8766,
          results: Annotated[Optional[Path], typer.Option(
              "--results", "-r", help="A result folder: adds the joint-display form (its published tables only).")] = None,
          https: Annotated[bool, typer.Option("--behind-tls", help="Secure cookies (a TLS reverse proxy serves the app).")] = False) -> None:
    """Code the project's interviews in the browser, as a team (accounts from `qual account`)."""
    import uvicorn

    from trdpath.api import qual_coding_app

    app_ = qual_coding_app(project, host=host, results=results, https=https)
    if host not in ("127.0.0.1", "localhost", "::1"):
        err.print(f"Warning: listening on {escape(host)}, reachable from other machines; put it behind TLS "
                  "(docs/qualitative.md).")
    err.print(f"trdpath qual serve: http://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{port}/")
    uvicorn.run(app_, host=host, port=port, log_level="warning", server_header=False)


def main() -> None:
    """Run this app on its own (python -m trdpath.qualitative.cli); the main `trdpath` CLI mounts `app`."""
    import click

    try:
        app(standalone_mode=False)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        sys.exit(130)
    except UserError as exc:
        err.print(f"[red]Error:[/] {escape(mask_credentials(exc))}")
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
