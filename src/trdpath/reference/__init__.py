"""Reference lists shipped as versioned data files (see SOURCES.md for each file's citations).

A study can replace any list with its own copy through ``[reference]`` in the configuration.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from importlib import resources
from pathlib import Path

import pandas as pd

from trdpath.config import StudyConfig
from trdpath.errors import InputError

_REQUIRED_COLUMNS = {
    "antidepressants": ["ingredient", "atc_code", "class", "min_daily_dose_mg", "dose_source", "synonyms"],
    "augmenting_agents": ["ingredient", "atc_code", "class", "source", "synonyms"],
    "icd10_codes": ["list", "code_from", "code_to", "description"],
    "icd9cm_codes": ["list", "code_from", "code_to", "description"],
    "service_categories": ["pattern", "service_category"],
    "ethnicity": ["value", "ethnicity_group"],
    "employment": ["value", "employment_group"],
}

SERVICE_CATEGORIES = ("community", "urgent_care", "specialist", "inpatient", "forensic", "addiction")
ETHNICITY_GROUPS = ("Black", "Mixed", "South Asian", "White", "Other", "Unknown")
EMPLOYMENT_GROUPS = ("Employed", "Unemployed (seeking)", "Economically inactive", "Unknown")

# study-definition.md 6: comorbidity flags written to patients.csv.
COMORBIDITY_FLAGS = (
    "substance_misuse", "alcohol", "drugs", "sedatives", "tobacco", "other_drugs", "anxiety",
    "eating_disorder", "personality_disorder", "self_harm", "psychotic_illness", "developmental",
    "diabetes", "diabetes_type1", "diabetes_type2", "diabetes_unspecified", "cardiovascular",
    "respiratory", "gastrointestinal",
)


def _read(name: str, override: Path | None) -> pd.DataFrame:
    if override is not None:
        path = Path(override)
        if not path.is_file():
            raise InputError("reference list file does not exist", file=str(path))
        text_source = path
    else:
        text_source = resources.files(__name__).joinpath(f"{name}.csv")
    with text_source.open("r", encoding="utf-8") as fh:
        frame = pd.read_csv(fh, dtype=str, keep_default_na=False)
    missing = [c for c in _REQUIRED_COLUMNS[name] if c not in frame.columns]
    if missing:
        raise InputError(f"reference list '{name}' lacks columns {missing}", file=str(text_source))
    return frame


@dataclass(frozen=True)
class ReferenceData:
    """All reference lists for one study, loaded once."""

    config: StudyConfig

    def _load(self, name: str) -> pd.DataFrame:
        return _read(name, getattr(self.config.reference, name))

    @cached_property
    def antidepressants(self) -> pd.DataFrame:
        frame = self._load("antidepressants")
        frame["min_daily_dose_mg"] = frame["min_daily_dose_mg"].astype(float)
        return frame

    @cached_property
    def augmenting_agents(self) -> pd.DataFrame:
        return self._load("augmenting_agents")

    @cached_property
    def icd10_codes(self) -> pd.DataFrame:
        frame = self._load("icd10_codes")
        for col in ("code_from", "code_to"):
            frame[col] = frame[col].str.upper().str.replace(".", "", regex=False).str.strip()
        return frame

    @cached_property
    def icd9cm_codes(self) -> pd.DataFrame:
        frame = self._load("icd9cm_codes")
        for col in ("code_from", "code_to"):
            frame[col] = frame[col].str.upper().str.replace(".", "", regex=False).str.strip()
        return frame

    @cached_property
    def service_categories(self) -> pd.DataFrame:
        return self._load("service_categories")

    @cached_property
    def ethnicity(self) -> pd.DataFrame:
        return self._load("ethnicity")

    @cached_property
    def employment(self) -> pd.DataFrame:
        return self._load("employment")

    def code_ranges(self, list_name: str, system: str = "ICD10") -> list[tuple[str, str]]:
        """The (code_from, code_to) ranges of one list in one code system ("ICD10" or "ICD9CM"),
        e.g. ``code_ranges("anxiety", "ICD9CM")``. A list may have no ICD-9-CM rows (none is empty)."""
        codes = self.icd10_codes if system == "ICD10" else self.icd9cm_codes
        rows = codes[codes["list"] == list_name]
        if rows.empty and system == "ICD10":
            raise InputError(f"ICD-10 code list '{list_name}' is missing from the reference codes")
        return list(zip(rows["code_from"], rows["code_to"]))
