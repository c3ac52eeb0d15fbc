"""Validate raw tables into the typed :class:`~trdpath.sources.Extract`.

Every check names the file, the row and the value, and stops at the first problem in a column:
a user fixes the extract and runs again, and nothing has been written yet. Problems that need
not stop a study (unmapped drug names, odd ethnicity labels) are counted in data_quality.csv
by later stages instead.
"""

from __future__ import annotations

import ibis
import ibis.expr.datatypes as dt

from trdpath.errors import InputError
from trdpath.schema import REQUIRED_TABLES, TABLES
from trdpath.sources import Extract

_ISO_DATE = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}([ T].*)?$"


def _text(col: ibis.Value) -> ibis.Value:
    """A column as trimmed text, with empty strings as NULL."""
    s = col.cast("string").strip()
    return ibis.ifelse(s == "", ibis.null("string"), s)


def _parse_date(col: ibis.Value) -> tuple[ibis.Value, ibis.Value]:
    """(parsed date, raw text) for a column that may already be a date, a timestamp or text."""
    dtype = col.type()
    if dtype.is_date():
        return col, col.cast("string")
    if dtype.is_timestamp():
        return col.date(), col.cast("string")
    raw = _text(col)
    parsed = ibis.ifelse(raw.re_search(_ISO_DATE), raw.substr(0, 10).try_cast("date"), ibis.null("date"))
    return parsed, raw


def _parse_number(col: ibis.Value, to: str) -> tuple[ibis.Value, ibis.Value]:
    dtype = col.type()
    if dtype.is_numeric():
        return col.cast(to), col.cast("string")
    raw = _text(col)
    return raw.try_cast("float64").cast(to), raw


def _first_bad(con, staged: ibis.Table, raw_col: str, parsed_col: str):
    bad = staged.filter(staged[raw_col].notnull() & staged[parsed_col].isnull())
    rows = con.execute(bad.order_by("_row").select("_row", raw_col).limit(1))
    if len(rows):
        return int(rows["_row"].iloc[0]), rows[raw_col].iloc[0]
    return None


def validate_table(con, name: str, raw: ibis.Table, file: str) -> ibis.Table:
    """Check one raw table and return it typed (materialised once in the backend)."""
    spec = TABLES[name]
    present = set(raw.columns)
    missing = [c for c in spec["required"] if c not in present]
    if name == "patients" and not ({"birth_date", "year_of_birth"} & present):
        missing.append("birth_date (or year_of_birth)")
    if missing:
        raise InputError(
            f"missing required column(s) {', '.join(missing)} (found: {', '.join(c for c in raw.columns if c != '_row')})",
            file=file,
        )

    columns: dict[str, ibis.Value] = {"_row": raw["_row"]}
    checks: list[tuple[str, str, str]] = []  # (column, raw column, parsed column)
    for col in spec["required"] + spec["optional"]:
        if col not in present:
            continue
        if col in spec["dates"]:
            parsed, text = _parse_date(raw[col])
            columns[col], columns[f"_raw_{col}"] = parsed, text
            checks.append((col, f"_raw_{col}", col))
        elif col in spec["numbers"]:
            parsed, text = _parse_number(raw[col], "int64" if col in ("days_supply", "year_of_birth") else "float64")
            columns[col], columns[f"_raw_{col}"] = parsed, text
            checks.append((col, f"_raw_{col}", col))
        else:
            columns[col] = _text(raw[col])
    staged = con.create_table(f"staged_{name}", raw.select(**columns), temp=True, overwrite=True)

    n_rows = con.execute(staged.count())
    if n_rows == 0 and name in REQUIRED_TABLES:
        raise InputError("has a header but no data rows", file=file)

    for col, raw_col, parsed_col in checks:
        bad = _first_bad(con, staged, raw_col, parsed_col)
        if bad:
            kind = "a date (YYYY-MM-DD)" if col in spec["dates"] else "a number"
            raise InputError(f"is not {kind}", file=file, row=bad[0], column=col, value=bad[1])

    empty_id = con.execute(staged.filter(staged.patient_id.isnull()).select("_row").order_by("_row").limit(1))
    if len(empty_id):
        raise InputError("patient_id is empty", file=file, row=int(empty_id["_row"].iloc[0]), column="patient_id")

    if name == "patients":
        _check_unique_patients(con, staged, file)
        if "year_of_birth" in staged.columns:
            bad_year = con.execute(
                staged.filter((staged.year_of_birth < 1850) | (staged.year_of_birth > 2200))
                .order_by("_row").select("_row", "year_of_birth").limit(1)
            )
            if len(bad_year):
                raise InputError("is not a plausible year of birth", file=file, row=int(bad_year["_row"].iloc[0]),
                                 column="year_of_birth", value=int(bad_year["year_of_birth"].iloc[0]))
    if name == "notes" and "note_id" in staged.columns:
        pass  # note_id uniqueness is not required by the contract
    return _typed(name, staged)


def _check_unique_patients(con, staged: ibis.Table, file: str) -> None:
    dup = (
        staged.group_by("patient_id")
        .agg(n=staged.count(), first_row=staged._row.min(), second_row=staged._row.max())
        .filter(lambda t: t.n > 1)
        .order_by("first_row")
        .limit(1)
    )
    found = con.execute(dup)
    if len(found):
        r = found.iloc[0]
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
    "diagnoses": {"patient_id": dt.string, "code": dt.string, "date": dt.date},
    "prescriptions": {"patient_id": dt.string, "drug": dt.string, "start_date": dt.date, "end_date": dt.date,
                      "days_supply": dt.int64, "daily_dose_mg": dt.float64, "atc_code": dt.string},
    "referrals": {"patient_id": dt.string, "service": dt.string, "date": dt.date, "service_category": dt.string},
    "notes": {"patient_id": dt.string, "note_id": dt.string, "date": dt.date, "text": dt.string},
}


def _typed(name: str, staged: ibis.Table) -> ibis.Table:
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
    return staged.select(**out)


def validate_extract(con, raw_tables: dict[str, ibis.Table], files: dict[str, str], source: str) -> Extract:
    typed = {name: validate_table(con, name, table, files[name]) for name, table in raw_tables.items()}
    return Extract(
        patients=typed["patients"],
        diagnoses=typed["diagnoses"],
        prescriptions=typed["prescriptions"],
        referrals=typed.get("referrals"),
        notes=typed.get("notes"),
        source=source,
    )
