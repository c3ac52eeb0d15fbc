"""REFI-QDA exchange: round trip qdpx -> project -> qdpx, schema validation, files as other tools write them."""

from __future__ import annotations

import itertools
import zipfile

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from trdpath.errors import InputError
from trdpath.qualitative import models as m
from trdpath.qualitative.codebook import codebook_table
from trdpath.qualitative.demo import DEMO_DIR
from trdpath.qualitative.refi import (CODEBOOK_XSD, PROJECT_XSD, codebook_xml, export_qdc, export_qdpx, import_qdc,
                                      import_qdpx, import_qdpx_into, qdpx_project_xml, validate_xml)
from trdpath.qualitative.store import create_project


def snapshot(project):
    """Everything a round trip must keep, in tool-independent terms (names, paths, offsets, texts)."""
    with project.reading() as s:
        documents = {(d.name, d.text) for d in s.scalars(select(m.Document))}
        codes = {(c.path(), c.definition, c.color) for c in s.scalars(select(m.Code))}
        segments = sorted((x.document.name, x.code.path(), x.coder.name if x.coder else None, x.start, x.end)
                          for x in s.scalars(select(m.Segment)))
        memos = set()
        for memo in s.scalars(select(m.Memo)):
            target = (("segment", memo.segment.document.name, memo.segment.start, memo.segment.end)
                      if memo.segment else ("code", memo.code.path()) if memo.code else
                      ("document", memo.document.name) if memo.document else ("project",))
            memos.add((memo.title, memo.text, memo.coder.name if memo.coder else None, target))
        participants = {(p.label, p.role, tuple(sorted((a.name, a.value, a.value_type) for a in p.attributes)),
                         tuple(sorted(d.name for d in p.documents))) for p in s.scalars(select(m.Participant))}
    return dict(documents=documents, codes=codes, segments=segments, memos=memos, participants=participants)


def test_round_trip_keeps_every_code_source_offset_and_memo(demo_project, tmp_path):
    first = tmp_path / "first.qdpx"
    export_qdpx(demo_project, first)
    assert validate_xml(qdpx_project_xml(first), PROJECT_XSD) == []
    imported = import_qdpx(first, tmp_path / "imported.qual")
    before, after = snapshot(demo_project), snapshot(imported)
    # The demo has 10 transcripts, 44 codes (6 themes, 12 subthemes, 26 codes), one segment per row of the two
    # coders' files, and memos on project, codes, documents and segments: so an empty project cannot pass.
    coded_rows = sum(len((DEMO_DIR / f"coding_{c}.csv").read_text().strip().splitlines()) - 1
                     for c in ("alex", "sam"))
    assert (len(before["documents"]), len(before["codes"]), len(before["segments"])) == (10, 44, coded_rows)
    assert {t[3][0] for t in before["memos"]} == {"project", "code", "document", "segment"}
    for key in before:
        assert after[key] == before[key], key
    second = tmp_path / "second.qdpx"
    export_qdpx(imported, second)
    assert validate_xml(qdpx_project_xml(second), PROJECT_XSD) == []
    assert snapshot(import_qdpx(second, tmp_path / "again.qual")) == before
    imported.close()


def test_export_is_checked_against_the_schema(demo_project):
    from trdpath.qualitative.refi import project_xml

    xml, _files = project_xml(demo_project)
    broken = xml.replace(b'isCodable="true"', b'isCodable="maybe"', 1)
    errors = validate_xml(broken, PROJECT_XSD)
    assert len(errors) == 1 and "maybe" in errors[0]
    # xmlschema, an independent (pure-Python) validator, agrees on both documents
    assert validate_xml(xml, PROJECT_XSD, engine="xmlschema") == []
    second = validate_xml(broken, PROJECT_XSD, engine="xmlschema")
    assert len(second) == 1 and "maybe" in second[0]


def test_codebook_qdc_validates_and_reimports(demo_project, tmp_path):
    path = export_qdc(demo_project, tmp_path / "book.qdc")
    assert validate_xml(path.read_bytes(), CODEBOOK_XSD) == []
    fresh = create_project(tmp_path / "fresh.qual", "t")
    assert import_qdc(fresh, path) == 44
    columns = ["depth", "path", "definition", "color"]
    assert codebook_table(fresh)[columns].fillna("").values.tolist() == \
        codebook_table(demo_project)[columns].fillna("").values.tolist()
    fresh.close()


def test_empty_codebook_cannot_be_exported(tmp_path):
    project = create_project(tmp_path / "p.qual", "t")
    with pytest.raises(InputError, match="codebook is empty"):
        codebook_xml(project)
    project.close()


NVIVO_STYLE = """<?xml version="1.0" encoding="utf-8"?>
<Project xmlns="urn:QDA-XML:project:1.0" name="NVivo study" origin="NVivo 14">
  <Users><User guid="{AAAAAAAA-0000-0000-0000-000000000001}" name="Ruth"/></Users>
  <CodeBook><Codes>
    <Code guid="{BBBBBBBB-0000-0000-0000-000000000001}" name="Barriers" isCodable="true" color="#F00">
      <Code guid="{BBBBBBBB-0000-0000-0000-000000000002}" name="Waiting" isCodable="true">
        <Description>Long waits</Description>
        <NoteRef targetGUID="{DDDDDDDD-0000-0000-0000-000000000001}"/>
      </Code>
    </Code>
  </Codes></CodeBook>
  <Variables><Variable guid="{EEEEEEEE-0000-0000-0000-000000000001}" name="Age" typeOfVariable="Integer"/></Variables>
  <Cases><Case guid="{FFFFFFFF-0000-0000-0000-000000000001}" name="P9">
    <VariableValue><VariableRef targetGUID="{EEEEEEEE-0000-0000-0000-000000000001}"/><IntegerValue>37</IntegerValue></VariableValue>
    <SourceRef targetGUID="{CCCCCCCC-0000-0000-0000-000000000001}"/>
  </Case></Cases>
  <Sources>
    <TextSource guid="{CCCCCCCC-0000-0000-0000-000000000001}" name="Interview P9"
                plainTextPath="internal://{CCCCCCCC-0000-0000-0000-000000000001}.txt">
      <PlainTextSelection guid="{99999999-0000-0000-0000-000000000001}" startPosition="4" endPosition="12"
                          creatingUser="{AAAAAAAA-0000-0000-0000-000000000001}">
        <Coding guid="{99999999-0000-0000-0000-000000000002}" creatingUser="{AAAAAAAA-0000-0000-0000-000000000001}">
          <CodeRef targetGUID="{BBBBBBBB-0000-0000-0000-000000000002}"/>
        </Coding>
      </PlainTextSelection>
    </TextSource>
    <TextSource guid="{CCCCCCCC-0000-0000-0000-000000000002}" name="Inline note">
      <PlainTextContent>café 😊 waiting</PlainTextContent>
      <PlainTextSelection guid="{99999999-0000-0000-0000-000000000003}" startPosition="7" endPosition="14">
        <Coding guid="{99999999-0000-0000-0000-000000000004}"><CodeRef targetGUID="{BBBBBBBB-0000-0000-0000-000000000002}"/></Coding>
      </PlainTextSelection>
    </TextSource>
    <PDFSource guid="{CCCCCCCC-0000-0000-0000-000000000003}" name="Scanned consent form" path="internal://x.pdf"/>
  </Sources>
  <Notes><Note guid="{DDDDDDDD-0000-0000-0000-000000000001}" name="Scope"><PlainTextContent>Only psychology waits</PlainTextContent></Note></Notes>
</Project>
"""


def test_reads_an_nvivo_style_qdpx_with_braced_guids_and_internal_files(tmp_path):
    path = tmp_path / "nvivo.qdpx"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("project.qde", NVIVO_STYLE)
        # NVivo writes UTF-8 with a byte order mark; offsets count code points of the text without it.
        archive.writestr("sources/{CCCCCCCC-0000-0000-0000-000000000001}.txt", "\ufeffP9: waiting forever.")
    project = import_qdpx(path, tmp_path / "p.qual")
    got = snapshot(project)
    assert got["documents"] == {("Interview P9", "P9: waiting forever."), ("Inline note", "café 😊 waiting")}
    assert got["codes"] == {("Barriers", None, "#FF0000"), ("Barriers / Waiting", "Long waits", None)}
    assert got["segments"] == [("Inline note", "Barriers / Waiting", None, 7, 14),
                               ("Interview P9", "Barriers / Waiting", "Ruth", 4, 12)]
    assert got["memos"] == {("Scope", "Only psychology waits", None, ("code", "Barriers / Waiting"))}
    assert got["participants"] == {("P9", "person_with_trd", (("Age", "37", "Integer"),), ("Interview P9",))}
    with project.reading() as s:
        texts = [x.text for x in s.scalars(select(m.Segment).order_by(m.Segment.start))]
    assert sorted(texts) == ["waiting", "waiting "]  # code points: the emoji is one character
    # the counts the import reports, including the PDF it could not analyse
    fresh = create_project(tmp_path / "fresh.qual", "t")
    from trdpath.qualitative.refi import new_counts

    assert import_qdpx_into(fresh, path) == {**new_counts(), **dict(codes=2, sources=2, selections=2, segments=2,
                                                                     memos=1, cases=1, users=1,
                                                                     skipped_pdf_sources=1)}
    fresh.close()
    # and what we write back validates
    export_qdpx(project, tmp_path / "back.qdpx")
    assert validate_xml(qdpx_project_xml(tmp_path / "back.qdpx"), PROJECT_XSD) == []
    project.close()


def test_reads_codebooks_in_both_namespace_versions(tmp_path):
    for ns in ("urn:QDA-XML:codebook:1.0", "urn:QDA-XML:codebook:0:4"):
        path = tmp_path / "book.qdc"
        path.write_text(f'<?xml version="1.0"?><CodeBook xmlns="{ns}"><Codes>'
                        '<Code guid="11111111-2222-3333-4444-555555555555" name="Hope" isCodable="true">'
                        '<Code guid="11111111-2222-3333-4444-555555555556" name="Small wins" isCodable="true"/>'
                        '</Code></Codes></CodeBook>', encoding="utf-8")
        project = create_project(tmp_path / f"{ns[-3:]}.qual", "t")
        assert import_qdc(project, path) == 2
        assert codebook_table(project)["path"].tolist() == ["Hope", "Hope / Small wins"]
        project.close()


def test_a_coding_of_an_unknown_code_is_an_input_error_and_no_project_is_half_filled(tmp_path):
    bad = NVIVO_STYLE.replace('<CodeRef targetGUID="{BBBBBBBB-0000-0000-0000-000000000002}"/>\n        </Coding>',
                              '<CodeRef targetGUID="{BBBBBBBB-0000-0000-0000-00000000dead}"/>\n        </Coding>')
    path = tmp_path / "bad.qdpx"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("project.qde", bad)
        archive.writestr("Sources/{CCCCCCCC-0000-0000-0000-000000000001}.txt", "P9: waiting forever.")
    with pytest.raises(InputError, match="not in the codebook"):
        import_qdpx(path, tmp_path / "p.qual")
    assert not (tmp_path / "p.qual").exists()


_counter = itertools.count()
# Text with accents, astral emoji, CJK, tabs and Windows line endings: offsets must stay code points.
TEXT = st.text(alphabet=st.sampled_from(list("ab éü😊中\t\r\n")), min_size=1, max_size=60)


@settings(max_examples=10, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.data())
def test_round_trip_of_random_texts_and_segments_keeps_offsets(tmp_path, data):
    from trdpath.qualitative import models as mm

    run = next(_counter)
    text = data.draw(TEXT)
    spans = data.draw(st.lists(st.tuples(st.integers(0, len(text) - 1), st.integers(1, len(text))), max_size=5))
    spans = [(s, max(s + 1, min(e, len(text)))) for s, e in spans]
    project = create_project(tmp_path / f"r{run}.qual", "random")
    with project.transaction("Alex") as s:
        document = mm.Document(name="doc", text=text)
        code = mm.Code(name="c\u00e9 & <code>")
        coder = mm.Coder(name="Alex")
        s.add_all([document, code, coder])
        for start, end in spans:
            s.add(mm.Segment(document=document, code=code, coder=coder, start=start, end=end))
    export_qdpx(project, tmp_path / f"r{run}.qdpx")
    again = import_qdpx(tmp_path / f"r{run}.qdpx", tmp_path / f"r{run}b.qual")
    got = snapshot(again)
    assert got["documents"] == {("doc", text)}
    assert got["segments"] == sorted(("doc", "c\u00e9 & <code>", "Alex", s0, e0) for s0, e0 in spans)
    project.close()
    again.close()


@pytest.mark.parametrize("namespace", ["urn:QDA-XML:project:1:0", ""])
def test_project_files_with_other_namespaces_read_the_same(tmp_path, namespace):
    # Some exporters write a colon-separated version or no namespace at all; the content is what matters.
    xml = NVIVO_STYLE.replace('xmlns="urn:QDA-XML:project:1.0"', f'xmlns="{namespace}"' if namespace else "")
    path = tmp_path / "other.qdpx"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("project.qde", xml)
        archive.writestr("Sources/{CCCCCCCC-0000-0000-0000-000000000001}.txt", "P9: waiting forever.")
    project = import_qdpx(path, tmp_path / "p.qual")
    got = snapshot(project)
    assert got["segments"] == [("Inline note", "Barriers / Waiting", None, 7, 14),
                               ("Interview P9", "Barriers / Waiting", "Ruth", 4, 12)]
    assert got["memos"] == {("Scope", "Only psychology waits", None, ("code", "Barriers / Waiting"))}
    project.close()
