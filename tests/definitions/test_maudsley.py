"""The shipped Maudsley definition file gives exactly `trdpath classify`'s answers.

Every case of the existing spec tests (tests/spec/, each with its own configuration and index date)
is evaluated by the definitions reference (trdpath.definitions.reference) and compared with the
study's own reference classification (trdpath.in_memory) on trd, trd_date and resistance_level;
Hypothesis then does the same on random histories around every threshold. The engine's agreement
with both is in test_engine_agrees.py and test_maudsley_engine below.
"""

from __future__ import annotations

import inspect

import pandas as pd
import pytest
from hypothesis import given

from generative.test_engines_agree import SETTINGS, extracts
from spec import test_1_index_date, test_2_cohort, test_3a_drug_names, test_3b_exposures_and_eras, \
    test_3c_adequate_trials, test_3d_episodes, test_4_trd, test_5_patient_characteristics
from spec.conftest import record_spec_cases
from trdpath.config import StudyConfig
from trdpath.definitions import shipped_definitions
from trdpath.definitions.reference import evaluate_in_memory
from trdpath.in_memory import classify_in_memory

MODULES = [test_1_index_date, test_2_cohort, test_3a_drug_names, test_3b_exposures_and_eras,
           test_3c_adequate_trials, test_3d_episodes, test_4_trd, test_5_patient_characteristics]
MAUDSLEY = shipped_definitions()["maudsley"]


def spec_cases():
    cases = []
    for module in MODULES:
        for name, function in inspect.getmembers(module, inspect.isfunction):
            if name.startswith("test_") and list(inspect.signature(function).parameters) == ["spec_test"]:
                cases += list(record_spec_cases(function, f"{module.__name__}::{name}").values())
    return cases


CASES = spec_cases()


def maudsley_differences(tables, config, index_date) -> list[str]:
    config = config or StudyConfig()
    want = classify_in_memory(tables, config, index_date=index_date).set_index("patient_id")
    got, _why = evaluate_in_memory(tables, [MAUDSLEY], config, index_date)
    got = got.set_index("patient_id")
    problems = []
    for pid, row in want.iterrows():
        g = got.loc[pid]
        in_cohort = bool(row["in_cohort"])
        expected = (bool(row["trd"]) if in_cohort else None, row["trd_date"] if in_cohort else None,
                    row["resistance_level"])
        have = (None if pd.isna(g["maudsley__trd"]) else bool(g["maudsley__trd"]),
                None if pd.isna(g["maudsley__date"]) else g["maudsley__date"], g["maudsley__stage"])
        if expected != have:
            problems.append(f"patient {pid}: classify {expected}, maudsley definition {have}")
    return problems


def test_there_are_spec_cases():
    # 8 spec modules with dozens of tests: far more than 40 cases (a guard that the recording works).
    assert len(CASES) > 40


@pytest.mark.parametrize("case", CASES, ids=[c.label.split("::")[-1] for c in CASES])
def test_maudsley_definition_reproduces_spec_case(case):
    assert not maudsley_differences(case.tables, case.config, case.index_date)


@SETTINGS
@given(extracts())
def test_maudsley_definition_agrees_with_classify(example):
    tables, config, index_date = example
    assert not maudsley_differences(tables, config, index_date)
