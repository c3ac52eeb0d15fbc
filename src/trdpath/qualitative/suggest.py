"""Suggested passages for a code, for a person to accept or reject (never applied by themselves).

A TF-IDF model (scikit-learn, fitted here on the project's own text: no network, no outside model) compares
every sentence not yet coded with the code against the passages already coded with it; a sentence's score is
its highest cosine similarity to one of them. Decisions are stored (`suggestion_decision`), so a rejected
passage is not suggested again to that coder and acceptance rates per code and coder can be reported.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sqlalchemy import func, select

from trdpath.errors import UserError
from trdpath.qualitative import models as m
from trdpath.qualitative.store import QualProject
from trdpath.qualitative.team import Viewer, _coder_of, _require, blind_document_ids, code_span

# A sentence: up to and including . ! ? or the end of a line (turn prefixes such as "P1:" stay in the text).
_SENTENCE = re.compile(r"[^.!?\n]+[.!?]*")
MIN_SENTENCE = 20
MIN_SCORE = 0.1


@dataclass(frozen=True)
class Suggestion:
    document_id: int
    document: str
    start: int
    end: int
    text: str
    score: float


def sentences(text: str) -> list[tuple[int, int]]:
    """Sentence spans (code points, end-exclusive), white space trimmed, short fragments left out."""
    spans = []
    for match in _SENTENCE.finditer(text):
        piece = match.group()
        start = match.start() + (len(piece) - len(piece.lstrip()))
        end = match.end() - (len(piece) - len(piece.rstrip()))
        if end - start >= MIN_SENTENCE:
            spans.append((start, end))
    return spans


def suggest(project: QualProject, viewer: Viewer, code_id: int, *, limit: int = 10) -> list[Suggestion]:
    """The sentences most like what is already coded with the code (that the viewer may see), best first."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.metrics.pairwise import cosine_similarity

    with project.reading() as s:
        code = s.get(m.Code, code_id)
        if code is None:
            raise UserError("no such code")
        # A theme learns from everything coded beneath it (as its counts in the themes report do).
        family, stack = set(), [code]
        while stack:
            node = stack.pop()
            family.add(node.id)
            stack.extend(node.children)
        hidden = blind_document_ids(s, viewer)
        documents = {d.id: d for d in s.scalars(select(m.Document))}
        # Where people with TRD and clinicians speak: participants' turns (an interviewer's question is never
        # a passage to code); a document without turns is read whole.
        spoken = {d.id: [(t.start, t.end) for t in d.turns if t.speaker.participant_id is not None] or
                  ([] if d.turns else [(0, len(d.text))]) for d in documents.values()}
        coded = [(sg.document_id, sg.start, sg.end, sg.coder_id) for sg in s.scalars(
            select(m.Segment).where(m.Segment.code_id.in_(family)))]
        decided = {(d.document_id, d.start, d.end) for d in s.scalars(select(m.SuggestionDecision).where(
            m.SuggestionDecision.code_id == code_id, m.SuggestionDecision.coder_id == viewer.coder_id))}
    # Examples: codings the viewer may see (a blind round hides others' codings on its documents).
    examples = [documents[d].text[a:b] for d, a, b, c in coded if d not in hidden or c == viewer.coder_id]
    if not examples:
        return []
    covered: dict[int, list[tuple[int, int]]] = {}
    for d, a, b, _ in coded:
        covered.setdefault(d, []).append((a, b))
    candidates = []
    for document_id, document in documents.items():
        spans = [(x + a, x + b) for x, y in spoken[document_id] for a, b in sentences(document.text[x:y])]
        for a, b in spans:
            # Any overlap with a coding of this code (anyone's) or an earlier decision: not suggested again.
            if any(a < y and x < b for x, y in covered.get(document_id, [])) or (document_id, a, b) in decided:
                continue
            candidates.append((document_id, a, b))
    if not candidates:
        return []
    texts = [documents[d].text[a:b] for d, a, b in candidates]
    model = TfidfVectorizer(sublinear_tf=True, stop_words="english").fit(examples + texts)
    scores = cosine_similarity(model.transform(texts), model.transform(examples)).max(axis=1)
    order = np.argsort(-scores, kind="stable")
    return [Suggestion(candidates[i][0], documents[candidates[i][0]].name, candidates[i][1], candidates[i][2],
                       texts[i], float(scores[i])) for i in order[:limit] if scores[i] >= MIN_SCORE]


def decide(project: QualProject, viewer: Viewer, code_id: int, document_id: int, start: int, end: int,
           accept: bool, score: float | None = None) -> None:
    """Record the coder's decision; an accepted suggestion is coded (as that coder) in the same transaction."""
    _require(viewer)
    with project.transaction(viewer.name) as s:
        document = s.get(m.Document, document_id)
        if document is None or s.get(m.Code, code_id) is None or not (0 <= start < end <= len(document.text)):
            raise UserError("no such suggestion")
        coder = _coder_of(s, viewer)
        s.add(m.SuggestionDecision(document_id=document_id, code_id=code_id, coder_id=coder.id, start=start,
                                   end=end, score=score, decision="accepted" if accept else "rejected"))
        if accept:
            code_span(project, viewer, document_id, code_id, start, end)  # joins this transaction


def acceptance_rates(project: QualProject) -> pd.DataFrame:
    """Per code and coder: suggestions accepted, rejected, and the share accepted (the suggestions' quality)."""
    with project.reading() as s:
        rows = s.execute(select(m.SuggestionDecision.code_id, m.Coder.name, m.SuggestionDecision.decision,
                                func.count()).outerjoin(m.Coder, m.SuggestionDecision.coder_id == m.Coder.id)
                         .group_by(m.SuggestionDecision.code_id, m.Coder.name, m.SuggestionDecision.decision)).all()
        paths = {c.id: c.path() for c in s.scalars(select(m.Code))}
    frame = pd.DataFrame(rows, columns=["code_id", "coder", "decision", "n"])
    if frame.empty:
        return pd.DataFrame(columns=["code", "coder", "accepted", "rejected", "acceptance_rate"])
    table = frame.pivot_table(index=["code_id", "coder"], columns="decision", values="n", aggfunc="sum",
                              fill_value=0).reindex(columns=["accepted", "rejected"], fill_value=0).reset_index()
    table.insert(0, "code", table["code_id"].map(paths))
    table["acceptance_rate"] = table["accepted"] / (table["accepted"] + table["rejected"])
    return table.drop(columns="code_id").sort_values(["code", "coder"]).reset_index(drop=True)
