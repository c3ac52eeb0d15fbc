"""The two guards of trdpath.safety: credentials masked, spreadsheet formulas neutralised."""

import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import given, strategies as st

from trdpath.safety import mask_credentials, neutralise_arrow, neutralise_cell, neutralise_frame


@pytest.mark.parametrize("text, expected", [
    ("postgresql://alice:s3cret@db.local/trd?schema=cdm", "postgresql://alice:***@db.local/trd?schema=cdm"),
    ("spark://user:pw@host:7077", "spark://user:***@host:7077"),
    ("mysql://root:hunter2@127.0.0.1/x", "mysql://root:***@127.0.0.1/x"),
    ("could not connect to postgresql://u:p%40ss@h/db: refused", "could not connect to postgresql://u:***@h/db: refused"),
    ("host=h dbname=d password=topsecret user=u", "host=h dbname=d password=*** user=u"),
    ("?sslmode=require&password=abc&schema=x", "?sslmode=require&password=***&schema=x"),
    ("PGPASSWORD='x y' psql", "PGPASSWORD='***' psql"),
    ("postgresql://alice@db/trd", "postgresql://alice@db/trd"),  # no password: unchanged
    ("extract/ with no url", "extract/ with no url"),
])
def test_mask_credentials(text, expected):
    assert mask_credentials(text) == expected


@given(user=st.from_regex(r"[a-z]{1,8}", fullmatch=True), secret=st.from_regex(r"[A-Za-z0-9!$%^*()_~]{4,20}", fullmatch=True))
def test_a_password_never_survives_in_a_url(user, secret):
    masked = mask_credentials(f"error opening postgresql://{user}:{secret}@127.0.0.1:5432/db?schema=s")
    assert masked == f"error opening postgresql://{user}:***@127.0.0.1:5432/db?schema=s"


@pytest.mark.parametrize("value, expected", [
    ("=HYPERLINK(\"http://x\")", "'=HYPERLINK(\"http://x\")"),
    ("+cmd|' /C calc'!A0", "'+cmd|' /C calc'!A0"),
    ("-2+3", "'-2+3"),
    ("@SUM(1)", "'@SUM(1)"),
    ("\tx", "'\tx"),
    ("\rx", "'\rx"),
    ("-5", "-5"),            # a plain number cannot run anything
    ("+1.5e3", "+1.5e3"),
    ("-1095016967997700156", "-1095016967997700156"),  # a 64-bit id written as text stays exact
    ("Sertraline", "Sertraline"),
    ("", ""),
    (12, 12),
    (None, None),
])
def test_neutralise_cell(value, expected):
    assert neutralise_cell(value) == expected


@given(st.lists(st.one_of(st.none(), st.text(max_size=12)), min_size=1, max_size=30))
def test_frame_and_arrow_agree_with_the_cell_rule(values):
    expected = [neutralise_cell(v) for v in values]
    frame = neutralise_frame(pd.DataFrame({"t": pd.Series(values, dtype=object), "n": range(len(values))}))
    assert frame["t"].tolist() == expected
    assert frame["n"].tolist() == list(range(len(values)))
    table = neutralise_arrow(pa.table({"t": pa.array(values, pa.string())}))
    assert table.column("t").to_pylist() == expected
