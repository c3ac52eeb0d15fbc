"""Data quality (data_quality.csv): what an extract holds that the rules ignore, repair or cannot read,
counted in the engine and written as rows of (table, column, issue, value, count).

Validation (sources.validate) counts QUALITY_CHECKS while it reads a flat extract; everything else is
counted here, by one aggregate query per table (extract_counts), and by the pipeline's stages through the helpers below.
"""

from __future__ import annotations

import datetime as dt

import ibis
import pandas as pd

from trdpath.cohort.code_lists import AMBIGUOUS, SYSTEM_LABELS
from trdpath.cohort.demographics import completed_years
from trdpath.config import StudyConfig
from trdpath.schema import MAX_AGE, MAX_DAILY_DOSE_MG, MAX_DAYS_SUPPLY
from trdpath.sources import Extract
from trdpath.sources.validate import QUALITY_CHECKS, as_count

COLUMNS = ["table", "column", "issue", "value", "count"]


def quality_frame(rows: list[tuple]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=COLUMNS)


def drug_mapping_rows(mapping: pd.DataFrame) -> list[tuple]:
    """Prescriptions whose drug is unnamed or not in the reference lists (`mapping`: treatment.exposures.drug_map)."""
    rows = []
    unnamed = mapping[mapping["ingredient"].isna() & (mapping["drug_key"].str.strip() == "")]
    if len(unnamed):
        rows.append(("prescriptions", "drug", "no drug name (e.g. an NDC code with no vocabulary to name it; ignored)",
                     "", int(unnamed["n"].sum())))
    for row in mapping[mapping["ingredient"].isna() & (mapping["drug_key"].str.strip() != "")].sort_values(
            ["n", "drug_key", "atc_key"], ascending=[False, True, True]).itertuples(index=False):
        rows.append(("prescriptions", "drug", "drug name not an antidepressant or augmenting agent in the reference lists (ignored)",
                     row.drug_key + (f" [{row.atc_key}]" if row.atc_key else ""), int(row.n)))
    return rows


def unrecognised_label_rows(column: str, mapping: pd.DataFrame, group: str, table: str = "patients") -> list[tuple]:
    """Label values no group recognises (`mapping`: cohort.demographics.label_maps of one column)."""
    unrecognised = mapping[~mapping["recognised"]].sort_values(["n", "value"], ascending=[False, True])
    return [(table, column, f"value not recognised, grouped as {getattr(row, group)}", row.value, int(row.n))
            for row in unrecognised.itertuples(index=False)]


def unmatched_service_rows(smap: pd.DataFrame) -> list[tuple]:
    """Referral services that match no category (`smap`: service_use.service_map)."""
    return [("referrals", "service", "service name matches no service category (not counted)", row.service_key, int(row.n))
            for row in smap[smap["category"].isna()].sort_values(
                ["n", "service_key", "given"], ascending=[False, True, True]).itertuples(index=False)]


def _table_conditions(extract: Extract, name: str, index_date: dt.date) -> dict[str, ibis.Value]:
    """What data_quality.csv counts in table `name` that validation has not counted already, as conditions
    on its rows; empty when nothing needs the table's rows (then no query runs)."""
    table = getattr(extract, name)
    if table is None:
        return {}
    index_lit = ibis.literal(index_date, "date")
    counted = (extract.quality_counts or {}).get(name)
    bounds = extract.date_bounds or {}
    # Validation counted QUALITY_CHECKS in its own scan; other sources (OMOP) are counted here.
    conditions = {check: condition(table) for check, condition in QUALITY_CHECKS.get(name, {}).items()} if counted is None else {}
    if name == "patients":
        age = completed_years(table.birth_date, index_lit)
        conditions.update(future_birth=table.birth_date > index_lit, too_old=age > MAX_AGE,
                          death_before_birth=table.death_date < table.birth_date,
                          death_after_index=table.death_date > index_lit)
    elif name == "prescriptions":
        # Rows starting after the index date need counting only when the index date is before the latest start.
        latest_start = (bounds.get("prescriptions") or {}).get("start_date", (None, None))[1]
        if latest_start is None or latest_start > index_date:
            conditions["after_index"] = table.start_date > index_lit
    elif name in ("referrals", "notes"):
        # Dated after the index date (ignored); none when the date range validation found says so.
        latest = (bounds.get(name) or {}).get("date", (None, None))[1] if name in bounds else None
        if name not in bounds or (latest is not None and latest > index_date):
            conditions["after_index"] = table.date > index_lit
    return conditions


TABLES_COUNTED = ("prescriptions", "patients", "referrals", "notes")


def extract_counts(con, extract: Extract, index_date: dt.date,
                   tables: tuple[str, ...] = TABLES_COUNTED) -> dict[str, dict[str, int]]:
    """Every count of data_quality.csv that needs the extract's rows, by table: one aggregate query per table
    (it was one query per check: a Spark job or a PostgreSQL round trip each), none for a table whose counts
    validation already has. Keys per table: its QUALITY_CHECKS; prescriptions, referrals, notes: after_index;
    patients: future_birth, too_old, death_before_birth, death_after_index."""
    counts: dict[str, dict[str, int]] = {}
    for name in tables:
        table = getattr(extract, name)
        if table is None:
            continue
        counts[name] = dict((extract.quality_counts or {}).get(name) or {})
        conditions = _table_conditions(extract, name, index_date)
        if conditions:
            row = con.execute(table.aggregate(**{key: table.count(where=condition)
                                                 for key, condition in conditions.items()})).iloc[0]
            counts[name].update({key: as_count(row[key]) for key in conditions})
        if name != "patients":
            counts[name].setdefault("after_index", 0)
    return counts


def data_quality_rows(index_date: dt.date, counts: dict[str, dict[str, int]], codes: pd.DataFrame,
                      config: StudyConfig | None = None) -> list[tuple]:
    """Rows of data_quality.csv; `counts`: the extract's counts by table (extract_counts);
    `codes`: the distinct diagnosis codes with their counts (cohort.code_lists.code_map)."""
    rows: list[tuple] = []
    stats = counts["prescriptions"]
    if stats["end_before_start"]:
        rows.append(("prescriptions", "end_date", "end_date before start_date (treated as a zero-day exposure)", "", int(stats["end_before_start"])))
    if stats["after_index"]:
        rows.append(("prescriptions", "start_date", f"starts after the index date {index_date} (ignored)", "", int(stats["after_index"])))
    if stats["no_dose"]:
        rows.append(("prescriptions", "daily_dose_mg", "no daily dose (judged by the unknown_dose setting)", "", int(stats["no_dose"])))
    if stats["impossible_dose"]:
        rows.append(("prescriptions", "daily_dose_mg", f"impossible daily dose (negative, NaN, infinite or above "
                     f"{MAX_DAILY_DOSE_MG:g} mg): treated as unknown", "", int(stats["impossible_dose"])))
    if stats["impossible_days_supply"]:
        rows.append(("prescriptions", "days_supply", f"impossible days_supply (negative or above {MAX_DAYS_SUPPLY}): "
                     "treated as unknown", "", int(stats["impossible_days_supply"])))
    if stats["no_end"]:
        rows.append(("prescriptions", "end_date", "no end_date or days_supply (default exposure length used)", "", int(stats["no_end"])))
    rows.extend(code_system_rows(codes, (config or StudyConfig()).codes))
    dx_after = codes["n_after_index"].fillna(0).sum()
    if dx_after:
        rows.append(("diagnoses", "date", f"recorded after the index date {index_date} (ignored)", "", int(dx_after)))
    no_birth = counts["patients"]["no_birth_date"]
    if no_birth:
        rows.append(("patients", "birth_date", "no birth date: age unknown, not excluded as under_18", "", int(no_birth)))
    rows.extend(_patient_date_rows(counts["patients"], index_date))
    rows.extend(_events_after_index_rows(counts, index_date))
    return rows


def code_system_rows(codes: pd.DataFrame, codes_config) -> list[tuple]:
    """Diagnosis rows by code system, and what was not used (issue 13: 87% of a US CDM's condition rows
    were dropped without a line)."""
    rows = []
    system = codes["system"].fillna("")
    for key, label in SYSTEM_LABELS.items():
        n = int(codes.loc[system == key, "n"].sum())
        if n:
            rows.append(("diagnoses", "code_system", f"rows read as {label}", key, n))
    used = {s.upper() for s in codes_config.depression_systems}
    for key, label in SYSTEM_LABELS.items():
        if key not in used:
            n = int(codes.loc[(system == key) & codes["depression_in_system"], "n"].sum())
            if n:
                rows.append(("diagnoses", "code", f"{label} depression code: not used to define depression "
                             "(codes.depression_systems)", key, n))
    ambiguous = int(codes.loc[system == AMBIGUOUS, "n"].sum())
    if ambiguous:
        rows.append(("diagnoses", "code", "V code without a code system: ICD-9-CM or ICD-10 cannot be told apart "
                     "(ignored; give code_system or set codes.system)", "", ambiguous))
    missing = int(codes.loc[codes["code_key"].str.strip() == "", "n"].sum())
    if missing:
        rows.append(("diagnoses", "code", "no code (no source value and no ICD mapping; ignored)", "", missing))
    other = codes[~system.isin([*SYSTEM_LABELS, AMBIGUOUS, ""]) & (codes["code_key"].str.strip() != "")]
    for vocabulary, n in other.groupby(system[other.index])["n"].sum().sort_values(ascending=False).items():
        rows.append(("diagnoses", "code_system", f"rows in another code system: {vocabulary} (ignored)", vocabulary, int(n)))
    bad = codes[(system == "") & (codes["code_key"].str.strip() != "")].sort_values(["n", "code_key"], ascending=[False, True]).head(50)
    for row in bad.itertuples(index=False):
        rows.append(("diagnoses", "code", "not an ICD-10 or ICD-9-CM code (ignored)", row.code_key, int(row.n)))
    return rows


def _patient_date_rows(row: dict[str, int], index_date: dt.date) -> list[tuple]:
    rows = []
    if row["future_birth"]:
        rows.append(("patients", "birth_date", f"after the index date {index_date}: age unknown (birth date ignored)",
                     "", row["future_birth"]))
    if row["too_old"]:
        rows.append(("patients", "birth_date", f"age above {MAX_AGE} at the index date: age unknown (birth date ignored)",
                     "", row["too_old"]))
    if row["death_before_birth"]:
        rows.append(("patients", "death_date", "before birth_date: no age at death", "", row["death_before_birth"]))
    if row["death_after_index"]:
        rows.append(("patients", "death_date", f"after the index date {index_date}: not counted as died", "",
                     row["death_after_index"]))
    return rows


def _events_after_index_rows(counts: dict[str, dict[str, int]], index_date: dt.date) -> list[tuple]:
    return [(name, "date", f"after the index date {index_date} (ignored)", "", counts[name]["after_index"])
            for name in ("referrals", "notes") if name in counts and counts[name]["after_index"]]
