"""The paper's tables as display tables (header rows, body rows of strings, footnotes), shared by HTML and DOCX.

Formats follow the paper: N (%), mean (s.d.), P to three decimals or "<0.001". Percentages carry two decimals
(the paper's) only on exact counts; on disclosure-controlled counts (rounded to 5) they carry one decimal, since a
rounded count cannot support more (see :func:`percent_decimals`). The input is always the *protected* Analysis, so only publishable values reach this module; "<8" is passed through and
a secondary-suppressed value is shown as "*".
"""

from __future__ import annotations

import contextlib
import contextvars
import math
from dataclasses import dataclass, field

import pandas as pd

from trdpath.stats.comparisons import (
    ANOVA_F, FISHER_EXACT, PEARSON_CHI2, PEARSON_CHI2_BONFERRONI, STUDENT_T, WELCH_T,
)
from trdpath.stats.disclosure import DECIMALS, P_BELOW, SUPPRESSED, WITHHELD
from trdpath.stats.tables import RESISTANCE_GROUPS, RESISTANCE_LEVELS
from trdpath.values import is_missing

VARIABLE_LABELS = {
    "depression_code": "ICD-10 diagnosis code",
    "psychotic_symptoms": "F32/F33 diagnosis with psychotic symptoms reported (F32.3, F33.3)",
    "age_at_diagnosis": "Age in years at earliest recorded depression diagnosis",
    "age": "Age at point of data extraction",
    "sex": "Sex",
    "died": "Reported deaths at point of data extraction",
    "age_at_death": "Age in years at reported death",
    "ethnicity_group": "Ethnicity",
    "employment_group": "Employment status",
    "substance_misuse": "Substance misuse disorders (at least one of the below)",
    "alcohol": "Alcohol",
    "drugs": "Drugs of misuse",
    "sedatives": "Sedatives or hypnotics",
    "tobacco": "Tobacco",
    "other_drugs": "Other and/or multiple drugs",
    "anxiety": "Anxiety disorders",
    "eating_disorder": "Eating disorders",
    "personality_disorder": "Personality disorders",
    "self_harm": "Self-harm",
    "psychotic_illness": "Psychotic illness",
    "developmental": "Developmental disorders",
    "diabetes": "Diabetes (any)",
    "diabetes_type1": "Type 1 diabetes",
    "diabetes_type2": "Type 2 diabetes",
    "diabetes_unspecified": "Unspecified diabetes",
    "cardiovascular": "Cardiovascular diseases",
    "respiratory": "Respiratory diseases",
    "gastrointestinal": "Gastrointestinal diseases",
    "resistance_level": "Patients",
}
SUBITEMS = {"alcohol", "drugs", "sedatives", "tobacco", "other_drugs", "diabetes_type1", "diabetes_type2",
            "diabetes_unspecified"}
MENTAL_HEALTH = ("substance_misuse", "alcohol", "drugs", "sedatives", "tobacco", "other_drugs", "anxiety",
                 "eating_disorder", "personality_disorder", "self_harm", "psychotic_illness", "developmental")
SERVICE_LABELS = {"community": "Community", "urgent_care": "Urgent care", "specialist": "Specialist",
                  "inpatient": "Inpatient", "forensic": "Forensic", "addiction": "Addiction"}
LEVEL_LABELS = {"Unknown": "Unknown/not reported", "female": "Female", "male": "Male", "other": "Other",
                "unknown": "Unknown/not reported"}
SECONDARY_MARK = "*"
DASH = "–"
# Decimals of a percentage in N (%): 2 on exact counts (the paper), 1 on rounded counts (issue 16, item 1).
EXACT_PCT_DECIMALS, ROUNDED_PCT_DECIMALS = 2, 1
_PCT_DECIMALS: contextvars.ContextVar[int] = contextvars.ContextVar("pct_decimals", default=EXACT_PCT_DECIMALS)


def percent_decimals(disclosure_applied: bool) -> int:
    """One decimal from counts rounded to 5 (a step of 5 moves a percentage by more than 0.01), else the paper's 2."""
    return ROUNDED_PCT_DECIMALS if disclosure_applied else EXACT_PCT_DECIMALS


@contextlib.contextmanager
def percent_precision(disclosure_applied: bool):
    """Every N (%) formatted inside the block uses the precision that fits the counts."""
    token = _PCT_DECIMALS.set(percent_decimals(disclosure_applied))
    try:
        yield
    finally:
        _PCT_DECIMALS.reset(token)


def fmt_pct(value, decimals: int | None = None) -> str:
    """A percentage at the report's precision (no % sign), '*' when hidden."""
    return fmt_number(value, _PCT_DECIMALS.get() if decimals is None else decimals)


def label(variable: str) -> str:
    return VARIABLE_LABELS.get(variable, variable.replace("_", " ").capitalize())


def level_label(level: str) -> str:
    return LEVEL_LABELS.get(level, level)


def term_label(term: str) -> str:
    """'depression_code[F33]' -> 'ICD-10 depression code (F33 versus F32)'; a flag -> '... (yes versus no)'."""
    from trdpath.stats.regression import INTERCEPT, REFERENCE_LEVELS

    if term == INTERCEPT:
        return "Constant"
    if "[" in term and term.endswith("]"):
        variable, level = term[:-1].split("[", 1)
        reference = REFERENCE_LEVELS.get(variable, "reference")
        if variable == "depression_code":
            return f"ICD-10 depression code ({level} versus {reference})"
        return f"{label(variable)}: {level_label(level)} (versus {level_label(reference)})"
    return f"{label(term)} (yes versus no)"


def fmt_count(value) -> str:
    if is_missing(value, blank_text=True):
        return DASH
    if value == SUPPRESSED:
        return SECONDARY_MARK
    if isinstance(value, str):
        return value  # "<8"
    return f"{int(value)}"


def fmt_number(value, decimals: int = 2) -> str:
    if is_missing(value, blank_text=True):
        return DASH
    if value == SUPPRESSED:
        return SECONDARY_MARK
    if isinstance(value, str):
        return value
    return f"{float(value):.{decimals}f}"


def fmt_n_pct(n, pct) -> str:
    if is_missing(n, blank_text=True):
        return DASH
    if isinstance(n, str):
        return fmt_count(n)
    return f"{fmt_count(n)} ({fmt_pct(pct)})" if not is_missing(pct, blank_text=True) else fmt_count(n)


def fmt_mean_sd(mean, sd) -> str:
    if is_missing(mean, blank_text=True):
        return DASH
    if mean == SUPPRESSED:
        return SECONDARY_MARK
    # One decimal, as released (release policy: more digits of a mean of whole years give n back).
    return f"{fmt_number(mean, DECIMALS['mean'])} ({fmt_number(sd, DECIMALS['sd'])})"


def fmt_p(p) -> str:
    """P as the paper prints it: three decimals, or '<0.001'."""
    if is_missing(p, blank_text=True):
        return DASH
    if p == SUPPRESSED:
        return SECONDARY_MARK
    if p == P_BELOW:
        return P_BELOW
    p = float(p)
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def p_phrase(p) -> str:
    """'P = 0.026' or 'P < 0.001' for running text."""
    text = fmt_p(p)
    return f"P < {text[1:]}" if text.startswith("<") else f"P = {text}"


def fmt_df(df) -> str:
    if is_missing(df, blank_text=True) or df == SUPPRESSED:
        return "?"
    df = float(df)
    return f"{int(df)}" if df == int(df) else f"{df:.1f}"


def _df_text(*dfs) -> str:
    """'(219)' or '(3, 217)'; empty when a df is withheld (it would give the exact group sizes)."""
    if any(df == WITHHELD for df in dfs):
        return ""
    return f"({', '.join(fmt_df(df) for df in dfs)})"


def fmt_statistic(test: str, statistic, df, df2=None) -> str:
    """'χ²(1) = 16.54', 't(5134) = 0.09', 'F(3, 5132) = 2.41', 'Fisher's exact'; a withheld df is left out."""
    if is_missing(test, blank_text=True):
        return DASH
    if statistic == SUPPRESSED:
        return SECONDARY_MARK
    if test.startswith(FISHER_EXACT):
        return "Fisher's exact" + (" †" if test.endswith("_bonferroni") else "")
    if is_missing(statistic, blank_text=True):
        return DASH
    if test in (PEARSON_CHI2, PEARSON_CHI2_BONFERRONI):
        mark = " †" if test == PEARSON_CHI2_BONFERRONI else ""
        return f"χ²({fmt_df(df)}) = {float(statistic):.2f}{mark}"
    if test == STUDENT_T:
        return f"t{_df_text(df)} = {float(statistic):.2f}"
    if test == WELCH_T:
        return f"Welch t{_df_text(df)} = {float(statistic):.2f}"
    if test == ANOVA_F:
        return f"F{_df_text(df, df2)} = {float(statistic):.2f}"
    return f"{test} = {fmt_number(statistic)}"


@dataclass
class DisplayTable:
    key: str
    title: str
    header: list[list[tuple[str, int]]]  # header rows of (text, colspan)
    rows: list[list[str]] = field(default_factory=list)
    row_kinds: list[str] = field(default_factory=list)  # "section", "header", "level", "sub", "" (plain)
    footnotes: list[str] = field(default_factory=list)
    row_spans: list[list[int]] = field(default_factory=list)  # column span of each cell

    def add(self, cells: list[str], kind: str = "", spans: list[int] | None = None) -> None:
        self.rows.append(cells)
        self.row_kinds.append(kind)
        self.row_spans.append(spans or [1] * len(cells))


def disclosure_footnote(settings, applied: bool) -> str:
    if not applied:
        return "Disclosure control was switched off for this report: it shows exact counts and must not leave a secure environment."
    return (f"Disclosure control: <{settings.min_count}, fewer than {settings.min_count} patients; "
            f"{SECONDARY_MARK}, hidden so that a small count cannot be recovered from totals, or computed from a "
            f"hidden count. Counts are rounded to the nearest {settings.rounding}; percentages and chi-squared tests "
            "are computed from the rounded counts, t and F tests from the rounded n with the printed means and "
            "s.d., -2 log likelihood and R² from the printed model χ² and rounded group sizes (so that no "
            "figure gives an exact count back).")


def rounding_note(settings, applied: bool) -> str:
    """Why rounded parts need not add up, and why the report differs from the terminal summary."""
    if not applied:
        return "Percentages to two decimals, from exact counts."
    return (f"Percentages to one decimal, from counts rounded to the nearest {settings.rounding} over rounded "
            "denominators. Each count is rounded on its own, so rounded parts need not add up to the rounded total "
            "(e.g. MDD + TRD and the cohort), and counts differ from the exact counts of the terminal summary of "
            "trdpath classify, which never leave the secure environment.")


def table1(analysis, sizes, settings) -> DisplayTable:
    table = DisplayTable(
        "table1", "Table 1 Sociodemographic characteristics by depression status",
        header=[[("Sociodemographic characteristics", 1), (f"MDD (N = {sizes['mdd']})", 2),
                 (f"TRD (N = {sizes['trd']})", 2), ("Test", 1), ("P-value", 1)],
                [("", 1), ("N (%)", 1), ("Mean (s.d.)", 1), ("N (%)", 1), ("Mean (s.d.)", 1), ("", 1), ("", 1)]],
    )
    frame = analysis.table1
    welch = {}
    for _, row in frame[frame["test"] == WELCH_T].iterrows():
        welch[row["variable"]] = row
    for _, row in frame.iterrows():
        if row["test"] == WELCH_T:
            continue
        if row["test"] == STUDENT_T:
            w = welch.get(row["variable"])
            table.add([label(row["variable"]), DASH, fmt_mean_sd(row["mdd_mean"], row["mdd_sd"]), DASH,
                       fmt_mean_sd(row["trd_mean"], row["trd_sd"]),
                       fmt_statistic(row["test"], row["statistic"], row["df"]), fmt_p(row["p_value"])])
            if is_missing(row["statistic"], blank_text=True) and isinstance(row.get("warning"), str) and row["warning"]:
                table.footnotes.append(f"{label(row['variable'])}: {row['warning']}.")
            elif row["statistic"] == SUPPRESSED:
                # Said in words: "Student's *, P = *" reads as a typesetting slip (issue 16: as a journal prints it).
                table.footnotes.append(f"{label(row['variable'])}: t-tests suppressed (they would use a count "
                                       "hidden by disclosure control).")
            elif w is not None:
                table.footnotes.append(
                    f"{label(row['variable'])}: Student's {fmt_statistic(STUDENT_T, row['statistic'], row['df'])}, "
                    f"{p_phrase(row['p_value'])}; {fmt_statistic(WELCH_T, w['statistic'], w['df'])}, "
                    f"{p_phrase(w['p_value'])} (n = {fmt_count(row['mdd_n'])} MDD, {fmt_count(row['trd_n'])} TRD).")
            continue
        if row["level"] == "" and is_missing(row["mdd_n"], blank_text=True):
            table.add([label(row["variable"]), DASH, DASH, DASH, DASH,
                       fmt_statistic(row["test"], row["statistic"], row["df"]), fmt_p(row["p_value"])], "header")
            continue
        name = level_label(row["level"]) if row["level"] else label(row["variable"])
        table.add([name, fmt_n_pct(row["mdd_n"], row["mdd_pct"]), DASH, fmt_n_pct(row["trd_n"], row["trd_pct"]),
                   DASH, fmt_statistic(row["test"], row["statistic"], row["df"]), fmt_p(row["p_value"])],
                  "level" if row["level"] else "")
    table.footnotes.insert(0, "MDD, major depressive disorder; TRD, treatment-resistant depression. Categorical "
                           "variables: Pearson chi-squared without continuity correction (Fisher's exact test for a "
                           "2x2 table with an expected count below 5); continuous variables: independent t-test.")
    table.footnotes.insert(1, "† Each level against all others, P Bonferroni-adjusted for the number of levels.")
    return table


def table2(analysis, sizes, settings) -> DisplayTable:
    # Columns in Table 1's order: groups (MDD, TRD), then the test, then P.
    table = DisplayTable(
        "table2", "Table 2 Mental and physical health comorbid diagnoses by depression status",
        header=[[("Diagnoses", 1), (f"MDD (N = {sizes['mdd']})", 1), (f"TRD (N = {sizes['trd']})", 1),
                 ("Test", 1), ("P-value", 1)],
                [("", 1), ("N (%)", 1), ("N (%)", 1), ("", 1), ("", 1)]],
    )
    frame = analysis.table2.set_index("variable")
    sections = (("Comorbid mental health diagnoses", [v for v in frame.index if v in MENTAL_HEALTH]),
                ("Comorbid physical health diagnoses", [v for v in frame.index if v not in MENTAL_HEALTH]))
    fisher = False
    for title, variables in sections:
        table.add([title, "", "", "", ""], "section")
        for variable in variables:
            row = frame.loc[variable]
            if row["test"] == FISHER_EXACT:
                fisher = True
                chi = "Fisher's exact ‡"
            else:
                chi = fmt_statistic(row["test"], row["statistic"], row["df"])
            table.add([label(variable), fmt_n_pct(row["mdd_n"], row["mdd_pct"]),
                       fmt_n_pct(row["trd_n"], row["trd_pct"]), chi, fmt_p(row["p_value"])],
                      "sub" if variable in SUBITEMS else "")
    table.footnotes.append("MDD, major depressive disorder; TRD, treatment-resistant depression. Pearson chi-squared "
                           "without continuity correction, 1 degree of freedom.")
    if fisher:
        table.footnotes.append("‡ Fisher's exact test (two-sided): a 2x2 table with an expected count below 5.")
    return table


def _withheld_row(fit, models, column) -> bool:
    """A model-fit row withheld by the release policy for every model (-2LL): left out of the table."""
    values = [fit.at[m, column] for m in models if m in fit.index and column in fit.columns]
    return bool(values) and all(v == WITHHELD for v in values)


def _estimable(row) -> bool:
    """An odds ratio worth printing: finite limits and not the astronomic value of (quasi-)separation."""
    values = [row["odds_ratio"], row["ci_lower"], row["ci_upper"]]
    if any(isinstance(v, str) for v in values):
        return True
    values = [float(v) for v in values]
    return all(math.isfinite(v) for v in values) and 1e-4 < values[0] < 1e4


def table3(analysis) -> DisplayTable:
    coefficients = analysis.table3
    models = list(dict.fromkeys(coefficients["model"]))
    header = [[("Independent variable", 1)] + [(m, 3) for m in models],
              [("", 1)] + [(text, 1) for _ in models for text in ("OR", "95% CI", "P-value")]]
    table = DisplayTable("table3", "Table 3 Binary logistic regression analysis of predictors of TRD", header)
    from trdpath.stats.regression import INTERCEPT

    terms = [t for t in dict.fromkeys(coefficients["term"]) if t != INTERCEPT]
    not_estimable = False
    by_key = {(r["model"], r["term"]): r for _, r in coefficients.iterrows()}
    for term in terms:
        cells = [term_label(term)]
        for model in models:
            row = by_key.get((model, term))
            if row is None:
                cells += [DASH, DASH, DASH]
            elif row["odds_ratio"] == SUPPRESSED:
                cells += [SECONDARY_MARK] * 3
            elif is_missing(row["odds_ratio"], blank_text=True) or not _estimable(row):
                cells += ["n/e", "n/e", "n/e"]
                not_estimable = True
            else:
                cells += [fmt_number(row["odds_ratio"]),
                          f"{fmt_number(row['ci_lower'])}–{fmt_number(row['ci_upper'])}", fmt_p(row["p_value"])]
        table.add(cells)
    fit = analysis.model_fit.set_index("model")
    for name, column, style in (("n", "n", "count"), ("-2 log likelihood", "minus2ll", "num"),
                                ("Model χ² (df), P", "chi2", "chi"), ("Cox & Snell R²", "cox_snell_r2", "r2"),
                                ("Nagelkerke R²", "nagelkerke_r2", "r2")):
        if _withheld_row(fit, models, column):
            continue
        cells = [name]
        for model in models:
            value = fit.at[model, column] if model in fit.index else None
            if style == "count":
                text = fmt_count(value)
            elif style == "num":
                text = fmt_number(value)
            elif style == "r2":
                text = fmt_number(value, DECIMALS["r2"])
            elif value == SUPPRESSED:
                text = SECONDARY_MARK
            else:
                text = DASH if is_missing(value, blank_text=True) else (
                    f"{float(value):.2f} ({fmt_df(fit.at[model, 'df'])}), {p_phrase(fit.at[model, 'p_value'])}")
            cells.append(text)
        table.add(cells, "fit", [1] + [3] * len(models))
    table.footnotes.append("OR, odds ratio with 95% Wald confidence interval (binary logistic regression, "
                           "statsmodels Logit); blocks of predictors entered stepwise, each model fitted on the same "
                           "patients. Model χ² tests each model against the intercept-only model.")
    if not_estimable:
        table.footnotes.append("n/e, not estimable: an infinite confidence limit or an odds ratio beyond 10^4 "
                               "(separation); the CSV keeps the raw estimates.")
    for model in models:
        if model in fit.index and isinstance(fit.at[model, "warning"], str) and fit.at[model, "warning"]:
            table.footnotes.append(f"{model}: {fit.at[model, 'warning']}")
    return table


def resistance_table(analysis, settings) -> DisplayTable:
    frame = analysis.resistance_levels
    names = {"MDD": "MDD", "2": "TRD, 2 antidepressants", "3": "TRD, 3 antidepressants",
             "4+": "TRD, 4+ antidepressants"}
    header = [[("Characteristic", 1)] + [(names[lvl], 1) for lvl in RESISTANCE_LEVELS]
              + [("Test", 1), ("P-value", 1)]]
    table = DisplayTable("resistance", "Table 4 Characteristics by level of treatment resistance", header)
    for _, row in frame.iterrows():
        statistic = fmt_statistic(row["test"], row["statistic"], row["df"], row.get("df2"))
        if row["variable"] == "resistance_level":
            cells = ["Patients (% of cohort)"] + [fmt_n_pct(row[f"{g}_n"], row[f"{g}_pct"]) for g in RESISTANCE_GROUPS]
            table.add(cells + [DASH, DASH], "")
            continue
        if row["level"] == "" and all(is_missing(row[f"{g}_n"], blank_text=True) for g in RESISTANCE_GROUPS):
            table.add([label(row["variable"])] + [DASH] * 4 + [statistic, fmt_p(row["p_value"])], "header")
            continue
        if row["test"] == ANOVA_F and row["level"] == "":
            cells = [label(row["variable"]) + ", mean (s.d.)"] + [
                fmt_mean_sd(row[f"{g}_mean"], row[f"{g}_sd"]) for g in RESISTANCE_GROUPS]
        else:
            name = level_label(row["level"]) if row["level"] else label(row["variable"])
            cells = [name] + [fmt_n_pct(row[f"{g}_n"], row[f"{g}_pct"]) for g in RESISTANCE_GROUPS]
        table.add(cells + [statistic, fmt_p(row["p_value"])], "level" if row["level"] else "")
    table.footnotes.append("Pearson chi-squared without continuity correction across the four groups; one-way "
                           "ANOVA (F) for age at diagnosis, age and economic inactivity, with Bonferroni post hoc "
                           "comparisons below.")
    posthoc = analysis.resistance_posthoc
    for (variable, level), part in posthoc.groupby(["variable", "level"], sort=False):
        if all(p == SUPPRESSED for p in part["p_value"]):
            continue  # its ANOVA uses a suppressed count: the comparisons would give the hidden cells back
        pairs = ", ".join(f"{a} v. {b} {p_phrase(p)}" for a, b, p in zip(part["group_a"], part["group_b"],
                                                                           part["p_value"]))
        name = level_label(level) if level else label(variable)
        table.footnotes.append(f"Bonferroni post hoc, {name}: {pairs}.")
    return table


def service_table(analysis, sizes) -> DisplayTable:
    header = [[("Service category", 1), ("MDD N (%)", 1), ("TRD N (%)", 1), ("Test", 1), ("P-value", 1)]]
    table = DisplayTable("service_use", "Table 5 Service use by depression status", header)
    frame = analysis.service_use
    for measure, title in (("referrals", "Referrals (% of the group's referrals)"),
                           ("patients", "Patients with at least one referral (% of the group)")):
        table.add([title, "", "", "", ""], "section")
        for _, row in frame[frame["measure"] == measure].iterrows():
            name = SERVICE_LABELS.get(row["category"], row["category"]) if row["category"] else "All referrals"
            n_pct = (fmt_count(row["mdd_n"]), fmt_count(row["trd_n"])) if not row["category"] else (
                fmt_n_pct(row["mdd_n"], row["mdd_pct"]), fmt_n_pct(row["trd_n"], row["trd_pct"]))
            table.add([name, *n_pct, fmt_statistic(row["test"], row["statistic"], row["df"]),
                       fmt_p(row["p_value"])], "sub" if row["category"] else "header")
    table.footnotes.append("Pearson chi-squared without continuity correction: for referrals, one category against "
                           "all other referrals of the group (treats referrals as independent, as the paper did); "
                           "for patients, with against without a referral.")
    return table


def attrition_table(attrition: pd.DataFrame) -> DisplayTable:
    table = DisplayTable("attrition", "Cohort flow (attrition): patients remaining after each rule",
                         [[("Step", 1), ("Patients remaining", 1), ("Excluded at this step", 1)]])
    for _, row in attrition.iterrows():
        table.add([str(row["rule"]).replace("_", " "), fmt_count(row["remaining"]), fmt_count(row["excluded"])])
    return table


def all_tables(protected, attrition_protected, sizes, settings) -> list[DisplayTable]:
    with percent_precision(protected.disclosure_applied):
        tables = [attrition_table(attrition_protected), table1(protected, sizes, settings),
                  table2(protected, sizes, settings), table3(protected), resistance_table(protected, settings),
                  service_table(protected, sizes)]
    note = disclosure_footnote(settings, protected.disclosure_applied)
    rounding = rounding_note(settings, protected.disclosure_applied)
    for table in tables:
        table.footnotes.append(note)
        if table.key != "table3":  # Table 3 prints no percentages
            table.footnotes.append(rounding)
    return tables


SENSITIVITY_LABELS = {
    "self_harm": "Self-harm, codes alone (ICD-10 X60-X84, Z91.5)",
    "self_harm_any": "Self-harm, codes + notes",
    "suicidal_ideation_nlp": "Suicidal ideation, notes",
    "suicide_attempt_nlp": "Suicide attempt, notes",
    "codes_only": "Codes only",
    "notes_only": "Notes only (found by the notes, not by the codes)",
    "both": "Both codes and notes",
    "either": "Either (codes + notes)",
}
SENSITIVITY_SOURCE_LABELS = {"codes": "self-harm from codes", "codes_notes": "self-harm from codes + notes"}


def _chi_cell(row) -> str:
    if row["test"] == FISHER_EXACT:
        return "Fisher's exact ‡"
    return fmt_statistic(row["test"], row["statistic"], row["df"])


def sensitivity_self_harm_table(protected, sizes) -> DisplayTable:
    """Self-harm and suicidality by source, TRD v. MDD, and who is found by which source."""
    total = sizes["cohort"]
    table = DisplayTable(
        "sensitivity_self_harm", "Table S1 Self-harm and suicidality from codes and from notes by depression status",
        header=[[("Source", 1), (f"MDD (N = {sizes['mdd']})", 1), (f"TRD (N = {sizes['trd']})", 1),
                 (f"All (N = {total})", 1), ("Test", 1), ("P-value", 1)],
                [("", 1), ("N (%)", 1), ("N (%)", 1), ("N (%)", 1), ("", 1), ("", 1)]],
    )
    frame = protected.sensitivity.self_harm
    fisher = False
    for section, title in (("comparison", "TRD versus MDD"),
                           ("overlap", "Patients with self-harm by the source that found them")):
        table.add([title, "", "", "", "", ""], "section")
        for _, row in frame[frame["section"] == section].iterrows():
            cells = [SENSITIVITY_LABELS.get(row["variable"], row["variable"])] + [
                fmt_n_pct(row[f"{g}_n"], row[f"{g}_pct"]) for g in ("mdd", "trd", "all")]
            if section == "comparison":
                fisher |= row["test"] == FISHER_EXACT
                cells += [_chi_cell(row), fmt_p(row["p_value"])]
            else:
                cells += [DASH, DASH]
            table.add(cells, "sub" if section == "overlap" else "")
    table.footnotes.append(
        "Codes: ICD-10 X60-X84 or Z91.5 in structured diagnoses (as Table 2). Notes: an affirmed mention about the "
        "patient (not negated, not hypothetical, not about someone else; current or historical) in a clinical note "
        "dated on or before the index date. A suicide attempt counts as self-harm (NICE NG225). Codes only + notes "
        "only + both = either. Pearson chi-squared without continuity correction, 1 degree of freedom.")
    if fisher:
        table.footnotes.append("‡ Fisher's exact test (two-sided): a 2x2 table with an expected count below 5.")
    return table


def sensitivity_regression_table(protected) -> DisplayTable:
    """Models from the self-harm block on, with self-harm from codes and from codes + notes side by side."""
    from trdpath.stats.regression import INTERCEPT
    from trdpath.stats.sensitivity import SOURCES

    frame = protected.sensitivity.regression
    models = list(dict.fromkeys(frame["model"]))
    columns = [(m, s) for m in models for s in SOURCES]
    header = [[("Independent variable", 1)] + [(m, 6) for m in models],
              [("", 1)] + [(f"Self-harm from {'codes' if s == 'codes' else 'codes + notes'}", 3) for _, s in columns],
              [("", 1)] + [(text, 1) for _ in columns for text in ("OR", "95% CI", "P-value")]]
    table = DisplayTable("sensitivity_regression",
                         "Table S2 Logistic regression of TRD with self-harm from codes and from codes + notes", header)
    by_key = {(r["model"], r["term"]): r for _, r in frame.iterrows()}
    not_estimable = False
    for term in [t for t in dict.fromkeys(frame["term"]) if t != INTERCEPT]:
        cells = [term_label(term) if term != "self_harm" else "Self-harm (yes versus no)"]
        for model, source in columns:
            row = by_key.get((model, term))
            values = None if row is None else {c: row[f"{source}_{c}"] for c in ("odds_ratio", "ci_lower",
                                                                                   "ci_upper", "p_value")}
            if values is None or is_missing(values["odds_ratio"], blank_text=True) and not isinstance(values["odds_ratio"], str):
                cells += [DASH] * 3
            elif values["odds_ratio"] == SUPPRESSED:
                cells += [SECONDARY_MARK] * 3
            elif not _estimable(values):
                cells += ["n/e"] * 3
                not_estimable = True
            else:
                cells += [fmt_number(values["odds_ratio"]),
                          f"{fmt_number(values['ci_lower'])}–{fmt_number(values['ci_upper'])}",
                          fmt_p(values["p_value"])]
        table.add(cells, "header" if term == "self_harm" else "")
    codes_fit = protected.model_fit.set_index("model")
    notes_fit = protected.sensitivity.model_fit.set_index("model") if len(protected.sensitivity.model_fit) else None
    for name, column in (("n", "n"), ("-2 log likelihood", "minus2ll"), ("Nagelkerke R²", "nagelkerke_r2")):
        cells = [name]
        for model, source in columns:
            fit = codes_fit if source == "codes" else notes_fit
            value = fit.at[model, column] if fit is not None and model in fit.index else None
            if column == "n":
                cells.append(fmt_count(value))
            elif column == "nagelkerke_r2":
                cells.append(fmt_number(value, DECIMALS["r2"]))
            else:
                cells.append(fmt_number(value))
        table.add(cells, "fit", [1] + [3] * len(columns))
    table.footnotes.append(
        "The configured blocks of Table 3 from the block that enters self-harm onwards, refitted with self-harm from "
        "codes + notes (self_harm_any) in place of self-harm from codes; all other predictors unchanged, same "
        "patients. OR, odds ratio with 95% Wald confidence interval (statsmodels Logit).")
    if not_estimable:
        table.footnotes.append("n/e, not estimable (separation); the CSV keeps the raw estimates.")
    return table


def sensitivity_summary(protected) -> list[str]:
    """Sentences for the section's opening: how many more patients with self-harm the notes find than the codes."""
    from trdpath.stats.sensitivity import gain_summary, ratio

    if not protected.sensitivity.notes_available:
        return ["No notes in this extract: self-harm, suicidal ideation and suicide attempt could not be read from "
                "clinical notes, so the sensitivity analysis was not run. Self-harm in Tables 2 and 3 is from codes "
                "alone."]
    gain = gain_summary(protected.sensitivity.self_harm)
    sentences = []
    for group, name in (("all", "In the cohort"), ("mdd", "In MDD"), ("trd", "In TRD")):
        g = gain[group]
        times = ratio(g["any"], g["codes"])
        times_text = f" ({times:.1f} times as many)" if math.isfinite(times) else ""
        gained = (f"the notes found {fmt_count(g['notes_only'])} more patients with self-harm than the codes"
                  if not isinstance(g["notes_only"], str) or g["notes_only"] != SUPPRESSED else
                  "how many more the notes found is hidden by disclosure control")
        sentences.append(
            f"{name}, codes alone found self-harm in {fmt_count(g['codes'])} patients and codes + notes in "
            f"{fmt_count(g['any'])}{times_text}: {gained}.")
    return [" ".join(sentences)]


def sensitivity_tables(protected, sizes, settings) -> list[DisplayTable]:
    """The section's tables (none when the extract had no notes)."""
    if not protected.sensitivity.notes_available:
        return []
    with percent_precision(protected.disclosure_applied):
        tables = [sensitivity_self_harm_table(protected, sizes)]
        if len(protected.sensitivity.regression):
            tables.append(sensitivity_regression_table(protected))
    note = disclosure_footnote(settings, protected.disclosure_applied)
    for table in tables:
        table.footnotes.append(note)
    tables[0].footnotes.append(rounding_note(settings, protected.disclosure_applied))
    return tables
