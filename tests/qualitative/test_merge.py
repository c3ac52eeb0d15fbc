"""Merging two coders' projects keeps both coders' work, once."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from trdpath.errors import UserError
from trdpath.qualitative import models as m
from trdpath.qualitative.coding import code_from_table, import_memos, import_transcripts
from trdpath.qualitative.demo import DEMO_DIR
from trdpath.qualitative.merge import merge_project
from trdpath.qualitative.store import create_project

DOCS = [DEMO_DIR / "transcripts" / f"{n}.txt" for n in ("P1", "C1")]


def coder_project(path, coder):
    project = create_project(path, f"{coder}'s copy")
    import_transcripts(project, DOCS, who=coder)
    rows = [line for line in (DEMO_DIR / f"coding_{coder.lower()}.csv").read_text().splitlines()
            if line.split(",")[0] in ("document", "P1", "C1")]
    (path.parent / f"{coder}.csv").write_text("\n".join(rows) + "\n")
    code_from_table(project, path.parent / f"{coder}.csv", who=coder)
    return project, len(rows) - 1


def segments(project):
    with project.reading() as s:
        return sorted((x.document.name, x.code.path(), x.coder.name, x.start, x.end)
                      for x in s.scalars(select(m.Segment)))


def test_merge_unites_two_coders_and_is_idempotent(tmp_path):
    alex, n_alex = coder_project(tmp_path / "alex.qual", "Alex")
    sam, n_sam = coder_project(tmp_path / "sam.qual", "Sam")
    (tmp_path / "memo.csv").write_text("target_type,target,coder,title,text\ncode,Waiting lists,Sam,Scope,Psychology\n")
    import_memos(sam, tmp_path / "memo.csv")
    expected = sorted(segments(alex) + segments(sam))
    assert n_alex == 28 and n_sam == 28  # rows for P1 and C1 in the demo coding files (grep -c)
    counts = merge_project(alex, sam, who="Alex")
    assert counts["segments"] == n_sam and counts["documents"] == 0 and counts["memos"] == 1
    assert segments(alex) == expected
    again = merge_project(alex, sam, who="Alex")
    assert again["segments"] == 0 and again["memos"] == 0 and again["codes"] == 0
    assert segments(alex) == expected
    with alex.reading() as s:
        assert s.scalar(select(func.count(m.Memo.id))) == 2  # Alex's segment memo on P1 + Sam's code memo
        assert s.scalar(select(func.count(m.Document.id))) == 2
    alex.close()
    sam.close()


def test_merge_refuses_documents_whose_text_differs(tmp_path):
    alex, _ = coder_project(tmp_path / "alex.qual", "Alex")
    other = create_project(tmp_path / "other.qual", "x")
    (tmp_path / "P1.txt").write_text("P1: a different transcript\n")
    import_transcripts(other, [tmp_path / "P1.txt"])
    before = segments(alex)
    with pytest.raises(UserError, match="different text"):
        merge_project(alex, other)
    assert segments(alex) == before
    alex.close()
    other.close()


def test_merge_keeps_a_selection_with_several_codes_as_one(tmp_path):
    # One REFI-QDA selection coded twice, with a note on the selection: merged into an empty project and
    # exported, it is still one selection with two codings and its note.
    import zipfile

    from lxml import etree

    from trdpath.qualitative.merge import merge_project
    from trdpath.qualitative.refi import export_qdpx, import_qdpx, qdpx_project_xml
    from trdpath.qualitative.store import create_project

    g = "0000000{}-0000-0000-0000-000000000000".format
    xml = (f'<Project xmlns="urn:QDA-XML:project:1.0" name="x"><CodeBook><Codes>'
           f'<Code guid="{g(1)}" name="A" isCodable="true"/><Code guid="{g(2)}" name="B" isCodable="true"/>'
           f'</Codes></CodeBook><Sources><TextSource guid="{g(3)}" name="D"><PlainTextContent>hello world'
           f'</PlainTextContent><PlainTextSelection guid="{g(4)}" startPosition="0" endPosition="5">'
           f'<Coding guid="{g(5)}"><CodeRef targetGUID="{g(1)}"/></Coding>'
           f'<Coding guid="{g(6)}"><CodeRef targetGUID="{g(2)}"/></Coding><NoteRef targetGUID="{g(7)}"/>'
           f'</PlainTextSelection></TextSource></Sources><Notes><Note guid="{g(7)}" name="n">'
           f'<PlainTextContent>note</PlainTextContent></Note></Notes></Project>')
    with zipfile.ZipFile(tmp_path / "in.qdpx", "w") as archive:
        archive.writestr("project.qde", xml)
    source = import_qdpx(tmp_path / "in.qdpx", tmp_path / "a.qual")
    target = create_project(tmp_path / "b.qual", "b")
    assert merge_project(target, source)["segments"] == 2
    root = etree.fromstring(qdpx_project_xml(export_qdpx(target, tmp_path / "out.qdpx")))
    ns = {"q": "urn:QDA-XML:project:1.0"}
    selections = root.findall(".//q:PlainTextSelection", ns)
    assert [(x.get("guid"), len(x.findall("q:Coding", ns)), [n.get("targetGUID") for n in x.findall("q:NoteRef", ns)])
            for x in selections] == [(g(4), 2, [g(7)])]
    source.close()
    target.close()
