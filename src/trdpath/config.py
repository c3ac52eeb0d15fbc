"""The study configuration: every rule of study-definition.md as a validated, documented setting.

Users write a TOML file (``trdpath default-config`` prints a commented one); this module
validates it with pydantic so that a typo or an impossible value is one clear message, not a
silent default. Every run writes the configuration it used next to its results.
"""

from __future__ import annotations

import datetime as dt
import tomllib
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from trdpath.errors import UserError


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class StudySection(_Section):
    name: str = "TRD study"
    # study-definition.md 1: the point of data extraction; None = the latest event date (never a birth/death date).
    index_date: dt.date | None = None


class CohortSection(_Section):
    # study-definition.md 2: age < min_age at the index date excludes (`under_18`).
    min_age: int = Field(18, ge=0, le=120)


class CodesSection(_Section):
    """Which code system each diagnosis code belongs to, and which systems define depression (issue 13)."""

    # When the source does not say (no vocabulary, no code_system column): "auto" decides by the code's
    # shape (docs/data-contract.md: 3 digits -> ICD-9-CM, E800-E999 -> ICD-9-CM, V codes -> ambiguous,
    # a letter and two characters -> ICD-10), or every such code is "icd10" / "icd9cm".
    system: Literal["auto", "icd10", "icd9cm"] = "auto"
    # The paper defines depression by ICD-10 F32-F33; ICD-9-CM 296.2x/296.3x/311 only when listed here.
    # Exclusions and comorbidities use every code system present (a psychosis is a psychosis).
    depression_systems: list[Literal["icd10", "icd9cm"]] = Field(default_factory=lambda: ["icd10"], min_length=1)


class TreatmentSection(_Section):
    # study-definition.md 3.2: exposure without end_date or days_supply lasts this long.
    default_exposure_days: int = Field(28, ge=1)
    # study-definition.md 3.3: exposures merge into one era when the next starts <= gap days after the era's end.
    era_gap_days: int = Field(30, ge=0)
    # study-definition.md 3.4: an adequate-dose era must last at least this long to be an adequate trial.
    min_trial_days: int = Field(28, ge=1)
    # study-definition.md 3.4: a prescription without a daily dose counts as adequate or inadequate.
    unknown_dose: Literal["adequate", "inadequate"] = "adequate"
    # study-definition.md 3.5: a new episode starts when an era starts > this many days after every earlier era ended.
    episode_gap_days: int = Field(183, ge=0)


class TrdSection(_Section):
    # study-definition.md 4: the Maudsley rule. Failed adequate trials needed before a next step counts.
    definition: Literal["maudsley"] = "maudsley"
    failed_trials: int = Field(2, ge=1, le=10)
    # Whether an augmenting agent started after the failed trials counts as a next step.
    augmentation_counts: bool = True
    # An augmenting era must overlap an antidepressant era by at least this many days.
    augmentation_min_overlap_days: int = Field(1, ge=1)


class ReferenceSection(_Section):
    """Paths to a study's own copies of the reference lists; empty = the files shipped with trdpath."""

    antidepressants: Path | None = None
    augmenting_agents: Path | None = None
    icd10_codes: Path | None = None
    icd9cm_codes: Path | None = None
    service_categories: Path | None = None
    ethnicity: Path | None = None
    employment: Path | None = None


class DisclosureSection(_Section):
    # Statistical disclosure control for anything that leaves the program (issue 3).
    enabled: bool = True
    min_count: int = Field(8, ge=1)
    rounding: int = Field(5, ge=1)


class AnalysisSection(_Section):
    # The paper's Table 3: blocks of predictors entered stepwise (Model 1 .. Model 4).
    regression_blocks: list[list[str]] = Field(
        default_factory=lambda: [
            ["depression_code", "psychotic_symptoms", "employment_group"],
            ["substance_misuse", "anxiety", "personality_disorder"],
            ["self_harm"],
            ["cardiovascular", "respiratory", "gastrointestinal"],
        ]
    )
    # Issue 16: the extra passes `classify` runs over the extract (off: faster; the report says they were not run).
    assumption_sensitivity: bool = True  # re-classify under each handling of missing doses and durations
    pathways: bool = True  # treatment steps, lines, step times and time to TRD


class NlpSection(_Section):
    # Issue 6: find self-harm and suicidality in the notes table (when the extract has one).
    enabled: bool = True
    extra_rules: list[Path] = Field(default_factory=list)  # medspaCy rule files added to the shipped ones
    n_process: int = Field(1, ge=1)


class EngineSection(_Section):
    backend: Literal["duckdb", "postgres", "pyspark"] = "duckdb"
    # DuckDB: cap on memory before spilling to disk, e.g. "6GB" ("" = half the machine's memory,
    # leaving the other half for the per-patient table that comes back to Python).
    memory_limit: str = ""
    threads: int = Field(0, ge=0)  # 0 = all cores
    temp_directory: str = ""


class StudyConfig(_Section):
    study: StudySection = StudySection()
    cohort: CohortSection = CohortSection()
    codes: CodesSection = CodesSection()
    treatment: TreatmentSection = TreatmentSection()
    trd: TrdSection = TrdSection()
    reference: ReferenceSection = ReferenceSection()
    disclosure: DisclosureSection = DisclosureSection()
    analysis: AnalysisSection = AnalysisSection()
    nlp: NlpSection = NlpSection()
    engine: EngineSection = EngineSection()

    @field_validator("analysis")
    @classmethod
    def _blocks_not_empty(cls, v: AnalysisSection) -> AnalysisSection:
        if not v.regression_blocks or any(not block for block in v.regression_blocks):
            raise ValueError("analysis.regression_blocks needs at least one non-empty block")
        return v

    def to_toml(self) -> str:
        """The configuration as TOML, the form written next to every result."""
        return _to_toml(self.model_dump(mode="json"))


def load_config(path: Path | None) -> StudyConfig:
    """Read and validate a TOML configuration; None gives the defaults of study-definition.md."""
    if path is None:
        return StudyConfig()
    path = Path(path)
    if not path.is_file():
        raise UserError(f"Configuration file {path} " + ("is a folder, not a TOML file." if path.is_dir() else "does not exist."))
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise UserError(f"Configuration file {path} is not valid TOML: {exc}") from None
    return config_from_dict(data, source=str(path))


def config_from_dict(data: dict, source: str = "configuration") -> StudyConfig:
    try:
        return StudyConfig.model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            where = ".".join(str(p) for p in err["loc"])
            problems.append(f"  {where}: {err['msg']} (got {err.get('input')!r})")
        raise UserError(f"{source} has invalid settings:\n" + "\n".join(problems)) from None


def _toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def _to_toml(data: dict) -> str:
    lines = []
    for section, values in data.items():
        lines.append(f"[{section}]")
        for key, value in values.items():
            if value is None:
                lines.append(f"# {key} = (not set)")
            else:
                lines.append(f"{key} = {_toml_value(value)}")
        lines.append("")
    return "\n".join(lines)


DEFAULT_CONFIG_TOML = """\
# trdpath study configuration. Every value shown is the default (study-definition.md);
# delete a line to keep the default. Validate with: trdpath classify --config THIS_FILE ...

[study]
name = "TRD study"
# index_date = "2021-10-31"   # point of data extraction; default: latest event date in the extract

[cohort]
min_age = 18                  # younger at the index date -> excluded as under_18

[codes]
system = "auto"               # code system when the source does not say: "auto" (by shape), "icd10" or "icd9cm"
depression_systems = ["icd10"]  # systems whose depression codes define the cohort; add "icd9cm" for 296.2x/296.3x/311

[treatment]
default_exposure_days = 28    # exposure length when a prescription has no end_date or days_supply
era_gap_days = 30             # exposures <= 30 days apart form one era (same ingredient)
min_trial_days = 28           # an adequate trial: an adequate-dose era of >= 28 days (4-6 weeks, lower bound)
unknown_dose = "adequate"     # "adequate" or "inadequate": how a prescription without a dose counts
episode_gap_days = 183        # a new episode starts > 183 days after every earlier antidepressant era ended

[trd]
definition = "maudsley"       # two failed adequate trials, then a third antidepressant or augmentation
failed_trials = 2
augmentation_counts = true    # an augmenting agent after the failed trials is a next step
augmentation_min_overlap_days = 1

[reference]
# Point any list at a study's own copy (same columns as the shipped file), e.g.
# antidepressants = "my_antidepressants.csv"
# augmenting_agents, icd10_codes, icd9cm_codes, service_categories, ethnicity, employment

[disclosure]
enabled = true                # statistical disclosure control on every output that leaves the program
min_count = 8                 # counts below this are shown as "<8"
rounding = 5                  # other counts are rounded to the nearest 5

[analysis]
# Table 3: predictors entered stepwise, one block per model
regression_blocks = [
  ["depression_code", "psychotic_symptoms", "employment_group"],
  ["substance_misuse", "anxiety", "personality_disorder"],
  ["self_harm"],
  ["cardiovascular", "respiratory", "gastrointestinal"],
]
# Extra passes over the extract (false: skipped, and the report says so; CLI: --no-extra-passes)
assumption_sensitivity = true  # the headline under each handling of missing doses and durations
pathways = true                # treatment lines, steps, step times, time to TRD

[nlp]
enabled = true                # read the notes table (if any) for self-harm, suicidal ideation, suicide attempt
extra_rules = []              # extra medspaCy rule files (JSON), see docs/nlp.md
n_process = 1                 # worker processes for the notes

[engine]
backend = "duckdb"            # duckdb (embedded), postgres or pyspark
memory_limit = ""             # DuckDB memory cap before spilling to disk, e.g. "6GB"; "" = half the RAM
threads = 0                   # 0 = all cores
temp_directory = ""           # where DuckDB spills; "" = its default
"""
