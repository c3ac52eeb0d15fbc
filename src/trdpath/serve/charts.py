"""Charts of the aggregate views, drawn on the server as SVG geometry (the templates render it, autoescaped).

Every chart reads a published, disclosure-controlled table of ``release/`` (journeys, lines, step_times,
definitions/prevalence and agreement) and nothing else: never ``patients.parquet``. A chart shows only
numbers that are in its table: a count published as ``<8`` or ``suppressed`` is not drawn (and said so),
and no number is derived from published ones (no differences, no totals of rounded counts), since a
difference of two rounded counts can be a small count (docs/serve.md, "Charts").
"""

from __future__ import annotations

import math

import pandas as pd

SANKEY_WIDTH, SANKEY_HEIGHT, NODE_WIDTH, NODE_GAP = 1120, 620, 12, 10
LAST_NODES = ("other", "no further drug")  # drawn at the foot of their column


def number(value) -> float | None:  # noqa: ANN001
    """A published cell as a number, or None when it is hidden (<8, suppressed) or empty."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    try:
        out = float(str(value).replace(",", ""))
    except ValueError:
        return None
    return out if math.isfinite(out) else None


def _node_order(names: set[str], size: dict[str, float]) -> list[str]:
    return sorted(names, key=lambda n: (n in LAST_NODES, LAST_NODES.index(n) if n in LAST_NODES else 0, -size[n], n))


def sankey(journeys: pd.DataFrame | None) -> dict:
    """Columns of nodes (drugs at each position of the current episode) and the links between them, for the
    published links with a shown count. Node heights are the larger of a node's drawn inflow and outflow
    (geometry only: no total is printed)."""
    if journeys is None or journeys.empty:
        return {}
    frame = journeys.assign(value=[number(v) for v in journeys["n"]], step=pd.to_numeric(journeys["step"], errors="coerce"))
    hidden = int(frame["value"].isna().sum())
    shown = frame[frame["value"].notna() & (frame["value"] > 0) & frame["step"].notna()].copy()
    if shown.empty:
        return {"hidden": hidden, "links": [], "nodes": [], "columns": 0}
    shown["step"] = shown["step"].astype(int)
    steps = sorted(shown["step"].unique())
    columns = len(steps) + 1
    out_size: dict[tuple[int, str], float] = {}
    in_size: dict[tuple[int, str], float] = {}
    for r in shown.itertuples():
        col = steps.index(r.step)
        out_size[(col, r.source)] = out_size.get((col, r.source), 0) + r.value
        in_size[(col + 1, r.target)] = in_size.get((col + 1, r.target), 0) + r.value
    keys = set(out_size) | set(in_size)
    size = {k: max(out_size.get(k, 0), in_size.get(k, 0)) for k in keys}
    per_column = {c: _node_order({k[1] for k in keys if k[0] == c}, {k[1]: size[k] for k in keys if k[0] == c})
                  for c in range(columns)}
    tallest = max(sum(size[(c, n)] for n in names) for c, names in per_column.items())
    most_nodes = max(len(names) for names in per_column.values())
    top, bottom = 28, SANKEY_HEIGHT - 8
    scale = (bottom - top - NODE_GAP * (most_nodes - 1)) / tallest
    left, right = 8, SANKEY_WIDTH - 150
    x_of = {c: left + c * (right - left - NODE_WIDTH) / (columns - 1) for c in range(columns)}
    nodes, place = [], {}
    for c, names in per_column.items():
        y = top
        for name in names:
            h = max(1.0, size[(c, name)] * scale)
            place[(c, name)] = {"x": x_of[c], "y": y, "h": h, "out": y, "in": y}
            nodes.append({"x": round(x_of[c], 1), "y": round(y, 1), "h": round(h, 1), "name": name, "column": c + 1,
                          "label_x": round(x_of[c] + NODE_WIDTH + 4, 1), "label_y": round(y + min(h, 24) / 2 + 4, 1)})
            y += h + NODE_GAP
    links = []
    order = {(c, n): i for c, names in per_column.items() for i, n in enumerate(names)}
    ordered = sorted(shown.itertuples(), key=lambda r: (r.step, order[(steps.index(r.step), r.source)],
                                                        order[(steps.index(r.step) + 1, r.target)]))
    for r in ordered:
        col = steps.index(r.step)
        a, b = place[(col, r.source)], place[(col + 1, r.target)]
        w = r.value * scale
        y0, y1 = a["out"] + w / 2, b["in"] + w / 2
        a["out"] += w
        b["in"] += w
        x0, x1 = a["x"] + NODE_WIDTH, b["x"]
        mid = (x0 + x1) / 2
        links.append({"d": f"M{x0:.1f},{y0:.1f} C{mid:.1f},{y0:.1f} {mid:.1f},{y1:.1f} {x1:.1f},{y1:.1f}",
                      "w": round(max(1.0, w), 1), "step": int(r.step), "source": r.source, "target": r.target,
                      "n": r.n})
    headers = [{"x": round(x_of[c], 1), "label": f"drug {c + 1}"} for c in range(columns)]
    return {"width": SANKEY_WIDTH, "height": SANKEY_HEIGHT, "nodes": nodes, "links": links, "hidden": hidden,
            "columns": columns, "headers": headers, "node_width": NODE_WIDTH}


def bars(items: list[tuple[str, object]], width: int = 760, row: int = 26, label_width: int = 250) -> dict:
    """Horizontal bars of published values (label, value as published); hidden values get no bar."""
    values = [(label, shown, number(shown)) for label, shown in items]
    largest = max([v for _, _, v in values if v is not None] or [0])
    if not values:
        return {}
    plot = width - label_width - 80
    rows = []
    for i, (label, shown, value) in enumerate(values):
        w = 0.0 if value is None or largest <= 0 else value / largest * plot
        rows.append({"label": label, "shown": shown, "hidden": value is None, "y": 8 + i * row, "h": row - 8,
                     "x": label_width, "w": round(w, 1), "text_x": round(label_width + w + 6, 1),
                     "label_y": 8 + i * row + (row - 8) / 2 + 5})
    return {"width": width, "height": 16 + len(values) * row, "rows": rows, "label_x": label_width - 8}


def lines_chart(lines: pd.DataFrame | None) -> dict:
    """Patients reaching each treatment line (the published 'any' rows of lines.csv: a k-th antidepressant)."""
    if lines is None or lines.empty or "drug" not in lines.columns:
        return {}
    anyone = lines[lines["drug"] == "any"]
    return bars([(f"line {r.line}: a {_ordinal(r.line)} antidepressant", r.n) for r in anyone.itertuples()])


def _ordinal(k) -> str:  # noqa: ANN001
    k = int(float(k))
    return {1: "first", 2: "second", 3: "third"}.get(k, f"{k}th")


def step_times_chart(times: pd.DataFrame | None, width: int = 1000, row: int = 34, label_width: int = 210) -> dict:
    """Median and quartiles (a box from Q1 to Q3, a bar at the median, a dot at the mean) of each published
    interval; a row whose statistics were suppressed is listed without a box."""
    if times is None or times.empty:
        return {}
    parsed = [(r.interval, r.n, number(r.q1), number(r.median), number(r.q3), number(r.mean)) for r in times.itertuples()]
    top = max([v for p in parsed for v in p[2:] if v is not None] or [1])
    plot = width - label_width - 190  # room right of the longest box for its "median ..., n = ..." label
    scale = plot / (top * 1.05)
    rows = []
    for i, (interval, n, q1, median, q3, mean) in enumerate(parsed):
        y = 8 + i * row
        drawn = None not in (q1, median, q3)
        rows.append({"label": interval, "n": n, "y": y, "h": row - 14, "mid": y + (row - 14) / 2, "drawn": drawn,
                     "q1": q1, "median": median, "q3": q3, "mean": mean,
                     "x1": round(label_width + (q1 or 0) * scale, 1), "x3": round(label_width + (q3 or 0) * scale, 1),
                     "xm": round(label_width + (median or 0) * scale, 1),
                     "xmean": None if mean is None else round(label_width + mean * scale, 1),
                     "label_y": y + (row - 14) / 2 + 5})
    step = 30 if top <= 300 else 90 if top <= 900 else 365
    ticks = [{"x": round(label_width + d * scale, 1), "label": str(d)} for d in range(0, int(top * 1.05) + 1, step)]
    height = 8 + len(rows) * row + 30
    return {"width": width, "height": height, "rows": rows, "ticks": ticks, "axis_y": height - 8,
            "plot_bottom": height - 24, "label_x": label_width - 8, "left": label_width}


KAPPA_BANDS = ((0.2, "k-slight", "slight"), (0.4, "k-fair", "fair"), (0.6, "k-moderate", "moderate"),
               (0.8, "k-substantial", "substantial"), (1.01, "k-almost", "almost perfect"))  # Landis & Koch 1977


def _kappa_band(value: float) -> tuple[str, str]:
    for upper, css, word in KAPPA_BANDS:
        if value < upper:
            return css, word
    return KAPPA_BANDS[-1][1:]


def kappa_heatmap(agreement: pd.DataFrame | None, order: list[str], cell: int = 58, label_width: int = 170) -> dict:
    """The published Cohen's kappa of every pair of definitions as a matrix; the number is printed in each cell
    (the shade repeats it in five Landis-Koch bands), a suppressed kappa is a hatched cell saying so."""
    if agreement is None or agreement.empty:
        return {}
    names = list(dict.fromkeys([*order, *agreement["definition_a"], *agreement["definition_b"]]))
    kappa = {}
    for r in agreement.itertuples():
        kappa[(r.definition_a, r.definition_b)] = kappa[(r.definition_b, r.definition_a)] = r.kappa
    top = label_width
    cells = []
    for i, a in enumerate(names):
        for j, b in enumerate(names):
            x, y = label_width + j * cell, top + i * cell
            if i == j:
                cells.append({"x": x, "y": y, "a": a, "b": b, "text": "", "css": "k-self", "shown": ""})
                continue
            shown = kappa.get((a, b))
            value = number(shown)
            css, word = _kappa_band(value) if value is not None else ("k-hidden", "not shown")
            cells.append({"x": x, "y": y, "a": a, "b": b, "shown": "" if shown is None else shown, "css": css,
                          "word": word, "text": (f"{value:.2f}" if value is not None else
                                                 ("supp." if shown is not None else "n/a"))})
    size = label_width + len(names) * cell
    return {"width": size + 70, "height": size + 10, "cell": cell, "cells": cells, "label_width": label_width,
            "rows": [{"name": n, "y": top + i * cell + cell / 2 + 4, "x": label_width + i * cell + cell / 2}
                     for i, n in enumerate(names)], "top": top}


def prevalence_forest(prevalence: pd.DataFrame | None, width: int = 940, row: int = 28, label_width: int = 230) -> dict:
    """TRD prevalence per definition with its Wilson 95% interval from the published (rounded) counts (the
    definitions report's own function), as a forest plot on a 0-100% axis."""
    if prevalence is None or prevalence.empty:
        return {}
    from trdpath.definitions.report import prevalence_with_ci

    counts = prevalence.copy()
    for column in ("population_n", "trd_n"):
        counts[column] = [int(number(v)) if number(v) is not None else str(v) for v in counts[column]]
    with_ci = prevalence_with_ci(counts)
    plot = width - label_width - 200
    rows = []
    for i, r in enumerate(with_ci.itertuples()):
        pct, low, high = number(r.trd_pct), number(r.ci95_low), number(r.ci95_high)
        y = 10 + i * row
        rows.append({"name": r.definition, "y": y + row / 2, "label_y": y + row / 2 + 4, "pct": r.trd_pct,
                     "low": r.ci95_low, "high": r.ci95_high, "trd_n": r.trd_n, "population_n": r.population_n,
                     "drawn": None not in (pct, low, high),
                     "x": None if pct is None else round(label_width + pct / 100 * plot, 1),
                     "x_low": None if low is None else round(label_width + low / 100 * plot, 1),
                     "x_high": None if high is None else round(label_width + high / 100 * plot, 1)})
    height = 10 + len(rows) * row + 34
    ticks = [{"x": round(label_width + p / 100 * plot, 1), "label": f"{p}%"} for p in range(0, 101, 20)]
    return {"width": width, "height": height, "rows": rows, "ticks": ticks, "axis_y": height - 8,
            "plot_bottom": height - 24, "label_x": label_width - 8, "text_x": label_width + plot + 12}
