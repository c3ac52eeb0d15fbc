"""The worklist rows written in SQL (assemble.py) equal those of the pandas implementation
(worklist._assemble), a second, independent writing of the same rules, on the same engine parts."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trdpath.config import StudyConfig
from trdpath.early.assemble import assemble_arrow
from trdpath.early.timeline import build_timeline
from trdpath.early.worklist import (WorklistSettings, _assemble, contacts_as_of, dose_events, load_rules,
                                    worklist_parts)
from trdpath.sources.open import open_source

D = dt.date


@pytest.fixture(scope="module")
def parts(tmp_path_factory):
    """The engine parts of a 400-patient synthetic extract on several dates (one timeline)."""
    from trdpath.synth import generate

    folder = tmp_path_factory.mktemp("assemble") / "extract"
    generate(folder, 400, seed=5)
    config = StudyConfig()
    dates = [D(2019, 6, 30), D(2020, 3, 31), D(2020, 12, 31), D(2021, 6, 30)]
    out = {}
    with open_source(folder, config) as (con, extract):
        t = build_timeline(con, extract, config, max(dates))
        doses = dose_events(t, extract)
        for date in dates:
            out[date] = [con.execute(p) for p in worklist_parts(t, doses, contacts_as_of(extract, date), date)]
    return t, out


def _both(t, frames, date, rules, worklist_settings):
    old = _assemble(*frames, t, date, rules, worklist_settings)
    new = assemble_arrow(*(pa.Table.from_pandas(f, preserve_index=False) for f in frames), t.ingredients, date,
                         rules, worklist_settings, t.config)
    return old, new


def _equal(old: pd.DataFrame, new: pd.DataFrame) -> None:
    assert list(old.columns) == list(new.columns)
    for column in old.columns:  # None and NaN both mean missing
        a = old[column].astype(object).where(old[column].notna(), None).tolist()
        b = new[column].astype(object).where(new[column].notna(), None).tolist()
        assert a == b, column


def test_sql_rows_equal_pandas_rows(parts):
    t, by_date = parts
    rules = load_rules()
    seen = set()
    for date, frames in by_date.items():
        old, new = _both(t, frames, date, rules, WorklistSettings())
        _equal(old, new)
        seen |= set(new["stage"]) | {("sub", v) for v in new["subtherapeutic_held"]}
        assert len(new) > 50
    # Not vacuous: every stage and both sub-therapeutic values occurred somewhere.
    assert {"0", "1", "2", "TRD", ("sub", True), ("sub", False)} <= seen


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(care=st.integers(0, 400), inertia=st.integers(0, 400), gap=st.integers(0, 400), date_index=st.integers(0, 3))
def test_sql_rows_equal_pandas_rows_for_any_thresholds(parts, care, inertia, gap, date_index):
    """Thresholds move rows in and out of care and switch the flags, hence the rules and the reasons."""
    t, by_date = parts
    date = sorted(by_date)[date_index]
    worklist_settings = WorklistSettings(care_window_days=care, inertia_days=inertia, contact_gap_days=gap)
    old, new = _both(t, by_date[date], date, load_rules(), worklist_settings)
    _equal(old, new)
