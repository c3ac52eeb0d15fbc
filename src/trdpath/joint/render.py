"""A joint display as HTML (escaped, self-contained, no network), DOCX (python-docx) and XLSX (openpyxl:
text cells only, neutralised against spreadsheet formulas), each written atomically."""

from __future__ import annotations

import io
from pathlib import Path

from docx import Document
from docx.enum.section import WD_ORIENT
from docx.shared import Cm, Pt, RGBColor
from jinja2 import Environment, PackageLoader, select_autoescape
from openpyxl import Workbook
from openpyxl.styles import Alignment, Font

from trdpath.atomic import replace_file
from trdpath.joint.display import JUDGEMENT_TITLES, JointDisplay
from trdpath.safety import neutralise_cell

HTML, DOCX, XLSX = "joint_display.html", "joint_display.docx", "joint_display.xlsx"
FIT_COLOURS = {"convergence": RGBColor(0x1B, 0x6E, 0x20), "divergence": RGBColor(0xA4, 0x16, 0x1A),
               "expansion": RGBColor(0x1D, 0x4E, 0x89)}
LAYOUT_TITLES = {"statistics-by-themes": "Statistics-by-themes joint display",
                 "side-by-side": "Side-by-side joint display"}


def count_headers(display: JointDisplay) -> list[str]:
    return [c.label for c in display.rows[0].counts] if display.rows else []


def render_html(display: JointDisplay, back_link: str | None = None) -> str:
    """The display as one HTML page; ``back_link`` (the coding app's mapping page) adds a way back and the
    downloads when the page is served rather than exported."""
    environment = Environment(loader=PackageLoader("trdpath.joint", "templates"), autoescape=select_autoescape(["j2"]))
    return environment.get_template("joint.html.j2").render(display=display, judgements=JUDGEMENT_TITLES,
                                                            count_headers=count_headers(display),
                                                            back_link=back_link)


def _quotes_text(row) -> str:
    return "\n".join(f"\u201c{q.text}\u201d \u2014 {q.participant}, {q.group}" for q in row.theme.quotes)


def _quant_lines(row) -> list[str]:
    q = row.quantitative
    return [f"{q.label} ({q.source})", *[f"{g}: {v}" for g, v in q.groups], *([q.effect] if q.effect else [])]


def _participants(row) -> str:
    return f"{row.total} (" + "; ".join(f"{c.label} {c.shown} of {c.of}" for c in row.counts) + ")"


def layout_rows(display: JointDisplay, name: str) -> tuple[list[str], list[list[str]]]:
    """Header and rows of one layout as plain text (the DOCX and XLSX share them)."""
    if name == "statistics-by-themes":
        header = ["Theme", "Codes", "Participants", *count_headers(display), "Quotes", "Statistics (published)",
                  "Fit", "Meta-inference"]
        rows = [[r.theme.theme, "; ".join(r.theme.codes), r.total, *[f"{c.shown} of {c.of}" for c in r.counts],
                 _quotes_text(r), "\n".join(_quant_lines(r)), JUDGEMENT_TITLES[r.judgement], r.meta_inference]
                for r in display.rows]
    else:
        header = ["Quantitative finding (published)", "Qualitative finding", "Participants", "Quotes", "Fit",
                  "Meta-inference"]
        rows = [["\n".join(_quant_lines(r)), r.theme.theme, _participants(r), _quotes_text(r),
                 JUDGEMENT_TITLES[r.judgement], r.meta_inference] for r in display.rows]
    return header, rows


WIDE = {"Quotes": 6.0, "Meta-inference": 4.6, "Statistics (published)": 4.2, "Quantitative finding (published)": 4.6,
        "Theme": 3.2, "Qualitative finding": 3.4, "Participants": 2.7, "Fit": 3.0}
USABLE_CM = 29.7 - 3.0  # A4 landscape less the margins


def _widths(header: list[str]) -> list[Cm]:
    # Counts get a narrow column, quotes and meta-inferences the room (a reader reads those).
    wanted = [WIDE.get(h, 2.2) for h in header]
    if "Participants" in header and "Theme" not in header:
        wanted[header.index("Participants")] = 3.2  # side-by-side: the counts as one sentence
    scale = USABLE_CM / sum(wanted)
    return [Cm(w * scale) for w in wanted]


def _repeat_header(row) -> None:
    from docx.oxml import OxmlElement
    from docx.oxml.ns import qn

    marker = OxmlElement("w:tblHeader")  # the header row again on every page of a long display
    marker.set(qn("w:val"), "true")
    row._tr.get_or_add_trPr().append(marker)


def _quotes_cell(cell, row) -> None:
    for i, q in enumerate(row.theme.quotes):
        paragraph = cell.paragraphs[0] if i == 0 else cell.add_paragraph()
        paragraph.add_run(f"\u201c{q.text}\u201d").italic = True
        paragraph.add_run(f" \u2014 {q.participant}, {q.group}")


def render_docx(display: JointDisplay) -> bytes:
    document = Document()
    section = document.sections[0]
    section.orientation = WD_ORIENT.LANDSCAPE
    section.page_width, section.page_height = Cm(29.7), Cm(21.0)  # A4 landscape: a display is wide
    for side in ("left_margin", "right_margin", "top_margin", "bottom_margin"):
        setattr(section, side, Cm(1.5))
    document.styles["Normal"].font.size = Pt(8.5)
    document.styles["Normal"].font.name = "Arial"  # a sans face keeps "Convergence" and the counts on one line
    document.add_heading(display.title, level=1)
    document.add_paragraph(f"Quantitative results: {display.results}. Qualitative project: {display.project}. "
                           f"Generated {display.generated}.")
    for name in display.layouts:
        document.add_heading(LAYOUT_TITLES[name], level=2)
        header, rows = layout_rows(display, name)
        keep = [i for i, h in enumerate(header) if h != "Codes"]  # the codes go under the theme (page width)
        header, rows = [header[i] for i in keep], [[values[i] for i in keep] for values in rows]
        table = document.add_table(rows=1, cols=len(header))
        table.style = "Table Grid"
        table.autofit = False
        widths = _widths(header)
        for cell, text in zip(table.rows[0].cells, header):
            cell.text = text
            cell.paragraphs[0].runs[0].bold = True
        _repeat_header(table.rows[0])
        for row, values in zip(display.rows, rows):
            cells = table.add_row().cells
            for cell, text, title in zip(cells, values, header):
                if title == "Quotes":
                    _quotes_cell(cell, row)
                else:
                    cell.text = text
                if title in ("Theme", "Qualitative finding"):
                    cell.paragraphs[0].runs[0].bold = True
                    codes = cell.add_paragraph().add_run("Codes: " + "; ".join(c.split(" / ")[-1] for c in row.theme.codes))
                    codes.font.size, codes.font.color.rgb = Pt(7.5), RGBColor(0x55, 0x55, 0x55)
                if title == "Fit":
                    run = cell.paragraphs[0].runs[0]
                    run.bold, run.font.color.rgb = True, FIT_COLOURS[row.judgement]
        for column, width in zip(table.columns, widths):
            column.width = width  # the grid (LibreOffice reads it) and every cell (Word reads those)
            for cell in column.cells:
                cell.width = width
    document.add_heading("Notes", level=2)
    for note in display.notes:
        document.add_paragraph(note, style="List Bullet")
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def render_xlsx(display: JointDisplay) -> bytes:
    book = Workbook()
    book.remove(book.active)
    sheets = [(name.replace("-", "_"), *layout_rows(display, name)) for name in display.layouts]
    sheets.append(("notes", ["Note"], [[n] for n in display.notes]))
    for title, header, rows in sheets:
        sheet = book.create_sheet(title)
        for values in [header, *rows]:
            # Quotes and code names are free text: neutralised (OWASP CSV injection) and stored as text.
            sheet.append([neutralise_cell(str(v)) for v in values])
        for row in sheet.iter_rows():
            for cell in row:
                cell.data_type = "s"  # never a formula, whatever the text
                cell.alignment = Alignment(wrap_text=True, vertical="top")
        for cell in sheet[1]:
            cell.font = Font(bold=True)
        for column in sheet.columns:
            sheet.column_dimensions[column[0].column_letter].width = 40 if title == "notes" else 28
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def write_display(display: JointDisplay, out: str | Path) -> list[Path]:
    """Render all three first (a failure writes nothing), then replace each file in one rename."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        from trdpath.errors import UserError

        raise UserError(f"{out}: not a folder (--out takes the folder the display is written to)")
    rendered = {HTML: render_html(display).encode("utf-8"), DOCX: render_docx(display), XLSX: render_xlsx(display)}
    written = []
    for name, data in rendered.items():
        with replace_file(out / name) as temporary:
            temporary.write_bytes(data)
        written.append(out / name)
    return written
