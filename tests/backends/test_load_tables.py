"""load_tables gives the same column types and values on DuckDB, PostgreSQL and PySpark."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from trdpath import engines

pytestmark = pytest.mark.xdist_group("backends")

FRAME = pd.DataFrame({
    "patient_id": ["007", "12", None],  # a numeric-looking id stays text
    "start_date": [dt.date(2020, 1, 31), None, dt.date(2021, 2, 28)],
    "stamped": pd.to_datetime(["2020-01-31", None, "2021-02-28"]),  # midnight timestamps are dates
    "in_cohort": [True, None, False],
    "days_supply": pd.array([28, None, 56], dtype="Int64"),
    "daily_dose_mg": [50.0, None, 12.5],
    "nothing": [None, None, None],
})


def test_round_trip_types_and_values(any_con):
    table = engines.load_tables(any_con, {"rows": FRAME})["rows"]
    types = {name: str(dtype) for name, dtype in table.schema().items()}
    assert types == {"patient_id": "string", "start_date": "date", "stamped": "date", "in_cohort": "boolean",
                     "days_supply": "int64", "daily_dose_mg": "float64", "nothing": "string"}
    # Engines order NULLs differently; sort in pandas.
    back = any_con.execute(table).sort_values("daily_dose_mg", na_position="last").reset_index(drop=True)
    assert back["patient_id"].tolist()[:2] == [None, "007"]
    assert back["start_date"].dt.date.tolist()[:2] == [dt.date(2021, 2, 28), dt.date(2020, 1, 31)]
    assert back["stamped"].dt.date.tolist()[:2] == [dt.date(2021, 2, 28), dt.date(2020, 1, 31)]
    assert back["in_cohort"].tolist() == [False, True, None]
    assert back["days_supply"].tolist()[:2] == [56, 28] and pd.isna(back["days_supply"].iloc[2])
    assert back["daily_dose_mg"].tolist()[:2] == [12.5, 50.0]
    assert back["nothing"].isna().all()
    assert back["patient_id"].iloc[2] == "12"


def test_loading_again_replaces_the_table(any_con):
    engines.load_tables(any_con, {"rows": FRAME})
    table = engines.load_tables(any_con, {"rows": FRAME.iloc[:1]})["rows"]
    assert any_con.execute(table.count()) == 1


def test_strip_text_keeps_letters_v_and_f(any_con):
    # ibis' own .strip() on PySpark removes the letters v and f; strip_text must not.
    table = engines.load_tables(any_con, {"names": pd.DataFrame({"drug": [" fluoxetine\t", "venlafaxine v", "f32 "]})})["names"]
    stripped = any_con.execute(table.select(drug=engines.strip_text(table.drug)))["drug"].tolist()
    assert sorted(stripped) == ["f32", "fluoxetine", "venlafaxine v"]


def test_schemas_restore_types_lost_in_pandas(any_con):
    import ibis

    empty_dates = pd.DataFrame({"patient_id": ["1", "2"], "end_date": [None, None], "days_supply": [None, None]})
    schema = ibis.schema({"patient_id": "string", "end_date": "date", "days_supply": "int64"})
    table = engines.load_tables(any_con, {"rx": empty_dates}, schemas={"rx": schema})["rx"]
    assert {k: str(v) for k, v in table.schema().items()} == {
        "patient_id": "string", "end_date": "date", "days_supply": "int64"}
    assert any_con.execute(table.end_date.isnull().all())
