"""Merge intervals into eras: the one gaps-and-islands rule behind eras, adequate trials and episodes.

study-definition.md 3.3: exposures merge when the next starts no more than `gap` days after the
current era's end. Days are integers (days since 1970-01-01) so the same expression runs on
every backend.
"""

from __future__ import annotations

import ibis
import ibis.expr.datatypes as dt
import ibis.expr.operations as ops

_BITS = 31  # one running count per 31 bits of an int64 (see number_eras)
_FIELD = 2**_BITS


def number_eras(intervals: ibis.Table, keys: list[str], gap: int, systems: dict[str, str | None],
                start: str = "start", end: str = "end") -> ibis.Table:
    """Add one running era number per system: {column name: None (all rows) or a boolean column}.

    Within `keys` and in (start, end) order, an interval opens a new era when it starts more
    than `gap` days after the latest end of every earlier interval of the same system. A system
    restricted to a boolean column (adequate-dose exposures) numbers only those rows; the others
    get NULL. All systems share the same two window passes, so one sort serves them all.

    Rows are ordered by start alone: among rows starting on the same day only the first (in any
    order) can open an era, since every later one starts within the end of an earlier one
    (ends are never before starts), and whether the first opens depends only on rows starting
    earlier. So every order of such ties numbers the same eras, and the engine sorts on one key
    fewer (~5% faster on DuckDB).
    """
    order = [intervals[start]]
    earlier = ibis.window(group_by=keys, order_by=order, rows=(None, -1))
    running = ibis.window(group_by=keys, order_by=order, rows=(None, 0))
    opens = {}
    for name, only in systems.items():
        counted_end = intervals[end] if only is None else ibis.ifelse(intervals[only], intervals[end], ibis.null("int64"))
        latest_end_before = counted_end.max().over(earlier)
        opens_era = latest_end_before.isnull() | (intervals[start] > latest_end_before + gap)
        if only is not None:
            opens_era = opens_era & intervals[only]
        opens[name] = opens_era.ifelse(1, 0)
    # The running counts of two systems share one sum: each opening adds 1 to its own 31-bit field
    # of an int64 (a partition has far fewer than 2**31 rows). One windowed sum instead of two
    # costs DuckDB about 15% less on this pass (measured on 10M exposures).
    names = list(systems)
    pairs = [names[i:i + 2] for i in range(0, len(names), 2)]
    packed = {}
    for i, pair in enumerate(pairs):
        packed[f"_opens_{i}"] = opens[pair[0]].cast("int64")
        if len(pair) == 2:
            packed[f"_opens_{i}"] = packed[f"_opens_{i}"] | (opens[pair[1]].cast("int64") << _BITS)
    flagged = intervals.mutate(**packed)
    # An explicit cast: the sum's declared type is already int64, but PostgreSQL returns NUMERIC.
    counted = flagged.mutate(**{f"_count_{i}": ops.Cast(flagged[f"_opens_{i}"].sum().over(running), to=dt.int64).to_expr()
                                for i in range(len(pairs))})
    numbered = counted.mutate(**{
        name: counted[f"_count_{i}"] & (_FIELD - 1) if k == 0 else counted[f"_count_{i}"] >> _BITS
        for i, pair in enumerate(pairs) for k, name in enumerate(pair)})
    numbered = numbered.drop(*packed, *(f"_count_{i}" for i in range(len(pairs))))
    restricted = {name: ibis.ifelse(numbered[only], numbered[name], ibis.null("int64"))
                  for name, only in systems.items() if only is not None}
    return numbered.mutate(**restricted) if restricted else numbered


def last_era_start(intervals: ibis.Table, keys: list[str], gap: int, start: str = "start", end: str = "end") -> ibis.Table:
    """One row per `keys`: `era_start`, the start of the last era (same merging rule as above).

    Only the last era is wanted, so one window pass is enough: an interval that opens an era is
    known from the first pass alone, and the last era starts at the latest such interval.
    Ordered by start alone, as in number_eras (ties cannot change which day an era opens).
    """
    order = [intervals[start]]
    earlier = ibis.window(group_by=keys, order_by=order, rows=(None, -1))
    latest_end_before = intervals[end].max().over(earlier)
    flagged = intervals.select(*keys, start, _opens=latest_end_before.isnull() | (intervals[start] > latest_end_before + gap))
    return flagged.group_by(keys).agg(era_start=flagged[start].max(where=flagged._opens))
