"""Transcript, participant, codebook and coding imports."""

from __future__ import annotations

import docx
import pytest
from sqlalchemy import func, select

from trdpath.errors import InputError
from trdpath.qualitative import models as m
from trdpath.qualitative.codebook import codebook_table, import_codebook
from trdpath.qualitative.coding import code_from_table, import_participants, import_transcripts
from trdpath.qualitative.store import create_project
from trdpath.qualitative.transcripts import find_turns, read_transcript

TRANSCRIPT = ("Interviewer: How long have you been unwell?\n"
              "P7: About ten years.\nIt started after university.\n\n"
              "Note: the line above is not a speaker.\n"
              "Interviewer: Thank you.\n")


def test_txt_turns_cover_what_each_speaker_said(tmp_path):
    path = tmp_path / "P7.txt"
    path.write_text(TRANSCRIPT, encoding="utf-8")
    parsed = read_transcript(path)
    assert parsed.text == TRANSCRIPT
    said = [(t.speaker, parsed.text[t.start:t.end]) for t in parsed.turns]
    assert said == [("Interviewer", "How long have you been unwell?"),
                    ("P7", "About ten years.\nIt started after university.\n\nNote: the line above is not a speaker."),
                    ("Interviewer", "Thank you.")]
    assert parsed.participant_labels == ["P7"]


def test_windows_line_endings_are_kept_as_two_code_points(tmp_path):
    path = tmp_path / "C2.txt"
    path.write_bytes("C2: one\r\nC2: two\r\n".encode("utf-8"))
    parsed = read_transcript(path)
    assert parsed.text == "C2: one\r\nC2: two\r\n"
    assert [(t.start, t.end) for t in parsed.turns] == [(4, 7), (13, 16)]


def test_docx_paragraphs_become_lines_with_turns(tmp_path):
    document = docx.Document()
    document.add_paragraph("Interviewer: What helped?")
    document.add_paragraph("C3: Continuity of care.")
    document.save(tmp_path / "C3.docx")
    parsed = read_transcript(tmp_path / "C3.docx")
    assert parsed.text == "Interviewer: What helped?\nC3: Continuity of care.\n"
    assert [(t.speaker, parsed.text[t.start:t.end]) for t in parsed.turns] == [
        ("Interviewer", "What helped?"), ("C3", "Continuity of care.")]


def test_vtt_voices_and_srt_prefixes_become_speaker_turns(tmp_path):
    (tmp_path / "P2.vtt").write_text(
        "WEBVTT\n\n00:00:01.000 --> 00:00:03.000\n<v Interviewer>How are things?\n\n"
        "00:00:03.500 --> 00:00:05.000\n<v P2>Hard, honestly.\n\n"
        "00:00:05.000 --> 00:00:07.000\n<v P2>Very hard.\n", encoding="utf-8")
    parsed = read_transcript(tmp_path / "P2.vtt")
    assert parsed.text == "Interviewer: How are things?\nP2: Hard, honestly. Very hard.\n"
    assert [(t.speaker, parsed.text[t.start:t.end]) for t in parsed.turns] == [
        ("Interviewer", "How are things?"), ("P2", "Hard, honestly. Very hard.")]
    (tmp_path / "C1.srt").write_text(
        "1\n00:00:01,000 --> 00:00:02,000\nInterviewer: Your role?\n\n"
        "2\n00:00:02,500 --> 00:00:04,000\nC1: Psychiatrist.\n", encoding="utf-8")
    parsed = read_transcript(tmp_path / "C1.srt")
    assert parsed.text == "Interviewer: Your role?\nC1: Psychiatrist.\n"
    assert [parsed.text[t.start:t.end] for t in parsed.turns] == ["Your role?", "Psychiatrist."]


def test_unsupported_or_missing_transcripts_are_input_errors(tmp_path):
    (tmp_path / "a.pdf").write_bytes(b"%PDF")
    with pytest.raises(InputError, match="unsupported transcript type"):
        read_transcript(tmp_path / "a.pdf")
    with pytest.raises(InputError, match="not found"):
        read_transcript(tmp_path / "nope.txt")
    (tmp_path / "bad.txt").write_bytes(b"\xff\xfe\x00bad")
    with pytest.raises(InputError, match="not UTF-8"):
        read_transcript(tmp_path / "bad.txt")


def test_import_links_interviewee_and_keeps_interview_order(tmp_path):
    for name in ("P1", "C1"):
        (tmp_path / f"{name}.txt").write_text(f"Interviewer: Hello.\n{name}: Hello back.\n", encoding="utf-8")
    project = create_project(tmp_path / "p.qual", "t")
    assert import_transcripts(project, [tmp_path / "C1.txt", tmp_path / "P1.txt"]) == ["C1", "P1"]
    with project.reading() as s:
        docs = s.scalars(select(m.Document).order_by(m.Document.interview_order)).all()
        assert [(d.name, d.interview_order, d.participant.label, d.participant.role) for d in docs] == [
            ("C1", 1, "C1", m.ROLE_CLINICIAN), ("P1", 2, "P1", m.ROLE_PERSON_WITH_TRD)]
        assert [(t.speaker.label, docs[0].text[t.start:t.end]) for t in docs[0].turns] == [
            ("Interviewer", "Hello."), ("C1", "Hello back.")]
    # Importing the same name again fails and adds nothing.
    with pytest.raises(InputError, match="already in the project"):
        import_transcripts(project, [tmp_path / "P1.txt"])
    with project.reading() as s:
        assert s.scalar(select(func.count(m.Document.id))) == 2
    project.close()


def test_participants_csv_sets_roles_and_typed_attributes(tmp_path):
    (tmp_path / "people.csv").write_text("participant,role,age,gender\nP1,person with TRD,44,Female\n"
                                         "C1,clinician,52,Male\n", encoding="utf-8")
    project = create_project(tmp_path / "p.qual", "t")
    assert import_participants(project, tmp_path / "people.csv") == 2
    with project.reading() as s:
        p1 = s.scalar(select(m.Participant).where(m.Participant.label == "P1"))
        assert p1.role == m.ROLE_PERSON_WITH_TRD
        assert {(a.name, a.value, a.value_type) for a in p1.attributes} == {("age", "44", "Integer"),
                                                                            ("gender", "Female", "Text")}
    (tmp_path / "bad.csv").write_text("participant,role\nP2,doctor\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"bad.csv, row 2, column 'role'.*'doctor'"):
        import_participants(project, tmp_path / "bad.csv")
    project.close()


def test_codebooks_from_yaml_and_csv_build_the_same_hierarchy(tmp_path):
    (tmp_path / "book.yaml").write_text(
        "codes:\n  - name: Barriers\n    color: '#d62728'\n    children:\n"
        "      - name: Organisational\n        children:\n          - {name: Waiting lists, definition: Long waits}\n"
        "          - No dedicated funding\n", encoding="utf-8")
    (tmp_path / "book.csv").write_text(
        "theme,subtheme,code,definition,color\nBarriers,,,,#d62728\nBarriers,Organisational,Waiting lists,Long waits,\n"
        "Barriers,Organisational,No dedicated funding,,\n", encoding="utf-8")
    tables = []
    for name in ("book.yaml", "book.csv"):
        project = create_project(tmp_path / f"{name}.qual", "t")
        import_codebook(project, tmp_path / name)
        tables.append(codebook_table(project)[["depth", "path", "definition", "color"]])
        project.close()
    expected = [(0, "Barriers", None, "#d62728"), (1, "Barriers / Organisational", None, None),
                (2, "Barriers / Organisational / Waiting lists", "Long waits", None),
                (2, "Barriers / Organisational / No dedicated funding", None, None)]
    for table in tables:
        assert [tuple(None if v != v else v for v in row) for row in table.itertuples(index=False)] == expected


def test_bad_colour_in_codebook_names_file_and_row(tmp_path):
    (tmp_path / "book.csv").write_text("code,color\nHope,red\n", encoding="utf-8")
    project = create_project(tmp_path / "p.qual", "t")
    with pytest.raises(InputError, match=r"book.csv.*colour.*row 2: red"):
        import_codebook(project, tmp_path / "book.csv")
    project.close()


def test_coding_by_quote_and_by_offsets_and_atomic_on_error(tmp_path):
    # "P1: The " is 8 code points; "side effects outweighed" 23; "benefits" starts after 36.
    (tmp_path / "P1.txt").write_text("P1: The side effects outweighed any benefits.\n", encoding="utf-8")
    project = create_project(tmp_path / "p.qual", "t")
    import_transcripts(project, [tmp_path / "P1.txt"])
    (tmp_path / "codes.csv").write_text(
        "document,code,coder,quote,start,end\n"
        "P1,Treatment / Side effects,Alex,side  effects\toutweighed,,\n"  # white space differs from the text
        "P1,Treatment / Benefit,Sam,,36,44\n", encoding="utf-8")
    assert code_from_table(project, tmp_path / "codes.csv") == 2
    with project.reading() as s:
        segments = s.scalars(select(m.Segment).order_by(m.Segment.id)).all()
        assert [(x.code.path(), x.coder.name, x.start, x.end, x.text) for x in segments] == [
            ("Treatment / Side effects", "Alex", 8, 31, "side effects outweighed"),
            ("Treatment / Benefit", "Sam", 36, 44, "benefits")]
    (tmp_path / "bad.csv").write_text("document,code,coder,quote\nP1,Hope,Alex,side effects\n"
                                      "P1,Hope,Alex,words nobody said\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"bad.csv, row 3, column 'quote': quote not found"):
        code_from_table(project, tmp_path / "bad.csv")
    with project.reading() as s:
        assert s.scalar(select(func.count(m.Segment.id))) == 2  # the good first row was not kept either
        assert s.scalar(select(m.Code).where(m.Code.name == "Hope")) is None
    project.close()


def test_find_turns_ignores_ordinary_colons():
    assert find_turns("Time: 10:00\nAgenda: none\n") == []
