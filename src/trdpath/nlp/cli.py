"""`trdpath nlp`: evaluate the rules on a gold set, extract mentions from a notes table."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import pandas as pd
import typer
from rich.console import Console
from rich.table import Table

from trdpath.atomic import replace_file
from trdpath.errors import InputError, UserError
from trdpath.safety import neutralise_frame

app = typer.Typer(help="Find self-harm, suicidal ideation and suicide attempt in free-text notes (medspaCy).",
                  no_args_is_help=True)
console = Console()

RULES_OPTION = typer.Option(None, "--rules", help="Extra rule file (JSON, medspaCy format); repeatable.")


def _fail(error: UserError) -> None:
    console.print(f"[red]Error:[/red] {error}")
    raise typer.Exit(code=error.exit_code)


def _read_table(path: Path) -> pd.DataFrame:
    if not path.exists():
        raise InputError("file not found", file=str(path))
    if path.suffix.lower() == ".parquet":
        return pd.read_parquet(path)
    if path.suffix.lower() == ".csv":
        return pd.read_csv(path, dtype=str, keep_default_na=False)
    raise InputError("expected a .csv or .parquet file", file=str(path))


def _check_out(out: Path, notes: Path, rules) -> None:
    """Before any work: --out may not be an input (it would be replaced by the output) nor a folder."""
    target = out.expanduser().resolve()
    for name, given in [("--notes", notes), *(("--rules", r) for r in rules or ())]:
        if target == Path(given).expanduser().resolve():
            raise UserError(f"--out {out} is the {name} file: writing the output would overwrite it. Choose another --out.")
    if target.is_dir():
        raise UserError(f"--out {out} is a folder: give a file name ending .csv or .parquet.")


def _write_atomic(frame: pd.DataFrame, path: Path) -> None:
    """Write to a temporary file beside the target and rename, so a failure leaves nothing half-written."""
    with replace_file(path) as temporary:  # trdpath.atomic: the one staging-and-rename helper
        if path.suffix.lower() == ".parquet":
            frame.to_parquet(temporary, index=False)
        else:
            # Note text in a CSV cell must not run as a spreadsheet formula (OWASP CSV injection; issue 14).
            neutralise_frame(frame).to_csv(temporary, index=False)


def _fmt(value: float) -> str:
    return "-" if value != value else f"{value:.3f}"


def score_table(scores: dict, title: str) -> Table:
    table = Table(title=title)
    for column in ("", "TP", "FP", "FN", "precision", "recall", "F1"):
        table.add_column(column, justify="right" if column else "left")
    for key, result in scores.items():
        table.add_row(key.replace("category:", "category ").replace("attribute:", "attribute "),
                      str(result.tp), str(result.fp), str(result.fn),
                      _fmt(result.precision), _fmt(result.recall), _fmt(result.f1))
    return table


def report_table(report: pd.DataFrame, title: str) -> Table:
    table = Table(title=title)
    for column in ("", "TP", "FP", "FN", "precision", "recall", "F1", "95% CI"):
        table.add_column(column, justify="right" if column else "left")
    for row in report.itertuples():
        table.add_row(row.key.replace("category:", "category ").replace("attribute:", "attribute "),
                      str(row.tp), str(row.fp), str(row.fn), _fmt(row.precision), _fmt(row.recall), _fmt(row.f1),
                      f"{_fmt(row.f1_low)}-{_fmt(row.f1_high)}")
    return table


@app.command()
def evaluate(gold: Path = typer.Argument(..., help="Gold CSV (see docs/nlp.md), e.g. the shipped test split."),
             rules: Optional[List[Path]] = RULES_OPTION,
             show_errors: bool = typer.Option(False, "--errors", help="List false positives and negatives."),
             replicates: int = typer.Option(2000, "--bootstrap", min=0,
                                            help="Bootstrap replicates for 95% CIs of F1 (0: no CIs)."),
             by_family: bool = typer.Option(False, "--by-family",
                                            help="Also score each phrasing family ('# family:' in the markup).")):
    """Precision, recall and F1 (bootstrap 95% CI) per category and context attribute on a gold set."""
    from trdpath.nlp.evaluate import evaluate as run_evaluation
    from trdpath.nlp.pipeline import shared_pipeline

    try:
        nlp = shared_pipeline(rules or ())
        scores, predicted, false_pos, false_neg = run_evaluation(gold, nlp)
    except UserError as error:
        _fail(error)
    if replicates:
        from trdpath.nlp.evaluate import read_gold, score_report

        report = score_report(read_gold(gold), predicted, replicates=replicates)
        families = report["family"].unique() if by_family else ["all"]
        for family in families:
            console.print(report_table(report[report["family"] == family],
                                       f"Mention-level scores on {gold.name}" + ("" if family == "all" else f", family {family}")))
    else:
        console.print(score_table(scores, f"Mention-level scores on {gold.name}"))
    console.print("Match: same sentence, same category, overlapping span. Attributes are scored on matched "
                  "mentions (positive class: negated, historical, hypothetical, not the patient, uncertain).")
    if show_errors:
        for label, rows in (("False positive", false_pos), ("False negative", false_neg)):
            for row in rows:
                console.print(f"{label} [{row['category']}] {row['sentence_id']}: {row.get('text', '')!r}",
                              markup=False)
        from trdpath.nlp.evaluate import ATTRIBUTES, match_mentions, read_gold
        pairs, _, _ = match_mentions(read_gold(gold), predicted)
        for gold_row, predicted_row in pairs:
            wrong = [f"{a}: gold {gold_row[a]} predicted {predicted_row[a]}" for a in ATTRIBUTES
                     if gold_row[a] != predicted_row[a]]
            if wrong:
                console.print(f"Attribute {gold_row['sentence_id']} {gold_row['text']!r} "
                              f"[{gold_row['span']}]: {'; '.join(wrong)}", markup=False)


@app.command()
def extract(notes: Path = typer.Option(..., "--notes", help="Notes table (CSV or Parquet): patient_id, note_id, date, text."),
            out: Path = typer.Option(..., "--out", help="Mention table to write (.csv or .parquet)."),
            rules: Optional[List[Path]] = RULES_OPTION,
            processes: int = typer.Option(1, "--processes", min=1, help="Worker processes for spaCy."),
            batch_size: int = typer.Option(256, "--batch-size", min=1)):
    """Mention-level table: one row per mention with its category and context."""
    from trdpath.nlp.pipeline import extract_mentions, shared_pipeline

    try:
        _check_out(out, notes, rules)
        table = _read_table(notes)
        nlp = shared_pipeline(rules or ())
        mentions = extract_mentions(table, nlp, batch_size=batch_size, n_process=processes, progress=True)
        _write_atomic(mentions, out)
    except UserError as error:
        _fail(error)
    console.print(f"{len(mentions)} mentions in {mentions['note_id'].nunique()} of {len(table)} notes -> {out}")


@app.command()
def flags(notes: Path = typer.Option(..., "--notes", help="Notes table (CSV or Parquet)."),
          out: Path = typer.Option(..., "--out", help="Patient flags to write (.csv or .parquet)."),
          index_date: Optional[str] = typer.Option(None, "--index-date",
                                                   help="Only notes on or before this date (YYYY-MM-DD)."),
          rules: Optional[List[Path]] = RULES_OPTION,
          processes: int = typer.Option(1, "--processes", min=1)):
    """Patient level: self_harm_nlp, suicidal_ideation_nlp, suicide_attempt_nlp (affirmed, about the patient)."""
    import datetime as dt

    from trdpath import api

    try:
        _check_out(out, notes, rules)
        cutoff = None
        if index_date:
            try:
                cutoff = dt.date.fromisoformat(index_date)
            except ValueError as exc:
                raise InputError("not a date (expected YYYY-MM-DD)", column="--index-date", value=index_date) from exc
        table = api.nlp_flags(_read_table(notes), cutoff, extra_rules=rules or (), processes=processes, progress=True)
        _write_atomic(table, out)
    except UserError as error:
        _fail(error)
    counts = ", ".join(f"{column} {int(table[column].sum())}" for column in table.columns[1:])
    console.print(f"{len(table)} patients with notes: {counts} -> {out}")
