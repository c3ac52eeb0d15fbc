"""The generated tables follow data-contract.md and carry the mess of a real extract."""

from __future__ import annotations

import re

import ibis
import numpy as np
import pandas as pd
import pytest

from conftest import CALIBRATION_PATIENTS, read_csv
from trdpath.config import StudyConfig
from trdpath.reference import ReferenceData
from trdpath.schema import TABLES
from trdpath.sources.flat import read_flat_folder
from trdpath.sources.validate import validate_extract

ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@pytest.fixture(scope="module")
def tables(calibration_extract):
    return {name: read_csv(calibration_extract, name) for name in ("patients", "diagnoses", "prescriptions", "referrals")}


def test_columns_are_the_contract_columns(tables):
    for name, frame in tables.items():
        contract = set(TABLES[name]["required"]) | set(TABLES[name]["optional"])
        assert set(TABLES[name]["required"]) <= set(frame.columns), name
        assert set(frame.columns) <= contract, name


def test_identifiers_are_zero_padded_strings_and_unique(tables):
    ids = tables["patients"]["patient_id"]
    assert ids.is_unique and len(ids) == CALIBRATION_PATIENTS
    assert ids.str.fullmatch(r"P\d{7}").all()
    assert ids.iloc[123] == "P0000123"
    for name in ("diagnoses", "prescriptions", "referrals"):
        assert set(tables[name]["patient_id"]) <= set(ids)


def test_dates_are_iso_and_never_after_extraction_or_death(tables):
    p = tables["patients"]
    for name, cols in [("patients", ["birth_date"]), ("diagnoses", ["date"]),
                       ("prescriptions", ["start_date"]), ("referrals", ["date"])]:
        for col in cols:
            assert tables[name][col].str.match(ISO_DATE).all(), (name, col)
    rx = tables["prescriptions"]
    ends = rx.loc[rx["end_date"] != "", "end_date"]
    assert ends.str.match(ISO_DATE).all()
    assert ends.max() == "2021-10-31"  # the point of extraction (Table 1 note d) is the latest date
    death = p.set_index("patient_id")["death_date"]
    dead_rx = rx[rx["patient_id"].map(death) != ""]
    last = np.maximum(pd.to_datetime(dead_rx["start_date"]), pd.to_datetime(dead_rx["end_date"].replace("", None)).fillna(pd.Timestamp(0)))
    assert (last <= pd.to_datetime(dead_rx["patient_id"].map(death))).all()


def test_the_engine_reads_and_validates_the_extract(calibration_extract):
    con = ibis.duckdb.connect()
    raw, files = read_flat_folder(con, calibration_extract)
    assert set(files) == {"patients", "diagnoses", "prescriptions", "referrals"} | ({"notes"} if "notes" in files else set())
    extract = validate_extract(con, raw, {k: str(v) for k, v in files.items()}, source="test")
    assert extract.prescriptions.count().execute() == len(read_csv(calibration_extract, "prescriptions"))


def test_prescriptions_look_like_an_epma_extract(tables):
    rx = tables["prescriptions"]
    ref = ReferenceData(StudyConfig())
    drug = rx["drug"]
    per_patient = len(rx) / CALIBRATION_PATIENTS
    assert 9 <= per_patient <= 14  # "about 11 prescriptions per patient"
    assert drug.str.contains(r"\d+(?:\.\d+)?\s?mg", case=False).mean() > 0.3          # dose text
    assert (drug == drug.str.upper()).mean() > 0.05 and (drug == drug.str.lower()).mean() > 0.05
    brands = {s for syn in ref.antidepressants["synonyms"] for s in syn.split("|") if s}
    first_word = drug.str.lower().str.extract(r"^([a-z]+)", expand=False)
    assert first_word.isin(brands).mean() > 0.1                                       # brand names
    assert "efexor XL 75mg" in set(drug) and "PROZAC" in set(drug)
    assert 0.2 < (rx["atc_code"] != "").mean() < 0.5
    assert 0.03 < (rx["daily_dose_mg"] == "").mean() < 0.2
    both_missing = (rx["end_date"] == "") & (rx["days_supply"] == "")
    assert 0.05 < both_missing.mean() < 0.15
    assert ((rx["end_date"] == "") & (rx["days_supply"] != "")).mean() > 0.2
    # Doses below and above the minimum effective dose of the named ingredient.
    ad = rx.assign(first=first_word).merge(ref.antidepressants[["ingredient", "min_daily_dose_mg"]],
                                           left_on="first", right_on="ingredient")
    dose = pd.to_numeric(ad["daily_dose_mg"].replace("", None))
    assert (dose < ad["min_daily_dose_mg"]).mean() > 0.05 and (dose > ad["min_daily_dose_mg"]).mean() > 0.1
    # Augmenting agents are prescribed too.
    augs = set(ref.augmenting_agents["ingredient"])
    assert first_word.isin(augs).sum() > 500


def test_repeat_intervals_straddle_the_era_gap(tables):
    """Gaps between one supply's end and the next start of 29, 30 (one era) and 31+ (a new era)."""
    rx = tables["prescriptions"]
    rx = rx[rx["end_date"] != ""].assign(start=lambda f: pd.to_datetime(f["start_date"]),
                                         end=lambda f: pd.to_datetime(f["end_date"]))
    rx = rx.sort_values(["patient_id", "drug", "start"])
    same = rx["patient_id"].eq(rx["patient_id"].shift()) & rx["drug"].eq(rx["drug"].shift())
    gap = (rx["start"] - rx["end"].shift()).dt.days[same]
    for days in (0, 29, 30, 31):
        assert (gap == days).sum() > 0, days
    assert (gap > 183).sum() > 0  # a long gap: a new episode of the same drug


def test_diagnosis_codes_in_every_recorded_form(tables):
    codes = tables["diagnoses"]["code"]
    assert codes.str.fullmatch(r"F3[23]\.\d").any()          # F32.1
    assert codes.str.fullmatch(r"F3[23]\d").any()            # F321
    assert codes.str.fullmatch(r"f3[23]\.?\d").any()         # f32.1 / f321
    assert codes.str.fullmatch(r"F3[23]").any()              # F33
    upper = codes.str.upper().str.replace(".", "", regex=False)
    for code in ("F323", "F333", "F341", "F431", "F432", "Z915", "G409", "G301", "F311", "F200"):
        assert (upper == code).any(), code


def test_referrals_use_trust_team_names(tables):
    ref = tables["referrals"]
    for team in ("CMHT North", "Home Treatment Team", "Crisis Resolution", "Psychology Service", "ECT clinic",
                 "Ward 3 (acute)", "Forensic outreach", "Drug and Alcohol Service"):
        assert (ref["service"] == team).any(), team
    assert 0.05 < (ref["service_category"] != "").mean() < 0.2


def test_patients_demographics_are_raw_labels(tables):
    p = tables["patients"]
    ref = ReferenceData(StudyConfig())
    letters = p["ethnicity"].str.fullmatch(r"[A-Z]|99")
    assert 0.4 < letters.mean() < 0.7                                    # NHS ethnic category letters
    known = set(ref.ethnicity["value"].str.lower()) | {""}
    assert p["ethnicity"].str.lower().isin(known).all()                  # ONS labels, any case
    assert p["employment_status"].str.lower().isin(set(ref.employment["value"]) | {""}).all()
    assert 0.03 < (p["death_date"] != "").mean() < 0.12
