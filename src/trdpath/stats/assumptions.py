"""How much the headline rests on assumptions about missing data (issue 16, item 3).

Prescriptions without a daily dose are judged by ``treatment.unknown_dose`` (adequate by default) and those
without an end date or days' supply last ``treatment.default_exposure_days`` (28). This module re-classifies
under the alternative handlings and reports the prevalence of TRD and the levels of resistance under each:

* missing dose: counted adequate / counted inadequate / the antidepressant prescription excluded;
* missing duration: the default number of days / the prescription excluded.

The pipeline is not changed: each alternative is the same pipeline run on a transformed extract (a missing dose
filled with 0 mg, always below a minimum dose, or with a dose above any minimum; rows filtered out), all
alternatives stacked into **one** extract (patient ids prefixed by the scenario) and classified in one pass.
Only patients with at least one prescription lacking a dose or a duration can change, so only they are
stacked; everyone else keeps their classification from the main run.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import ibis
import numpy as np
import pandas as pd

from trdpath.schema import MAX_DAILY_DOSE_MG
from trdpath import layout
from trdpath.config import StudyConfig
from trdpath.reference import ReferenceData
from trdpath.sources import Extract
from trdpath.treatment.drug_names import ANTIDEPRESSANT, DrugDictionary
from trdpath.treatment.exposures import drug_map

FILE = layout.ASSUMPTION_SENSITIVITY_CSV  # true counts, beside patients.csv (never released as is)
LEVELS = (("2", "level2"), ("3", "level3"), ("4+", "level4plus"))
COLUMNS = ("scenario", "missing_dose", "missing_duration", "cohort_n", "mdd_n", "trd_n", "trd_pct",
           "level2_n", "level2_pct", "level3_n", "level3_pct", "level4plus_n", "level4plus_pct")
# A filled dose that passes every minimum dose (counted adequate) and is still a possible dose (a dose above
# schema.MAX_DAILY_DOSE_MG is impossible and read as unknown).
ABOVE_ANY_MINIMUM_MG = MAX_DAILY_DOSE_MG


@dataclass(frozen=True)
class Scenario:
    key: str
    dose: str  # "adequate", "inadequate" or "excluded"
    duration: str  # "default" or "excluded"


def scenarios(config: StudyConfig) -> list[Scenario]:
    """The configured handling first, then each alternative one at a time, then both exclusions together."""
    configured = config.treatment.unknown_dose
    other = "inadequate" if configured == "adequate" else "adequate"
    return [Scenario("as_configured", configured, "default"), Scenario(f"dose_{other}", other, "default"),
            Scenario("dose_excluded", "excluded", "default"), Scenario("duration_excluded", configured, "excluded"),
            Scenario("complete_records", "excluded", "excluded")]


def describe(scenario: Scenario, config: StudyConfig) -> tuple[str, str]:
    dose = {"adequate": "counted adequate", "inadequate": "counted inadequate",
            "excluded": "prescription excluded"}[scenario.dose]
    duration = (f"{config.treatment.default_exposure_days} days assumed" if scenario.duration == "default"
                else "prescription excluded")
    return dose, duration


def _antidepressant_pairs(con, prescriptions: ibis.Table, config: StudyConfig) -> pd.DataFrame:
    """The (drug, atc_code) keys of the extract that name an antidepressant (only their dose is judged)."""
    drugs = DrugDictionary(ReferenceData(config))
    mapping = drug_map(con, prescriptions, drugs)
    roles = {name: ingredient.role for name, ingredient in drugs.ingredients.items()}
    is_ad = mapping["ingredient"].map(roles) == ANTIDEPRESSANT
    return mapping.loc[is_ad, ["drug_key", "atc_key"]].drop_duplicates().reset_index(drop=True)


def _with_keys(rx: ibis.Table) -> ibis.Table:
    return rx.mutate(_drug_key=rx.drug.fill_null(""), _atc_key=rx.atc_code.fill_null(""))


def scenario_prescriptions(rx: ibis.Table, ad_pairs: ibis.Table, scenario: Scenario,
                           configured_dose: str) -> ibis.Table:
    """The prescriptions as the scenario would have them (same columns)."""
    columns = rx.columns
    keyed = _with_keys(rx)
    is_ad = keyed.left_join(ad_pairs.mutate(_ad=ibis.literal(True)),
                            [keyed._drug_key == ad_pairs.drug_key, keyed._atc_key == ad_pairs.atc_key])
    is_ad = is_ad.mutate(_ad=is_ad._ad.fill_null(False))
    no_dose = is_ad.daily_dose_mg.isnull()
    if scenario.dose == "excluded":
        is_ad = is_ad.filter(~(no_dose & is_ad._ad))
    elif scenario.dose != configured_dose:
        filled = 0.0 if scenario.dose == "inadequate" else ABOVE_ANY_MINIMUM_MG  # 0 mg is below every minimum
        is_ad = is_ad.mutate(daily_dose_mg=is_ad.daily_dose_mg.fill_null(filled))
    if scenario.duration == "excluded":
        is_ad = is_ad.filter(is_ad.end_date.notnull() | is_ad.days_supply.notnull())
    return is_ad.select(*columns)


def affected_patients(rx: ibis.Table) -> ibis.Table:
    """Patients with a prescription lacking a dose or a duration: the only ones a scenario can change."""
    missing = rx.daily_dose_mg.isnull() | (rx.end_date.isnull() & rx.days_supply.isnull())
    return rx.filter(missing).select("patient_id").distinct()


def stacked_extract(con, extract: Extract, config: StudyConfig, alternatives: list[Scenario]) -> Extract:
    """One extract holding every alternative scenario for the affected patients (ids prefixed 'i|')."""
    rx = extract.prescriptions
    affected = affected_patients(rx)
    ad_pairs = ibis.memtable(_antidepressant_pairs(con, rx, config))
    patients = extract.patients.semi_join(affected, "patient_id")
    diagnoses = extract.diagnoses.semi_join(affected, "patient_id")
    rx = rx.semi_join(affected, "patient_id")
    parts: dict[str, list[ibis.Table]] = {"patients": [], "diagnoses": [], "prescriptions": []}
    for i, scenario in enumerate(alternatives):
        prefix = ibis.literal(f"{i}|")
        tables = {"patients": patients, "diagnoses": diagnoses,
                  "prescriptions": scenario_prescriptions(rx, ad_pairs, scenario, config.treatment.unknown_dose)}
        for name, table in tables.items():
            parts[name].append(table.mutate(patient_id=prefix.concat(table.patient_id.cast("string"))))
    stacked = {name: ibis.union(*tables) if len(tables) > 1 else tables[0] for name, tables in parts.items()}
    return Extract(patients=stacked["patients"], diagnoses=stacked["diagnoses"],
                   prescriptions=stacked["prescriptions"], referrals=None, notes=None, source=extract.source,
                   date_bounds=extract.date_bounds)


def _summary(patients: pd.DataFrame) -> dict[str, float]:
    cohort = patients[patients["in_cohort"].fillna(False).astype(bool)]
    trd = cohort["trd"].fillna(False).astype(bool)
    levels = cohort.loc[trd, "resistance_level"].astype(str).value_counts()
    row = {"cohort_n": len(cohort), "trd_n": int(trd.sum()), "mdd_n": int((~trd).sum())}
    for level, name in LEVELS:
        row[f"{name}_n"] = int(levels.get(level, 0))
    return row


def _with_percentages(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.copy()
    frame["trd_pct"] = 100 * frame["trd_n"] / frame["cohort_n"].replace(0, np.nan)
    for _, name in LEVELS:
        frame[f"{name}_pct"] = 100 * frame[f"{name}_n"] / frame["trd_n"].replace(0, np.nan)
    return frame


def assumption_sensitivity(con, extract: Extract, config: StudyConfig, base_patients: pd.DataFrame,
                           index_date) -> pd.DataFrame:
    """True counts under each scenario (the CSV's columns): cohort, MDD, TRD (% of cohort), levels (% of TRD)."""
    from trdpath.pipeline import classify_extract

    every = scenarios(config)
    alternatives = every[1:]
    stacked = stacked_extract(con, extract, config, alternatives)
    if int(con.execute(stacked.patients.count())) == 0:  # nothing missing: every scenario is the main run
        rerun = base_patients.iloc[:0].assign(patient_id=pd.Series(dtype=str))
        rerun["patient_id"] = rerun["patient_id"].astype(str)
    else:
        rerun = classify_extract(con, stacked, config, index_date).patients
    if rerun.empty:
        rerun = rerun.assign(_scenario=pd.Series(dtype=int))
        prefix = None
    else:
        prefix = rerun["patient_id"].astype(str).str.split("|", n=1, expand=True)
    if prefix is not None:
        rerun = rerun.assign(_scenario=prefix[0].astype(int), patient_id=prefix[1])
    changed_ids = set(rerun["patient_id"])
    unaffected = base_patients[~base_patients["patient_id"].astype(str).isin(changed_ids)]
    rows = []
    base = _summary(base_patients)
    rest = _summary(unaffected)
    for i, scenario in enumerate(every):
        if i == 0:
            counts = base
        else:
            part = _summary(rerun[rerun["_scenario"] == i - 1])
            counts = {k: rest[k] + part[k] for k in base}
        dose, duration = describe(scenario, config)
        rows.append({"scenario": scenario.key, "missing_dose": dose, "missing_duration": duration, **counts})
    frame = _with_percentages(pd.DataFrame(rows))
    return frame[list(COLUMNS)]


def write_assumption_sensitivity(con, extract: Extract, result, folder: Path) -> pd.DataFrame:
    """Compute and write OUT/assumption_sensitivity.csv (true counts: stays with the patient-level files)."""
    frame = assumption_sensitivity(con, extract, result.config, result.patients, result.index_date)
    frame.to_csv(Path(folder) / FILE, index=False)
    return frame


def protect_assumptions(frame: pd.DataFrame, settings) -> pd.DataFrame:
    """The publishable table: each row protected like the resistance levels (disclosure.py's rules and code).

    In a row, MDD + TRD add up to the cohort and the levels 2 + 3 + 4+ add up to TRD, so each is a linked group
    for secondary suppression; counts are rounded and percentages computed from rounded counts.
    """
    from trdpath.stats.disclosure import SUPPRESSED, round_count, small_label, suppression_pattern

    if not settings.enabled or frame.empty:
        return frame.copy()
    out = frame.astype(object).copy()
    small = small_label(settings)
    for i, row in frame.iterrows():
        values = {c: int(row[f"{c}_n"]) for c in ("mdd", "trd", *(name for _, name in LEVELS))}
        groups = [["mdd", "trd"], [name for _, name in LEVELS]]
        pattern = suppression_pattern(values, groups, settings.min_count)
        shown = {}
        for cell, value in values.items():
            state = pattern.get(cell)
            shown[cell] = (small if state == "primary" else SUPPRESSED if state else
                           round_count(value, settings.rounding))
            out.at[i, f"{cell}_n"] = shown[cell]
        cohort = int(row["cohort_n"])
        out.at[i, "cohort_n"] = small if 0 < cohort < settings.min_count else round_count(cohort, settings.rounding)
        for cell, total in (("trd", out.at[i, "cohort_n"]), *((name, shown["trd"]) for _, name in LEVELS)):
            ok = isinstance(shown[cell], (int, np.integer)) and isinstance(total, (int, np.integer)) and total > 0
            out.at[i, f"{cell}_pct"] = 100 * shown[cell] / total if ok else (SUPPRESSED if total else np.nan)
    return out


def read_assumption_sensitivity(folder: Path) -> pd.DataFrame | None:
    path = Path(folder) / FILE
    if not path.is_file():
        return None
    return pd.read_csv(path, keep_default_na=False)
