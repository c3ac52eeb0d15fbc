"""Demographic groups (study-definition.md 8) and ages at the index date.

Free-text labels are mapped in Python over the distinct values of the extract (a handful to a
few hundred), then joined in the engine.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable

import ibis
import pandas as pd

from trdpath.reference import ReferenceData
from trdpath.schema import MAX_AGE

_SPACES = re.compile(r"[^a-z0-9]+")


def nfkc(value) -> str:
    """Unicode NFKC: full-width letters, ligatures and compatibility forms as plain characters."""
    return unicodedata.normalize("NFKC", str(value))


def _key(value) -> str:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return ""
    return _SPACES.sub(" ", nfkc(value).lower()).strip()


def _foreign(value) -> bool:
    """Letters outside ASCII even after NFKC (a Cyrillic a in "Blаck British"): such a label matches
    no group by keyword, only exactly, so a look-alike is counted rather than guessed (issue 13)."""
    return value is not None and not (isinstance(value, float) and pd.isna(value)) and not nfkc(value).isascii()


def sex_group(value) -> tuple[str, bool]:
    """(group, recognised): female / male / other / unknown (NHS codes 1, 2, 9, 0 included)."""
    if _foreign(value):
        return "unknown", False
    key = _key(value)
    if key in {"f", "female", "woman", "w", "2", "girl"}:
        return "female", True
    if key in {"m", "male", "man", "1", "boy"}:
        return "male", True
    if key in {"", "unknown", "not known", "not stated", "u", "0", "9", "not specified"}:
        return "unknown", True
    if key in {"other", "x", "non binary", "nonbinary", "intersex", "indeterminate", "i", "another"}:
        return "other", True
    return "other", False


def ethnicity_group(value, reference: ReferenceData) -> tuple[str, bool]:
    """(group, recognised). NHS letter codes, 'A - White British' style, ONS labels, then keywords."""
    if _foreign(value):
        return "Unknown", False
    key = _key(value)
    table = dict(zip(reference.ethnicity["value"].str.lower(), reference.ethnicity["ethnicity_group"]))
    if key == "":
        return "Unknown", True
    if key in table:
        return table[key], True
    letter = re.match(r"^([a-z])\s", key + " ")
    if letter and len(key.split(" ")[0]) == 1 and letter.group(1) in table:
        return table[letter.group(1)], True
    if "mixed" in key or ("white" in key and ("black" in key or "asian" in key)):
        return "Mixed", True
    if "white" in key or "british" in key or "irish" in key:
        return "White", True
    if "black" in key or "african" in key or "caribbean" in key:
        return "Black", True
    if any(w in key for w in ("indian", "pakistani", "bangladeshi", "south asian")):
        return "South Asian", True
    if any(w in key for w in ("chinese", "asian", "arab", "other")):
        return "Other", True
    if any(w in key for w in ("not stated", "not known", "unknown", "refused", "declined")):
        return "Unknown", True
    return "Unknown", False


def employment_group(value, reference: ReferenceData) -> tuple[str, bool]:
    if _foreign(value):
        return "Unknown", False
    key = _key(value)
    table = dict(zip(reference.employment["value"].str.lower().map(_key), reference.employment["employment_group"]))
    if key == "":
        return "Unknown", True
    if key in table:
        return table[key], True
    if "not seeking" in key or "not actively" in key:
        return "Economically inactive", True
    if "unemployed" in key or "seeking work" in key or "job seeker" in key:
        return "Unemployed (seeking)", True
    if any(w in key for w in ("retired", "sick", "disab", "student", "homemaker", "looking after", "carer", "inactive")):
        return "Economically inactive", True
    if any(w in key for w in ("employ", "full time", "part time", "in work", "working")):
        return "Employed", True
    if any(w in key for w in ("not stated", "not known", "unknown", "refused")):
        return "Unknown", True
    return "Unknown", False


def label_maps(con, table: ibis.Table, mappers: dict[str, tuple[Callable, str]]) -> dict[str, pd.DataFrame]:
    """Distinct values of several text columns, each mapped by its mapper, from one scan.

    `mappers`: column -> (mapper, output name); a mapper returns (group, recognised). Missing
    values are judged as ''. Returns column -> DataFrame(value, <output name>, recognised, n).
    """
    keys = {col: table[col].fill_null("") for col in mappers}
    combos = con.execute(table.group_by(**keys).agg(_n=ibis._.count()))
    maps = {}
    for col, (mapper, name) in mappers.items():
        counts = combos.groupby(col, as_index=False, sort=False)["_n"].sum().rename(columns={col: "value", "_n": "n"})
        mapped = [mapper(v) for v in counts["value"]]
        counts[name] = [m[0] for m in mapped]
        counts["recognised"] = [m[1] for m in mapped]
        maps[col] = counts
    return maps


def completed_years(born: ibis.Value, on) -> ibis.Value:
    """Age in completed years on date `on` (an Ibis date or literal)."""
    on = ibis.literal(on) if not isinstance(on, ibis.Expr) else on
    before_birthday = (on.month() * 100 + on.day()) < (born.month() * 100 + born.day())
    return (on.year() - born.year() - before_birthday.ifelse(1, 0)).cast("int64")


def possible_birth_dates(patients: ibis.Table, index_date) -> ibis.Table:
    """Birth dates that give an age outside 0..MAX_AGE at the index date (a future birth, a date-shifted
    record) are unknown: no age, not excluded as under_18, counted in data quality (issue 13)."""
    age = completed_years(patients.birth_date, index_date)
    return patients.mutate(birth_date=ibis.ifelse((age >= 0) & (age <= MAX_AGE), patients.birth_date, ibis.null("date")))


def with_label_groups(con, patients: ibis.Table, reference: ReferenceData) -> tuple[ibis.Table, dict[str, pd.DataFrame]]:
    """Add sex_group, ethnicity_group and employment_group by joining a small map of the distinct
    values; returns the table and each column's map (the unrecognised values go to data quality)."""
    mappers = {
        "sex": (sex_group, "sex_group"),
        "ethnicity": (lambda v: ethnicity_group(v, reference), "ethnicity_group"),
        "employment_status": (lambda v: employment_group(v, reference), "employment_group"),
    }
    maps = label_maps(con, patients, mappers)
    table = patients
    for column, mapping in maps.items():
        out = mappers[column][1]
        lookup = ibis.memtable(mapping[["value", out]].rename(columns={"value": f"_{column}_key"}),
                               schema={f"_{column}_key": "string", out: "string"})
        keyed = table.mutate(**{f"_{column}_key": table[column].fill_null("")})
        table = keyed.left_join(lookup, f"_{column}_key").drop(f"_{column}_key", f"_{column}_key_right")
    return table, {column: (mapping, mappers[column][1]) for column, mapping in maps.items()}


def demographic_columns(t: ibis.Table, index_date) -> dict[str, ibis.Value]:
    """sex, age, age_at_diagnosis, ethnicity_group, employment_group, died, age_at_death (study-definition.md 8)
    over a table with the label groups, birth_date, death_date and first_depression_date."""
    died = t.death_date.notnull() & (t.death_date <= index_date)
    return {
        "sex": t.sex_group,
        "age": completed_years(t.birth_date, index_date),
        # Completed years at the first depression diagnosis up to the index date; none before the birth.
        "age_at_diagnosis": ibis.ifelse(t.first_depression_date >= t.birth_date,
                                        completed_years(t.birth_date, t.first_depression_date), ibis.null("int64")),
        "ethnicity_group": t.ethnicity_group,
        "employment_group": t.employment_group,
        "died": died,
        # A death before the birth gives no age at death (counted in data quality; issue 13).
        "age_at_death": ibis.ifelse(died & (t.death_date >= t.birth_date), completed_years(t.birth_date, t.death_date),
                                    ibis.null("int64")),
    }
