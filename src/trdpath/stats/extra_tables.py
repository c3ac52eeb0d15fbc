"""The extract-level tables the report publishes beside the Analysis, protected inside protect() (issue 14).

Tables 6-9 and the Kaplan-Meier curve (issue 16 items 3-4: ``assumption_sensitivity``, ``lines``, ``steps``,
``step_times``, ``time_to_trd``) repeat the cohort, group and level sizes and partition the cohort again (line 1
by drug, position 1 by adequacy), so they are protected with the rest of the release: :class:`ExtraTables` holds
their true counts, :func:`protect_extras` protects them by the release policy with the cells the release audit
(:mod:`trdpath.stats.release_audit`) found pinned forced hidden, and the audit writes them into its one integer
programme beside every other table.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pandas as pd

from trdpath.values import is_missing

STEMS = ("assumption_sensitivity", "lines", "steps", "step_times", "time_to_trd")
LEVEL_COLUMNS = ("level2", "level3", "level4plus")
ASSUMPTION_COUNTS = ("mdd", "trd", *LEVEL_COLUMNS)
STATISTICS = ("mean", "sd", "median", "q1", "q3")
# Means and s.d. of whole days to 1 decimal (as ages); quantiles to whole days: a median of whole days ending in
# .5 says the number of patients is even, a linear-interpolated quartile's fraction says it modulo 4.
STAT_DECIMALS = {"mean": 1, "sd": 1, "median": 0, "q1": 0, "q3": 0}


@dataclasses.dataclass
class ExtraTables:
    """True counts of the extra tables (None: not computed), or their published versions after protect()."""

    assumptions: pd.DataFrame | None = None  # assumption_sensitivity.csv (stats.assumptions.COLUMNS)
    lines: pd.DataFrame | None = None  # line, drug, n, pct_cohort, pct_treated
    steps: pd.DataFrame | None = None  # position, step, adequacy, n
    step_times: pd.DataFrame | None = None  # interval, n, mean, sd, median, q1, q3
    time_to_trd: pd.DataFrame | None = None  # the published curve (already from rounded cumulative counts)
    km_counts: pd.DataFrame | None = None  # true cumulative events and censorings per bin (audit only; never published)

    def tables(self) -> dict[str, pd.DataFrame]:
        """The published tables by file stem (those computed)."""
        frames = {"assumption_sensitivity": self.assumptions, "lines": self.lines, "steps": self.steps,
                  "step_times": self.step_times, "time_to_trd": self.time_to_trd}
        return {stem: frame for stem, frame in frames.items() if frame is not None}


def pathway_tables(steps: pd.DataFrame, patients: pd.DataFrame, settings, index_date) -> ExtraTables:
    """True lines, steps and step-time tables and the published Kaplan-Meier curve from the pathway steps."""
    from trdpath.stats import pathways as pw

    cohort = pw.cohort_steps(steps, patients)
    n_cohort = int(patients["in_cohort"].fillna(False).astype(bool).sum())
    # Drugs too rare to publish at a line join "other" rather than fill the table with "<8" rows.
    min_named = settings.min_count if settings.enabled else 1
    return ExtraTables(lines=pw.lines_table(cohort, n_cohort, min_named=min_named), steps=pw.steps_table(cohort),
                       step_times=pw.step_times_table(cohort, patients),
                       time_to_trd=pw.published_time_to_trd(patients, index_date, settings),
                       km_counts=km_counts(patients, index_date))


def km_counts(patients: pd.DataFrame, index_date, bin_days: int | None = None) -> pd.DataFrame:
    """day, events, censored (cumulative, true) in the bins of stats.pathways.time_to_trd, and the total:
    what the curve's rounded counts stand for (the audit's truth; tests check the two agree)."""
    from trdpath.stats.pathways import KM_BIN_DAYS, days_to_trd

    bin_days = bin_days or KM_BIN_DAYS
    days, trd = days_to_trd(patients, index_date)
    if len(days) == 0:
        return pd.DataFrame(columns=["day", "events", "censored", "total"])
    bins = (np.ceil(days / bin_days)).astype(int)
    size = int(bins.max()) + 1
    events = np.cumsum(np.bincount(bins[trd], minlength=size))
    censored = np.cumsum(np.bincount(bins[~trd], minlength=size))
    return pd.DataFrame({"day": np.arange(size) * bin_days, "events": events, "censored": censored,
                         "total": len(days)})


# --- protection ----------------------------------------------------------------------------------------------

def protect_extras(true: ExtraTables, settings, n_cohort: int, hide: dict) -> ExtraTables:
    """Every extra table protected by the release policy; ``hide[stem]`` holds cells hidden for the release audit
    (row index; for the assumption table (row, column))."""
    return ExtraTables(
        assumptions=None if true.assumptions is None else protect_assumptions(true.assumptions, settings,
                                                                              hide.get("assumptions", ())),
        lines=None if true.lines is None else protect_lines(true.lines, settings, n_cohort, hide.get("lines", ())),
        steps=None if true.steps is None else protect_steps(true.steps, settings, hide.get("steps", ())),
        step_times=None if true.step_times is None else protect_step_times(true.step_times, settings,
                                                                           hide.get("step_times", ())),
        time_to_trd=true.time_to_trd, km_counts=None)


def _counts(frame: pd.DataFrame, groups: list[list], settings, forced=()) -> tuple[list, dict]:
    """Published n of every row: primary and secondary suppression along ``groups`` (row indices adding up to a
    published total) with the ``forced`` rows hidden, the rest rounded."""
    from trdpath.stats.cell_rules import PRIMARY, SUPPRESSED, round_count, small_label, suppression_pattern

    values = {i: int(n) for i, n in frame["n"].items()}
    pattern = suppression_pattern(values, groups, settings.min_count, settings.rounding,
                                  [i for i in forced if i in values])
    shown = [small_label(settings) if pattern.get(i) == PRIMARY else SUPPRESSED if i in pattern
             else round_count(values[i], settings.rounding) for i in frame.index]
    return shown, pattern


def _is_count(value) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def protect_lines(lines: pd.DataFrame, settings, n_cohort: int, forced=()) -> pd.DataFrame:
    """A line's drugs add up to its total ("any"): one group per line. Percentages from the rounded counts over
    the rounded cohort and the line's rounded total."""
    from trdpath.stats.cell_rules import SUPPRESSED, round_count

    if not settings.enabled or lines.empty:
        return lines.copy()
    groups = [list(part.index[part["drug"] != "any"]) for _, part in lines.groupby("line")]
    out = lines.astype(object).copy()
    out["n"] = pd.Series(_counts(lines, groups, settings, forced)[0], index=lines.index, dtype=object)
    cohort = round_count(n_cohort, settings.rounding) if n_cohort >= settings.min_count else 0
    totals = {line: out.at[i, "n"] for i, line in lines["line"].items() if lines.at[i, "drug"] == "any"}
    for i, line in lines["line"].items():
        n, total = out.at[i, "n"], totals.get(line)
        out.at[i, "pct_cohort"] = 100 * n / cohort if _is_count(n) and cohort else SUPPRESSED
        out.at[i, "pct_treated"] = 100 * n / total if _is_count(n) and _is_count(total) and total else SUPPRESSED
    return out


def protect_steps(steps: pd.DataFrame, settings, forced=()) -> pd.DataFrame:
    """A position's (step, adequacy) cells add up to the patients with a drug at that position (the Sankey's
    column): one group per position."""
    if not settings.enabled or steps.empty:
        return steps.copy()
    out = steps.astype(object).copy()
    groups = [list(part.index) for _, part in steps.groupby("position")]
    out["n"] = pd.Series(_counts(steps, groups, settings, forced)[0], index=steps.index, dtype=object)
    return out


def protect_step_times(times: pd.DataFrame, settings, forced=()) -> pd.DataFrame:
    """n as every count; a row the release audit names is ``suppressed`` (``withheld`` when below min_count: its
    ``<8`` would cap a total that more than seven published cells of at least 1 fill); a hidden n hides its
    statistics; means and s.d. to 1 decimal, median and quartiles to whole days. No minimum or maximum is
    published (one patient's value)."""
    from trdpath.stats.cell_rules import SUPPRESSED, WITHHELD, round_count, small_label

    if not settings.enabled:
        return times.copy()
    out = times.astype(object).copy()
    for i, n in times["n"].items():
        n = int(n)
        small, hidden = 0 < n < settings.min_count, i in forced and n > 0
        out.at[i, "n"] = (WITHHELD if small and hidden else small_label(settings) if small else SUPPRESSED
                          if hidden else round_count(n, settings.rounding))
        hidden = hidden or small
        for column in STATISTICS:
            value = times.at[i, column]
            out.at[i, column] = SUPPRESSED if hidden else value if is_missing(value) else \
                _release_days(float(value), STAT_DECIMALS[column])
    return out


def _release_days(value: float, decimals: int):
    """Days to ``decimals`` (1: means and s.d.); whole days with halves up (a half-even rounding of a median
    ending in .5 would say its parity)."""
    return round(value, decimals) + 0.0 if decimals else int(math.floor(value + 0.5))


def protect_assumptions(frame: pd.DataFrame, settings, forced=()) -> pd.DataFrame:
    """Each row protected like the resistance levels: MDD + TRD add up to the cohort and levels 2 + 3 + 4+ to
    TRD (linked groups); ``forced`` (row, column) cells hidden; counts rounded and percentages computed from the
    rounded counts."""
    from trdpath.stats.cell_rules import PRIMARY, SUPPRESSED, round_count, small_label, suppression_pattern

    if not settings.enabled or frame.empty:
        return frame.copy()
    out = frame.astype(object).copy()
    small = small_label(settings)
    forced = set(forced)
    for i, row in frame.iterrows():
        values = {c: int(row[f"{c}_n"]) for c in ASSUMPTION_COUNTS}
        pattern = suppression_pattern(values, [["mdd", "trd"], list(LEVEL_COLUMNS)], settings.min_count,
                                      settings.rounding, [c for (j, c) in forced if j == i])
        shown = {}
        for cell, value in values.items():
            state = pattern.get(cell)
            shown[cell] = small if state == PRIMARY else SUPPRESSED if state else round_count(value, settings.rounding)
            out.at[i, f"{cell}_n"] = shown[cell]
        cohort = int(row["cohort_n"])
        out.at[i, "cohort_n"] = small if 0 < cohort < settings.min_count else round_count(cohort, settings.rounding)
        for cell, total in (("trd", out.at[i, "cohort_n"]), *((name, shown["trd"]) for name in LEVEL_COLUMNS)):
            ok = _is_count(shown[cell]) and _is_count(total) and total > 0
            out.at[i, f"{cell}_pct"] = 100 * shown[cell] / total if ok else (SUPPRESSED if total else np.nan)
    return out


def headline_copies(assumptions_published: pd.DataFrame | None, levels_published: pd.DataFrame,
                    levels_true: pd.DataFrame) -> tuple[set, set]:
    """The headline row of Table 6 repeats the resistance-level sizes: a size hidden in one is hidden in the other.

    Returns (assumption cells to hide, level-table cells to hide) as (row, column) keys of each table's protection.
    """
    if assumptions_published is None or not len(assumptions_published) or not len(levels_true):
        return set(), set()
    first = levels_true.index[levels_true["variable"] == "resistance_level"]
    if not len(first):
        return set(), set()
    headline, size_row = assumptions_published.index[0], first[0]
    to_assumptions, to_levels = set(), set()
    for column in LEVEL_COLUMNS:
        in_levels = isinstance(levels_published.at[size_row, f"{column}_n"], str)
        in_assumptions = isinstance(assumptions_published.at[headline, f"{column}_n"], str)
        if in_levels and not in_assumptions:
            to_assumptions.add((headline, column))
        if in_assumptions and not in_levels:
            to_levels.add((size_row, column))
    return to_assumptions, to_levels


def cumulative_window(printed: int, rounding: int) -> tuple[float, float]:
    """What a rounded cumulative count of the curve allows (no small-number rule there: 0 stands for 0-2)."""
    if rounding <= 1:
        return float(printed), float(printed)
    return float(max(0, printed - rounding // 2)), float(printed + (rounding + 1) // 2 - 1)


def published_cumulative(curve: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """The rounded cumulative events and censorings a reader adds up from the curve's per-bin counts."""
    return (np.cumsum(pd.to_numeric(curve["events"]).to_numpy(dtype=float)),
            np.cumsum(pd.to_numeric(curve["censored"]).to_numpy(dtype=float)))

