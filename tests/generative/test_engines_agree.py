"""Random valid extracts: every engine agrees with the reference, and the reference keeps its promises.

Hypothesis builds a few patients with random diagnoses and prescription histories whose gaps and
durations cluster around the thresholds of the rules (27/28/29 days for a trial, 30/31 for an
era gap, 183/184 for an episode gap, doses just below, at and above the minimum), written with
generic or brand names, dose text, mixed case and ATC codes, under a few study configurations.

- ``test_engine_agrees_with_reference`` runs on each engine of tests/conftest.py ENGINES except
  the reference and the batched ones (PySpark: ~20 s per classification), one example per
  classification, comparing every column the reference defines (the contract columns and the
  extra ones); it is marked ``generative``; add engines to ENGINES there.
- ``test_batched_engine_agrees_with_reference`` runs on every engine but the reference, PySpark
  included: each Hypothesis example is a batch of extracts that share a configuration and an
  explicit index date, merged into one extract and classified in one run (tests/spec/batching.py);
  every patient is compared with the reference run on its own extract. An example whose index date
  is the extract's latest date holds a single extract (merging would move that date).
- The ``test_reference_*`` tests check properties of the reference itself that follow from the
  rules whatever the input: invariants between the output columns, and that how a drug or a date
  is written (brand or generic, case, dose text, ATC code, strings or typed values, row order)
  does not change the result.
"""

from __future__ import annotations

import datetime as dt
import os

import pandas as pd
import pytest
from hypothesis import assume, HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from spec.batching import Case, classify_in_batches
from trdpath.config import config_from_dict
from trdpath.in_memory import OUTPUT_COLUMNS, classify_in_memory

# The engines must agree with the reference on every column it defines: the contract columns,
# the comorbidity flags, age, died, the demographic groups, referral counts, treatment_sequence.
COMPARED_COLUMNS = OUTPUT_COLUMNS

SETTINGS = settings(
    max_examples=60,
    deadline=None,
    derandomize=True,  # the same examples on every run: tests are deterministic
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
# A database engine costs seconds per call whatever the size of the extract, so the engine test
# packs more patients into fewer examples (15 x up to 20 patients by default). Set
# TRDPATH_GENERATIVE_EXAMPLES for a longer search, e.g. 500 before a release.
ENGINE_SETTINGS = settings(SETTINGS, max_examples=int(os.environ.get("TRDPATH_GENERATIVE_EXAMPLES", "15")))
# The batched test: each example is one engine run of several extracts (PySpark: ~20 s a run).
# No shrinking: each step would cost a Spark run; the failure message names the patient and
# columns, and the example's extracts are printed by Hypothesis.
BATCH_SETTINGS = settings(SETTINGS, max_examples=int(os.environ.get("TRDPATH_GENERATIVE_BATCHES", "6")),
                          phases=[Phase.explicit, Phase.reuse, Phase.generate])
EXTRACTS_PER_BATCH = 5

BASE_DATE = dt.date(2019, 1, 1)

# ingredient -> (ways of writing it, ATC code, doses to draw: below / at / above the minimum)
DRUGS = {
    "sertraline": (["sertraline", "Sertraline 50mg tablets", "LUSTRAL"], "N06AB06", [25.0, 50.0, 100.0]),
    "citalopram": (["citalopram", "Cipramil 20 mg", "CITALOPRAM"], "N06AB04", [10.0, 20.0, 40.0]),
    "mirtazapine": (["mirtazapine", "Zispin SolTab 30mg", "Mirtazapine15mg"], "N06AX11", [15.0, 30.0, 45.0]),
    "venlafaxine": (["venlafaxine", "Efexor XL 75mg", "venlafaxine m/r"], "N06AX16", [37.5, 75.0, 150.0]),
    "lithium": (["lithium carbonate", "Priadel 400mg", "LITHIUM"], "N05AN01", [400.0, 800.0]),
    "quetiapine": (["quetiapine", "Seroquel XL", "Quetiapine 25mg"], "N05AH04", [25.0, 150.0]),
    "paracetamol": (["paracetamol 500mg"], "N02BE01", [1000.0]),
}

# Day gaps and durations near the rules' thresholds (study-definition.md 3), plus some ordinary values.
GAPS = st.one_of(st.sampled_from([30, 31, 28, 29, 183, 184]), st.sampled_from([0, 1, 27, -1, -20, 60]),
                 st.integers(-40, 400))
DURATIONS = st.one_of(st.sampled_from([28, 29, 56, 90, 0, 1, 27, 30, 31]), st.integers(0, 200))
DEPRESSION_CODES = ["F32.1", "f322", "F33.1", "F32.3", "F33", "f33.3"]
OTHER_CODES = ["F31.0", "F20.0", "F01.1", "G40.9", "F41.1", "F43.1", "X84", "F60.3", "I10", "E11.9",
               "F10.2", "Z91.5"]
ANTIDEPRESSANTS = ("sertraline", "citalopram", "mirtazapine", "venlafaxine")
# Antidepressants more often than augmenting agents, so that many histories reach two trials.
INGREDIENTS = list(ANTIDEPRESSANTS) * 2 + ["lithium", "quetiapine", "paracetamol"]


@st.composite
def prescription_rows(draw, patient_id: str) -> list[dict]:
    """A history where each prescription starts a threshold-sized gap after the previous one's
    start (hitting adequacy dates: start + 28) or end (hitting era and episode gaps: 30/31,
    183/184), often of the same drug again, then perhaps an augmenting agent started near an
    antidepressant's adequacy date or end (overlap of 1 vs 0 days)."""
    rows: list[dict] = []
    previous_start = previous_end = BASE_DATE + dt.timedelta(days=draw(st.integers(0, 60)))
    ingredient = draw(st.sampled_from(INGREDIENTS))
    # Hypothesis favours the first element of sampled_from: the common case comes first.
    count = draw(st.integers(3, 9)) if draw(st.sampled_from([True] * 4 + [False])) else draw(st.integers(0, 9))
    for number in range(count):
        if number and draw(st.booleans()):  # half the time: the same drug again
            ingredient = rows[-1]["_ingredient"]
        elif number:
            ingredient = draw(st.sampled_from(INGREDIENTS))
        anchor = draw(st.sampled_from([previous_start, previous_end]))
        start = anchor + dt.timedelta(days=draw(GAPS)) if number else anchor
        start = max(start, BASE_DATE)
        names, atc, doses = DRUGS[ingredient]
        duration = draw(DURATIONS)
        how_long = draw(st.sampled_from(["end_date", "days_supply", "default"]))
        rows.append({
            "_ingredient": ingredient,
            "patient_id": patient_id,
            "drug": draw(st.sampled_from(names)),
            "start_date": start,
            "end_date": start + dt.timedelta(days=duration) if how_long == "end_date" else None,
            "days_supply": duration if how_long == "days_supply" else None,
            "daily_dose_mg": draw(st.one_of(st.sampled_from(doses), st.none(), st.just(doses[-1]))),
            "atc_code": draw(st.sampled_from([None, None, atc])),
        })
        previous_start = start
        previous_end = start + dt.timedelta(days=duration if how_long != "default" else 28)
    antidepressant_rows = [r for r in rows if r["_ingredient"] in ANTIDEPRESSANTS][::-1]
    if antidepressant_rows and draw(st.sampled_from([True, False])):
        row = draw(st.sampled_from(antidepressant_rows))
        supply = row["days_supply"] if row["days_supply"] is not None else 28
        row_end = row["end_date"] or row["start_date"] + dt.timedelta(days=supply)
        start = draw(st.sampled_from([
            row["start_date"] + dt.timedelta(days=28), row["start_date"] + dt.timedelta(days=29),
            row_end - dt.timedelta(days=1), row_end, row["start_date"] + dt.timedelta(days=60)]))
        names, atc, doses = DRUGS[draw(st.sampled_from(["lithium", "quetiapine"]))]
        rows.append({
            "_ingredient": "augmenting", "patient_id": patient_id, "drug": draw(st.sampled_from(names)),
            "start_date": start, "end_date": start + dt.timedelta(days=draw(DURATIONS)),
            "days_supply": None, "daily_dose_mg": doses[-1], "atc_code": None,
        })
    for row in rows:
        del row["_ingredient"]
    return rows


@st.composite
def extract_tables(draw, max_patients: int = 4):
    """Tables with typed values for one to max_patients patients."""
    patients, diagnoses, prescriptions = [], [], []
    for number in range(draw(st.integers(1, max_patients))):
        patient_id = f"{number:03d}"  # ids that look numeric must stay strings
        birth = draw(st.sampled_from([dt.date(1985, 7, 15), dt.date(1960, 3, 1), dt.date(1990, 2, 28),
                                      dt.date(2003, 1, 10), None]))
        patients.append({"patient_id": patient_id, "birth_date": birth, "sex": "F"})
        codes = []
        # Hypothesis favours the first element of sampled_from: the common case comes first.
        if draw(st.sampled_from([True] * 9 + [False])):  # a depression code for most patients
            codes += draw(st.lists(st.sampled_from(DEPRESSION_CODES), min_size=1, max_size=2))
        if draw(st.sampled_from([False, False, True])):  # an exclusion or comorbidity for some
            codes += draw(st.lists(st.sampled_from(OTHER_CODES), min_size=1, max_size=2))
        for code in codes:
            # mostly before the prescriptions; sometimes late, after an explicit index date
            date = BASE_DATE + dt.timedelta(days=draw(st.one_of(st.integers(-1000, 0), st.integers(-1000, 900))))
            diagnoses.append({"patient_id": patient_id, "code": code, "date": date})
        prescriptions += draw(prescription_rows(patient_id))
    tables = {
        "patients": pd.DataFrame(patients, columns=["patient_id", "birth_date", "sex"]),
        "diagnoses": pd.DataFrame(diagnoses, columns=["patient_id", "code", "date"]),
        "prescriptions": pd.DataFrame(prescriptions, columns=[
            "patient_id", "drug", "start_date", "end_date", "days_supply", "daily_dose_mg", "atc_code"]),
    }
    tables["prescriptions"]["days_supply"] = tables["prescriptions"]["days_supply"].astype("Int64")
    return tables


@st.composite
def configs(draw):
    return config_from_dict({
        "treatment": {"unknown_dose": draw(st.sampled_from(["adequate", "inadequate"]))},
        "trd": {"failed_trials": draw(st.sampled_from([2, 2, 2, 1, 3])),
                "augmentation_counts": draw(st.sampled_from([True, True, False]))},
    })


@st.composite
def index_dates(draw):
    """None (the extract's latest date) two times in three, else a date within the histories."""
    return draw(st.sampled_from([None, None, BASE_DATE + dt.timedelta(days=draw(st.integers(100, 900)))]))


@st.composite
def extracts(draw, max_patients: int = 4):
    """(tables with typed values, config, index_date) for one to max_patients patients."""
    tables = draw(extract_tables(max_patients))
    return tables, draw(configs()), draw(index_dates())


@st.composite
def extract_batches(draw, size: int = EXTRACTS_PER_BATCH, max_patients: int = 20) -> list[Case]:
    """Cases that can share one engine run: `size` extracts under one configuration and one explicit
    index date, or, when the index date is the extract's latest date, a single extract."""
    config = draw(configs())
    # A given index date two times in three (index_dates() has it the other way round): most runs
    # are full batches. Hypothesis favours the first element of sampled_from.
    if draw(st.sampled_from([True, True, False])):
        index_date = BASE_DATE + dt.timedelta(days=draw(st.integers(100, 900)))
    else:
        index_date = None
    count = size if index_date is not None else 1
    return [Case(draw(extract_tables(max_patients)), config, index_date, label=f"extract {number}")
            for number in range(count)]


def as_strings(tables: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """The same tables as a CSV reader would give them: every value a string, missing as None."""
    def text(value):
        if value is None or value is pd.NA or (isinstance(value, float) and value != value):
            return None
        return str(value)

    return {name: frame.astype(object).map(text) for name, frame in tables.items()}


@pytest.mark.generative
@ENGINE_SETTINGS
@given(extract=extracts(max_patients=20))
def test_engine_agrees_with_reference(engine_under_test, differences, extract):
    tables, config, index_date = extract
    # An empty prescriptions table is refused by the engine's validation ("has a header but no data
    # rows": in a real extract it means a failed export), so it is not a comparable input.
    assume(len(tables["prescriptions"]) > 0)
    expected = classify_in_memory(tables, config, index_date=index_date)
    actual = engine_under_test(tables, config=config, index_date=index_date)
    problems = differences(expected, actual, COMPARED_COLUMNS)
    assert not problems, "\n".join(problems)


@pytest.mark.generative
@BATCH_SETTINGS
@given(cases=extract_batches())
def test_batched_engine_agrees_with_reference(batch_engine_under_test, differences, cases):
    # As above: an extract without prescriptions is not a valid input on its own.
    cases = [case for case in cases if len(case.tables["prescriptions"]) > 0]
    assume(cases)
    classify_in_batches(batch_engine_under_test, cases)
    for case in cases:
        expected = classify_in_memory(case.tables, case.config, index_date=case.index_date)
        problems = differences(expected, case.patients(), COMPARED_COLUMNS)
        assert not problems, f"{case.label} of the batch:\n" + "\n".join(problems)


@SETTINGS
@given(extract=extracts())
def test_reference_invariants(extract):
    """Relations between output columns that the rules guarantee for any input."""
    tables, config, index_date = extract
    result = classify_in_memory(tables, config, index_date=index_date)
    assert list(result["patient_id"]) == list(tables["patients"]["patient_id"])
    for row in result.to_dict("records"):
        assert row["in_cohort"] == (row["exclusion_reason"] is None)
        assert 0 <= row["n_adequate_trials"] <= row["n_antidepressants"]
        assert (row["episode_start"] is None) == (row["n_antidepressants"] == 0)
        sequence = row["treatment_sequence"].split(";") if row["treatment_sequence"] else []
        assert len([s for s in sequence if not s.startswith("+")]) == row["n_antidepressants"]
        if row["trd"]:
            assert row["in_cohort"]
            assert row["n_adequate_trials"] >= config.trd.failed_trials
            # a next step comes strictly after an adequacy date, itself >= episode start + min_trial_days
            assert (row["trd_date"] - row["episode_start"]).days > config.treatment.min_trial_days
            level = row["n_antidepressants"]
            assert row["resistance_level"] == ("4+" if level >= 4 else str(level))
        else:
            assert row["trd_date"] is None and row["augmented"] is False
            assert row["resistance_level"] == ("MDD" if row["in_cohort"] else None)
        if row["augmented"]:
            assert config.trd.augmentation_counts


def _with_atc_codes(tables: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    prescriptions = tables["prescriptions"].copy()
    atc_by_name = {name: atc for names, atc, _ in DRUGS.values() for name in names}
    prescriptions["atc_code"] = [atc_by_name[d] for d in prescriptions["drug"]]
    return {**tables, "prescriptions": prescriptions}


def _renamed(tables: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    prescriptions = tables["prescriptions"].copy()
    prescriptions["drug"] = [f"{d.upper()} 10mg/5ml ORAL" for d in prescriptions["drug"]]
    return {**tables, "prescriptions": prescriptions}


def _reversed(tables: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    return {name: frame.iloc[::-1].reset_index(drop=True) for name, frame in tables.items()}


@SETTINGS
@given(extract=extracts())
def test_reference_ignores_how_the_extract_is_written(differences, extract):
    """ATC codes, upper case, dose text, reversed row order and string values change nothing."""
    tables, config, index_date = extract
    result = classify_in_memory(tables, config, index_date=index_date)
    columns = list(result.columns)
    for variant in (_with_atc_codes, _renamed, _reversed, as_strings):
        other = classify_in_memory(variant(tables), config, index_date=index_date)
        problems = differences(result, other, columns)
        assert not problems, variant.__name__ + ":\n" + "\n".join(problems)
