"""The coding team in the project store: accounts (argon2id hashes, roles), blind coding rounds, what each
account may see, and coding / memo changes made from the browser. Every change is one project transaction
with the change log, exactly as the CLI's (`coding.py`); the web app only calls these functions."""

from __future__ import annotations

import re
import threading
import time
from collections import deque
from dataclasses import dataclass

import pandas as pd
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import not_, or_, select
from sqlalchemy.orm import Session

from trdpath.errors import UserError
from trdpath.qualitative import models as m
from trdpath.qualitative.coding import add_segment, get_code, get_coder
from trdpath.qualitative.store import QualProject

# argon2id with the library's defaults (RFC 9106's second recommended option: t=3, 64 MiB, p=4).
_hasher = PasswordHasher()
# Verified when the name is unknown, so a wrong name costs as long as a wrong password (no name probing).
_DUMMY_HASH = _hasher.hash("not a password of anyone")
MIN_PASSWORD = 12
_NAME = re.compile(r"^[^\x00-\x1f\x7f]{1,200}$")


class RoleError(UserError):
    """The account's role does not allow this action (the web app answers 403)."""


@dataclass(frozen=True)
class Viewer:
    """Who is asking: enough to decide what they may see and do, detached from any database session."""

    account_id: int
    name: str
    role: str
    coder_id: int | None

    @property
    def can_code(self) -> bool:
        return self.role in ("lead", "coder")

    @property
    def is_lead(self) -> bool:
        return self.role == "lead"


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise UserError(f"a password needs at least {MIN_PASSWORD} characters")


def add_account(project: QualProject, name: str, password: str, role: str, *, who: str | None = None) -> int:
    """A new account; it codes as the coder of the same name (created if absent, so earlier CLI coding by that
    name is this account's)."""
    name = (name or "").strip()
    if not _NAME.match(name):
        raise UserError("an account name is 1-200 printable characters")
    if role not in m.ACCOUNT_ROLES:
        raise UserError(f"role must be one of {', '.join(m.ACCOUNT_ROLES)} (got {role!r})")
    _check_password(password)
    with project.transaction(who) as s:
        if s.scalar(select(m.Account.id).where(m.Account.name == name)) is not None:
            raise UserError(f"an account named {name!r} already exists")
        account = m.Account(name=name, password_hash=_hasher.hash(password), role=role,
                            coder=get_coder(s, name))
        s.add(account)
        s.flush()
        return account.id


def set_password(project: QualProject, name: str, password: str, *, who: str | None = None) -> None:
    _check_password(password)
    with project.transaction(who) as s:
        account = s.scalar(select(m.Account).where(m.Account.name == name))
        if account is None:
            raise UserError(f"no account named {name!r}")
        account.password_hash = _hasher.hash(password)


def authenticate(project: QualProject, name: str, password: str) -> Viewer | None:
    """The account if the password is right (and the account active), else None; constant work either way."""
    with project.reading() as s:
        account = s.scalar(select(m.Account).where(m.Account.name == (name or "").strip()))
        stored = account.password_hash if account is not None else _DUMMY_HASH
        try:
            _hasher.verify(stored, password or "")
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return None
        if account is None or not account.active:
            return None
        viewer = Viewer(account.id, account.name, account.role, account.coder_id)
    if _hasher.check_needs_rehash(stored):  # parameters raised since the hash was made
        with project.transaction(name) as s:
            s.get(m.Account, viewer.account_id).password_hash = _hasher.hash(password)
    return viewer


def viewer_by_id(project: QualProject, account_id: int) -> Viewer | None:
    """The account behind a session, read again on every request (a role change or a deactivation counts at once)."""
    with project.reading() as s:
        account = s.get(m.Account, account_id)
        if account is None or not account.active:
            return None
        return Viewer(account.id, account.name, account.role, account.coder_id)


def accounts_table(project: QualProject) -> list[dict]:
    with project.reading() as s:
        return [dict(id=a.id, name=a.name, role=a.role, active=a.active)
                for a in s.scalars(select(m.Account).order_by(m.Account.name))]


class LoginLimiter:
    """At most `attempts` failed logins per account name and per client address in `window` seconds (OWASP:
    throttle by account and by source, so neither one guessed name nor one machine can brute-force)."""

    def __init__(self, attempts: int = 5, window: float = 900.0) -> None:
        self.attempts, self.window = attempts, window
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, key: str, now: float) -> deque[float]:
        times = self._failures.setdefault(key, deque())
        while times and now - times[0] > self.window:
            times.popleft()
        return times

    def blocked(self, name: str, address: str) -> float:
        """Seconds until another try is allowed (0: allowed)."""
        now = time.monotonic()
        with self._lock:
            waits = [self.window - (now - t[0]) for key in (f"n:{name.lower()}", f"a:{address}")
                     if len(t := self._recent(key, now)) >= self.attempts]
        return max(waits, default=0.0)

    def failed(self, name: str, address: str) -> None:
        now = time.monotonic()
        with self._lock:
            for key in (f"n:{name.lower()}", f"a:{address}"):
                self._recent(key, now).append(now)

    def succeeded(self, name: str) -> None:
        with self._lock:
            self._failures.pop(f"n:{name.lower()}", None)


# --- What an account may see: blind rounds ---------------------------------------------------------------

def blind_document_ids(s: Session, viewer: Viewer) -> set[int]:
    """Documents where this viewer sees only their own codings: those in a round not yet revealed. The lead sees
    everything (the lead reveals and resolves)."""
    if viewer.is_lead:
        return set()
    return set(s.scalars(select(m.RoundDocument.document_id).join(m.BlindRound)
                         .where(m.BlindRound.revealed_at.is_(None))))


def visible_segments(s: Session, viewer: Viewer, *, document_id: int | None = None, code_id: int | None = None):
    """The segments this viewer may see, in reading order."""
    query = select(m.Segment).join(m.Document, m.Segment.document_id == m.Document.id)
    hidden = blind_document_ids(s, viewer)
    if hidden:
        own = m.Segment.coder_id == viewer.coder_id if viewer.coder_id is not None else False
        query = query.where(or_(own, not_(m.Segment.document_id.in_(hidden))))
    if document_id is not None:
        query = query.where(m.Segment.document_id == document_id)
    if code_id is not None:
        query = query.where(m.Segment.code_id == code_id)
    return s.scalars(query.order_by(m.Document.interview_order, m.Segment.start, m.Segment.id)).all()


def visible_memo(s: Session, viewer: Viewer, memo: m.Memo) -> bool:
    """A memo on a segment hidden by a blind round is hidden with it."""
    if memo.segment_id is None or viewer.is_lead:
        return True
    segment = memo.segment
    return segment.coder_id == viewer.coder_id or segment.document_id not in blind_document_ids(s, viewer)


# --- Changes from the browser -----------------------------------------------------------------------------

def _coder_of(s: Session, viewer: Viewer) -> m.Coder:
    coder = s.get(m.Coder, viewer.coder_id) if viewer.coder_id is not None else None
    return coder if coder is not None else get_coder(s, viewer.name)


def _require(viewer: Viewer, *, lead: bool = False) -> None:
    if lead and not viewer.is_lead:
        raise RoleError("only the project lead can do this")
    if not viewer.can_code:
        raise RoleError("a viewer account cannot change the project")


def code_span(project: QualProject, viewer: Viewer, document_id: int, code_id: int, start: int, end: int) -> int:
    """Apply one code to document.text[start:end] as the viewer's coder; the same coder, code and span twice is
    one segment (a double click or two tabs), and the segment's id is returned."""
    _require(viewer)
    with project.transaction(viewer.name) as s:
        # The document's row lock serialises codings of one document on PostgreSQL (SQLite's BEGIN IMMEDIATE
        # already does), so the look-then-insert below cannot make a duplicate from two tabs at once.
        document = s.get(m.Document, document_id, with_for_update=True)
        code = s.get(m.Code, code_id)
        if document is None or code is None:
            raise UserError("no such document or code")
        coder = _coder_of(s, viewer)
        found = s.scalar(select(m.Segment.id).where(
            m.Segment.document_id == document.id, m.Segment.code_id == code.id, m.Segment.coder_id == coder.id,
            m.Segment.start == start, m.Segment.end == end))
        if found is not None:
            return found
        segment = add_segment(s, document, code, coder, start, end)
        s.flush()
        return segment.id


def remove_segment(project: QualProject, viewer: Viewer, segment_id: int) -> None:
    """A coder removes their own codings; the lead removes anyone's."""
    _require(viewer)
    with project.transaction(viewer.name) as s:
        segment = s.get(m.Segment, segment_id)
        if segment is None:
            return  # already removed (another tab): nothing to do
        if not viewer.is_lead and segment.coder_id != viewer.coder_id:
            raise RoleError("you can remove only your own codings")
        s.delete(segment)


def respan_segment(project: QualProject, viewer: Viewer, segment_id: int, start: int, end: int) -> None:
    """Move a coding to other words of its document (its own coder, or the lead); the log keeps both spans."""
    _require(viewer)
    with project.transaction(viewer.name) as s:
        segment = s.get(m.Segment, segment_id)
        if segment is None:
            raise UserError("no such coding (removed meanwhile?)")
        if not viewer.is_lead and segment.coder_id != viewer.coder_id:
            raise RoleError("you can change only your own codings")
        if not (0 <= start < end <= len(segment.document.text)):
            raise UserError(f"segment {start}-{end} is outside document {segment.document.name!r} "
                            f"({len(segment.document.text)} characters)")
        segment.start, segment.end = start, end


def add_code(project: QualProject, viewer: Viewer, name: str, parent_id: int | None = None,
             definition: str | None = None) -> int:
    """A new code in the codebook (or the existing one of that name under that parent)."""
    _require(viewer)
    name = (name or "").strip()
    if not name or "/" in name or ">" in name or len(name) > 300:
        raise UserError("a code name is 1-300 characters without '/' or '>'")
    with project.transaction(viewer.name) as s:
        parts = [name]
        if parent_id is not None:
            parent = s.get(m.Code, parent_id)
            if parent is None:
                raise UserError("no such parent code")
            parts = [*parent.path().split(" / "), name]
        code = get_code(s, parts)
        if definition and not code.definition:
            code.definition = definition.strip()
        s.flush()
        return code.id


def add_web_memo(project: QualProject, viewer: Viewer, text: str, *, document_id: int | None = None,
                 code_id: int | None = None, segment_id: int | None = None, title: str | None = None) -> None:
    """A memo on a document, a code or a segment, by the viewer's coder."""
    _require(viewer)
    text = (text or "").strip()
    if not text:
        raise UserError("a memo needs some text")
    with project.transaction(viewer.name) as s:
        memo = m.Memo(text=text, title=(title or "").strip() or None, coder=_coder_of(s, viewer))
        if segment_id is not None:
            segment = s.get(m.Segment, segment_id)
            if segment is None or not visible_memo(s, viewer, m.Memo(segment=segment, text="")):
                raise UserError("no such segment")
            memo.segment = segment
        elif document_id is not None:
            memo.document = s.get(m.Document, document_id)
            if memo.document is None:
                raise UserError("no such document")
        elif code_id is not None:
            memo.code = s.get(m.Code, code_id)
            if memo.code is None:
                raise UserError("no such code")
        s.add(memo)


# --- Blind rounds -----------------------------------------------------------------------------------------

def create_round(project: QualProject, viewer: Viewer, name: str, document_ids: list[int],
                 coder_account_ids: list[int]) -> int:
    """The lead starts a blind round on documents for coders; until revealed, each sees only their own codings."""
    _require(viewer, lead=True)
    name = (name or "").strip()
    if not name or not document_ids or len(set(coder_account_ids)) < 2:
        raise UserError("a round needs a name, at least one document and at least two coders")
    with project.transaction(viewer.name) as s:
        if s.scalar(select(m.BlindRound.id).where(m.BlindRound.name == name)) is not None:
            raise UserError(f"a round named {name!r} already exists")
        round_ = m.BlindRound(name=name)
        for document_id in sorted(set(document_ids)):
            if s.get(m.Document, document_id) is None:
                raise UserError("no such document")
            round_.documents.append(m.RoundDocument(document_id=document_id))
        for account_id in sorted(set(coder_account_ids)):
            account = s.get(m.Account, account_id)
            if account is None or account.role == "viewer":
                raise UserError("round coders must be coder or lead accounts")
            coder = account.coder or get_coder(s, account.name)
            round_.coders.append(m.RoundCoder(coder_id=coder.id))
        s.add(round_)
        s.flush()
        return round_.id


def submit_round(project: QualProject, viewer: Viewer, round_id: int) -> None:
    _require(viewer)
    with project.transaction(viewer.name) as s:
        entry = s.scalar(select(m.RoundCoder).where(m.RoundCoder.round_id == round_id,
                                                    m.RoundCoder.coder_id == viewer.coder_id))
        if entry is None:
            raise UserError("you are not a coder of this round")
        entry.submitted_at = entry.submitted_at or m.utc_now()


def reveal_round(project: QualProject, viewer: Viewer, round_id: int) -> None:
    _require(viewer, lead=True)
    with project.transaction(viewer.name) as s:
        round_ = s.get(m.BlindRound, round_id)
        if round_ is None:
            raise UserError("no such round")
        round_.revealed_at = round_.revealed_at or m.utc_now()


def rounds_table(project: QualProject) -> list[dict]:
    with project.reading() as s:
        return [dict(id=r.id, name=r.name, revealed=r.revealed_at is not None,
                     documents=[d.document.name for d in r.documents],
                     coders=[(c.coder.name, c.submitted_at is not None) for c in r.coders])
                for r in s.scalars(select(m.BlindRound).order_by(m.BlindRound.id))]


def round_agreement(project: QualProject, viewer: Viewer, round_id: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """After the reveal: per code, % agreement, kappa and alpha of the round's coders on its documents (the
    store's agreement functions), and every disagreement with its words."""
    from trdpath.qualitative.agreement import agreement_by_code, disagreements, document_texts, segments_frame

    with project.reading() as s:
        round_ = s.get(m.BlindRound, round_id)
        if round_ is None:
            raise UserError("no such round")
        if round_.revealed_at is None:
            raise RoleError("the lead has not revealed this round yet")
        documents = [d.document.name for d in round_.documents]
        coders = [c.coder.name for c in round_.coders]
    frame = segments_frame(project)
    frame = frame[frame["document"].isin(documents) & frame["coder"].isin(coders)]
    if frame.empty:
        return pd.DataFrame(), pd.DataFrame()
    by_code = agreement_by_code(frame, coders, documents)
    texts = document_texts(project)
    return by_code, disagreements(frame, texts, coders, documents)


def resolve_disagreement(project: QualProject, viewer: Viewer, round_id: int, document_id: int, code_id: int,
                         start: int, end: int, keep: bool) -> None:
    """The lead records the consensus on one disagreement: kept (the span coded by the coder "Consensus") or
    dropped (a memo on the document saying so); both are in the change log."""
    _require(viewer, lead=True)
    with project.transaction(viewer.name) as s:
        document, code = s.get(m.Document, document_id), s.get(m.Code, code_id)
        if document is None or code is None or s.get(m.BlindRound, round_id) is None:
            raise UserError("no such round, document or code")
        span = document.text[start:end]
        consensus = get_coder(s, "Consensus")
        done = s.scalar(select(m.Segment.id).where(
            m.Segment.document_id == document.id, m.Segment.code_id == code.id, m.Segment.coder_id == consensus.id,
            m.Segment.start == start, m.Segment.end == end))
        if keep and done is None:  # a second click records nothing twice
            add_segment(s, document, code, consensus, start, end)
        s.add(m.Memo(document=document, coder=_coder_of(s, viewer), title="Consensus",
                     text=f"{'Kept' if keep else 'Dropped'} {code.path()!r} on {start}-{end}: {span[:200]}"))


# --- The codebook edited in place ------------------------------------------------------------------------

_COLOR = re.compile(r"^#[0-9A-Fa-f]{6}$")
KEEP = object()  # "leave the parent as it is" (None means the top level)


def update_code(project: QualProject, viewer: Viewer, code_id: int, *, name: str | None = None,
                definition: str | None = None, color: str | None = None, parent_id=KEEP) -> None:  # noqa: ANN001
    """Rename, redefine, recolour or move a code (under another code, or to the top level); the change log keeps
    the old and new values, so the codebook's history is the log's."""
    _require(viewer)
    with project.transaction(viewer.name) as s:
        code = s.get(m.Code, code_id)
        if code is None:
            raise UserError("no such code")
        if name is not None:
            name = name.strip()
            if not name or "/" in name or ">" in name or len(name) > 300:
                raise UserError("a code name is 1-300 characters without '/' or '>'")
            code.name = name
        if definition is not None:
            code.definition = definition.strip() or None
        if color is not None:
            if color and not _COLOR.match(color):
                raise UserError(f"a colour looks like #1f77b4 (got {color[:20]!r})")
            code.color = color or None
        if parent_id is not KEEP:
            parent = s.get(m.Code, parent_id) if parent_id is not None else None
            if parent_id is not None and parent is None:
                raise UserError("no such parent code")
            node = parent
            while node is not None:  # a code cannot go beneath itself or its own descendants
                if node.id == code.id:
                    raise UserError(f"{code.path()!r} cannot be moved beneath itself")
                node = node.parent
            code.parent = parent
        s.flush()  # the unique names per parent are checked here (a message, not a traceback)


def merge_codes(project: QualProject, viewer: Viewer, source_id: int, target_id: int) -> int:
    """The lead merges one code into another (NVivo's merge): its codings, memos and child codes move to the
    target, an identical coding already there is not duplicated, and the source is deleted. Returns the number
    of codings moved."""
    _require(viewer, lead=True)
    if source_id == target_id:
        raise UserError("a code cannot be merged into itself")
    with project.transaction(viewer.name) as s:
        source, target = s.get(m.Code, source_id), s.get(m.Code, target_id)
        if source is None or target is None:
            raise UserError("no such code")
        node = target
        while node is not None:
            if node.id == source.id:
                raise UserError(f"{source.path()!r} cannot be merged into a code beneath it")
            node = node.parent
        have = {(x.document_id, x.coder_id, x.start, x.end)
                for x in s.scalars(select(m.Segment).where(m.Segment.code_id == target.id))}
        moved = 0
        for segment in s.scalars(select(m.Segment).where(m.Segment.code_id == source.id)).all():
            key = (segment.document_id, segment.coder_id, segment.start, segment.end)
            if key in have:
                s.delete(segment)
            else:
                segment.code_id = target.id
                have.add(key)
                moved += 1
        for memo in s.scalars(select(m.Memo).where(m.Memo.code_id == source.id)).all():
            memo.code_id = target.id
        for decision in s.scalars(select(m.SuggestionDecision).where(m.SuggestionDecision.code_id == source.id)).all():
            decision.code_id = target.id
        for child in list(source.children):
            child.parent = target
        s.flush()
        s.expire(source)
        s.delete(source)
        return moved


def code_history(project: QualProject, code_id: int) -> list[dict]:
    """Every change of one code (created, renamed, moved, redefined, recoloured), oldest first, from the log."""
    import json

    with project.reading() as s:
        rows = s.scalars(select(m.ChangeLog).where(m.ChangeLog.entity == "code", m.ChangeLog.entity_id == code_id)
                         .order_by(m.ChangeLog.id)).all()
        out = []
        for r in rows:
            details = json.loads(r.details or "{}")
            if r.action == "update":
                what = "; ".join(f"{k}: {v[0]!r} -> {v[1]!r}" for k, v in details.items() if k != "position")
            else:
                what = ", ".join(f"{k}: {details.get(k)!r}" for k in ("name", "parent_id", "definition", "color")
                                 if details.get(k) is not None)
            out.append(dict(at=r.at.strftime("%Y-%m-%d %H:%M") if r.at else "", who=r.who or "", action=r.action,
                            what=what))
        return out
