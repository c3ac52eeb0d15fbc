"""A hand-made extract for the patient page: four patients whose pathway is worked out by hand below.

Minimum doses (the shipped reference): sertraline 50, citalopram 20, mirtazapine 30 mg a day; an adequate
trial is 28 days at an adequate dose and is adequate on its start + 28 days (study-definition.md 3.4). Index date
2021-01-01; 2020 is a leap year (February has 29 days).

  P1  sertraline 100 mg 2020-01-01 (56 d), citalopram 20 mg 03-01 (56 d), mirtazapine 30 mg 05-01 (56 d):
      adequacy dates 01-29, 03-29, 05-29; T1 = 2020-01-29, T2 = 2020-03-29; the third antidepressant after two
      failed adequate trials starts on 2020-05-01 = the TRD date (level 3). Referrals: community x2 (2020-02-10,
      2020-06-01), inpatient x1 (2020-07-01). A note mentions self-harm.
  P2  sertraline 100 mg 01-01 (120 d), citalopram 20 mg 03-01 (56 d), lithium 800 mg 04-15 (56 d):
      lithium is an augmenting agent (not judged, no line); T1 01-29, T2 03-29, TRD on 04-15 (augmentation
      after two adequate trials, while sertraline is still taken).
  P3  sertraline 25 mg 2020-01-01 (56 d): below the minimum dose, stopped: inadequate, no T1, not TRD.
  <b>P4</b> (a hostile identifier) sertraline 100 mg 2020-06-01 (56 d): adequate on 06-29 (T1), not TRD.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd

INDEX_DATE = dt.date(2021, 1, 1)
HOSTILE_ID = "<b>P4</b>"
IDS = ["P1", "P2", "P3", HOSTILE_ID]
PRESCRIPTIONS = [
    ("P1", "sertraline", "2020-01-01", 56, 100), ("P1", "citalopram", "2020-03-01", 56, 20),
    ("P1", "mirtazapine", "2020-05-01", 56, 30),
    ("P2", "sertraline", "2020-01-01", 120, 100), ("P2", "citalopram", "2020-03-01", 56, 20),
    ("P2", "lithium", "2020-04-15", 56, 800),
    ("P3", "sertraline", "2020-01-01", 56, 25),
    (HOSTILE_ID, "sertraline", "2020-06-01", 56, 100),
]
# Worked by hand (module docstring): T1, T2, TRD date per patient; adequacy date per (patient, drug).
EXPECTED_KEY_DATES = {"P1": ("2020-01-29", "2020-03-29", "2020-05-01"),
                      "P2": ("2020-01-29", "2020-03-29", "2020-04-15"),
                      "P3": ("none", "none", "none"), HOSTILE_ID: ("2020-06-29", "none", "none")}
EXPECTED_ADEQUACY = {("P1", "sertraline"): "2020-01-29", ("P1", "citalopram"): "2020-03-29",
                     ("P1", "mirtazapine"): "2020-05-29", ("P2", "sertraline"): "2020-01-29",
                     ("P2", "citalopram"): "2020-03-29"}
EXPECTED_REFERRALS = {"P1": {"community": 2, "inpatient": 1}}


def write_extract(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    pd.DataFrame({"patient_id": IDS, "birth_date": "1970-01-01", "sex": "F"}).to_csv(folder / "patients.csv", index=False)
    pd.DataFrame({"patient_id": IDS, "code": "F32.1", "date": "2010-01-01"}).to_csv(folder / "diagnoses.csv", index=False)
    pd.DataFrame(PRESCRIPTIONS, columns=["patient_id", "drug", "start_date", "days_supply", "daily_dose_mg"]).to_csv(
        folder / "prescriptions.csv", index=False)
    pd.DataFrame([("P1", "CMHT North", "2020-02-10", "community"), ("P1", "CMHT North", "2020-06-01", "community"),
                  ("P1", "Ward 3", "2020-07-01", "inpatient")],
                 columns=["patient_id", "service", "date", "service_category"]).to_csv(folder / "referrals.csv", index=False)
    pd.DataFrame([("P1", "N1", "2020-04-01", "She disclosed self-harm last week, cutting her arms."),
                  ("P2", "N2", "2020-04-01", "Mood low. No thoughts of self-harm.")],
                 columns=["patient_id", "note_id", "date", "text"]).to_csv(folder / "notes.csv", index=False)
    return folder


def make_handmade_result(root: Path) -> Path:
    """`trdpath classify` on the hand-made extract (patients.parquet and pathway_steps, as the CLI writes them)."""
    from trdpath import api

    data = write_extract(root / "data")
    out = root / "results"
    api.classify(data, out, index_date=INDEX_DATE)
    return out


HOSTILE_TEAM = "<script>alert('team')</script>"
# (team, service_category, priority, patient_id, stage, days_since_contact): a worklist as `trdpath worklist`
# writes it (the other columns are filled below), with a hostile team name.
WORKLIST_ROWS = [
    ("CMHT North", "community", 1, "P1", "TRD", 20),
    (HOSTILE_TEAM, "inpatient", 1, "P2", "TRD", 200),
    ("CMHT North", "", 5, "P3", "0", ""),
    ("Home Treatment Team", "urgent_care", 4, HOSTILE_ID, "1", 35),
]


def write_worklist(out: Path) -> Path:
    from trdpath.early.outputs import worklist_path
    from trdpath.early.worklist import WORKLIST_COLUMNS
    from trdpath.safety import neutralise_frame

    rows = []
    for team, service, priority, pid, stage, contact in WORKLIST_ROWS:
        row = dict.fromkeys(WORKLIST_COLUMNS, "")
        row.update(team=team, service_category=service, priority=priority, patient_id=pid, stage=stage,
                   days_since_contact=contact, next_step=f"next step for {pid}", reasons=f"reasons for {pid}",
                   as_of=INDEX_DATE.isoformat())
        rows.append(row)
    neutralise_frame(pd.DataFrame(rows, columns=list(WORKLIST_COLUMNS))).to_csv(worklist_path(out), index=False)
    return worklist_path(out)
