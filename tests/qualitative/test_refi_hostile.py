"""REFI-QDA files as other tools really write them, and as an attacker would: bare source names under Sources/,
NVivo braced GUIDs, selections with several codes, paths that point outside the archive, zip and entity bombs,
and every kind of malformed value. Each file here is small and hand-made; the ones meant to be valid are checked
against the REFI-QDA 1.0 schema first, so the test is about trdpath and not about a broken fixture."""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

import pytest
from lxml import etree
from sqlalchemy import func, select

from support.cli import run_qual
from trdpath.errors import InputError
from trdpath.qualitative import models as m
from trdpath.qualitative.refi import (CODEBOOK_XSD, PROJECT_XSD, ImportLimits, export_qdpx, import_qdc, import_qdpx,
                                      import_qdpx_into, new_counts, qdpx_project_xml, validate_xml)
from trdpath.qualitative.store import create_project

NS = 'xmlns="urn:QDA-XML:project:1.0"'

# GUIDs written the NVivo way (braced, upper case) in some places and bare in others, as real files mix them.
U1, U2 = "{A1A1A1A1-0000-0000-0000-000000000001}", "a1a1a1a1-0000-0000-0000-000000000002"
C_THEME, C_WAIT, C_COST, C_HOPE = ("{B0000000-0000-0000-0000-00000000000%d}" % i for i in range(1, 5))
SRC1, SRC2 = "{C0000000-0000-0000-0000-000000000001}", "c0000000-0000-0000-0000-000000000002"
BOARD_TEXT = "P3: the board meets in 2017. We waited and waited; it cost a lot.\nI: and hope?\nP3: some hope."


def guid(n: int, prefix: str = "d") -> str:
    return f"{prefix * 8}-0000-0000-0000-{n:012d}"


def qdpx(path: Path, xml: str, files: dict[str, bytes | str] | None = None) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("project.qde", xml)
        for name, data in (files or {}).items():
            archive.writestr(name, data.encode("utf-8") if isinstance(data, str) else data)
    return path


def project_xml(sources: str, *, codes: str | None = None, extra: str = "", doctype: str = "",
                users: str | None = None) -> str:
    codes = codes if codes is not None else f"""
      <Code guid="{C_THEME}" name="Barriers" isCodable="true">
        <Code guid="{C_WAIT}" name="Waiting" isCodable="true"/>
        <Code guid="{C_COST}" name="Cost" isCodable="true"/>
      </Code>
      <Code guid="{C_HOPE}" name="Hope" isCodable="true"/>"""
    users = users if users is not None else f'<User guid="{U1}" name="Ruth Evans" id="RE"/><User guid="{U2}" name="Sam"/>'
    return (f'<?xml version="1.0" encoding="utf-8"?>{doctype}<Project {NS} name="Board study" origin="hand-made">'
            f"<Users>{users}</Users><CodeBook><Codes>{codes}</Codes></CodeBook>"
            f"<Sources>{sources}</Sources>{extra}</Project>")


def selection(n: int, start: int, end: int, *codes: str, user: str = U1, inner: str = "") -> str:
    codings = "".join(f'<Coding guid="{guid(100 * n + i, "e")}" creatingUser="{user}"><CodeRef targetGUID="{c}"/>'
                      "</Coding>" for i, c in enumerate(codes))
    return (f'<PlainTextSelection guid="{guid(n)}" startPosition="{start}" endPosition="{end}" '
            f'creatingUser="{user}">{inner}{codings}</PlainTextSelection>')


def valid(xml: str) -> str:
    errors = validate_xml(xml.encode("utf-8"), PROJECT_XSD)
    assert errors == [], errors  # the fixture itself is a valid REFI-QDA 1.0 project
    return xml


def snapshot_segments(project):
    with project.reading() as s:
        return sorted((x.document.name, x.code.path(), x.coder.name if x.coder else None, x.start, x.end,
                       x.document.text[x.start:x.end]) for x in s.scalars(select(m.Segment)))


# ------------------------------------------------------------------------------------------- sources by name
def test_bare_source_name_is_found_under_sources_and_never_in_the_working_folder(tmp_path, monkeypatch):
    # An open-source QDA tool's export: plainTextPath="board_2017.txt", no name, the file under Sources/.
    xml = valid(project_xml(f'<TextSource guid="{SRC1}" plainTextPath="board_2017.txt">'
                            + selection(1, 32, 38, C_WAIT) + "</TextSource>"))
    path = qdpx(tmp_path / "tool.qdpx", xml, {"Sources/board_2017.txt": BOARD_TEXT})
    # A file of the same name in the working folder must never be used.
    work = tmp_path / "work"
    work.mkdir()
    (work / "board_2017.txt").write_text("DECOY " * 20)
    monkeypatch.chdir(work)
    project = import_qdpx(path, tmp_path / "p.qual")
    # The source's name is its file name without the extension (as transcripts are named). Offsets by hand:
    # "P3: " (4) + "the board meets in 2017." (24) + " We " (4) = 32, so 32-38 is "waited".
    assert snapshot_segments(project) == [("board_2017", "Barriers / Waiting", "Ruth Evans", 32, 38, "waited")]
    project.close()


@pytest.mark.parametrize("stored, written", [
    ("Sources/board_2017.txt", "internal://board_2017.txt"),
    ("sources/BOARD_2017.TXT", "internal://board_2017.txt"),
    ("Sources/board_2017.txt", "Sources/board_2017.txt"),
    ("Sources/board_2017.txt", "relative://board_2017.txt"),
    ("deep/nested/board_2017.txt", "board_2017.txt"),
    ("Sources/board_2017.txt", "./Sources\\board_2017.txt"),
])
def test_source_paths_in_every_form_resolve_inside_the_archive(tmp_path, stored, written):
    xml = project_xml(f'<TextSource guid="{SRC1}" name="Board" plainTextPath="{written}">'
                      + selection(1, 32, 38, C_WAIT) + "</TextSource>")
    project = import_qdpx(qdpx(tmp_path / "t.qdpx", xml, {stored: BOARD_TEXT}), tmp_path / "p.qual")
    assert snapshot_segments(project) == [("Board", "Barriers / Waiting", "Ruth Evans", 32, 38, "waited")]
    project.close()


HOSTILE_PATHS = ["absolute:///etc/hostname", "/etc/passwd", "relative://../../../../etc/hostname",
                 "file:///etc/hostname", "C:\\Windows\\win.ini", "http://127.0.0.1/x.txt",
                 "internal://../../etc/hostname", "Sources/../../../etc/hostname", "\\\\server\\share\\x.txt",
                 "relative://..\\..\\secret.txt"]


@pytest.mark.parametrize("location", HOSTILE_PATHS)
@pytest.mark.parametrize("attribute", ["plainTextPath", "richTextPath"])
def test_paths_outside_the_archive_are_refused_naming_the_source(tmp_path, location, attribute, monkeypatch):
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP SECRET")
    monkeypatch.chdir(tmp_path)
    xml = project_xml(f'<TextSource guid="{SRC1}" name="Board minutes" {attribute}="{location}"/>').replace(
        "<Project ", f'<Project basePath="{tmp_path}/a/b/c" ')
    path = qdpx(tmp_path / "evil.qdpx", xml, {"Sources/hostname": "inside", "Sources/board.txt": BOARD_TEXT})
    with pytest.raises(InputError) as caught:
        import_qdpx(path, tmp_path / "p.qual")
    message = str(caught.value)
    assert "'Board minutes'" in message and "outside the archive" in message and "TOP SECRET" not in message
    assert not (tmp_path / "p.qual").exists()


def test_a_bare_qde_with_a_source_file_is_refused_not_read_from_disk(tmp_path, monkeypatch):
    (tmp_path / "board_2017.txt").write_text(BOARD_TEXT)
    monkeypatch.chdir(tmp_path)
    bare = tmp_path / "project.qde"
    bare.write_text(project_xml(f'<TextSource guid="{SRC1}" name="B" plainTextPath="board_2017.txt"/>'))
    with pytest.raises(InputError, match="bare .qde has no archive"):
        import_qdpx(bare, tmp_path / "p.qual")


def test_missing_source_text_is_an_error_even_with_a_same_named_file_nearby(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "board_2017.txt").write_text(BOARD_TEXT)
    path = qdpx(tmp_path / "t.qdpx", project_xml(f'<TextSource guid="{SRC1}" plainTextPath="board_2017.txt"/>'))
    with pytest.raises(InputError, match="not found inside the archive"):
        import_qdpx(path, tmp_path / "p.qual")


# ------------------------------------------------------------------------------------------------ limits
def test_an_entry_over_the_size_limit_is_refused_before_it_is_inflated(tmp_path):
    xml = project_xml(f'<TextSource guid="{SRC1}" name="Big" plainTextPath="internal://big.txt"/>')
    # 80 MB of one letter compresses to ~80 KB: a zip bomb of the kind found (204 KB -> 200 MB).
    path = qdpx(tmp_path / "bomb.qdpx", xml, {"Sources/big.txt": b"a" * (80 * 1024 * 1024)})
    assert path.stat().st_size < 1024 * 1024
    with pytest.raises(InputError, match=r"80\.0 MB uncompressed, over the limit of 64\.0 MB"):
        import_qdpx(path, tmp_path / "p.qual")  # the default limits


def test_total_and_entry_count_limits(tmp_path):
    sources = "".join(f'<TextSource guid="{guid(i, "c")}" name="S{i}" plainTextPath="s{i}.txt"/>' for i in range(3))
    files = {f"Sources/s{i}.txt": "x" * 400_000 for i in range(3)}
    path = qdpx(tmp_path / "t.qdpx", project_xml(sources), files)
    tight = ImportLimits(max_entry_bytes=500_000, max_total_bytes=1_000_000, max_entries=100)
    with pytest.raises(InputError, match="beyond the limit of 1.0 MB in total"):
        import_qdpx(path, tmp_path / "p.qual", limits=tight)  # 3 x 400,000 > 1 MB (1,048,576) > 2 x 400,000
    few = ImportLimits(max_entries=3)
    with pytest.raises(InputError, match="4 entries, over the limit of 3"):  # project.qde + 3 sources
        import_qdpx(path, tmp_path / "p.qual", limits=few)
    roomy = ImportLimits(max_entry_bytes=500_000, max_total_bytes=2_000_000, max_entries=4)
    project = import_qdpx(path, tmp_path / "p.qual", limits=roomy)
    with project.reading() as s:
        assert s.scalar(select(func.count(m.Document.id))) == 3
    project.close()


def test_the_cli_reports_a_limit_as_a_message_with_exit_2(tmp_path):
    xml = project_xml(f'<TextSource guid="{SRC1}" name="Big" plainTextPath="big.txt"/>')
    path = qdpx(tmp_path / "t.qdpx", xml, {"Sources/big.txt": "x" * 2_000_000})
    project = tmp_path / "p.qual"
    create_project(project, "t").close()
    run = run_qual("import", str(project), str(path), "--max-entry-mb", "1")
    assert run.returncode == 2 and "Traceback" not in run.stderr + run.stdout
    assert "1.9 MB uncompressed, over the limit of 1.0 MB" in run.stderr  # 2,000,000 / 1,048,576 = 1.907


# --------------------------------------------------------------------------------------------- entities
def test_internal_entities_are_expanded_not_cut_in_qdpx_and_qdc(tmp_path):
    doctype = '<!DOCTYPE Project [<!ENTITY co "Company &amp; Co">]>'
    xml = project_xml(f'<TextSource guid="{SRC1}" name="Minutes"><PlainTextContent>A &co; B</PlainTextContent>'
                      + selection(1, 2, 14, C_WAIT) + "</TextSource>", doctype=doctype)
    project = import_qdpx(qdpx(tmp_path / "e.qdpx", xml), tmp_path / "p.qual")
    # "A " (2) + "Company & Co" (12) + " B": the selection 2-14 is exactly the expanded entity
    assert snapshot_segments(project) == [("Minutes", "Barriers / Waiting", "Ruth Evans", 2, 14, "Company & Co")]
    project.close()
    book = tmp_path / "book.qdc"
    book.write_text('<?xml version="1.0"?><!DOCTYPE CodeBook [<!ENTITY nhs "National Health Service">]>'
                    '<CodeBook xmlns="urn:QDA-XML:codebook:1.0"><Codes><Code guid="' + C_HOPE[1:-1]
                    + '" name="Hope" isCodable="true"><Description>Said of the &nhs; staff</Description></Code>'
                    "</Codes></CodeBook>")
    fresh = create_project(tmp_path / "q.qual", "t")
    assert import_qdc(fresh, book) == 1
    with fresh.reading() as s:
        assert s.scalar(select(m.Code.definition)) == "Said of the National Health Service staff"
    fresh.close()


LOL = ('<!DOCTYPE Project [<!ENTITY l "lol">' + "".join(
    f'<!ENTITY l{i} "{("&l" + (str(i - 1) if i > 1 else "") + ";") * 10}">' for i in range(1, 10)) + "]>")


@pytest.mark.parametrize("doctype, text, expected", [
    (LOL, "&l9;", "entities expand far beyond"),  # billion laughs: 10^9 "lol"
    ('<!DOCTYPE Project [<!ENTITY x SYSTEM "file:///etc/hostname">]>', "A &x; B", "not defined inside the file"),
    ("", "A &undefined; B", "not defined inside the file"),
    ('<!DOCTYPE Project [<!ENTITY % p SYSTEM "http://127.0.0.1:9/evil.dtd"> %p;]>', "A", "not defined"),
])
def test_hostile_entities_are_refused_with_a_message(tmp_path, doctype, text, expected):
    xml = project_xml(f'<TextSource guid="{SRC1}" name="M"><PlainTextContent>{text}</PlainTextContent>'
                      "</TextSource>", doctype=doctype)
    with pytest.raises(InputError, match=expected):
        import_qdpx(qdpx(tmp_path / "e.qdpx", xml), tmp_path / "p.qual")
    book = tmp_path / "book.qdc"
    book.write_text(f'<?xml version="1.0"?>{doctype.replace("Project", "CodeBook")}<CodeBook '
                    f'xmlns="urn:QDA-XML:codebook:1.0"><Codes><Code guid="{C_HOPE}" name="H" isCodable="true">'
                    f"<Description>{text}</Description></Code></Codes></CodeBook>")
    with pytest.raises(InputError, match=expected):
        import_qdc(create_project(tmp_path / "q.qual", "t"), book)


# ---------------------------------------------------------------------------------------- lossless import
def multi_code_project(selections: int = 158) -> tuple[str, int]:
    """A project with `selections` selections over one text; every third has three codes, every fifth two (the
    rest one), like an NVivo export where one passage is coded at several nodes."""
    text = "word " * (selections + 10)
    parts, codings = [], 0
    for n in range(1, selections + 1):
        codes = [C_WAIT, C_COST, C_HOPE] if n % 3 == 0 else [C_WAIT, C_HOPE] if n % 5 == 0 else [C_COST]
        codings += len(codes)
        parts.append(selection(n, 5 * (n - 1), 5 * (n - 1) + 4, *codes, user=U1 if n % 2 else U2))
    source = f'<TextSource guid="{SRC1}" name="Long" plainTextPath="internal://long.txt">{"".join(parts)}</TextSource>'
    return valid(project_xml(source)), codings, text


def test_a_selection_with_several_codes_stays_one_selection_158_in_158_out(tmp_path):
    xml, codings, text = multi_code_project()
    # by hand: 52 multiples of 3 give 3 codings (156), multiples of 5 that are not of 3: 31 - 10 = 21 give 2
    # (42), the other 158 - 52 - 21 = 85 give 1: 156 + 42 + 85 = 283 codings on 158 selections
    assert codings == 283
    path = qdpx(tmp_path / "in.qdpx", xml, {"Sources/long.txt": text})
    project = import_qdpx(path, tmp_path / "p.qual")
    out = export_qdpx(project, tmp_path / "out.qdpx")
    root = etree.fromstring(qdpx_project_xml(out))
    ns = {"q": "urn:QDA-XML:project:1.0"}
    assert len(root.findall(".//q:PlainTextSelection", ns)) == 158
    assert len(root.findall(".//q:Coding", ns)) == 283
    # the selection and coding GUIDs are the file's (NVivo braces and case removed)
    got = {(sel.get("guid"), tuple(c.get("guid") for c in sel.findall("q:Coding", ns)))
           for sel in root.findall(".//q:PlainTextSelection", ns)}
    assert (guid(3), (guid(300, "e"), guid(301, "e"), guid(302, "e"))) in got
    # and a second round trip is stable
    again = import_qdpx(out, tmp_path / "again.qual")
    assert snapshot_segments(again) == snapshot_segments(project)
    root2 = etree.fromstring(qdpx_project_xml(export_qdpx(again, tmp_path / "out2.qdpx")))
    assert len(root2.findall(".//q:PlainTextSelection", ns)) == 158
    project.close()
    again.close()


NVIVO_RICH = f"""<?xml version="1.0" encoding="utf-8"?>
<Project {NS} name="NVivo study" origin="NVivo 14" creationDateTime="2024-03-01T10:00:00Z">
  <Users><User guid="{U1}" name="Ruth Evans" id="RE"/><User guid="{U2}" name="Sam Lee" id="SL"/></Users>
  <CodeBook><Codes>
    <Code guid="{C_THEME}" name="Barriers" isCodable="true">
      <Code guid="{C_WAIT}" name="Waiting" isCodable="true"><Description>Long waits</Description></Code>
      <Code guid="{C_COST}" name="Waiting" isCodable="true"><Description>A second node of the same name</Description></Code>
    </Code>
    <Code guid="{C_HOPE}" name="Barriers" isCodable="false"/>
  </Codes></CodeBook>
  <Variables>
    <Variable guid="{guid(1, 'f')}" name="Age" typeOfVariable="Integer"/>
    <Variable guid="{guid(2, 'f')}" name="Site" typeOfVariable="Text"/>
  </Variables>
  <Cases><Case guid="{guid(3, 'f')}" name="P3"><Description>Third interviewee</Description>
    <VariableValue><VariableRef targetGUID="{guid(1, 'f')}"/><IntegerValue>44</IntegerValue></VariableValue>
    <SourceRef targetGUID="{SRC1}"/>
  </Case></Cases>
  <Sources>
    <TextSource guid="{SRC1}" name="Interview P3" plainTextPath="internal://{SRC1}.txt" creatingUser="{U2}"
                creationDateTime="2024-03-02T09:30:00Z" modifyingUser="{U1}" modifiedDateTime="2024-03-05T12:00:00Z">
      <Description>Recorded at the clinic</Description>
      <PlainTextSelection guid="{guid(1)}" name="waiting passage" startPosition="32" endPosition="38"
                          creatingUser="{U1}" creationDateTime="2024-03-03T11:00:00Z">
        <Description>both waits</Description>
        <Coding guid="{guid(11, 'e')}" creatingUser="{U1}" creationDateTime="2024-03-03T11:00:01Z">
          <CodeRef targetGUID="{C_WAIT}"/></Coding>
        <Coding guid="{guid(12, 'e')}" creatingUser="{U2}" creationDateTime="2024-03-04T08:00:00Z">
          <CodeRef targetGUID="{C_COST}"/><NoteRef targetGUID="{guid(2, '9')}"/></Coding>
        <NoteRef targetGUID="{guid(1, '9')}"/>
      </PlainTextSelection>
      <PlainTextSelection guid="{guid(2)}" startPosition="0" endPosition="2" creatingUser="{U2}">
        <NoteRef targetGUID="{guid(3, '9')}"/>
      </PlainTextSelection>
      <VariableValue><VariableRef targetGUID="{guid(2, 'f')}"/><TextValue>North</TextValue></VariableValue>
    </TextSource>
    <TextSource guid="{SRC2}" plainTextPath="follow_up.txt"/>
    <PDFSource guid="{guid(1, '7')}" name="Consent" path="internal://c.pdf">
      <PDFSelection guid="{guid(2, '7')}" page="1" firstX="0" firstY="0" secondX="1" secondY="1"/></PDFSource>
    <PictureSource guid="{guid(3, '7')}" name="Drawing" path="internal://d.png"/>
    <AudioSource guid="{guid(4, '7')}" name="Recording" path="internal://r.mp3"/>
    <VideoSource guid="{guid(5, '7')}" name="Video" path="internal://v.mp4"/>
  </Sources>
  <Notes>
    <Note guid="{guid(1, '9')}" name="On the selection" creatingUser="{U1}"><PlainTextContent>selection note</PlainTextContent></Note>
    <Note guid="{guid(2, '9')}" name="On one coding"><PlainTextContent>coding note</PlainTextContent></Note>
    <Note guid="{guid(3, '9')}" name="Annotation"><PlainTextContent>speaker label</PlainTextContent>
      <PlainTextSelection guid="{guid(4, '9')}" startPosition="0" endPosition="3"/></Note>
  </Notes>
  <Links><Link guid="{guid(1, '6')}" name="leads to" originGUID="{C_WAIT}" targetGUID="{C_COST}"/></Links>
  <Sets><Set guid="{guid(2, '6')}" name="Women"/><Set guid="{guid(3, '6')}" name="Men"/></Sets>
  <Graphs><Graph guid="{guid(4, '6')}" name="Map"/></Graphs>
</Project>
"""


def test_an_nvivo_style_file_keeps_everything_lossless_and_counts_what_it_skips(tmp_path):
    xml = valid(NVIVO_RICH)
    path = qdpx(tmp_path / "nv.qdpx", xml, {f"sources/{SRC1.lower()}.txt": "\ufeff" + BOARD_TEXT,
                                             "Sources/follow_up.txt": "P3: later."})
    project = create_project(tmp_path / "p.qual", "t")
    counts = import_qdpx_into(project, path)
    # hand count: 4 codes; 2 text sources; 2 selections, 2 codings; 3 notes; 1 case; 2 users; the second
    # "Waiting" and the second top-level "Barriers" renamed; 4 media sources, 1 PDF selection, 1 note selection,
    # 1 link, 2 sets, 1 graph
    assert counts == {**new_counts(), **dict(
        codes=4, sources=2, selections=2, segments=2, memos=3, cases=1, users=2, renamed_same_name_codes=2,
        skipped_pdf_sources=1, skipped_picture_sources=1, skipped_audio_sources=1, skipped_video_sources=1,
        skipped_positions_in_media=1, skipped_sets=2, skipped_links=1, skipped_graphs=1,
        skipped_positions_in_notes=1)}
    with project.reading() as s:
        coders = {(c.guid, c.name, c.initials) for c in s.scalars(select(m.Coder))}
        assert coders == {(U1.strip("{}").lower(), "Ruth Evans", "RE"), (U2, "Sam Lee", "SL")}
        codes = {c.path(): (c.guid, c.definition, c.is_codable) for c in s.scalars(select(m.Code))}
        assert codes == {"Barriers": (C_THEME.strip("{}").lower(), None, True),
                         "Barriers / Waiting": (C_WAIT.strip("{}").lower(), "Long waits", True),
                         "Barriers / Waiting (2)": (C_COST.strip("{}").lower(), "A second node of the same name",
                                                    True),
                         "Barriers (2)": (C_HOPE.strip("{}").lower(), None, False)}
        doc = s.scalar(select(m.Document).where(m.Document.name == "Interview P3"))
        assert (doc.description, doc.creator.name, doc.modifier.name, doc.text) == (
            "Recorded at the clinic", "Sam Lee", "Ruth Evans", BOARD_TEXT)
        assert doc.created_at.replace(tzinfo=None).isoformat() == "2024-03-02T09:30:00"
        # the nameless source is named after its file
        assert s.scalar(select(m.Document.text).where(m.Document.name == "follow_up")) == "P3: later."
        segments = {(x.guid, x.code.path(), x.coder.name, x.selection.guid) for x in s.scalars(select(m.Segment))}
        assert segments == {(guid(11, "e"), "Barriers / Waiting", "Ruth Evans", guid(1)),
                            (guid(12, "e"), "Barriers / Waiting (2)", "Sam Lee", guid(1))}
        sel = s.scalar(select(m.Selection).where(m.Selection.guid == guid(1)))
        assert (sel.name, sel.description, sel.creator.name) == ("waiting passage", "both waits", "Ruth Evans")
        p3 = s.scalar(select(m.Participant).where(m.Participant.label == "P3"))
        # the case's variable and the source's variable both end up on the participant
        assert (p3.description, sorted((a.name, a.value, a.value_type) for a in p3.attributes)) == (
            "Third interviewee", [("Age", "44", "Integer"), ("Site", "North", "Text")])
        memos = {x.title: (x.selection.guid if x.selection else None, x.segment.guid if x.segment else None)
                 for x in s.scalars(select(m.Memo))}
        assert memos == {"On the selection": (guid(1), guid(11, "e")), "On one coding": (None, guid(12, "e")),
                         "Annotation": (guid(2), None)}
    # Written back: same selections, codings, notes where they were, initials, descriptions, creators, dates.
    out = export_qdpx(project, tmp_path / "out.qdpx")
    text = qdpx_project_xml(out).decode()
    assert validate_xml(text.encode(), PROJECT_XSD) == []
    for fragment in ('id="RE"', "<Description>Recorded at the clinic</Description>", 'name="waiting passage"',
                     "<Description>both waits</Description>", f'guid="{guid(12, "e")}"',
                     'modifiedDateTime="2024-03-05T12:00:00Z"', "<Description>Third interviewee</Description>"):
        assert fragment in text, fragment
    root = etree.fromstring(text.encode())
    ns = {"q": "urn:QDA-XML:project:1.0"}
    first = root.find(f".//q:PlainTextSelection[@guid='{guid(1)}']", ns)
    assert [c.get("guid") for c in first.findall("q:Coding", ns)] == [guid(11, "e"), guid(12, "e")]
    assert [n.get("targetGUID") for n in first.findall("q:NoteRef", ns)] == [guid(1, "9")]
    assert [n.get("targetGUID") for n in first.findall("q:Coding/q:NoteRef", ns)] == [guid(2, "9")]
    annotation = root.find(f".//q:PlainTextSelection[@guid='{guid(2)}']", ns)
    assert annotation.findall("q:Coding", ns) == [] and annotation.get("endPosition") == "2"
    project.close()


def test_same_name_top_level_codes_in_a_codebook_are_kept_apart(tmp_path):
    book = tmp_path / "book.qdc"
    book.write_text('<?xml version="1.0"?><CodeBook xmlns="urn:QDA-XML:codebook:1.0"><Codes>'
                    f'<Code guid="{C_WAIT}" name="Hope" isCodable="true"><Description>one</Description></Code>'
                    f'<Code guid="{C_COST}" name="Hope" isCodable="true"><Description>two</Description></Code>'
                    "</Codes></CodeBook>")
    assert validate_xml(book.read_bytes(), CODEBOOK_XSD) == []
    project = create_project(tmp_path / "p.qual", "t")
    assert import_qdc(project, book) == 2
    with project.reading() as s:
        assert sorted((c.name, c.definition) for c in s.scalars(select(m.Code))) == [("Hope", "one"),
                                                                                       ("Hope (2)", "two")]
    project.close()


# -------------------------------------------------------------------------------------- malformed values
MALFORMED = [
    (selection(1, 0, 5, C_WAIT).replace('startPosition="0"', 'startPosition="abc"'),
     r"startPosition is not a whole number \(value: 'abc'\)"),
    (selection(1, 0, 5, C_WAIT).replace('startPosition="0" ', ""), "has no startPosition"),
    (selection(1, 0, 5, C_WAIT).replace('endPosition="5"', 'endPosition="5.5"'), "'5.5'"),
    (selection(1, 0, 5, C_WAIT).replace('endPosition="5"', 'endPosition="999"'), "span 0-999 is outside"),
    (selection(1, 0, 5, C_WAIT) + selection(1, 6, 9, C_HOPE), "has the same guid as"),
    (selection(1, 0, 5, C_WAIT).replace(f'guid="{guid(1)}"', 'guid="not-a-guid"'), "guid is not a GUID"),
    (selection(1, 0, 5, C_WAIT).replace(C_WAIT, "{B0000000-0000-0000-0000-0000000000ff}"), "not in the codebook"),
    (selection(1, 0, 5, C_WAIT).replace(f'<CodeRef targetGUID="{C_WAIT}"/>', ""), "has no <CodeRef>"),
    (selection(1, 0, 5, C_WAIT).replace(f'creatingUser="{U1}">', f'creatingUser="{U1}" '
                                        'creationDateTime="yesterday">', 1), "creationDateTime is not an ISO 8601 "
     "date-time.*'yesterday'"),
]


@pytest.mark.parametrize("inner, expected", MALFORMED)
def test_malformed_values_are_named_in_one_message(tmp_path, inner, expected):
    xml = project_xml(f'<TextSource guid="{SRC1}" name="Board"><PlainTextContent>{BOARD_TEXT}</PlainTextContent>'
                      f"{inner}</TextSource>")
    with pytest.raises(InputError, match=expected) as caught:
        import_qdpx(qdpx(tmp_path / "bad.qdpx", xml), tmp_path / "p.qual")
    assert "'Board'" in str(caught.value) or "guid" in str(caught.value)
    assert not (tmp_path / "p.qual").exists()


@pytest.mark.parametrize("codes, expected", [
    (f'<Code guid="{C_WAIT}" name="A" isCodable="true"/><Code guid="{C_WAIT}" name="B" isCodable="true"/>',
     r"<Code 'B'> has the same guid as <Code 'A'>"),
    (f'<Code guid="{C_WAIT}" name="A" isCodable="true" color="red"/>', r"color is not #RGB or #RRGGBB.*'red'"),
    (f'<Code guid="{C_WAIT}" name="" isCodable="true"/>', "has no name"),
])
def test_malformed_codes_are_named(tmp_path, codes, expected):
    xml = project_xml("", codes=codes)
    with pytest.raises(InputError, match=expected):
        import_qdpx(qdpx(tmp_path / "bad.qdpx", xml), tmp_path / "p.qual")


def test_a_non_utf8_source_and_a_bad_variable_value_are_named(tmp_path):
    xml = project_xml(f'<TextSource guid="{SRC1}" name="Latin" plainTextPath="latin.txt"/>')
    path = qdpx(tmp_path / "bad.qdpx", xml, {"Sources/latin.txt": "caf\u00e9".encode("latin-1")})
    with pytest.raises(InputError, match=r"source <TextSource 'Latin'>: archive entry 'Sources/latin.txt' is not "
                                         r"UTF-8 text \(byte 0xe9 at position 3"):
        import_qdpx(path, tmp_path / "p.qual")
    bad_value = NVIVO_RICH.replace("<IntegerValue>44</IntegerValue>", "<IntegerValue>forty</IntegerValue>")
    path = qdpx(tmp_path / "bad2.qdpx", bad_value, {f"Sources/{SRC1}.txt": BOARD_TEXT,
                                                     "Sources/follow_up.txt": "x"})
    with pytest.raises(InputError, match=r"case <Case 'P3'>, variable 'Age': <IntegerValue> is not a valid "
                                         r"integer \(value: 'forty'\)"):
        import_qdpx(path, tmp_path / "p.qual")


def test_the_cli_gives_a_message_not_a_traceback_for_a_malformed_file(tmp_path):
    xml = project_xml(f'<TextSource guid="{SRC1}" name="Board"><PlainTextContent>x</PlainTextContent>'
                      + selection(1, 0, 1, C_WAIT).replace('endPosition="1"', 'endPosition=""') + "</TextSource>")
    path = qdpx(tmp_path / "bad.qdpx", xml)
    project = tmp_path / "p.qual"
    create_project(project, "t").close()
    run = run_qual("import", str(project), str(path))
    assert run.returncode == 2 and "Traceback" not in run.stderr
    assert "endPosition is not a whole number" in run.stderr and "'Board'" in run.stderr


def test_same_name_users_and_cases_in_one_file_are_kept_apart(tmp_path):
    users = f'<User guid="{U1}" name="Ruth"/><User guid="{U2}" name="Ruth"/>'
    cases = (f'<Cases><Case guid="{guid(1, "f")}" name="P1"><SourceRef targetGUID="{SRC1}"/></Case>'
             f'<Case guid="{guid(2, "f")}" name="P1"/></Cases>')
    sources = (f'<TextSource guid="{SRC1}" name="B"><PlainTextContent>{BOARD_TEXT}</PlainTextContent>'
               + selection(1, 32, 38, C_WAIT, user=U1) + selection(2, 43, 49, C_WAIT, user=U2) + "</TextSource>")
    xml = valid(project_xml(sources, users=users).replace("<Sources>", cases + "<Sources>"))
    project = create_project(tmp_path / "p.qual", "t")
    counts = import_qdpx_into(project, qdpx(tmp_path / "t.qdpx", xml))
    assert (counts["renamed_same_name_users"], counts["renamed_same_name_cases"]) == (1, 1)
    # by hand: the first "waited" is 32-38, then "waited and " is 11 characters, so the second is 43-49
    assert [(x[2], x[3], x[5]) for x in snapshot_segments(project)] == [("Ruth", 32, "waited"),
                                                                        ("Ruth (2)", 43, "waited")]
    with project.reading() as s:
        assert sorted(s.scalars(select(m.Participant.label))) == ["P1", "P1 (2)"]
    project.close()


def test_a_source_variable_that_contradicts_its_case_is_refused(tmp_path):
    clash = NVIVO_RICH.replace('<VariableRef targetGUID="{}"/><TextValue>North</TextValue>'.format(guid(2, "f")),
                               '<VariableRef targetGUID="{}"/><IntegerValue>45</IntegerValue>'.format(guid(1, "f")))
    path = qdpx(tmp_path / "c.qdpx", valid(clash), {f"Sources/{SRC1}.txt": BOARD_TEXT, "Sources/follow_up.txt": "x"})
    with pytest.raises(InputError, match=r"variable 'Age' is '45' on the source but '44' on its case 'P3'"):
        import_qdpx(path, tmp_path / "p.qual")


from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from trdpath.errors import UserError  # noqa: E402
from trdpath.qualitative.refi import _archive_path  # noqa: E402


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(max_size=40), st.builds(lambda a, b: a + b, st.sampled_from(
    ["internal://", "relative://", "absolute://", "file://", "/", "C:", "\\\\", "Sources/", "..", "./", ""]),
    st.text(alphabet=st.sampled_from(list("ab./\\:~")), max_size=20))))
def test_any_source_path_resolves_to_a_plain_path_inside_the_archive_or_is_refused(location):
    try:
        inside = _archive_path(location, "source 'S'", "f.qdpx")
    except InputError as exc:
        assert "'S'" in str(exc) and ("outside the archive" in str(exc) or "names no file" in str(exc))
        return
    parts = inside.split("/")
    # a relative path of plain names: it can only ever match an entry of the archive's own directory
    assert inside and not inside.startswith("/") and ".." not in parts and "" not in parts and "\\" not in inside
    assert not re.match(r"^[A-Za-z]:", inside)


FUZZ_TARGETS = [(tag, attribute) for tag, attribute in (
    ("PlainTextSelection", "startPosition"), ("PlainTextSelection", "endPosition"), ("PlainTextSelection", "guid"),
    ("Coding", "guid"), ("Coding", "creatingUser"), ("Coding", "creationDateTime"), ("TextSource", "plainTextPath"),
    ("TextSource", "name"), ("TextSource", "guid"), ("Code", "name"), ("Code", "color"), ("Code", "guid"),
    ("Code", "isCodable"), ("User", "name"), ("User", "id"), ("CodeRef", "targetGUID"), ("NoteRef", "targetGUID"),
    ("VariableRef", "targetGUID"), ("SourceRef", "targetGUID"), ("Case", "name"), ("Note", "name"),
    ("TextSource", "modifiedDateTime"), ("Variable", "typeOfVariable"))]
_fuzz = iter(range(10**6))


@settings(max_examples=60, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(target=st.sampled_from(FUZZ_TARGETS), index=st.integers(0, 3),
       value=st.one_of(st.text(max_size=12), st.sampled_from(["", "-1", "99999999999999999999", "{}", "#12",
                                                              "../../etc/hostname", "/etc/hostname", "1e3", " 7 "])))
def test_any_changed_attribute_imports_or_gives_a_message_never_a_traceback(tmp_path, target, index, value):
    value = "".join(ch for ch in value if ch.isprintable())  # XML attributes cannot hold control characters
    root = etree.fromstring(NVIVO_RICH.encode())
    found = [e for e in root.iter() if isinstance(e.tag, str) and etree.QName(e).localname == target[0]]
    found[index % len(found)].set(target[1], value)
    run = next(_fuzz)
    path = qdpx(tmp_path / f"f{run}.qdpx", etree.tostring(root).decode(),
                {f"Sources/{SRC1}.txt": BOARD_TEXT, "Sources/follow_up.txt": "P3: later."})
    try:
        import_qdpx(path, tmp_path / f"f{run}.qual").close()
    except UserError:
        assert not (tmp_path / f"f{run}.qual").exists()  # refused whole: nothing left behind


def test_limits_from_the_command_line_must_be_positive():
    assert ImportLimits.from_megabytes(1.5, None, 7) == ImportLimits(max_entry_bytes=1_572_864,  # 1.5 x 1,048,576
                                                                    max_total_bytes=256 * 1_048_576, max_entries=7)
    for bad in ((0, None, None), (None, -1, None), (None, None, 0)):
        with pytest.raises(UserError, match="must be a positive number"):
            ImportLimits.from_megabytes(*bad)
