"""neutralise_arrow (the fast path for patients.csv) gives exactly what neutralise_cell, the plain
per-value definition, gives: on any text, nulls, slices and chunks, string and large_string."""

from __future__ import annotations

import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from trdpath.safety import neutralise_arrow, neutralise_cell

TEXT = st.one_of(
    st.none(),
    st.sampled_from(["", "=1+1", "+quetiapine;trazodone", "-5", "+1.5e3", "-", "@SUM(A1)", "\tx", "\rx",
                     "-1095016967997700156", "P001", "é=", " =1", ".5", "-.5e-3", "=", "+", "@"]),
    st.text(max_size=6),
)


@settings(max_examples=300, deadline=None)
@given(values=st.lists(TEXT, max_size=40), chunk=st.integers(1, 9), start=st.integers(0, 5),
       large=st.booleans())
def test_agrees_with_the_per_value_definition(values, chunk, start, large):
    kind = pa.large_string() if large else pa.string()
    column = pa.array(values, kind)
    table = pa.table({"text": column, "n": pa.array(range(len(values)), pa.int64())}).slice(start)
    table = pa.Table.from_batches(table.to_batches(max_chunksize=chunk), table.schema)  # several chunks
    out = neutralise_arrow(table)
    assert out.column("text").to_pylist() == [neutralise_cell(v) for v in values[start:]]
    assert out.column("n").to_pylist() == list(range(start, len(values)))
    assert out.schema == table.schema


def test_hand_made_examples():
    table = pa.table({"id": ["=2+3", "-42", None, "+quetiapine", "plain", "@x"]})
    # by hand: formula-like texts get a leading quote; a plain number and a null stay
    assert neutralise_arrow(table).column("id").to_pylist() == ["'=2+3", "-42", None, "'+quetiapine", "plain", "'@x"]
