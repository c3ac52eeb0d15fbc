"""pathway_steps.csv and .parquet written through Arrow (issue 15) are byte for byte what pandas wrote before.

The second implementation is pandas itself: the formula guard's pandas version (trdpath.safety.neutralise_frame)
and DataFrame.to_csv / to_parquet, on edge values (missing values, dates, an all-missing date column, unicode,
delimiters, quotes and line breaks, cells starting with = + - @ that the guard must or must not neutralise).
"""

from __future__ import annotations

import csv
import datetime as dt

import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from trdpath.safety import neutralise_frame
from trdpath.stats.pathways import STEPS_FILE, STEPS_PARQUET, write_steps


def steps_frame(ids: list, drugs: list) -> pd.DataFrame:
    n = len(ids)
    day = [dt.date(2020, 1, 1) + dt.timedelta(days=37 * i) if i % 3 else None for i in range(n)]
    return pd.DataFrame({
        "patient_id": ids, "position": list(range(1, n + 1)),
        "line": pd.array([i if i % 2 else None for i in range(n)], dtype="Int64"),
        "drug": drugs, "role": ["antidepressant"] * n, "step": ["switch"] * n, "adequacy": ["adequate"] * n,
        "episode_start": [dt.date(2019, 12, 31)] * n, "start_date": day, "first_era_end": day,
        "adequacy_date": [None] * n,  # an all-missing date column
    })


def pandas_bytes(steps: pd.DataFrame, folder) -> tuple[bytes, bytes]:
    neutralise_frame(steps).to_csv(folder / "pandas.csv", index=False)
    steps.to_parquet(folder / "pandas.parquet", index=False)
    return (folder / "pandas.csv").read_bytes(), (folder / "pandas.parquet").read_bytes()


def test_edge_values_as_pandas_writes_them(tmp_path):
    ids = ["P1", "=HYPERLINK(\"x\")", "+cmd", "-5", "@SUM(A1)", "é日本", None, "a,b", 'q"r', "two\nlines"]
    drugs = ["sertraline", "augmentation: lithium", "-x", "=1+1", "", None, "ok", "ok", " lead", "trail "]
    steps = steps_frame(ids, drugs)
    write_steps(steps, tmp_path)
    written = (tmp_path / STEPS_FILE).read_bytes()
    assert (written, (tmp_path / STEPS_PARQUET).read_bytes()) == pandas_bytes(steps, tmp_path)
    rows = list(csv.reader(written.decode("utf-8").splitlines(keepends=True)))
    # By hand: formulas get a leading ', a plain negative number does not; dates ISO; missing values empty.
    assert [r[0] for r in rows[1:5]] == ["P1", "'=HYPERLINK(\"x\")", "'+cmd", "-5"]
    assert rows[2][3] == "augmentation: lithium" and rows[3][3] == "'-x" and rows[4][3] == "'=1+1"
    assert rows[2][2] == "1" and rows[1][2] == "" and rows[2][8] == "2020-02-07" and rows[1][8] == ""


texts = st.one_of(st.none(), st.text(alphabet=st.sampled_from(list("ab1 ,;\"\n=+-@.é'")), max_size=6))


@settings(max_examples=80, deadline=None)
@given(st.lists(st.tuples(texts, texts), min_size=1, max_size=8))
def test_any_text_as_pandas_writes_it(tmp_path_factory, rows):
    folder = tmp_path_factory.mktemp("steps")
    steps = steps_frame([r[0] for r in rows], [r[1] for r in rows])
    write_steps(steps, folder)
    assert ((folder / STEPS_FILE).read_bytes(), (folder / STEPS_PARQUET).read_bytes()) == pandas_bytes(steps, folder)


def test_no_steps_header_only(tmp_path):
    # An extract where nobody has a current episode: the header line alone, as pandas writes it.
    steps = steps_frame(["x"], ["y"]).iloc[0:0]
    write_steps(steps, tmp_path)
    assert (tmp_path / STEPS_FILE).read_text() == ("patient_id,position,line,drug,role,step,adequacy,episode_start,"
                                                  "start_date,first_era_end,adequacy_date\n")
    assert ((tmp_path / STEPS_FILE).read_bytes(), (tmp_path / STEPS_PARQUET).read_bytes()) == pandas_bytes(steps, tmp_path)
