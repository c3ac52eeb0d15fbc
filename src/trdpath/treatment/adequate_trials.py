"""Adequate trials (trd-rules.md 3.4): adequate-dose eras lasting at least `min_trial_days`."""

from __future__ import annotations

import ibis

from trdpath.config import TreatmentSection
from trdpath.treatment.eras import merge_into_eras


def adequate_trials(exposures: ibis.Table, treatment: TreatmentSection) -> ibis.Table:
    """patient_id, ingredient, trial_start, adequacy_day for every adequate trial of an antidepressant."""
    adequate = exposures.filter(exposures.adequate_dose)
    eras = merge_into_eras(adequate, ["patient_id", "ingredient"], treatment.era_gap_days)
    trials = eras.filter((eras.era_end - eras.era_start) >= treatment.min_trial_days)
    return trials.select(
        "patient_id", "ingredient", trial_start=trials.era_start,
        adequacy_day=trials.era_start + treatment.min_trial_days,
    )
