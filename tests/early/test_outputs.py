"""The worklist writers at scale (issue 18): XLSX streamed by XlsxWriter, FHIR Flags written from
dictionaries with sampled validation, the HTML worklist paged per team once it is too long to print."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import openpyxl
import pandas as pd
import pytest
from fhir.resources.R4B.flag import Flag

from trdpath.config import StudyConfig
from trdpath.early import fhir, outputs
from trdpath.early.api import worklist_on
from trdpath.early.worklist import load_rules
from trdpath.safety import neutralise_frame
from trdpath.sources.open import open_source

D = dt.date
AS_OF = D(2021, 6, 30)


@pytest.fixture(scope="module")
def frame(tmp_path_factory):
    from trdpath.synth import generate

    folder = tmp_path_factory.mktemp("outputs") / "extract"
    generate(folder, 600, seed=3)
    with open_source(folder, StudyConfig()) as (con, extract):
        w, _, _ = worklist_on(con, extract, StudyConfig(), AS_OF, load_rules())
    w = w.copy()
    w.loc[w.index[0], "team"] = "=HYPERLINK(\"http://x\")"  # hostile text must stay text
    return w


def test_xlsx_holds_the_neutralised_worklist_cell_for_cell(frame, tmp_path):
    outputs.write_xlsx(frame, tmp_path / "w.xlsx")
    book = openpyxl.load_workbook(tmp_path / "w.xlsx", read_only=True)
    rows = list(book["worklist"].iter_rows(values_only=True))
    expected = neutralise_frame(frame)
    assert list(rows[0]) == list(frame.columns) and len(rows) == len(frame) + 1
    for got, (_, want) in zip(rows[1:], expected.iterrows()):
        for value, (column, w) in zip(got, want.items()):
            if w is None or (not isinstance(w, str) and pd.isna(w)):
                assert value is None, column
            elif isinstance(w, dt.date):  # an Excel date reads back as a datetime at midnight
                assert value == dt.datetime(w.year, w.month, w.day), column
            else:
                assert value == w, column
    assert rows[1][frame.columns.get_loc("team")].startswith("'=")
    teams = list(book["by team"].iter_rows(values_only=True))
    # The by-team sheet: one row per team, its stage counts sum to the team's patients.
    counts = frame.groupby("team").size()
    assert {r[0]: sum(r[1:]) for r in teams[1:]} == {t: n for t, n in neutralise_frame(counts.reset_index())
                                                     .set_index("team")[0].items()}


def test_every_flag_line_is_a_valid_flag_equal_to_the_model(frame, tmp_path):
    n = fhir.write_flags(frame, tmp_path / "f.ndjson", AS_OF, include_stage2=True)
    lines = (tmp_path / "f.ndjson").read_text(encoding="utf-8").splitlines()
    assert n == len(lines) == int(frame["stage"].isin(["TRD", "2"]).sum()) > 20
    by_id = frame.set_index("patient_id")
    for line in lines:  # every line, not a sample: the writer's sampling is checked against all here
        flag = Flag.model_validate_json(line)
        assert json.loads(flag.model_dump_json(exclude_none=True)) == json.loads(line)
        row = by_id.loc[flag.subject.reference.removeprefix("Patient/")]
        assert flag.extension[0].valueString == row["reasons"]


def test_sampled_validation_catches_a_bad_row_of_a_new_shape(frame, tmp_path):
    """Only shapes are sampled (validate_first=0, every 10**9): a row of a shape not seen before is
    validated, so a broken template for that shape stops the run."""
    bad = frame[frame["stage"] == "TRD"].head(3).copy()
    bad.loc[bad.index[2], "patient_id"] = "id with spaces"  # a new shape: subject by identifier
    bad.loc[bad.index[2], "next_step"] = ""  # an empty FHIR string is invalid
    with pytest.raises(Exception, match="valueString"):
        fhir.write_flags(bad, tmp_path / "f.ndjson", AS_OF, validate_first=0, validate_every=10**9)


def test_long_html_worklist_is_paged_per_team(frame, tmp_path, monkeypatch):
    monkeypatch.setattr(outputs, "HTML_PAGE_ROWS", 40)
    outputs.write_html(frame, tmp_path, AS_OF, "TRD pathway worklist")
    index = (tmp_path / "worklist.html").read_text(encoding="utf-8")
    pages = sorted((tmp_path / outputs.PAGES).glob("*.html"))
    # ceil(rows/40) pages per team, every patient on exactly one page.
    assert len(pages) == sum(-(-n // 40) for n in frame.groupby("team").size())
    text = "".join(p.read_text(encoding="utf-8") for p in pages)
    assert all(text.count(f"<td>{pid}</td>") == 1 for pid in frame["patient_id"])
    assert all(f'href="{outputs.PAGES}/{p.name}"' in index for p in pages)
    assert "=HYPERLINK(&#34;http://x&#34;)" in index and "<td>=HYPERLINK(\"" not in index


def test_html_pages_hold_each_teams_rows_in_worklist_order_cell_for_cell(frame, tmp_path, monkeypatch):
    """Each page, read back, is the next HTML_PAGE_ROWS of its team's rows in the worklist's order, and
    every shown cell is the frame's value (missing day counts as empty cells), worked out here from
    the frame by pandas, not by the writer's own conversion."""
    import html as html_lib
    import re

    monkeypatch.setattr(outputs, "HTML_PAGE_ROWS", 40)
    outputs.write_html(frame, tmp_path, AS_OF, "TRD pathway worklist")
    teams = sorted(frame["team"].unique())
    row = re.compile(r'<tr class="stage-[^"]*"><td>(.*?)</td><td>(.*?)</td><td>.*?</td>\s*<td>.*?</td>\s*'
                     r"<td>(.*?)</td>\s*<td>(.*?)</td>\s*<td>(.*?)</td>", re.S)
    for t, team in enumerate(teams, start=1):
        expected = frame[frame["team"] == team]
        shown = []
        for p in range(-(-len(expected) // 40)):
            page = (tmp_path / outputs.PAGES / f"team-{t:04d}-page-{p + 1:04d}.html").read_text(encoding="utf-8")
            assert html_lib.unescape(re.search(r"<h2>(.*?) \(page (\d+) of", page).group(1)) == team
            shown += [tuple(html_lib.unescape(cell) for cell in m) for m in row.findall(page)]
        cell = lambda v: "" if pd.isna(v) else str(v)  # noqa: E731
        assert shown == [(str(r.priority), r.patient_id, cell(r.days_on_current_drug), cell(r.inertia_days),
                          cell(r.days_since_contact)) for r in expected.itertuples()]
    assert any(pd.isna(v) for v in frame["inertia_days"]) and any(pd.notna(v) for v in frame["inertia_days"])


def test_csv_is_the_neutralised_worklist_in_trdpath_csv_format(frame, tmp_path):
    """worklist.csv read back as text is the frame, neutralised by the pandas implementation
    (neutralise_frame), each cell formatted here by hand: booleans true/false, dates yyyy-mm-dd,
    missing values as empty fields (trdpath.output.write_csv's format, as patients.csv)."""
    outputs.write_csv(frame, tmp_path / "worklist.csv")
    back = pd.read_csv(tmp_path / "worklist.csv", dtype=str, keep_default_na=False)

    def text(value) -> str:
        if value is None or value is pd.NA or (isinstance(value, float) and value != value):
            return ""
        if isinstance(value, (bool, np.bool_)):
            return "true" if value else "false"
        return value.isoformat() if isinstance(value, dt.date) else str(value)

    expected = neutralise_frame(frame).astype(object).map(text)
    assert list(back.columns) == list(frame.columns)
    pd.testing.assert_frame_equal(back, expected.reset_index(drop=True), check_dtype=False)
    assert back.loc[0, "team"] == "'=HYPERLINK(\"http://x\")"
    assert {"true", "false"} <= set(back["subtherapeutic_held"]) | set(back["dose_adequate"])
    assert (back["reasons"].str.contains(",")).any()  # quoted where needed, read back whole
