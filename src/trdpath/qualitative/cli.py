"""`trdpath qual ...`: a thin Typer layer over the qualitative library (mounted by the main CLI).

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
    from trdpath.qualitative.store import create_project

    create_project(project, name).close()
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
    from trdpath.qualitative.coding import import_memos, import_participants, import_transcripts
    from trdpath.qualitative.refi import ImportLimits, import_qdpx_into
    from trdpath.qualitative.store import open_project

    limits = ImportLimits.from_megabytes(max_entry_mb, max_total_mb, max_entries)
    files = files or []
    with open_project(project) as qp, qp.transaction(who):  # everything below commits together or not at all
        if participants:
            console.print(f"Participants: {import_participants(qp, participants, who=who)} rows")
        qdpx = [f for f in files if f.suffix.lower() in (".qdpx", ".qde")]
        transcripts = [f for f in files if f not in qdpx]
        for path in qdpx:
            counts = import_qdpx_into(qp, path, who=who, limits=limits)
            console.print(f"{path.name}: {_summary(counts)}")
        if transcripts:
            names = import_transcripts(qp, transcripts, who=who,
                                       on_progress=lambda name: console.print(f"imported {name}"))
            console.print(f"Imported {len(names)} transcript(s).")
        if memos:
            console.print(f"Memos: {import_memos(qp, memos, who=who)}")


@app.command()
def code(project: ProjectArg,
         table: Annotated[Path, typer.Argument(help="CSV: document, code, coder, and start+end or quote.")],
         coder: Annotated[Optional[str], typer.Option(help="Coder for rows without a coder column.")] = None,
         who: WhoOption = None) -> None:
    """Add coded segments from a CSV of quotes or offsets (code point offsets, end-exclusive)."""
    from trdpath.qualitative.coding import code_from_table
    from trdpath.qualitative.store import open_project

    with open_project(project) as qp:
        n = code_from_table(qp, table, who=who or coder, default_coder=coder)
    console.print(f"Added {n} coded segment(s).")


@app.command()
def codebook(project: ProjectArg,
             load: Annotated[Optional[Path], typer.Option("--import", help="Codebook to merge in (.yaml .csv .qdc).")]
             = None,
             export: Annotated[Optional[Path], typer.Option(help="Write the codebook as REFI-QDA .qdc.")] = None,
             history: Annotated[bool, typer.Option(help="Show every change to the codebook.")] = False,
             who: WhoOption = None, max_entry_mb: MaxEntryOption = None) -> None:
    """Show, import, export the codebook, or show its history from the change log."""
    from trdpath.qualitative.codebook import codebook_table, import_codebook
    from trdpath.qualitative.refi import ImportLimits, export_qdc
    from trdpath.qualitative.store import codebook_history, open_project

    limits = ImportLimits.from_megabytes(max_entry_mb)
    with open_project(project) as qp:
        if load:
            console.print(f"Read {import_codebook(qp, load, who=who, limits=limits)} code(s) from {load}")
        if export:
            export_qdc(qp, export)
            console.print(f"Wrote {export}")
        if history:
            frame = codebook_history(qp)
            frame = frame.assign(details=frame["details"].map(lambda d: ", ".join(f"{k}={v}" for k, v in d.items()
                                                                                 if k in ("name", "definition",
                                                                                          "parent_id"))))
            console.print(_table(frame, "Codebook history", max_rows=500))
        elif not load and not export:
            book = codebook_table(qp)
            book = book.assign(code=["  " * d + n for d, n in zip(book["depth"], book["name"])])
            console.print(_table(book[["code", "definition"]], "Codebook", max_rows=1000))


@app.command()
def agree(project: ProjectArg, coder: CoderOption = None,
          out: Annotated[Optional[Path], typer.Option(help="Folder for agreement_by_code.csv, "
                                                          "agreement_by_document.csv, disagreements.csv.")] = None
          ) -> None:
    """Inter-coder agreement per code and document (% agreement, Cohen's kappa, Krippendorff's alpha)."""
    from trdpath.qualitative.agreement import (agreement_by_code, agreement_by_document, disagreements,
                                               document_texts, segments_frame)
    from trdpath.qualitative.store import atomic_write_bytes, open_project
    from trdpath.qualitative.tables import csv_bytes

    with open_project(project) as qp:
        segments = segments_frame(qp)
        by_code = agreement_by_code(segments, coder)
        by_document = agreement_by_document(segments, coder)
        differences = disagreements(segments, document_texts(qp), coder)
    show = by_code.assign(code=by_code["code"].str.split(" / ").str[-1])
    console.print(_table(show[["code", "coder_a", "coder_b", "agreement_pct", "kappa", "krippendorff_alpha"]],
                         "Agreement by code", max_rows=500))
    console.print(_table(by_document[["document", "coder_a", "coder_b", "agreement_pct", "kappa",
                                      "krippendorff_alpha"]], "Agreement by document", max_rows=500))
    console.print(f"{len(differences)} disagreement(s) to discuss.")
    if out:
        for name, frame in (("agreement_by_code", by_code), ("agreement_by_document", by_document),
                            ("disagreements", differences)):
            atomic_write_bytes(out / f"{name}.csv", csv_bytes(frame))
        console.print(f"Wrote tables to {out}")


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
    from trdpath.qualitative.agreement import segments_frame
    from trdpath.qualitative.analysis import select_coders
    from trdpath.qualitative.saturation import codes_per_interview, discovery_curve, guest_saturation
    from trdpath.qualitative.store import open_project

    with open_project(project) as qp:
        interviews = codes_per_interview(select_coders(segments_frame(qp), coder), level=level)
    console.print(_table(discovery_curve(interviews), "Code discovery", max_rows=1000))
    result = guest_saturation(interviews, base_size=base, run_length=run, threshold=threshold,
                              bootstrap=bootstrap, seed=seed)
    console.print(_table(result.runs, "Runs after the base", max_rows=1000))
    console.print(result.sentence())
    if result.bootstrap:
        console.print(f"Bootstrap: {result.bootstrap}")


@app.command()
def tables(project: ProjectArg, out: Annotated[Path, typer.Argument(help="Folder for the CSV tables.")],
           coder: CoderOption = None) -> None:
    """Code frequencies by participant group, code co-occurrence and the code x participant matrix (CSV)."""
    from trdpath.qualitative.agreement import segments_frame
    from trdpath.qualitative.analysis import co_occurrence, code_by_participant, code_frequencies
    from trdpath.qualitative.store import atomic_write_bytes, open_project
    from trdpath.qualitative.tables import csv_bytes

    with open_project(project) as qp:
        segments = segments_frame(qp)
    frames = {"code_frequencies": code_frequencies(segments, coders=coder),
              "co_occurrence": co_occurrence(segments, coders=coder).reset_index(),
              "code_by_participant": code_by_participant(segments, coders=coder).reset_index()}
    for name, frame in frames.items():
        atomic_write_bytes(out / f"{name}.csv", csv_bytes(frame))
        console.print(f"Wrote {out / name}.csv")


@app.command()
def report(project: ProjectArg, out: Annotated[Path, typer.Argument(help="Folder to write the report into.")],
           theme_coder: Annotated[Optional[list[str]], typer.Option(
               help="Coder(s) whose coding the themes table and saturation use (default: all).")] = None,
           coder: Annotated[Optional[list[str]], typer.Option(help="Coders to compare for agreement.")] = None,
           format: Annotated[str, typer.Option(help="Comma-separated: html,docx,md.")] = "html,docx,md",
           base: int = 4, run: int = 2, threshold: float = 0.05, bootstrap: int = 200, seed: int = 0) -> None:
    """Themes table with quotes, participant characteristics, saturation curve and agreement table."""
    from trdpath.qualitative.report import write_reports
    from trdpath.qualitative.store import open_project

    formats = tuple(f.strip().lower() for f in format.split(",") if f.strip())
    unknown = set(formats) - {"html", "docx", "md"}
    if unknown:
        raise UserError(f"unknown report format(s) {', '.join(sorted(unknown))}; use html, docx, md")
    with open_project(project) as qp:
        written = write_reports(qp, out, formats=formats, coders_for_themes=theme_coder, agreement_coders=coder,
                                base_size=base, run_length=run, threshold=threshold, bootstrap=bootstrap, seed=seed)
    for path in written:
        console.print(f"Wrote {path}")


@app.command()
def export(project: ProjectArg,
           target: Annotated[Path, typer.Argument(help="Output: .qdpx (project), .qdc (codebook), .csv/.xlsx "
                                                      "(segments).")],
           coder: CoderOption = None) -> None:
    """Export to REFI-QDA (validated against the schema) or a table of segments."""
    from trdpath.qualitative.refi import export_qdc, export_qdpx
    from trdpath.qualitative.store import open_project
    from trdpath.qualitative.tables import export_segments

    suffix = target.suffix.lower()
    with open_project(project) as qp:
        if suffix == ".qdpx":
            export_qdpx(qp, target)
        elif suffix == ".qdc":
            export_qdc(qp, target)
        elif suffix in (".csv", ".xlsx"):
            export_segments(qp, target, coder)
        else:
            raise UserError(f"{target}: export as .qdpx, .qdc, .csv or .xlsx")
    console.print(f"Wrote {escape(str(target))}")


@app.command()
def merge(project: ProjectArg, other: Annotated[str, typer.Argument(help="The other coder's project.")],
          who: WhoOption = None) -> None:
    """Merge another coder's project into this one (documents by name, codes by path; nothing duplicated)."""
    from trdpath.qualitative.merge import merge_project
    from trdpath.qualitative.store import open_project

    with open_project(project) as qp:
        counts = merge_project(qp, other, who=who)
    console.print("Merged: " + ", ".join(f"{v} {k}" for k, v in counts.items()))


@app.command()
def demo(out: Annotated[Path, typer.Argument(help="Folder for the demo project and its report.")]) -> None:
    """Build the fictional demonstration project and write its report."""
    from trdpath.qualitative.demo import write_demo

    console.print(f"Wrote {write_demo(out)}")


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

    from trdpath.qualitative.store import open_project
    from trdpath.qualitative.team import add_account, set_password

    if password_env:
        if password_env not in os.environ:
            raise UserError(f"the environment variable {password_env} is not set (it should hold the password)")
        password = os.environ[password_env]
    else:
        password = typer.prompt("Password (12 characters or more)", hide_input=True, confirmation_prompt=True)
    with open_project(project) as opened:
        if reset:
            set_password(opened, name, password, who=who)
            console.print(f"new password set for {escape(name)}")
        else:
            add_account(opened, name, password, role, who=who)
            console.print(f"account {escape(name)} ({role}) added")


@app.command()
def serve(project: ProjectArg,
          host: Annotated[str, typer.Option("--host", help="Address to listen on. Default: this machine only.")] = "127.0.0.1",
          port: Annotated[int, typer.Option("--port", "-p", min=1, max=65535)] = 8766,
          results: Annotated[Optional[Path], typer.Option(
              "--results", "-r", help="A result folder: adds the joint-display form (its published tables only).")] = None,
          https: Annotated[bool, typer.Option("--behind-tls", help="Secure cookies (a TLS reverse proxy serves the app).")] = False) -> None:
    """Code the project's interviews in the browser, as a team (accounts from `qual account`)."""
    import uvicorn

    from trdpath.qualitative.store import open_project
    from trdpath.qualitative.team import accounts_table
    from trdpath.serve.coding import create_coding_app

    opened = open_project(project)
    if not any(a["role"] == "lead" for a in accounts_table(opened)):
        opened.close()
        raise UserError(f"{mask_credentials(project)} has no lead account yet: add one with "
                        f"`trdpath qual account {project} NAME --role lead`")
    local = host in ("127.0.0.1", "localhost", "::1")
    hosts = ("127.0.0.1", "localhost") if local else ("127.0.0.1", "localhost", host)
    if not local:
        err.print(f"Warning: listening on {escape(host)}, reachable from other machines; put it behind TLS "
                  "(docs/qualitative.md).")
    app_ = create_coding_app(opened, results=results, allowed_hosts=hosts, https=https)
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
