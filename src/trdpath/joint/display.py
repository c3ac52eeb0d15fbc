"""A joint display: the mapped rows with their published quantitative figure, the theme's participant counts
(under the disclosure rule unless the mapping exempts them) and quotes, the judgement and the meta-inference."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

from trdpath import layout
from trdpath.config import DisclosureSection, load_config
from trdpath.joint.mapping import EXEMPT, Mapping
from trdpath.joint.qualitative import GROUP_TITLES, ROLES, QualitativeSource, ThemeCounts, ThemeFigure
from trdpath.joint.quantitative import PublishedTables, QuantFigure, quantitative_figure
from trdpath.qualitative.store import QualProject
from trdpath.stats.disclosure import PRIMARY, SUPPRESSED, round_count, small_label, suppression_pattern

JUDGEMENT_TITLES = {"convergence": "Convergence", "divergence": "Divergence", "expansion": "Expansion"}
LEVEL_PREFIX = "level:"


@dataclass
class CountCell:
    label: str  # "People with TRD", "Level 2"
    shown: str  # as published: "3", "<8", "suppressed", "10"
    of: str  # the group's size, shown the same way


@dataclass
class DisplayRow:
    number: int
    quantitative: QuantFigure
    theme: ThemeFigure
    total: str
    counts: list[CountCell]
    judgement: str
    meta_inference: str


@dataclass
class JointDisplay:
    title: str
    layouts: list[str]
    rows: list[DisplayRow]
    notes: list[str] = field(default_factory=list)
    results: str = ""
    project: str = ""
    generated: str = ""


def _shown(value: int, hidden: str | None, settings: DisclosureSection, protect: bool) -> str:
    if not protect or value == 0:
        return str(value)
    if hidden is not None:
        return small_label(settings) if hidden == PRIMARY else SUPPRESSED
    return str(round_count(value, settings.rounding))


def _protect(values: dict[str, int], groups: list[list[str]], settings: DisclosureSection,
             protect: bool) -> dict[str, str]:
    # The project's rule (trdpath.stats.disclosure): 1..min_count-1 as <8, the rest rounded, and secondary
    # suppression where cells add up to a published total (TRD + clinicians = the theme's participants).
    pattern = suppression_pattern(values, groups, settings.min_count, settings.rounding) if protect else {}
    return {k: _shown(v, pattern.get(k), settings, protect) for k, v in values.items()}


def publish_counts(counts: ThemeCounts, settings: DisclosureSection, protect: bool) -> tuple[str, list[CountCell]]:
    """The theme's participant counts as they will be published: (total, cells by group then by level)."""
    values = {r: counts.by_group[r] for r in ROLES}
    sizes = {r: counts.group_sizes[r] for r in ROLES}
    groups = [list(ROLES)]
    if counts.by_level:
        values.update({LEVEL_PREFIX + k: v for k, v in counts.by_level.items()})
        sizes.update({LEVEL_PREFIX + k: v for k, v in counts.level_sizes.items()})
        groups.append([LEVEL_PREFIX + k for k in counts.by_level])
    values["total"], sizes["total"] = counts.participants, sum(counts.group_sizes.values())
    shown = _protect(values, groups, settings, protect)
    of = _protect(sizes, groups, settings, protect)
    cells = [CountCell(GROUP_TITLES[r], shown[r], of[r]) for r in ROLES]
    cells += [CountCell(f"Level {k}", shown[LEVEL_PREFIX + k], of[LEVEL_PREFIX + k]) for k in counts.by_level]
    return f"{shown['total']} of {of['total']}", cells


def disclosure_settings(results: Path) -> DisclosureSection:
    """The result's own disclosure settings (its config.toml), so both strands follow one policy."""
    path = Path(results) / layout.CONFIG_TOML
    return load_config(path if path.is_file() else None).disclosure


def build_display(mapping: Mapping, results: Path, project: QualProject) -> JointDisplay:
    settings = disclosure_settings(results)
    tables = PublishedTables(results)
    source = QualitativeSource(project, mapping.coders, mapping.level_attribute)
    protect = settings.enabled and mapping.participant_counts != EXEMPT
    rows = []
    for number, row in enumerate(mapping.rows, start=1):
        where = f"row {number}"
        quant = quantitative_figure(tables, row.finding, where)
        theme = source.theme(row.codes, row.theme, row.quotes, where)
        total, cells = publish_counts(theme.counts, settings, protect)
        rows.append(DisplayRow(number, quant, theme, total, cells, row.judgement, row.meta_inference))
    notes = [
        "Quantitative figures are copied from the published (disclosure-controlled) tables of the result "
        f"({layout.RELEASE}/{layout.TABLES}/); OR: odds ratio; CI: confidence interval.",
        "Participants: those with at least one coded segment under the theme's codes "
        f"({'every coder' if not mapping.coders else ', '.join(mapping.coders)}); 'n of N': N participants of "
        "that group in the project. Quotes are attributed by the project's pseudonyms.",
    ]
    if protect:
        notes.append(f"Participant counts follow the disclosure rule of the quantitative results: counts 1-"
                     f"{settings.min_count - 1} shown as {small_label(settings)}, others rounded to the nearest "
                     f"{settings.rounding}; '{SUPPRESSED}' where a count could be worked out from the others.")
    elif not settings.enabled:
        notes.append("Disclosure control was turned off for the quantitative results: participant counts are "
                     "exact and this display may not leave the secure environment.")
    else:
        notes.append(f"Participant counts are exact (exempt from disclosure control by the researcher): "
                     f"{mapping.exempt_reason}")
    notes.append("Fit of the two strands (Fetters, Curry and Creswell 2013): convergence, divergence or "
                 "expansion; the meta-inference is the researcher's.")
    return JointDisplay(mapping.title, list(mapping.layouts), rows, notes, str(results), project.name,
                        dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"))
