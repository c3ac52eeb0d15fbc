"""The cell rules of disclosure control: what a reader knows of a published count, and which cells to hide.

The lowest layer of stats' disclosure control, shared by the main tables (stats/disclosure.py), the extra
tables (stats/extra_tables.py, stats/pathways.py) and the whole-release audit, so none of them imports another.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Iterable

from trdpath.config import DisclosureSection

SUPPRESSED = "suppressed"  # a secondary-suppressed count, or a percentage / statistic that used a hidden cell
WITHHELD = "withheld"  # a figure never published under the release policy: it would give an exact count back
PRIMARY, SECONDARY = "primary", "secondary"


def small_label(settings: DisclosureSection) -> str:
    return f"<{settings.min_count}"


def round_count(value: float, base: int) -> int:
    """Round to the nearest multiple of ``base``, halves upwards (base 10: 15 -> 20); base 1 keeps the count."""
    if base <= 1:
        return int(value)
    return int(base * math.floor(value / base + 0.5))


def suppression_pattern(values: dict[Hashable, int], groups: Iterable[Iterable[Hashable]],
                        min_count: int, rounding: int = 1, forced: Iterable[Hashable] = ()) -> dict[Hashable, str]:
    """Which cells to hide: primary (1 .. min_count-1) and secondary (so no hidden cell is recoverable).

    ``groups`` are sets of cells whose sum is published (directly or via another table). In each group,
    while exactly one cell is hidden, the hidden cells add up to less than ``min_count``, or a hidden cell is
    pinned to one value by what is published (:func:`_pinned`), the smallest visible non-zero cell is hidden
    as well; this repeats over all groups until nothing changes (a cell hidden for one group may expose
    another). Ties are broken by the order the cells were given in, so the same counts always give the same
    pattern.
    """
    order = {cell: i for i, cell in enumerate(values)}
    pattern = {cell: PRIMARY for cell, v in values.items() if 0 < v < min_count}
    # Cells hidden because of another table (the same count hidden there, or a total pinned there).
    pattern.update({cell: SECONDARY for cell in forced if cell in values and values[cell] > 0 and cell not in pattern})
    groups = [list(g) for g in groups]
    changed = True
    while changed:
        changed = False
        for group in groups:
            hidden = [c for c in group if c in pattern]
            if not hidden and not _pinned(values, group, pattern, min_count, rounding):
                continue
            while (len(hidden) == 1 or sum(values[c] for c in hidden) < min_count
                   or _pinned(values, group, pattern, min_count, rounding)):
                candidates = [c for c in group if c not in pattern and values[c] > 0]
                if not candidates:
                    break  # the group's total is itself small and hidden elsewhere, or nothing left to hide
                chosen = min(candidates, key=lambda c: (values[c], order[c]))
                pattern[chosen] = SECONDARY
                hidden.append(chosen)
                changed = True
    return pattern


def published_interval(value: int, min_count: int, rounding: int) -> tuple[int, float]:
    """What a reader knows of a count from its published form: 0; 1..min_count-1 (<8); r-2 .. r+2 (rounded)."""
    if value == 0:
        return 0, 0
    if value < min_count:
        return 1, min_count - 1
    shown = round_count(value, rounding)
    # Halves round up: shown = r for r - floor(b/2) <= value < r + b/2, i.e. r-2 .. r+2 for b = 5.
    return max(min_count, shown - rounding // 2), shown + (rounding + 1) // 2 - 1


def _pinned(values, group, pattern, min_count: int, rounding: int) -> bool:
    """Would a reader pin a hidden cell of this group to one value? (issue 14: the attacker's interval test)

    The reader knows each visible cell to within its rounding, each hidden one as 1..min_count-1 (primary) or
    >= min_count (secondary: chosen among visible counts), and the group's sum to within its own rounding. A
    hidden cell whose interval, given all that, holds one value only is recovered exactly (e.g. levels 1 (<8),
    8 (suppressed) and 18 (shown 20) of a group shown as 25 = 23..27: 1 + 8 + 18 = 27 leaves no other choice).
    """
    total = sum(values[c] for c in group)
    if total == 0:
        return False
    total_low, total_high = published_interval(total, min_count, rounding)
    bounds = {c: ((1, min_count - 1) if pattern[c] == PRIMARY else (min_count, math.inf)) if c in pattern
              else published_interval(values[c], min_count, rounding) for c in group}
    for c, (lb, ub) in bounds.items():
        if values[c] == 0 or (c not in pattern and rounding <= 1):
            continue  # a published 0 is exact by design; so is every count when nothing is rounded
        # c = total - (the others): its range given the total's and the others' ranges.
        others_low = sum(b[0] for d, b in bounds.items() if d != c)
        others_high = sum(b[1] for d, b in bounds.items() if d != c)
        low = max(lb, total_low - others_high)
        high = min(ub, total_high - others_low)
        if high <= low:
            return True
    return False
