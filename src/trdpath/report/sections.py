"""The report's reading order, shared by the HTML and the DOCX: sections of text, tables and figures.

Figures are numbered here, in the order a reader meets them (issue 16, item 1), so the HTML, the DOCX and
their table of contents agree.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from trdpath.report.display import DisplayTable
from trdpath.report.figures import Figure


@dataclass
class Section:
    key: str  # the HTML anchor
    title: str
    blocks: list[tuple[str, object]] = field(default_factory=list)  # ("text", str) / ("table", ...) / ("figure", ...)

    def text(self, value: str, css: str = "") -> "Section":
        self.blocks.append(("text", (value, css)))
        return self

    def table(self, value: DisplayTable) -> "Section":
        self.blocks.append(("table", value))
        return self

    def figure(self, value: Figure | None) -> "Section":
        if value is not None:
            self.blocks.append(("figure", value))
        return self

    def items(self, values: list[str]) -> "Section":
        self.blocks.append(("list", list(values)))
        return self

    def subheading(self, value: str) -> "Section":
        self.blocks.append(("subheading", value))
        return self


def number_figures(sections: list[Section]) -> list[Figure]:
    """Give every figure its number in reading order; returns the figures in that order."""
    figures = [value for section in sections for kind, value in section.blocks if kind == "figure"]
    for number, figure in enumerate(figures, start=1):
        figure.number = number
    return figures
