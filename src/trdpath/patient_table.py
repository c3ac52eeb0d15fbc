"""The per-patient table (patients.csv, schema.PATIENT_COLUMNS) as it comes back from the engine:
unpacked, typed the same on every backend, as pandas, and its attrition table."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from trdpath.cohort.code_lists import DiagnosisFlags
from trdpath.cohort.exclusions import EXCLUSION_REASONS
from trdpath.engines.packing import SequencePacking
from trdpath.reference import COMORBIDITY_FLAGS
from trdpath.schema import NLP_COLUMNS, PATIENT_COLUMNS, REFERRAL_COLUMNS

_DATE_COLUMNS = {"trd_day": "trd_date", "episode_day": "episode_start"}
_INTEGER_COLUMNS = ("n_antidepressants", "n_adequate_trials", "age", "age_at_diagnosis", "age_at_death", *REFERRAL_COLUMNS)
_BOOLEAN_COLUMNS = ("in_cohort", "psychotic_symptoms", "augmented", "trd", "died", *COMORBIDITY_FLAGS, *NLP_COLUMNS)
# Columns that are never missing become plain numpy columns in pandas; the others nullable ones.
_PANDAS_NULLABLE = ("age", "age_at_diagnosis", "age_at_death", *NLP_COLUMNS)


def patients_schema() -> pa.Schema:
    """The Arrow types of the per-patient table (the same on every backend)."""
    def kind(col: str) -> pa.DataType:
        if col in _DATE_COLUMNS.values():
            return pa.date32()
        if col in _INTEGER_COLUMNS:
            return pa.int64()
        if col in _BOOLEAN_COLUMNS:
            return pa.bool_()
        return pa.string()
    return pa.schema([(col, kind(col)) for col in PATIENT_COLUMNS])


def finish_patients(table: pa.Table, packing: SequencePacking, labels: dict[int, str], dx: DiagnosisFlags) -> pa.Table:
    """Days since 1970-01-01 -> dates; treatment_sequence from the packed ingredient ids (`labels`:
    ingredient_id -> name, '+name' for augmenting agents); comorbidity flags from the packed
    diagnosis masks where the engine packed them; one type per column whatever the backend;
    contract column order."""
    sequence = _sequences(packing.ids(table), labels)
    table = table.drop_columns(packing.names).append_column("treatment_sequence", sequence)
    if dx.masks:
        masks = {mask: pc.cast(table[mask], pa.int64()).to_numpy() for mask in dx.masks}
        for name in COMORBIDITY_FLAGS:
            if name not in table.column_names:
                table = table.append_column(name, pa.array(dx.unpack(masks, name)))
        table = table.drop_columns(dx.masks)
    for day_col, date_col in _DATE_COLUMNS.items():
        days = pc.cast(table[day_col], pa.int32())
        table = table.append_column(date_col, days.cast(pa.date32())).drop_columns([day_col])
    schema = patients_schema()
    table = table.select(list(PATIENT_COLUMNS))
    # Cast only the columns a backend returned in another type (integer widths differ between engines).
    for i, field in enumerate(schema):
        if table.schema.field(i).type != field.type:
            table = table.set_column(i, field, pc.cast(table.column(i), field.type))
    return table.replace_schema_metadata(None)


def _sequences(ids: np.ndarray, labels: dict[int, str]) -> pa.Array:
    """'name;name;...' per row from a rows x positions matrix of ingredient ids (0 = none).

    The present ids are kept in row-then-position order as one list per row, named with one
    take, and each list joined: a few vectorised passes, whatever the number of positions.
    """
    names = pa.array([labels.get(i) for i in range(max(labels, default=0) + 1)], pa.string())
    present = ids > 0
    offsets = np.zeros(ids.shape[0] + 1, np.int64)
    np.cumsum(present.sum(axis=1), out=offsets[1:])
    lists = pa.LargeListArray.from_arrays(pa.array(offsets), pc.take(names, pa.array(ids[present])))
    return pc.binary_join(lists, ";")


def patients_frame(table: pa.Table) -> pd.DataFrame:
    """The per-patient table as pandas: dates as datetime.date, None for missing text, nullable
    integers for ages and nullable booleans for the note flags (which are empty without notes)."""
    nullable = {pa.int64(): pd.Int64Dtype(), pa.bool_(): pd.BooleanDtype()}
    columns = {}
    for col in table.column_names:
        mapper = nullable.get if col in _PANDAS_NULLABLE else None
        columns[col] = table[col].to_pandas(types_mapper=mapper)
    frame = pd.DataFrame(columns)
    for col in ("exclusion_reason", "depression_code", "resistance_level"):
        frame[col] = frame[col].astype(object).where(frame[col].notna(), None)
    return frame


def attrition_table(patients: pa.Table) -> pd.DataFrame:
    """Each cohort rule with the number remaining after it and the number it excluded."""
    counted = pc.value_counts(patients["exclusion_reason"]).to_pylist()
    counts = {row["values"]: row["counts"] for row in counted if row["values"] is not None}
    remaining = patients.num_rows
    rows = [("extract", remaining, 0)]
    for reason in EXCLUSION_REASONS:
        excluded = counts.get(reason, 0)
        remaining -= excluded
        rows.append((reason, remaining, excluded))
    rows.append(("cohort", remaining, 0))
    return pd.DataFrame(rows, columns=["rule", "remaining", "excluded"])


