"""The worklist's columns, its files (CSV/XLSX/HTML), the FHIR Flags and the OMOP cohort write-back.

Three patients worked by hand (default rules: a trial is 28 days at or above the minimum dose;
sertraline 50 mg, citalopram 20 mg minimum; era gap 30 days; inertia flagged from 56 days):
- 101: sertraline 100 mg 2020-01-01..03-01 (adequate 01-29), citalopram 20 mg 03-10..05-10 (adequate
  04-07), mirtazapine 30 mg from 06-01 (TRD on 06-01). On 2020-05-20: stage 2, citalopram current
  (since 03-10: 71 days), inertia = 05-20 - 04-07 = 43 days (< 56: not flagged), contact 19 days ago.
- 102: sertraline 25 mg 2020-01-01..09-01, below the 50 mg minimum for 140 days by 05-20: stage 0,
  sub-therapeutic dose held beyond the 28-day window.
- 103: sertraline 100 mg 2020-01-01..06-30, adequate 01-29, no change: stage 1 with
  inertia 05-20 - 01-29 = 112 days (2020 is a leap year: 31 + 29 + 31 + 21).
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import uuid

import openpyxl
import pandas as pd
import pytest
from fhir.resources.R4B.flag import Flag

from early.conftest import open_tables
from trdpath.config import StudyConfig
from trdpath.early.api import worklist_on
from trdpath.early.cohort import cohort_rows, write_cohort
from trdpath.early.fhir import flag_resources, write_flags
from trdpath.early.outputs import write_worklist
from trdpath.early.timeline import build_timeline
from trdpath.early.worklist import load_rules
from trdpath.errors import UserError

D = dt.date
HOSTILE_TEAM = '=HYPERLINK("http://x","<script>alert(1)</script>")'
TABLES = {
    "patients": pd.DataFrame({"patient_id": ["101", "102", "103"], "birth_date": ["1970-01-01"] * 3, "sex": ["F", "M", "F"]}),
    "diagnoses": pd.DataFrame({"patient_id": ["101", "102", "103"], "code": ["F32.1"] * 3, "date": ["2019-12-01"] * 3}),
    "prescriptions": pd.DataFrame({
        "patient_id": ["101", "101", "101", "102", "103"],
        "drug": ["sertraline", "citalopram", "mirtazapine", "sertraline", "sertraline"],
        "start_date": ["2020-01-01", "2020-03-10", "2020-06-01", "2020-01-01", "2020-01-01"],
        "end_date": ["2020-03-01", "2020-05-10", "2020-08-01", "2020-09-01", "2020-06-30"],
        "daily_dose_mg": ["100", "20", "30", "25", "100"],
    }),
    "referrals": pd.DataFrame({"patient_id": ["101", "103"], "service": ["Community Mental Health Team", HOSTILE_TEAM],
                               "date": ["2020-05-01", "2020-02-01"]}),
}


@pytest.fixture(scope="module")
def opened():
    return open_tables(TABLES)


def _worklist(opened, as_of):
    con, extract = opened
    frame, _, timeline = worklist_on(con, extract, StudyConfig(), as_of)
    return frame.set_index("patient_id", drop=False), timeline


def test_worklist_columns_worked_by_hand(opened):
    w, _ = _worklist(opened, D(2020, 5, 20))
    a, b, c = w.loc["101"], w.loc["102"], w.loc["103"]
    assert (a.stage, a.days_on_current_drug, a.inertia_days, a.days_since_contact) == ("2", 71, 43, 19)
    assert a.current_antidepressants.startswith("citalopram 20 mg/day, minimum 20, adequate (since 2020-03-10")
    assert a.team == "Community Mental Health Team" and a.priority == 3 and a.dose_adequate
    assert a.last_adequacy_date == D(2020, 4, 7)
    assert "sertraline (adequate 2020-01-29), citalopram (adequate 2020-04-07)" in a.reasons
    assert (b.stage, bool(b.subtherapeutic_held), bool(b.dose_adequate), b.priority) == ("0", True, False, 2)
    assert "Below the minimum effective dose" in b.reasons and pd.isna(b.inertia_days)
    assert (c.stage, c.inertia_days, c.priority) == ("1", 112, 3)
    assert "No treatment change since the last adequacy date, 112 days ago" in c.reasons
    assert c.next_step.startswith("One adequate trial and no change recorded")
    # Grouped by team, then by priority.
    assert list(w.team) == sorted(w.team)


def test_trd_on_the_worklist(opened):
    w, _ = _worklist(opened, D(2020, 6, 10))
    a = w.loc["101"]
    assert (a.stage, a.trd_date, a.resistance_level, a.priority) == ("TRD", D(2020, 6, 1), "3", 1)
    assert "Next step after failed trial 2, on 2020-06-01 (TRD, 3 antidepressants)" in a.reasons


def test_files_are_neutralised_and_escaped(opened, tmp_path):
    w, _ = _worklist(opened, D(2020, 5, 20))
    write_worklist(w.reset_index(drop=True), tmp_path, D(2020, 5, 20))
    with open(tmp_path / "worklist.csv", encoding="utf-8") as handle:
        teams = [row["team"] for row in csv.DictReader(handle)]
    assert "'" + HOSTILE_TEAM in teams and HOSTILE_TEAM not in teams
    sheet = openpyxl.load_workbook(tmp_path / "worklist.xlsx")["worklist"]
    cells = [cell.value for row in sheet.iter_rows() for cell in row]
    assert "'" + HOSTILE_TEAM in cells and not any(isinstance(v, str) and v.startswith("=") for v in cells)
    html = (tmp_path / "worklist.html").read_text(encoding="utf-8")
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "not a medical device" in html


def test_fhir_flags_validate(opened, tmp_path):
    w, _ = _worklist(opened, D(2020, 6, 10))
    assert write_flags(w, tmp_path / "flags.ndjson", D(2020, 6, 10)) == 1  # only 101 has TRD
    lines = (tmp_path / "flags.ndjson").read_text(encoding="utf-8").splitlines()
    flag = Flag.model_validate_json(lines[0])  # parses back as a valid Flag
    data = json.loads(lines[0])
    assert data["subject"]["reference"] == "Patient/101" and data["period"]["start"] == "2020-06-01"
    assert data["code"]["coding"][0]["code"] == "trd" and data["status"] == "active"
    assert "author" in data and flag.extension[0].valueString.startswith("Current episode from")
    # Stage 2 on request: on 2020-05-20 patient 101 is at stage 2 since the adequacy date 2020-04-07.
    w2, _ = _worklist(opened, D(2020, 5, 20))
    flags = flag_resources(w2, D(2020, 5, 20), include_stage2=True)
    assert [(f.code.coding[0].code, str(f.period.start)) for f in flags] == [("stage-2", "2020-04-07")]
    assert flag_resources(w2, D(2020, 5, 20)) == []


def test_a_flag_without_subject_is_invalid():
    with pytest.raises(Exception, match="subject"):
        Flag.model_validate({"resourceType": "Flag", "status": "active", "code": {"text": "x"}})


def test_rule_table_errors_name_file_row_and_value(tmp_path):
    bad = tmp_path / "rules.csv"
    bad.write_text("order,when,priority,next_step,source\n1,stage=TRD & sunshine,1,x,y\n", encoding="utf-8")
    with pytest.raises(UserError, match=r"rules.csv, row 2, column when: unknown term 'sunshine'"):
        load_rules(bad)
    bad.write_text("order,when,priority,next_step,source\n1,stage=1,1,x,\n", encoding="utf-8")
    with pytest.raises(UserError, match="row 2: every rule needs a next_step and its source"):
        load_rules(bad)
    shipped = load_rules()
    assert all(rule.source for rule in shipped.rules) and shipped.rules[0].stage == "TRD"


def _cohort_backends():
    return ["duckdb", "postgres", pytest.param("pyspark", marks=[pytest.mark.spark, pytest.mark.slow, pytest.mark.xdist_group("backends")])]


@pytest.mark.parametrize("backend", _cohort_backends())
def test_cohort_write_back(backend, request, opened):
    con, extract = opened
    timeline = build_timeline(con, extract, StudyConfig(), D(2020, 6, 10))
    rows = cohort_rows(timeline, D(2020, 6, 10), definition_id=7)
    from trdpath import engines
    target = {"duckdb": lambda: engines.connect("duckdb"), "postgres": lambda: request.getfixturevalue("postgres_con"),
              "pyspark": lambda: request.getfixturevalue("spark_con")}[backend]()
    schema = f"results_{backend}_{uuid.uuid4().hex[:8]}"  # Spark keeps managed tables' files in its warehouse folder
    other = pd.DataFrame({"cohort_definition_id": [3], "subject_id": [999], "cohort_start_date": [D(2019, 1, 1)],
                          "cohort_end_date": [D(2019, 2, 1)]})
    write_cohort(target, schema, other)
    write_cohort(target, schema, rows)
    write_cohort(target, schema, rows)  # a re-run replaces its own rows
    if backend == "pyspark":
        back = target.execute(target.table("cohort", database=schema)).sort_values("cohort_definition_id")
        got = [tuple(r) for r in back.itertuples(index=False)]
        got = [(int(a), int(b), pd.Timestamp(c).date(), pd.Timestamp(d).date()) for a, b, c, d in got]
    else:
        sql = f'SELECT cohort_definition_id, subject_id, cohort_start_date, cohort_end_date FROM "{schema}".cohort ORDER BY 1, 2'
        if backend == "duckdb":
            got = target.con.execute(sql).fetchall()
        else:
            cursor = target.raw_sql(sql)
            got = cursor.fetchall()
            cursor.close()
        got = [(int(a), int(b), c, d) for a, b, c, d in got]
    if backend == "pyspark":
        target.raw_sql(f"DROP DATABASE IF EXISTS `{schema}` CASCADE")
    # By hand: only 101 meets TRD by 2020-06-10, from the mirtazapine start 2020-06-01.
    assert got == [(3, 999, D(2019, 1, 1), D(2019, 2, 1)), (7, 101, D(2020, 6, 1), D(2020, 6, 10))]


def test_cohort_needs_integer_ids():
    con, extract = open_tables({**TABLES, "patients": TABLES["patients"].assign(patient_id=["101", "X-2", "103"]),
                                "prescriptions": TABLES["prescriptions"].replace({"102": "X-2"})})
    timeline = build_timeline(con, extract, StudyConfig(), D(2020, 6, 10))
    assert len(cohort_rows(timeline, D(2020, 6, 10), 1)) == 1  # X-2 is not TRD: its id is never needed
    bad = open_tables({**TABLES, "patients": TABLES["patients"].assign(patient_id=["P101", "102", "103"]),
                       "prescriptions": TABLES["prescriptions"].replace({"101": "P101"}),
                       "diagnoses": TABLES["diagnoses"].replace({"101": "P101"}),
                       "referrals": TABLES["referrals"].replace({"101": "P101"})})
    with pytest.raises(UserError, match="integer person ids, but patient_id 'P101'"):
        cohort_rows(build_timeline(*bad, StudyConfig(), D(2020, 6, 10)), D(2020, 6, 10), 1)


@pytest.mark.parametrize("query, schema", [("", "results"), ("?schema=public", "results"), ("?schema=cdm_out", "cdm_out")])
def test_cohort_target_schema_on_postgres(postgres_url, query, schema):
    """The results schema of `--cohort-to`: as given, or "results" when the URL names none (or public, the
    default a PostgreSQL URL stands for), the same as for duckdb:FILE without ?schema=."""
    from trdpath.early.cohort import cohort_target

    base = postgres_url.split("?")[0]
    con, got = cohort_target(base + query)
    try:
        assert got == schema
        assert con.raw_sql("SELECT 1").fetchone() == (1,)
    finally:
        con.disconnect()


def test_cohort_target_schema_on_duckdb(tmp_path):
    from trdpath.early.cohort import cohort_target

    for url, schema in ((f"duckdb:{tmp_path / 'a.duckdb'}", "results"), (f"duckdb:{tmp_path / 'b.duckdb'}?schema=r2", "r2")):
        con, got = cohort_target(url)
        assert got == schema
        con.disconnect()
