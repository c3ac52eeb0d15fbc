"""Merge another coder's project into this one without losing anybody's work.

Documents are matched by name and must have identical text (offsets would otherwise point at other words);
codes are matched by their full path (theme / subtheme / code), coders and participants by name. Segments that
already exist (same document, code, coder and offsets) and memos already present (same GUID) are skipped, so
merging twice changes nothing. Everything runs in one transaction.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from trdpath.errors import UserError
from trdpath.qualitative import models as m
from trdpath.qualitative.coding import get_code, get_coder, get_participant, set_attribute
from trdpath.qualitative.store import QualProject, open_project


def merge_project(target: QualProject, source: QualProject | str | Path, *, who: str | None = None) -> dict:
    own_source = not isinstance(source, QualProject)
    source = open_project(source) if own_source else source
    counts = dict(documents=0, codes=0, segments=0, memos=0, participants=0)
    try:
        with source.reading() as src, target.transaction(who) as dst:
            code_map: dict[int, m.Code] = {}
            for code in src.scalars(select(m.Code).order_by(m.Code.id)):
                path = code.path().split(" / ")
                existing = get_code(dst, path, create=False)
                mapped = existing or get_code(dst, path)
                if existing is None:
                    counts["codes"] += 1
                mapped.definition = mapped.definition or code.definition
                mapped.color = mapped.color or code.color
                code_map[code.id] = mapped
            for participant in src.scalars(select(m.Participant)):
                known = dst.scalar(select(m.Participant.id).where(m.Participant.label == participant.label))
                mine = get_participant(dst, participant.label, participant.role)
                counts["participants"] += known is None
                present = {a.name for a in mine.attributes}
                for attribute in participant.attributes:
                    if attribute.name not in present:
                        set_attribute(dst, mine, attribute.name, attribute.value, attribute.value_type)
            doc_map: dict[int, m.Document] = {}
            for document in src.scalars(select(m.Document).order_by(m.Document.interview_order, m.Document.id)):
                mine = dst.scalar(select(m.Document).where(m.Document.name == document.name))
                if mine is None:
                    mine = m.Document(name=document.name, text=document.text, source_format=document.source_format,
                                      interview_order=document.interview_order,
                                      participant=get_participant(dst, document.participant.label)
                                      if document.participant else None)
                    dst.add(mine)
                    for speaker in document.speakers:
                        dst.add(m.Speaker(label=speaker.label, document=mine))
                    dst.flush()
                    speakers = {sp.label: sp for sp in mine.speakers}
                    for turn in document.turns:
                        dst.add(m.Turn(document=mine, speaker=speakers[turn.speaker.label], start=turn.start,
                                       end=turn.end))
                    counts["documents"] += 1
                elif mine.text != document.text:
                    raise UserError(f"document {document.name!r} has different text in the two projects; "
                                    "offsets cannot be merged (re-import one coder's transcript)")
                doc_map[document.id] = mine
            dst.flush()
            # REFI-QDA selections (one span, several codings) keep their identity through a merge.
            selection_map: dict[int, m.Selection] = {}
            for selection in src.scalars(select(m.Selection).order_by(m.Selection.id)):
                document = doc_map[selection.document_id]
                mine = dst.scalar(select(m.Selection).where(m.Selection.guid == selection.guid))
                if mine is None or (mine.document_id, mine.start, mine.end) != (document.id, selection.start,
                                                                                 selection.end):
                    mine = m.Selection(
                        **({} if mine is not None else {"guid": selection.guid}), document=document,
                        start=selection.start, end=selection.end, name=selection.name,
                        description=selection.description, created_at=selection.created_at,
                        modified_at=selection.modified_at,
                        creator=get_coder(dst, selection.creator.name) if selection.creator else None,
                        modifier=get_coder(dst, selection.modifier.name) if selection.modifier else None)
                    dst.add(mine)
                selection_map[selection.id] = mine
            dst.flush()
            segment_map: dict[int, m.Segment] = {}
            for segment in src.scalars(select(m.Segment).order_by(m.Segment.id)):
                document, code = doc_map[segment.document_id], code_map[segment.code_id]
                coder = get_coder(dst, segment.coder.name) if segment.coder else None
                existing = dst.scalar(select(m.Segment).where(
                    m.Segment.document_id == document.id, m.Segment.code_id == code.id,
                    m.Segment.start == segment.start, m.Segment.end == segment.end,
                    m.Segment.coder_id == (coder.id if coder else None) if coder else m.Segment.coder_id.is_(None)))
                if existing is None:
                    guid_taken = dst.scalar(select(m.Segment.id).where(m.Segment.guid == segment.guid))
                    existing = m.Segment(document=document, code=code, coder=coder, start=segment.start,
                                         end=segment.end, created_at=segment.created_at,
                                         selection=selection_map.get(segment.selection_id),
                                         **({} if guid_taken else {"guid": segment.guid}))
                    dst.add(existing)
                    counts["segments"] += 1
                segment_map[segment.id] = existing
            dst.flush()
            for memo in src.scalars(select(m.Memo).order_by(m.Memo.id)):
                if dst.scalar(select(m.Memo.id).where(m.Memo.guid == memo.guid)) is not None:
                    continue
                dst.add(m.Memo(guid=memo.guid, title=memo.title, text=memo.text, created_at=memo.created_at,
                               coder=get_coder(dst, memo.coder.name) if memo.coder else None,
                               document=doc_map.get(memo.document_id), code=code_map.get(memo.code_id),
                               segment=segment_map.get(memo.segment_id),
                               selection=selection_map.get(memo.selection_id)))
                counts["memos"] += 1
    finally:
        if own_source:
            source.close()
    return counts
