"""Silent mode: the worklist's stages on a grid of past dates, and what they would have foretold.

One timeline (timeline.py) serves every date: the exposures are built and sorted once, and each
date's stages come from the dated events (a cross join of a few events per patient with the dates).
For patients who met TRD by the extract's index date (the outcome), it reports how long before
the TRD date they were first on the worklist at stage 1 and at stage 2 in the episode that led to
TRD; for the stage-2 flag, how many patients were flagged and its positive predictive value for TRD
within 6 and 12 months of the first flag (flags with less follow-up than the horizon left out).
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import ibis
import pandas as pd
from statsmodels.stats.proportion import proportion_confint

from trdpath.config import StudyConfig
from trdpath.early.timeline import EPOCH, Timeline, build_timeline, dates_table, day_number, status_at
from trdpath.errors import UserError
from trdpath.atomic import replace_folder
from trdpath.stats.disclosure import round_count, small_label

STEPS = {"month": pd.DateOffset(months=1), "quarter": pd.DateOffset(months=3), "week": pd.DateOffset(weeks=1)}
HORIZONS = {"6 months": 183, "12 months": 365}


def grid(date_from: dt.date, date_to: dt.date, every: str) -> list[dt.date]:
    if every not in STEPS:
        raise UserError(f"--every must be one of {', '.join(STEPS)} (got {every!r}).")
    if date_from > date_to:
        raise UserError(f"--from {date_from} is after --to {date_to}.")
    dates = []
    # Each date from the first by whole steps (not step on step: 31 Jan, 28 Feb, 31 Mar, not 28 Mar).
    while len(dates) <= 520 and (d := (pd.Timestamp(date_from) + STEPS[every] * len(dates)).date()) <= date_to:
        dates.append(d)
    if len(dates) > 520:
        raise UserError(f"Too many as-of dates from {date_from} to {date_to} every {every}: at most 520.")
    return dates


def change_dates(t: Timeline, dates: list[dt.date], outcome_date: dt.date) -> ibis.Table:
    """pkey, as_of, as_of_date: for each treated patient, the grid dates on which their stage can
    differ from the grid date before (the first grid date on or after each of their events), the
    first grid date, and the outcome date. Between two such dates nothing the rules read changes,
    so the stage on every other grid date is the one on the change date before it."""
    days = [day_number(d) for d in dates]

    def first_on_or_after(day):  # the grid date an event is first seen on (NULL: after the grid)
        return ibis.cases(*[(day <= g, g) for g in days], else_=ibis.null("int64"))

    min_age = t.config.cohort.min_age
    adult = t.patients.select("pkey", day=(t.patients.birth_date + ibis.interval(years=min_age)).epoch_days().cast("int64"))
    events = [
        t.episode_opens.select("pkey", day=t.episode_opens.open_day),
        t.eras.select("pkey", day=t.eras.era_start),
        t.trials.select("pkey", day=t.trials.known_day),
        t.augments.select("pkey", day=t.augments.known_day),
        t.patients.select("pkey", day=t.patients.first_depression_day),
        t.patients.select("pkey", day=t.patients.first_exclusion_day),
        t.patients.select("pkey", day=t.patients.death_date.epoch_days().cast("int64")),
        adult, adult.mutate(day=adult.day + 1),  # a 29 February birthday: either side of the day
    ]
    events = ibis.union(*[e.mutate(day=e.day.cast("int64")) for e in events], distinct=False)
    events = events.filter(events.day.notnull()).select("pkey", as_of=first_on_or_after(events.day))
    treated = t.episode_opens.select("pkey").distinct()
    fixed = ibis.memtable({"as_of": [days[0], day_number(outcome_date)]}, schema={"as_of": "int64"})
    anchors = treated.cross_join(fixed)
    changes = ibis.union(events.filter(events.as_of.notnull()), anchors, distinct=True)
    changes = changes.join(treated, "pkey")
    when = dates_table(sorted(set(dates) | {outcome_date}))
    return changes.join(when, "as_of").cache()


def backtest_tables(t: Timeline, dates: list[dt.date], outcome_date: dt.date) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(per-date stage counts, per-patient first stage-1/stage-2 dates and TRD outcome), from the engine.

    The stages are computed only on each patient's change dates (change_dates); each holds until the
    patient's next change date, so the per-date counts are sums of +1 at a change date and -1 at the
    next one, accumulated over the grid (see summarise)."""
    failed = t.config.trd.failed_trials
    s = status_at(t, None, patient_dates=change_dates(t, dates, outcome_date)).cache()
    grid_days = [day_number(d) for d in dates]
    on_grid = s.as_of.isin(grid_days)
    g_rows = s.filter(on_grid)
    after = ibis.window(group_by="pkey", order_by=g_rows.as_of)
    g_rows = g_rows.mutate(until=g_rows.as_of.lead().over(after))
    listed = g_rows.filter(g_rows.in_cohort & g_rows.alive)
    starts = listed.group_by(["as_of", "stage"]).agg(patients=ibis._.count())
    ends = listed.filter(listed.until.notnull()).group_by(["until", "stage"]).agg(ending=ibis._.count())
    final = s.filter(s.as_of == day_number(outcome_date)).select(
        "pkey", final_episode=s.episode_start, final_trd_day=s.trd_day, final_in_cohort=s.in_cohort)
    g = s.filter(on_grid & s.in_cohort).join(final, "pkey")
    stage_number = ibis.ifelse(g.stage == "TRD", failed + 1, g.stage.cast("int64"))
    # The worklist's view before TRD: dates before the TRD date (all dates for patients without TRD).
    before = g.final_trd_day.isnull() | (g.as_of < g.final_trd_day)
    same_episode = g.final_episode.notnull() & (g.episode_start == g.final_episode)
    per_patient = g.group_by("pkey").agg(
        first_stage1=g.as_of.min(where=before & same_episode & (stage_number >= 1)),
        first_stage2=g.as_of.min(where=before & same_episode & (stage_number >= failed)),
        first_flag=g.as_of.min(where=g.stage == str(failed)),
        trd_day=g.final_trd_day.max(), in_cohort=g.final_in_cohort.max())
    per_patient = per_patient.filter(per_patient.first_flag.notnull() | per_patient.trd_day.notnull())
    con = t.con
    starts, ends = con.execute(starts), con.execute(ends)
    counts = _accumulate(starts, ends, grid_days)
    return counts, con.execute(per_patient)


def _accumulate(starts: pd.DataFrame, ends: pd.DataFrame, grid_days: list[int]) -> pd.DataFrame:
    """as_of, stage, patients on every grid date from the +1/-1 changes (a running sum per stage)."""
    delta = pd.concat([starts.rename(columns={"patients": "n"}),
                       ends.rename(columns={"until": "as_of", "ending": "n"}).assign(n=lambda f: -f["n"])])
    if delta.empty:
        return pd.DataFrame(columns=["as_of", "stage", "patients"])
    delta["as_of"] = pd.to_numeric(delta["as_of"]).astype("int64")
    table = delta.pivot_table(index="as_of", columns="stage", values="n", aggfunc="sum", fill_value=0)
    table = table.reindex(grid_days, fill_value=0).cumsum()
    out = table.stack().rename("patients").reset_index()
    return out[out["patients"] > 0]


def summarise(counts: pd.DataFrame, patients: pd.DataFrame, dates: list[dt.date], outcome_date: dt.date,
              config: StudyConfig) -> tuple[pd.DataFrame, list[dict]]:
    """Per-date table and summary rows (counts rounded and small ones suppressed: disclosure control)."""
    disclosure = config.disclosure
    per_date = counts.pivot_table(index="as_of", columns="stage", values="patients", aggfunc="sum", fill_value=0)
    per_date.index = [EPOCH + dt.timedelta(days=int(d)) for d in per_date.index]
    per_date = per_date.reindex(dates, fill_value=0)
    per_date.columns = [f"stage_{c}" for c in per_date.columns]
    first, last = day_number(dates[0]), day_number(dates[-1])
    p = patients.apply(pd.to_numeric)
    # Cases: TRD met after the first as-of date and by the outcome date (so the grid could see them coming).
    cases = p[p.trd_day.notna() & (p.trd_day > first)]
    rows: list[dict] = [{"measure": "TRD cases after the first as-of date", "value": len(cases)}]
    for k, col in (("1", "first_stage1"), ("2", "first_stage2")):
        seen = cases[cases[col].notna()]
        lead = seen.trd_day - seen[col]
        rows.append({"measure": f"cases seen at stage {k} or beyond before TRD", "value": len(seen)})
        if len(seen):
            q = lead.quantile([0.25, 0.5, 0.75])
            rows.append({"measure": f"days from first stage {k} to TRD: median (IQR)", "value":
                         f"{q[0.5]:.0f} ({q[0.25]:.0f}-{q[0.75]:.0f})", "n": len(seen)})
    flagged = p[p.first_flag.notna()]
    rows.append({"measure": f"patients flagged (stage {config.trd.failed_trials}) on some as-of date", "value": len(flagged)})
    for label, days in HORIZONS.items():
        followed = flagged[flagged.first_flag + days <= day_number(outcome_date)]
        hit = followed.trd_day.notna() & (followed.trd_day <= followed.first_flag + days)
        n, k = len(followed), int(hit.sum())
        row = {"measure": f"PPV of the flag for TRD within {label}", "n": n, "events": k}
        # Published only when events and non-events both reach the minimum count: a proportion of
        # exact small counts next to rounded ones would give the small counts away.
        if n and (not disclosure.enabled or min(k, n - k) >= disclosure.min_count):
            lo, hi = proportion_confint(k, n, method="wilson")
            row["value"] = f"{k / n:.3f} (95% CI {lo:.3f}-{hi:.3f})"
        elif n:
            row["value"] = "suppressed (small count)"
        rows.append(row)
    if disclosure.enabled:
        per_date = per_date.apply(lambda c: c.map(lambda v: _protected(int(v), disclosure)))
        for row in rows:
            for key in ("value", "n", "events"):
                if isinstance(row.get(key), int):
                    row[key] = _protected(row[key], disclosure)
    per_date.index.name = "as_of"
    return per_date.reset_index(), rows


def _protected(value: int, disclosure) -> int | str:
    if 0 < value < disclosure.min_count:
        return small_label(disclosure)
    return round_count(value, disclosure.rounding)


def run_backtest(data, out, date_from: dt.date, date_to: dt.date, every: str = "month",
                 config: StudyConfig | None = None, backend: str | None = None, overwrite: bool = False) -> str:
    from trdpath.early.api import default_as_of, opened_extract
    from trdpath.output import check_output

    check_output(data, out, overwrite)
    config = config or StudyConfig()
    dates = grid(date_from, date_to, every)
    with opened_extract(data, config, backend) as (con, extract):
        outcome_date = default_as_of(con, extract, config)
        if dates[-1] > outcome_date:
            raise UserError(f"--to {date_to} is after the extract's index date {outcome_date}.")
        t = build_timeline(con, extract, config, outcome_date)
        counts, patients = backtest_tables(t, dates, outcome_date)
    per_date, rows = summarise(counts, patients, dates, outcome_date, config)
    with replace_folder(Path(out)) as folder:  # the whole output folder swapped in at once (trdpath.atomic)
        per_date.to_csv(folder / "backtest_by_date.csv", index=False)
        pd.DataFrame(rows).to_csv(folder / "backtest_summary.csv", index=False)
        (folder / "backtest.json").write_text(json.dumps(
            {"from": str(dates[0]), "to": str(dates[-1]), "every": every, "dates": len(dates),
             "outcome_date": str(outcome_date), "disclosure_control": config.disclosure.enabled, "summary": rows},
            indent=2, default=str), encoding="utf-8")
    return "\n".join(f"{r['measure']}: {r.get('value', '')}" for r in rows)
