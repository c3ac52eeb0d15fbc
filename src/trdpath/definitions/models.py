"""Table 3 under every definition: the final model's odds ratios, re-estimated with each definition's TRD.

The predictors of Table 3 (`analysis.regression_blocks`, all blocks: the paper's final model) are the
same for every definition; only the outcome changes. With categorical and yes/no predictors the
patients fall into a few thousand covariate patterns, so each definition's logistic regression is fitted
on the patterns with their TRD and non-TRD counts (a binomial GLM with the same likelihood as the
per-patient Logit, hence the same estimates and Wald intervals; a test holds it to
trdpath.stats.regression.stepwise_logistic). Twelve fits then cost milliseconds at any scale.

Disclosure (as Table 3, trdpath.stats.disclosure): a term whose 2 x 2 table (term present/absent x
MDD/TRD) has a cell of 1 .. min_count-1 is suppressed; a definition with fewer than min_count TRD or
non-TRD patients in the model has no model shown; odds ratios and intervals to 2 decimals, P to 3.
"""

from __future__ import annotations

import warnings
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pyarrow.compute as pc
import statsmodels.api as sm

from trdpath.config import DisclosureSection
from trdpath.stats.disclosure import SUPPRESSED, _protect_regression
from trdpath.stats.regression import COEFFICIENT_COLUMNS, INTERCEPT, design_terms

ODDS_COLUMNS = ["definition", "term", "n", "odds_ratio", "ci_lower", "ci_upper", "p_value", "warning"]
NOT_SHOWN = "model not shown: fewer than {m} TRD or non-TRD patients"


def _design(cohort: pd.DataFrame, variables: list[str]) -> tuple[pd.DataFrame, np.ndarray]:
    """Complete cases (listwise deletion, as Table 3) and their design terms (Table 3's coding)."""
    complete = cohort[variables].notna().all(axis=1).to_numpy()
    data = cohort.loc[complete]
    terms: dict[str, np.ndarray] = {}
    for variable in variables:
        for term, values in design_terms(data, variable).items():
            if len(values) and np.ptp(values) > 0:
                terms[term] = values
    return pd.DataFrame(terms, index=data.index), complete


def _patterns(design: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """(distinct rows of the design, each patient's row number among them)."""
    matrix = design.to_numpy()
    if matrix.shape[1] < 62 and np.isin(matrix, (0.0, 1.0)).all():
        # yes/no terms: one integer key per patient (a bit per term), far cheaper than sorting rows
        keys = matrix.astype(np.int64) @ (np.int64(1) << np.arange(matrix.shape[1], dtype=np.int64))
        _, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
        return matrix[first], inverse.ravel()
    patterns, inverse = np.unique(matrix, axis=0, return_inverse=True)
    return patterns, inverse.ravel()


def _fit_grouped(patterns: np.ndarray, names: list[str], yes: np.ndarray, total: np.ndarray):
    """Binomial GLM on the covariate patterns (counts of TRD and non-TRD per pattern)."""
    used = total > 0
    exog = pd.DataFrame(np.column_stack([np.ones(int(used.sum())), patterns[used]]), columns=[INTERCEPT, *names])
    endog = np.column_stack([yes[used], total[used] - yes[used]])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return sm.GLM(endog, exog, family=sm.families.Binomial()).fit()


def _cells(present: np.ndarray, yes: np.ndarray, total: np.ndarray) -> dict[str, int]:
    """A term's 2 x 2 table from the pattern counts: present/absent x MDD/TRD."""
    trd_yes, all_yes = int(yes[present].sum()), int(total[present].sum())
    trd_all, n = int(yes.sum()), int(total.sum())
    return {"mdd_yes": all_yes - trd_yes, "trd_yes": trd_yes, "mdd_no": n - all_yes - (trd_all - trd_yes),
            "trd_no": trd_all - trd_yes}


def odds_ratios_by_definition(comparison, blocks: list[list[str]]) -> pd.DataFrame:
    """True estimates (never written): definition, term, n, odds_ratio, ci, p, and the 2x2 counts per term.

    The design (Table 3's terms on the complete cases of the cohort) and its covariate patterns are built
    once; each definition only counts its TRD and non-TRD patients per pattern (np.bincount) and fits."""
    from trdpath.pipeline import patients_frame

    table = comparison.classification.table
    variables = [v for block in blocks for v in block]
    wanted = {*variables, "in_cohort", "exclusion_reason", "depression_code", "resistance_level"}
    patients = patients_frame(table.select([c for c in table.column_names if c in wanted]))
    in_cohort = patients["in_cohort"].fillna(False).astype(bool).to_numpy()
    cohort = patients.loc[in_cohort]
    design, complete = _design(cohort, variables)
    patterns, inverse = _patterns(design)
    names = list(design.columns)
    rows_of = np.flatnonzero(in_cohort)[complete]  # rows of the patients table in the model
    rows = []
    for r in comparison.definitions:
        verdict = comparison.patients[f"{r.id}__trd"]
        inside = pc.is_valid(verdict).to_numpy(zero_copy_only=False)[rows_of]
        y = pc.fill_null(verdict, False).to_numpy(zero_copy_only=False)[rows_of]
        yes = np.bincount(inverse[inside], weights=y[inside].astype(float), minlength=len(patterns))
        total = np.bincount(inverse[inside], minlength=len(patterns)).astype(float)
        n, n_trd = int(total.sum()), int(yes.sum())
        base = {"definition": r.id, "n": n, "n_trd": n_trd, "n_mdd": n - n_trd}
        used = total > 0
        # terms that do not vary among this definition's patients are left out, as Table 3 does
        keep = [j for j in range(len(names)) if np.ptp(patterns[used, j]) > 0] if used.any() else []
        if n == 0 or n_trd == 0 or n_trd == n or not keep:
            rows.append({**base, "term": None, "warning": "not estimable: one group only"})
            continue
        fit = _fit_grouped(patterns[:, keep], [names[j] for j in keep], yes, total)
        ci = np.asarray(fit.conf_int(alpha=0.05))
        for i, j in enumerate(keep, start=1):
            column = patterns[:, j]
            cells = _cells(column == 1.0, yes, total) if np.isin(column, (0.0, 1.0)).all() else {}
            with np.errstate(over="ignore"):
                rows.append({**base, "term": names[j], "odds_ratio": float(np.exp(fit.params.iloc[i])),
                             "ci_lower": float(np.exp(ci[i, 0])), "ci_upper": float(np.exp(ci[i, 1])),
                             "p_value": float(fit.pvalues.iloc[i]), "coef": float(fit.params.iloc[i]),
                             "std_err": float(fit.bse.iloc[i]), "warning": "", **cells})
    return pd.DataFrame(rows)


def protect_odds_ratios(table: pd.DataFrame, settings: DisclosureSection) -> pd.DataFrame:
    """Table 3's disclosure rules per definition (stats.disclosure._protect_regression), plus: no model
    below the minimum count of TRD or non-TRD patients. n is not published (the prevalence table has it)."""
    out = []
    for definition, part in table.groupby("definition", sort=False):
        first = part.iloc[0]
        if part["term"].isna().all():
            out.append(pd.DataFrame([{"definition": definition, "term": "", "warning": first["warning"]}]))
            continue
        if settings.enabled and min(int(first["n_trd"]), int(first["n_mdd"])) < settings.min_count:
            out.append(pd.DataFrame([{"definition": definition, "term": "", "odds_ratio": SUPPRESSED,
                                      "ci_lower": SUPPRESSED, "ci_upper": SUPPRESSED, "p_value": SUPPRESSED,
                                      "warning": NOT_SHOWN.format(m=settings.min_count)}]))
            continue
        if settings.enabled:
            table3 = part.assign(model="final").reindex(columns=list(COEFFICIENT_COLUMNS))
            cells = part.dropna(subset=["mdd_yes"])[["term", "mdd_yes", "trd_yes", "mdd_no", "trd_no"]] \
                if "mdd_yes" in part else pd.DataFrame(columns=["term"])
            shown, _fit = _protect_regression(SimpleNamespace(table3=table3.reset_index(drop=True), term_cells=cells.reset_index(drop=True),
                                                              n_mdd=int(first["n_mdd"]), n_trd=int(first["n_trd"]),
                                                              model_fit=pd.DataFrame()), settings)
        else:
            shown = part.assign(model="final").reset_index(drop=True)
        shown = shown.assign(definition=definition)
        out.append(shown.reindex(columns=[c for c in ODDS_COLUMNS if c != "n"]))
    columns = [c for c in ODDS_COLUMNS if c != "n"]
    return pd.concat(out, ignore_index=True).reindex(columns=columns) if out else pd.DataFrame(columns=columns)
