"""How much the headline rests on assumptions about missing data (issue 16, item 3).

Prescriptions without a daily dose are judged by ``treatment.unknown_dose`` (adequate by default) and those
without an end date or days' supply last ``treatment.default_exposure_days`` (28). This module re-classifies
under the alternative handlings and reports the prevalence of TRD and the levels of resistance under each:

* missing dose: counted adequate / counted inadequate / the antidepressant prescription excluded;
* missing duration: the default number of days / the prescription excluded.

The rules are not re-implemented: each alternative is the pipeline's own treatment stages (exposures, eras,
adequate trials, episodes, the TRD rule) run on transformed prescriptions (a missing dose filled with 0 mg,
always below a minimum dose, or with a dose above any minimum; rows filtered out). Only patients with at least
one prescription lacking a dose or a duration can change, so only they are re-run, every alternative in one
pass (scenario_treatment); everyone else keeps their classification from the main run. Nothing else differs
between handlings (the drug map, the cohort rules other than no_antidepressant), so it is taken from the main
run (Classification.stages) instead of being built again.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import ibis
import numpy as np
import pandas as pd

from trdpath import engines, layout
from trdpath.classify import resistance_level, trd_steps
from trdpath.config import StudyConfig
from trdpath.schema import MAX_DAILY_DOSE_MG
from trdpath.sources import Extract
from trdpath.treatment.adequate_trials import era_segments, eras_from_segments
from trdpath.treatment.drug_names import ANTIDEPRESSANT, AUGMENTING
from trdpath.treatment.episodes import current_episodes
from trdpath.treatment.exposures import build_exposures
from trdpath.treatment.lines import antidepressant_count, drugs_in_episode

NO_ANTIDEPRESSANT = "no_antidepressant"  # the last cohort rule (cohort/exclusions.py), the only one a handling moves
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


def _antidepressant_pairs(mapped: pd.DataFrame) -> pd.DataFrame:
    """The (drug, atc_code) keys of the extract that name an antidepressant (only their dose is judged), from the
    main run's drug map (drug_key, atc_key, role): the names are not mapped a second time."""
    is_ad = mapped["role"] == ANTIDEPRESSANT
    return mapped.loc[is_ad, ["drug_key", "atc_key"]].drop_duplicates().reset_index(drop=True)


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


def changes(scenario: Scenario, configured_dose: str) -> tuple[bool, bool]:
    """Whether the scenario changes (antidepressant prescriptions without a dose, prescriptions without a
    duration). A patient with neither kind of prescription it changes keeps the main run's classification."""
    return scenario.dose != configured_dose, scenario.duration == "excluded"


def missing_by_patient(rx: ibis.Table, ad_pairs: ibis.Table) -> ibis.Table:
    """patient_id, no_dose (an antidepressant prescription without a daily dose: only their dose is judged),
    no_duration (a prescription without an end date or days' supply), for patients with either."""
    keyed = _with_keys(rx)
    joined = keyed.left_join(ad_pairs.mutate(_ad=ibis.literal(True)),
                             [keyed._drug_key == ad_pairs.drug_key, keyed._atc_key == ad_pairs.atc_key])
    flagged = joined.select("patient_id", no_dose=joined.daily_dose_mg.isnull() & joined._ad.fill_null(False),
                            no_duration=joined.end_date.isnull() & joined.days_supply.isnull(),
                            _any_dose=joined.daily_dose_mg.isnull())
    # Every patient with a prescription lacking a dose (any drug) or a duration (affected_patients) is listed.
    flagged = flagged.filter(flagged._any_dose | flagged.no_duration)
    return flagged.group_by("patient_id").agg(no_dose=flagged.no_dose.any(), no_duration=flagged.no_duration.any())


def scenario_treatment(stages: dict, config: StudyConfig, alternatives: list[Scenario]) -> ibis.Table:
    """patient_id, no_dose, no_duration (missing_by_patient) and, for each alternative i, ``episode_i`` (a
    current episode: an antidepressant era) and ``level_i`` (the resistance level the patient would have if
    in the cohort: classify.resistance_level), for the patients some alternative changes.

    Only the treatment stages differ between handlings (the cohort rules other than no_antidepressant read
    diagnoses, ages and dates, which no handling touches), so only they are re-run, with the main run's own
    functions, and only for the patients each alternative changes (`changes`), every alternative at once:
    scenario i of patient k has the key k * len(alternatives) + i; one pass over the stacked exposures, one
    row per patient back.
    """
    treatment = config.treatment
    n = len(alternatives)
    rx = stages["extract"].prescriptions
    ad_pairs = ibis.memtable(_antidepressant_pairs(stages["mapping"]), schema={"drug_key": "string",
                                                                              "atc_key": "string"})
    missing = missing_by_patient(rx, ad_pairs)
    keyed = stages["keyed"].select("patient_id", "pkey").join(missing, "patient_id").cache()
    exposures = []
    for i, scenario in enumerate(alternatives):
        dose, duration = changes(scenario, treatment.unknown_dose)
        changed = (keyed.no_dose if dose else ibis.literal(False)) | (keyed.no_duration if duration
                                                                      else ibis.literal(False))
        keys = keyed.filter(changed).select("patient_id", pkey=keyed.pkey.cast("int64") * n + i)
        exposures.append(build_exposures(
            scenario_prescriptions(rx.semi_join(keys, "patient_id"), ad_pairs, scenario, treatment.unknown_dose),
            keys, stages["mapping_table"], stages["index_day"], treatment))
    ingredients = stages["ingredients"]
    eras = eras_from_segments(era_segments(ibis.union(*exposures), treatment), ibis.memtable(ingredients),
                              treatment).cache()
    ad_eras = eras.filter(eras.role == ANTIDEPRESSANT)
    episodes = current_episodes(ad_eras, treatment)
    per_drug = drugs_in_episode(eras, episodes)
    steps = trd_steps(ad_eras, eras.filter(eras.role == AUGMENTING), per_drug, episodes, config.trd)
    lines = per_drug.group_by("pkey").agg(n_antidepressants=antidepressant_count(per_drug, ingredients))
    t = episodes.left_join(lines, "pkey").drop("pkey_right").left_join(steps, "pkey").drop("pkey_right")
    level = resistance_level(t.trd_day.notnull(), t.n_antidepressants.fill_null(0), ibis.literal(True))
    t = t.select(base=t.pkey // n, scenario=t.pkey % n, level=level)
    wide = t.group_by("base").agg(**{
        column: agg for i in range(n) for column, agg in (
            (f"episode_{i}", (t.scenario == i).any()), (f"level_{i}", t.level.max(where=t.scenario == i)))})
    out = keyed.left_join(wide, keyed.pkey.cast("int64") == wide.base)
    return out.select(patient_id=out.patient_id.cast("string"), no_dose=out.no_dose, no_duration=out.no_duration,
                      **{f"episode_{i}": out[f"episode_{i}"].fill_null(False) for i in range(n)},
                      **{f"level_{i}": out[f"level_{i}"] for i in range(n)})


def _cohort_summary(in_cohort: pd.Series, level: pd.Series) -> dict[str, int]:
    """Counts of one scenario's affected patients: cohort, TRD, MDD and each level (level: resistance_level)."""
    level = level[in_cohort.to_numpy()].astype(str)
    trd = level != "MDD"
    counts = level[trd.to_numpy()].value_counts()
    row = {"cohort_n": int(in_cohort.sum()), "trd_n": int(trd.sum()), "mdd_n": int((~trd).sum())}
    for name_level, name in LEVELS:
        row[f"{name}_n"] = int(counts.get(name_level, 0))
    return row


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
                           index_date, stages: dict | None = None,
                           rule_patients: pd.DataFrame | None = None) -> pd.DataFrame:
    """True counts under each scenario (the CSV's columns): cohort, MDD, TRD (% of cohort), levels (% of TRD).

    `stages`: the main classification's (Classification.stages, on the same connection); without them the
    extract is classified again to build them. The alternatives classify by the study's rule: the patients with
    a missing dose or duration count by it (`rule_patients`, the main classification by the study's rule, when
    `base_patients` is by another definition), everyone else as in `base_patients`.
    """
    if stages is None:
        from trdpath.pipeline import classify_extract

        classification = classify_extract(con, extract, config, index_date)
        stages, rule_patients = classification.stages, classification.patients
    rule_patients = base_patients if rule_patients is None else rule_patients
    every = scenarios(config)
    alternatives = every[1:]
    rerun = engines.fetch_arrow(con, scenario_treatment(stages, config, alternatives)).to_pandas()
    ids = pd.Index(base_patients["patient_id"].astype(str))
    rule_at = pd.Index(rule_patients["patient_id"].astype(str)).get_indexer(rerun["patient_id"])
    # The cohort rules other than the last (no_antidepressant) do not depend on the treatment: a patient
    # enters the cohort under a handling when they passed those rules and have a current episode under it.
    reason = rule_patients["exclusion_reason"].to_numpy()[rule_at]
    passed = pd.isna(reason) | (reason == NO_ANTIDEPRESSANT)
    rule_cohort = rule_patients["in_cohort"].fillna(False).astype(bool).to_numpy()[rule_at]
    rule_level = rule_patients["resistance_level"].astype(object).to_numpy()[rule_at]
    rows = []
    base = _summary(base_patients)
    rest = _summary(base_patients[~ids.isin(rerun["patient_id"])])
    for i, scenario in enumerate(every):
        if i == 0:
            counts = base
        else:
            dose, duration = changes(scenario, config.treatment.unknown_dose)
            ran = ((rerun["no_dose"].to_numpy(bool) & dose) | (rerun["no_duration"].to_numpy(bool) & duration))
            # A patient the handling does not change keeps the main run's classification by the study's rule.
            in_cohort = np.where(ran, passed & rerun[f"episode_{i - 1}"].to_numpy(bool), rule_cohort)
            level = np.where(ran, rerun[f"level_{i - 1}"].astype(object).to_numpy(), rule_level)
            part = _cohort_summary(pd.Series(in_cohort), pd.Series(level))
            counts = {k: rest[k] + part[k] for k in base}
        dose_text, duration_text = describe(scenario, config)
        rows.append({"scenario": scenario.key, "missing_dose": dose_text, "missing_duration": duration_text,
                     **counts})
    frame = _with_percentages(pd.DataFrame(rows))
    return frame[list(COLUMNS)]


def write_assumption_sensitivity(con, extract: Extract, result, folder: Path) -> pd.DataFrame:
    """Compute and write OUT/assumption_sensitivity.csv (true counts: stays with the patient-level files)."""
    stages = result.stages
    rule = None  # result.patients are by the study's rule unless a definition replaced the table
    if stages is not None and stages.get("table") is not None and stages["table"] is not result.table:
        from trdpath.patient_table import patients_frame

        rule = patients_frame(stages["table"])
    frame = assumption_sensitivity(con, extract, result.config, result.patients, result.index_date, stages, rule)
    frame.to_csv(Path(folder) / FILE, index=False)
    return frame


def read_assumption_sensitivity(folder: Path) -> pd.DataFrame | None:
    path = Path(folder) / FILE
    if not path.is_file():
        return None
    return pd.read_csv(path, keep_default_na=False)
