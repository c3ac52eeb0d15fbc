"""The worklist view: filter by team, service and stage, sort, page (patient level, docs/serve.md).

Filtered and sorted in DuckDB on worklist.csv (as `trdpath worklist` wrote it); only one page of rows comes
back. Every parameter is checked against a closed list (the values present in the worklist, or the sort
orders below) before it reaches the query, and is passed as a bound parameter: nothing typed in the address
bar becomes SQL. The worklist is patient level (a named list of patients), so filters may be combined here:
the disclosure rules of the aggregate views protect published counts, not this list.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from trdpath.serve.results import ResultFolder

PAGE_SIZE = 100
NONE = "(none recorded)"  # the filter value for an empty service category
FILTERS = {"team": ("team", "Team"), "service": ("service_category", "Service"), "stage": ("stage", "Stage")}
STAGE_ORDER = "CASE stage WHEN 'TRD' THEN 0 WHEN '2' THEN 1 WHEN '1' THEN 2 WHEN '0' THEN 3 ELSE 4 END"
_PRIORITY = "TRY_CAST(priority AS INTEGER) ASC NULLS LAST"
# Each sort order: its label and its ORDER BY (fixed text: the user chooses a key, never the SQL).
SORTS = {
    "priority": ("Priority (most urgent first)", f"{_PRIORITY}, {STAGE_ORDER}, patient_id"),
    "contact": ("Longest since contact", f"TRY_CAST(days_since_contact AS INTEGER) DESC NULLS FIRST, {_PRIORITY}, patient_id"),
    "inertia": ("Longest without a change", f"TRY_CAST(inertia_days AS INTEGER) DESC NULLS LAST, {_PRIORITY}, patient_id"),
    "stage": ("Stage (TRD first)", f"{STAGE_ORDER}, {_PRIORITY}, patient_id"),
    "team": ("Team", f"team, {_PRIORITY}, patient_id"),
    "patient": ("Patient id", "patient_id"),
}
SHOWN_COLUMNS = ("priority", "patient_id", "team", "service_category", "stage", "resistance_level", "trd_date",
                 "days_since_contact", "inertia_days", "next_step")
PARAMETERS = set(FILTERS) | {"sort", "page"}


class WorklistQueryError(ValueError):
    """A parameter the worklist view does not accept (its message is shown to the user)."""


@dataclass
class WorklistQuery:
    filters: dict[str, str] = field(default_factory=dict)  # key of FILTERS -> value
    sort: str = "priority"
    page: int = 1

    def params(self, **change) -> dict[str, str]:
        """The parameters of this view with some changed (the template URL-encodes them)."""
        params = {**self.filters, "sort": self.sort, "page": str(self.page)}
        params.update({k: str(v) for k, v in change.items()})
        return {k: v for k, v in params.items() if v not in ("", None)}


def check_columns(folder: ResultFolder) -> str:
    """'' when worklist.csv has the columns shown, else a message naming the missing ones."""
    have = {r[0] for r in folder.connection().execute("DESCRIBE worklist").fetchall()}
    missing = [c for c in (*SHOWN_COLUMNS, "stage", "team", "service_category") if c not in have]
    return (f"worklist.csv lacks the column(s) {', '.join(dict.fromkeys(missing))}: it was not written by this "
            "version of `trdpath worklist`.") if missing else ""


def options(folder: ResultFolder) -> dict[str, tuple[str, ...]]:
    """The values each filter may take: those in the worklist (team names, service categories, stages)."""
    con = folder.connection()
    found = {}
    for key, (column, _) in FILTERS.items():
        values = [r[0] for r in con.execute(f'SELECT DISTINCT coalesce("{column}", \'\') FROM worklist').fetchall()]
        values = sorted((NONE if v == "" else v) for v in values)
        if key == "stage":
            values = sorted(values, key=lambda v: ("TRD", "2", "1", "0").index(v) if v in ("TRD", "2", "1", "0") else 9)
        found[key] = tuple(values)
    return found


def parse(query, allowed: dict[str, tuple[str, ...]]) -> WorklistQuery:  # noqa: ANN001
    unknown = sorted(set(query.keys()) - PARAMETERS)
    if unknown:
        raise WorklistQueryError(f"Unknown parameter {unknown[0]!r}: the worklist takes team, service, stage, sort "
                                 "and page.")
    if any(len(query.getlist(k)) > 1 for k in query.keys()):
        raise WorklistQueryError("Each parameter may be given once.")
    chosen = WorklistQuery()
    for key, (_, label) in FILTERS.items():
        value = (query.get(key) or "").strip()
        if value:
            if value not in allowed[key]:
                raise WorklistQueryError(f"{label} {value!r} is not on this worklist: choose one from the list.")
            chosen.filters[key] = value
    sort = (query.get("sort") or "priority").strip()
    if sort not in SORTS:
        raise WorklistQueryError(f"Sort {sort!r} is not offered: choose one of {', '.join(SORTS)}.")
    chosen.sort = sort
    page = (query.get("page") or "1").strip()
    if not page.isdigit() or not 1 <= int(page) <= 10**6:
        raise WorklistQueryError(f"Page {page!r} is not a page number.")
    chosen.page = int(page)
    return chosen


def rows(folder: ResultFolder, chosen: WorklistQuery) -> tuple[int, list[dict[str, str]]]:
    """(number of matching rows, this page's rows) computed in DuckDB."""
    where, params = [], []
    for key, value in chosen.filters.items():
        column = FILTERS[key][0]
        where.append(f'coalesce("{column}", \'\') = ?')
        params.append("" if value == NONE else value)
    clause = " AND ".join(where) or "TRUE"
    con = folder.connection()
    total = con.execute(f"SELECT count(*) FROM worklist WHERE {clause}", params).fetchone()[0]
    columns = ", ".join(f'coalesce("{c}", \'\') AS "{c}"' for c in SHOWN_COLUMNS)
    frame = con.execute(f"SELECT {columns} FROM worklist WHERE {clause} ORDER BY {SORTS[chosen.sort][1]} "
                        f"LIMIT {PAGE_SIZE} OFFSET ?", params + [(chosen.page - 1) * PAGE_SIZE]).fetch_df()
    return int(total), frame.to_dict("records")
