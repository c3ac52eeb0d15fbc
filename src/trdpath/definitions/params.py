"""A definition's settings with the study configuration filled in (unset keys take the study's value)."""

from __future__ import annotations

from dataclasses import dataclass

from trdpath.config import StudyConfig
from trdpath.definitions.model import Definition


@dataclass(frozen=True)
class Resolved:
    definition: Definition
    min_age: int | None  # None = the cohort's own minimum age only
    max_age: int | None
    min_days: int
    dose: str
    grouping: str
    episode_gap_days: int
    window_days: int | None
    augmentation: bool
    agents: tuple[str, ...] | None  # None = every augmenting agent
    min_overlap_days: int
    failures: int

    @property
    def id(self) -> str:
        return self.definition.id


def resolve(definition: Definition, config: StudyConfig) -> Resolved:
    d, t, trd = definition, config.treatment, config.trd
    return Resolved(
        definition=d,
        min_age=d.population.min_age,
        max_age=d.population.max_age,
        min_days=t.min_trial_days if d.trial.min_days is None else d.trial.min_days,
        dose=d.trial.dose,
        grouping=d.grouping.kind,
        episode_gap_days=t.episode_gap_days if d.grouping.episode_gap_days is None else d.grouping.episode_gap_days,
        window_days=d.grouping.window_days,
        augmentation=trd.augmentation_counts if d.augmentation.counts is None else d.augmentation.counts,
        agents=tuple(a.strip().lower() for a in d.augmentation.agents) or None,
        min_overlap_days=(trd.augmentation_min_overlap_days if d.augmentation.min_overlap_days is None
                          else d.augmentation.min_overlap_days),
        failures=trd.failed_trials if d.event.failures is None else d.event.failures,
    )


def duration_points(days: int, bands_months: list[int]) -> int:
    """MSM duration: 1 for <= the first band (12 months = 365 days), 2 for <= the second, ... (months x 365 / 12)."""
    for points, months in enumerate(bands_months, start=1):
        if days <= months * 365 // 12:
            return points
    return len(bands_months) + 1


def failure_points(failures: int, bands: list[int]) -> int:
    """MSM failures: 0 for none, 1 for 1..bands[0], 2 for ..bands[1], ..., len(bands)+1 beyond."""
    if failures <= 0:
        return 0
    for points, upper in enumerate(bands, start=1):
        if failures <= upper:
            return points
    return len(bands) + 1


def esm_stage(weeks_days: int, bands_weeks: list[int]) -> str:
    """ESM: TRD1..TRD5 by the upper bound in weeks of each band (days / 7), CRD beyond the last."""
    for number, weeks in enumerate(bands_weeks, start=1):
        if weeks_days <= weeks * 7:
            return f"TRD{number}"
    return "CRD"


def thase_rush_stage(classes: set[str]) -> str:
    """Thase & Rush 1997 from the classes of the failed adequate trials: I one trial; II two classes;
    III two classes besides TCAs plus a TCA; IV stage III plus an irreversible MAOI. V needs ECT (not in an extract)."""
    if not classes:
        return "0"
    base = classes - {"TCA", "MAOI"}
    if len(base) >= 2 and "TCA" in classes:
        return "IV" if "MAOI" in classes else "III"
    return "II" if len(classes) >= 2 else "I"


def format_score(value: float) -> str:
    return f"{float(value):g}"
