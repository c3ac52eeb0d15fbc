"""The qualitative side of a joint display, read from a project store (never changed): the mapped codes or
themes, the participants coded there by group (people with TRD / clinicians) and by level where a participant
attribute holds it, and attributed quotes. Counting is done on the segments table with pandas."""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd
from sqlalchemy import select

from trdpath.errors import UserError
from trdpath.qualitative import models as m
from trdpath.qualitative.agreement import document_texts, segments_frame
from trdpath.qualitative.analysis import GROUP_LABELS
from trdpath.qualitative.coding import find_code_by_name
from trdpath.qualitative.report import exemplar_quotes
from trdpath.qualitative.store import QualProject

ROLES = (m.ROLE_PERSON_WITH_TRD, m.ROLE_CLINICIAN)
GROUP_SINGULAR = {m.ROLE_PERSON_WITH_TRD: "person with TRD", m.ROLE_CLINICIAN: "clinician"}


@dataclass
class Quote:
    participant: str  # the project's pseudonym (participant label)
    group: str
    text: str


@dataclass
class ThemeCounts:
    """True counts of participants (never published as they are: see trdpath.joint.display)."""
    participants: int
    by_group: dict[str, int]  # role -> participants coded
    group_sizes: dict[str, int]  # role -> participants in the project
    by_level: dict[str, int] = field(default_factory=dict)  # attribute value -> participants coded
    level_sizes: dict[str, int] = field(default_factory=dict)


@dataclass
class ThemeFigure:
    theme: str
    codes: list[str]  # full paths
    counts: ThemeCounts
    quotes: list[Quote]


def _as_quoted(text: str) -> str:
    # A segment coded from mid-sentence reads as an excerpt: mark the cut, as quoted in the seed papers.
    return f"\u2026{text}" if text[:1].islower() else text


def _level_key(value: str):
    digits = "".join(ch for ch in value if ch.isdigit())
    return (0, int(digits), value) if digits else (1, 0, value)


class QualitativeSource:
    """One project read once: its segments, texts and participants."""

    def __init__(self, project: QualProject, coders: list[str] | None = None, level_attribute: str | None = None):
        self.project = project
        segments = segments_frame(project)
        if coders:
            known = set(segments["coder"].dropna())
            unknown = [c for c in coders if c not in known]
            if unknown:
                raise UserError(f"coders: {unknown[0]!r} has coded nothing in the project (coders with codings: "
                                f"{', '.join(sorted(known)) or 'none'})")
            segments = segments[segments["coder"].isin(coders)]
        self.segments = segments
        self.texts = document_texts(project)
        with project.reading() as s:
            people = s.execute(select(m.Participant.id, m.Participant.label, m.Participant.role)).all()
            attributes = s.execute(select(m.ParticipantAttribute.participant_id, m.ParticipantAttribute.value)
                                   .where(m.ParticipantAttribute.name == level_attribute)).all() \
                if level_attribute else []
        levels = {pid: (value or "").strip() for pid, value in attributes if (value or "").strip()}
        self.participants = pd.DataFrame([(label, role, levels.get(pid)) for pid, label, role in people],
                                         columns=["participant", "role", "level"])
        if level_attribute and not levels:
            raise UserError(f"level_attribute: no participant has an attribute {level_attribute!r} in the project")
        self.level_attribute = level_attribute

    def resolve(self, names: list[str], where: str) -> list[str]:
        paths = []
        with self.project.reading() as s:
            for name in names:
                try:
                    paths.append(find_code_by_name(s, name).path())
                except UserError as exc:
                    raise UserError(f"{where}: codes: {exc}") from None
        return paths

    def theme(self, names: list[str], label: str | None, quotes: int, where: str) -> ThemeFigure:
        paths = self.resolve(names, where)
        code = self.segments["code"]
        under = self.segments[pd.concat([(code == p) | code.str.startswith(p + " / ") for p in paths], axis=1)
                              .any(axis=1)]
        coded = self.participants[self.participants["participant"].isin(set(under["participant"].dropna()))]
        counts = ThemeCounts(
            participants=len(coded),
            by_group={r: int((coded["role"] == r).sum()) for r in ROLES},
            group_sizes={r: int((self.participants["role"] == r).sum()) for r in ROLES})
        if self.level_attribute:
            order = sorted(self.participants["level"].dropna().unique(), key=_level_key)
            counts.by_level = {v: int((coded["level"] == v).sum()) for v in order}
            counts.level_sizes = {v: int((self.participants["level"] == v).sum()) for v in order}
        roles = dict(zip(self.participants["participant"], self.participants["role"]))
        chosen = exemplar_quotes(under, self.texts, limit=quotes) if quotes else []
        shown = [Quote(who, GROUP_SINGULAR.get(roles.get(who), "participant"), _as_quoted(text)) for who, text in chosen]
        return ThemeFigure(label or "; ".join(p.split(" / ")[-1] for p in paths), paths, counts, shown)


GROUP_TITLES = {r: GROUP_LABELS[r] for r in ROLES}
