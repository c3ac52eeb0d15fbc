"""Episodes (study-definition.md 3.5): antidepressant eras with no break longer than `episode_gap_days`."""

from __future__ import annotations

import ibis

from trdpath.config import TreatmentSection
from trdpath.treatment.eras import last_era_start


def current_episodes(antidepressant_eras: ibis.Table, treatment: TreatmentSection) -> ibis.Table:
    """pkey, episode_start: the start of each patient's last episode up to the index date."""
    last = last_era_start(antidepressant_eras, ["pkey"], treatment.episode_gap_days, start="era_start", end="era_end")
    return last.select("pkey", episode_start=last.era_start)
