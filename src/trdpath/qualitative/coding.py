"""Add things to a project: participants, transcripts, codes, coded segments and memos.

Each public ``import_*``/``code_*`` function runs in ONE transaction: either every row goes in or none does, so
a crash or a bad row half-way leaves the project exactly as it was.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path
from typing import Callable, Iterable

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from trdpath.errors import InputError, UserError
from trdpath.qualitative import models as m
from trdpath.qualitative.store import QualProject
from trdpath.qualitative.transcripts import PARTICIPANT_LABEL, ParsedTranscript, read_transcript

CODE_PATH_SEPARATOR = " / "
_SPLIT_PATH = re.compile(r"\s*(?:/|>)\s*")
_ROLE_WORDS = {
    "person_with_trd": m.ROLE_PERSON_WITH_TRD, "person with trd": m.ROLE_PERSON_WITH_TRD,
    "patient": m.ROLE_PERSON_WITH_TRD, "service user": m.ROLE_PERSON_WITH_TRD, "p": m.ROLE_PERSON_WITH_TRD,
    "clinician": m.ROLE_CLINICIAN, "staff": m.ROLE_CLINICIAN, "c": m.ROLE_CLINICIAN,
}


def read_csv_rows(path: str | Path) -> list[dict[str, str]]:
    """Rows of a UTF-8 CSV file with a header; a missing or unreadable file is the user's error, not a crash."""
    path = Path(path)
    if not path.is_file():
        raise InputError("file not found", file=str(path))
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            return list(csv.DictReader(fh))
    except UnicodeDecodeError as exc:
        raise InputError(f"not UTF-8 text ({exc.reason} at byte {exc.start})", file=str(path)) from exc
    except csv.Error as exc:
        raise InputError(f"not a readable CSV file: {exc}", file=str(path)) from exc


def normalise_role(value: str | None, *, file: str | None = None, row: int | None = None) -> str | None:
    if value is None or not str(value).strip():
        return None
    key = str(value).strip().lower()
    if key not in _ROLE_WORDS:
        raise InputError("unknown participant role; use 'person_with_trd' or 'clinician'",
                         file=file, row=row, column="role", value=value)
    return _ROLE_WORDS[key]


def role_from_label(label: str) -> str | None:
    """The seed study's convention: P1.. are people with TRD, C1../CI.. clinicians."""
    if re.match(r"^P\d+$", label):
        return m.ROLE_PERSON_WITH_TRD
    if re.match(r"^(C|CI)\d+$", label):
        return m.ROLE_CLINICIAN
    return None


def create_if_absent(s: Session, find: Callable[[], m.Base | None], make: Callable[[], m.Base]) -> m.Base:
    """The row `find` returns, or a new one from `make`, race-free: if another coder inserted the same row
    between our look and our insert, the unique index refuses ours and we take theirs (a savepoint keeps the
    rest of the transaction). SQLite write transactions are serialised (BEGIN IMMEDIATE); PostgreSQL relies on
    this path."""
    found = find()
    if found is not None:
        return found
    try:
        with s.begin_nested():
            made = make()
            s.add(made)
            s.flush()
        return made
    except IntegrityError:
        found = find()
        if found is None:
            raise
        return found


def get_coder(s: Session, name: str | None, *, guid: str | None = None,
              initials: str | None = None) -> m.Coder | None:
    if not name:
        return None
    return create_if_absent(s, lambda: s.scalar(select(m.Coder).where(m.Coder.name == name)),
                            lambda: m.Coder(name=name, initials=initials, **({"guid": guid} if guid else {})))


def get_participant(s: Session, label: str, role: str | None = None) -> m.Participant:
    participant = create_if_absent(s, lambda: s.scalar(select(m.Participant).where(m.Participant.label == label)),
                                   lambda: m.Participant(label=label, role=role or role_from_label(label)))
    if role and participant.role != role:
        participant.role = role
    return participant


def _value_type(values: Iterable[str]) -> str:
    values = [v for v in values if v not in ("", None)]
    if values and all(re.fullmatch(r"-?\d+", v) for v in values):
        return "Integer"
    if values and all(re.fullmatch(r"-?\d+(\.\d+)?", v) for v in values):
        return "Float"
    return "Text"


def set_attribute(s: Session, participant: m.Participant, name: str, value: str | None,
                  value_type: str = "Text") -> None:
    for attribute in participant.attributes:
        if attribute.name == name:
            attribute.value, attribute.value_type = value, value_type
            return
    participant.attributes.append(m.ParticipantAttribute(name=name, value=value, value_type=value_type))


def import_participants(project: QualProject, path: str | Path, *, who: str | None = None) -> int:
    """Participants from a CSV: a ``participant`` column (P1, C5...), optional ``role``, any other column is an
    attribute (age, gender, profession...). Integer-looking columns are stored as Integer variables."""
    path = Path(path)
    rows = read_csv_rows(path)
    if not rows or "participant" not in rows[0]:
        raise InputError("needs a 'participant' column (P1, C5, ...)", file=str(path))
    attribute_names = [c for c in rows[0] if c not in ("participant", "role")]
    types = {name: _value_type(r[name] for r in rows) for name in attribute_names}
    with project.transaction(who) as s:
        for i, row in enumerate(rows, start=2):
            label = (row["participant"] or "").strip()
            if not label:
                raise InputError("empty participant ID", file=str(path), row=i, column="participant")
            role = normalise_role(row.get("role"), file=str(path), row=i)
            participant = get_participant(s, label, role)
            for name in attribute_names:
                value = (row[name] or "").strip()
                set_attribute(s, participant, name, value or None, types[name])
    return len(rows)


def add_transcript(s: Session, parsed: ParsedTranscript, *, participant_label: str | None = None,
                   interview_order: int | None = None) -> m.Document:
    """Store one parsed transcript with its speakers and turns; the interviewee becomes the document's case."""
    if s.scalar(select(m.Document.id).where(m.Document.name == parsed.name)) is not None:
        raise InputError(f"a document named {parsed.name!r} is already in the project; rename the file",
                         file=parsed.name)
    labels = parsed.participant_labels
    label = participant_label or (labels[0] if len(labels) == 1 else None)
    if label is None and PARTICIPANT_LABEL.match(parsed.name):
        label = parsed.name
    participant = get_participant(s, label) if label else None
    if interview_order is None:
        interview_order = (s.scalar(select(m.Document.interview_order).order_by(
            m.Document.interview_order.desc()).limit(1)) or 0) + 1
    document = m.Document(name=parsed.name, text=parsed.text, participant=participant,
                          interview_order=interview_order, source_format=parsed.source_format)
    s.add(document)
    speakers: dict[str, m.Speaker] = {}
    for turn in parsed.turns:
        if turn.speaker not in speakers:
            speaker_participant = (get_participant(s, turn.speaker) if PARTICIPANT_LABEL.match(turn.speaker)
                                   else None)
            speakers[turn.speaker] = m.Speaker(label=turn.speaker, document=document,
                                               participant_id=speaker_participant.id if speaker_participant
                                               else None)
            s.add(speakers[turn.speaker])
        document.turns.append(m.Turn(speaker=speakers[turn.speaker], start=turn.start, end=turn.end))
    s.flush()
    return document


def import_transcripts(project: QualProject, paths: Iterable[str | Path], *, who: str | None = None,
                       on_progress: Callable[[str], None] | None = None) -> list[str]:
    """Import transcripts in one transaction (all or nothing); interview order follows the order given."""
    names = []
    with project.transaction(who) as s:
        for path in paths:
            document = add_transcript(s, read_transcript(path))
            names.append(document.name)
            if on_progress:
                on_progress(document.name)
    return names


def split_code_path(path: str) -> list[str]:
    parts = [p.strip() for p in _SPLIT_PATH.split(path.strip()) if p.strip()]
    if not parts:
        raise UserError(f"empty code name {path!r}")
    return parts


def get_code(s: Session, path: str | list[str], *, create: bool = True) -> m.Code | None:
    """The code at a path such as ``Barriers / Organisational / no funding``, creating missing levels."""
    parts = split_code_path(path) if isinstance(path, str) else path
    parent = None
    for name in parts:
        def find(name: str = name, parent: m.Code | None = parent) -> m.Code | None:
            return s.scalar(select(m.Code).where(m.Code.name == name, m.Code.parent_id.is_(None) if parent is None
                                                 else m.Code.parent_id == parent.id))

        def make(name: str = name, parent: m.Code | None = parent) -> m.Code:
            siblings = len(parent.children) if parent is not None else len(
                s.scalars(select(m.Code.id).where(m.Code.parent_id.is_(None))).all())
            return m.Code(name=name, parent=parent, position=siblings)

        if not create:
            code = find()
            if code is None:
                return None
        else:
            code = create_if_absent(s, find, make)
        parent = code
    return parent


def find_code_by_name(s: Session, name_or_path: str) -> m.Code:
    """A code by full path, or by its own name when that name is unique in the codebook."""
    parts = split_code_path(name_or_path)
    if len(parts) > 1:
        code = get_code(s, parts, create=False)
        if code is None:
            raise UserError(f"no code {name_or_path!r} in the codebook")
        return code
    matches = s.scalars(select(m.Code).where(m.Code.name == parts[0])).all()
    if len(matches) != 1:
        raise UserError(f"no code {name_or_path!r} in the codebook" if not matches else
                        f"code name {name_or_path!r} is ambiguous; give its full path ("
                        + "; ".join(c.path() for c in matches) + ")")
    return matches[0]


def resolve_code(s: Session, name_or_path: str) -> m.Code:
    """A full path is created if missing; a bare name means the one code of that name (or a new top-level code)."""
    parts = split_code_path(name_or_path)
    if len(parts) == 1 and s.scalar(select(m.Code.id).where(m.Code.name == parts[0])) is not None:
        return find_code_by_name(s, parts[0])
    return get_code(s, parts)


def add_segment(s: Session, document: m.Document, code: m.Code, coder: m.Coder | None, start: int,
                end: int) -> m.Segment:
    if not (0 <= start < end <= len(document.text)):
        raise UserError(f"segment {start}-{end} is outside document {document.name!r} "
                        f"({len(document.text)} characters)")
    segment = m.Segment(document=document, code=code, coder=coder, start=start, end=end)
    s.add(segment)
    return segment


def _locate_quote(text: str, quote: str, occurrence: int) -> tuple[int, int] | None:
    """Offsets of the n-th occurrence of a quote, ignoring differences in runs of white space."""
    words = quote.split()
    if not words:
        return None
    pattern = re.compile(r"\s+".join(re.escape(w) for w in words))
    found = list(pattern.finditer(text))
    if len(found) < occurrence:
        return None
    match = found[occurrence - 1]
    return match.start(), match.end()


def code_from_table(project: QualProject, path: str | Path, *, who: str | None = None,
                    default_coder: str | None = None) -> int:
    """Add coded segments from a CSV: ``document``, ``code`` (path ``Theme / Subtheme / code``), ``coder``, and
    either ``start``/``end`` (code points, end-exclusive) or ``quote`` (+ optional ``occurrence``, default 1).
    Optional ``memo`` attaches a memo to the segment. Missing codes are created."""
    path = Path(path)
    rows = read_csv_rows(path)
    if not rows:
        return 0
    columns = set(rows[0])
    if not {"document", "code"} <= columns or not ({"start", "end"} <= columns or "quote" in columns):
        raise InputError("needs columns document, code and either start+end or quote", file=str(path))
    with project.transaction(who or default_coder) as s:
        documents = {d.name: d for d in s.scalars(select(m.Document))}
        for i, row in enumerate(rows, start=2):
            name = (row.get("document") or "").strip()
            document = documents.get(name)
            if document is None:
                raise InputError("no such document in the project", file=str(path), row=i, column="document",
                                 value=name)
            coder = get_coder(s, (row.get("coder") or "").strip() or default_coder)
            code = resolve_code(s, row["code"])
            if (row.get("start") or "").strip():
                try:
                    start, end = int(row["start"]), int(row["end"])
                except ValueError as exc:
                    raise InputError("start and end must be whole numbers", file=str(path), row=i,
                                     value=(row["start"], row["end"])) from exc
                if not (0 <= start < end <= len(document.text)):
                    raise InputError(f"offsets outside the document ({len(document.text)} characters)",
                                     file=str(path), row=i, value=(start, end))
            else:
                occurrence = int((row.get("occurrence") or "1").strip() or 1)
                span = _locate_quote(document.text, row["quote"], occurrence)
                if span is None:
                    raise InputError(f"quote not found in document {name!r}", file=str(path), row=i,
                                     column="quote", value=row["quote"][:80])
                start, end = span
            segment = add_segment(s, document, code, coder, start, end)
            if (row.get("memo") or "").strip():
                s.add(m.Memo(text=row["memo"].strip(), segment=segment, coder=coder))
    return len(rows)


def add_memo(project: QualProject, text: str, *, who: str | None = None, title: str | None = None,
             document: str | None = None, code: str | None = None) -> None:
    with project.transaction(who) as s:
        memo = m.Memo(text=text, title=title, coder=get_coder(s, who))
        if document:
            memo.document = s.scalar(select(m.Document).where(m.Document.name == document))
            if memo.document is None:
                raise UserError(f"no document {document!r} in the project")
        if code:
            memo.code = find_code_by_name(s, code)
        s.add(memo)


def import_memos(project: QualProject, path: str | Path, *, who: str | None = None) -> int:
    """Memos from a CSV: ``target_type`` (project, document, code), ``target`` (document name or code path),
    ``coder``, optional ``title``, and ``text``."""
    path = Path(path)
    rows = read_csv_rows(path)
    with project.transaction(who) as s:
        for i, row in enumerate(rows, start=2):
            kind = (row.get("target_type") or "project").strip().lower()
            memo = m.Memo(text=row["text"], title=(row.get("title") or "").strip() or None,
                          coder=get_coder(s, (row.get("coder") or "").strip() or who))
            target = (row.get("target") or "").strip()
            if kind == "document":
                memo.document = s.scalar(select(m.Document).where(m.Document.name == target))
                if memo.document is None:
                    raise InputError("no such document", file=str(path), row=i, column="target", value=target)
            elif kind == "code":
                try:
                    memo.code = find_code_by_name(s, target)
                except UserError as exc:
                    raise InputError(str(exc), file=str(path), row=i, column="target") from exc
            elif kind != "project":
                raise InputError("target_type must be project, document or code", file=str(path), row=i,
                                 column="target_type", value=kind)
            s.add(memo)
    return len(rows)
