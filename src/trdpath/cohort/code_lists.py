"""ICD-10 code lists as per-patient flags (trd-rules.md 2 and 6).

Codes are compared without the dot and in upper case on the first len(code_from) characters,
inclusive of both ends: `F43.1` matches the range F431..F431 and `X84.9` the range X60..X84.
"""

from __future__ import annotations

import functools
import operator
import re

import ibis

from trdpath.reference import ReferenceData

_ICD10_SHAPE = r"^[A-Z][0-9][0-9A-Z]"


def normalised_code(code: ibis.Value) -> ibis.Value:
    return code.upper().replace(".", "").replace(" ", "")


def in_code_list(code: ibis.Value, ranges: list[tuple[str, str]]) -> ibis.Value:
    """Boolean expression: the normalised `code` falls in any of the ranges."""
    tests = [code.substr(0, len(lo)).between(lo, hi) for lo, hi in ranges]
    return functools.reduce(operator.or_, tests)


def diagnosis_flags(diagnoses: ibis.Table, reference: ReferenceData, lists: list[str], index_date) -> ibis.Table:
    """patient_id, one boolean per code list, and the first depression diagnosis date."""
    dx = diagnoses.filter(diagnoses.date <= index_date)
    dx = dx.mutate(code=normalised_code(dx.code))
    flags = {name: in_code_list(dx.code, reference.code_ranges(name)).max() for name in lists}
    is_depression = in_code_list(dx.code, reference.code_ranges("depression"))
    return dx.group_by("patient_id").agg(
        **flags, first_depression_date=dx.date.min(where=is_depression)
    )


def malformed_codes(diagnoses: ibis.Table) -> ibis.Table:
    """Diagnosis codes that do not look like ICD-10 (letter, digit, digit/letter), for data quality."""
    code = normalised_code(diagnoses.code.fill_null(""))
    return diagnoses.filter(~code.re_search(_ICD10_SHAPE))


def looks_like_icd10(code: str) -> bool:
    return bool(re.match(_ICD10_SHAPE, code.upper().replace(".", "").replace(" ", "")))
