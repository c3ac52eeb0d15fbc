"""The stage as of a date (trdpath.early.timeline): worked by hand, and equal to classify --index-date D.

The invariant of docs/early-identification.md: for every date D, the as-of stage columns (in_cohort,
trd, trd_date, resistance_level, n_adequate_trials, n_antidepressants, episode_start) equal what the
pipeline gives with the index date D, on the same data, on DuckDB, PostgreSQL and PySpark (a synthetic
extract and a hand-built one) and, with Hypothesis, on random histories near every threshold.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from early.conftest import invariant_problems, open_tables, statuses
from generative.test_engines_agree import BASE_DATE, configs, extract_tables
from trdpath.config import StudyConfig, config_from_dict
from trdpath.errors import UserError
from trdpath.in_memory import classify_in_memory
from trdpath.pipeline import classify_extract
from trdpath.early.timeline import build_timeline

D = dt.date

# One patient, worked by hand with the default rules (study-definition.md 3-4: trial = 28 days at or above
# the minimum dose; sertraline 50 mg, citalopram 20 mg, mirtazapine 15 mg minimum):
#   sertraline 100 mg 2020-01-01..2020-03-01 -> adequacy 2020-01-29 (1 + 28 days): stage 1 from then
#   citalopram  20 mg 2020-03-10..2020-05-10 -> adequacy 2020-04-07 (March 10 + 28): stage 2 from then
#   mirtazapine 30 mg 2020-06-01..2020-08-01 -> a third antidepressant after T2: TRD on 2020-06-01, level 3
# A second patient on sertraline 25 mg (below the minimum) never reaches an adequate trial: stage 0.
PRESCRIPTIONS = pd.DataFrame({
    "patient_id": ["A", "A", "A", "B"],
    "drug": ["sertraline", "citalopram", "mirtazapine", "sertraline"],
    "start_date": ["2020-01-01", "2020-03-10", "2020-06-01", "2020-01-01"],
    "end_date": ["2020-03-01", "2020-05-10", "2020-08-01", "2020-09-01"],
    "daily_dose_mg": ["100", "20", "30", "25"],
})
HAND_TABLES = {
    "patients": pd.DataFrame({"patient_id": ["A", "B"], "birth_date": ["1970-01-01", "1980-05-05"], "sex": ["F", "M"]}),
    "diagnoses": pd.DataFrame({"patient_id": ["A", "B"], "code": ["F32.1", "F33.0"], "date": ["2019-12-01", "2019-12-01"]}),
    "prescriptions": PRESCRIPTIONS,
}
HAND_EXPECTED = [  # (date, patient, stage, trd_date, resistance_level)
    (D(2020, 1, 15), "A", "0", None, "MDD"),
    (D(2020, 1, 28), "A", "0", None, "MDD"),   # the day before adequacy
    (D(2020, 1, 29), "A", "1", None, "MDD"),
    (D(2020, 4, 6), "A", "1", None, "MDD"),
    (D(2020, 4, 7), "A", "2", None, "MDD"),
    (D(2020, 5, 31), "A", "2", None, "MDD"),
    (D(2020, 6, 1), "A", "TRD", D(2020, 6, 1), "3"),
    (D(2020, 9, 1), "A", "TRD", D(2020, 6, 1), "3"),
    (D(2020, 9, 1), "B", "0", None, "MDD"),
]
HAND_DATES = sorted({d for d, *_ in HAND_EXPECTED})


def _hand_check(frame: pd.DataFrame) -> None:
    for date, patient, stage, trd_date, level in HAND_EXPECTED:
        row = frame[(frame.as_of_date == date) & (frame.patient_id == patient)].iloc[0]
        assert (row.stage, row.trd_date, row.resistance_level) == (stage, trd_date, level), (date, patient)


def test_stages_worked_by_hand(duck):
    con, extract = open_tables(HAND_TABLES)
    _hand_check(statuses(con, extract, StudyConfig(), HAND_DATES))


def test_hand_example_equals_classify_at_each_date(duck):
    con, extract = open_tables(HAND_TABLES)
    config = StudyConfig()
    frame = statuses(con, extract, config, HAND_DATES)
    for date in HAND_DATES:
        assert not invariant_problems(frame, classify_extract(con, extract, config, date).patients, date)


def test_episode_gap_below_era_gap_is_refused(duck):
    con, extract = open_tables(HAND_TABLES)
    config = config_from_dict({"treatment": {"episode_gap_days": 10, "era_gap_days": 30}})
    with pytest.raises(UserError, match="episode_gap_days"):
        build_timeline(con, extract, config, D(2020, 9, 1))


def _synthetic_tables(tmp_path_factory, n: int = 250) -> dict[str, pd.DataFrame]:
    from trdpath.synth import generate

    folder = tmp_path_factory.mktemp("early-synth") / "extract"
    generate(folder, n, seed=11)
    return {name: pd.read_csv(folder / f"{name}.csv", dtype=str, keep_default_na=False).replace("", None)
            for name in ("patients", "diagnoses", "prescriptions", "referrals")}


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    return _synthetic_tables(tmp_path_factory)


SYNTH_DATES = [D(2019, 9, 30), D(2020, 6, 30), D(2021, 3, 31)]


@pytest.mark.parametrize("backend", ["duckdb", "postgres", pytest.param("pyspark", marks=[pytest.mark.spark, pytest.mark.slow, pytest.mark.xdist_group("backends")])])
def test_invariant_on_every_backend(backend, synthetic, request):
    fixture = {"duckdb": None, "postgres": "postgres_con", "pyspark": "spark_con"}[backend]
    target = None if fixture is None else request.getfixturevalue(fixture)
    config = config_from_dict({"nlp": {"enabled": False}})
    con, extract = open_tables(synthetic, target)
    dates = SYNTH_DATES if backend != "pyspark" else SYNTH_DATES[1:2]  # Spark: ~20 s per classification
    frame = statuses(con, extract, config, dates)
    problems = []
    for date in dates:
        classified = classify_extract(con, extract, config, date).patients
        problems += invariant_problems(frame, classified, date)
        # Not vacuous: the dates see patients at several stages.
        assert classified.trd.sum() > 0 and (frame[frame.as_of_date == date].stage == "1").sum() > 0
    assert not problems, "\n".join(problems[:20])
    _hand_check(statuses(*open_tables(HAND_TABLES, target), StudyConfig(), HAND_DATES))


@settings(max_examples=30, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(tables=extract_tables(max_patients=6), config=configs(),
       offsets=st.lists(st.integers(0, 900), min_size=1, max_size=4, unique=True))
def test_invariant_property(tables, config, offsets):
    """Random histories near every threshold (tests/generative), random dates: the as-of stage equals
    the reference classification (trdpath.in_memory, which every engine matches) at each date."""
    dates = sorted(BASE_DATE + dt.timedelta(days=o) for o in offsets)
    con, extract = open_tables(tables)
    frame = statuses(con, extract, config, dates)
    problems = []
    for date in dates:
        problems += invariant_problems(frame, classify_in_memory(tables, config, date), date)
    assert not problems, "\n".join(problems)
