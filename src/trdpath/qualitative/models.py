"""The qualitative project store: documents, participants, codes, coded segments, memos and the change log.

Modelled on Taguette's small clear model (project, document, highlight, tag) and extended with what thematic
analysis of TRD interviews needs: participants with attributes (role, age, gender), speaker turns, coders, a code
hierarchy of any depth (theme -> subtheme -> code), memos and an append-only change log.

Text offsets are Unicode code points from 0, end-exclusive (REFI-QDA 1.0 PlainTextSelection convention), so a
segment's text is ``document.text[start:end]`` in Python.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timezone

from sqlalchemy import (CheckConstraint, DateTime, ForeignKey, Index, Integer, String, Text, UniqueConstraint, text)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

# Participant roles used in the seed study (000: people with TRD "P1..", clinicians "C1..").
ROLE_PERSON_WITH_TRD = "person_with_trd"
ROLE_CLINICIAN = "clinician"
ROLES = (ROLE_PERSON_WITH_TRD, ROLE_CLINICIAN)


def new_guid() -> str:
    return str(uuid.uuid4())


def utc_now() -> datetime:
    return datetime.now(timezone.utc).replace(microsecond=0)


class Base(DeclarativeBase):
    pass


class ProjectInfo(Base):
    """One row: the project's name and identity (kept across REFI-QDA round trips)."""

    __tablename__ = "project_info"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    guid: Mapped[str] = mapped_column(String(38), default=new_guid, unique=True)
    name: Mapped[str] = mapped_column(String(300))
    description: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utc_now)


class Coder(Base):
    """A person who codes (REFI-QDA User)."""

    __tablename__ = "coder"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    guid: Mapped[str] = mapped_column(String(38), default=new_guid, unique=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    # NVivo writes a user's initials as the REFI-QDA User "id"; kept so a round trip gives them back.
    initials: Mapped[str | None] = mapped_column(String(50))


class Participant(Base):
    """An interviewee (REFI-QDA Case): label such as P1 or C5, role, and free attributes."""

    __tablename__ = "participant"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    guid: Mapped[str] = mapped_column(String(38), default=new_guid, unique=True)
    label: Mapped[str] = mapped_column(String(100), unique=True)
    role: Mapped[str | None] = mapped_column(String(50))
    description: Mapped[str | None] = mapped_column(Text)
    attributes: Mapped[list[ParticipantAttribute]] = relationship(
        back_populates="participant", cascade="all, delete-orphan", order_by="ParticipantAttribute.name")
    documents: Mapped[list[Document]] = relationship(back_populates="participant")


class ParticipantAttribute(Base):
    """One variable value of a participant (age, gender, profession...), typed as REFI-QDA variables are."""

    __tablename__ = "participant_attribute"
    __table_args__ = (UniqueConstraint("participant_id", "name"),
                      CheckConstraint("value_type IN ('Text','Integer','Float','Boolean','Date','DateTime')",
                                      name="attribute_value_type"))
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    participant_id: Mapped[int] = mapped_column(ForeignKey("participant.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    value: Mapped[str | None] = mapped_column(Text)
    value_type: Mapped[str] = mapped_column(String(10), default="Text")
    participant: Mapped[Participant] = relationship(back_populates="attributes")


class Document(Base):
    """A transcript (REFI-QDA TextSource) with its plain text."""

    __tablename__ = "document"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    guid: Mapped[str] = mapped_column(String(38), default=new_guid, unique=True)
    name: Mapped[str] = mapped_column(String(300), unique=True)
    text: Mapped[str] = mapped_column(Text)
    participant_id: Mapped[int | None] = mapped_column(ForeignKey("participant.id", ondelete="SET NULL"),
                                                      index=True)
    # Interview order drives the saturation curve (Guest, Namey & Chen 2020 count interviews in the order done).
    interview_order: Mapped[int | None] = mapped_column(Integer)
    source_format: Mapped[str | None] = mapped_column(String(20))
    description: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utc_now)
    creator_id: Mapped[int | None] = mapped_column(ForeignKey("coder.id", ondelete="SET NULL"))
    modified_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    modifier_id: Mapped[int | None] = mapped_column(ForeignKey("coder.id", ondelete="SET NULL"))
    participant: Mapped[Participant | None] = relationship(back_populates="documents")
    creator: Mapped[Coder | None] = relationship(foreign_keys=[creator_id])
    modifier: Mapped[Coder | None] = relationship(foreign_keys=[modifier_id])
    speakers: Mapped[list[Speaker]] = relationship(back_populates="document", cascade="all, delete-orphan")
    turns: Mapped[list[Turn]] = relationship(back_populates="document", cascade="all, delete-orphan",
                                             order_by="Turn.start")
    segments: Mapped[list[Segment]] = relationship(back_populates="document", cascade="all, delete-orphan")


class Speaker(Base):
    """A voice in one transcript ("P1", "Interviewer"), linked to a participant when it is one."""

    __tablename__ = "speaker"
    __table_args__ = (UniqueConstraint("document_id", "label"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("document.id", ondelete="CASCADE"), index=True)
    label: Mapped[str] = mapped_column(String(100))
    participant_id: Mapped[int | None] = mapped_column(ForeignKey("participant.id", ondelete="SET NULL"))
    document: Mapped[Document] = relationship(back_populates="speakers")


class Turn(Base):
    """One speaker turn: the span of the document's text the speaker said (code points, end-exclusive)."""

    __tablename__ = "turn"
    __table_args__ = (CheckConstraint("start_offset >= 0 AND end_offset > start_offset", name="turn_span"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("document.id", ondelete="CASCADE"), index=True)
    speaker_id: Mapped[int] = mapped_column(ForeignKey("speaker.id", ondelete="CASCADE"))
    start: Mapped[int] = mapped_column("start_offset", Integer)
    end: Mapped[int] = mapped_column("end_offset", Integer)
    document: Mapped[Document] = relationship(back_populates="turns")
    speaker: Mapped[Speaker] = relationship()


class Code(Base):
    """A code in the codebook; parent_id builds the theme -> subtheme -> code hierarchy of any depth."""

    __tablename__ = "code"
    # (parent_id, name) is unique below the top level; a NULL parent_id never collides in SQL, so top-level
    # names need their own partial index (two coders creating one new theme at once made two: issue 14).
    __table_args__ = (UniqueConstraint("parent_id", "name"),
                      Index("uq_code_top_level_name", "name", unique=True, sqlite_where=text("parent_id IS NULL"),
                            postgresql_where=text("parent_id IS NULL")))
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    guid: Mapped[str] = mapped_column(String(38), default=new_guid, unique=True)
    name: Mapped[str] = mapped_column(String(300))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("code.id", ondelete="CASCADE"), index=True)
    definition: Mapped[str | None] = mapped_column(Text)
    color: Mapped[str | None] = mapped_column(String(7))
    position: Mapped[int] = mapped_column(Integer, default=0)
    is_codable: Mapped[bool] = mapped_column(default=True)
    parent: Mapped[Code | None] = relationship(remote_side="Code.id", back_populates="children")
    children: Mapped[list[Code]] = relationship(back_populates="parent", cascade="all, delete-orphan",
                                                order_by="Code.position")

    def path(self) -> str:
        """Theme / subtheme / code, the name that identifies a code across projects."""
        names, node = [], self
        while node is not None:
            names.append(node.name)
            node = node.parent
        return " / ".join(reversed(names))


class Selection(Base):
    """A REFI-QDA PlainTextSelection: one span that may carry several codings (segments) and notes. Kept so a
    selection coded with three codes is still one selection after a round trip (158 in, 158 out)."""

    __tablename__ = "selection"
    __table_args__ = (CheckConstraint("start_offset >= 0 AND end_offset >= start_offset", name="selection_span"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    guid: Mapped[str] = mapped_column(String(38), default=new_guid, unique=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("document.id", ondelete="CASCADE"), index=True)
    start: Mapped[int] = mapped_column("start_offset", Integer)
    end: Mapped[int] = mapped_column("end_offset", Integer)
    name: Mapped[str | None] = mapped_column(String(300))
    description: Mapped[str | None] = mapped_column(Text)
    creator_id: Mapped[int | None] = mapped_column(ForeignKey("coder.id", ondelete="SET NULL"))
    created_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    modifier_id: Mapped[int | None] = mapped_column(ForeignKey("coder.id", ondelete="SET NULL"))
    modified_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    document: Mapped[Document] = relationship()
    creator: Mapped[Coder | None] = relationship(foreign_keys=[creator_id])
    modifier: Mapped[Coder | None] = relationship(foreign_keys=[modifier_id])


class Segment(Base):
    """A coded segment: one coder applied one code to document.text[start:end]."""

    __tablename__ = "segment"
    __table_args__ = (CheckConstraint("start_offset >= 0 AND end_offset > start_offset", name="segment_span"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    guid: Mapped[str] = mapped_column(String(38), default=new_guid, unique=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("document.id", ondelete="CASCADE"), index=True)
    code_id: Mapped[int] = mapped_column(ForeignKey("code.id", ondelete="CASCADE"), index=True)
    coder_id: Mapped[int | None] = mapped_column(ForeignKey("coder.id", ondelete="SET NULL"), index=True)
    start: Mapped[int] = mapped_column("start_offset", Integer)
    end: Mapped[int] = mapped_column("end_offset", Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utc_now)
    selection_id: Mapped[int | None] = mapped_column(ForeignKey("selection.id", ondelete="SET NULL"), index=True)
    document: Mapped[Document] = relationship(back_populates="segments")
    code: Mapped[Code] = relationship()
    coder: Mapped[Coder | None] = relationship()
    selection: Mapped[Selection | None] = relationship()

    @property
    def text(self) -> str:
        return self.document.text[self.start:self.end]


class Memo(Base):
    """A memo (REFI-QDA Note) on the project, a document, a code or a segment."""

    __tablename__ = "memo"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    guid: Mapped[str] = mapped_column(String(38), default=new_guid, unique=True)
    title: Mapped[str | None] = mapped_column(String(300))
    text: Mapped[str] = mapped_column(Text)
    coder_id: Mapped[int | None] = mapped_column(ForeignKey("coder.id", ondelete="SET NULL"))
    document_id: Mapped[int | None] = mapped_column(ForeignKey("document.id", ondelete="CASCADE"))
    code_id: Mapped[int | None] = mapped_column(ForeignKey("code.id", ondelete="CASCADE"))
    segment_id: Mapped[int | None] = mapped_column(ForeignKey("segment.id", ondelete="CASCADE"))
    # A note on a PlainTextSelection (an annotation): its position is the selection's span.
    selection_id: Mapped[int | None] = mapped_column(ForeignKey("selection.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utc_now)
    coder: Mapped[Coder | None] = relationship()
    document: Mapped[Document | None] = relationship()
    code: Mapped[Code | None] = relationship()
    segment: Mapped[Segment | None] = relationship()
    selection: Mapped[Selection | None] = relationship()


class ChangeLog(Base):
    """Append-only record of every change (who, when, what); database triggers refuse UPDATE and DELETE."""

    __tablename__ = "change_log"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    who: Mapped[str | None] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(20))
    entity: Mapped[str] = mapped_column(String(50), index=True)
    entity_id: Mapped[int | None] = mapped_column(Integer)
    details: Mapped[str | None] = mapped_column(Text)


# --- The team server (migration 0004): accounts, blind rounds and reviewed suggestions -------------------

ACCOUNT_ROLES = ("lead", "coder", "viewer")


class Account(Base):
    """A person who logs in to `trdpath qual serve`: an argon2id password hash, a role, and the coder it codes as.
    Accounts live in the project store, so an account opens this project only."""

    __tablename__ = "account"
    __table_args__ = (CheckConstraint("role IN ('lead','coder','viewer')", name="account_role"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    password_hash: Mapped[str] = mapped_column(String(300))
    role: Mapped[str] = mapped_column(String(10))
    coder_id: Mapped[int | None] = mapped_column(ForeignKey("coder.id", ondelete="SET NULL"))
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utc_now)
    coder: Mapped[Coder | None] = relationship()


class BlindRound(Base):
    """A blind coding round: its coders see only their own codings on its documents until the lead reveals."""

    __tablename__ = "blind_round"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utc_now)
    revealed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    documents: Mapped[list[RoundDocument]] = relationship(cascade="all, delete-orphan")
    coders: Mapped[list[RoundCoder]] = relationship(cascade="all, delete-orphan")


class RoundDocument(Base):
    __tablename__ = "round_document"
    __table_args__ = (UniqueConstraint("round_id", "document_id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    round_id: Mapped[int] = mapped_column(ForeignKey("blind_round.id", ondelete="CASCADE"), index=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("document.id", ondelete="CASCADE"), index=True)
    document: Mapped[Document] = relationship()


class RoundCoder(Base):
    __tablename__ = "round_coder"
    __table_args__ = (UniqueConstraint("round_id", "coder_id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    round_id: Mapped[int] = mapped_column(ForeignKey("blind_round.id", ondelete="CASCADE"), index=True)
    coder_id: Mapped[int] = mapped_column(ForeignKey("coder.id", ondelete="CASCADE"))
    submitted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    coder: Mapped[Coder] = relationship()


class SuggestionDecision(Base):
    """A coder's verdict on one suggested passage for one code (accepted ones also became a segment), so
    acceptance rates per code and coder can be reported."""

    __tablename__ = "suggestion_decision"
    __table_args__ = (CheckConstraint("decision IN ('accepted','rejected')", name="suggestion_decision_value"),
                      CheckConstraint("start_offset >= 0 AND end_offset > start_offset", name="suggestion_span"))
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("document.id", ondelete="CASCADE"), index=True)
    code_id: Mapped[int] = mapped_column(ForeignKey("code.id", ondelete="CASCADE"), index=True)
    coder_id: Mapped[int | None] = mapped_column(ForeignKey("coder.id", ondelete="SET NULL"))
    start: Mapped[int] = mapped_column("start_offset", Integer)
    end: Mapped[int] = mapped_column("end_offset", Integer)
    score: Mapped[float | None] = mapped_column()
    decision: Mapped[str] = mapped_column(String(10))
    decided_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utc_now)


class JointMapping(Base):
    """A joint-display mapping saved from the app's form (the YAML of docs/joint-displays.md); every save is a
    new row, so the latest is used and the earlier ones are its history."""

    __tablename__ = "joint_mapping"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    yaml_text: Mapped[str] = mapped_column(Text)
    saved_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utc_now)
    saved_by: Mapped[str | None] = mapped_column(String(200))
