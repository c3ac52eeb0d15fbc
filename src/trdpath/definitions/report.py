"""The report's "Definitions" section: prevalence with 95% CIs, overlap (UpSet), kappa heat map,
Table 3's odds ratios under each definition (forest plot) and the definition dial.

Drawn only from disclosure-controlled figures, so the section can leave with the release folder:
`compare` writes it as ``OUT/release/definitions/section.json`` with one PNG per figure (what the report
includes, in report.html and report.docx, its figures numbered with the report's) and as
``section.html`` (a self-contained fragment, figures inlined, to read on its own).
"""

from __future__ import annotations

import base64
import html
import io
import itertools

import matplotlib

matplotlib.use("Agg")  # no display in a secure environment
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import FormatStrFormatter, NullFormatter  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pyarrow.compute as pc  # noqa: E402
from statsmodels.stats.proportion import proportion_confint  # noqa: E402

from trdpath.config import DisclosureSection  # noqa: E402
from trdpath.stats.disclosure import round_count, small_label  # noqa: E402


def prevalence_with_ci(protected: pd.DataFrame) -> pd.DataFrame:
    """Wilson 95% intervals from the *published* (rounded) counts, so they reveal nothing more."""
    low, high = [], []
    for row in protected.itertuples(index=False):
        if isinstance(row.trd_n, str) or isinstance(row.population_n, str) or not row.population_n:
            low.append("suppressed")
            high.append("suppressed")
            continue
        lo, hi = proportion_confint(int(row.trd_n), int(row.population_n), alpha=0.05, method="wilson")
        low.append(round(100 * lo, 1))
        high.append(round(100 * hi, 1))
    return protected.assign(ci95_low=low, ci95_high=high)


def overlap_counts(comparison, settings: DisclosureSection) -> pd.Series:
    """Patients in every definition's population, counted by which definitions call them TRD.

    Counts 1..min_count-1 are left out (shown as none) and the others rounded, as everywhere."""
    ids = [r.id for r in comparison.definitions]
    table = comparison.patients
    inside = None
    for i in ids:
        valid = pc.is_valid(table[f"{i}__trd"])
        inside = valid if inside is None else pc.and_(inside, valid)
    frame = pd.DataFrame({i: pc.filter(table[f"{i}__trd"], inside).to_numpy(zero_copy_only=False).astype(bool) for i in ids})
    counts = frame.value_counts()
    if settings.enabled:
        counts = counts[counts >= settings.min_count].map(lambda n: round_count(n, settings.rounding))
    counts.index = counts.index.set_names(ids)
    return counts


def _png(fig, tight: bool = True) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90, bbox_inches="tight" if tight else None)
    plt.close(fig)
    return buffer.getvalue()


def upset_png(counts: pd.Series) -> bytes | None:
    """UpSet plot (Lex et al. 2014, the upsetplot package) of the TRD verdicts' overlap."""
    if counts.empty:
        return None
    from upsetplot import UpSet

    import warnings

    fig = plt.figure(figsize=(11, 6))
    with warnings.catch_warnings():
        # upsetplot 0.9's own warnings, not ours: pandas' chained-assignment FutureWarning, and its count labels
        # placed at 1-element arrays, which NumPy 1.25+ deprecates when matplotlib draws them (at savefig).
        warnings.simplefilter("ignore", FutureWarning)
        warnings.filterwarnings("ignore", "Conversion of an array with ndim > 0 to a scalar", DeprecationWarning)
        UpSet(counts.sort_values(ascending=False).head(20), sort_by="input", show_counts=True).plot(fig=fig)
        return _png(fig)


def kappa_heatmap_png(agreement: pd.DataFrame, ids: list[str]) -> bytes:
    """Cohen's kappa for each pair (suppressed pairs left blank)."""
    k = np.full((len(ids), len(ids)), np.nan)
    np.fill_diagonal(k, 1.0)
    where = {d: i for i, d in enumerate(ids)}
    for row in agreement.itertuples(index=False):
        if not isinstance(row.kappa, str) and not pd.isna(row.kappa):
            a, b = where[row.definition_a], where[row.definition_b]
            k[a, b] = k[b, a] = float(row.kappa)
    fig, ax = plt.subplots(figsize=(1 + 0.6 * len(ids), 0.8 + 0.5 * len(ids)))
    image = ax.imshow(k, vmin=-0.2, vmax=1, cmap="viridis")
    ax.set_xticks(range(len(ids)), ids, rotation=60, ha="right")
    ax.set_yticks(range(len(ids)), ids)
    for a, b in itertools.product(range(len(ids)), repeat=2):
        if not np.isnan(k[a, b]):
            ax.text(b, a, f"{k[a, b]:.2f}", ha="center", va="center", fontsize=7, color="white" if k[a, b] < 0.6 else "black")
    fig.colorbar(image, ax=ax, label="Cohen's kappa")
    ax.set_title("Agreement between definitions")
    return _png(fig)


def forest_png(odds: pd.DataFrame, ids: list[str]) -> bytes | None:
    """One panel per Table 3 term: each definition's odds ratio with its 95% CI (log scale), from the
    published (rounded, suppressed) values only; a suppressed estimate is left out of its panel."""
    shown = odds[odds["term"].astype(str) != ""].copy()
    shown = shown[shown["odds_ratio"].map(lambda v: not isinstance(v, str) and not pd.isna(v))]
    if shown.empty:
        return None
    terms = list(dict.fromkeys(shown["term"]))
    columns = min(4, len(terms))
    rows = -(-len(terms) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(3.4 * columns, 0.9 + 0.22 * len(ids) * rows), sharey=True, squeeze=False)
    where = {d: i for i, d in enumerate(ids)}
    for ax, term in zip(axes.ravel(), terms):
        part = shown[shown["term"] == term]
        y = [where[d] for d in part["definition"]]
        est = part["odds_ratio"].astype(float).to_numpy()
        lo = part["ci_lower"].map(lambda v: np.nan if isinstance(v, str) else float(v)).to_numpy()
        hi = part["ci_upper"].map(lambda v: np.nan if isinstance(v, str) else float(v)).to_numpy()
        ax.errorbar(est, y, xerr=[np.clip(est - lo, 0, None), np.clip(hi - est, 0, None)], fmt="o", ms=3,
                    color="#1f4e79", ecolor="#6d8fb3", capsize=2)
        ax.axvline(1.0, color="grey", lw=0.8, ls="--")
        ax.set_xscale("log")
        low, high = ax.get_xlim()
        ax.set_xticks([t for t in (0.05, 0.1, 0.25, 0.5, 1, 2, 4, 10, 20, 50) if low <= t <= high] or [1])
        ax.xaxis.set_major_formatter(FormatStrFormatter("%g"))  # 0.5, 1, 2 rather than 5 x 10^-1
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_title(term, fontsize=8)
        ax.tick_params(labelsize=7)
    for ax in axes.ravel()[len(terms):]:
        ax.axis("off")
    for ax in axes[:, 0]:
        ax.set_yticks(range(len(ids)), ids)
        ax.invert_yaxis()
    fig.supxlabel("odds ratio of TRD (95% CI, log scale)", fontsize=9)
    # fixed margins: tight_layout and a tight bounding box each cost another full draw of 12 panels
    fig.subplots_adjust(left=0.11, right=0.99, top=0.95, bottom=0.08, hspace=0.45, wspace=0.06)
    return _png(fig, tight=False)


def dial_png(dial: pd.DataFrame) -> bytes | None:
    """TRD % over minimum trial days, one line per persistence gap; solid: augmentation counts, dashed: not."""
    usable = dial[dial["trd_pct"].map(lambda v: not isinstance(v, str) and not pd.isna(v))]
    if usable.empty:
        return None
    fig, ax = plt.subplots(figsize=(6.5, 3.8))
    colours = dict(zip(sorted(dial["persistence_gap_days"].unique()), ("#1b9e77", "#d95f02", "#7570b3", "#e7298a")))
    for (gap, augmentation), part in usable.groupby(["persistence_gap_days", "augmentation_counts"]):
        part = part.sort_values("min_trial_days")
        ax.plot(part["min_trial_days"], part["trd_pct"].astype(float), marker="o", color=colours.get(gap),
                ls="-" if augmentation else "--",
                label=f"gap {gap} days, augmentation {'counts' if augmentation else 'not counted'}")
    ax.set_xticks(sorted(dial["min_trial_days"].unique()))
    ax.set_xlabel("minimum trial length (days)")
    ax.set_ylabel("TRD (% of the cohort)")
    ax.set_title("Definition dial (Maudsley rule)")
    ax.legend(fontsize=7, loc="best")
    return _png(fig)


def _text(value) -> str:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def section_parts(comparison, prevalence: pd.DataFrame, agreement: pd.DataFrame, settings: DisclosureSection,
                  odds: pd.DataFrame | None = None, dial: pd.DataFrame | None = None,
                  overlap: pd.Series | None = None) -> list[dict]:
    """The section in reading order as plain data (every number disclosure-controlled): blocks of kind
    text, note, subheading, list, table (title, header, rows) and figure (key, caption, png). compare writes
    them as section.json (figures as PNG files beside it) for the report, and as section.html to read alone.
    ``overlap``: the UpSet groups as the release audit published them (definitions.audit)."""
    ids = [r.id for r in comparison.definitions]
    titles = {r.id: r.definition.title for r in comparison.definitions}
    table = prevalence_with_ci(prevalence)
    rows = [[f"{titles[r.definition]} ({r.definition})", _text(r.population_n), _text(r.trd_n), _text(r.trd_pct),
             "suppressed" if isinstance(r.ci95_low, str) else f"{_text(r.ci95_low)}-{_text(r.ci95_high)}"]
            for r in table.itertuples(index=False)]
    note = (f"Counts below {settings.min_count} are shown as {small_label(settings)}, others rounded to the nearest "
            f"{settings.rounding}; percentages and Wilson 95% intervals are from the rounded counts.") if settings.enabled else \
        "Disclosure control is OFF: not for release."
    parts = [
        {"kind": "text", "value": "The same patients under each published TRD definition (trdpath compare; "
                                  "docs/definitions.md). The tables are also in release/definitions/ as CSV files."},
        {"kind": "table", "key": "definitions_prevalence", "title": "TRD prevalence by definition",
         "header": ["definition", "population", "TRD", "%", "95% CI"], "rows": rows},
        {"kind": "note", "value": note},
        {"kind": "subheading", "value": "Overlap"},
        _figure("overlap", "Overlap of the TRD verdicts: patients in every definition's population, by the set of "
                "definitions that call them TRD (UpSet plot; the 20 largest groups; a group below "
                f"{settings.min_count} patients, or one the disclosure audit names, is not drawn)",
                upset_png(overlap_counts(comparison, settings) if overlap is None else overlap)),
        {"kind": "subheading", "value": "Agreement"},
        _figure("kappa", "Agreement between definitions: Cohen's kappa for each pair, over the patients in both "
                "populations (a pair with a hidden cell is left blank)", kappa_heatmap_png(agreement, ids)),
    ]
    if odds is not None:
        hidden = odds[odds["term"].astype(str) == ""]
        parts += [
            {"kind": "subheading", "value": "Table 3 under each definition"},
            {"kind": "text", "value": "The final model of Table 3 (all blocks) re-estimated with each definition's TRD "
                                      "as the outcome, on the cohort patients in its population: how the associations "
                                      "move with the definition. Odds ratios with Wald 95% intervals; a term with a "
                                      f"cell below {settings.min_count} patients is not shown."},
            _figure("forest", "Odds ratios of TRD by definition with 95% confidence intervals (log scale), one panel "
                    "per term of Table 3's final model", forest_png(odds, ids)),
        ]
        if not hidden.empty:
            parts.append({"kind": "list", "value": [f"{r.definition}: {_text(r.warning)}" for r in hidden.itertuples(index=False)]})
    parts.append({"kind": "subheading", "value": "Definition dial"})
    if dial is None:
        parts.append({"kind": "text", "value": "Not computed for this run: trdpath compare --dial re-evaluates the "
                      "Maudsley rule over minimum trial days 28/42/56 x persistence gap 30/90/180 days x augmentation "
                      "counted or not."})
    else:
        headers = ["min. trial days", "persistence gap (days)", "augmentation counts", "population", "TRD", "%",
                   "level 2", "level 3", "level 4+"]
        parts += [
            {"kind": "text", "value": "The Maudsley rule of this study with three of its parameters turned: prevalence "
                                      "and the resistance-level mix (TRD patients by antidepressants in the episode)."},
            _figure("dial", "TRD prevalence over the definition dial (Maudsley rule): minimum trial length x "
                    "persistence gap x augmentation counted or not", dial_png(dial)),
            {"kind": "table", "key": "definitions_dial", "title": "The definition dial", "header": headers,
             "rows": [[_text(v) for v in row] for row in dial.itertuples(index=False)]},
        ]
    return parts


def _figure(key: str, caption: str, png: bytes | None) -> dict:
    if png is None:
        return {"kind": "text", "value": f"{caption}: no group large enough to show."}
    return {"kind": "figure", "key": key, "caption": caption, "png": png}


def section_html(parts: list[dict]) -> str:
    """The section as one HTML fragment (figures inlined, numbered within it) to read on its own."""
    out, number = [SECTION_START, STYLE], 0
    for part in parts:
        kind = part["kind"]
        if kind in ("text", "note"):
            text = html.escape(part["value"])
            out.append(f"<p><small>{text}</small></p>" if kind == "note" else f"<p>{text}</p>")
        elif kind == "subheading":
            out.append(f"<h3>{html.escape(part['value'])}</h3>")
        elif kind == "list":
            out.append("<ul>" + "".join(f"<li>{html.escape(v)}</li>" for v in part["value"]) + "</ul>")
        elif kind == "table":
            out.append('<table class="paper"><thead><tr>' + "".join(f"<th>{html.escape(h)}</th>" for h in part["header"])
                       + "</tr></thead><tbody>" + "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>"
                                                          for row in part["rows"]) + "</tbody></table>")
        elif kind == "figure":
            number += 1
            out.append(f'<figure><img alt="{html.escape(part["caption"])}" src="data:image/png;base64,'
                       f'{base64.b64encode(part["png"]).decode()}"><figcaption><b>Figure {number}</b> '
                       f"{html.escape(part['caption'])}</figcaption></figure>")
    return "".join(out) + SECTION_END


def write_section(parts: list[dict], folder) -> None:
    """section.html, section.json and one PNG per figure into `folder` (a staging folder: see compare.write_comparison)."""
    import json
    from pathlib import Path

    folder = Path(folder)
    (folder / SECTION_FILE).write_text(section_html(parts), encoding="utf-8")
    blocks = []
    for part in parts:
        if part["kind"] == "figure":
            name = f"figure_{part['key']}.png"
            (folder / name).write_bytes(part["png"])
            part = {"kind": "figure", "key": part["key"], "caption": part["caption"], "file": name}
        blocks.append(part)
    (folder / SECTION_JSON).write_text(json.dumps({"version": 1, "blocks": blocks}, indent=1), encoding="utf-8")


# Enough to read section.html on its own; inside report.html the report's own table.paper rules apply too.
STYLE = ("<style>.atlas-note{font-size:.85em}section#definitions table.paper{border-collapse:collapse;margin:.6em 0}"
         "section#definitions table.paper th,section#definitions table.paper td{padding:2px 8px;text-align:right}"
         "section#definitions table.paper td:first-child,section#definitions table.paper th:first-child{text-align:left}"
         "section#definitions img{max-width:100%}</style>")
SECTION_START, SECTION_END = '<section id="definitions"><h2>Definitions</h2>', "</section>"
SECTION_FILE, SECTION_JSON = "section.html", "section.json"


def report_section(results, folder=None):
    """The "Definitions" section of report.html and report.docx when `trdpath compare` wrote one into this
    results folder (OUT/release/definitions/section.json and its figures), else None. Its figures are
    report Figures (numbered with the report's; embedded in the DOCX too) and its tables DisplayTables.
    The file is read as data, never as markup: only the known block kinds, texts as text (escaped by the
    report's templates) and figure files by the names compare gives them, inside that folder."""
    import json
    import re
    from pathlib import Path

    from trdpath import layout
    from trdpath.report.display import DisplayTable
    from trdpath.report.figures import Figure
    from trdpath.report.sections import Section

    folder = Path(layout.release_dir(results)) / "definitions" if folder is None else Path(folder)
    try:
        blocks = json.loads((folder / SECTION_JSON).read_text(encoding="utf-8"))["blocks"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    section = Section("definitions", "Definitions")
    try:
        for block in blocks:
            kind = block["kind"]
            if kind in ("text", "note"):
                section.text(str(block["value"]), "note" if kind == "note" else "")
            elif kind == "subheading":
                section.subheading(str(block["value"]))
            elif kind == "list":
                section.items([str(v) for v in block["value"]])
            elif kind == "table":
                table = DisplayTable(f"{block['key']}", str(block["title"]), [[(str(h), 1) for h in block["header"]]])
                for row in block["rows"]:
                    table.add([str(c) for c in row])
                section.table(table)
            elif kind == "figure":
                name = str(block["file"])
                if not re.fullmatch(r"figure_[a-z_]+\.png", name) or not (folder / name).is_file():
                    continue
                section.figure(Figure(f"definitions_{block['key']}", str(block["caption"]), (folder / name).read_bytes()))
    except (KeyError, TypeError):
        return None
    return section
