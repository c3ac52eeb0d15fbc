"""REFI-QDA exchange: whole projects (.qdpx = zip of project.qde + Sources/) and codebooks (.qdc).

Reading ignores namespaces (files in the wild use ``urn:QDA-XML:project:1.0``, ``urn:QDA-XML:codebook:1.0`` and
``urn:QDA-XML:codebook:0:4``) and accepts sources given inline (PlainTextContent) or as files inside the archive,
however the tool names them (``internal://x.txt``, a bare ``x.txt`` stored under ``Sources/``, ``Sources/x.txt``,
any case). Nothing outside the archive is ever read: absolute, ``absolute://``, ``..`` and other-scheme paths are
refused with a message naming the source. Limits bound what an archive may expand to (``ImportLimits``); internal
DTD entities are expanded within libxml2's amplification limit, never silently dropped. Writing produces files
that validate against the REFI-QDA 1.0 schema shipped in ``schema/``. Offsets are Unicode code points,
end-exclusive.
"""

from __future__ import annotations

import codecs
import functools
import io
import re
import uuid
import zipfile
import zlib
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath

from lxml import etree
from sqlalchemy import select

from trdpath import __version__
from trdpath.errors import InputError, UserError
from trdpath.qualitative import models as m
from trdpath.qualitative.coding import create_if_absent, get_coder, get_participant, set_attribute
from trdpath.qualitative.store import QualProject, atomic_write_bytes, create_project
from trdpath.qualitative.transcripts import find_turns

SCHEMA_DIR = Path(__file__).parent / "schema"
PROJECT_XSD = SCHEMA_DIR / "Project-mrt2019.xsd"
CODEBOOK_XSD = SCHEMA_DIR / "Codebook-mrt2019.xsd"
PROJECT_NS = "urn:QDA-XML:project:1.0"
CODEBOOK_NS = "urn:QDA-XML:codebook:1.0"
ORIGIN = f"trdpath {__version__}"


# ----------------------------------------------------------------------------------------------- validation
@functools.lru_cache(maxsize=4)
def _libxml2_schema(xsd: Path) -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(xsd)))


def validate_xml(xml: bytes, xsd: Path, *, engine: str = "libxml2") -> list[str]:
    """Schema errors of an XML document (empty when valid). libxml2 (through lxml) by default: xmlschema, a
    pure-Python validator kept as the second opinion in the tests, took 57 s of a 60 s export of 20,000
    selections."""
    if engine == "xmlschema":
        import xmlschema

        schema = xmlschema.XMLSchema(str(xsd))
        return [str(error.reason or error) + f" (at {error.path})" for error in schema.iter_errors(io.BytesIO(xml))]
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    try:
        document = etree.fromstring(xml, parser)
    except etree.XMLSyntaxError as exc:
        return [f"not well-formed XML: {exc}"]
    schema = _libxml2_schema(Path(xsd))
    if schema.validate(document):
        return []
    return [f"{error.message} (line {error.line})" for error in schema.error_log]


def qdpx_project_xml(path: str | Path) -> bytes:
    archive = _Archive(Path(path), DEFAULT_LIMITS)
    try:
        return archive.read(archive.project_entry(), "the project")
    finally:
        archive.close()


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
        placed: dict[tuple[str, int], list[m.Memo]] = {}
        for memo in memos:
            if memo.selection_id:
                placed.setdefault(("selection", memo.selection_id), []).append(memo)
                continue
            if memo.segment_id:
                placed.setdefault(("segment", memo.segment_id), []).append(memo)
                continue  # written with its selection or coding (see _selection_element)
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
                user = etree.SubElement(users, _q("User"), guid=coder.guid, name=coder.name)
                if coder.initials:
                    user.set("id", coder.initials)
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
                if p.description:
                    etree.SubElement(case, _q("Description")).text = p.description
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
                attrs = {"guid": document.guid, "name": document.name, "plainTextPath": f"internal://{file_name}"}
                if document.creator:
                    attrs["creatingUser"] = document.creator.guid
                attrs["creationDateTime"] = _stamp(document.created_at)
                if document.modifier:
                    attrs["modifyingUser"] = document.modifier.guid
                if document.modified_at:
                    attrs["modifiedDateTime"] = _stamp(document.modified_at)
                source = etree.SubElement(sources, _q("TextSource"), attrs)
                if document.description:
                    etree.SubElement(source, _q("Description")).text = document.description
                for selection, group in _selection_groups(s, document):
                    _selection_element(source, selection, group, placed)
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


def _selection_groups(s, document: m.Document) -> list[tuple[m.Selection | None, list[m.Segment]]]:  # noqa: ANN001
    """The document's PlainTextSelections: the segments of one stored selection together (one selection with
    three codes stays one selection), a segment without one (or moved off its span) on its own."""
    groups: dict[object, tuple[m.Selection | None, list[m.Segment]]] = {}
    for selection in s.scalars(select(m.Selection).where(m.Selection.document_id == document.id)):
        groups[("selection", selection.id)] = (selection, [])
    for segment in sorted(document.segments, key=lambda x: (x.start, x.end, x.id)):
        selection = segment.selection
        if selection is not None and (selection.start, selection.end) == (segment.start, segment.end):
            groups[("selection", selection.id)][1].append(segment)
        else:
            groups[("segment", segment.id)] = (None, [segment])

    def order(item: tuple[m.Selection | None, list[m.Segment]]) -> tuple:
        selection, segments = item
        span = (selection.start, selection.end) if selection is not None else (segments[0].start, segments[0].end)
        return (*span, selection.id if selection is not None else 0, segments[0].id if segments else 0)

    # A selection whose codings all moved away and that carries no note is not written.
    return sorted((g for g in groups.values() if g[1] or g[0] is None or _has_notes(s, g[0])), key=order)


def _has_notes(s, selection: m.Selection) -> bool:  # noqa: ANN001
    return s.scalar(select(m.Memo.id).where(m.Memo.selection_id == selection.id).limit(1)) is not None


def _selection_element(source: etree._Element, selection: m.Selection | None, segments: list[m.Segment],
                       memos: dict[tuple[str, int], list[m.Memo]]) -> None:
    """One PlainTextSelection; `memos` maps ("selection", id) and ("segment", id) to the notes placed there."""
    first = segments[0] if segments else None
    if selection is not None:
        attrs = {"guid": selection.guid}
        if selection.name:
            attrs["name"] = selection.name
        attrs.update(startPosition=str(selection.start), endPosition=str(selection.end))
        creator = selection.creator or (first.coder if first else None)
        created = selection.created_at or (first.created_at if first else None)
    else:  # a segment made in trdpath: one selection per segment, its GUID the segment's
        attrs = {"guid": first.guid, "startPosition": str(first.start), "endPosition": str(first.end)}
        creator, created = first.coder, first.created_at
    if creator:
        attrs["creatingUser"] = creator.guid
    attrs["creationDateTime"] = _stamp(created)
    if selection is not None and selection.modifier:
        attrs["modifyingUser"] = selection.modifier.guid
    if selection is not None and selection.modified_at:
        attrs["modifiedDateTime"] = _stamp(selection.modified_at)
    element = etree.SubElement(source, _q("PlainTextSelection"), attrs)
    if selection is not None and selection.description:
        etree.SubElement(element, _q("Description")).text = selection.description
    for segment in segments:
        coding_attrs = {"guid": segment.guid if selection is not None else str(uuid.uuid5(uuid.UUID(segment.guid),
                                                                                           "coding")),
                        "creationDateTime": _stamp(segment.created_at)}
        if segment.coder:
            coding_attrs["creatingUser"] = segment.coder.guid
        coding = etree.SubElement(element, _q("Coding"), coding_attrs)
        etree.SubElement(coding, _q("CodeRef"), targetGUID=segment.code.guid)
        if selection is not None:  # a note on this coding alone (REFI Coding/NoteRef)
            for memo in memos.get(("segment", segment.id), []):
                etree.SubElement(coding, _q("NoteRef"), targetGUID=memo.guid)
    if selection is not None:
        notes = memos.get(("selection", selection.id), [])
    else:  # a segment made in trdpath: its notes sit on its selection
        notes = [memo for segment in segments for memo in memos.get(("segment", segment.id), [])]
    for memo in notes:
        etree.SubElement(element, _q("NoteRef"), targetGUID=memo.guid)


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
MB = 1024 * 1024


@dataclass(frozen=True)
class ImportLimits:
    """What one REFI-QDA file may expand to before trdpath refuses it (a 204 KB .qdpx once expanded to 200 MB).
    Only the entries trdpath reads count towards the total (PDF, audio and video files are never opened)."""

    max_entry_bytes: int = 64 * MB  # one uncompressed entry (project.qde, a source text)
    max_total_bytes: int = 256 * MB  # everything read from one archive, uncompressed
    max_entries: int = 10_000  # entries in the archive's directory

    @classmethod
    def from_megabytes(cls, entry_mb: float | None = None, total_mb: float | None = None,
                       entries: int | None = None) -> ImportLimits:
        default = cls()
        for label, value in (("--max-entry-mb", entry_mb), ("--max-total-mb", total_mb), ("--max-entries", entries)):
            if value is not None and value <= 0:
                raise UserError(f"{label} must be a positive number (got {value})")
        return cls(max_entry_bytes=int(entry_mb * MB) if entry_mb else default.max_entry_bytes,
                   max_total_bytes=int(total_mb * MB) if total_mb else default.max_total_bytes,
                   max_entries=entries or default.max_entries)


DEFAULT_LIMITS = ImportLimits()


def _mb(n: int) -> str:
    return f"{n / MB:.1f} MB"


class _Archive:
    """The entries of a .qdpx, read only through here: within the limits, never a path on the file system."""

    def __init__(self, path: Path, limits: ImportLimits):
        self.path, self.limits, self.total = path, limits, 0
        try:
            self.zip = zipfile.ZipFile(path)
        except (zipfile.BadZipFile, OSError) as exc:
            raise InputError(f"not a readable .qdpx (zip) archive: {exc}", file=str(path)) from exc
        infos = self.zip.infolist()
        if len(infos) > limits.max_entries:
            self.zip.close()
            raise InputError(f"the archive has {len(infos)} entries, over the limit of {limits.max_entries} "
                             "(raise it with --max-entries if the file is trusted)", file=str(path))
        self.files = [i for i in infos if not i.is_dir()]

    def close(self) -> None:
        self.zip.close()

    def project_entry(self) -> zipfile.ZipInfo:
        qde = [i for i in self.files if i.filename.lower().endswith(".qde")]
        top = [i for i in qde if "/" not in i.filename.strip("/")]
        chosen = [i for i in top if i.filename.lower() == "project.qde"] or top or qde
        if not chosen:
            raise InputError("no .qde project file inside the archive", file=str(self.path))
        if len(chosen) > 1:
            raise InputError("several .qde project files inside the archive: "
                             + ", ".join(i.filename for i in chosen), file=str(self.path))
        return chosen[0]

    def find(self, wanted: str) -> zipfile.ZipInfo | None:
        """The entry a source path names: exact, any case, under Sources/, or a unique file name in the archive
        (tools write ``internal://x.txt``, ``x.txt`` and ``Sources/x.txt`` for the same file)."""
        lower = wanted.lower()
        for test in (lambda n: n == wanted, lambda n: n.lower() == lower,
                     lambda n: n.lower() == f"sources/{lower}"):
            found = [i for i in self.files if test(i.filename)]
            if found:
                return found[0]
        base = PurePosixPath(lower).name
        found = [i for i in self.files if PurePosixPath(i.filename.lower()).name == base]
        under_sources = [i for i in found if i.filename.lower().startswith("sources/")]
        found = under_sources or found
        if len(found) > 1:
            raise InputError(f"{wanted!r} matches several archive entries: "
                             + ", ".join(i.filename for i in found), file=str(self.path))
        return found[0] if found else None

    def read(self, info: zipfile.ZipInfo, what: str) -> bytes:
        limits = self.limits
        if info.file_size > limits.max_entry_bytes:
            raise InputError(f"{what}: archive entry {info.filename!r} is {_mb(info.file_size)} uncompressed, over "
                             f"the limit of {_mb(limits.max_entry_bytes)} (raise it with --max-entry-mb if the file "
                             "is trusted)", file=str(self.path))
        chunks, size = [], 0
        try:
            with self.zip.open(info) as fh:
                # Count what is really inflated, not what the directory claims.
                while chunk := fh.read(MB):
                    size += len(chunk)
                    if size > limits.max_entry_bytes:
                        raise InputError(f"{what}: archive entry {info.filename!r} expands beyond the limit of "
                                         f"{_mb(limits.max_entry_bytes)}", file=str(self.path))
                    if self.total + size > limits.max_total_bytes:
                        raise InputError(f"{what}: the archive expands beyond the limit of "
                                         f"{_mb(limits.max_total_bytes)} in total (raise it with --max-total-mb if "
                                         "the file is trusted)", file=str(self.path))
                    chunks.append(chunk)
        except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError) as exc:
            raise InputError(f"{what}: archive entry {info.filename!r} cannot be read: {exc}",
                             file=str(self.path)) from exc
        self.total += size
        return b"".join(chunks)


def _local(element: etree._Element) -> str:
    return etree.QName(element).localname


def _children(element: etree._Element | None, name: str) -> list[etree._Element]:
    if element is None:
        return []
    return [c for c in element if isinstance(c.tag, str) and _local(c) == name]


def _child(element: etree._Element | None, name: str) -> etree._Element | None:
    found = _children(element, name)
    return found[0] if found else None


def _text_of(element: etree._Element, name: str) -> str | None:
    child = _child(element, name)
    return child.text if child is not None else None


_GUID = re.compile(r"^\{?[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\}?$")


def _guid(value: str | None) -> str:
    """REFI GUIDs may be wrapped in braces (NVivo); store them bare and lower-case."""
    return (value or str(uuid.uuid4())).strip().strip("{}").lower()


def _describe(element: etree._Element) -> str:
    """How a message names an element: its tag and its name or GUID, as the user can find it in the file."""
    label = element.get("name") or element.get("guid") or element.get("targetGUID")
    return f"<{_local(element)}{f' {label!r}' if label else ''}>"


def _checked_guid(element: etree._Element, file: str, attribute: str = "guid") -> str:
    value = element.get(attribute)
    if value is None:
        return str(uuid.uuid4())
    if not _GUID.match(value.strip()):
        raise InputError(f"{_describe(element)}: {attribute} is not a GUID", file=file, value=value)
    return _guid(value)


def _parse_xml(data: bytes, file: str, limits: ImportLimits = DEFAULT_LIMITS) -> etree._Element:
    """Parse with internal DTD entities expanded ("A &co; B" keeps its middle) inside libxml2's amplification
    limit; external entities, network access and over-large trees are refused (billion laughs, XXE)."""
    parser = etree.XMLParser(resolve_entities="internal", no_network=True, load_dtd=False, huge_tree=False)
    try:
        root = etree.fromstring(data, parser)
    except etree.XMLSyntaxError as exc:
        text = str(exc)
        if "amplification" in text or "entity" in text.lower() and "loop" in text.lower():
            raise InputError("its XML entities expand far beyond the file's size (an 'entity expansion' or "
                             f"'billion laughs' file); refused: {text}", file=file) from exc
        if "not defined" in text and "Entity" in text:
            raise InputError("it uses an XML entity that is not defined inside the file; external entities are "
                             f"never read: {text}", file=file) from exc
        if "huge" in text.lower():
            raise InputError("an XML text or tree in it is larger than the parser's safety limit (10 MB per text "
                             f"node); refused: {text}", file=file) from exc
        raise InputError(f"not well-formed XML: {text}", file=file) from exc
    except ValueError as exc:  # e.g. an encoding declaration lxml cannot use
        raise InputError(f"not readable XML: {exc}", file=file) from exc
    for node in root.iter():
        if isinstance(node, etree._Entity):  # an entity left unexpanded would silently cut the text around it
            raise InputError(f"the XML entity {node.text} could not be expanded; refused rather than cut the text",
                             file=file)
    expanded = sum(len(t) for t in root.itertext())
    if expanded > limits.max_entry_bytes:
        raise InputError(f"its XML expands to {expanded:,} characters, over the limit of "
                         f"{_mb(limits.max_entry_bytes)} (--max-entry-mb)", file=file)
    return root


_RGB = re.compile(r"^#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})$")


class _Guids:
    """Every GUID in one file is used once; a second use is named with both elements."""

    def __init__(self, file: str):
        self.file, self.seen = file, {}
        self.elements: dict[etree._Element, m.Base] = {}  # what each element became (a Code without a GUID too)

    def claim(self, element: etree._Element) -> str:
        guid = _checked_guid(element, self.file)
        if element.get("guid") is not None:
            if guid in self.seen:
                raise InputError(f"{_describe(element)} has the same guid as {self.seen[guid]}; every GUID in a "
                                 "REFI-QDA file must be unique", file=self.file, value=element.get("guid"))
            self.seen[guid] = _describe(element)
        return guid


def _distinct(name: str, taken: set[str], counts: dict[str, int], kind: str) -> str:
    """`name`, or `name (2)`, `name (3)`... when this file already used it for a sibling: same-name siblings in
    one file are different things (two people called Ruth, two nodes called Waiting) and stay apart."""
    if name in taken:
        k = 2
        while f"{name} ({k})" in taken:
            k += 1
        name = f"{name} ({k})"
        key = f"renamed_same_name_{kind}"
        counts[key] = counts.get(key, 0) + 1
    taken.add(name)
    return name


def _import_codes(s, parent_element: etree._Element, parent: m.Code | None,  # noqa: ANN001
                  by_guid: dict[str, m.Code], guids: _Guids, counts: dict[str, int]) -> None:
    used_here: set[str] = set()
    for position, element in enumerate(_children(parent_element, "Code")):
        guid = guids.claim(element)
        name = (element.get("name") or "").strip()
        if not name:
            raise InputError(f"{_describe(element)} has no name", file=guids.file)
        # Two sibling codes of one name (MAXQDA allows it): keep them apart, never merge their codings.
        name = _distinct(name, used_here, counts, "codes")
        color = element.get("color")
        if color and not _RGB.match(color):
            raise InputError(f"{_describe(element)}: color is not #RGB or #RRGGBB", file=guids.file, value=color)
        existing = create_if_absent(
            s, lambda name=name: s.scalar(select(m.Code).where(
                m.Code.name == name, m.Code.parent_id.is_(None) if parent is None else m.Code.parent_id == parent.id)),
            lambda name=name, guid=guid, position=position: m.Code(guid=_free_guid(s, m.Code, guid), name=name,
                                                                   parent=parent, position=position))
        existing.definition = _text_of(element, "Description") or existing.definition
        if color:
            existing.color = color if len(color) == 7 else "#" + "".join(ch * 2 for ch in color[1:])
        existing.is_codable = (element.get("isCodable") or "true").strip().lower() not in ("false", "0")
        s.flush()
        by_guid[guid] = existing
        guids.elements[element] = existing
        _import_codes(s, element, existing, by_guid, guids, counts)


def _free_guid(s, model, guid: str) -> str:  # noqa: ANN001
    """The file's GUID unless the project already uses it (importing into a project that has it). The project's
    GUIDs are read once per import and table: a query per row would also flush the session per row."""
    cache = s.info.setdefault("trdpath_guids", {})
    if model not in cache:
        with s.no_autoflush:
            cache[model] = set(s.scalars(select(model.guid)))
    taken = cache[model]
    if guid in taken:
        guid = str(uuid.uuid4())
    taken.add(guid)
    return guid


def _read_file(path: Path, limits: ImportLimits) -> bytes:
    if not path.is_file():
        raise InputError("file not found", file=str(path))
    size = path.stat().st_size
    if size > limits.max_entry_bytes:
        raise InputError(f"the file is {_mb(size)}, over the limit of {_mb(limits.max_entry_bytes)} "
                         "(--max-entry-mb)", file=str(path))
    return path.read_bytes()


def import_qdc(project: QualProject, path: str | Path, *, who: str | None = None,
               limits: ImportLimits = DEFAULT_LIMITS) -> int:
    """Merge a REFI-QDA codebook into the project's codebook (codes matched by path); returns codes read."""
    path = Path(path)
    root = _parse_xml(_read_file(path, limits), str(path), limits)
    codes = _child(root, "Codes")
    if codes is None:
        raise InputError("no <Codes> in the codebook", file=str(path))
    by_guid: dict[str, m.Code] = {}
    with project.transaction(who) as s:
        _import_codes(s, codes, None, by_guid, _Guids(str(path)), {})
    return len(by_guid)


_SCHEME = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]*)://(?P<rest>.*)$", re.DOTALL)


def _archive_path(location: str, what: str, file: str) -> str:
    """The path inside the archive that a plainTextPath/richTextPath names, or a refusal naming the source:
    trdpath never reads a file outside the .qdpx (absolute paths, ``absolute://``, ``..``, other schemes)."""
    match = _SCHEME.match(location.strip())
    scheme, rest = (match["scheme"].lower(), match["rest"]) if match else ("", location.strip())
    refusal = (f"{what}: its text is outside the archive ({location!r}); trdpath reads source texts only from "
               "inside the .qdpx, never from this computer's files. Export the project again with its sources "
               "embedded")
    if scheme not in ("", "internal", "relative"):
        raise InputError(refusal, file=file)
    rest = rest.replace("\\", "/")
    if rest.startswith("/") or re.match(r"^[A-Za-z]:", rest) or not rest.strip("/"):
        raise InputError(refusal, file=file)
    parts = [p for p in rest.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise InputError(refusal, file=file)
    if not parts:
        raise InputError(f"{what}: the path {location!r} names no file", file=file)
    if re.match(r"^[A-Za-z]:", parts[0]):  # a Windows drive, however it was reached ("./C:/x")
        raise InputError(refusal, file=file)
    return "/".join(parts)


def _decode(data: bytes, what: str, entry: str, file: str) -> str:
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        encoding = "utf-16"
    else:
        encoding = "utf-8-sig"
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        raise InputError(f"{what}: archive entry {entry!r} is not UTF-8 text (byte 0x{data[exc.start]:02x} at "
                         f"position {exc.start} cannot be decoded)", file=file) from exc


def _docx_text(data: bytes, what: str, entry: str, file: str, archive: _Archive) -> str:
    """Plain text of a rich-text (.docx) source: paragraphs joined by newlines, as transcripts are read."""
    import docx  # python-docx

    try:
        with zipfile.ZipFile(io.BytesIO(data)) as inner:  # a .docx is itself a zip: bound what it inflates
            inflated = sum(i.file_size for i in inner.infolist())
        if inflated > archive.limits.max_entry_bytes:
            raise InputError(f"{what}: {entry!r} expands to {_mb(inflated)}, over the limit of "
                             f"{_mb(archive.limits.max_entry_bytes)}", file=file)
        document = docx.Document(io.BytesIO(data))
    except InputError:
        raise
    except Exception as exc:  # python-docx raises many kinds for a damaged file
        raise InputError(f"{what}: {entry!r} is not a readable .docx: {exc}", file=file) from exc
    return "\n".join(p.text for p in document.paragraphs)


def _source_text(source: etree._Element, archive: _Archive | None, file: str) -> tuple[str, str | None]:
    """A TextSource's (or Note's) text and the file name it came from; inline text first, then the plain-text
    file, then the rich-text file, all inside the archive."""
    what = f"source {_describe(source)}" if _local(source) != "Note" else f"note {_describe(source)}"
    inline = _child(source, "PlainTextContent")
    if inline is not None:
        return inline.text or "", None
    plain, rich = source.get("plainTextPath"), source.get("richTextPath")
    if not plain and not rich:
        raise InputError(f"{what} has neither PlainTextContent nor plainTextPath", file=file)
    # Check both paths before reading either: a hostile richTextPath is refused even when plain text exists.
    wanted = {key: _archive_path(value, what, file) for key, value in (("plain", plain), ("rich", rich)) if value}
    if archive is None:
        raise InputError(f"{what}: its text is in a separate file ({plain or rich!r}) but a bare .qde has no "
                         "archive to hold it; import the .qdpx instead", file=file)
    for key in ("plain", "rich"):
        if key not in wanted:
            continue
        info = archive.find(wanted[key])
        if info is None:
            continue
        data = archive.read(info, what)
        text = _decode(data, what, info.filename, file) if key == "plain" else _docx_text(
            data, what, info.filename, file, archive)
        return text, PurePosixPath(wanted[key]).name
    raise InputError(f"{what}: text not found inside the archive at {plain or rich!r} (looked for it as given, "
                     "in any case and under Sources/); nothing outside the archive is read", file=file)


def _int_attribute(element: etree._Element, attribute: str, what: str, file: str) -> int:
    value = element.get(attribute)
    if value is None:
        raise InputError(f"{what}: {_describe(element)} has no {attribute}", file=file)
    try:
        number = int(value.strip())
    except ValueError:
        raise InputError(f"{what}: {_describe(element)} {attribute} is not a whole number", file=file,
                         value=value) from None
    return number


_VALUE_CHECKS = {"Integer": re.compile(r"^\s*[+-]?\d+\s*$"), "Float": re.compile(r"^\s*[+-]?(\d+\.?\d*|\.\d+)\s*$"),
                 "Boolean": re.compile(r"^\s*(true|false|1|0)\s*$"),
                 "Date": re.compile(r"^\s*-?\d{4,}-\d\d-\d\d(Z|[+-]\d\d:\d\d)?\s*$")}


def _typed_value(element: etree._Element, what: str, file: str) -> tuple[str | None, str]:
    for tag, value_type in (("TextValue", "Text"), ("IntegerValue", "Integer"), ("FloatValue", "Float"),
                            ("BooleanValue", "Boolean"), ("DateValue", "Date"), ("DateTimeValue", "DateTime")):
        child = _child(element, tag)
        if child is not None:
            value = child.text
            check = _VALUE_CHECKS.get(value_type)
            if value is not None and check is not None and not check.match(value):
                raise InputError(f"{what}: <{tag}> is not a valid {value_type.lower()}", file=file, value=value)
            if value is not None and value_type == "DateTime":
                _parse_time(value, what, tag, file)
            return value, value_type
    return None, "Text"


def _parse_time(value: str | None, what: str = "", attribute: str = "creationDateTime",
                file: str | None = None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise InputError(f"{what}: {attribute} is not an ISO 8601 date-time", file=file, value=value) from None


SKIPPED_SOURCES = {"PDFSource": "pdf_sources", "PictureSource": "picture_sources", "AudioSource": "audio_sources",
                   "VideoSource": "video_sources"}
MEDIA_POSITIONS = ("PDFSelection", "PictureSelection", "AudioSelection", "VideoSelection", "TranscriptSelection")


def new_counts() -> dict[str, int]:
    """What an import read and what it left out (everything trdpath does not analyse is counted, never
    dropped silently)."""
    return dict(codes=0, sources=0, selections=0, segments=0, memos=0, cases=0, users=0,
                renamed_same_name_codes=0, renamed_same_name_sources=0, renamed_same_name_users=0,
                renamed_same_name_cases=0,
                skipped_pdf_sources=0, skipped_picture_sources=0, skipped_audio_sources=0, skipped_video_sources=0,
                skipped_positions_in_media=0, skipped_sets=0, skipped_links=0, skipped_graphs=0,
                skipped_positions_in_notes=0, skipped_case_code_refs=0, skipped_case_selection_refs=0)


def _load(path: Path, limits: ImportLimits) -> tuple[etree._Element, _Archive | None]:
    if not path.is_file():
        raise InputError("REFI-QDA project file not found", file=str(path))
    archive = None
    if zipfile.is_zipfile(path):
        archive = _Archive(path, limits)
        try:
            entry = archive.project_entry()
            root = _parse_xml(archive.read(entry, "the project"), f"{path} ({entry.filename})", limits)
        except BaseException:
            archive.close()
            raise
    else:
        root = _parse_xml(_read_file(path, limits), str(path), limits)
    if _local(root) != "Project":
        if archive is not None:
            archive.close()
        raise InputError(f"root element is <{_local(root)}>, expected <Project>", file=str(path))
    return root, archive


def import_qdpx_into(project: QualProject, path: str | Path, *, who: str | None = None,
                     limits: ImportLimits = DEFAULT_LIMITS) -> dict[str, int]:
    """Read a .qdpx (or a bare .qde) into an existing project in one transaction; returns what was read and
    what was skipped (see ``new_counts``)."""
    path = Path(path)
    root, archive = _load(path, limits)
    file = str(path)
    try:
        with project.transaction(who) as s:
            return _import_project(s, root, archive, file)
    finally:
        if archive is not None:
            archive.close()


def _import_project(s, root: etree._Element, archive: _Archive | None, file: str) -> dict[str, int]:  # noqa: ANN001
    counts = new_counts()
    guids = _Guids(file)
    info = s.scalar(select(m.ProjectInfo))
    if info is not None and root.get("name") and info.name in ("", "imported"):
        info.name = root.get("name")

    users: dict[str, m.Coder] = {}
    user_names: set[str] = set()
    for user in _children(_child(root, "Users"), "User"):
        guid = guids.claim(user)
        initials = (user.get("id") or "").strip() or None
        name = _distinct((user.get("name") or "").strip() or initials or guid[:8], user_names, counts, "users")
        coder = get_coder(s, name, guid=_free_guid(s, m.Coder, guid), initials=initials)
        if initials and not coder.initials:
            coder.initials = initials
        users[guid] = coder
        counts["users"] += 1

    def user(element: etree._Element, attribute: str) -> m.Coder | None:
        value = element.get(attribute)
        if not value:
            return None
        return users.get(_checked_guid(element, file, attribute))

    codes_by_guid: dict[str, m.Code] = {}
    codebook = _child(root, "CodeBook")
    _import_codes(s, _child(codebook, "Codes"), None, codes_by_guid, guids, counts)
    counts["codes"] = len(codes_by_guid)

    notes: dict[str, etree._Element] = {}
    for note in _children(_child(root, "Notes"), "Note"):
        notes[guids.claim(note)] = note
        counts["skipped_positions_in_notes"] += len(_children(note, "PlainTextSelection"))

    def make_memo(ref: etree._Element, **target) -> None:  # noqa: ANN003
        note_guid = _checked_guid(ref, file, "targetGUID")
        note = notes.pop(note_guid, None)
        if note is None:  # already attached elsewhere, or a reference to nothing: the text is not lost either way
            return
        has_text = _child(note, "PlainTextContent") is not None or note.get("plainTextPath") or \
            note.get("richTextPath")
        text = _source_text(note, archive, file)[0] if has_text else ""
        memo = m.Memo(guid=_free_guid(s, m.Memo, note_guid), title=note.get("name"), text=text,
                      coder=user(note, "creatingUser"), **target)
        memo.created_at = _parse_time(note.get("creationDateTime"), f"note {_describe(note)}",
                                      file=file) or memo.created_at
        s.add(memo)
        counts["memos"] += 1

    for code_element in codebook.iter() if codebook is not None else []:
        if isinstance(code_element.tag, str) and _local(code_element) == "Code":
            for ref in _children(code_element, "NoteRef"):
                make_memo(ref, code=guids.elements[code_element])

    variables: dict[str, tuple[str, str]] = {}
    for variable in _children(_child(root, "Variables"), "Variable"):
        guid = guids.claim(variable)
        if not (variable.get("name") or "").strip():
            raise InputError(f"{_describe(variable)} has no name", file=file)
        variables[guid] = (variable.get("name").strip(), variable.get("typeOfVariable") or "Text")

    def variable_values(element: etree._Element, what: str) -> list[tuple[str, str | None, str]]:
        values = []
        for value_element in _children(element, "VariableValue"):
            ref = _child(value_element, "VariableRef")
            if ref is None:
                raise InputError(f"{what}: a <VariableValue> without a <VariableRef>", file=file)
            target = _checked_guid(ref, file, "targetGUID")
            if target not in variables:
                raise InputError(f"{what}: a <VariableValue> refers to a variable not declared in <Variables>",
                                 file=file, value=ref.get("targetGUID"))
            name, declared = variables[target]
            value, value_type = _typed_value(value_element, f"{what}, variable {name!r}", file)
            values.append((name, value, declared if value is None else value_type))
        return values

    sources = _child(root, "Sources")
    for element in sources if sources is not None else []:
        if isinstance(element.tag, str) and _local(element) in SKIPPED_SOURCES:
            guids.claim(element)
            counts["skipped_" + SKIPPED_SOURCES[_local(element)]] += 1
            # PDF, picture, audio and video sources are not analysed here; their codings' positions go with them.
            counts["skipped_positions_in_media"] += sum(
                1 for x in element.iter() if isinstance(x.tag, str) and _local(x) in MEDIA_POSITIONS) + \
                len(_children(element, "Coding"))
    for tag, key in (("Sets", "Set"), ("Links", "Link"), ("Graphs", "Graph")):
        counts[f"skipped_{tag.lower()}"] = len(_children(_child(root, tag), key))

    documents: dict[str, m.Document] = {}
    document_variables: list[tuple[m.Document, list]] = []
    names_here: set[str] = set()
    for order, source in enumerate(_children(sources, "TextSource"), start=1):
        guid = guids.claim(source)
        text, file_name = _source_text(source, archive, file)
        what = f"source {_describe(source)}"
        name = (source.get("name") or "").strip() or (PurePosixPath(file_name).stem if file_name else "") \
            or f"source {order}"
        name = _distinct(name, names_here, counts, "sources")  # two sources of one name in one file: kept apart
        if s.scalar(select(m.Document.id).where(m.Document.name == name)) is not None:
            raise InputError(f"a document named {name!r} is already in the project", file=file)
        document = m.Document(guid=_free_guid(s, m.Document, guid), name=name, text=text, interview_order=order,
                              source_format="qdpx", description=_text_of(source, "Description"),
                              creator=user(source, "creatingUser"), modifier=user(source, "modifyingUser"),
                              modified_at=_parse_time(source.get("modifiedDateTime"), what, "modifiedDateTime",
                                                      file))
        document.created_at = _parse_time(source.get("creationDateTime"), what, file=file) or m.utc_now()
        s.add(document)
        speakers: dict[str, m.Speaker] = {}
        for turn in find_turns(text):
            if turn.speaker not in speakers:
                speakers[turn.speaker] = m.Speaker(label=turn.speaker, document=document)
                s.add(speakers[turn.speaker])
            document.turns.append(m.Turn(speaker=speakers[turn.speaker], start=turn.start, end=turn.end))
        s.flush()
        documents[guid] = document
        document_variables.append((document, variable_values(source, what)))
        counts["sources"] += 1

        def coded(coding: etree._Element, where: str) -> m.Code:
            code_ref = _child(coding, "CodeRef")
            if code_ref is None:
                raise InputError(f"{where}: {_describe(coding)} has no <CodeRef>", file=file)
            code = codes_by_guid.get(_checked_guid(code_ref, file, "targetGUID"))
            if code is None:
                raise InputError(f"{where}: {_describe(coding)} refers to a code that is not in the codebook",
                                 file=file, value=code_ref.get("targetGUID"))
            return code

        for element in _children(source, "PlainTextSelection"):
            selection_guid = guids.claim(element)
            start = _int_attribute(element, "startPosition", what, file)
            end = _int_attribute(element, "endPosition", what, file)
            where = f"{what}, selection {_describe(element)}"
            codings = _children(element, "Coding")
            if not (0 <= start <= end <= len(text)) or (codings and start == end):
                raise InputError(f"{where}: span {start}-{end} is outside the source's {len(text)} characters "
                                 "(or empty)", file=file, value=(start, end))
            selection = m.Selection(
                guid=_free_guid(s, m.Selection, selection_guid), document=document, start=start, end=end,
                name=element.get("name"), description=_text_of(element, "Description"),
                creator=user(element, "creatingUser"),
                created_at=_parse_time(element.get("creationDateTime"), where, file=file),
                modifier=user(element, "modifyingUser"),
                modified_at=_parse_time(element.get("modifiedDateTime"), where, "modifiedDateTime", file))
            s.add(selection)
            counts["selections"] += 1
            first_segment = None
            for coding in codings:
                coding_guid = guids.claim(coding)
                segment = m.Segment(guid=_free_guid(s, m.Segment, coding_guid), document=document,
                                    code=coded(coding, where), selection=selection, start=start, end=end,
                                    coder=user(coding, "creatingUser") or selection.creator)
                segment.created_at = (_parse_time(coding.get("creationDateTime"), where, file=file)
                                      or selection.created_at or segment.created_at)
                s.add(segment)
                for ref in _children(coding, "NoteRef"):
                    make_memo(ref, segment=segment, document=document)
                first_segment = first_segment or segment
                counts["segments"] += 1
            for ref in _children(element, "NoteRef"):
                make_memo(ref, selection=selection, segment=first_segment, document=document)
        for coding in _children(source, "Coding"):  # a coding of the whole source
            coding_guid = guids.claim(coding)
            code = coded(coding, what)
            if not text:
                raise InputError(f"{what}: {_describe(coding)} codes a source with no text", file=file)
            s.add(m.Segment(guid=_free_guid(s, m.Segment, coding_guid), document=document, code=code, start=0,
                            end=len(text), coder=user(coding, "creatingUser")))
            counts["segments"] += 1
        for ref in _children(source, "NoteRef"):
            make_memo(ref, document=document)

    case_labels: set[str] = set()
    for case in _children(_child(root, "Cases"), "Case"):
        guid = guids.claim(case)
        what = f"case {_describe(case)}"
        label = _distinct((case.get("name") or "").strip() or guid[:8], case_labels, counts, "cases")
        participant = get_participant(s, label)
        if participant.guid != guid:
            participant.guid = _free_guid(s, m.Participant, guid)
        participant.description = _text_of(case, "Description") or participant.description
        for name, value, value_type in variable_values(case, what):
            if name == "role":
                participant.role = value
            else:
                set_attribute(s, participant, name, value, value_type)
        for ref in _children(case, "SourceRef"):
            document = documents.get(_checked_guid(ref, file, "targetGUID"))
            if document is not None:
                document.participant = participant
        counts["skipped_case_code_refs"] += len(_children(case, "CodeRef"))
        counts["skipped_case_selection_refs"] += len(_children(case, "SelectionRef"))
        counts["cases"] += 1

    # Variables given on a source describe its interviewee: they become attributes of the source's case (a
    # case named after the source when the file has none). A clash with the case's own value is refused.
    for document, values in document_variables:
        if not values:
            continue
        participant = document.participant or get_participant(s, document.name)
        document.participant = participant
        for name, value, value_type in values:
            if name == "role":
                participant.role = value
                continue
            current = next((a for a in participant.attributes if a.name == name), None)
            if current is not None and current.value not in (None, value):
                raise InputError(f"source {document.name!r}: variable {name!r} is {value!r} on the source but "
                                 f"{current.value!r} on its case {participant.label!r}", file=file)
            set_attribute(s, participant, name, value, value_type)

    for ref in _children(root, "NoteRef"):
        make_memo(ref)
    for note_guid in list(notes):  # notes nobody points to are project memos; never drop text
        if note_guid in notes:
            fake = etree.Element("NoteRef", targetGUID=note_guid)
            make_memo(fake)
    return counts


def import_qdpx(path: str | Path, project_location: str | Path, *, who: str | None = None,
                limits: ImportLimits = DEFAULT_LIMITS) -> QualProject:
    """Create a new project from a .qdpx file."""
    path = Path(path)
    root, archive = _load(path, limits)
    try:
        project = create_project(project_location, root.get("name") or "imported",
                                 description=_text_of(root, "Description"))
    except BaseException:
        if archive is not None:
            archive.close()
        raise
    try:
        with project.transaction(who) as s:
            _import_project(s, root, archive, str(path))
    except BaseException:
        project.close()
        # We created this project for the import: remove it so a failed import leaves nothing behind.
        if "://" not in str(project_location):
            for suffix in ("", "-wal", "-shm"):
                Path(f"{Path(project_location).resolve()}{suffix}").unlink(missing_ok=True)
        raise
    finally:
        if archive is not None:
            archive.close()
    return project
