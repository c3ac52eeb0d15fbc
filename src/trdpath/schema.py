"""The data contract (docs/data-contract.md) as code: input tables and the per-patient output."""

from __future__ import annotations

from trdpath.cohort.exclusions import EXCLUSION_REASONS as _EXCLUSION_REASONS
from trdpath.reference import COMORBIDITY_FLAGS, SERVICE_CATEGORIES

# Input tables: required columns, optional columns, and which columns hold dates / numbers.
TABLES: dict[str, dict[str, tuple[str, ...]]] = {
    "patients": {
        "required": ("patient_id", "sex"),
        "optional": ("birth_date", "year_of_birth", "ethnicity", "employment_status", "death_date"),
        "dates": ("birth_date", "death_date"),
        "numbers": ("year_of_birth",),
    },
    "diagnoses": {
        "required": ("patient_id", "code", "date"),
        # ICD10 / ICD9CM (any spelling) when the extract knows it; else codes.system decides (issue 13).
        "optional": ("code_system",),
        "dates": ("date",),
        "numbers": (),
    },
    "prescriptions": {
        "required": ("patient_id", "drug", "start_date"),
        "optional": ("end_date", "days_supply", "daily_dose_mg", "atc_code"),
        "dates": ("start_date", "end_date"),
        "numbers": ("days_supply", "daily_dose_mg"),
    },
    "referrals": {
        "required": ("patient_id", "service", "date"),
        "optional": ("service_category",),
        "dates": ("date",),
        "numbers": (),
    },
    "notes": {
        "required": ("patient_id", "note_id", "date", "text"),
        "optional": (),
        "dates": ("date",),
        "numbers": (),
    },
}
REQUIRED_TABLES = ("patients", "diagnoses", "prescriptions")
# Values no real record can hold (issue 13; docs/data-contract.md "Impossible values"): counted in
# data_quality.csv and kept out of the computation they would corrupt. Limits of the data, not study
# choices: no antidepressant or augmenting agent is given at 10 g a day (the highest licensed doses are
# about 2 g, lithium carbonate), no single supply lasts ten years, and no patient is older than 120.
MAX_DAILY_DOSE_MG = 10_000.0
MAX_DAYS_SUPPLY = 3_650
MAX_AGE = 120


def dose_is_possible(dose):
    """0 <= dose <= MAX_DAILY_DOSE_MG, for an Ibis value or a Python float alike; false for NaN and
    infinities (NaN compares false in Python, and every engine orders NaN above every number)."""
    return (dose >= 0) & (dose <= MAX_DAILY_DOSE_MG)


def days_supply_is_possible(days):
    return (days >= 0) & (days <= MAX_DAYS_SUPPLY)
OPTIONAL_TABLES = ("referrals", "notes")

# Exclusion reasons in the order the cohort rules are applied (study-definition.md 2): cohort/exclusions.py.
EXCLUSION_REASONS = _EXCLUSION_REASONS

# patients.csv: the contract columns first, in the contract's order ...
CONTRACT_COLUMNS = (
    "patient_id", "in_cohort", "exclusion_reason", "depression_code", "psychotic_symptoms",
    "n_antidepressants", "n_adequate_trials", "augmented", "trd", "trd_date", "resistance_level",
    "episode_start",
)
# ... then the extra columns (data-contract.md: "extra columns are welcome").
DEMOGRAPHIC_COLUMNS = (
    "sex", "age", "age_at_diagnosis", "ethnicity_group", "employment_group", "died", "age_at_death",
)
REFERRAL_COLUMNS = tuple(f"referrals_{c}" for c in SERVICE_CATEGORIES)
TREATMENT_EXTRA_COLUMNS = ("treatment_sequence",)
# From the notes (issue 6): empty (NA) when the extract has no notes table or NLP is off.
NLP_COLUMNS = ("self_harm_nlp", "suicidal_ideation_nlp", "suicide_attempt_nlp", "self_harm_any")
PATIENT_COLUMNS = (
    CONTRACT_COLUMNS + DEMOGRAPHIC_COLUMNS + COMORBIDITY_FLAGS + REFERRAL_COLUMNS + TREATMENT_EXTRA_COLUMNS
    + NLP_COLUMNS
)
