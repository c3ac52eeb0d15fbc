"""The TRD cohort written back as an OMOP CDM `cohort` table, so ATLAS and other OHDSI tools can use it.

OMOP CDM v5.4 results schema, table `cohort`: cohort_definition_id (integer), subject_id (the
person_id), cohort_start_date (the TRD date: the next step after the failed trials) and
cohort_end_date (the as-of date: the end of what the data could show). A re-run replaces the
rows of its own cohort_definition_id and leaves every other cohort alone.
"""

from __future__ import annotations

import datetime as dt
import uuid

import ibis
import pandas as pd

from trdpath import engines
from trdpath.early.timeline import EPOCH, Timeline, status_at
from trdpath.errors import UserError
from trdpath.safety import mask_credentials

COHORT_SCHEMA = ibis.schema({"cohort_definition_id": "int64", "subject_id": "int64",
                             "cohort_start_date": "date", "cohort_end_date": "date"})


def cohort_rows(t: Timeline, as_of: dt.date, definition_id: int, stage: str = "TRD") -> pd.DataFrame:
    """Rows of the cohort table for patients at `stage` on `as_of` (TRD: from the TRD date;
    stage 2 (or any other): from the adequacy date of the last failed trial)."""
    s = status_at(t, [as_of])
    s = s.filter(s.in_cohort & (s.stage == stage))
    start = s.trd_day if stage == "TRD" else s.t2_day
    rows = t.con.execute(s.select("patient_id", start_day=start))
    ids = pd.to_numeric(rows["patient_id"].astype(str).str.strip(), errors="coerce")
    bad = rows["patient_id"][ids.isna() | (ids != ids.round())]
    if len(bad):
        raise UserError(f"The OMOP cohort table needs integer person ids, but patient_id {bad.iloc[0]!r} is not one "
                        "(read an OMOP CDM with patient_id = person_id, or leave out --cohort-to).")
    # Exact for any 64-bit id: parse the text again as integers (the float route above only checks).
    subject = rows["patient_id"].astype(str).str.strip().map(int)
    start_dates = pd.to_datetime(pd.to_numeric(rows["start_day"]), unit="D", origin="unix").dt.date
    frame = pd.DataFrame({"cohort_definition_id": pd.Series(definition_id, index=rows.index, dtype="int64"),
                          "subject_id": subject.astype("int64"),
                          "cohort_start_date": start_dates, "cohort_end_date": as_of})
    return frame.sort_values("subject_id", kind="stable").reset_index(drop=True)


def cohort_target(url: str):
    """(connection, schema) for `--cohort-to`: duckdb:FILE[?schema=S], postgresql://...?schema=S, spark:SCHEMA."""
    text = url.strip()
    if text.lower().startswith("duckdb:"):
        path, _, query = text[len("duckdb:"):].partition("?schema=")
        return engines.connect("duckdb", path or None), (query or "results")
    if not text.lower().startswith(("postgresql://", "postgres://", "spark:")):
        raise UserError(f"--cohort-to {mask_credentials(text)!r}: unknown scheme; use duckdb:FILE, "
                        "postgresql://...?schema=results or spark:SCHEMA.")
    location = engines.backend_from_url(text)
    # PostgreSQL's URL names schema public when none is given: the cohort goes to "results" then, as on Spark.
    schema = location.schema if location.schema not in (None, "", "public") else "results"
    return engines.connect(location.backend, location.url), schema


def write_cohort(con, schema: str, rows: pd.DataFrame) -> int:
    """Replace this cohort_definition_id's rows of `schema`.cohort with `rows`; returns the row count."""
    if not schema.replace("_", "").isalnum():
        raise UserError(f"Results schema {schema!r}: use letters, digits and underscores only.")
    ids = sorted(set(rows["cohort_definition_id"].astype(int))) or []
    typed = ibis.memtable(rows, schema=COHORT_SCHEMA)
    if not engines.capabilities(con).transactions:  # Spark: merge in memory, overwrite the table whole
        engines.execute(con, f"CREATE DATABASE IF NOT EXISTS `{schema}`")
        if "cohort" in con.list_tables(database=schema):
            kept = con.table("cohort", database=schema)
            kept = kept.filter(~kept.cohort_definition_id.isin(ids)).cast(COHORT_SCHEMA)
            merged = con.execute(kept)  # materialised first: Spark cannot overwrite a table it reads
            table = ibis.memtable(pd.concat([merged, rows], ignore_index=True), schema=COHORT_SCHEMA)
        else:
            table = typed
        con.create_table("cohort", table, database=schema, overwrite=True)
        return len(rows)
    quote = '"'
    engines.execute(con, f"CREATE SCHEMA IF NOT EXISTS {quote}{schema}{quote}")
    # IF NOT EXISTS rather than list_tables, which fails in Ibis 12 on DuckDB 2.0. OMOP CDM v5.4 DDL.
    engines.execute(con, f'CREATE TABLE IF NOT EXISTS "{schema}".cohort (cohort_definition_id INTEGER NOT NULL, '
              "subject_id BIGINT NOT NULL, cohort_start_date DATE NOT NULL, cohort_end_date DATE NOT NULL)")
    # The new rows go to a staging table first; the swap is one transaction, so a kill at any instant
    # leaves either the old rows or the new ones of this cohort, never neither.
    stage = f"_trdpath_cohort_{uuid.uuid4().hex[:12]}"
    con.create_table(stage, typed, temp=True)
    id_list = ", ".join(str(int(i)) for i in ids) or "NULL"
    engines.execute(con, f'BEGIN; DELETE FROM "{schema}".cohort WHERE cohort_definition_id IN ({id_list}); '
              f'INSERT INTO "{schema}".cohort SELECT cohort_definition_id, subject_id, cohort_start_date, '
              f'cohort_end_date FROM "{stage}"; COMMIT')
    engines.execute(con, f'DROP TABLE IF EXISTS "{stage}"')
    return len(rows)


def day_to_date(day) -> dt.date:
    return EPOCH + dt.timedelta(days=int(day))
