"""The same tables and figures as a Word document (python-docx), ready to adapt for a journal submission."""

from __future__ import annotations

import io
from pathlib import Path

from docx import Document
from docx.enum.section import WD_ORIENT
from docx.enum.table import WD_TABLE_ALIGNMENT
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.shared import Cm, Pt

from trdpath.report.display import DisplayTable

USABLE_WIDTH = Cm(29.7 - 3.0)  # A4 landscape less 1.5 cm margins


def _border(cell, top: bool = False, bottom: bool = False) -> None:
    """Journal tables: horizontal rules only (above and below the header, at the foot)."""
    properties = cell._tc.get_or_add_tcPr()
    borders = OxmlElement("w:tcBorders")
    for edge, on in (("top", top), ("bottom", bottom)):
        if on:
            element = OxmlElement(f"w:{edge}")
            element.set(qn("w:val"), "single")
            element.set(qn("w:sz"), "8")
            element.set(qn("w:color"), "000000")
            borders.append(element)
    properties.append(borders)


def _write_table(document, table: DisplayTable) -> None:
    document.add_paragraph(table.title, style="Heading 3")
    n_columns = sum(span for _, span in table.header[0])
    grid = document.add_table(rows=0, cols=n_columns)
    grid.alignment = WD_TABLE_ALIGNMENT.CENTER
    for h, header_row in enumerate(table.header):
        cells = grid.add_row().cells
        column = 0
        for text, span in header_row:
            cell = cells[column]
            if span > 1:
                cell = cell.merge(cells[column + span - 1])
            cell.text = text
            for paragraph in cell.paragraphs:
                for run in paragraph.runs:
                    run.bold = True
            column += span
        for cell in cells:
            _border(cell, top=h == 0, bottom=h == len(table.header) - 1)
    for r, (row, kind, spans) in enumerate(zip(table.rows, table.row_kinds, table.row_spans)):
        cells = grid.add_row().cells
        column = 0
        for c, (text, span) in enumerate(zip(row, spans)):
            cell = cells[column] if span == 1 else cells[column].merge(cells[column + span - 1])
            cell.text = ("    " if c == 0 and kind in ("level", "sub") else "") + text
            if kind in ("section", "header") and c == 0:
                for run in cell.paragraphs[0].runs:
                    run.bold = True
                    run.italic = kind == "section"
            column += span
        if r == len(table.rows) - 1:
            for cell in cells:
                _border(cell, bottom=True)
    # A wide first column for the variable names; the page's remaining width shared by the others.
    grid.autofit = False
    first = Cm(7.0 if n_columns > 6 else 9.0)
    other = int((USABLE_WIDTH - first) / max(1, n_columns - 1))
    widths = [first] + [other] * (n_columns - 1)
    for index, column in enumerate(grid.columns):
        column.width = widths[index]
    for row in grid.rows:
        for index, cell in enumerate(row.cells):
            cell.width = widths[index]
    for row in grid.rows:
        for cell in row.cells:
            for paragraph in cell.paragraphs:
                paragraph.paragraph_format.space_after = Pt(0)
                for run in paragraph.runs:
                    run.font.size = Pt(7.5)
    for note in table.footnotes:
        paragraph = document.add_paragraph(note)
        paragraph.paragraph_format.space_after = Pt(0)
        for run in paragraph.runs:
            run.font.size = Pt(7)


def _small(paragraph, size: float = 8) -> None:
    for run in paragraph.runs:
        run.font.size = Pt(size)


def _write_figure(document, figure) -> None:
    from PIL import Image

    # The Sankey is wide: it gets the page's width; the other figures a journal column's. No figure is taller
    # than 11 cm, so it stays on the page of its heading and table (A4 landscape leaves 18 cm).
    pixels_wide, pixels_high = Image.open(io.BytesIO(figure.png)).size
    width = min(Cm(24) if figure.key == "sankey" else Cm(16), int(Cm(11) * pixels_wide / pixels_high))
    document.add_picture(io.BytesIO(figure.png), width=width)
    caption = document.add_paragraph()
    caption.add_run(f"Figure {figure.number} ").bold = True
    caption.add_run(figure.caption)
    caption.paragraph_format.keep_with_next = False
    _small(caption, 8.5)


def write_docx(path: Path, title: str, intro: list[str], sections: list, about: list[str],
               config_toml: str = "") -> None:
    """The report's sections in the HTML's order (tables, figures numbered alike), then About and Configuration."""
    document = Document()
    section = document.sections[0]
    # A4 landscape: Table 3 has four models side by side.
    section.orientation = WD_ORIENT.LANDSCAPE
    section.page_width, section.page_height = Cm(29.7), Cm(21.0)
    for margin in ("left_margin", "right_margin", "top_margin", "bottom_margin"):
        setattr(section, margin, Cm(1.5))
    document.styles["Normal"].font.name = "Arial"
    document.styles["Normal"].font.size = Pt(9)
    document.add_heading(title, level=1)
    for text in intro:
        document.add_paragraph(text)
    document.add_paragraph("Contents", style="Heading 2")
    for number, part in enumerate(sections, start=1):
        figures = [v for kind, v in part.blocks if kind == "figure"]
        line = f"{number}. {part.title}" + (
            f" (Figure{'s' if len(figures) > 1 else ''} {', '.join(str(f.number) for f in figures)})" if figures else "")
        _small(document.add_paragraph(line), 9)
    for part in sections:
        heading = document.add_heading(part.title, level=2)
        heading.paragraph_format.page_break_before = True  # each section on a new page, as the HTML prints
        for kind, value in part.blocks:
            if kind == "text":
                if "screen" in value[1].split():
                    continue  # about the interactive HTML only (hover, click)
                paragraph = document.add_paragraph(value[0])
                if "note" in value[1].split():
                    _small(paragraph)
            elif kind == "subheading":
                document.add_paragraph(value, style="Heading 3")
            elif kind == "list":
                for item in value:
                    _small(document.add_paragraph(item, style="List Bullet"))
            elif kind == "table":
                _write_table(document, value)
            elif kind == "figure":
                _write_figure(document, value)
    heading = document.add_heading("About this report", level=2)
    heading.paragraph_format.page_break_before = True
    for text in about:
        _small(document.add_paragraph(text))
    if config_toml:
        document.add_paragraph("Configuration", style="Heading 3")
        for line in config_toml.splitlines():
            paragraph = document.add_paragraph(line)
            paragraph.paragraph_format.space_after = Pt(0)
            for run in paragraph.runs:
                run.font.size = Pt(7)
                run.font.name = "Courier New"
    document.save(str(path))
