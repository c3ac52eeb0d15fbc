"""Table 3: binary logistic regression of TRD on blocks of predictors entered stepwise (statsmodels Logit).

Blocks come from ``analysis.regression_blocks`` in the configuration (the paper's Models 1-4). Every model is
fitted on the same patients (listwise deletion over all blocks) so that the models are nested and their
-2LL values comparable, as in SPSS's blockwise entry.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import statsmodels.api as sm
from scipy import stats as scipy_stats

from trdpath.reference import EMPLOYMENT_GROUPS, ETHNICITY_GROUPS

# Reference categories of the categorical predictors: the comparison the paper reads its odds ratios against.
REFERENCE_LEVELS = {
    "depression_code": "F32",
    "employment_group": "Employed",
    "ethnicity_group": "White",
    "sex": "female",
    "resistance_level": "MDD",
}
# The order levels appear in (tables and dummy terms); other categoricals are sorted.
LEVEL_ORDER = {
    "depression_code": ("F32", "F33"),
    "employment_group": EMPLOYMENT_GROUPS,
    "ethnicity_group": ETHNICITY_GROUPS,
    "sex": ("female", "male", "other", "unknown"),
    "resistance_level": ("MDD", "2", "3", "4+"),
}
INTERCEPT = "const"
# |log odds ratio| beyond this (OR > 3 million) only arises from (quasi-)separation, not from real data.
MAX_PLAUSIBLE_LOG_ODDS = 15.0
COEFFICIENT_COLUMNS = ("model", "term", "odds_ratio", "ci_lower", "ci_upper", "p_value", "coef", "std_err",
                       "warning")
MODEL_FIT_COLUMNS = ("model", "n", "minus2ll", "chi2", "df", "p_value", "cox_snell_r2", "nagelkerke_r2",
                     "block_chi2", "block_df", "block_p_value", "converged", "warning")


@dataclass
class RegressionResult:
    coefficients: pd.DataFrame
    model_fit: pd.DataFrame
    # Per term: the 2x2 counts of (term present / absent) x (MDD / TRD), for disclosure control.
    term_cells: pd.DataFrame
    warnings: list[str] = field(default_factory=list)


def is_binary_flag(series: pd.Series) -> bool:
    return pd.api.types.is_bool_dtype(series) or str(series.dtype) == "boolean"


def is_categorical(series: pd.Series) -> bool:
    return not is_binary_flag(series) and not pd.api.types.is_numeric_dtype(series)


def ordered_levels(variable: str, values: pd.Series) -> list[str]:
    """The levels of a categorical variable that occur, in the study's order."""
    present = set(values.dropna().astype(str).unique())
    order = [level for level in LEVEL_ORDER.get(variable, ()) if level in present]
    return order + sorted(present - set(order))


def design_terms(patients: pd.DataFrame, variable: str) -> dict[str, np.ndarray]:
    """The model terms of one predictor: a flag as 0/1, a categorical as dummies against its reference."""
    if variable not in patients.columns:
        from trdpath.errors import UserError

        raise UserError(
            f"analysis.regression_blocks names '{variable}', which is not a column of the patients table"
        )
    series = patients[variable]
    if is_binary_flag(series):
        return {variable: series.astype(float).to_numpy()}
    if not is_categorical(series):
        return {variable: series.astype(float).to_numpy()}
    values = series.astype(str).to_numpy()
    levels = ordered_levels(variable, series)
    reference = REFERENCE_LEVELS.get(variable)
    if reference not in levels:
        # No stated reference (or it is absent): the most frequent level, as the largest group is most stable.
        reference = series.astype(str).value_counts().idxmax()
    return {f"{variable}[{level}]": (values == level).astype(float) for level in levels if level != reference}


def _fit_logit(outcome: np.ndarray, design: pd.DataFrame):
    """Fit one model, turning statsmodels' warnings and failures into messages rather than crashes."""
    from statsmodels.tools.sm_exceptions import PerfectSeparationError

    messages: list[str] = []
    matrix = design.to_numpy()
    # Rank from the small k x k cross-product (one pass) instead of statsmodels' QR of the n x k design,
    # which costs seconds on a million rows; a deficient design keeps statsmodels' own handling.
    full_rank = np.linalg.matrix_rank(matrix.T @ matrix) == matrix.shape[1]
    if not full_rank:
        messages.append("collinear predictors: the design matrix is not of full rank")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            # numpy arrays, not a DataFrame: statsmodels' pandas checks also cost seconds on a million rows.
            model = sm.Logit(outcome, matrix, missing="none", check_rank=not full_rank)
            fit = model.fit(method="newton", maxiter=100, disp=0)
        except (PerfectSeparationError, np.linalg.LinAlgError) as exc:
            return None, [f"model could not be fitted: {exc}"]
    for warning in caught:
        text = str(warning.message).splitlines()[0]
        if text not in messages:
            messages.append(text)
    if not fit.mle_retvals.get("converged", True):
        messages.append("maximum likelihood did not converge")
    return fit, messages


def stepwise_logistic(patients: pd.DataFrame, blocks: list[list[str]], outcome: str = "trd") -> RegressionResult:
    """Fit Model 1 .. Model k, block m adding ``blocks[m-1]`` to the previous model's predictors."""
    variables = [v for block in blocks for v in block]
    complete = patients[variables + [outcome]].notna().all(axis=1)
    data = patients.loc[complete]
    result_warnings: list[str] = []
    if (~complete).any():
        result_warnings.append(
            f"{int((~complete).sum())} patients with a missing predictor were left out of every model"
        )
    y = data[outcome].astype(float).to_numpy()
    n = len(y)

    term_values: dict[str, np.ndarray] = {}
    coefficient_rows, fit_rows, cell_rows = [], [], []
    previous_llf, previous_df = None, 0
    llnull = _null_loglikelihood(y)
    for model_number, block in enumerate(blocks, start=1):
        model = f"Model {model_number}"
        model_warnings: list[str] = []
        for variable in block:
            for term, values in design_terms(data, variable).items():
                if np.ptp(values) == 0:
                    model_warnings.append(f"term {term} takes one value only and was left out")
                    continue
                term_values[term] = values
                if set(np.unique(values)) <= {0.0, 1.0} and term not in {r["term"] for r in cell_rows}:
                    cells = _cells(values, y)
                    cell_rows.append({"term": term, **cells})
                    if min(cells.values()) == 0:
                        model_warnings.append(
                            f"quasi-complete separation: no patient with {term} "
                            f"{'present' if cells['mdd_yes'] * cells['trd_yes'] == 0 else 'absent'} "
                            "in one group; its odds ratio is not estimable"
                        )
        design = pd.DataFrame({INTERCEPT: np.ones(n), **term_values})
        fit, fit_messages = _fit_logit(y, design) if n else (None, ["no patients to fit"])
        model_warnings.extend(fit_messages)
        warning_text = "; ".join(model_warnings)
        if model_warnings:
            result_warnings.append(f"{model}: {warning_text}")
        if fit is None:
            for term in design.columns:
                coefficient_rows.append({"model": model, "term": term, "warning": warning_text})
            fit_rows.append({"model": model, "n": n, "converged": False, "warning": warning_text})
            previous_llf = None
            continue
        names = list(design.columns)
        params = pd.Series(fit.params, index=names)
        bse = pd.Series(fit.bse, index=names)
        pvalues = pd.Series(fit.pvalues, index=names)
        confidence = pd.DataFrame(fit.conf_int(alpha=0.05), index=names)  # Wald: coef +/- 1.96 s.e.
        unstable = [t for t in names if not np.isfinite(bse[t]) or abs(params[t]) > MAX_PLAUSIBLE_LOG_ODDS]
        if unstable:
            note = (f"possible separation: {', '.join(unstable)} have implausibly large or undefined estimates; "
                    "their odds ratios should not be interpreted")
            warning_text = "; ".join(w for w in (warning_text, note) if w)
            result_warnings.append(f"{model}: {note}")
        for term in design.columns:
            with np.errstate(over="ignore"):
                odds_ratio, lower, upper = np.exp([params[term], confidence.loc[term, 0],
                                                   confidence.loc[term, 1]])
            coefficient_rows.append({
                "model": model, "term": term,
                "odds_ratio": float(odds_ratio), "ci_lower": float(lower), "ci_upper": float(upper),
                "p_value": float(pvalues[term]), "coef": float(params[term]),
                "std_err": float(bse[term]), "warning": warning_text,
            })
        fit_rows.append(_model_fit_row(model, fit, n, llnull, previous_llf, previous_df, warning_text))
        previous_llf, previous_df = fit.llf, int(fit.df_model)
    coefficients = pd.DataFrame(coefficient_rows, columns=list(COEFFICIENT_COLUMNS))
    model_fit = pd.DataFrame(fit_rows, columns=list(MODEL_FIT_COLUMNS))
    term_cells = pd.DataFrame(cell_rows, columns=["term", "mdd_yes", "trd_yes", "mdd_no", "trd_no"])
    return RegressionResult(coefficients, model_fit, term_cells, result_warnings)


def _cells(values: np.ndarray, y: np.ndarray) -> dict[str, int]:
    present = values == 1.0
    trd = y == 1.0
    return {
        "mdd_yes": int((present & ~trd).sum()), "trd_yes": int((present & trd).sum()),
        "mdd_no": int((~present & ~trd).sum()), "trd_no": int((~present & trd).sum()),
    }


def _null_loglikelihood(y: np.ndarray) -> float:
    """Log-likelihood of the intercept-only model, in closed form: n1 log p + n0 log(1 - p)."""
    n1 = float(y.sum())
    n0 = float(len(y) - n1)
    if n1 == 0 or n0 == 0:
        return 0.0
    p = n1 / len(y)
    return n1 * math.log(p) + n0 * math.log(1 - p)


def pseudo_r_squared(llf: float, llnull: float, n: int) -> tuple[float, float]:
    """Cox & Snell and Nagelkerke R-squared, as SPSS prints them.

    Cox & Snell: 1 - exp(2 (LL0 - LL1) / n); Nagelkerke rescales it by its maximum, 1 - exp(2 LL0 / n).
    """
    cox_snell = 1.0 - math.exp(2.0 * (llnull - llf) / n)
    maximum = 1.0 - math.exp(2.0 * llnull / n)
    return cox_snell, (cox_snell / maximum if maximum > 0 else math.nan)


def _model_fit_row(model, fit, n, llnull, previous_llf, previous_df, warning_text) -> dict:
    chi2 = 2.0 * (fit.llf - llnull)  # omnibus test of the model against the intercept-only model
    df = int(fit.df_model)
    cox_snell, nagelkerke = pseudo_r_squared(fit.llf, llnull, n)
    reference_llf = llnull if previous_llf is None else previous_llf
    block_df = df - (0 if previous_llf is None else previous_df)
    block_chi2 = 2.0 * (fit.llf - reference_llf)
    return {
        "model": model, "n": n, "minus2ll": -2.0 * fit.llf, "chi2": chi2, "df": df,
        "p_value": float(scipy_stats.chi2.sf(chi2, df)) if df else math.nan,
        "cox_snell_r2": cox_snell, "nagelkerke_r2": nagelkerke,
        "block_chi2": block_chi2, "block_df": block_df,
        "block_p_value": float(scipy_stats.chi2.sf(block_chi2, block_df)) if block_df > 0 else math.nan,
        "converged": bool(fit.mle_retvals.get("converged", True)), "warning": warning_text,
    }
