"""One patient's treatment timeline, from what the pipeline wrote (patient level, docs/serve.md).

Nothing is recomputed from the extract: the drugs, their first era in the current episode, adequacy dates
and step labels are the rows of ``pathway_steps`` (trdpath.stats.pathways), TRD date, level and episode start
the patient's row of ``patients.parquet``; T1 and T2 are picked from the steps exactly as the report's
step-time table picks them (the first and second adequacy dates of different antidepressants, ties by
position: study-definition.md 4). The chart is plain SVG geometry rendered by an autoescaped Jinja template: no
script, no inline style (the Content-Security-Policy allows neither), and every mark carries its meaning in
its shape, dash pattern and a text label, never in colour alone.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import pandas as pd

from trdpath.reference import SERVICE_CATEGORIES
from trdpath.schema import NLP_COLUMNS
from trdpath.serve.results import ResultFolder
from trdpath.treatment.drug_names import ANTIDEPRESSANT

WIDTH, LEFT, RIGHT = 1120, 230, 110  # px: the drug labels sit left of the plot, the adequacy word right of it
TOP, ROW, BOTTOM = 96, 34, 36  # px: room for the staggered marker labels, one row per drug, the axis
NOTE_LABELS = {"self_harm_nlp": "self-harm mentioned", "suicidal_ideation_nlp": "suicidal ideation mentioned",
               "suicide_attempt_nlp": "suicide attempt mentioned", "self_harm_any": "self-harm (coded or in notes)"}
# Each bar's fill and a word: the word and the pattern carry the meaning, the colour only repeats it.
ADEQUACY_STYLE = {"adequate": "bar-adequate", "inadequate": "bar-inadequate", "ongoing": "bar-ongoing",
                  "not judged": "bar-not-judged"}


@dataclass
class Step:
    position: int
    line: int | None
    drug: str
    role: str
    step: str
    adequacy: str
    start_date: dt.date | None
    first_era_end: dt.date | None
    adequacy_date: dt.date | None


@dataclass
class Marker:
    key: str  # episode-start, t1, t2, trd, index
    label: str
    date: dt.date
    x: float = 0.0
    label_y: float = 0.0


@dataclass
class Timeline:
    patient_id: str
    record: dict[str, str]
    steps: list[Step]
    episode_start: dt.date | None
    t1: dt.date | None
    t2: dt.date | None
    trd_date: dt.date | None
    index_date: dt.date | None
    referrals: list[tuple[str, int]]
    notes: list[tuple[str, str]]
    has_steps_file: bool
    worklist: dict[str, str] = field(default_factory=dict)
    svg: dict = field(default_factory=dict)


def _date(value) -> dt.date | None:  # noqa: ANN001
    if value is None or value is pd.NaT or (not isinstance(value, str) and pd.isna(value)) or value == "":
        return None
    return pd.Timestamp(value).date()


def _steps(folder: ResultFolder, patient_id: str) -> list[Step] | None:
    """The patient's rows of pathway_steps (None when the run wrote none), queried in DuckDB."""
    con = folder.connection()
    if not folder.has_view("steps"):
        return None
    rows = con.execute("SELECT position, line, drug, role, step, adequacy, start_date, first_era_end, adequacy_date "
                       "FROM steps WHERE CAST(patient_id AS VARCHAR) = ? ORDER BY position", [patient_id]).fetchall()
    return [Step(int(p), None if line is None or pd.isna(line) else int(line), str(drug), str(role), str(step),
                 str(adequacy), _date(start), _date(end), _date(adequate))
            for p, line, drug, role, step, adequacy, start, end, adequate in rows]


def t1_t2(steps: list[Step]) -> tuple[dt.date | None, dt.date | None]:
    """The first and second adequacy dates of different antidepressants, ties by position (as the report's
    step-time table: trdpath.stats.pathways.step_times_table)."""
    trials = sorted((s.adequacy_date, s.position) for s in steps
                    if s.role == ANTIDEPRESSANT and s.adequacy_date is not None)
    return (trials[0][0] if trials else None), (trials[1][0] if len(trials) > 1 else None)


def patient_timeline(folder: ResultFolder, patient_id: str) -> Timeline | None:
    found = folder.connection().execute(
        "SELECT * FROM patients WHERE CAST(patient_id AS VARCHAR) = ?", [patient_id]).fetch_df()
    if found.empty:
        return None
    row = found.iloc[0]
    record = {k: ("" if v is None or (not isinstance(v, (list, dict)) and pd.isna(v)) else str(v)) for k, v in row.items()}
    steps = _steps(folder, patient_id)
    t1, t2 = t1_t2(steps or [])
    referrals = [(c, int(row[f"referrals_{c}"])) for c in SERVICE_CATEGORIES
                 if f"referrals_{c}" in row.index and not pd.isna(row[f"referrals_{c}"])]
    notes = [(NOTE_LABELS[c], "not recorded" if pd.isna(row[c]) else ("yes" if bool(row[c]) else "no"))
             for c in NLP_COLUMNS if c in row.index]
    index_date = _date(folder.metadata.get("index_date"))
    timeline = Timeline(
        patient_id=str(row["patient_id"]), record=record, steps=steps or [], episode_start=_date(row.get("episode_start")),
        t1=t1, t2=t2, trd_date=_date(row.get("trd_date")),
        index_date=index_date, referrals=referrals, notes=notes, has_steps_file=steps is not None,
        worklist=folder.worklist_row(patient_id))
    timeline.svg = layout_svg(timeline)
    return timeline


def _ticks(start: dt.date, end: dt.date) -> list[dt.date]:
    """First days of months, quarters, years or five-year spans, whichever gives about 4-14 ticks."""
    span = (end - start).days
    step = 1 if span <= 400 else 3 if span <= 1200 else 12 if span <= 5000 else 60
    first = start.year * 12 + start.month  # the month after start's: its first day is on or after start
    last = end.year * 12 + end.month - 1
    return [dt.date(m // 12, m % 12 + 1, 1) for m in range(first, last + 1) if m % step == 0]


def layout_svg(t: Timeline) -> dict:
    """Pixel geometry of the chart (the template draws it): bars, adequacy diamonds, marker lines, axis."""
    dates = [d for s in t.steps for d in (s.start_date, s.first_era_end, s.adequacy_date) if d is not None]
    dates += [d for d in (t.episode_start, t.t1, t.t2, t.trd_date) if d is not None]
    if not dates:
        return {}
    start, end = min(dates), max(dates)
    pad = max(14, (end - start).days // 30)
    start, end = start - dt.timedelta(days=pad), end + dt.timedelta(days=pad)
    plot = WIDTH - LEFT - RIGHT

    def x(day: dt.date) -> float:
        return round(LEFT + (day - start).days / max(1, (end - start).days) * plot, 1)

    rows = max(1, len(t.steps))
    height = TOP + rows * ROW + BOTTOM
    bars = []
    for i, s in enumerate(t.steps):
        y = TOP + i * ROW + 6
        x0 = x(s.start_date) if s.start_date else LEFT
        x1 = x(s.first_era_end) if s.first_era_end else x0
        label = (f"line {s.line}: {s.drug}" if s.line is not None else s.drug)
        bars.append({"y": y, "h": ROW - 12, "x": x0, "w": max(2.0, round(x1 - x0, 1)), "label": label,
                     "label_y": y + (ROW - 12) / 2 + 5, "step": s, "css": ADEQUACY_STYLE.get(s.adequacy, "bar-not-judged"),
                     "adequacy_x": x(s.adequacy_date) if s.adequacy_date else None,
                     "mid_y": y + (ROW - 12) / 2})
    markers = [Marker(k, lab, d) for k, lab, d in (
        ("episode-start", "episode start", t.episode_start), ("t1", "T1", t.t1), ("t2", "T2", t.t2),
        ("trd", "TRD", t.trd_date)) if d is not None]
    # Labels in three staggered lanes so markers on nearby dates stay readable.
    for i, m in enumerate(sorted(markers, key=lambda m: m.date)):
        m.x = x(m.date)
        m.label_y = 22 + (i % 3) * 22
    ticks = [{"x": x(d), "label": d.strftime("%b %Y") if d.month != 1 else str(d.year)} for d in _ticks(start, end)]
    return {"width": WIDTH, "height": height, "left": LEFT, "right": WIDTH - RIGHT, "top": TOP - 8,
            "bottom": TOP + rows * ROW, "axis_y": TOP + rows * ROW + 20, "bars": bars, "markers": markers,
            "ticks": ticks, "start": start, "end": end}
