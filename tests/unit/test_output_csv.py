"""patients.csv: quotes only where a value needs them, whichever of the two writers runs.

Arrow's writer takes the usual case and refuses text holding a delimiter, quote or line break;
DuckDB's then rewrites the file. Both must give the same file, read back by Python's own csv
module (an independent reader) as the values written.
"""

from __future__ import annotations

import csv
import datetime as dt

import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from trdpath.output import _write_csv_quoting, write_csv


def read_back(path) -> list[list[str]]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.reader(f))


def test_plain_values_written_by_hand_expected_text(tmp_path):
    table = pa.table({
        "patient_id": ["007", "P2"],
        "trd": [True, None],
        "n": pa.array([3, None], pa.int64()),
        "trd_date": pa.array([dt.date(2021, 10, 3), None], pa.date32()),
        "treatment_sequence": ["sertraline;+lithium", ""],
    })
    write_csv(table, tmp_path / "p.csv")
    assert (tmp_path / "p.csv").read_text() == (
        "patient_id,trd,n,trd_date,treatment_sequence\n"
        "007,true,3,2021-10-03,sertraline;+lithium\n"
        "P2,,,,\n"
    )


def test_values_needing_quotes_fall_back_to_quoting_writer(tmp_path):
    table = pa.table({"patient_id": ["a", "b,c", 'd"e', "f\ng"], "treatment_sequence": ["", None, "x", "y"]})
    write_csv(table, tmp_path / "p.csv")
    assert (tmp_path / "p.csv").read_text() == (
        'patient_id,treatment_sequence\na,\n"b,c",\n"d""e",x\n"f\ng",y\n'
    )


texts = st.one_of(st.none(), st.text(alphabet=st.sampled_from(list('ab ,;"\n\r+é')), max_size=6))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(texts, texts, st.one_of(st.none(), st.booleans())), min_size=1, max_size=8))
def test_both_writers_agree_and_read_back(tmp_path_factory, rows):
    folder = tmp_path_factory.mktemp("csv")
    table = pa.table({"a": [r[0] for r in rows], "b": [r[1] for r in rows], "flag": pa.array([r[2] for r in rows], pa.bool_())})
    write_csv(table, folder / "auto.csv")
    _write_csv_quoting(table, folder / "quoting.csv")
    assert (folder / "auto.csv").read_bytes() == (folder / "quoting.csv").read_bytes()
    expected = [["a", "b", "flag"]] + [
        [r[0] or "", r[1] or "", "" if r[2] is None else str(r[2]).lower()] for r in rows]
    assert read_back(folder / "auto.csv") == expected
