"""The report's section on early identification: the backtest and the risk model's evaluation.

`trdpath backtest --out OUT/backtest` and `trdpath risk --out OUT/risk` (OUT a classification results
folder) leave their outputs where `trdpath report OUT` finds them; this module turns them into one
report section (HTML and DOCX, through trdpath.report's Section) and its published tables.

Disclosure control (docs/report.md; the project's helpers in trdpath.stats.disclosure): every count
goes through the same rule again (fewer than min_count: "<min_count"; others rounded; applied to an
already rounded count it changes nothing), and every proportion is recomputed from the *rounded*
counts, as the report's percentages are: a PPV or a prevalence with three decimals over an exact
denominator would give back the exact counts that the rounding hides (k/n pins k and n). The model's
summary statistics (AUROC, AUPRC, calibration slope and intercept) are published to two decimals and the
lift to one: they are not counts (a rank statistic U/(events x non-events), an average precision, the
coefficients of a logistic recalibration), and to two decimals over rounded group sizes they do not pin
any count. The curves are drawn from rounded counts: each calibration tenth (calibration_shown) and each
point of the model's decision curve (decision_curve_shown), whose net benefit is TP/n - FP/n x t/(1-t).
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import pandas as pd

from trdpath.report.display import DisplayTable
from trdpath.report.figures import Figure
from trdpath.report.sections import Section
from trdpath.stats.disclosure import round_count, small_label

BACKTEST_DIR = "backtest"  # OUT/backtest/: `trdpath backtest --out OUT/backtest`
RISK_DIR = "risk"          # OUT/risk/: `trdpath risk --out OUT/risk`
SECTION_KEY = "early"
TITLE = "Early identification: backtest and risk of progression"


def count(value, settings) -> str:
    """A published count: '<min_count' below the threshold, else rounded (idempotent on rounded counts)."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return ""
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            return value  # already a label ("<8", "suppressed (small count)")
    value = int(round(float(value)))
    if not settings.enabled:
        return str(value)
    if 0 < value < settings.min_count:
        return small_label(settings)
    return str(round_count(value, settings.rounding))


def proportion(events, n, settings) -> str:
    """events/n from the published (rounded) counts; withheld when either side is below min_count."""
    try:
        events, n = float(events), float(n)
    except (TypeError, ValueError):
        return "suppressed (small count)"
    if n <= 0:
        return ""
    if settings.enabled:
        if min(events, n - events) < settings.min_count:
            return "suppressed (small count)"
        events, n = round_count(events, settings.rounding), round_count(n, settings.rounding)
    return f"{events / n:.2f}" if n else ""


def calibration_shown(points: pd.DataFrame, n, settings) -> pd.DataFrame:
    """The calibration plot's points as they may be drawn. Each tenth's observed proportion is events/size of
    about n/10 patients: drawn exactly it gives the tenth's events (and, summed, the test set's n) back. So the
    events are taken as observed x (published n)/10, rounded like every count, and drawn over the rounded tenth
    size; a tenth with fewer than min_count events or non-events that way is not drawn (the cell rule)."""
    if points is None or points.empty or not settings.enabled:
        return points
    try:
        size = float(n) / 10
    except (TypeError, ValueError):
        return points.iloc[0:0]  # the test set's n is itself small: no point may be drawn
    shown_size = round_count(size, settings.rounding)
    rows = []
    for row in points.to_dict("records"):
        events = round_count(float(row["observed"]) * size, settings.rounding)
        if shown_size <= 0 or min(events, shown_size - events) < settings.min_count:
            continue
        rows.append({**row, "observed": events / shown_size})
    return pd.DataFrame(rows, columns=points.columns)


def decision_curve_shown(curve: pd.DataFrame | None, n, settings) -> pd.DataFrame | None:
    """The model's decision curve as it may be drawn. Its net benefit at threshold t is TP/n - FP/n x t/(1-t)
    (Vickers & Elkin 2006): drawn exactly over a known n, two thresholds' points give the counts of patients
    treated with and without the event back, which are small at high thresholds. So each point is computed from
    those counts rounded over the rounded n, and a threshold where either count is below min_count is not
    drawn (the cell rule; calibration_shown does the same for the calibration plot). A curve file without
    the counts (an older `trdpath risk`) is not drawn at all while disclosure control is on."""
    if curve is None or not settings.enabled:
        return curve
    if not {"treated_events", "treated_non_events"} <= set(curve.columns):
        return curve.iloc[0:0]
    try:
        shown_n = round_count(float(n), settings.rounding)
    except (TypeError, ValueError):
        return curve.iloc[0:0]
    keep = (curve["treated_events"] >= settings.min_count) & (curve["treated_non_events"] >= settings.min_count)
    curve = curve[keep].copy()
    if shown_n <= 0 or curve.empty:
        return curve.iloc[0:0]
    tp = curve["treated_events"].map(lambda k: round_count(int(k), settings.rounding)) / shown_n
    fp = curve["treated_non_events"].map(lambda k: round_count(int(k), settings.rounding)) / shown_n
    curve["net_benefit_model"] = tp - fp * curve["threshold"] / (1 - curve["threshold"])
    return curve.drop(columns=["treated_events", "treated_non_events"])


def _table(key: str, title: str, header: list[str], rows: list[list[str]], footnotes: list[str]) -> DisplayTable:
    table = DisplayTable(key, title, [[(h, 1) for h in header]], footnotes=footnotes)
    for row in rows:
        table.add([str(c) for c in row])
    return table


def _png(fig) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=120)
    return buffer.getvalue()


def backtest_part(folder: Path, settings) -> tuple[list, dict[str, pd.DataFrame]]:
    """Blocks for the section and the published tables, from OUT/backtest."""
    meta = json.loads((folder / "backtest.json").read_text(encoding="utf-8"))
    by_date = pd.read_csv(folder / "backtest_by_date.csv", dtype=str, keep_default_na=False)
    rows, published = [], []
    for row in meta.get("summary", []):
        measure, value = str(row.get("measure", "")), row.get("value", "")
        n, events = row.get("n"), row.get("events")
        if measure.startswith("PPV"):
            value = proportion(events, n, settings) if n not in (None, "") else ""
        elif "median" in measure:
            value = str(value) if count(n, settings) not in ("", small_label(settings)) or not settings.enabled else "suppressed (small count)"
        else:
            value = count(value, settings)
        rows.append([measure, value, count(n, settings) if n not in (None, "") else ""])
        published.append({"measure": measure, "value": value, "n": rows[-1][2]})
    stages = [c for c in by_date.columns if c.startswith("stage_")]
    for c in stages:
        by_date[c] = by_date[c].map(lambda v: count(v, settings))
    blocks = [("subheading", "Backtest (silent mode)"),
              ("text", (f"Stages computed on {meta.get('dates')} as-of dates ({meta.get('every')}ly, "
                        f"{meta.get('from')} to {meta.get('to')}) from what was recorded by each date; outcome "
                        f"read at the index date {meta.get('outcome_date')}. Proportions are computed from the "
                        "rounded counts.", "")),
              ("table", _table("early_backtest", "Backtest: time gained before TRD and the flag's positive "
                               "predictive value", ["Measure", "Value", "n"], rows, []))]
    figure = _stage_figure(by_date, stages, settings)
    if figure is not None:
        blocks.append(("figure", figure))
    return blocks, {"early_backtest_summary": pd.DataFrame(published), "early_backtest_by_date": by_date}


def _stage_figure(by_date: pd.DataFrame, stages: list[str], settings) -> Figure | None:
    if not stages or by_date.empty:
        return None
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3.2))
    x = pd.to_datetime(by_date["as_of"])
    for c in stages:
        # Suppressed counts are not drawn (a gap), never drawn as zero.
        y = pd.to_numeric(by_date[c], errors="coerce")
        ax.plot(x, y, marker="o", markersize=3, label=c.replace("stage_", "stage "))
    ax.set_ylabel("patients in current care")
    ax.legend(fontsize=7, ncol=len(stages))
    fig.autofmt_xdate()
    fig.tight_layout()
    png = _png(fig)
    plt.close(fig)
    return Figure("early_stages", "Patients in current care at each pathway stage on each as-of date of the backtest "
                  "(rounded; suppressed counts not drawn)", png)


RISK_MEASURES = (("auroc", "AUROC"), ("auprc", "AUPRC"), ("calibration_slope", "Calibration slope"),
                 ("calibration_intercept", "Calibration intercept (calibration-in-the-large)"),
                 ("lift_top_fifth", "Lift in the top fifth of predicted risk"))


def risk_part(folder: Path, settings) -> tuple[list, dict[str, pd.DataFrame]]:
    """Blocks for the section and the published tables, from OUT/risk."""
    summary = json.loads((folder / "risk_evaluation.json").read_text(encoding="utf-8"))
    rows = [["Model", str(summary.get("model", ""))],
            ["Outcome", str(summary.get("outcome", ""))], ["Split", str(summary.get("split", ""))],
            ["Training set: patients", count(summary.get("train_n"), settings)],
            ["Training set: TRD within 12 months", count(summary.get("train_events"), settings)],
            ["Test set: patients", count(summary.get("n"), settings)],
            ["Test set: TRD within 12 months", count(summary.get("events"), settings)],
            ["Test set: proportion with TRD", proportion(summary.get("events"), summary.get("n"), settings)]]
    for key, label in RISK_MEASURES:
        value = summary.get(key)
        # Lift is (top-fifth events / top-fifth n) / (events / n): to 2 decimals it narrowed the test set's rounded
        # n and events from 25 pairs to 2 (n 40, events 20 printed; lift 1.85); 1 decimal leaves 16.
        text = "" if value is None else f"{float(value):.{1 if key == 'lift_top_fifth' and settings.enabled else 2}f}"
        if key == "auroc" and summary.get("auroc_ci"):
            lo, hi = summary["auroc_ci"]
            text += f" (95% CI {float(lo):.2f}-{float(hi):.2f})"
        rows.append([label, text])
    published = {"early_risk_evaluation": pd.DataFrame(rows, columns=["measure", "value"])}
    blocks = [("subheading", "Risk of progression to TRD (research only)"),
              ("text", ("Not a medical device. A model of TRD within 12 months of the first adequate trial from "
                        "what was known that day, evaluated on the latest 30% of index dates (TRIPOD). Published "
                        "models discriminate modestly (Lage et al. 2022: external AUROC 0.652).", "")),
              ("table", _table("early_risk", "Risk model: temporal validation", ["Measure", "Value"], rows, []))]
    coefficients = folder / "risk_coefficients.csv"
    if coefficients.is_file():
        coefs = pd.read_csv(coefficients, dtype=str, keep_default_na=False)
        coef_rows = [[predictor_label(r["predictor"]), _coefficient(r["coefficient"], settings)] for _, r in coefs.iterrows()]
        blocks.append(("table", _table("early_risk_coefficients", "Risk model: coefficients (log odds per unit; "
                                       "standardised numeric predictors)", ["Predictor", "Coefficient"], coef_rows,
                                       [f"<{settings.min_count}: held by, or lacking in, fewer than {settings.min_count} "
                                        "training patients; not published."] if settings.enabled else [])))
        published["early_risk_coefficients"] = pd.DataFrame(coef_rows, columns=["predictor", "coefficient"])
    curve = folder / "risk_decision_curve.csv"
    curve = pd.read_csv(curve) if curve.is_file() else None
    summary = {**summary, "calibration_points": calibration_shown(pd.DataFrame(summary.get("calibration_points") or []),
                                                                  summary.get("n"), settings).to_dict("records")}
    curve = decision_curve_shown(curve, summary.get("n"), settings)
    if curve is not None and curve.empty:
        curve = None  # no threshold with enough patients treated with and without the event to draw
    if curve is not None and settings.enabled:
        # "Treat all" is the prevalence's own line: drawn from the published (rounded) counts, not the exact one.
        prevalence = proportion(summary.get("events"), summary.get("n"), settings)
        try:
            prevalence = float(prevalence)
            curve = curve.assign(net_benefit_all=prevalence - (1 - prevalence) * curve["threshold"] / (1 - curve["threshold"]))
        except ValueError:
            curve = curve.drop(columns="net_benefit_all")
    figure = _risk_figure(summary, curve)
    if figure is not None:
        blocks.append(("figure", figure))
    return blocks, published


def predictor_label(name: str) -> str:
    """'cat__sex_female' -> 'sex: female', 'bin__self_harm' -> 'self harm' (scikit-learn's prefixed names)."""
    kind, _, rest = name.partition("__")
    rest = rest or kind
    if kind == "cat" and "_" in rest:
        variable, _, level = rest.partition("_")
        return f"{variable}: {level}"
    return rest.replace("_", " ")


def _coefficient(value: str, settings) -> str:
    try:
        return f"{float(value):.2f}"
    except ValueError:
        return small_label(settings) if settings.enabled else value


def _risk_figure(summary: dict, curve: pd.DataFrame | None) -> Figure | None:
    points = pd.DataFrame(summary.get("calibration_points") or [])
    if points.empty and curve is None:
        return None
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2 if curve is not None else 1, figsize=(8, 3.6), squeeze=False)
    ax = axes[0][0]
    ax.plot([0, 1], [0, 1], color="grey", linewidth=1)
    if points.empty:  # no tenth has min_count events and non-events (calibration_shown): none is drawn
        ax.text(0.5, 0.5, "no tenth large enough\nto draw (disclosure control)", ha="center", va="center", fontsize=8)
        top = 1.0
    else:
        ax.plot(points["predicted"], points["observed"], marker="o")
        top = max(float(points[["predicted", "observed"]].max().max()) * 1.1, 0.05)
    ax.set_xlim(0, top)
    ax.set_ylim(0, top)
    ax.set_xlabel("predicted risk (tenths of the test set)")
    ax.set_ylabel("observed proportion (rounded counts)")
    ax.set_title("Calibration", fontsize=9)
    if curve is not None:
        ax = axes[0][1]
        ax.plot(curve["threshold"], curve["net_benefit_model"], label="model")
        if "net_benefit_all" in curve:
            ax.plot(curve["threshold"], curve["net_benefit_all"], label="treat all", linestyle="--")
        ax.axhline(0, color="grey", linewidth=1, label="treat none")
        top = float(curve["net_benefit_all"].max()) if "net_benefit_all" in curve else float(curve["net_benefit_model"].max())
        ax.set_ylim(min(-0.05, float(curve["net_benefit_model"].min())), max(0.05, top * 1.2))
        ax.set_xlabel("threshold probability")
        ax.set_ylabel("net benefit")
        ax.set_title("Decision curve", fontsize=9)
        ax.legend(fontsize=7)
    fig.tight_layout()
    png = _png(fig)
    plt.close(fig)
    return Figure("early_risk", "Risk model on the test set: calibration by tenths of predicted risk, and the decision "
                  "curve (net benefit against treating all and none)", png)


def early_section(out_dir: Path, settings) -> tuple[Section | None, dict[str, pd.DataFrame]]:
    """(the report section, its published tables) from OUT/backtest and OUT/risk; (None, {}) when
    neither was run into OUT. A damaged output is reported in the section, never stops the report."""
    section = Section(SECTION_KEY, TITLE)
    tables: dict[str, pd.DataFrame] = {}
    found = False
    for name, part, marker in ((BACKTEST_DIR, backtest_part, "backtest.json"), (RISK_DIR, risk_part, "risk_evaluation.json")):
        folder = Path(out_dir) / name
        if not (folder / marker).is_file():
            continue
        found = True
        try:
            blocks, published = part(folder, settings)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            section.text(f"The {name} outputs in {name}/ could not be read ({exc.__class__.__name__}); run "
                         f"`trdpath {name}` again.", "note")
            continue
        section.blocks.extend(blocks)
        tables.update(published)
    return (section if found else None), tables
