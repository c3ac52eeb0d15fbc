"""Sources: read an extract and validate it into typed tables (the first pipeline stage).

Open any extract with :func:`trdpath.sources.open.open_source` (a ``--data`` location) or
:func:`trdpath.sources.open.open_tables` (in-memory tables); both give (connection, Extract).

Every source (flat CSV/Parquet folder, OMOP CDM, a database schema) produces the same
:class:`Extract`: Ibis tables with the data contract's columns and these types, so that the
later stages never need to know where the data came from.

- patients:      patient_id string, birth_date date, sex string, ethnicity string,
                 employment_status string, death_date date
                 (a `year_of_birth`-only source sets birth_date to 1 July of that year)
- diagnoses:     patient_id string, code string (as recorded), date date, code_system string
                 (ICD10, ICD9CM, another vocabulary's name, or NULL: decided by codes.system)
- prescriptions: patient_id string, drug string, start_date date, end_date date,
                 days_supply int64, daily_dose_mg float64, atc_code string
- referrals:     patient_id string, service string, date date, service_category string
- notes:         patient_id string, note_id string, date date, text string
Optional columns absent from a source are present as typed NULLs.
"""

from __future__ import annotations

from dataclasses import dataclass

import ibis


TABLE_NAMES = ("patients", "diagnoses", "prescriptions", "referrals", "notes")


@dataclass(frozen=True)
class Extract:
    patients: ibis.Table
    diagnoses: ibis.Table
    prescriptions: ibis.Table
    referrals: ibis.Table | None
    notes: ibis.Table | None
    # Where it came from, for messages and the report ("flat:/path", "omop:/path", "postgresql://...").
    source: str
    # (earliest, latest) of each date column, {table: {column: (min, max)}}, when validation has
    # already scanned for them; the pipeline then needs no query of its own to set the index date.
    date_bounds: dict | None = None
    # {table: {check: rows}} for validate.QUALITY_CHECKS, when validation has counted them.
    quality_counts: dict | None = None
