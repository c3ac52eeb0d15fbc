"""Missing values, judged one way everywhere: None, pandas NA/NaT and NaN."""

from __future__ import annotations

import math

import pandas as pd


def is_missing(value, *, blank_text: bool = False) -> bool:
    """True for None, pd.NA, pd.NaT and NaN; with `blank_text`, also for a text of only spaces (the
    data contract reads an empty CSV cell as missing; a loader that must keep '' as text leaves it off)."""
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    if isinstance(value, float) and math.isnan(value):  # numpy.float64 is a float too
        return True
    return blank_text and isinstance(value, str) and value.strip() == ""
