"""Helpers for the early-identification tests: tables -> a validated extract on a backend."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from backends.conftest import postgres_con, postgres_server, postgres_url, spark_con  # noqa: F401 (fixtures)
from trdpath import engines
from trdpath.sources.open import with_row_numbers as _with_row_numbers
from trdpath.config import StudyConfig
from trdpath.early.timeline import EPOCH, build_timeline, status_at
from trdpath.sources import Extract
from trdpath.sources.validate import validate_extract

NAMES = ("patients", "diagnoses", "prescriptions", "referrals", "notes")


def open_tables(tables: dict[str, pd.DataFrame], con=None):
    """(connection, Extract): validated on DuckDB like api.classify_tables, then moved to `con`."""
    duck = engines.connect("duckdb")
    raw = {name: duck.create_table(f"raw_{name}", _with_row_numbers(frame), temp=True) for name, frame in tables.items()}
    extract = validate_extract(duck, raw, {name: f"{name} table" for name in tables}, source="in-memory tables")
    if con is None or con.name == "duckdb" and con is duck:
        return duck, extract
    names = [n for n in NAMES if getattr(extract, n) is not None]
    typed = {name: duck.execute(getattr(extract, name)) for name in names}
    loaded = engines.load_tables(con, typed, schemas={name: getattr(extract, name).schema() for name in names})
    return con, Extract(**{n: loaded.get(n) for n in NAMES}, source=extract.source,
                        date_bounds=extract.date_bounds, quality_counts=extract.quality_counts)


def statuses(con, extract, config: StudyConfig, dates: list[dt.date]) -> pd.DataFrame:
    """status_at for `dates` as pandas, with trd_date and episode_start as dates."""
    frame = con.execute(status_at(build_timeline(con, extract, config, max(dates)), dates))
    frame["as_of_date"] = pd.to_datetime(frame["as_of_date"]).dt.date
    for day, date in (("trd_day", "trd_date"), ("episode_start", "episode_start_date")):
        days = pd.to_numeric(frame[day])
        frame[date] = [None if pd.isna(v) else EPOCH + dt.timedelta(days=int(v)) for v in days]
    return frame


INVARIANT_COLUMNS = ("in_cohort", "trd", "trd_date", "resistance_level", "n_adequate_trials", "n_antidepressants",
                     "episode_start")


def invariant_problems(status: pd.DataFrame, classified: pd.DataFrame, as_of: dt.date) -> list[str]:
    """Differences between the as-of stage columns and classify --index-date as_of, per patient."""
    s = status[status["as_of_date"] == as_of].set_index("patient_id")
    c = classified.set_index("patient_id")
    problems = []
    if sorted(s.index) != sorted(c.index):
        return [f"{as_of}: patients differ"]
    s = s.loc[c.index]
    mine = {"in_cohort": s["in_cohort"], "trd": s["trd"], "trd_date": s["trd_date"],
            "resistance_level": s["resistance_level"], "n_adequate_trials": s["n_adequate_trials"],
            "n_antidepressants": s["n_antidepressants"], "episode_start": s["episode_start_date"]}
    for col in INVARIANT_COLUMNS:
        for pid in c.index:
            a, b = c.at[pid, col], mine[col].at[pid]
            a = None if a is None or (not isinstance(a, str) and pd.isna(a)) else (int(a) if col.startswith("n_") else a)
            b = None if b is None or (not isinstance(b, str) and pd.isna(b)) else (int(b) if col.startswith("n_") else b)
            if isinstance(a, (bool,)) or hasattr(a, "item"):
                a = a.item() if hasattr(a, "item") else a
            if hasattr(b, "item"):
                b = b.item()
            if a != b:
                problems.append(f"{as_of} patient {pid} {col}: classify {a!r}, as-of {b!r}")
    return problems


@pytest.fixture
def duck():
    return engines.connect("duckdb")
