"""The report's figures, drawn only from protected (publishable) tables so disclosure control carries over.

Static figures are matplotlib PNGs (embedded as base64 in the HTML and as pictures in the DOCX); the Sankey of
antidepressant journeys is a plotly figure whose JavaScript is inlined, so the HTML opens offline.
"""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")  # no display in a secure environment or on a server
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

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
    """Boxes down the page: patients remaining after each rule, exclusions to the side."""
    rows = list(attrition.itertuples(index=False))
    fig, ax = plt.subplots(figsize=(8, 0.9 * len(rows) + 0.6))
    ax.set_xlim(0, 10)
    ax.set_ylim(-len(rows), 0.6)
    ax.axis("off")
    for i, row in enumerate(rows):
        y = -i
        text = "Extract" if row.rule == "extract" else f"after: {str(row.rule).replace('_', ' ')}"
        ax.text(3, y, f"{text}\n{fmt_count(row.remaining)} patients", ha="center", va="center", fontsize=9,
                bbox=dict(boxstyle="round", fc="#EEF2F8", ec="#4C72B0"))
        if i:
            ax.annotate("", xy=(3, y + 0.28), xytext=(3, y + 0.72), arrowprops=dict(arrowstyle="->"))
            ax.text(6.2, y + 0.5, f"excluded: {fmt_count(row.excluded)}", ha="left", va="center", fontsize=8,
                    color="#7A1F1F")
    ax.set_title("Cohort flow", fontsize=11)
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
    ax.set_title("Cohort by level of treatment resistance (antidepressants in the current episode)", fontsize=10)
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
    ax.set_title("Comorbid diagnoses by depression status", fontsize=10)
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
    ax.set_yticks(y, [term_label(t) for t in rows["term"]], fontsize=7)
    ax.set_xlabel("Odds ratio of TRD (95% CI, log scale)")
    ax.set_title(f"{model}: predictors of TRD", fontsize=10)
    ax.spines[["top", "right"]].set_visible(False)
    return _png(fig)


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
    ax.set_title("Referrals by service category and depression status", fontsize=10)
    ax.spines[["top", "right"]].set_visible(False)
    return _png(fig)


def _visible_links(journeys: pd.DataFrame) -> pd.DataFrame:
    links = journeys[[_is_number(n) and float(n) > 0 for n in journeys["n"]]].copy()
    links["n"] = links["n"].astype(float)
    return links


def journeys_by_step(protected) -> bytes:
    """Static companion of the Sankey (for the DOCX): which drug patients were on at each position."""
    links = _visible_links(protected.journeys)
    fig, ax = plt.subplots(figsize=(8, 3.8))
    if links.empty:
        ax.text(0.5, 0.5, "No journeys large enough to publish", ha="center")
        ax.axis("off")
        return _png(fig)
    at_step = links.groupby(["step", "source"])["n"].sum().unstack(fill_value=0)
    drugs = list(at_step.sum().sort_values(ascending=False).index)
    cmap = plt.get_cmap("tab20")
    bottom = np.zeros(len(at_step))
    for i, drug in enumerate(drugs):
        values = at_step[drug].to_numpy()
        ax.bar(at_step.index, values, bottom=bottom, color=cmap(i % 20), label=drug)
        bottom += values
    ax.set_xlabel("Position in the current episode (1 = first drug)")
    ax.set_ylabel("Patients")
    ax.set_title("Antidepressant journeys: drug at each position (links below the threshold not shown)",
                 fontsize=9)
    ax.legend(fontsize=6, ncol=2, bbox_to_anchor=(1.01, 1), loc="upper left")
    ax.spines[["top", "right"]].set_visible(False)
    return _png(fig)


def sankey_html(protected) -> str:
    """Interactive Sankey of antidepressant journeys, with plotly.js inlined (no CDN)."""
    import plotly.graph_objects as go

    links = _visible_links(protected.journeys)
    if links.empty:
        return "<p>No journeys large enough to publish.</p>"
    nodes: dict[tuple[int, str], int] = {}

    def node(step: int, name: str) -> int:
        key = (step, name)
        if key not in nodes:
            nodes[key] = len(nodes)
        return nodes[key]

    sources = [node(int(s), str(a)) for s, a in zip(links["step"], links["source"])]
    targets = [node(int(s) + 1, str(b)) for s, b in zip(links["step"], links["target"])]
    labels = [f"{step}. {name}" if name != "no further drug" else "no further drug" for (step, name) in nodes]
    figure = go.Figure(go.Sankey(
        arrangement="snap",
        node=dict(label=labels, pad=8, thickness=12),
        link=dict(source=sources, target=targets, value=links["n"].tolist()),
    ))
    figure.update_layout(title="Antidepressant journeys in the current episode (1 = first drug, + = augmentation)",
                         height=620, margin=dict(l=10, r=10, t=40, b=10), font=dict(size=10))
    return figure.to_html(full_html=False, include_plotlyjs=True, config={"displaylogo": False})


def all_figures(protected, attrition_protected) -> dict[str, tuple[str, bytes]]:
    """Static figures by key: (caption, PNG bytes)."""
    return {
        "cohort_flow": ("Figure 1 Cohort flow", cohort_flow(attrition_protected)),
        "resistance_levels": ("Figure 2 Prevalence of TRD and levels of treatment resistance",
                              resistance_levels(protected)),
        "comorbidities": ("Figure 3 Comorbid diagnoses by depression status", comorbidities(protected)),
        "forest": ("Figure 4 Odds ratios of the final model", forest_plot(protected)),
        "service_use": ("Figure 5 Service use by depression status", service_use(protected)),
        "journeys": ("Figure 6 Antidepressant journeys by position", journeys_by_step(protected)),
    }


__all__ = ["all_figures", "sankey_html"]
