"""What `trdpath qual` writes cannot hurt: no spreadsheet formula in any CSV/XLSX cell, no live HTML in report.md,
files with the user's permissions, no password in any message; and the participant table's denominators."""

from __future__ import annotations

import csv
import os
from pathlib import Path

import openpyxl
import pytest

from support.cli import run_qual
from trdpath.qualitative import models as m
from trdpath.qualitative.coding import import_participants
from trdpath.qualitative.report import build_report_data, participant_characteristics, render_html, write_reports
from trdpath.qualitative.store import create_project
from trdpath.qualitative.tables import export_segments

from .test_postgres import URL as POSTGRES_URL
from .test_postgres import postgres_url  # noqa: F401 - the fixture

PAYLOADS = ["=HYPERLINK(\"http://x\",\"y\")", "+1+2", "-2+3", "@SUM(A1)", "\tTAB", "\rCR"]


def hostile_project(path: Path):
    project = create_project(path, "<script>alert('title')</script>", description="<img src=x onerror=alert(1)>")
    text = " | ".join(PAYLOADS) + " <script>alert(2)</script> <img src=x onerror=alert(3)> end"
    with project.transaction() as s:
        document = m.Document(name="=cmd|' /C calc'!A0", text=text, interview_order=1)
        participant = m.Participant(label="P1", role=m.ROLE_PERSON_WITH_TRD)
        document.participant = participant
        s.add_all([document, participant])
        for i, payload in enumerate(PAYLOADS):
            start = text.index(payload)
            s.add(m.Segment(document=document, code=m.Code(name=f"{payload} code{i}"),
                            coder=m.Coder(name=f"{payload} coder{i}"), start=start, end=start + len(payload)))
        html_start = text.index("<script>")
        s.add(m.Segment(document=document, code=m.Code(name="<b>bold</b>"), start=html_start, end=len(text)))
    return project


def test_xlsx_export_stores_no_formula_and_csv_cells_are_neutralised(tmp_path):
    project = hostile_project(tmp_path / "p.qual")
    export_segments(project, tmp_path / "segments.xlsx")
    sheet = openpyxl.load_workbook(tmp_path / "segments.xlsx").active
    cells = [c for row in sheet.iter_rows() for c in row if c.value is not None]
    assert cells and all(c.data_type != "f" for c in cells)  # openpyxl's type for a formula cell is "f"
    texts = [c.value for c in cells if isinstance(c.value, str)]
    # every payload that a spreadsheet would run starts with a quote now, in coder, code, document and text
    for payload in PAYLOADS:
        assert any(t.startswith("'" + payload) for t in texts), payload
    assert not any(t.startswith(("=", "+", "@", "\t", "\r")) for t in texts)
    export_segments(project, tmp_path / "segments.csv")
    with open(tmp_path / "segments.csv", newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    assert not any(cell.startswith(("=", "+", "-", "@", "\t", "\r")) for row in rows for cell in row
                   if not cell.lstrip("-").isdigit())
    project.close()


def test_qual_tables_and_agree_csvs_are_neutralised(tmp_path):
    project = hostile_project(tmp_path / "p.qual")
    project.close()
    for command in (["tables", str(tmp_path / "p.qual"), str(tmp_path / "tables")],):
        run = run_qual(*command)
        assert run.returncode == 0, run.stderr
    written = list((tmp_path / "tables").glob("*.csv"))
    assert len(written) == 3
    for path in written:
        with open(path, newline="", encoding="utf-8") as fh:
            cells = [cell for row in csv.reader(fh) for cell in row]
        assert any(cell.startswith("'@SUM(A1)") for cell in cells), path.name  # the code name is in every table
        assert not any(cell.startswith(("=", "+", "@", "\t", "\r")) for cell in cells), path.name


def test_report_md_shows_html_as_text(tmp_path):
    project = hostile_project(tmp_path / "p.qual")
    write_reports(project, tmp_path / "out", formats=("md", "html"), bootstrap=0)
    md = (tmp_path / "out" / "report.md").read_text()
    for live in ("<script", "<img", "<b>"):
        assert live not in md, live
    assert "&lt;script&gt;alert('title')&lt;/script&gt;" in md and "&lt;img src=x onerror=alert(1)&gt;" in md
    html = (tmp_path / "out" / "report.html").read_text()
    assert "<script>alert" not in html and "<img src=x" not in html
    project.close()


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_exports_follow_the_users_umask(tmp_path, umask, mode):
    project = hostile_project(tmp_path / "p.qual")
    old = os.umask(umask)
    try:
        paths = [export_segments(project, tmp_path / "s.csv"), export_segments(project, tmp_path / "s.xlsx"),
                 *write_reports(project, tmp_path / "out", formats=("md", "html"), bootstrap=0)]
    finally:
        os.umask(old)
    assert {oct(p.stat().st_mode & 0o777) for p in paths} == {oct(mode)}
    project.close()


# ------------------------------------------------------------------------------------------- credentials
def qual(*args):
    return run_qual(*args)  # `python -m trdpath.qualitative.cli ARGS`, in this process (tests/support/cli.py)


@pytest.mark.parametrize("args", [
    ["init", "postgresql://alice:S3cretPW@127.0.0.1:1/study"],  # closed port
    ["init", "postgresql+nosuchdriver://alice:S3cretPW@127.0.0.1/study"],  # bad driver name
    ["init", "postgresql://alice:S3cretPW@127.0.0.1:abc/study"],  # non-numeric port
    ["tables", "postgresql://alice:S3cretPW@127.0.0.1:1/study", "out"],  # a failure to open a project
    ["import", "postgresql://alice:S3cretPW@127.0.0.1:1/study"],
])
def test_postgres_failures_give_a_masked_message_not_a_traceback(args, tmp_path):
    run = qual(*args)
    output = run.stdout + run.stderr
    assert run.returncode == 2 and "Traceback" not in output
    assert "S3cretPW" not in output and "alice:***@" in output


@pytest.mark.skipif(not POSTGRES_URL, reason="set TRDPATH_TEST_POSTGRES_URL to a PostgreSQL server")
def test_qual_init_on_postgres_never_prints_the_password_even_on_success(postgres_url):  # noqa: F811
    from sqlalchemy.engine import make_url

    url = make_url(postgres_url)
    run = qual("init", postgres_url, "--name", "Team")
    assert run.returncode == 0, run.stderr
    assert f"{url.username}:***@" in run.stdout and f":{url.password}@" not in run.stdout + run.stderr


# ---------------------------------------------------------------------------------- issue 16 item 5
def test_participant_table_denominators_and_headers_worked_by_hand(tmp_path):
    people = tmp_path / "people.csv"
    people.write_text("participant,role,gender,profession\nP1,person_with_trd,Female,\nP2,person_with_trd,Male,\n"
                      "C1,clinician,Female,Psychiatrist\nC2,clinician,Female,Nurse\nC3,clinician,,Psychiatrist\n")
    project = create_project(tmp_path / "p.qual", "t")
    import_participants(project, people)
    table = participant_characteristics(project)
    rows = {r[0]: r[1:] for r in table.values.tolist()}
    # All: n = 5; people with TRD: n = 2; clinicians: n = 3. Every percentage is of its column's n.
    # Profession: Psychiatrist 2/5 = 40.0%, 2/3 = 66.7%; Nurse 1/5 = 20.0%, 1/3 = 33.3%; not recorded 2/5 =
    # 40.0% (the two people with TRD), 0/3; nobody with TRD has one, so that column shows "-".
    assert rows["  Psychiatrist"] == ["2 (40.0%)", "-", "2 (66.7%)"]
    assert rows["  Nurse"] == ["1 (20.0%)", "-", "1 (33.3%)"]
    # Gender: Female 3/5 = 60.0%, 1/2 = 50.0%, 2/3 = 66.7%; Male 1/5, 1/2, 0/3; not recorded (C3) 1/5, 0/2, 1/3
    assert rows["  Female"] == ["3 (60.0%)", "1 (50.0%)", "2 (66.7%)"]
    assert rows["  Male"] == ["1 (20.0%)", "1 (50.0%)", "0 (0.0%)"]
    not_recorded = [r[1:] for r in table.values.tolist() if r[0] == "  Not recorded"]
    assert not_recorded == [["1 (20.0%)", "0 (0.0%)", "1 (33.3%)"], ["2 (40.0%)", "-", "0 (0.0%)"]]
    data = build_report_data(project, bootstrap=0)
    html = render_html(data)
    assert ('<th>Characteristic</th><th class="num">All (n = 5)</th><th class="num">People with TRD (n = 2)</th>'
            '<th class="num">Clinicians (n = 3)</th>') in html
    write_reports(project, tmp_path / "out", formats=("md",), bootstrap=0)
    md = (tmp_path / "out" / "report.md").read_text()
    assert "| Characteristic | All (n = 5) | People with TRD (n = 2) | Clinicians (n = 3) |\n| --- | ---: | ---: | ---: |" \
        in md
    project.close()
