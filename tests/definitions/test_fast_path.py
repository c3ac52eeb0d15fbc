"""why.csv as `trdpath compare` writes it (decoded in Arrow from integer codes): identifiers neutralised, each
definition's population kept.

A patient id that is a spreadsheet formula is written with the leading quote (trdpath.safety); a patient outside a
definition's population (reu2 is 70 at the index date, outside reutfors_2018's 18-69) has no rows for it but keeps
its rows for a definition whose population holds it (maudsley)."""

from __future__ import annotations

import datetime as dt

import pandas as pd

from definitions.test_spec_definitions import _tables
from trdpath.definitions import shipped_definitions
from trdpath.definitions.compare import compare_tables

DEFINITIONS = list(shipped_definitions().values())


def test_why_neutralises_identifiers_and_keeps_the_population(tmp_path):
    tables = {name: frame.copy() for name, frame in _tables().items()}
    for frame in tables.values():
        frame["patient_id"] = frame["patient_id"].replace({"mau2": "=HYPERLINK(1)"})
    comparison = compare_tables(tables, DEFINITIONS, None, dt.date(2022, 12, 31))
    comparison.write_why(tmp_path / "why.csv")
    why = pd.read_csv(tmp_path / "why.csv", dtype=str, keep_default_na=False)
    assert "'=HYPERLINK(1)" in set(why.patient_id) and "=HYPERLINK(1)" not in set(why.patient_id)
    assert "reu2" not in set(why[why.definition == "reutfors_2018"].patient_id)
    assert "reu2" in set(why[why.definition == "maudsley"].patient_id)
