"""The report's figures, drawn only from protected (publishable) tables so disclosure control carries over.

Static figures are matplotlib PNGs (embedded as base64 in the HTML and as pictures in the DOCX). The Sankey of
antidepressant journeys is laid out here, once (:func:`sankey_layout`), and drawn twice from that layout: as an
inline SVG with hover titles and click-to-highlight for the HTML (a few kB, no plotting library: issue 16 item 2)
and as a matplotlib PNG for the DOCX, so both show the same flows. Every figure takes its drug colours from one
:class:`DrugColours`, so a drug has the same colour everywhere in a report.

Figures carry a caption without a number; the report numbers them in reading order (trdpath.report.sections).
"""

from __future__ import annotations

import html
import io
from dataclasses import dataclass

import matplotlib

matplotlib.use("Agg")  # no display in a secure environment or on a server
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.path import Path as MplPath  # noqa: E402
from matplotlib.patches import PathPatch  # noqa: E402
from matplotlib.ticker import FixedLocator, FuncFormatter, MaxNLocator, NullFormatter, NullLocator  # noqa: E402

from trdpath.report.display import (  # noqa: E402
    SERVICE_LABELS, fmt_count, label, term_label,
)
from trdpath.stats.tables import RESISTANCE_GROUPS  # noqa: E402

MDD_COLOUR, TRD_COLOUR = "#4C72B0", "#C44E52"
LEVEL_COLOURS = ("#4C72B0", "#F0A35E", "#D9653B", "#8C2D04")


def _is_number(value) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not pd.isna(value)


def _png(fig) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return buffer.getvalue()


def cohort_flow(attrition: pd.DataFrame) -> bytes:
    """Boxes down the page: patients remaining after each rule, exclusions to the side (steps excluding no one,
    such as the closing "cohort" row, are not repeated)."""
    rows = [r for i, r in enumerate(attrition.itertuples(index=False))
            if i == 0 or not (_is_number(r.excluded) and float(r.excluded) == 0)]
    fig, ax = plt.subplots(figsize=(6.5, 0.75 * len(rows) + 0.3))
    ax.set_xlim(0, 10)
    ax.set_ylim(-len(rows) + 0.5, 0.5)
    ax.axis("off")
    for i, row in enumerate(rows):
        y = -i
        text = "Extract" if i == 0 else f"after: {str(row.rule).replace('_', ' ')}"
        ax.text(3, y, f"{text}\n{fmt_count(row.remaining)} patients", ha="center", va="center", fontsize=8,
                bbox=dict(boxstyle="round", fc="#EEF2F8", ec="#4C72B0"))
        if i:
            ax.annotate("", xy=(3, y + 0.3), xytext=(3, y + 0.7), arrowprops=dict(arrowstyle="->"))
            ax.text(6.2, y + 0.5, f"excluded: {fmt_count(row.excluded)}", ha="left", va="center", fontsize=8,
                    color="#7A1F1F")
    return _png(fig)


def resistance_levels(protected) -> bytes:
    """Prevalence of TRD and the levels of resistance (patients by number of antidepressants)."""
    row = protected.resistance_levels.iloc[0]
    fig, ax = plt.subplots(figsize=(7, 3.4))
    names = ["MDD", "TRD: 2", "TRD: 3", "TRD: 4+"]
    for x, (group, name, colour) in enumerate(zip(RESISTANCE_GROUPS, names, LEVEL_COLOURS)):
        value = row[f"{group}_n"]
        height = float(value) if _is_number(value) else 0.0
        ax.bar(x, height, color=colour)
        pct = row[f"{group}_pct"]
        text = fmt_count(value) + (f"\n({float(pct):.1f}%)" if _is_number(pct) else "")
        ax.text(x, height, text, ha="center", va="bottom", fontsize=8)
    ax.set_xticks(range(4), names)
    ax.set_ylabel("Patients")
    ax.margins(y=0.2)
    ax.spines[["top", "right"]].set_visible(False)
    return _png(fig)


def comorbidities(protected) -> bytes:
    """Percentage of each group with each comorbidity; hidden values are marked, not drawn."""
    frame = protected.table2
    fig, ax = plt.subplots(figsize=(8, 0.32 * len(frame) + 1))
    y = np.arange(len(frame))[::-1]
    for offset, group, colour, name in ((0.2, "mdd", MDD_COLOUR, "MDD"), (-0.2, "trd", TRD_COLOUR, "TRD")):
        values = [float(v) if _is_number(v) else 0.0 for v in frame[f"{group}_pct"]]
        ax.barh(y + offset, values, height=0.38, color=colour, label=name)
        for yi, n, v in zip(y, frame[f"{group}_n"], values):
            if not _is_number(n):
                ax.text(0.2, yi + offset, fmt_count(n), va="center", fontsize=6)
    ax.set_yticks(y, [label(v) for v in frame["variable"]], fontsize=7)
    ax.set_xlabel("% of group")
    ax.legend(loc="lower right")
    ax.spines[["top", "right"]].set_visible(False)
    return _png(fig)


def forest_plot(protected, model: str | None = None) -> bytes:
    """Odds ratios with 95% CI of the final model (Model 4 in the paper), on a log scale."""
    from trdpath.stats.regression import INTERCEPT

    coefficients = protected.table3
    model = model or (coefficients["model"].iloc[-1] if len(coefficients) else "")
    rows = coefficients[(coefficients["model"] == model) & (coefficients["term"] != INTERCEPT)]
    fig, ax = plt.subplots(figsize=(8, 0.4 * len(rows) + 1.2))
    y = np.arange(len(rows))[::-1]
    for yi, (_, row) in zip(y, rows.iterrows()):
        if _is_number(row["odds_ratio"]):
            ax.plot([row["ci_lower"], row["ci_upper"]], [yi, yi], color="black", lw=1)
            ax.plot(row["odds_ratio"], yi, "s", color=TRD_COLOUR)
        else:
            ax.text(1.0, yi, " suppressed" if row["odds_ratio"] == "suppressed" else " not estimable",
                    va="center", fontsize=7)
    ax.axvline(1.0, color="grey", ls="--", lw=0.8)
    ax.set_xscale("log")
    plain_log_axis(ax)
    ax.set_yticks(y, [term_label(t) for t in rows["term"]], fontsize=7)
    ax.set_xlabel("Odds ratio of TRD (95% CI, log scale)")
    ax.spines[["top", "right"]].set_visible(False)
    return _png(fig)


OR_TICKS = (0.01, 0.02, 0.05, 0.1, 0.2, 0.25, 0.5, 0.75, 1, 1.5, 2, 3, 5, 10, 20, 50, 100)


def plain_number(value: float, _position=None) -> str:
    """0.5 -> '0.5', 2.0 -> '2', 0.25 -> '0.25': a log axis read as odds ratios, not powers of ten."""
    return f"{value:g}"


def plain_log_axis(ax) -> None:
    """Ticks at round odds ratios inside the drawn range, labelled as plain numbers (no 6x10^-1)."""
    low, high = ax.get_xlim()
    ticks = [t for t in OR_TICKS if low <= t <= high]
    if len(ticks) < 3:
        ticks = sorted({*ticks, *(round(v, 2) for v in np.geomspace(max(low, 1e-3), high, 4))})
    ax.xaxis.set_major_locator(FixedLocator(ticks))
    ax.xaxis.set_major_formatter(FuncFormatter(plain_number))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.xaxis.set_minor_formatter(NullFormatter())


def service_use(protected) -> bytes:
    """Share of each group's referrals going to each service category."""
    frame = protected.service_use
    frame = frame[(frame["measure"] == "referrals") & (frame["category"] != "")]
    fig, ax = plt.subplots(figsize=(7, 3.4))
    x = np.arange(len(frame))
    for offset, group, colour, name in ((-0.2, "mdd", MDD_COLOUR, "MDD"), (0.2, "trd", TRD_COLOUR, "TRD")):
        values = [float(v) if _is_number(v) else 0.0 for v in frame[f"{group}_pct"]]
        ax.bar(x + offset, values, width=0.38, color=colour, label=name)
        for xi, n, v in zip(x, frame[f"{group}_n"], values):
            if not _is_number(n):
                ax.text(xi + offset, 0.5, fmt_count(n), ha="center", fontsize=7)
    ax.set_xticks(x, [SERVICE_LABELS.get(c, c) for c in frame["category"]], fontsize=8)
    ax.set_ylabel("% of the group's referrals")
    ax.legend()
    ax.spines[["top", "right"]].set_visible(False)
    return _png(fig)


GREY_OTHER, GREY_END = "#9E9E9E", "#D9D9D9"
NO_FURTHER = "no further drug"
AUGMENTATION = "augmentation: "


def drug_key(name: str) -> str:
    """The drug behind a label: 'augmentation: lithium' and 'lithium' share a colour."""
    name = str(name)
    return name[len(AUGMENTATION):] if name.startswith(AUGMENTATION) else name


class DrugColours:
    """One colour per drug for every figure of a report (TreatmentPatterns #12).

    Drugs are ordered by how many patients they carry (then by name), and take the 20 colours of matplotlib's
    tab20 then tab20b in that order; "other" and "no further drug" are greys.
    """

    def __init__(self, weights: dict[str, float]):
        totals: dict[str, float] = {}
        for name, weight in weights.items():
            key = drug_key(name)
            if key in ("other", NO_FURTHER):
                continue
            totals[key] = totals.get(key, 0.0) + float(weight)
        self.order = sorted(totals, key=lambda k: (-totals[k], k))
        palette = [matplotlib.colors.to_hex(c) for c in
                   list(plt.get_cmap("tab20").colors) + list(plt.get_cmap("tab20b").colors)]
        self._colours = {key: palette[i % len(palette)] for i, key in enumerate(self.order)}

    @classmethod
    def from_journeys(cls, journeys: pd.DataFrame, *extra: pd.Series) -> "DrugColours":
        """Weights: a drug's patients at each position (the larger of a Sankey node's in- and outflow), summed."""
        links = _visible_links(journeys)
        inflow = links.groupby([links["step"] + 1, "target"])["n"].sum()
        outflow = links.groupby(["step", "source"])["n"].sum()
        nodes = pd.concat([inflow.rename_axis(["column", "name"]), outflow.rename_axis(["column", "name"])], axis=1)
        weights = nodes.max(axis=1).groupby(level="name").sum().to_dict()
        for series in extra:
            for name, n in series.items():
                weights[name] = weights.get(name, 0.0) + (float(n) if _is_number(n) else 0.0)
        return cls(weights)

    def __call__(self, name: str) -> str:
        key = drug_key(name)
        if key == NO_FURTHER:
            return GREY_END
        return self._colours.get(key, GREY_OTHER)


def _visible_links(journeys: pd.DataFrame) -> pd.DataFrame:
    links = journeys[[_is_number(n) and float(n) > 0 for n in journeys["n"]]].copy()
    links["n"] = links["n"].astype(float)
    return links


def journeys_by_step(protected, colours: DrugColours) -> bytes:
    """Static companion of the Sankey: which drug patients were on at each position."""
    links = _visible_links(protected.journeys)
    fig, ax = plt.subplots(figsize=(8, 3.8))
    if links.empty:
        ax.text(0.5, 0.5, "No journeys large enough to publish", ha="center")
        ax.axis("off")
        return _png(fig)
    at_step = links.groupby(["step", "source"])["n"].sum().unstack(fill_value=0)
    drugs = sorted(at_step.columns, key=lambda d: (d == "other", -at_step[d].sum(), d))
    bottom = np.zeros(len(at_step))
    positions = at_step.index.to_numpy(dtype=int)
    for drug in drugs:
        values = at_step[drug].to_numpy()
        ax.bar(positions, values, bottom=bottom, color=colours(drug), label=drug, edgecolor="white", linewidth=0.3)
        bottom += values
    ax.xaxis.set_major_locator(FixedLocator(positions))  # positions are whole numbers: no 0.5 ticks
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _p: f"{int(round(v))}"))
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("Position in the current episode (1 = first drug)")
    ax.set_ylabel("Patients")
    ax.legend(fontsize=6, ncol=2, bbox_to_anchor=(1.01, 1), loc="upper left")
    ax.spines[["top", "right"]].set_visible(False)
    return _png(fig)


@dataclass
class SankeyNode:
    column: int  # 0-based position in the episode
    name: str
    value: float
    y0: float = 0.0
    y1: float = 0.0


@dataclass
class SankeyLink:
    source: SankeyNode
    target: SankeyNode
    value: float
    y_source: float = 0.0  # top of the band where it leaves the source
    y_target: float = 0.0  # top of the band where it enters the target


@dataclass
class SankeyLayout:
    nodes: list[SankeyNode]
    links: list[SankeyLink]
    columns: int
    scale: float  # height units per patient


def sankey_layout(journeys: pd.DataFrame, colours: DrugColours, height: float = 1.0,
                  padding: float = 0.02) -> SankeyLayout | None:
    """A layered Sankey of the published flows: one column per position, nodes stacked in the drug order of
    ``colours`` (so a drug sits at the same rank in every column), "other" and "no further drug" last.

    A node's height is the larger of its published inflow and outflow (hidden flows are not drawn, so the two
    can differ); band widths are proportional to the published counts.
    """
    links = _visible_links(journeys)
    if links.empty:
        return None
    rank = {name: i for i, name in enumerate(colours.order)}

    def order(name: str) -> tuple:
        key = drug_key(name)
        return (key == NO_FURTHER, key == "other", rank.get(key, len(rank)), name.startswith(AUGMENTATION), name)

    inflow: dict[tuple[int, str], float] = {}
    outflow: dict[tuple[int, str], float] = {}
    for step, source, target, n in zip(links["step"], links["source"], links["target"], links["n"]):
        outflow[(int(step) - 1, source)] = outflow.get((int(step) - 1, source), 0.0) + n
        inflow[(int(step), target)] = inflow.get((int(step), target), 0.0) + n
    keys = sorted(set(inflow) | set(outflow), key=lambda k: (k[0], order(k[1])))
    nodes = {k: SankeyNode(k[0], k[1], max(inflow.get(k, 0.0), outflow.get(k, 0.0))) for k in keys}
    columns = max(k[0] for k in keys) + 1
    per_column = {c: [nodes[k] for k in keys if k[0] == c] for c in range(columns)}
    tallest = max(len(v) for v in per_column.values())
    scale = (height - padding * (tallest - 1)) / max(sum(n.value for n in v) for v in per_column.values())
    for column_nodes in per_column.values():
        y = 0.0
        for node in column_nodes:
            node.y0, node.y1 = y, y + node.value * scale
            y = node.y1 + padding
    drawn = [SankeyLink(nodes[(int(s) - 1, a)], nodes[(int(s), b)], n)
             for s, a, b, n in zip(links["step"], links["source"], links["target"], links["n"])]
    # Bands leave a node in the order of their targets and enter in the order of their sources (fewer crossings).
    for node in nodes.values():
        y = node.y0
        for link in sorted((lk for lk in drawn if lk.source is node), key=lambda lk: lk.target.y0):
            link.y_source = y
            y += link.value * scale
        y = node.y0
        for link in sorted((lk for lk in drawn if lk.target is node), key=lambda lk: lk.source.y0):
            link.y_target = y
            y += link.value * scale
    return SankeyLayout(list(nodes.values()), drawn, columns, scale)


def _node_label(node: SankeyNode) -> str:
    return node.name if node.name == NO_FURTHER else f"{node.column + 1}. {node.name}"


def _count_text(value: float) -> str:
    return f"{int(value):,}"


SANKEY_SCRIPT = """(function(){var s=document.getElementById('%s');if(!s)return;
s.addEventListener('click',function(e){var n=e.target.closest('[data-node]');var on=n&&!n.classList.contains('picked');
s.querySelectorAll('.picked').forEach(function(x){x.classList.remove('picked')});s.classList.toggle('focus',!!on);
if(!on)return;n.classList.add('picked');var id=n.getAttribute('data-node');
s.querySelectorAll('path[data-source="'+id+'"],path[data-target="'+id+'"]').forEach(function(x){x.classList.add('picked')});});})();"""


def sankey_svg(layout: SankeyLayout | None, colours: DrugColours, element_id: str = "sankey") -> str:
    """The Sankey as inline SVG: hover a band or node for its count; click a node to highlight its flows."""
    if layout is None:
        return "<p>No journeys large enough to publish.</p>"
    width, height, top, left, node_width, label_room = 1100.0, 560.0, 10.0, 10.0, 12.0, 150.0
    step = (width - left - node_width - label_room) / max(1, layout.columns - 1)

    def x(column: int) -> float:
        return left + column * step

    def y(value: float) -> float:
        return top + value * (height - 2 * top)

    ids = {id(node): f"n{i}" for i, node in enumerate(layout.nodes)}
    parts = [f'<svg id="{element_id}" class="sankey" viewBox="0 0 {width:.0f} {height:.0f}" '
             f'role="img" aria-label="Sankey diagram of antidepressant journeys" xmlns="http://www.w3.org/2000/svg">']
    for link in sorted(layout.links, key=lambda lk: -lk.value):
        thickness = link.value * layout.scale * (height - 2 * top)
        x0, x1 = x(link.source.column) + node_width, x(link.target.column)
        y0 = y(link.y_source) + thickness / 2
        y1 = y(link.y_target) + thickness / 2
        xm = (x0 + x1) / 2
        title = html.escape(f"{_node_label(link.source)} → {_node_label(link.target)}: "
                            f"{_count_text(link.value)} patients")
        parts.append(f'<path d="M{x0:.1f},{y0:.1f}C{xm:.1f},{y0:.1f} {xm:.1f},{y1:.1f} {x1:.1f},{y1:.1f}" '
                     f'stroke="{colours(link.source.name)}" stroke-width="{max(thickness, 1):.1f}" '
                     f'data-source="{ids[id(link.source)]}" data-target="{ids[id(link.target)]}">'
                     f"<title>{title}</title></path>")
    for node in layout.nodes:
        x0, y0, y1 = x(node.column), y(node.y0), y(node.y1)
        title = html.escape(f"{_node_label(node)}: {_count_text(node.value)} patients")
        parts.append(f'<g data-node="{ids[id(node)]}"><rect x="{x0:.1f}" y="{y0:.1f}" width="{node_width:.0f}" '
                     f'height="{max(y1 - y0, 1):.1f}" fill="{colours(node.name)}"><title>{title}</title></rect>')
        if y1 - y0 >= 9:  # label only nodes tall enough to carry one legibly
            parts.append(f'<text x="{x0 + node_width + 3:.1f}" y="{(y0 + y1) / 2:.1f}" dy="0.35em">'
                         f"{html.escape(node.name)} ({_count_text(node.value)})</text>")
        parts.append("</g>")
    parts.append("</svg>")
    parts.append(f"<script>{SANKEY_SCRIPT % element_id}</script>")
    return "".join(parts)


def sankey_png(layout: SankeyLayout | None, colours: DrugColours) -> bytes:
    """The same layout drawn by matplotlib, for the DOCX (and any print without the SVG)."""
    fig, ax = plt.subplots(figsize=(10, 5.6))
    ax.axis("off")
    if layout is None:
        ax.text(0.5, 0.5, "No journeys large enough to publish", ha="center")
        return _png(fig)
    node_width = 0.012 * layout.columns
    ax.set_xlim(-0.05, layout.columns - 1 + 0.9)
    ax.set_ylim(1.02, -0.02)
    for link in sorted(layout.links, key=lambda lk: -lk.value):
        thickness = link.value * layout.scale
        x0, x1 = link.source.column + node_width, float(link.target.column)
        xm = (x0 + x1) / 2
        top0, top1 = link.y_source, link.y_target
        vertices = [(x0, top0), (xm, top0), (xm, top1), (x1, top1), (x1, top1 + thickness),
                    (xm, top1 + thickness), (xm, top0 + thickness), (x0, top0 + thickness), (x0, top0)]
        codes = [MplPath.MOVETO, MplPath.CURVE4, MplPath.CURVE4, MplPath.CURVE4, MplPath.LINETO,
                 MplPath.CURVE4, MplPath.CURVE4, MplPath.CURVE4, MplPath.CLOSEPOLY]
        ax.add_patch(PathPatch(MplPath(vertices, codes), facecolor=colours(link.source.name), alpha=0.45, lw=0))
    for node in layout.nodes:
        ax.add_patch(matplotlib.patches.Rectangle((node.column, node.y0), node_width, node.y1 - node.y0,
                                                  facecolor=colours(node.name), edgecolor="none"))
        if node.y1 - node.y0 >= 0.016:
            ax.text(node.column + node_width * 1.4, (node.y0 + node.y1) / 2,
                    f"{node.name} ({_count_text(node.value)})", va="center", fontsize=6)
    for column in range(layout.columns):
        ax.text(column, 1.02, f"position {column + 1}", ha="left", va="top", fontsize=7, color="#555")
    return _png(fig)


def time_to_trd_png(curve: pd.DataFrame) -> bytes:
    """Kaplan-Meier cumulative incidence of TRD (1 - S) with its 95% band, months on the axis."""
    fig, ax = plt.subplots(figsize=(7, 3.6))
    if curve.empty:
        ax.text(0.5, 0.5, "No patients to publish", ha="center")
        ax.axis("off")
        return _png(fig)
    months = curve["day"].to_numpy(float) / 30.4375
    ax.step(months, 100 * (1 - curve["survival"].astype(float)), where="post", color=TRD_COLOUR)
    ax.fill_between(months, 100 * (1 - curve["ci_upper"].astype(float)), 100 * (1 - curve["ci_lower"].astype(float)),
                    step="post", color=TRD_COLOUR, alpha=0.2, lw=0)
    ax.set_xlabel("Months since the start of the current episode")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel("Patients with TRD (%)")
    ax.set_ylim(0, None)
    ax.set_xlim(0, None)
    ax.spines[["top", "right"]].set_visible(False)
    return _png(fig)


@dataclass
class Figure:
    """A figure of the report: caption without its number (the layout numbers figures in reading order)."""

    key: str
    caption: str
    png: bytes
    svg: str | None = None  # drawn inline in the HTML instead of the PNG (the Sankey)
    number: int = 0

    @property
    def title(self) -> str:
        return f"Figure {self.number} {self.caption}" if self.number else self.caption


def all_figures(protected, attrition_protected, colours: DrugColours | None = None) -> dict[str, Figure]:
    """The figures by key (unnumbered), each from protected tables only."""
    colours = colours or DrugColours.from_journeys(protected.journeys)
    layout = sankey_layout(protected.journeys, colours)
    return {
        "cohort_flow": Figure("cohort_flow", "Cohort flow: patients remaining after each rule and excluded by it",
                              cohort_flow(attrition_protected)),
        "comorbidities": Figure("comorbidities", "Comorbid diagnoses by depression status (% of each group)",
                                comorbidities(protected)),
        "forest": Figure("forest", "Odds ratios of TRD with 95% confidence intervals in the final model "
                                   "(log scale)", forest_plot(protected)),
        "resistance_levels": Figure("resistance_levels", "Prevalence of TRD and levels of treatment resistance "
                                    "(number of antidepressants in the current episode)",
                                    resistance_levels(protected)),
        "service_use": Figure("service_use", "Referrals by service category and depression status "
                              "(% of each group's referrals)", service_use(protected)),
        "sankey": Figure("sankey", "Antidepressant journeys in the current episode: flows between consecutive "
                         "drugs (1 = first drug; augmenting agents shown as 'augmentation'); flows hidden by "
                         "disclosure control are not drawn", sankey_png(layout, colours),
                         svg=sankey_svg(layout, colours)),
        "journeys": Figure("journeys", "Drug at each position of the current episode (flows hidden by disclosure "
                           "control not counted)", journeys_by_step(protected, colours)),
    }


__all__ = ["DrugColours", "Figure", "all_figures", "sankey_layout", "sankey_svg"]
