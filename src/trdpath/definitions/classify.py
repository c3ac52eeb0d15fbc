"""`trdpath classify --definition FILE|ID`: the usual classification, with TRD decided by one definition.

The extract is classified exactly as by `trdpath classify` (cohort, exposures, eras, episodes: the same
results folder and files), then the chosen definition is evaluated from those stages (as `compare` does)
and its verdict replaces the study rule's in patients.csv / patients.parquet: `trd` and `trd_date` are the
definition's, and `resistance_level` is recomputed from them (study-definition.md 4: MDD for cohort non-TRD,
2 / 3 / 4+ antidepressants in the current episode for TRD). Patients outside the definition's own ages
(population.min_age / max_age) are not TRD under it. The definition file is copied into the results
folder (definition.toml) so the results say which rule made them.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from trdpath.config import StudyConfig
from trdpath.definitions.model import Definition, resolve_definitions
from trdpath.pipeline import Classification, Progress

DEFINITION_TOML = "definition.toml"


def definition_from_option(value: str) -> tuple[Definition, str]:
    """A shipped id or a .toml path -> (the validated definition, its TOML text). UserError names the file, key, value."""
    from importlib import resources

    from trdpath.errors import UserError

    if "," in value:
        raise UserError(f"--definition takes one definition (a shipped id or a .toml file), got {value!r}.")
    (definition,) = resolve_definitions([value])
    path = Path(value)
    if path.is_file():
        text = path.read_text(encoding="utf-8")
    else:
        text = resources.files("trdpath.definitions").joinpath("shipped", f"{definition.id}.toml").read_text(encoding="utf-8")
    return definition, text


def apply_definition(classification: Classification, patients: pa.Table, definition: Definition) -> Classification:
    """The classification with trd, trd_date and resistance_level from the definition's columns of
    compare's patients table (both ordered by patient_id over the same patients)."""
    table = classification.table
    if not patients["patient_id"].equals(table["patient_id"]):
        raise RuntimeError("the definition and the classification hold different patients")
    in_cohort = pc.fill_null(table["in_cohort"], False)
    verdict = pc.fill_null(patients[f"{definition.id}__trd"], False)  # outside the definition's ages: not TRD
    trd = pc.if_else(in_cohort, verdict, table["trd"])
    day = pc.if_else(verdict, patients[f"{definition.id}__date"], pa.scalar(None, pa.date32()))
    n = pc.fill_null(table["n_antidepressants"], 0)
    level = pc.if_else(pc.greater_equal(n, 4), pa.scalar("4+"), pc.cast(n, pa.string()))
    level = pc.if_else(in_cohort, pc.if_else(verdict, level, pa.scalar("MDD")), pa.scalar(None, pa.string()))
    columns = {"trd": trd, "trd_date": day, "resistance_level": level}
    for name, values in columns.items():
        i = table.schema.get_field_index(name)
        field = table.schema.field(i)
        table = table.set_column(i, field, pc.cast(values, field.type))
    return dataclasses.replace(classification, table=table)
