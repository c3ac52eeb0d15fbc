"""pandas frames as Arrow tables with one settled type per column, the same for every engine."""

from __future__ import annotations

import datetime as dt

import ibis
import numpy as np
import pandas as pd
import pyarrow as pa

from trdpath.errors import BackendError
from trdpath.values import is_missing as _is_missing  # "" stays text here: validation reads it


def frame_to_arrow(frame: pd.DataFrame) -> pa.Table:
    """A pandas frame as an Arrow table with one settled type per column (see :func:`load_tables`)."""
    arrays, names = [], []
    for column in frame.columns:
        arrays.append(_column_to_arrow(frame[column]))
        names.append(str(column))
    return pa.Table.from_arrays(arrays, names=names) if names else pa.table({})


def _column_to_arrow(series: pd.Series) -> pa.Array:
    dtype = series.dtype
    if pd.api.types.is_datetime64_any_dtype(dtype):
        values = series.dt.tz_localize(None) if getattr(dtype, "tz", None) is not None else series
        non_null = values.dropna()
        if (non_null == non_null.dt.normalize()).all():
            return pa.array(values.dt.date.where(values.notna(), None), type=pa.date32())
        return pa.array(values, type=pa.timestamp("us"))
    if pd.api.types.is_bool_dtype(dtype):
        return pa.array(series, type=pa.bool_(), from_pandas=True)
    if pd.api.types.is_integer_dtype(dtype):
        return pa.array(series, type=pa.int64(), from_pandas=True)
    if pd.api.types.is_float_dtype(dtype):
        return pa.array(series, type=pa.float64(), from_pandas=True)
    # object / string columns: decide from the values that are there.
    values = [None if _is_missing(v) else v for v in series.tolist()]
    present = [v for v in values if v is not None]
    if not present:
        return pa.array(values, type=pa.string())
    if all(isinstance(v, (bool, np.bool_)) for v in present):
        return pa.array([None if v is None else bool(v) for v in values], type=pa.bool_())
    if all(isinstance(v, dt.datetime) for v in present):
        if all(v.time() == dt.time(0) for v in present):
            return pa.array([None if v is None else v.date() for v in values], type=pa.date32())
        return pa.array([None if v is None else pd.Timestamp(v).tz_localize(None).to_pydatetime()
                         for v in values], type=pa.timestamp("us"))
    if all(isinstance(v, dt.date) for v in present):
        return pa.array(values, type=pa.date32())
    if all(isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_)) for v in present):
        return pa.array([None if v is None else int(v) for v in values], type=pa.int64())
    if all(isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, (bool, np.bool_))
           for v in present):
        return pa.array([None if v is None else float(v) for v in values], type=pa.float64())
    return pa.array([None if v is None else str(v) for v in values], type=pa.string())


def _with_types(arrow: pa.Table, schema: ibis.Schema) -> pa.Table:
    target = schema.to_pyarrow()
    columns = []
    for field in arrow.schema:
        column = arrow[field.name]
        if field.name in target.names:
            wanted = target.field(field.name).type
            if column.type != wanted:
                try:
                    column = column.cast(wanted)
                except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
                    raise BackendError(f"Column '{field.name}' cannot be loaded as {wanted}: {exc}") from None
        columns.append(column)
    return pa.Table.from_arrays(columns, names=arrow.schema.names)


def _spark_schema(schema: pa.Schema):
    from pyspark.sql import types as T

    mapping = {
        pa.string(): T.StringType(), pa.large_string(): T.StringType(), pa.bool_(): T.BooleanType(),
        pa.int64(): T.LongType(), pa.float64(): T.DoubleType(), pa.date32(): T.DateType(),
        pa.timestamp("us"): T.TimestampNTZType(),
    }
    fields = []
    for field in schema:
        spark_type = mapping.get(field.type)
        if spark_type is None:
            raise BackendError(f"Column '{field.name}' has type {field.type}, which trdpath does not load into Spark.")
        fields.append(T.StructField(field.name, spark_type, nullable=True))
    return T.StructType(fields)
