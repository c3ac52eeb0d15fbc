"""Sensitivity analysis: self-harm from ICD-10 codes alone against codes + clinical notes (issue 6, item 3).

The seed paper counted self-harm from structured codes only (X60-X84, Z91.5) and said that free-text notes
would find more. With the NLP flags joined to the patients table (``self_harm_nlp``, ``suicidal_ideation_nlp``,
``suicide_attempt_nlp`` and ``self_harm_any`` = codes or notes) this module re-runs

* the TRD v. MDD comparison of Table 2 for self-harm from codes and from codes + notes, and for
  suicidal ideation and suicide attempt from notes (same test: Pearson chi-squared, Fisher's exact test for a
  2x2 table with an expected count below 5);
* how many patients with self-harm each source finds (codes only, notes only, both, either), by group;
* the models of Table 3 from the block that enters ``self_harm`` onwards (the paper's Models 3 and 4), with
  ``self_harm_any`` in place of ``self_harm`` and every other predictor as configured.

When the extract had no notes the NLP columns are all missing (NA) and nothing is computed: the report says
"no notes in this extract".
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from trdpath.stats.regression import RegressionResult, stepwise_logistic
from trdpath.stats.tables import compare_groups

CODED = "self_harm"  # the coded flag of Table 2 (ICD-10 X60-X84, Z91.5)
ANY = "self_harm_any"  # coded or an affirmed mention in the notes
NOTE_FLAGS = ("self_harm_nlp", "suicidal_ideation_nlp", "suicide_attempt_nlp")
# Rows of sensitivity_self_harm.csv: `comparison` rows carry a TRD v. MDD test; `overlap` rows split the
# patients with self-harm by the source(s) that found them (codes only + notes only + both = either).
# Self-harm from notes alone is not a row: with codes published (Table 2) it would be one more linked total,
# and a small 'both' cell would then force hiding the headline codes + notes counts (see disclosure.py).
COMPARISON_ROWS = (CODED, ANY, "suicidal_ideation_nlp", "suicide_attempt_nlp")
OVERLAP_ROWS = ("codes_only", "notes_only", "both", "either")
SELF_HARM_COLUMNS = ("section", "variable", "mdd_n", "mdd_pct", "trd_n", "trd_pct", "all_n", "all_pct", "test",
                     "statistic", "df", "p_value", "warning")
SOURCES = ("codes", "codes_notes")  # column prefixes of sensitivity_regression.csv
ESTIMATE_COLUMNS = ("odds_ratio", "ci_lower", "ci_upper", "p_value")
REGRESSION_COLUMNS = (("model", "term") + tuple(f"{s}_{c}" for s in SOURCES for c in ESTIMATE_COLUMNS)
                      + tuple(f"{s}_warning" for s in SOURCES))
NO_NOTES = "no notes in this extract: self-harm, suicidal ideation and suicide attempt from notes are not available"


@dataclass
class SelfHarmSensitivity:
    """True counts and estimates (disclosure control comes after, in disclosure.protect)."""

    notes_available: bool
    self_harm: pd.DataFrame  # sensitivity_self_harm.csv
    regression: pd.DataFrame  # sensitivity_regression.csv (codes-only and codes + notes models side by side)
    model_fit: pd.DataFrame  # fit of the refitted models (codes + notes), as model_fit.csv
    term_cells: pd.DataFrame  # 2x2 cells behind each refitted term (for disclosure control; not published)
    warnings: list[str] = field(default_factory=list)


def notes_available(cohort: pd.DataFrame) -> bool:
    """Notes were read when the NLP flags exist and are not all missing (the pipeline leaves them NA otherwise)."""
    return all(c in cohort.columns for c in (*NOTE_FLAGS, ANY)) and bool(cohort["self_harm_nlp"].notna().any())


def empty_sensitivity(message: str = NO_NOTES) -> SelfHarmSensitivity:
    return SelfHarmSensitivity(
        False, pd.DataFrame(columns=list(SELF_HARM_COLUMNS)), pd.DataFrame(columns=list(REGRESSION_COLUMNS)),
        pd.DataFrame(), pd.DataFrame(columns=["term", "mdd_yes", "trd_yes", "mdd_no", "trd_no"]), [message])


def _pct(count: float, total: float) -> float:
    return 100.0 * count / total if total else math.nan


def self_harm_table(cohort: pd.DataFrame) -> pd.DataFrame:
    """The rows of sensitivity_self_harm.csv (true counts) for in-cohort patients with the NLP flags."""
    flags = cohort[[CODED, ANY, *NOTE_FLAGS]].astype("boolean").fillna(False).astype(bool)
    # self_harm_any must be codes or notes; recomputed here so a stale column cannot disagree with its parts.
    flags[ANY] = flags[CODED] | flags["self_harm_nlp"]
    frame = cohort[["trd"]].assign(**flags)
    comparison = compare_groups(frame, tuple((v, "flag") for v in COMPARISON_ROWS))
    comparison.insert(0, "section", "comparison")
    trd = cohort["trd"].astype(bool).to_numpy()
    codes, notes = flags[CODED].to_numpy(), flags["self_harm_nlp"].to_numpy()
    overlap = {"codes_only": codes & ~notes, "notes_only": notes & ~codes, "both": codes & notes,
               "either": codes | notes}
    sizes = {"mdd": int((~trd).sum()), "trd": int(trd.sum()), "all": len(trd)}
    rows = [{"section": "overlap", "variable": name, "mdd_n": int((mask & ~trd).sum()),
             "trd_n": int((mask & trd).sum()), "all_n": int(mask.sum())} for name, mask in overlap.items()]
    overlap_frame = pd.DataFrame(rows)
    for g in ("mdd", "trd"):
        overlap_frame[f"{g}_pct"] = [_pct(n, sizes[g]) for n in overlap_frame[f"{g}_n"]]
    comparison["all_n"] = (comparison["mdd_n"] + comparison["trd_n"]).astype(int)
    table = pd.concat([comparison, overlap_frame], ignore_index=True)
    table["all_pct"] = [_pct(n, sizes["all"]) for n in table["all_n"]]
    table = table.reindex(columns=list(SELF_HARM_COLUMNS))
    return table.astype({c: "Int64" for c in ("mdd_n", "trd_n", "all_n")})


def swapped_blocks(blocks: list[list[str]]) -> tuple[list[list[str]], int]:
    """The configured blocks with self_harm_any in place of self_harm, and the (0-based) block entering it."""
    entry = next((i for i, block in enumerate(blocks) if CODED in block), None)
    if entry is None:
        return [list(b) for b in blocks], -1
    return [[ANY if v == CODED else v for v in block] for block in blocks], entry


def side_by_side(codes: pd.DataFrame, notes: pd.DataFrame, models: list[str]) -> pd.DataFrame:
    """Coefficients of two fits (table3 layout) as one row per model and term; self_harm_any aligned with self_harm."""
    def keyed(table: pd.DataFrame, prefix: str) -> pd.DataFrame:
        part = table[table["model"].isin(models)].copy()
        part["term"] = part["term"].replace({ANY: CODED})
        part = part.set_index(["model", "term"])[list(ESTIMATE_COLUMNS) + ["warning"]]
        return part.add_prefix(f"{prefix}_")

    merged = keyed(codes, SOURCES[0]).join(keyed(notes, SOURCES[1]), how="outer")
    order = {m: i for i, m in enumerate(models)}
    terms = list(dict.fromkeys(list(codes["term"].replace({ANY: CODED})) + list(notes["term"].replace({ANY: CODED}))))
    merged = merged.reset_index()
    merged = merged.sort_values(["model", "term"], key=lambda s: s.map(order) if s.name == "model"
                                else s.map({t: i for i, t in enumerate(terms)}))
    return merged.reindex(columns=list(REGRESSION_COLUMNS)).reset_index(drop=True)


def self_harm_sensitivity(cohort: pd.DataFrame, blocks: list[list[str]],
                          codes_regression: RegressionResult | None = None) -> SelfHarmSensitivity:
    """The sensitivity analysis for in-cohort patients (``cohort_of(patients)``)."""
    if not notes_available(cohort):
        return empty_sensitivity()
    blocks = [list(b) for b in blocks]
    table = self_harm_table(cohort)
    notes = [f"Sensitivity, {row['variable']}: {row['warning']}"
             for _, row in table[table["warning"].fillna("") != ""].iterrows()]
    swapped, entry = swapped_blocks(blocks)
    if entry < 0:
        notes.append("Sensitivity: analysis.regression_blocks does not contain self_harm, so no model is refitted")
        return SelfHarmSensitivity(True, table, pd.DataFrame(columns=list(REGRESSION_COLUMNS)), pd.DataFrame(),
                                   empty_sensitivity().term_cells, notes)
    # Listwise deletion over both variants, so the codes-only and codes + notes models use the same patients.
    complete = cohort[[v for b in blocks for v in b] + [ANY]].notna().all(axis=1)
    data = cohort.loc[complete]
    data = data.assign(**{ANY: data[CODED].astype(bool) | data["self_harm_nlp"].astype("boolean").fillna(False)
                          .astype(bool)})
    if codes_regression is None or not complete.all():
        codes_regression = stepwise_logistic(data, blocks)
    refit = stepwise_logistic(data, swapped)
    models = [f"Model {i}" for i in range(entry + 1, len(blocks) + 1)]
    notes.extend(f"Sensitivity, codes + notes {w}" for w in refit.warnings if not w.startswith(tuple(
        f"Model {i}:" for i in range(1, entry + 1))))
    model_fit = refit.model_fit[refit.model_fit["model"].isin(models)].reset_index(drop=True)
    return SelfHarmSensitivity(True, table, side_by_side(codes_regression.coefficients, refit.coefficients, models),
                               model_fit, refit.term_cells, notes)


def gain_summary(table: pd.DataFrame) -> dict[str, dict[str, object]]:
    """Per group (mdd, trd, all): patients with self-harm by codes, by codes + notes, and found by notes only."""
    by_variable = table.set_index("variable")
    out = {}
    for g in ("mdd", "trd", "all"):
        out[g] = {"codes": by_variable.at[CODED, f"{g}_n"], "any": by_variable.at[ANY, f"{g}_n"],
                  "notes_only": by_variable.at["notes_only", f"{g}_n"]}
    return out


def ratio(numerator, denominator) -> float:
    """numerator / denominator when both are plain numbers (not hidden), else NaN."""
    try:
        numerator, denominator = float(numerator), float(denominator)
    except (TypeError, ValueError):
        return math.nan
    return numerator / denominator if denominator > 0 and np.isfinite(numerator) else math.nan
