"""The report's "Definitions" section: prevalence with 95% CIs, overlap (UpSet), kappa heat map.

Drawn only from disclosure-controlled counts, so the section can leave with the release folder:
`compare` writes it as ``OUT/release/definitions/section.html`` (a self-contained HTML fragment,
figures inlined) for the report to include. Not done yet (docs/definitions.md): the Table 3 odds
ratios per definition (forest plot) and the definition dial.
"""

from __future__ import annotations

import base64
import html
import io
import itertools

import matplotlib

matplotlib.use("Agg")  # no display in a secure environment
import matplotlib.pyplot as plt  # noqa: E402
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


def _png(fig) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return buffer.getvalue()


def upset_png(counts: pd.Series) -> bytes | None:
    """UpSet plot (Lex et al. 2014, the upsetplot package) of the TRD verdicts' overlap."""
    if counts.empty:
        return None
    from upsetplot import UpSet

    fig = plt.figure(figsize=(11, 6))
    UpSet(counts.sort_values(ascending=False).head(30), sort_by="input", show_counts=True).plot(fig=fig)
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


def _img(png: bytes | None, alt: str) -> str:
    if png is None:
        return f"<p>{html.escape(alt)}: no group large enough to show.</p>"
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{base64.b64encode(png).decode()}">'


def section_html(comparison, prevalence: pd.DataFrame, agreement: pd.DataFrame, settings: DisclosureSection) -> str:
    """The section as an HTML fragment (figures inlined); every number shown is disclosure-controlled."""
    ids = [r.id for r in comparison.definitions]
    titles = {r.id: r.definition.title for r in comparison.definitions}
    table = prevalence_with_ci(prevalence)
    rows = "".join(
        f"<tr><td>{html.escape(titles[r.definition])} (<code>{html.escape(r.definition)}</code>)</td>"
        f"<td>{r.population_n}</td><td>{r.trd_n}</td><td>{r.trd_pct}</td><td>{r.ci95_low}-{r.ci95_high}</td></tr>"
        for r in table.itertuples(index=False))
    note = (f"Counts below {settings.min_count} are shown as {small_label(settings)}, others rounded to the nearest "
            f"{settings.rounding}; percentages and Wilson 95% intervals are from the rounded counts.") if settings.enabled else \
        "Disclosure control is OFF: not for release."
    return (
        '<section id="definitions"><h2>Definitions</h2>'
        "<p>The same patients under each published TRD definition (docs/definitions.md).</p>"
        "<table><thead><tr><th>definition</th><th>population</th><th>TRD</th><th>%</th><th>95% CI</th></tr></thead>"
        f"<tbody>{rows}</tbody></table><p><small>{html.escape(note)}</small></p>"
        "<h3>Overlap</h3>" + _img(upset_png(overlap_counts(comparison, settings)), "Overlap of TRD verdicts (UpSet)")
        + "<h3>Agreement</h3>" + _img(kappa_heatmap_png(agreement, ids), "Cohen's kappa between definitions")
        + "</section>")
