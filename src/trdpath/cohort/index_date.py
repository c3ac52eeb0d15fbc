"""The index date (study-definition.md 1): the study's census date, by default the latest event date.

Event dates: prescriptions.start_date, diagnoses.date, referrals.date, notes.date. Birth, death and
prescription end dates are not events: one wrong birth date (2090) must not move the index date.
"""

from __future__ import annotations

import datetime as dt

from trdpath.config import StudyConfig
from trdpath.errors import UserError
from trdpath.schema import TABLES
from trdpath.sources import Extract
from trdpath.sources.validate import as_date

EPOCH = dt.date(1970, 1, 1)  # the treatment stages count days from here


def extract_date_range(con, extract: Extract) -> tuple[dt.date | None, dt.date | None, dt.date | None]:
    """(earliest event date, latest event date, latest date anywhere) in the extract."""
    latest_any: list[dt.date] = []
    events_min: list[dt.date] = []
    events_max: list[dt.date] = []
    tables = {"patients": extract.patients, "diagnoses": extract.diagnoses,
              "prescriptions": extract.prescriptions, "referrals": extract.referrals, "notes": extract.notes}
    known = extract.date_bounds or {}
    for name, table in tables.items():
        if table is None:
            continue
        dates = TABLES[name]["dates"]
        if name in known:  # found while validating
            bounds = known[name]
        else:
            row = con.execute(table.aggregate(
                **{f"{bound}_{col}": getattr(table[col], bound)() for col in dates for bound in ("min", "max")})).iloc[0]
            bounds = {col: (as_date(row[f"min_{col}"]), as_date(row[f"max_{col}"])) for col in dates}
        for col in dates:
            lo, hi = bounds[col]
            if hi is not None:
                latest_any.append(hi)
                if name != "patients" and col != "end_date":
                    events_max.append(hi)
            if lo is not None and name != "patients" and col != "end_date":
                events_min.append(lo)
    return (min(events_min) if events_min else None, max(events_max) if events_max else None,
            max(latest_any) if latest_any else None)


def choose_index_date(given: dt.date | None, config: StudyConfig, last_event: dt.date | None) -> dt.date:
    """The given date, else the configuration's, else the latest event date; dates after it are
    counted in data quality (sources.quality)."""
    index_date = given or config.study.index_date or last_event
    if index_date is None:
        raise UserError("The extract has no dates at all, so no index date can be set; give --index-date.")
    return index_date
