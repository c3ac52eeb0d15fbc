"""The backtest: lead times and PPV worked by hand; per-date stage counts equal classify at each date."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from early.conftest import open_tables
from early.test_as_of import HAND_TABLES, SYNTH_DATES, synthetic  # noqa: F401 (fixture)
from trdpath.config import config_from_dict
from trdpath.early.backtest import backtest_tables, grid, summarise
from trdpath.early.timeline import build_timeline
from trdpath.errors import UserError
from trdpath.pipeline import classify_extract

D = dt.date
NO_DISCLOSURE = config_from_dict({"disclosure": {"enabled": False}, "nlp": {"enabled": False}})


def test_grid_steps_from_the_first_date():
    assert grid(D(2020, 1, 31), D(2020, 4, 30), "month") == [D(2020, 1, 31), D(2020, 2, 29), D(2020, 3, 31), D(2020, 4, 30)]
    with pytest.raises(UserError, match="--every must be one of"):
        grid(D(2020, 1, 1), D(2020, 2, 1), "fortnight")
    with pytest.raises(UserError, match="after --to"):
        grid(D(2020, 3, 1), D(2020, 2, 1), "month")


def test_lead_times_and_ppv_by_hand():
    # Patient A of test_as_of: stage 1 from 2020-01-29, stage 2 from 04-07, TRD on 06-01. B's
    # prescription runs to 2021-06-01, which makes that the index date (the outcome date).
    tables = {**HAND_TABLES, "prescriptions": HAND_TABLES["prescriptions"].assign(
        end_date=["2020-03-01", "2020-05-10", "2020-08-01", "2021-06-01"])}
    con, extract = open_tables(tables)
    dates = grid(D(2020, 1, 15), D(2020, 5, 15), "month")  # 01-15, 02-15, 03-15, 04-15, 05-15
    outcome = D(2021, 6, 1)
    counts, patients = backtest_tables(build_timeline(con, extract, NO_DISCLOSURE, outcome), dates, outcome)
    _, rows = summarise(counts, patients, dates, outcome, NO_DISCLOSURE)
    got = {r["measure"]: r.get("value") for r in rows}
    assert got["TRD cases after the first as-of date"] == 1
    # First grid date at stage 1: 02-15; TRD 06-01: 14 + 31 + 30 + 31 + 1 = 107 days.
    assert got["days from first stage 1 to TRD: median (IQR)"] == "107 (107-107)"
    # First at stage 2: 04-15; to 06-01: 15 + 31 + 1 = 47 days.
    assert got["days from first stage 2 to TRD: median (IQR)"] == "47 (47-47)"
    assert got["patients flagged (stage 2) on some as-of date"] == 1
    # The one flag (04-15) met TRD 47 days later: PPV 1/1 at 6 and at 12 months (both followed up by 2021-06-01).
    assert got["PPV of the flag for TRD within 6 months"].startswith("1.000")
    assert got["PPV of the flag for TRD within 12 months"].startswith("1.000")
    # With disclosure control on, a PPV from one flag is not published.
    _, protected = summarise(counts, patients, dates, outcome, config_from_dict({}))
    assert {r["measure"]: r.get("value") for r in protected}["PPV of the flag for TRD within 6 months"] == "suppressed (small count)"


def test_counts_per_date_equal_classify(synthetic):  # noqa: F811
    # A monthly grid: the stages are computed on each patient's change dates only and carried to the
    # other dates; classify at dates in the middle of runs checks the carrying.
    con, extract = open_tables(synthetic)
    outcome = D(2021, 9, 30)
    dates = grid(D(2019, 12, 31), D(2021, 3, 31), "month")
    counts, _ = backtest_tables(build_timeline(con, extract, NO_DISCLOSURE, outcome), dates, outcome)
    per_date, _ = summarise(counts, _, dates, outcome, NO_DISCLOSURE)
    for date in (dates[0], dates[4], dates[9], dates[-1]):
        c = classify_extract(con, extract, NO_DISCLOSURE, date).patients
        c = c[c.in_cohort & ~c.died]
        stage = pd.Series(["TRD" if t else str(min(n, 2)) for t, n in zip(c.trd, c.n_adequate_trials)])
        row = per_date[per_date.as_of == date].iloc[0]
        for value in ("0", "1", "2", "TRD"):
            assert row.get(f"stage_{value}", 0) == (stage == value).sum(), (date, value)
