"""Synthetic per-patient classifications (schema.PATIENT_COLUMNS) for tests, benchmarks and examples.

Entirely made up from a seeded numpy generator: prevalences loosely follow the seed paper's Tables 1-2 so
that the tables look plausible, with TRD raising the odds of some comorbidities.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from trdpath.reference import COMORBIDITY_FLAGS, EMPLOYMENT_GROUPS, ETHNICITY_GROUPS, SERVICE_CATEGORIES
from trdpath.schema import NLP_COLUMNS, PATIENT_COLUMNS

# (baseline prevalence in MDD, odds ratio for TRD), loosely after the paper's Table 2.
_FLAG_PREVALENCE = {
    "substance_misuse": (0.18, 1.2), "alcohol": (0.094, 1.0), "drugs": (0.022, 1.3), "sedatives": (0.0015, 2.7),
    "tobacco": (0.046, 1.5), "other_drugs": (0.017, 0.8), "anxiety": (0.245, 1.37), "eating_disorder": (0.019, 0.85),
    "personality_disorder": (0.11, 1.57), "self_harm": (0.009, 3.0), "psychotic_illness": (0.083, 1.95),
    "developmental": (0.016, 1.1), "diabetes": (0.018, 1.4), "diabetes_type1": (0.004, 1.7),
    "diabetes_type2": (0.012, 1.6), "diabetes_unspecified": (0.003, 1.5), "cardiovascular": (0.033, 1.7),
    "respiratory": (0.028, 1.4), "gastrointestinal": (0.024, 2.1),
}
_DRUGS = ("sertraline", "citalopram", "fluoxetine", "mirtazapine", "venlafaxine", "duloxetine", "escitalopram",
          "amitriptyline", "trazodone", "vortioxetine")
_AUGMENTERS = ("+lithium", "+aripiprazole", "+quetiapine")


def synthetic_patients(n: int, seed: int = 0, trd_share: float = 0.48, excluded_share: float = 0.1,
                       notes: bool = True) -> pd.DataFrame:
    """A seeded, fully vectorised patients table of ``n`` rows with the data contract's columns.

    ``notes=False`` leaves the NLP flags missing (NA), as for an extract without a notes table.
    """
    rng = np.random.default_rng(seed)
    in_cohort = rng.random(n) >= excluded_share
    trd = in_cohort & (rng.random(n) < trd_share)
    n_antidepressants = np.where(trd, rng.choice([2, 3, 4, 5, 6], n, p=[0.38, 0.22, 0.2, 0.12, 0.08]),
                                 rng.choice([1, 2], n, p=[0.7, 0.3]))
    level = np.where(~trd, "MDD", np.where(n_antidepressants >= 4, "4+", n_antidepressants.astype(str)))
    level = np.where(in_cohort, level, "")
    augmented = trd & (n_antidepressants == 2)
    index_date = np.datetime64("2021-10-31")
    age = np.clip(rng.normal(49, 16, n), 18, 100).astype(int)
    age_at_diagnosis = np.clip(age - rng.integers(0, 15, n), 10, None)
    died = rng.random(n) < np.where(trd, 0.057, 0.072)
    age_at_death = pd.array(np.where(died, np.clip(rng.normal(62, 17, n), 20, 100).astype(int), 0), dtype="Int64")
    age_at_death[~died] = pd.NA
    frame = {
        "patient_id": pd.Series(np.arange(n)).map("P{:07d}".format).to_numpy(),
        "in_cohort": in_cohort,
        "exclusion_reason": np.where(in_cohort, "", "no_antidepressant"),
        "depression_code": np.where(rng.random(n) < np.where(trd, 0.32, 0.27), "F33", "F32"),
        "psychotic_symptoms": rng.random(n) < np.where(trd, 0.15, 0.083),
        "n_antidepressants": n_antidepressants,
        "n_adequate_trials": np.minimum(n_antidepressants, np.where(trd, 2, 1)),
        "augmented": augmented,
        "trd": trd,
        "trd_date": pd.to_datetime(np.where(trd, index_date - rng.integers(30, 2000, n), np.datetime64("NaT"))),
        "resistance_level": level,
        "episode_start": pd.to_datetime(index_date - rng.integers(200, 4000, n)),
        "sex": rng.choice(["female", "male", "other", "unknown"], n, p=[0.62, 0.37, 0.003, 0.007]),
        "age": age,
        "age_at_diagnosis": age_at_diagnosis,
        "ethnicity_group": rng.choice(ETHNICITY_GROUPS, n, p=[0.05, 0.027, 0.167, 0.69, 0.0, 0.066]),
        "employment_group": np.where(
            trd, rng.choice(EMPLOYMENT_GROUPS, n, p=[0.13, 0.095, 0.412, 0.363]),
            rng.choice(EMPLOYMENT_GROUPS, n, p=[0.125, 0.087, 0.326, 0.462])),
        "died": died,
        "age_at_death": age_at_death,
    }
    for flag in COMORBIDITY_FLAGS:
        base, odds_ratio = _FLAG_PREVALENCE[flag]
        odds = base / (1 - base) * np.where(trd, odds_ratio, 1.0)
        frame[flag] = rng.random(n) < odds / (1 + odds)
    for i, category in enumerate(SERVICE_CATEGORIES):
        rate = [1.6, 0.5, 0.6, 0.2, 0.1, 0.2][i] * np.where(trd, [0.9, 1.0, 1.4, 1.6, 0.6, 1.0][i], 1.0)
        frame[f"referrals_{category}"] = rng.poisson(rate, n)
    frame["treatment_sequence"] = _sequences(rng, n_antidepressants, augmented | (trd & (rng.random(n) < 0.2)))
    # NLP flags last, so the draws above do not depend on them. Notes find self-harm in several times as many
    # patients as codes (the CRIS experience the paper cites), and mostly the coded ones too.
    if notes:
        self_harm_nlp = np.where(frame["self_harm"], rng.random(n) < 0.7, rng.random(n) < np.where(trd, 0.06, 0.03))
        attempt = self_harm_nlp & (rng.random(n) < 0.3)
        ideation = rng.random(n) < np.where(trd, 0.14, 0.09)
        for column, values in (("self_harm_nlp", self_harm_nlp), ("suicidal_ideation_nlp", ideation),
                               ("suicide_attempt_nlp", attempt), ("self_harm_any", frame["self_harm"] | self_harm_nlp)):
            frame[column] = pd.array(values, dtype="boolean")
    else:
        for column in NLP_COLUMNS[:3]:
            frame[column] = pd.array([pd.NA] * n, dtype="boolean")
        frame["self_harm_any"] = pd.array(frame["self_harm"], dtype="boolean")
    patients = pd.DataFrame(frame)
    patients.loc[~in_cohort, "resistance_level"] = ""
    return patients[list(PATIENT_COLUMNS)]


def _sequences(rng: np.random.Generator, counts: np.ndarray, augmented: np.ndarray) -> np.ndarray:
    """Drug orderings without per-patient loops: a random permutation of the drug list per patient, cut."""
    n = len(counts)
    weights = np.array([0.25, 0.2, 0.12, 0.14, 0.1, 0.06, 0.05, 0.04, 0.02, 0.02])
    keys = rng.random((n, len(_DRUGS))) ** (1.0 / weights)  # weighted sampling without replacement
    order = np.argsort(-keys, axis=1)[:, :6]
    names = np.array(_DRUGS)[order]
    steps = np.minimum(counts, 6)
    sequence = pd.Series(names[:, 0])
    for k in range(1, 6):
        sequence = sequence.where(steps <= k, sequence + ";" + names[:, k])
    augmenter = np.array(_AUGMENTERS)[rng.integers(0, len(_AUGMENTERS), n)]
    return sequence.where(~augmented, sequence + ";" + augmenter).to_numpy()


def cohort_with_counts(n_mdd: int, n_trd: int, flag_counts: dict[str, tuple[int, int]] | None = None,
                       level_counts: dict[str, dict[str, tuple[int, int]]] | None = None) -> pd.DataFrame:
    """A cohort whose counts are exactly those given, e.g. a paper's published table.

    ``flag_counts[flag] = (mdd_yes, trd_yes)`` (NLP flags such as ``self_harm_nlp`` too); ``level_counts[variable][level] = (mdd_n, trd_n)`` (levels of one
    variable must add up to the group sizes). Other columns get neutral values (flags False, F32, ...). The
    first ``mdd_yes`` MDD patients carry a flag, so flags overlap; only marginal counts are controlled.
    """
    n = n_mdd + n_trd
    trd = np.r_[np.zeros(n_mdd, bool), np.ones(n_trd, bool)]
    position = np.r_[np.arange(n_mdd), np.arange(n_trd)]  # index within the patient's group
    frame: dict[str, object] = {
        "patient_id": [f"P{i:07d}" for i in range(n)], "in_cohort": np.ones(n, bool),
        "exclusion_reason": np.full(n, ""), "depression_code": np.full(n, "F32", dtype=object),
        "psychotic_symptoms": np.zeros(n, bool), "n_antidepressants": np.where(trd, 3, 1),
        "n_adequate_trials": np.where(trd, 2, 1), "augmented": np.zeros(n, bool), "trd": trd,
        "trd_date": pd.NaT, "resistance_level": np.where(trd, "3", "MDD"), "episode_start": pd.Timestamp("2020-01-01"),
        "sex": np.full(n, "female", dtype=object), "age": np.full(n, 50), "age_at_diagnosis": np.full(n, 40),
        "ethnicity_group": np.full(n, "White", dtype=object), "employment_group": np.full(n, "Employed", dtype=object),
        "died": np.zeros(n, bool), "age_at_death": pd.array([pd.NA] * n, dtype="Int64"),
        "treatment_sequence": np.where(trd, "sertraline;mirtazapine;venlafaxine", "sertraline"),
    }
    for flag in COMORBIDITY_FLAGS:
        frame[flag] = np.zeros(n, bool)
    for category in SERVICE_CATEGORIES:
        frame[f"referrals_{category}"] = np.zeros(n, dtype=np.int64)
    for flag, (mdd_yes, trd_yes) in (flag_counts or {}).items():
        frame[flag] = np.where(trd, position < trd_yes, position < mdd_yes)
    for variable, levels in (level_counts or {}).items():
        values = np.empty(n, dtype=object)
        start = {False: 0, True: 0}
        for level, (mdd_n, trd_n) in levels.items():
            for is_trd, count in ((False, mdd_n), (True, trd_n)):
                chosen = (trd == is_trd) & (position >= start[is_trd]) & (position < start[is_trd] + count)
                values[chosen] = level
                start[is_trd] += count
        if start[False] != n_mdd or start[True] != n_trd:
            raise ValueError(f"levels of {variable} do not add up to the group sizes")
        frame[variable] = values
    # NLP flags: missing (no notes) unless one of them is given, then the others are False.
    given = [c for c in NLP_COLUMNS[:3] if c in (flag_counts or {})]
    for column in NLP_COLUMNS[:3]:
        frame[column] = pd.array(frame[column] if column in given else
                                 (np.zeros(n, bool) if given else [pd.NA] * n), dtype="boolean")
    frame["self_harm_any"] = pd.array(frame["self_harm"] | (frame["self_harm_nlp"].fillna(False).to_numpy(bool)
                                                            if given else False), dtype="boolean")
    return pd.DataFrame(frame)[list(PATIENT_COLUMNS)]


def self_harm_sources_cohort() -> pd.DataFrame:
    """A small cohort (MDD 100, TRD 80) with self-harm from codes and notes laid out patient by patient.

    By position within each group: MDD codes at 0-4 (5), notes at 3-14 (12): codes only 3, both 2, notes only
    10, either 15. TRD codes at 0-9 (10), notes at 5-34 (30): codes only 5, both 5, notes only 25, either 35.
    Suicidal ideation (notes): MDD 8, TRD 20; suicide attempt (notes): MDD 1, TRD 6. ``self_harm_any`` is left
    deliberately stale (all False): the analysis must recompute codes OR notes. Every other predictor is
    constant, so the regression on it reduces to the 2x2 table of self-harm by group.
    """
    patients = cohort_with_counts(100, 80, {"suicidal_ideation_nlp": (8, 20), "suicide_attempt_nlp": (1, 6)})

    def positions(n: int, start: int, stop: int) -> np.ndarray:
        return (np.arange(n) >= start) & (np.arange(n) < stop)

    patients["self_harm"] = np.r_[positions(100, 0, 5), positions(80, 0, 10)]
    patients["self_harm_nlp"] = pd.array(np.r_[positions(100, 3, 15), positions(80, 5, 35)], dtype="boolean")
    patients["self_harm_any"] = pd.array(np.zeros(180, bool), dtype="boolean")
    return patients


def analysed_cohort(n: int, seed: int = 0):
    """synthetic_patients(n, seed), their analysis (trdpath.stats.analyse, default configuration) and the cohort
    flow a run would print with them (the extract, then those not in the cohort): the inputs of protect()."""
    from trdpath.config import StudyConfig
    from trdpath.stats import analyse

    patients = synthetic_patients(n, seed=seed)
    in_cohort = int(patients["in_cohort"].sum())
    attrition = pd.DataFrame({"rule": ["extract", "not_in_cohort"], "remaining": [n, in_cohort],
                              "excluded": [0, n - in_cohort]})
    return patients, analyse(patients, StudyConfig()), attrition
