"""Statistical disclosure control for everything that leaves the program (CSV, XLSX, HTML, DOCX, figures).

The rules (issue 3; the common practice of NHS trusted research environments such as OpenSAFELY):

* **Primary suppression**: a count from 1 to ``min_count - 1`` is shown as ``<min_count`` (e.g. ``<8``).
* **Secondary suppression**: where counts add up to a published total (the levels of a categorical variable
  add up to the group size; TRD levels 2, 3 and 4+ add up to the TRD count shown in Tables 1-2; the flows
  into and out of a Sankey node balance), a single hidden cell could be recovered by subtraction. So in every
  such group the smallest visible non-zero cells are hidden too (shown as ``suppressed``) until at least two
  cells are hidden and the hidden cells add up to at least ``min_count``.
* **Rounding**: every other count is rounded to the nearest ``rounding`` (5); percentages are computed from
  the rounded counts and rounded denominators, so they cannot be turned back into exact counts.
* Percentages, means and test statistics that use a hidden cell are hidden too; the tests themselves are
  computed on the true counts (by :func:`trdpath.stats.analyse`) before this step.

:func:`protect` turns an :class:`~trdpath.stats.Analysis` of true counts into one whose tables hold only
publishable values (numbers, or the strings ``<8`` / ``suppressed``).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Hashable, Iterable

import numpy as np
import pandas as pd

from trdpath.config import DisclosureSection
from trdpath.stats.tables import RESISTANCE_GROUPS

SUPPRESSED = "suppressed"  # a secondary-suppressed count, or a percentage / statistic that used a hidden cell
PRIMARY, SECONDARY = "primary", "secondary"


def small_label(settings: DisclosureSection) -> str:
    return f"<{settings.min_count}"


def round_count(value: float, base: int) -> int:
    """Round to the nearest multiple of ``base``, halves upwards (base 10: 15 -> 20); base 1 keeps the count."""
    if base <= 1:
        return int(value)
    return int(base * math.floor(value / base + 0.5))


def suppression_pattern(values: dict[Hashable, int], groups: Iterable[Iterable[Hashable]],
                        min_count: int) -> dict[Hashable, str]:
    """Which cells to hide: primary (1 .. min_count-1) and secondary (so no hidden cell is recoverable).

    ``groups`` are sets of cells whose sum is published (directly or via another table). In each group,
    while exactly one cell is hidden or the hidden cells add up to less than ``min_count``, the smallest
    visible non-zero cell is hidden as well; this repeats over all groups until nothing changes (a cell
    hidden for one group may expose another). Ties are broken by the order the cells were given in, so the
    same counts always give the same pattern.
    """
    order = {cell: i for i, cell in enumerate(values)}
    pattern = {cell: PRIMARY for cell, v in values.items() if 0 < v < min_count}
    groups = [list(g) for g in groups]
    changed = True
    while changed:
        changed = False
        for group in groups:
            hidden = [c for c in group if c in pattern]
            if not hidden:
                continue
            while len(hidden) == 1 or sum(values[c] for c in hidden) < min_count:
                candidates = [c for c in group if c not in pattern and values[c] > 0]
                if not candidates:
                    break  # the group's total is itself small and hidden elsewhere, or nothing left to hide
                chosen = min(candidates, key=lambda c: (values[c], order[c]))
                pattern[chosen] = SECONDARY
                hidden.append(chosen)
                changed = True
    return pattern


class _Protector:
    def __init__(self, settings: DisclosureSection):
        self.settings = settings
        self.small = small_label(settings)

    def count(self, value: float, state: str | None):
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return np.nan
        if state == PRIMARY:
            return self.small
        if state == SECONDARY:
            return SUPPRESSED
        return round_count(value, self.settings.rounding)

    def total(self, value: int) -> int | str:
        """A denominator (group size): small ones are hidden like any count."""
        return self.small if 0 < value < self.settings.min_count else round_count(value, self.settings.rounding)

    def pct(self, count_value: float, state: str | None, denominator: float):
        if state is not None:
            return SUPPRESSED
        if count_value is None or (isinstance(count_value, float) and math.isnan(count_value)):
            return np.nan
        rounded_denominator = round_count(denominator, self.settings.rounding)
        if rounded_denominator <= 0 or 0 < denominator < self.settings.min_count:
            return SUPPRESSED if denominator else np.nan
        return 100.0 * round_count(count_value, self.settings.rounding) / rounded_denominator


def _hide_statistics(out: pd.DataFrame, index, columns=("statistic", "df", "df2", "p_value")) -> None:
    for column in columns:
        if column in out.columns:
            out.at[index, column] = SUPPRESSED
    note = "statistic suppressed: it uses a suppressed count (disclosure control)"
    previous = out.at[index, "warning"] if "warning" in out.columns else ""
    if "warning" in out.columns:
        out.at[index, "warning"] = "; ".join(w for w in (previous if isinstance(previous, str) else "", note) if w)


def _protect_grouped_table(table: pd.DataFrame, groups: tuple[str, ...], settings: DisclosureSection,
                           denominator: Callable[[int, str], float], row_sums_over: tuple[str, ...] = (),
                           label_column: str = "variable", level_column: str = "level",
                           extra_groups: list[list[tuple[int, str]]] = ()) -> pd.DataFrame:
    """Protect a table of rows x groups with ``{group}_n`` / ``{group}_pct`` (and optional mean/sd) columns.

    Categorical variables are the blocks of level rows after a header row whose counts are empty; their
    level counts add up to the group size. ``row_sums_over`` names groups whose counts in a row add up to a
    number published elsewhere (TRD levels 2, 3, 4+ add up to the TRD count of Tables 1-2).
    """
    protector = _Protector(settings)
    values, blocks = {}, {}
    header_of: dict[int, int] = {}
    current_header = None
    for i, row in table.iterrows():
        has_counts = any(pd.notna(row.get(f"{g}_n")) for g in groups)
        if not has_counts:
            current_header = i
            blocks[i] = []
            continue
        if current_header is not None and row[label_column] == table.at[current_header, label_column] \
                and row[level_column] != "":
            blocks[current_header].append(i)
            header_of[i] = current_header
        else:
            current_header = None
        for g in groups:
            if pd.notna(row.get(f"{g}_n")):
                values[(i, g)] = int(row[f"{g}_n"])
    cell_groups = [list(g) for g in extra_groups]
    for members in blocks.values():
        for g in groups:
            cell_groups.append([(i, g) for i in members if (i, g) in values])
    if row_sums_over:
        for i in table.index:
            cells = [(i, g) for g in row_sums_over if (i, g) in values]
            if len(cells) > 1:
                cell_groups.append(cells)
    pattern = suppression_pattern(values, cell_groups, settings.min_count)

    out = table.astype(object).copy()
    for (i, g), value in values.items():
        state = pattern.get((i, g))
        out.at[i, f"{g}_n"] = protector.count(value, state)
        if f"{g}_pct" in out.columns:
            out.at[i, f"{g}_pct"] = (protector.pct(value, state, denominator(i, g))
                                     if pd.notna(table.at[i, f"{g}_pct"]) else np.nan)
        if state is not None:
            for stat in ("mean", "sd"):
                if f"{g}_{stat}" in out.columns and pd.notna(table.at[i, f"{g}_{stat}"]):
                    out.at[i, f"{g}_{stat}"] = SUPPRESSED
    # A test is hidden when any count it was computed from is hidden.
    for i, row in table.iterrows():
        if not isinstance(row.get("test"), str) or not row.get("test"):
            continue
        members = blocks.get(i, []) + [i]
        if any((m, g) in pattern for m in members for g in groups):
            _hide_statistics(out, i)
    return out


def _protect_comparison(table: pd.DataFrame, sizes: dict[str, int], settings) -> pd.DataFrame:
    return _protect_grouped_table(table, ("mdd", "trd"), settings, lambda i, g: sizes[g])


def _protect_resistance(table: pd.DataFrame, settings: DisclosureSection) -> pd.DataFrame:
    first = table.index[table["variable"] == "resistance_level"]
    sizes = {g: int(table.loc[first[0], f"{g}_n"]) for g in RESISTANCE_GROUPS} if len(first) else {}
    total = sum(sizes.values())
    extra = []
    if len(first):
        # The four level counts add up to the cohort, and 2 + 3 + 4+ to the TRD count.
        extra = [[(first[0], g) for g in RESISTANCE_GROUPS], [(first[0], g) for g in RESISTANCE_GROUPS[1:]]]

    def denominator(i, g):
        return total if i in first else sizes.get(g, 0)

    out = _protect_grouped_table(table, RESISTANCE_GROUPS, settings, denominator,
                                 row_sums_over=RESISTANCE_GROUPS[1:], extra_groups=extra)
    # The mean of a 0/1 indicator (economic inactivity) is an exact proportion: it would undo the rounding,
    # so it is not published (its rounded percentage is).
    indicator_rows = table.index[(table["level"].fillna("") != "") & (table["test"].fillna("") != "")]
    for i in indicator_rows:
        for g in RESISTANCE_GROUPS:
            out.at[i, f"{g}_mean"] = np.nan
            out.at[i, f"{g}_sd"] = np.nan
    return out


def _protect_service_use(table: pd.DataFrame, sizes: dict[str, int], settings) -> pd.DataFrame:
    out_parts = []
    for measure, part in table.groupby("measure", sort=False):
        if measure == "referrals":
            totals = part[part["category"] == ""]
            total = {g: int(totals.iloc[0][f"{g}_n"]) for g in ("mdd", "trd")} if len(totals) else sizes
            categories = part.index[part["category"] != ""]
            # Referrals per category add up to the group's total referrals (the first row).
            extra = [[(i, g) for i in categories] for g in ("mdd", "trd")]
            protected = _protect_grouped_table(
                part, ("mdd", "trd"), settings, lambda i, g: total[g], label_column="measure",
                level_column="category", extra_groups=extra)
            if len(totals):
                hidden = any(protected.at[i, f"{g}_n"] in (SUPPRESSED, small_label(settings))
                             for i in categories for g in ("mdd", "trd"))
                if hidden:
                    _hide_statistics(protected, totals.index[0])
                for g in ("mdd", "trd"):
                    protected.at[totals.index[0], f"{g}_pct"] = 100.0
        else:
            protected = _protect_grouped_table(part, ("mdd", "trd"), settings, lambda i, g: sizes[g],
                                               label_column="measure", level_column="category")
        out_parts.append(protected)
    return pd.concat(out_parts).loc[table.index]


def _protect_regression(analysis, settings: DisclosureSection) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Hide a term's odds ratio when its 2x2 table (term x group) has a small cell; round each model's n."""
    table3 = analysis.table3.astype(object).copy()
    cells = analysis.term_cells.set_index("term") if len(analysis.term_cells) else pd.DataFrame()
    for i, row in analysis.table3.iterrows():
        if row["term"] in cells.index:
            counts = cells.loc[row["term"]]
            if any(0 < int(counts[c]) < settings.min_count for c in ("mdd_yes", "trd_yes", "mdd_no", "trd_no")):
                for column in ("odds_ratio", "ci_lower", "ci_upper", "p_value", "coef", "std_err"):
                    table3.at[i, column] = SUPPRESSED
                table3.at[i, "warning"] = "; ".join(
                    w for w in (row["warning"] if isinstance(row["warning"], str) else "",
                                f"odds ratio suppressed: fewer than {settings.min_count} patients in a cell") if w)
    model_fit = analysis.model_fit.astype(object).copy()
    model_fit["n"] = [_Protector(settings).total(int(n)) if pd.notna(n) else np.nan
                      for n in analysis.model_fit["n"]]
    return table3, model_fit


def _protect_journeys(journeys: pd.DataFrame, settings: DisclosureSection) -> pd.DataFrame:
    """Sankey flows: a node's inflows and outflows balance, so each node's links form one group."""
    values = {i: int(n) for i, n in journeys["n"].items()}
    groups = []
    for (_, _), part in journeys.groupby(["step", "source"]):
        groups.append(list(part.index))  # outflows of a node
    for step in sorted(journeys["step"].unique()):
        incoming = journeys[journeys["step"] == step]
        outgoing = journeys[journeys["step"] == step + 1]
        for target, part in incoming.groupby("target"):
            onward = outgoing.index[outgoing["source"] == target]
            groups.append(list(part.index) + list(onward))
    pattern = suppression_pattern(values, groups, settings.min_count)
    protector = _Protector(settings)
    out = journeys.astype(object).copy()
    out["n"] = [protector.count(values[i], pattern.get(i)) for i in journeys.index]
    return out


def protect_attrition(attrition: pd.DataFrame, settings: DisclosureSection) -> pd.DataFrame:
    """Cohort flow: small exclusion steps are merged with the next step (or the previous at the end).

    Merging, rather than hiding, keeps the chain ``remaining - excluded = next remaining`` from revealing a
    small exclusion by subtraction; the remaining counts are rounded like every count.
    """
    if not settings.enabled:
        return attrition.copy()
    rows = [dict(r) for _, r in attrition.iterrows()]
    merged: list[dict] = []
    pending: dict | None = None
    for row in rows:
        excluded = int(row["excluded"]) if pd.notna(row.get("excluded")) else 0
        if pending is not None:
            row = {**row, "rule": f"{pending['rule']} + {row['rule']}", "excluded": pending["excluded"] + excluded}
            excluded = row["excluded"]
            pending = None
        if 0 < excluded < settings.min_count:
            pending = row
            continue
        merged.append(row)
    if pending is not None:
        if merged and len(merged) > 1:
            last = merged.pop()
            merged.append({**pending, "rule": f"{last['rule']} + {pending['rule']}",
                           "excluded": int(last["excluded"]) + int(pending["excluded"])})
        else:
            merged.append(pending)
    protector = _Protector(settings)
    out = pd.DataFrame(merged, columns=attrition.columns).astype(object)
    out["remaining"] = [protector.total(int(v)) for v in out["remaining"]]
    out["excluded"] = [protector.total(int(v)) if pd.notna(v) else np.nan for v in out["excluded"]]
    return out


def protect(analysis, settings: DisclosureSection):
    """The publishable version of an Analysis (unchanged, marked as such, when disclosure is disabled)."""
    if not settings.enabled:
        return dataclasses.replace(analysis, disclosure_applied=False)
    sizes = {"mdd": analysis.n_mdd, "trd": analysis.n_trd}
    table3, model_fit = _protect_regression(analysis, settings)
    posthoc = analysis.resistance_posthoc.astype(object).copy()
    # The difference of two proportions with exact denominators would reveal exact counts: not published.
    posthoc.loc[posthoc["level"].fillna("") != "", "mean_difference"] = np.nan
    return dataclasses.replace(
        analysis,
        table1=_protect_comparison(analysis.table1, sizes, settings),
        table2=_protect_comparison(analysis.table2, sizes, settings),
        table3=table3, model_fit=model_fit,
        resistance_levels=_protect_resistance(analysis.resistance_levels, settings),
        resistance_posthoc=posthoc,
        service_use=_protect_service_use(analysis.service_use, sizes, settings),
        journeys=_protect_journeys(analysis.journeys, settings),
        disclosure_applied=True,
    )


def published_group_sizes(analysis, settings: DisclosureSection) -> dict[str, int | str]:
    """MDD, TRD and cohort sizes as they may be printed."""
    if not settings.enabled:
        return {"mdd": analysis.n_mdd, "trd": analysis.n_trd, "cohort": analysis.n_cohort}
    protector = _Protector(settings)
    return {"mdd": protector.total(analysis.n_mdd), "trd": protector.total(analysis.n_trd),
            "cohort": protector.total(analysis.n_cohort)}
