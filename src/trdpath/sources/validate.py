"""Validate raw tables into the typed :class:`~trdpath.sources.Extract`.

Every check names the file, the row and the value, and stops at the first problem in a column:
a user fixes the extract and runs again, and nothing has been written yet. Problems that need
not stop a study (unmapped drug names, odd ethnicity labels) are counted in data_quality.csv
by later stages instead.
"""

from __future__ import annotations

import datetime as pydt
from collections.abc import Callable
from types import SimpleNamespace

import ibis
import ibis.expr.datatypes as dt
import pandas as pd

from trdpath import engines
from trdpath.engines.kinds import ENGINES, Engine
from trdpath.errors import InputError
from trdpath.schema import REQUIRED_TABLES, TABLES, days_supply_is_possible, dose_is_possible
from trdpath.sources import Extract

_ISO_DATE = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}([ T].*)?$"
_NUMBER = r"^[+-]?([0-9]+[.]?[0-9]*|[.][0-9]+)([eE][+-]?[0-9]+)?$"
_DEFAULT_ENGINE = ENGINES["duckdb"]


def _text(col: ibis.Value, engine: Engine = _DEFAULT_ENGINE) -> ibis.Value:
    """A column as trimmed text, with empty strings as NULL (the engine's own safe trim: on PySpark
    ibis' .strip() also strips the letters v and f; see engines.kinds.Capabilities.safe_strip)."""
    s = engine.strip(col.cast("string"))
    return ibis.ifelse(s == "", ibis.null("string"), s)


def _nonempty(col: ibis.Value) -> ibis.Value:
    s = col.cast("string")
    return ibis.ifelse(s == "", ibis.null("string"), s)


def _calendar_date(text: ibis.Value) -> ibis.Value:
    """`YYYY-MM-DD...` text (shape already checked) as a date, NULL if no such day (e.g. 2021-02-30)."""
    y, m, d = (text.substr(start, length).cast("int32") for start, length in ((0, 4), (5, 2), (8, 2)))
    leap = ((y % 4) == 0) & (((y % 100) != 0) | ((y % 400) == 0))
    last = ibis.cases((m == 2, ibis.ifelse(leap, 29, 28)), (m.isin([4, 6, 9, 11]), 30), else_=31)
    real = (m >= 1) & (m <= 12) & (d >= 1) & (d <= last)
    return ibis.ifelse(real, ibis.date(y, m, d), ibis.null("date"))


def _parse_date(col: ibis.Value, engine: Engine = _DEFAULT_ENGINE) -> tuple[ibis.Value, ibis.Value | None]:
    """(parsed date, raw text) for a column that may already be a date, a timestamp or text.
    The text is None for a date or timestamp column, which has nothing that can fail to parse."""
    dtype = col.type()
    if dtype.is_date():
        return col, None
    if dtype.is_timestamp():
        return col.date(), None
    raw = _text(col, engine)
    # Where TRY_CAST is a plain CAST (PostgreSQL), which stops the whole query at the first bad value,
    # text is checked by shape (and dates by the calendar) before it is cast.
    day = raw.substr(0, 10).try_cast("date") if engine.capabilities.try_cast else _calendar_date(raw)
    parsed = ibis.ifelse(raw.re_search(_ISO_DATE), day, ibis.null("date"))
    return parsed, raw


def _parse_number(col: ibis.Value, to: str, engine: Engine = _DEFAULT_ENGINE) -> tuple[ibis.Value, ibis.Value | None]:
    """(parsed number, raw text); the text is None for a numeric column (nothing can fail)."""
    dtype = col.type()
    if dtype.is_numeric():
        if to == "int64" and dtype.is_floating():  # NaN/inf in a typed column: -1 (impossible, counted)
            return ibis.ifelse(col.isnull(), ibis.null("int64"),
                               ibis.ifelse((col >= -1e15) & (col <= 1e15), col, -1).cast(to)), None
        return col.cast(to), None
    raw = _text(col, engine)
    if not engine.capabilities.try_cast:
        number = ibis.ifelse(raw.re_search(_NUMBER), raw.cast("float64"), ibis.null("float64"))
    else:
        number = raw.try_cast("float64")
    if to == "int64":
        # A whole-number column holding NaN, inf or 1e308 cannot become an int64: read it as -1, an
        # impossible value that QUALITY_CHECKS counts and the pipeline ignores (issue 13), not a crash.
        return ibis.ifelse(number.isnull(), ibis.null("int64"),
                           ibis.ifelse((number >= -1e15) & (number <= 1e15), number, -1).cast(to)), raw
    return number.cast(to), raw


def _locate(con, raw: ibis.Table, bad: Callable[[ibis.Table], ibis.Value], column: str):
    """(row number, value) of the first row where `bad` holds. Only runs when a check failed."""
    numbered = raw if "_row" in raw.columns else raw.mutate(_row=ibis.row_number() + 1)
    rows = con.execute(numbered.filter(bad(numbered)).order_by("_row").select("_row", column).limit(1))
    if len(rows):
        return int(rows["_row"].iloc[0]), rows[column].iloc[0]
    return None, None


# Rows with a known data-quality issue, counted per table in the validation scan (data_quality.csv
# reports them); each is a condition on the typed columns. Sources that are not validated here
# (OMOP) get the same counts from the pipeline's own query of these conditions.
QUALITY_CHECKS: dict[str, dict[str, Callable]] = {
    "patients": {
        "no_birth_date": lambda t: t.birth_date.isnull(),
    },
    "prescriptions": {
        "end_before_start": lambda t: t.end_date < t.start_date,
        "no_dose": lambda t: t.daily_dose_mg.isnull(),
        "no_end": lambda t: t.end_date.isnull() & t.days_supply.isnull(),
        # Negative, NaN, infinite or absurd (schema.MAX_*): treated as unknown (issue 13).
        "impossible_dose": lambda t: t.daily_dose_mg.notnull() & ~dose_is_possible(t.daily_dose_mg),
        "impossible_days_supply": lambda t: t.days_supply.notnull() & ~days_supply_is_possible(t.days_supply),
    },
}


def validate_table(con, name: str, raw: ibis.Table, file: str) -> tuple[ibis.Table, dict, dict[str, int]]:
    """Check one raw table; return it typed, with (earliest, latest) of each date column and the
    number of rows failing each of its QUALITY_CHECKS.

    Text sources (CSV) are parsed once into a table in the backend; typed sources (Parquet,
    database tables) stay where they are. A failed check is located (row number, value) by a
    second, slower query that only runs on the way to the error message.
    """
    spec = TABLES[name]
    engine = engines.engine_of(con)
    present = set(raw.columns) - {"_row"}
    missing = [c for c in spec["required"] if c not in present]
    if name == "patients" and not ({"birth_date", "year_of_birth"} & present):
        missing.append("birth_date (or year_of_birth)")
    if missing:
        raise InputError(
            f"missing required column(s) {', '.join(missing)} (found: {', '.join(sorted(present))})",
            file=file,
        )

    columns: dict[str, ibis.Value] = {}
    parsers: dict[str, Callable[[ibis.Table], tuple[ibis.Value, ibis.Value]]] = {}
    for col in spec["required"] + spec["optional"]:
        if col not in present:
            continue
        if col in spec["dates"]:
            parsers[col] = lambda t, c=col: _parse_date(t[c], engine)
        elif col in spec["numbers"]:
            to = "int64" if col in ("days_supply", "year_of_birth") else "float64"
            parsers[col] = lambda t, c=col, to=to: _parse_number(t[c], to, engine)
    needs_parsing = any(not raw[c].type().is_date() and not raw[c].type().is_numeric() for c in parsers)
    for col in spec["required"] + spec["optional"]:
        if col in present and col not in parsers:
            # Text sources (CSV) are trimmed once while parsing; typed sources keep their strings
            # (trimming on every scan of a Parquet file costs more than the rest of the scan).
            columns[col] = _text(raw[col], engine) if needs_parsing else _nonempty(raw[col])
    checked: list[str] = []  # text columns parsed here, whose values can fail to parse
    for col, parse in parsers.items():
        parsed, text = parse(raw)
        columns[col] = parsed
        if text is not None:
            columns[f"_bad_{col}"] = text.notnull() & parsed.isnull()
            checked.append(col)
    staged = raw.select(**columns)
    if needs_parsing:
        staged = engine.stage(con, f"staged_{name}", staged)

    typed = _typed_columns(name, staged)
    dated = [col for col in spec["dates"] if isinstance(typed[col], ibis.Column)]  # not absent (a typed NULL)
    # The date range of each date column and the quality counts come from the same scan.
    checks = QUALITY_CHECKS.get(name, {})
    summary = con.execute(staged.aggregate(
        n_rows=staged.count(), empty_ids=staged.count(where=staged.patient_id.isnull()),
        **{f"bad_{col}": staged[f"_bad_{col}"].any() for col in checked},
        **{f"{bound}_{col}": getattr(typed[col], bound)() for col in dated for bound in ("min", "max")},
        **{f"check_{check}": staged.count(where=condition(SimpleNamespace(**typed))) for check, condition in checks.items()},
        # The patient-level checks in the same scan (they were two more queries of the table).
        **({"n_ids": staged.patient_id.nunique()} if name == "patients" else {}),
        **({"implausible_years": staged.count(where=_implausible_year(staged))}
           if name == "patients" and "year_of_birth" in staged.columns else {}),
    )).iloc[0]
    if summary["n_rows"] == 0 and name in REQUIRED_TABLES:
        raise InputError("has a header but no data rows", file=file)
    for col in checked:
        parse = parsers[col]
        if summary[f"bad_{col}"]:
            row, value = _locate(con, raw, lambda t, p=parse: p(t)[1].notnull() & p(t)[0].isnull(), col)
            kind = "a date (YYYY-MM-DD)" if col in spec["dates"] else "a number"
            raise InputError(f"is not {kind}", file=file, row=row, column=col, value=value)
    if as_count(summary["empty_ids"]):
        row, _ = _locate(con, raw, lambda t: _text(t.patient_id, engine).isnull(), "patient_id")
        raise InputError("patient_id is empty", file=file, row=row, column="patient_id")

    if name == "patients":
        if as_count(summary["n_ids"]) < as_count(summary["n_rows"]):  # no id is empty here: a duplicate
            _locate_duplicate_patient(con, raw, file)
        if "year_of_birth" in staged.columns and as_count(summary["implausible_years"]):
            parsed = raw.mutate(year_of_birth=_parse_number(raw.year_of_birth, "int64", engine)[0])
            row, value = _locate(con, parsed, _implausible_year, "year_of_birth")
            raise InputError("is not a plausible year of birth", file=file, row=row, column="year_of_birth", value=value)
    bounds = {col: (as_date(summary[f"min_{col}"]), as_date(summary[f"max_{col}"])) if col in dated else (None, None)
              for col in spec["dates"]}
    counts = {check: as_count(summary[f"check_{check}"]) for check in checks}
    return staged.select(**typed), bounds, counts


def as_count(value) -> int:
    """A row count from what a backend returns: Spark counts with a condition as a SUM, which is
    NULL (NaN in pandas) when no row has the condition true or false."""
    return 0 if value is None or pd.isna(value) else int(value)


def as_date(value) -> pydt.date | None:
    """A date from what a backend returns for one (date, pandas/NumPy timestamp, NaT or None)."""
    if value is None or value is pd.NaT or (not isinstance(value, pydt.date) and pd.isna(value)):
        return None
    if isinstance(value, (pd.Timestamp, pydt.datetime)):
        return value.date()
    return value


def _implausible_year(t: ibis.Table) -> ibis.Value:
    return (t.year_of_birth < 1850) | (t.year_of_birth > 2200)


def _locate_duplicate_patient(con, raw: ibis.Table, file: str) -> None:
    """Raise the error naming the first patient_id that appears twice (only runs when one does)."""
    numbered = raw if "_row" in raw.columns else raw.mutate(_row=ibis.row_number() + 1)
    numbered = numbered.mutate(patient_id=_text(numbered.patient_id, engines.engine_of(con)))
    dup = (
        numbered.group_by("patient_id")
        .agg(n=numbered.count(), first_row=numbered._row.min(), second_row=numbered._row.max())
        .filter(lambda t: t.n > 1)
        .order_by("first_row")
        .limit(1)
    )
    r = con.execute(dup).iloc[0]
    raise InputError(
        f"patient_id must be unique, but {r['patient_id']!r} appears {int(r['n'])} times "
        f"(rows {int(r['first_row'])} and {int(r['second_row'])})",
        file=file,
        row=int(r["first_row"]),
        column="patient_id",
    )


_TYPES = {
    "patients": {"patient_id": dt.string, "birth_date": dt.date, "sex": dt.string, "ethnicity": dt.string,
                 "employment_status": dt.string, "death_date": dt.date},
    "diagnoses": {"patient_id": dt.string, "code": dt.string, "date": dt.date, "code_system": dt.string},
    "prescriptions": {"patient_id": dt.string, "drug": dt.string, "start_date": dt.date, "end_date": dt.date,
                      "days_supply": dt.int64, "daily_dose_mg": dt.float64, "atc_code": dt.string},
    "referrals": {"patient_id": dt.string, "service": dt.string, "date": dt.date, "service_category": dt.string},
    "notes": {"patient_id": dt.string, "note_id": dt.string, "date": dt.date, "text": dt.string},
}


def _typed_columns(name: str, staged: ibis.Table) -> dict[str, ibis.Value]:
    """The contract's columns of table `name`, typed, as expressions over `staged`."""
    out = {}
    for col, dtype in _TYPES[name].items():
        if name == "patients" and col == "birth_date" and "birth_date" not in staged.columns:
            # Only the year is known: 1 July is the mid-year convention (ages err by at most half a year).
            out[col] = ibis.date(staged.year_of_birth.cast("int32"), 7, 1)
        elif name == "patients" and col == "birth_date" and "year_of_birth" in staged.columns:
            out[col] = staged.birth_date.coalesce(ibis.date(staged.year_of_birth.cast("int32"), 7, 1))
        elif col in staged.columns:
            out[col] = staged[col].cast(dtype)
        else:
            out[col] = ibis.null(dtype)
    return out


def validate_extract(con, raw_tables: dict[str, ibis.Table], files: dict[str, str], source: str) -> Extract:
    checked = {name: validate_table(con, name, table, files[name]) for name, table in raw_tables.items()}
    typed = {name: table for name, (table, _, _) in checked.items()}
    return Extract(
        patients=typed["patients"],
        diagnoses=typed["diagnoses"],
        prescriptions=typed["prescriptions"],
        referrals=typed.get("referrals"),
        notes=typed.get("notes"),
        source=source,
        date_bounds={name: bounds for name, (_, bounds, _) in checked.items()},
        quality_counts={name: counts for name, (_, _, counts) in checked.items()},
    )
