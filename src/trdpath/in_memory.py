"""The reference implementation of the study definition: plain Python, one patient at a time.

This module *defines* what the rules of the study definition (docs/rules.md) mean, in code written to be read
next to the rules rather than to be fast. It is used only by the tests: the spec tests
(tests/spec/) and the Hypothesis property test (tests/generative/) check that every engine (Ibis on
DuckDB, PostgreSQL, Spark) gives the same answer as this module. Never call it on a real extract:
it loops over patients in Python on purpose (like ehrQL's in-memory query engine).

Semantics in one place (docs/rules.md has the worked examples):

- index date: the argument, else ``config.study.index_date``, else the latest *event* date
  (diagnoses.date, prescriptions.start_date, referrals.date, notes.date); birth, death and end
  dates never set it. Events after it are ignored; exposures are clipped to end at it.
- impossible values (schema.MAX_*): a negative, NaN, infinite or absurd daily dose or days_supply
  is unknown; a birth date giving an age outside 0..120 at the index date is unknown (no age, not
  under_18); a death before the birth gives no age at death. Labels and drug names are read after
  Unicode NFKC.
- code systems: each diagnosis is ICD-10 or ICD-9-CM by its code_system, else by codes.system
  (code_system_of); depression lists use codes.depression_systems only, every other list any system.
- ingredient: the ATC code decides when it is in the lists; else the name (lower case, dose text
  removed) must contain an ingredient's generic name or one of its brand names as a whole word.
- exposure: start_date .. end_date, else start_date + days_supply, else start_date +
  default_exposure_days. Length = end - start in days.
- era: exposures to one ingredient merged while the next starts <= era end + era_gap_days.
- adequate trial: the same merge over the adequate-dose exposures only, lasting >= min_trial_days;
  adequacy date = its start + min_trial_days.
- episode: antidepressant eras in start order; a new episode when an era starts more than
  episode_gap_days after the latest end of all earlier eras. Only the last (current) one counts.
- TRD: order antidepressants by the adequacy date of their first adequate trial in the current
  episode; T = the adequacy date of the ``failed_trials``-th one. A next step strictly after T is
  the start of an era of another antidepressant, or the start of an augmenting-agent era that
  overlaps an antidepressant era by >= augmentation_min_overlap_days.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import pandas as pd

from trdpath.config import ReferenceSection, StudyConfig
from trdpath.cohort.exclusions import EXCLUSION_LISTS, first_exclusion_of
from trdpath.cohort.notes import NOTE_FLAGS, notes_in_use, self_harm_any
from trdpath.reference import COMORBIDITY_FLAGS, SERVICE_CATEGORIES, ReferenceData
from trdpath.values import is_missing
from trdpath.schema import MAX_AGE, PATIENT_COLUMNS, REFERRAL_COLUMNS, days_supply_is_possible, dose_is_possible

# Event dates, by table: the default index date is the latest of them (study-definition.md 1; issue 13:
# a birth date of 2090 must not move it).
INDEX_DATE_COLUMNS = {
    "diagnoses": ("date",),
    "prescriptions": ("start_date",),
    "referrals": ("date",),
    "notes": ("date",),
}

# Every column of the per-patient table (schema.PATIENT_COLUMNS): the reference defines them all.
OUTPUT_COLUMNS = PATIENT_COLUMNS

# Dose text inside a drug name ("50mg", "0.5 mg/5ml", "20mg/ml"): removed before matching names,
# so that "sertraline50mg" still contains the word "sertraline".
_DOSE_TEXT = re.compile(
    r"\d+(?:[.,]\d+)?\s*(?:(?:mg|mcg|micrograms?|g|ml)(?![a-z]))?(?:\s*/\s*\d*(?:[.,]\d+)?\s*ml(?![a-z]))?"
)


# ---------------------------------------------------------------------------------------------
# Reading raw values (strings from a CSV, or already typed values)
# ---------------------------------------------------------------------------------------------


def _is_missing(value) -> bool:
    return is_missing(value, blank_text=True)  # an empty CSV cell is a missing value (data contract)


def _as_date(value) -> dt.date | None:
    if _is_missing(value):
        return None
    if isinstance(value, pd.Timestamp):
        return value.date()
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value).strip()[:10])


def _as_number(value) -> float | None:
    if _is_missing(value):
        return None
    return float(value)


def _as_text(value) -> str | None:
    if _is_missing(value):
        return None
    return str(value).strip()


def _rows(tables: Mapping[str, pd.DataFrame], name: str) -> list[dict]:
    frame = tables.get(name)
    if frame is None:
        return []
    return frame.to_dict("records")


def default_index_date(tables: Mapping[str, pd.DataFrame]) -> dt.date | None:
    """study-definition.md 1: the latest event date of any table."""
    dates = [
        _as_date(row.get(column))
        for table, columns in INDEX_DATE_COLUMNS.items()
        for row in _rows(tables, table)
        for column in columns
    ]
    dates = [d for d in dates if d is not None]
    return max(dates) if dates else None


# ---------------------------------------------------------------------------------------------
# Codes and names
# ---------------------------------------------------------------------------------------------


def normalise_icd10(code: str) -> str:
    """ICD-10 codes are compared without the dot, in upper case ("f32.3" == "F323")."""
    return re.sub(r"[\s.]", "", code).upper()


def code_system_of(code: str, given: str | None, rule: str) -> str | None:
    """Which code system a diagnosis is read in (docs/data-contract.md "Code systems"): the stated one
    (ICD10/ICD10CM/ICD-10 -> ICD10, ICD9/ICD9CM/ICD-9-CM -> ICD9CM, anything else is another system),
    else `codes.system`: "icd10", "icd9cm", or "auto" by shape -- three digits or E800-E999 are
    ICD-9-CM, a V code is ambiguous (neither), a letter + digit + digit/letter is ICD-10."""
    if given is not None:
        key = re.sub(r"[^A-Z0-9]", "", given.upper())
        if key.startswith("ICD10"):
            return "ICD10"
        return "ICD9CM" if key in ("ICD9", "ICD9CM") else "other"
    if rule != "auto":
        return rule.upper()
    written = re.sub(r"\s", "", code).upper()
    if re.fullmatch(r"[0-9]{3}(\.?[0-9]{1,2})?", written) or re.fullmatch(r"E[89][0-9]{2}(\.?[0-9])?", written):
        return "ICD9CM"
    if re.fullmatch(r"V[0-9]{2}(\.?[0-9]{1,2})?", written):
        return None
    return "ICD10" if re.match(r"[A-Z][0-9][0-9A-Z]", written) else None


def code_in_ranges(code: str, ranges: Iterable[tuple[str, str]]) -> bool:
    """A code is in code_from..code_to (inclusive) when its first len(code_from) characters are."""
    return any(code_from <= code[: len(code_from)] <= code_to for code_from, code_to in ranges)


# Sex as written (docs/data-contract.md: free text -> female / male / other / unknown), NHS codes
# 2 (female), 1 (male), 9 (not stated) and 0 (not known) included; any other text is "other".
_SEX_WORDS = {
    "female": {"f", "female", "woman", "w", "2", "girl"},
    "male": {"m", "male", "man", "1", "boy"},
    "unknown": {"", "unknown", "not known", "not stated", "u", "0", "9", "not specified"},
}


def sex_of(value: str | None) -> str:
    """female / male / other / unknown; a label with letters of another alphabet (after NFKC) is unknown."""
    if value is None:
        return "unknown"
    text = unicodedata.normalize("NFKC", value)
    if not text.isascii():
        return "unknown"
    words = " ".join(re.sub(r"[^a-z0-9]+", " ", text.lower()).split())
    return next((sex for sex, written in _SEX_WORDS.items() if words in written), "other")


def _normalise_label(value: str | None) -> str:
    """Free-text labels (ethnicity, employment): lower case, punctuation as spaces, one space."""
    if value is None:
        return ""
    text = re.sub(r"[^a-z0-9\-]+", " ", unicodedata.normalize("NFKC", value).lower())
    return " ".join(text.split())


@dataclass(frozen=True)
class Ingredient:
    name: str
    is_antidepressant: bool
    min_daily_dose_mg: float | None  # None for augmenting agents (no adequacy rule)


class DrugDictionary:
    """Maps a prescription (drug name, ATC code) to an ingredient (study-definition.md 3.1)."""

    def __init__(self, reference: ReferenceData):
        self.by_atc: dict[str, Ingredient] = {}
        self.name_patterns: list[tuple[re.Pattern, Ingredient]] = []
        for row in reference.antidepressants.to_dict("records"):
            self._add(row, Ingredient(row["ingredient"].lower(), True, float(row["min_daily_dose_mg"])))
        for row in reference.augmenting_agents.to_dict("records"):
            self._add(row, Ingredient(row["ingredient"].lower(), False, None))

    def _add(self, row: dict, ingredient: Ingredient) -> None:
        self.by_atc[row["atc_code"].strip().upper()] = ingredient
        names = [ingredient.name] + [s.strip().lower() for s in row["synonyms"].split("|") if s.strip()]
        for name in names:
            # A whole word: "venlafaxine" must not match inside "desvenlafaxine".
            pattern = re.compile(r"(?<![a-z0-9])" + re.escape(name) + r"(?![a-z0-9])")
            self.name_patterns.append((pattern, ingredient))

    def ingredient(self, drug: str | None, atc_code: str | None) -> Ingredient | None:
        if atc_code is not None:
            # data-contract.md: when present the ATC code wins over the name. A code outside the
            # lists (a class code such as N06AB, a local code) leaves the decision to the name.
            ingredient = self.by_atc.get(re.sub(r"\s", "", atc_code).upper())
            if ingredient is not None:
                return ingredient
        if drug is None:
            return None
        text = _DOSE_TEXT.sub(" ", unicodedata.normalize("NFKC", drug).lower())
        # Several names in one text (a rare combination product): the one written first wins.
        found = [(m.start(), ingredient) for pattern, ingredient in self.name_patterns
                 if (m := pattern.search(text))]
        return min(found, key=lambda hit: hit[0])[1] if found else None


# ---------------------------------------------------------------------------------------------
# Exposures, eras, adequate trials, episodes (study-definition.md 3)
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Exposure:
    ingredient: Ingredient
    start: dt.date
    end: dt.date
    adequate_dose: bool


@dataclass
class Era:
    ingredient: Ingredient
    start: dt.date
    end: dt.date

    @property
    def length_days(self) -> int:
        return (self.end - self.start).days


def merge_into_eras(exposures: list[Exposure], era_gap_days: int) -> list[Era]:
    """study-definition.md 3.3: one ingredient's exposures, merged while the next starts <= end + gap."""
    eras: list[Era] = []
    for exposure in sorted(exposures, key=lambda e: (e.start, e.end)):
        if eras and exposure.start <= eras[-1].end + dt.timedelta(days=era_gap_days):
            eras[-1].end = max(eras[-1].end, exposure.end)
        else:
            eras.append(Era(exposure.ingredient, exposure.start, exposure.end))
    return eras


def overlap_days(a: Era, b: Era) -> int:
    return (min(a.end, b.end) - max(a.start, b.start)).days


@dataclass
class Treatment:
    """What the prescriptions of one patient say, within the current episode."""

    episode_start: dt.date | None = None
    n_antidepressants: int = 0
    n_adequate_trials: int = 0
    trd_date: dt.date | None = None
    augmented: bool = False
    treatment_sequence: str = ""


def patient_treatment(exposures: list[Exposure], config: StudyConfig) -> Treatment:
    rules = config.treatment
    by_ingredient: dict[Ingredient, list[Exposure]] = {}
    for exposure in exposures:
        by_ingredient.setdefault(exposure.ingredient, []).append(exposure)

    eras = {ing: merge_into_eras(exps, rules.era_gap_days) for ing, exps in by_ingredient.items()}
    antidepressant_eras = [era for ing, ing_eras in eras.items() if ing.is_antidepressant for era in ing_eras]
    augmenting_eras = [era for ing, ing_eras in eras.items() if not ing.is_antidepressant for era in ing_eras]
    if not antidepressant_eras:
        return Treatment()

    # study-definition.md 3.5: a new episode starts when an era starts more than episode_gap_days after
    # the latest end of every earlier antidepressant era. The last episode is the current one.
    episode_start, latest_end = None, None
    for era in sorted(antidepressant_eras, key=lambda e: (e.start, e.end)):
        if latest_end is None or era.start > latest_end + dt.timedelta(days=rules.episode_gap_days):
            episode_start = era.start
        latest_end = era.end if latest_end is None else max(latest_end, era.end)

    in_episode = [era for era in antidepressant_eras if era.start >= episode_start]
    antidepressants_in_episode = {era.ingredient for era in in_episode}

    # study-definition.md 3.4: adequate trials are eras built from adequate-dose exposures only.
    adequacy_date: dict[Ingredient, dt.date] = {}
    for ingredient, ing_exposures in by_ingredient.items():
        if not ingredient.is_antidepressant:
            continue
        adequate_exposures = [e for e in ing_exposures if e.adequate_dose]
        for trial in merge_into_eras(adequate_exposures, rules.era_gap_days):
            if trial.length_days >= rules.min_trial_days and trial.start >= episode_start:
                date = trial.start + dt.timedelta(days=rules.min_trial_days)
                adequacy_date[ingredient] = min(date, adequacy_date.get(ingredient, date))

    treatment = Treatment(
        episode_start=episode_start,
        n_antidepressants=len(antidepressants_in_episode),
        n_adequate_trials=len(adequacy_date),
        treatment_sequence=_treatment_sequence(in_episode + [
            era for era in augmenting_eras if era.start >= episode_start
        ]),
    )

    # study-definition.md 4: the failed trials, in the order they became adequate (ties by name).
    failed = sorted(adequacy_date.items(), key=lambda item: (item[1], item[0].name))
    needed = config.trd.failed_trials
    if len(failed) < needed:
        return treatment
    last_failed_date = failed[needed - 1][1]  # T2 under the default of two failed trials
    failed_ingredients = {ingredient for ingredient, _ in failed[:needed]}

    switch_starts = [
        era.start for era in in_episode
        if era.ingredient not in failed_ingredients and era.start > last_failed_date
    ]
    augmentation_starts = []
    if config.trd.augmentation_counts:
        augmentation_starts = [
            era.start for era in augmenting_eras
            if era.start > last_failed_date
            and any(overlap_days(era, ad) >= config.trd.augmentation_min_overlap_days
                    for ad in antidepressant_eras)
        ]
    next_steps = switch_starts + augmentation_starts
    if next_steps:
        treatment.trd_date = min(next_steps)
        treatment.augmented = bool(augmentation_starts)
    return treatment


def _treatment_sequence(eras: list[Era]) -> str:
    """Ingredients by their first era start in the episode (ties by name); '+' marks augmentation."""
    first_start: dict[Ingredient, dt.date] = {}
    for era in eras:
        first_start[era.ingredient] = min(era.start, first_start.get(era.ingredient, era.start))
    ordered = sorted(first_start.items(), key=lambda item: (item[1], item[0].name))
    return ";".join(("" if ing.is_antidepressant else "+") + ing.name for ing, _ in ordered)


# ---------------------------------------------------------------------------------------------
# The whole classification
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _ReferenceLists:
    drugs: DrugDictionary
    code_ranges: dict[tuple[str, str], list[tuple[str, str]]]  # (list, system) -> ranges
    service_patterns: list[tuple[re.Pattern, str]]
    ethnicity: dict[str, str]
    employment: dict[str, str]


@functools.lru_cache(maxsize=8)
def _reference_lists(reference_section: ReferenceSection) -> _ReferenceLists:
    """The reference lists of a study, read once per set of files (the tests call this often)."""
    reference = ReferenceData(StudyConfig(reference=reference_section))
    code_lists = ("depression", "recurrent_depression", "psychotic_symptoms") + EXCLUSION_LISTS + COMORBIDITY_FLAGS
    return _ReferenceLists(
        drugs=DrugDictionary(reference),
        code_ranges={(name, system): reference.code_ranges(name, system)
                     for name in code_lists for system in ("ICD10", "ICD9CM")},
        service_patterns=[
            (re.compile(row["pattern"], re.IGNORECASE), row["service_category"])
            for row in reference.service_categories.to_dict("records")
        ],
        ethnicity={_normalise_label(r["value"]): r["ethnicity_group"] for r in reference.ethnicity.to_dict("records")},
        employment={_normalise_label(r["value"]): r["employment_group"]
                    for r in reference.employment.to_dict("records")},
    )


def completed_years(birth: dt.date, on: dt.date) -> int:
    return on.year - birth.year - ((on.month, on.day) < (birth.month, birth.day))


def classify_in_memory(
    tables: Mapping[str, pd.DataFrame],
    config: StudyConfig | None = None,
    index_date: dt.date | None = None,
) -> pd.DataFrame:
    """Classify every patient of the raw tables; one row per patient (see module docstring)."""
    config = config or StudyConfig()
    lists = _reference_lists(config.reference)
    drugs = lists.drugs
    # No date anywhere (an extract without events): nothing to truncate, ages at today.
    index_date = index_date or config.study.index_date or default_index_date(tables) or dt.date.today()
    ranges = lists.code_ranges

    depression_systems = {s.upper() for s in config.codes.depression_systems}
    codes: dict[str, set[tuple[str, str]]] = {}  # patient -> {(code system, normalised code)}
    first_depression: dict[str, dt.date] = {}  # patient -> date of the first depression diagnosis
    for row in _rows(tables, "diagnoses"):
        date, code = _as_date(row.get("date")), _as_text(row.get("code"))
        if code is not None and date is not None and date <= index_date:
            system = code_system_of(code, _as_text(row.get("code_system")), config.codes.system)
            if system in ("ICD10", "ICD9CM"):
                patient_id = _as_text(row["patient_id"])
                codes.setdefault(patient_id, set()).add((system, normalise_icd10(code)))
                if system in depression_systems and code_in_ranges(normalise_icd10(code), ranges[("depression", system)]):
                    first_depression[patient_id] = min(date, first_depression.get(patient_id, date))

    exposures: dict[str, list[Exposure]] = {}
    default_days = config.treatment.default_exposure_days
    for row in _rows(tables, "prescriptions"):
        start = _as_date(row.get("start_date"))
        if start is None or start > index_date:
            continue
        ingredient = drugs.ingredient(_as_text(row.get("drug")), _as_text(row.get("atc_code")))
        if ingredient is None:
            continue
        end = _as_date(row.get("end_date"))
        days_supply = _as_number(row.get("days_supply"))
        if days_supply is not None and not days_supply_is_possible(days_supply):
            days_supply = None  # negative, NaN, infinite or absurd: unknown
        if end is None:
            days = days_supply if days_supply is not None else default_days
            end = start + dt.timedelta(days=int(days))
        dose = _as_number(row.get("daily_dose_mg"))
        if dose is not None and not dose_is_possible(dose):
            dose = None  # negative, NaN, infinite or absurd: unknown
        if dose is None:
            adequate_dose = config.treatment.unknown_dose == "adequate"
        else:
            adequate_dose = ingredient.min_daily_dose_mg is not None and dose >= ingredient.min_daily_dose_mg
        exposures.setdefault(_as_text(row["patient_id"]), []).append(
            Exposure(ingredient, start, min(end, index_date), adequate_dose)
        )

    service_patterns = lists.service_patterns
    referrals: dict[str, dict[str, int]] = {}
    for row in _rows(tables, "referrals"):
        date = _as_date(row.get("date"))
        if date is None or date > index_date:
            continue
        category = _as_text(row.get("service_category"))
        if category is not None:
            category = category.lower()
        else:
            service = _as_text(row.get("service")) or ""
            category = next((cat for pattern, cat in service_patterns if pattern.search(service)), None)
        if category in SERVICE_CATEGORIES:
            counts = referrals.setdefault(_as_text(row["patient_id"]), {})
            counts[category] = counts.get(category, 0) + 1

    ethnicity, employment = lists.ethnicity, lists.employment
    note_flags = _note_flags(tables, config, index_date)

    output = []
    for row in _rows(tables, "patients"):
        patient_id = _as_text(row["patient_id"])
        patient_codes = codes.get(patient_id, set())

        def has(list_name: str) -> bool:
            # Depression is defined by codes.depression_systems only; every other list by any system.
            return any(code_in_ranges(code, ranges[(list_name, system)]) for system, code in patient_codes
                       if list_name not in ("depression", "recurrent_depression", "psychotic_symptoms")
                       or system in depression_systems)

        birth = _as_date(row.get("birth_date"))
        if birth is None and not _is_missing(row.get("year_of_birth")):
            birth = dt.date(int(float(row["year_of_birth"])), 7, 1)  # mid-year when only the year is known
        age = completed_years(birth, index_date) if birth is not None else None
        if age is not None and not 0 <= age <= MAX_AGE:
            birth, age = None, None  # a future birth or a date-shifted record: age unknown
        death = _as_date(row.get("death_date"))
        died = death is not None and death <= index_date
        age_at_death = completed_years(birth, death) if died and birth is not None and death >= birth else None
        # Completed years at the first depression diagnosis up to the index date; none before the birth.
        diagnosed = first_depression.get(patient_id)
        age_at_diagnosis = (completed_years(birth, diagnosed)
                            if diagnosed is not None and birth is not None and diagnosed >= birth else None)

        patient_exposures = exposures.get(patient_id, [])
        treatment = patient_treatment(patient_exposures, config)

        # study-definition.md 2: the first failing rule names the exclusion.
        exclusion_reason = first_exclusion_of({
            "no_depression_diagnosis": not has("depression"),
            "under_18": age is not None and age < config.cohort.min_age,
            **{name: has(name) for name in EXCLUSION_LISTS},
            "no_antidepressant": not any(e.ingredient.is_antidepressant for e in patient_exposures),
        })
        in_cohort = exclusion_reason is None
        trd = in_cohort and treatment.trd_date is not None
        if trd:
            n = treatment.n_antidepressants
            resistance_level = "4+" if n >= 4 else str(n)
        else:
            resistance_level = "MDD" if in_cohort else None

        result = {
            "patient_id": patient_id,
            "in_cohort": in_cohort,
            "exclusion_reason": exclusion_reason,
            "depression_code": "F33" if has("recurrent_depression") else ("F32" if has("depression") else None),
            "psychotic_symptoms": has("psychotic_symptoms"),
            "n_antidepressants": treatment.n_antidepressants,
            "n_adequate_trials": treatment.n_adequate_trials,
            "augmented": trd and treatment.augmented,
            "trd": trd,
            "trd_date": treatment.trd_date if trd else None,
            "resistance_level": resistance_level,
            "episode_start": treatment.episode_start,
            "sex": sex_of(_as_text(row.get("sex"))),
            "age": age,
            "age_at_diagnosis": age_at_diagnosis,
            "died": died,
            "age_at_death": age_at_death,
            "ethnicity_group": ethnicity.get(_normalise_label(_as_text(row.get("ethnicity"))), "Unknown"),
            "employment_group": employment.get(
                _normalise_label(_as_text(row.get("employment_status"))), "Unknown"),
            "treatment_sequence": treatment.treatment_sequence,
        }
        for flag in COMORBIDITY_FLAGS:
            result[flag] = has(flag)
        from_notes = note_flags.get(patient_id, {}) if note_flags is not None else None
        for column in NOTE_FLAGS:
            result[column] = None if from_notes is None else bool(from_notes.get(column, False))
        result["self_harm_any"] = self_harm_any(result["self_harm"], None if from_notes is None else result["self_harm_nlp"])
        counts = referrals.get(patient_id, {})
        for category, column in zip(SERVICE_CATEGORIES, REFERRAL_COLUMNS):
            result[column] = counts.get(category, 0)
        output.append(result)

    frame = pd.DataFrame(output, columns=list(OUTPUT_COLUMNS))
    for column in ("age_at_diagnosis", "age_at_death"):
        frame[column] = frame[column].astype("Int64")  # whole years, missing when unknown
    for column in (*NOTE_FLAGS, "self_harm_any"):
        frame[column] = frame[column].astype("boolean")  # empty without notes
    return frame


def _note_flags(tables: Mapping[str, pd.DataFrame], config: StudyConfig, index_date: dt.date) -> dict | None:
    """patient -> {flag: bool} from the notes up to the index date, or None without notes (or NLP off).
    The NLP model itself (trdpath.nlp) is an input here, not a rule: the reference reads what it finds."""
    notes = tables.get("notes")
    if not notes_in_use(notes is not None, config):
        return None
    from trdpath.nlp.patient import patient_flags

    notes = notes[[_as_date(d) is not None and _as_date(d) <= index_date for d in notes["date"]]]
    flags = patient_flags(notes, index_date, extra_rule_files=config.nlp.extra_rules)
    return {str(row["patient_id"]): row for row in flags.to_dict("records")}
