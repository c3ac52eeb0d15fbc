"""Writers of the worklist: CSV and XLSX (neutralised), a printable HTML page (escaped).

The worklist is patient-level: it belongs in the results folder's top level, which never leaves
the secure environment (docs/early-identification.md).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
from jinja2 import Environment, PackageLoader, select_autoescape

from trdpath.safety import neutralise_frame

WORKLIST_FILES = ("worklist.csv", "worklist.xlsx", "worklist.html")
EXCEL_ROWS = 1_048_575


def worklist_path(out: Path, name: str = "worklist.csv") -> Path:
    """Where a worklist file goes: the top level of the results folder (patient-level)."""
    return Path(out) / name


def write_worklist(frame: pd.DataFrame, folder: Path, as_of: dt.date, title: str = "TRD pathway worklist") -> None:
    safe = neutralise_frame(frame)
    safe.to_csv(worklist_path(folder, "worklist.csv"), index=False)
    with pd.ExcelWriter(worklist_path(folder, "worklist.xlsx"), engine="openpyxl") as writer:
        # A sheet holds at most 1,048,576 rows (with the header): beyond that, worklist.csv has them all.
        safe.head(EXCEL_ROWS).to_excel(writer, sheet_name="worklist", index=False)
        if len(safe) > EXCEL_ROWS:
            pd.DataFrame({"note": [f"Only the first {EXCEL_ROWS:,} of {len(safe):,} rows fit a sheet: see worklist.csv."]}).to_excel(
                writer, sheet_name="note", index=False)
        teams = (frame.groupby(["team", "stage"]).size().unstack(fill_value=0).reset_index())
        neutralise_frame(teams).to_excel(writer, sheet_name="by team", index=False)
        sheet = writer.sheets["worklist"]
        sheet.freeze_panes = "E2"
        sheet.auto_filter.ref = sheet.dimensions
    env = Environment(loader=PackageLoader("trdpath.early", "templates"), autoescape=select_autoescape(["html"]))
    groups = [(team, rows.to_dict("records")) for team, rows in frame.groupby("team", sort=True)]
    html = env.get_template("worklist.html").render(title=title, as_of=as_of, groups=groups, n=len(frame),
                                                    stages=frame["stage"].value_counts().to_dict())
    worklist_path(folder, "worklist.html").write_text(html, encoding="utf-8")
