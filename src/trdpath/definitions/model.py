"""Definitions as data: one TOML file per TRD definition, validated with pydantic.

A definition says what counts as a trial (dose rule, minimum days), how trials are grouped (the
current episode, a window after the first depression diagnosis, the whole history), what the TRD
event is (a next step after N failed trials, N failed trials, N distinct antidepressants, a score
over a threshold) and which stage or score is reported. A setting left out takes the study
configuration's value (``[treatment]`` and ``[trd]``), so the shipped Maudsley file is exactly
``trdpath classify`` under any configuration. docs/definitions.md describes every key.
"""

from __future__ import annotations

import tomllib
from importlib import resources
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from trdpath.errors import UserError


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Population(_Section):
    # Everyone in the study cohort (study-definition.md 2), narrowed by age at the index date.
    min_age: int | None = Field(None, ge=0, le=120)
    max_age: int | None = Field(None, ge=0, le=120)


class Trial(_Section):
    # Days an era must last to be a trial; unset = the study's treatment.min_trial_days.
    min_days: int | None = Field(None, ge=1, le=3650)
    # "adequate": only adequate-dose exposures build the trial (study-definition.md 3.4); "any": any dose.
    dose: Literal["adequate", "any"] = "adequate"


class Grouping(_Section):
    # current_episode: study-definition.md 3.5 with episode_gap_days; after_first_diagnosis: trials and
    # steps starting within window_days after the first F32/F33 diagnosis; all: every era up to the index date.
    kind: Literal["current_episode", "after_first_diagnosis", "all"] = "current_episode"
    episode_gap_days: int | None = Field(None, ge=0, le=36500)
    window_days: int | None = Field(None, ge=1, le=36500)


class Augmentation(_Section):
    # Whether an augmenting agent is a step; unset = the study's trd.augmentation_counts.
    counts: bool | None = None
    # Which augmenting agents count (ingredient names); empty = every augmenting agent of the reference list.
    agents: list[str] = Field(default_factory=list)
    min_overlap_days: int | None = Field(None, ge=1, le=3650)


class Event(_Section):
    # next_step: N failed trials, then another antidepressant or augmentation strictly after the Nth
    #   adequacy date (the Maudsley shape); TRD date = that step's start.
    # failures: TRD on the adequacy date of the Nth failed trial (also needing min_classes classes).
    # distinct_drugs: OHDSI 1009 - the start of an antidepressant era when >= distinct_drugs
    #   antidepressants have eras ending within lookback_days before it (>= distinct_drugs - 1 started
    #   before it), or an antipsychotic / esketamine era after antidepressants (see below).
    # score: a staging score (score.kind) at least score.threshold.
    kind: Literal["next_step", "failures", "distinct_drugs", "score"] = "next_step"
    failures: int | None = Field(None, ge=1, le=10)  # unset = the study's trd.failed_trials
    min_classes: int = Field(1, ge=1, le=10)  # distinct antidepressant classes among the failed trials
    within_days: int | None = Field(None, ge=1, le=36500)  # TRD only if met this long after the first trial starts
    distinct_drugs: int = Field(3, ge=2, le=20)
    lookback_days: int = Field(365, ge=1, le=36500)
    antipsychotic_agents: list[str] = Field(default_factory=list)  # distinct_drugs: (b) atypical antipsychotics
    esketamine_after: int | None = Field(None, ge=1, le=20)  # distinct_drugs: (c) esketamine after this many antidepressants


class Score(_Section):
    # mgh_s: points per failed trial + per augmenting agent (+ ECT and optimisation, not in an extract);
    # msm: Maudsley Staging Method bands of failures and episode duration, + augmentation (+ ECT, severity).
    kind: Literal["mgh_s", "msm"]
    threshold: float = Field(ge=0)
    per_trial: float = Field(1.0, ge=0)
    per_augmentation: float = Field(0.5, ge=0)
    # msm: upper bounds of the failure bands (1-2 -> 1, 3-4 -> 2, 5-6 -> 3, 7-10 -> 4, more -> 5).
    failure_bands: list[int] = Field(default_factory=lambda: [2, 4, 6, 10])
    # msm: upper bounds of the duration bands in months (<= 12 -> 1, 13-24 -> 2, more -> 3).
    duration_bands_months: list[int] = Field(default_factory=lambda: [12, 24])
    augmentation_points: float = Field(1.0, ge=0)  # msm


class Stage(_Section):
    # resistance_level: 2 / 3 / 4+ antidepressants in the grouping for TRD, MDD otherwise (study-definition.md 4);
    # thase_rush: I-IV from the failed trials' classes; esm: TRD1-TRD5 / CRD from weeks of treatment;
    # score: the score itself.
    kind: Literal["none", "resistance_level", "thase_rush", "esm", "score"] = "none"
    # esm: upper bounds in weeks of TRD1..TRD5; longer is CRD (chronic resistant depression).
    bands_weeks: list[int] = Field(default_factory=lambda: [16, 24, 32, 40, 52])


class Definition(_Section):
    id: str = Field(pattern=r"^[a-z][a-z0-9_]{0,39}$")
    title: str = Field(min_length=1)
    summary: str = Field(min_length=1)  # one line, for `trdpath definitions list`
    sources: list[str] = Field(min_length=1)
    checked: list[str] = Field(default_factory=list)  # how each parameter was confirmed, or that it was not
    missing: list[str] = Field(default_factory=list)  # what an extract lacks for this definition
    population: Population = Population()
    trial: Trial = Trial()
    grouping: Grouping = Grouping()
    augmentation: Augmentation = Augmentation()
    event: Event = Event()
    score: Score | None = None
    stage: Stage = Stage()

    @model_validator(mode="after")
    def _consistent(self) -> Definition:
        if self.event.kind == "score" and self.score is None:
            raise ValueError("event.kind = 'score' needs a [score] table")
        if self.stage.kind == "score" and self.score is None:
            raise ValueError("stage.kind = 'score' needs a [score] table")
        if self.event.kind != "failures" and self.event.min_classes != 1:
            raise ValueError("event.min_classes applies only to event.kind = 'failures'")
        if self.grouping.kind == "after_first_diagnosis" and self.grouping.window_days is None:
            raise ValueError("grouping.kind = 'after_first_diagnosis' needs grouping.window_days")
        p = self.population
        if p.min_age is not None and p.max_age is not None and p.max_age < p.min_age:
            raise ValueError(f"population.max_age ({p.max_age}) is below population.min_age ({p.min_age})")
        for name, bands in (("score.failure_bands", self.score.failure_bands if self.score else [1]),
                            ("score.duration_bands_months", self.score.duration_bands_months if self.score else [1]),
                            ("stage.bands_weeks", self.stage.bands_weeks)):
            if not bands or any(b <= a for a, b in zip(bands, bands[1:])):
                raise ValueError(f"{name} must be a non-empty, strictly increasing list (got {bands})")
        return self

    @property
    def has_stage(self) -> bool:
        return self.stage.kind != "none"


def _problems(exc: ValidationError) -> str:
    lines = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"]) or "(file)"
        lines.append(f"  {where}: {err['msg']} (got {err.get('input')!r})")
    return "\n".join(lines)


def definition_from_dict(data: dict, source: str) -> Definition:
    try:
        return Definition.model_validate(data)
    except ValidationError as exc:
        raise UserError(f"Definition file {source} has invalid settings:\n{_problems(exc)}") from None


def load_definition_file(path: Path) -> Definition:
    """A user's (or a shipped) definition file, validated; UserError names the key and the value."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"Definition file {path} " + ("is a folder, not a TOML file." if path.is_dir() else "does not exist."))
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise UserError(f"Definition file {path} is not valid TOML: {exc}") from None
    return definition_from_dict(data, str(path))


def shipped_definitions() -> dict[str, Definition]:
    """Every definition shipped with trdpath, by id, Maudsley first then alphabetical."""
    folder = resources.files(__package__).joinpath("shipped")
    found = {}
    for item in sorted(folder.iterdir(), key=lambda p: p.name):
        if item.name.endswith(".toml"):
            definition = definition_from_dict(tomllib.loads(item.read_text(encoding="utf-8")), f"shipped/{item.name}")
            found[definition.id] = definition
    order = ["maudsley"] + [k for k in found if k != "maudsley"]
    return {k: found[k] for k in order if k in found}


def _is_file_spec(part: str) -> bool:
    return part.endswith(".toml") or "/" in part or Path(part).is_file()


def definition_files(specs: list[str] | None) -> list[Path]:
    """The files among `--definitions` values (what resolve_definitions reads as TOML)."""
    return [Path(p) for spec in specs or [] for p in (q.strip() for q in spec.split(",")) if p and _is_file_spec(p)]


def resolve_definitions(specs: list[str] | None) -> list[Definition]:
    """`--definitions` values: shipped ids (comma-separated) and/or TOML files; None = every shipped one."""
    shipped = shipped_definitions()
    if not specs:
        return list(shipped.values())
    chosen: list[Definition] = []
    for spec in specs:
        for part in (p.strip() for p in spec.split(",")):
            if not part:
                continue
            if _is_file_spec(part):
                chosen.append(load_definition_file(Path(part)))
            elif part in shipped:
                chosen.append(shipped[part])
            else:
                raise UserError(f"--definitions: no shipped definition {part!r} (known: {', '.join(shipped)}); "
                                "or give a path to a .toml file.")
    ids = [d.id for d in chosen]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise UserError(f"--definitions: the id {duplicates[0]!r} is given twice; each definition needs its own id.")
    return chosen
