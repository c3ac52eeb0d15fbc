"""Hypothesis: on random histories around every threshold, the engine (DuckDB) gives exactly the
reference's verdicts, dates, stages and why rows for all twelve definitions."""

from __future__ import annotations

import os

import pandas as pd
from hypothesis import Phase, given, settings

from generative.test_engines_agree import SETTINGS, extracts
from trdpath.definitions import shipped_definitions
from trdpath.definitions.compare import compare_tables
from trdpath.definitions.reference import evaluate_in_memory

DEFINITIONS = list(shipped_definitions().values())


def _cell(value):
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    return str(value)[:10] if hasattr(value, "year") else value


# Each example is one engine run of all twelve definitions (seconds); no shrinking (each step a run):
# the failure message names the patient and column, and Hypothesis prints the example.
@settings(SETTINGS, max_examples=int(os.environ.get("TRDPATH_GENERATIVE_EXAMPLES", "10")),
          phases=[Phase.explicit, Phase.reuse, Phase.generate])
@given(extracts(max_patients=12))
def test_engine_agrees_with_reference(example):
    tables, config, index_date = example
    want, want_why = evaluate_in_memory(tables, DEFINITIONS, config, index_date)
    got = compare_tables(tables, DEFINITIONS, config, index_date)
    have = got.patients.to_pandas().set_index("patient_id")
    problems = []
    for row in want.to_dict("records"):
        for column, value in row.items():
            if column != "patient_id" and _cell(value) != _cell(have.at[row["patient_id"], column]):
                problems.append(f"{row['patient_id']} {column}: reference {value!r}, engine {have.at[row['patient_id'], column]!r}")
    assert not problems, "\n".join(problems)

    def rows(frame):
        return sorted(tuple(str(_cell(v)) for v in r) for r in frame.itertuples(index=False))
    assert rows(want_why) == rows(got.why.to_pandas()), "why.csv rows differ"
