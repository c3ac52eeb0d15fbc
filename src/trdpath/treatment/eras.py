"""Merge intervals into eras: the one gaps-and-islands rule behind eras, adequate trials and episodes.

trd-rules.md 3.3: exposures merge when the next starts no more than `gap` days after the
current era's end. Days are integers (days since 1970-01-01) so the same expression runs on
every backend.
"""

from __future__ import annotations

import ibis


def merge_into_eras(intervals: ibis.Table, keys: list[str], gap: int, start: str = "start", end: str = "end") -> ibis.Table:
    """One row per era: `keys`, `era_start`, `era_end`.

    An interval starts a new era when it starts more than `gap` days after the latest end of
    every interval before it (in start order) within the same keys.
    """
    order = [intervals[start], intervals[end]]
    earlier = ibis.window(group_by=keys, order_by=order, rows=(None, -1))
    running = ibis.window(group_by=keys, order_by=order, rows=(None, 0))
    latest_end_before = intervals[end].max().over(earlier)
    starts_new_era = (latest_end_before.isnull() | (intervals[start] > latest_end_before + gap)).cast("int64")
    numbered = intervals.select(*keys, start, end, _new=starts_new_era)
    numbered = numbered.mutate(_era=numbered._new.sum().over(running))
    return numbered.group_by([*keys, "_era"]).agg(era_start=numbered[start].min(), era_end=numbered[end].max()).drop("_era")
