"""The Tables view's filter: ONE dimension at a time, each a closed list of values (docs/serve.md).

Only values from these lists are accepted (anything else is a 400), so a filter never carries SQL; a
second filter is refused because combinations let a reader difference views (live.py, rule 1)."""

from __future__ import annotations

from trdpath.reference import SERVICE_CATEGORIES

AGE_BANDS = {"18-24": (18, 24), "25-34": (25, 34), "35-44": (35, 44), "45-54": (45, 54),
             "55-64": (55, 64), "65+": (65, 200)}
SEXES = ("female", "male", "other", "unknown")
ETHNICITY_GROUPS = ("Black", "Mixed", "South Asian", "White", "Other", "Unknown")
LEVELS = ("MDD", "2", "3", "4+")
SERVICES = tuple(SERVICE_CATEGORIES)
DIMENSIONS = {"age_band": "Age band", "sex": "Sex", "ethnicity": "Ethnicity group", "level": "Resistance level",
              "episode_year": "Year the episode started", "service": "Referred to (any referral)"}


class FilterError(ValueError):
    """A filter the server does not accept (its message is shown to the user)."""


def parse_filter(query, options: dict[str, tuple[str, ...]]) -> tuple[str, str] | None:  # noqa: ANN001
    """(dimension, value) from the query string, or None for the whole cohort."""
    given = {k: (v or "").strip() for k, v in query.items() if (v or "").strip()}
    unknown = sorted(set(given) - set(DIMENSIONS))
    if unknown:
        raise FilterError(f"Unknown filter {unknown[0]!r}.")
    if len(given) > 1:
        raise FilterError("One filter at a time: combined filters could be compared to single out a few patients.")
    if not given:
        return None
    dimension, value = next(iter(given.items()))
    if value not in options[dimension]:
        raise FilterError(f"{DIMENSIONS[dimension]} must be one of: {', '.join(options[dimension])}.")
    return dimension, value
