"""Writers of the worklist: CSV and XLSX (neutralised), a printable HTML page (escaped).

The worklist is patient-level: it belongs in the results folder's top level, which never leaves
the secure environment (docs/early-identification.md).

worklist.xlsx is streamed by XlsxWriter in constant-memory mode (each row written once, in order,
flushed to disk: openpyxl held every cell as an object and took ~4 min at 1M patients). The HTML
worklist is one page while it holds at most HTML_PAGE_ROWS rows; beyond that worklist.html is an
index (patients per team and stage) linking to pages of at most HTML_PAGE_ROWS rows per team in
worklist-pages/, each printable (a browser cannot lay out or print a page of 500,000 rows).
"""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path

import pandas as pd
from jinja2 import Environment, PackageLoader, select_autoescape

from trdpath.safety import neutralise_frame

EXCEL_ROWS = 1_048_575
HTML_PAGE_ROWS = 500
PAGES = "worklist-pages"


def worklist_path(out: Path, name: str = "worklist.csv") -> Path:
    """Where a worklist file goes: the top level of the results folder (patient-level)."""
    return Path(out) / name


def _cells(frame: pd.DataFrame) -> list[list]:
    """The columns as Python lists with every missing value (None, NaN, pd.NA) as None."""
    columns = []
    for name in frame.columns:
        column = frame[name]
        values = column.astype(object).tolist()
        if column.isna().any():
            missing = column.isna().tolist()
            values = [None if m else v for v, m in zip(values, missing)]
        columns.append(values)
    return columns


def _sheet(book, name: str, frame: pd.DataFrame, formats: dict, freeze: tuple[int, int] | None = None) -> None:
    sheet = book.add_worksheet(name)
    sheet.write_row(0, 0, list(frame.columns), formats["header"])
    write_row = sheet.write_row
    for r, row in enumerate(zip(*_cells(frame)), start=1):
        write_row(r, 0, row)  # dates as dates (the workbook's default date format), None as an empty cell
    if freeze:
        sheet.freeze_panes(*freeze)
    sheet.autofilter(0, 0, max(len(frame), 1), max(len(frame.columns) - 1, 0))


def write_xlsx(frame: pd.DataFrame, path: Path) -> None:
    """worklist.xlsx: the worklist (neutralised), a note where it exceeds a sheet, patients by team and stage."""
    import xlsxwriter

    safe = neutralise_frame(frame)
    # constant_memory: rows go to disk as written; strings inline (no shared-string table held in memory).
    book = xlsxwriter.Workbook(str(path), {"constant_memory": True, "strings_to_numbers": False,
                                           "strings_to_formulas": False, "strings_to_urls": False,
                                           "default_date_format": "yyyy-mm-dd"})
    try:
        formats = {"header": book.add_format({"bold": True})}
        # A sheet holds at most 1,048,576 rows (with the header): beyond that, worklist.csv has them all.
        _sheet(book, "worklist", safe.head(EXCEL_ROWS), formats, freeze=(1, 4))
        if len(safe) > EXCEL_ROWS:
            _sheet(book, "note", pd.DataFrame({"note": [f"Only the first {EXCEL_ROWS:,} of {len(safe):,} rows fit a sheet: "
                                                        "see worklist.csv."]}), formats)
        teams = frame.groupby(["team", "stage"]).size().unstack(fill_value=0).reset_index() if len(frame) else \
            pd.DataFrame({"team": []})
        teams.columns = [str(c) for c in teams.columns]
        _sheet(book, "by team", neutralise_frame(teams), formats)
    finally:
        book.close()


# The columns the HTML rows show (templates/worklist.html reads them as r['name']: a dict lookup, where
# r.name would try an attribute first and fail for every cell).
HTML_COLUMNS = ("priority", "patient_id", "stage", "resistance_level", "current_antidepressants",
                "current_augmenting_agents", "subtherapeutic_held", "days_on_current_drug", "inertia_days",
                "days_since_contact", "next_step", "next_step_source", "reasons")


def _teams(frame: pd.DataFrame) -> list[tuple[str, list[dict]]]:
    """(team, its rows as dicts of HTML_COLUMNS with every missing value as None) per team, teams in
    order and each team's rows in the worklist's order. The cells are turned into Python values once
    for the whole frame (DataFrame.to_dict per page cost ~2.5 s of ~7 s at 100k rows)."""
    names = [c for c in HTML_COLUMNS if c in frame.columns]
    records = [dict(zip(names, row)) for row in zip(*_cells(frame[names]))]
    return [(team, [records[i] for i in positions])
            for team, positions in sorted(frame.groupby("team").indices.items())]


def write_html(frame: pd.DataFrame, folder: Path, as_of: dt.date, title: str) -> None:
    env = Environment(loader=PackageLoader("trdpath.early", "templates"), autoescape=select_autoescape(["html"]))
    stages = frame["stage"].value_counts().to_dict()
    page = env.get_template("worklist.html")
    teams = _teams(frame)
    if len(frame) <= HTML_PAGE_ROWS:
        html = page.render(title=title, as_of=as_of, groups=[(team, rows, None) for team, rows in teams], n=len(frame),
                           stages=stages, index=None)
        worklist_path(folder, "worklist.html").write_text(html, encoding="utf-8")
        return
    pages = folder / PAGES
    pages.mkdir()
    index = []
    by_stage = frame.groupby(["team", "stage"]).size()
    for t, (team, rows) in enumerate(teams, start=1):
        n_pages = math.ceil(len(rows) / HTML_PAGE_ROWS)
        links = []
        for p in range(n_pages):
            name = f"team-{t:04d}-page-{p + 1:04d}.html"
            chunk = rows[p * HTML_PAGE_ROWS:(p + 1) * HTML_PAGE_ROWS]
            html = page.render(title=title, as_of=as_of, n=len(frame), stages=stages, index=None,
                               groups=[(team, chunk, f"page {p + 1} of {n_pages}")], back="../worklist.html")
            (pages / name).write_text(html, encoding="utf-8")
            links.append((f"{PAGES}/{name}", f"{p + 1}"))
        index.append((team, len(rows), by_stage[team].to_dict(), links))
    html = page.render(title=title, as_of=as_of, groups=[], n=len(frame), stages=stages, index=index,
                       page_rows=HTML_PAGE_ROWS)
    worklist_path(folder, "worklist.html").write_text(html, encoding="utf-8")


def write_csv(frame: pd.DataFrame, path: Path) -> None:
    """worklist.csv in the format of every trdpath CSV (trdpath.output.write_csv: quotes only where
    needed, missing as an empty field, booleans true/false, dates yyyy-mm-dd), neutralised in Arrow."""
    import pyarrow as pa

    from trdpath.output import write_csv as write_arrow_csv
    from trdpath.safety import neutralise_arrow

    write_arrow_csv(neutralise_arrow(pa.Table.from_pandas(frame, preserve_index=False)), path)


# What `trdpath worklist --formats` can choose, and the file each writes. At 1M patients the writers
# take most of a run (benchmarks/README.md): a daily job feeding the record may need only csv and fhir.
FORMATS = {"csv": "worklist.csv", "xlsx": "worklist.xlsx", "html": "worklist.html", "fhir": "flags.ndjson"}


def parse_formats(text: str | None) -> tuple[str, ...]:
    """--formats: a comma-separated subset of FORMATS (default: all), in FORMATS' order."""
    if text is None:
        return tuple(FORMATS)
    asked = [part.strip().lower() for part in text.split(",") if part.strip()]
    unknown = [part for part in asked if part not in FORMATS]
    if unknown or not asked:
        from trdpath.errors import UserError

        raise UserError(f"--formats takes a comma-separated list of {', '.join(FORMATS)} (got {text!r}"
                        + (f": {', '.join(repr(u) for u in unknown)} unknown" if unknown else ": none named") + ").")
    return tuple(f for f in FORMATS if f in asked)


def write_worklist(frame: pd.DataFrame, folder: Path, as_of: dt.date, title: str = "TRD pathway worklist",
                   formats: tuple[str, ...] = tuple(FORMATS)) -> None:
    """The worklist files of `formats` (of FORMATS; "fhir", flags.ndjson, is fhir.write_flags')."""
    if "csv" in formats:
        write_csv(frame, worklist_path(folder, "worklist.csv"))
    if "xlsx" in formats:
        write_xlsx(frame, worklist_path(folder, "worklist.xlsx"))
    if "html" in formats:
        write_html(frame, Path(folder), as_of, title)
