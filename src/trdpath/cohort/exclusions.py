"""The cohort rules (study-definition.md 2): one ordered list, taken by the data contract (schema.py), the
Ibis pipeline and the reference engine (in_memory.py), so the order is written once.

A patient is excluded by the first rule they fail, in this order; a patient failing none is in the
cohort. Each engine supplies one condition per rule (`conditions`: reason -> "fails this rule") and
asks for the first failing one with `first_exclusion` (Ibis) or `first_exclusion_of` (plain Python).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import ibis


@dataclass(frozen=True)
class Exclusion:
    reason: str  # the exclusion_reason written to patients.csv and the attrition table
    code_list: str | None = None  # excluded when a diagnosis is in this code list (None: another test)


EXCLUSIONS: tuple[Exclusion, ...] = (
    Exclusion("no_depression_diagnosis"),  # no diagnosis in the depression list
    Exclusion("under_18"),  # age below cohort.min_age at the index date (unknown age: not excluded)
    Exclusion("bipolar_or_mania", "bipolar_or_mania"),
    Exclusion("psychosis", "psychosis"),
    Exclusion("dementia", "dementia"),
    Exclusion("cognitive_or_neurological", "cognitive_or_neurological"),
    Exclusion("no_antidepressant"),  # no antidepressant prescription up to the index date
)
EXCLUSION_REASONS: tuple[str, ...] = tuple(e.reason for e in EXCLUSIONS)
# The code lists whose diagnosis excludes a patient, in rule order.
EXCLUSION_LISTS: tuple[str, ...] = tuple(e.code_list for e in EXCLUSIONS if e.code_list is not None)


def _in_order(conditions: Mapping[str, object]) -> list[tuple[str, object]]:
    """The conditions in rule order; every rule must have exactly one (a missing rule is a bug)."""
    if set(conditions) != set(EXCLUSION_REASONS):
        raise ValueError(f"exclusion conditions {sorted(conditions)} are not the cohort rules {list(EXCLUSION_REASONS)}")
    return [(reason, conditions[reason]) for reason in EXCLUSION_REASONS]


def first_exclusion(conditions: Mapping[str, object]):
    """The exclusion reason as an Ibis string (NULL = in the cohort); conditions are Ibis booleans."""
    return ibis.cases(*[(condition, reason) for reason, condition in _in_order(conditions)], else_=ibis.null("string"))


def first_exclusion_of(conditions: Mapping[str, bool]) -> str | None:
    """The exclusion reason of one patient (None = in the cohort); conditions are Python booleans."""
    return next((reason for reason, fails in _in_order(conditions) if fails), None)
