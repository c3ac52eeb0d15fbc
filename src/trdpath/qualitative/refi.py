"""REFI-QDA exchange: whole projects (.qdpx = zip of project.qde + Sources/) and codebooks (.qdc).

Reading ignores namespaces (files in the wild use ``urn:QDA-XML:project:1.0``, ``urn:QDA-XML:codebook:1.0`` and
``urn:QDA-XML:codebook:0:4``) and accepts sources given inline (PlainTextContent) or as files
(``plainTextPath="internal://..."`` inside the zip, as NVivo, ATLAS.ti and MAXQDA write them, or relative to
``basePath``). Writing produces files that validate against the REFI-QDA 1.0 schema shipped in ``schema/``.
Offsets are Unicode code points, end-exclusive.
"""

from __future__ import annotations

import io
import uuid
import zipfile
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath

from lxml import etree
from sqlalchemy import select

from trdpath import __version__
from trdpath.errors import InputError
from trdpath.qualitative import models as m
from trdpath.qualitative.coding import get_coder, get_participant, set_attribute
from trdpath.qualitative.store import QualProject, atomic_write_bytes, create_project
from trdpath.qualitative.transcripts import find_turns

SCHEMA_DIR = Path(__file__).parent / "schema"
PROJECT_XSD = SCHEMA_DIR / "Project-mrt2019.xsd"
CODEBOOK_XSD = SCHEMA_DIR / "Codebook-mrt2019.xsd"
PROJECT_NS = "urn:QDA-XML:project:1.0"
CODEBOOK_NS = "urn:QDA-XML:codebook:1.0"
ORIGIN = f"trdpath {__version__}"


# ----------------------------------------------------------------------------------------------- validation
def validate_xml(xml: bytes, xsd: Path) -> list[str]:
    """Schema errors of an XML document (empty when valid), checked with xmlschema."""
    import xmlschema

    schema = xmlschema.XMLSchema(str(xsd))
    return [str(error.reason or error) + f" (at {error.path})" for error in schema.iter_errors(io.BytesIO(xml))]


def qdpx_project_xml(path: str | Path) -> bytes:
    with zipfile.ZipFile(path) as archive:
        names = [n for n in archive.namelist() if n.lower().endswith(".qde")]
        if not names:
            raise InputError("no .qde project file inside the archive", file=str(path))
        return archive.read(names[0])


# ----------------------------------------------------------------------------------------------- writing
def _q(tag: str, ns: str = PROJECT_NS) -> str:
    return f"{{{ns}}}{tag}"


def _stamp(value: datetime | None) -> str:
    value = value or datetime.now(timezone.utc)
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _code_element(parent: etree._Element, code: m.Code, ns: str, code_notes: dict[int, list[str]] | None) -> None:
    attrs = {"guid": code.guid, "name": code.name, "isCodable": "true" if code.is_codable else "false"}
    if code.color:
        attrs["color"] = code.color
    element = etree.SubElement(parent, _q("Code", ns), attrs)
    if code.definition:
        etree.SubElement(element, _q("Description", ns)).text = code.definition
    for note_guid in (code_notes or {}).get(code.id, []):
        etree.SubElement(element, _q("NoteRef", ns), targetGUID=note_guid)
    for child in code.children:
        _code_element(element, child, ns, code_notes)


def _roots(s) -> list[m.Code]:  # noqa: ANN001
    return list(s.scalars(select(m.Code).where(m.Code.parent_id.is_(None)).order_by(m.Code.position, m.Code.id)))


def codebook_xml(project: QualProject) -> bytes:
    with project.reading() as s:
        roots = _roots(s)
        if not roots:
            raise InputError("the codebook is empty; REFI-QDA needs at least one code")
        root = etree.Element(_q("CodeBook", CODEBOOK_NS), nsmap={None: CODEBOOK_NS}, origin=ORIGIN)
        codes = etree.SubElement(root, _q("Codes", CODEBOOK_NS))
        for code in roots:
            _code_element(codes, code, CODEBOOK_NS, None)
    return etree.tostring(root, xml_declaration=True, encoding="utf-8", pretty_print=True)


def _variable_value(parent: etree._Element, variable_guid: str, value: str | None, value_type: str) -> None:
    element = etree.SubElement(parent, _q("VariableValue"))
    etree.SubElement(element, _q("VariableRef"), targetGUID=variable_guid)
    tag = {"Text": "TextValue", "Integer": "IntegerValue", "Float": "FloatValue", "Boolean": "BooleanValue",
           "Date": "DateValue", "DateTime": "DateTimeValue"}[value_type]
    if value is not None:
        etree.SubElement(element, _q(tag)).text = value


def project_xml(project: QualProject) -> tuple[bytes, dict[str, str]]:
    """The project.qde XML and the source texts to store under Sources/ (name -> text)."""
    files: dict[str, str] = {}
    with project.reading() as s:
        info = s.scalar(select(m.ProjectInfo))
        root = etree.Element(_q("Project"), nsmap={None: PROJECT_NS}, name=info.name if info else "project",
                             origin=ORIGIN, creationDateTime=_stamp(info.created_at if info else None))
        memos = list(s.scalars(select(m.Memo).order_by(m.Memo.id)))
        notes_by = {"code": {}, "document": {}, "segment": {}}
        project_notes = []
        for memo in memos:
            if memo.segment_id:
                notes_by["segment"].setdefault(memo.segment_id, []).append(memo.guid)
            elif memo.code_id:
                notes_by["code"].setdefault(memo.code_id, []).append(memo.guid)
            elif memo.document_id:
                notes_by["document"].setdefault(memo.document_id, []).append(memo.guid)
            else:
                project_notes.append(memo.guid)

        coders = list(s.scalars(select(m.Coder).order_by(m.Coder.id)))
        if coders:
            users = etree.SubElement(root, _q("Users"))
            for coder in coders:
                etree.SubElement(users, _q("User"), guid=coder.guid, name=coder.name)
        roots = _roots(s)
        if roots:
            codes = etree.SubElement(etree.SubElement(root, _q("CodeBook")), _q("Codes"))
            for code in roots:
                _code_element(codes, code, PROJECT_NS, notes_by["code"])

        participants = list(s.scalars(select(m.Participant).order_by(m.Participant.id)))
        variable_types: dict[str, str] = {}
        if any(p.role for p in participants):
            variable_types["role"] = "Text"
        for p in participants:
            for attribute in p.attributes:
                variable_types.setdefault(attribute.name, attribute.value_type)
        # Stable GUIDs per variable name so repeated exports of one project agree.
        variable_guids = {name: str(uuid.uuid5(uuid.UUID(info.guid) if info else uuid.NAMESPACE_URL, name))
                          for name in variable_types}
        if variable_types:
            variables = etree.SubElement(root, _q("Variables"))
            for name, value_type in variable_types.items():
                etree.SubElement(variables, _q("Variable"), guid=variable_guids[name], name=name,
                                 typeOfVariable=value_type)
        if participants:
            cases = etree.SubElement(root, _q("Cases"))
            for p in participants:
                case = etree.SubElement(cases, _q("Case"), guid=p.guid, name=p.label)
                if p.role:
                    _variable_value(case, variable_guids["role"], p.role, "Text")
                for attribute in p.attributes:
                    _variable_value(case, variable_guids[attribute.name], attribute.value, attribute.value_type)
                for document in sorted(p.documents, key=lambda d: d.id):
                    etree.SubElement(case, _q("SourceRef"), targetGUID=document.guid)

        documents = list(s.scalars(select(m.Document).order_by(m.Document.interview_order, m.Document.id)))
        if documents:
            sources = etree.SubElement(root, _q("Sources"))
            for document in documents:
                file_name = f"{document.guid}.txt"
                files[file_name] = document.text
                source = etree.SubElement(sources, _q("TextSource"), guid=document.guid, name=document.name,
                                          plainTextPath=f"internal://{file_name}",
                                          creationDateTime=_stamp(document.created_at))
                for segment in sorted(document.segments, key=lambda x: (x.start, x.end, x.id)):
                    attrs = {"guid": segment.guid, "startPosition": str(segment.start),
                             "endPosition": str(segment.end), "creationDateTime": _stamp(segment.created_at)}
                    if segment.coder:
                        attrs["creatingUser"] = segment.coder.guid
                    selection = etree.SubElement(source, _q("PlainTextSelection"), attrs)
                    coding_attrs = {"guid": str(uuid.uuid5(uuid.UUID(segment.guid), "coding")),
                                    "creationDateTime": _stamp(segment.created_at)}
                    if segment.coder:
                        coding_attrs["creatingUser"] = segment.coder.guid
                    coding = etree.SubElement(selection, _q("Coding"), coding_attrs)
                    etree.SubElement(coding, _q("CodeRef"), targetGUID=segment.code.guid)
                    for note_guid in notes_by["segment"].get(segment.id, []):
                        etree.SubElement(selection, _q("NoteRef"), targetGUID=note_guid)
                for note_guid in notes_by["document"].get(document.id, []):
                    etree.SubElement(source, _q("NoteRef"), targetGUID=note_guid)
        if memos:
            notes = etree.SubElement(root, _q("Notes"))
            for memo in memos:
                attrs = {"guid": memo.guid, "creationDateTime": _stamp(memo.created_at)}
                if memo.title:
                    attrs["name"] = memo.title
                if memo.coder:
                    attrs["creatingUser"] = memo.coder.guid
                note = etree.SubElement(notes, _q("Note"), attrs)
                etree.SubElement(note, _q("PlainTextContent")).text = memo.text
        if info and info.description:
            etree.SubElement(root, _q("Description")).text = info.description
        for note_guid in project_notes:
            etree.SubElement(root, _q("NoteRef"), targetGUID=note_guid)
    return etree.tostring(root, xml_declaration=True, encoding="utf-8", pretty_print=True), files


def export_qdpx(project: QualProject, path: str | Path, *, validate: bool = True) -> Path:
    """Write a .qdpx (zip: project.qde + Sources/*.txt), checked against the REFI-QDA 1.0 schema first."""
    xml, files = project_xml(project)
    if validate:
        errors = validate_xml(xml, PROJECT_XSD)
        if errors:
            raise InputError("export does not validate against REFI-QDA 1.0: " + "; ".join(errors[:5]))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("project.qde", xml)
        for name, text in files.items():
            archive.writestr(f"Sources/{name}", text.encode("utf-8"))
    return atomic_write_bytes(path, buffer.getvalue())


def export_qdc(project: QualProject, path: str | Path, *, validate: bool = True) -> Path:
    xml = codebook_xml(project)
    if validate:
        errors = validate_xml(xml, CODEBOOK_XSD)
        if errors:
            raise InputError("codebook does not validate against the REFI-QDA codebook schema: "
                             + "; ".join(errors[:5]))
    return atomic_write_bytes(path, xml)


# ----------------------------------------------------------------------------------------------- reading
def _local(element: etree._Element) -> str:
    return etree.QName(element).localname


def _children(element: etree._Element, name: str) -> list[etree._Element]:
    return [c for c in element if isinstance(c.tag, str) and _local(c) == name]


def _child(element: etree._Element, name: str) -> etree._Element | None:
    found = _children(element, name)
    return found[0] if found else None


def _text_of(element: etree._Element, name: str) -> str | None:
    child = _child(element, name)
    return child.text if child is not None else None


def _guid(value: str | None) -> str:
    """REFI GUIDs may be wrapped in braces (NVivo); store them bare and lower-case."""
    return (value or str(uuid.uuid4())).strip("{}").lower()


def _parse_xml(data: bytes, file: str) -> etree._Element:
    try:
        return etree.fromstring(data, etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True))
    except etree.XMLSyntaxError as exc:
        raise InputError(f"not well-formed XML: {exc}", file=file) from exc


def _import_codes(s, parent_element: etree._Element, parent: m.Code | None,  # noqa: ANN001
                  by_guid: dict[str, m.Code]) -> None:
    for position, element in enumerate(_children(parent_element, "Code")):
        name = element.get("name")
        if not name:
            raise InputError("a Code without a name", value=element.get("guid"))
        guid = _guid(element.get("guid"))
        existing = s.scalar(select(m.Code).where(
            m.Code.name == name, m.Code.parent_id.is_(None) if parent is None else m.Code.parent_id == parent.id))
        if existing is None:
            existing = m.Code(guid=guid if s.scalar(select(m.Code.id).where(m.Code.guid == guid)) is None
                              else str(uuid.uuid4()),
                              name=name, parent=parent, position=position)
            s.add(existing)
        existing.definition = _text_of(element, "Description") or existing.definition
        color = element.get("color")
        if color:
            existing.color = color if len(color) == 7 else "#" + "".join(ch * 2 for ch in color[1:])
        existing.is_codable = element.get("isCodable", "true").lower() != "false"
        s.flush()
        by_guid[guid] = existing
        _import_codes(s, element, existing, by_guid)


def import_qdc(project: QualProject, path: str | Path, *, who: str | None = None) -> int:
    """Merge a REFI-QDA codebook into the project's codebook (codes matched by path); returns codes read."""
    if not Path(path).is_file():
        raise InputError("codebook file not found", file=str(path))
    root = _parse_xml(Path(path).read_bytes(), str(path))
    codes = _child(root, "Codes")
    if codes is None:
        raise InputError("no <Codes> in the codebook", file=str(path))
    by_guid: dict[str, m.Code] = {}
    with project.transaction(who) as s:
        _import_codes(s, codes, None, by_guid)
    return len(by_guid)


def _read_source_text(source: etree._Element, archive: zipfile.ZipFile | None, base_path: str | None,
                      file: str) -> str:
    inline = _text_of(source, "PlainTextContent")
    if inline is not None:
        return inline
    location = source.get("plainTextPath")
    if not location:
        raise InputError(f"source {source.get('name')!r} has neither PlainTextContent nor plainTextPath", file=file)
    data = None
    if location.startswith("internal://"):
        wanted = location[len("internal://"):]
        if archive is not None:
            for name in archive.namelist():
                # NVivo writes Sources/<guid>.txt, some tools nest deeper or change case.
                if PurePosixPath(name).name.lower() == PurePosixPath(wanted).name.lower() or name == wanted:
                    data = archive.read(name)
                    break
    else:
        relative = location[len("relative://"):] if location.startswith("relative://") else location
        candidate = Path(base_path or "") / relative if location.startswith("relative://") else Path(relative)
        if location.startswith("absolute://"):
            candidate = Path(location[len("absolute://"):])
        if candidate.is_file():
            data = candidate.read_bytes()
    if data is None:
        raise InputError(f"text of source {source.get('name')!r} not found at {location}", file=file)
    return data.decode("utf-8-sig")


def _typed_value(element: etree._Element) -> tuple[str | None, str]:
    for tag, value_type in (("TextValue", "Text"), ("IntegerValue", "Integer"), ("FloatValue", "Float"),
                            ("BooleanValue", "Boolean"), ("DateValue", "Date"), ("DateTimeValue", "DateTime")):
        child = _child(element, tag)
        if child is not None:
            return child.text, value_type
    return None, "Text"


def _parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def import_qdpx_into(project: QualProject, path: str | Path, *, who: str | None = None) -> dict[str, int]:
    """Read a .qdpx (or a bare .qde) into an existing project in one transaction; returns counts read."""
    path = Path(path)
    if not path.is_file():
        raise InputError("REFI-QDA project file not found", file=str(path))
    archive = None
    try:
        if zipfile.is_zipfile(path):
            archive = zipfile.ZipFile(path)
            xml = qdpx_project_xml(path)
        else:
            xml = path.read_bytes()
        root = _parse_xml(xml, str(path))
        if _local(root) != "Project":
            raise InputError(f"root element is <{_local(root)}>, expected <Project>", file=str(path))
        counts = dict(codes=0, sources=0, segments=0, memos=0, cases=0, users=0, skipped_non_text_sources=0)
        with project.transaction(who) as s:
            info = s.scalar(select(m.ProjectInfo))
            if info is not None and root.get("name") and info.name in ("", "imported"):
                info.name = root.get("name")
            users: dict[str, m.Coder] = {}
            for user in _children(_child(root, "Users") if _child(root, "Users") is not None else root, "User"):
                coder = get_coder(s, user.get("name") or user.get("id") or _guid(user.get("guid"))[:8])
                users[_guid(user.get("guid"))] = coder
                counts["users"] += 1
            codes_by_guid: dict[str, m.Code] = {}
            codebook = _child(root, "CodeBook")
            if codebook is not None and _child(codebook, "Codes") is not None:
                _import_codes(s, _child(codebook, "Codes"), None, codes_by_guid)
            counts["codes"] = len(codes_by_guid)

            notes: dict[str, etree._Element] = {}
            notes_parent = _child(root, "Notes")
            if notes_parent is not None:
                for note in _children(notes_parent, "Note"):
                    notes[_guid(note.get("guid"))] = note

            def make_memo(note_guid: str, **target) -> None:  # noqa: ANN003
                note = notes.get(_guid(note_guid))
                if note is None:
                    return
                text = _read_source_text(note, archive, root.get("basePath"), str(path)) if (
                    _child(note, "PlainTextContent") is not None or note.get("plainTextPath")) else ""
                memo = m.Memo(guid=_guid(note.get("guid")), title=note.get("name"), text=text or "",
                              coder=users.get(_guid(note.get("creatingUser"))) if note.get("creatingUser")
                              else None, **target)
                memo.created_at = _parse_time(note.get("creationDateTime")) or memo.created_at
                s.add(memo)
                counts["memos"] += 1
                notes.pop(_guid(note_guid))

            for code_element in codebook.iter() if codebook is not None else []:
                if isinstance(code_element.tag, str) and _local(code_element) == "Code":
                    for ref in _children(code_element, "NoteRef"):
                        make_memo(ref.get("targetGUID"), code=codes_by_guid[_guid(code_element.get("guid"))])

            variables = {}
            if _child(root, "Variables") is not None:
                for variable in _children(_child(root, "Variables"), "Variable"):
                    variables[_guid(variable.get("guid"))] = (variable.get("name"),
                                                              variable.get("typeOfVariable") or "Text")
            documents: dict[str, m.Document] = {}
            sources = _child(root, "Sources")
            if sources is not None:
                # PDF, picture, audio and video sources are not analysed here; say how many were left out.
                counts["skipped_non_text_sources"] = sum(
                    1 for c in sources if isinstance(c.tag, str) and _local(c) != "TextSource")
            for order, source in enumerate(_children(sources, "TextSource") if sources is not None else [],
                                           start=1):
                text = _read_source_text(source, archive, root.get("basePath"), str(path))
                name = source.get("name") or f"source {order}"
                if s.scalar(select(m.Document.id).where(m.Document.name == name)) is not None:
                    raise InputError(f"a document named {name!r} is already in the project", file=str(path))
                document = m.Document(guid=_guid(source.get("guid")), name=name, text=text,
                                      interview_order=order, source_format="qdpx")
                s.add(document)
                speakers: dict[str, m.Speaker] = {}
                for turn in find_turns(text):
                    if turn.speaker not in speakers:
                        speakers[turn.speaker] = m.Speaker(label=turn.speaker, document=document)
                        s.add(speakers[turn.speaker])
                    speaker = speakers[turn.speaker]
                    document.turns.append(m.Turn(speaker=speaker, start=turn.start, end=turn.end))
                s.flush()
                documents[document.guid] = document
                counts["sources"] += 1
                whole_codings = [(c, 0, len(text)) for c in _children(source, "Coding")]
                for selection in _children(source, "PlainTextSelection"):
                    start, end = int(selection.get("startPosition")), int(selection.get("endPosition"))
                    if not (0 <= start < end <= len(text)):
                        raise InputError(f"selection {start}-{end} is outside source {name!r} "
                                         f"({len(text)} characters)", file=str(path))
                    first_segment = None
                    for coding in _children(selection, "Coding"):
                        code_ref = _child(coding, "CodeRef")
                        code = codes_by_guid.get(_guid(code_ref.get("targetGUID"))) if code_ref is not None else None
                        if code is None:
                            raise InputError("a Coding refers to a code that is not in the codebook",
                                             file=str(path), value=code_ref.get("targetGUID") if code_ref
                                             is not None else None)
                        creator = coding.get("creatingUser") or selection.get("creatingUser")
                        segment = m.Segment(
                            guid=_guid(selection.get("guid")) if first_segment is None else str(uuid.uuid4()),
                            document=document, code=code, coder=users.get(_guid(creator)) if creator else None,
                            start=start, end=end)
                        segment.created_at = (_parse_time(coding.get("creationDateTime"))
                                              or _parse_time(selection.get("creationDateTime")) or segment.created_at)
                        s.add(segment)
                        first_segment = first_segment or segment
                        counts["segments"] += 1
                    s.flush()
                    for ref in _children(selection, "NoteRef"):
                        if first_segment is not None:
                            make_memo(ref.get("targetGUID"), segment=first_segment)
                        else:
                            make_memo(ref.get("targetGUID"), document=document)
                for coding, start, end in whole_codings:  # codings of a whole source
                    code_ref = _child(coding, "CodeRef")
                    code = codes_by_guid.get(_guid(code_ref.get("targetGUID"))) if code_ref is not None else None
                    if code is not None and end > start:
                        s.add(m.Segment(document=document, code=code, start=start, end=end,
                                        coder=users.get(_guid(coding.get("creatingUser")))
                                        if coding.get("creatingUser") else None))
                        counts["segments"] += 1
                for ref in _children(source, "NoteRef"):
                    make_memo(ref.get("targetGUID"), document=document)

            cases = _child(root, "Cases")
            for case in _children(cases, "Case") if cases is not None else []:
                label = case.get("name") or _guid(case.get("guid"))[:8]
                participant = get_participant(s, label)
                participant.guid = _guid(case.get("guid"))
                for value_element in _children(case, "VariableValue"):
                    ref = _child(value_element, "VariableRef")
                    variable_name, declared_type = variables.get(_guid(ref.get("targetGUID")), (None, "Text")) \
                        if ref is not None else (None, "Text")
                    if not variable_name:
                        continue
                    value, value_type = _typed_value(value_element)
                    if value is None:  # an empty value keeps the variable's declared type
                        value_type = declared_type
                    if variable_name == "role":
                        participant.role = value
                    else:
                        set_attribute(s, participant, variable_name, value, value_type)
                for ref in _children(case, "SourceRef"):
                    document = documents.get(_guid(ref.get("targetGUID")))
                    if document is not None:
                        document.participant = participant
                counts["cases"] += 1
            for ref in _children(root, "NoteRef"):
                make_memo(ref.get("targetGUID"))
            for note_guid in list(notes):  # notes nobody points to are project memos; never drop text
                make_memo(note_guid)
    finally:
        if archive is not None:
            archive.close()
    return counts


def import_qdpx(path: str | Path, project_location: str | Path, *, who: str | None = None) -> QualProject:
    """Create a new project from a .qdpx file."""
    if not Path(path).is_file():
        raise InputError("REFI-QDA project file not found", file=str(path))
    root = _parse_xml(qdpx_project_xml(path) if zipfile.is_zipfile(path) else Path(path).read_bytes(), str(path))
    project = create_project(project_location, root.get("name") or "imported",
                             description=_text_of(root, "Description"))
    try:
        import_qdpx_into(project, path, who=who)
    except BaseException:
        project.close()
        # We created this project for the import: remove it so a failed import leaves nothing behind.
        if "://" not in str(project_location):
            for suffix in ("", "-wal", "-shm"):
                Path(f"{Path(project_location).resolve()}{suffix}").unlink(missing_ok=True)
        raise
    return project
