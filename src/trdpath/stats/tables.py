"""The paper's tables as DataFrames of true counts and test results (disclosure control comes after).

Table 1 (sociodemographics) and Table 2 (comorbidities) compare MDD with TRD; the resistance-level table
compares MDD, 2, 3 and 4+ antidepressants; service use compares referrals by group. Counting is pushed into
pandas (one groupby per table); only the tests, a few dozen, are called per variable.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from trdpath.reference import COMORBIDITY_FLAGS, SERVICE_CATEGORIES
from trdpath.stats.comparisons import (
    ANOVA_F, TestResult, chi_squared, one_way_anova, per_level_chi_squared, t_tests,
)
from trdpath.stats.regression import ordered_levels

# The exact columns of table1_sociodemographics.csv / table2_comorbidities.csv (issue 3), then the extras:
# means and s.d. for continuous variables and the warning each result carries.
TABLE_COLUMNS = ("variable", "level", "mdd_n", "mdd_pct", "trd_n", "trd_pct", "test", "statistic", "df",
                 "p_value")
TABLE_EXTRA_COLUMNS = ("mdd_mean", "mdd_sd", "trd_mean", "trd_sd", "warning")
COMPARISON_COLUMNS = TABLE_COLUMNS + TABLE_EXTRA_COLUMNS

# Table 1 in the paper's order (sex added: the paper collected it but did not tabulate it).
TABLE1_VARIABLES = (
    ("depression_code", "categorical"),
    ("psychotic_symptoms", "flag"),
    ("age_at_diagnosis", "continuous"),
    ("age", "continuous"),
    ("sex", "categorical"),
    ("died", "flag"),
    ("age_at_death", "continuous"),
    ("ethnicity_group", "categorical"),
    ("employment_group", "categorical"),
)
TABLE2_VARIABLES = tuple((flag, "flag") for flag in COMORBIDITY_FLAGS)

# Resistance levels: MDD and TRD by number of antidepressants in the current episode.
RESISTANCE_LEVELS = ("MDD", "2", "3", "4+")
RESISTANCE_GROUPS = ("mdd", "level2", "level3", "level4plus")  # column prefixes for the four levels
RESISTANCE_COLUMNS = (
    ("variable", "level")
    + tuple(f"{g}_{s}" for g in RESISTANCE_GROUPS for s in ("n", "pct"))
    + ("test", "statistic", "df", "df2", "p_value")
    + tuple(f"{g}_{s}" for g in RESISTANCE_GROUPS for s in ("mean", "sd"))
    + ("warning",)
)
# One-way ANOVA by level (Statistical analysis): age at diagnosis, age and economic inactivity.
ANOVA_VARIABLES = (("age_at_diagnosis", ""), ("age", ""), ("employment_group", "Economically inactive"))
POSTHOC_COLUMNS = ("variable", "level", "group_a", "group_b", "mean_difference", "p_value")

CLUSTERED_NOTE = "referrals of one patient are not independent; see the patient-level rows"
SERVICE_COLUMNS = ("measure", "category", "mdd_n", "mdd_pct", "trd_n", "trd_pct", "test", "statistic", "df",
                   "p_value", "warning")


def _result_fields(result: TestResult | None) -> dict:
    if result is None:
        return {"test": "", "statistic": math.nan, "df": math.nan, "p_value": math.nan, "warning": ""}
    return {"test": result.test, "statistic": result.statistic, "df": result.df, "p_value": result.p_value,
            "warning": result.warning}


def _pct(count: float, total: float) -> float:
    return 100.0 * count / total if total else math.nan


def _flag_counts(cohort: pd.DataFrame, variables: list[str], group: pd.Series, groups) -> pd.DataFrame:
    """Counts of 'yes' per flag (rows) and group (columns), in one groupby."""
    counts = cohort[variables].fillna(False).astype(bool).groupby(group.to_numpy()).sum().T
    return counts.reindex(columns=list(groups), fill_value=0)


def _level_counts(cohort: pd.DataFrame, variable: str, group: pd.Series, groups) -> pd.DataFrame:
    levels = ordered_levels(variable, cohort[variable])
    values = cohort[variable]
    if values.dtype != object:
        values = values.astype(str)
    counts = pd.crosstab(pd.Categorical(values), pd.Categorical(group)).rename(index=str, columns=str)
    return counts.reindex(index=levels, columns=list(groups), fill_value=0)


def compare_groups(cohort: pd.DataFrame, variables, per_level_tests: bool = True) -> pd.DataFrame:
    """Rows of Table 1 / Table 2: MDD versus TRD for each (variable, kind)."""
    trd = cohort["trd"].astype(bool)
    group = trd.map({False: "mdd", True: "trd"})
    sizes = {"mdd": int((~trd).sum()), "trd": int(trd.sum())}
    flags = [v for v, kind in variables if kind == "flag"]
    flag_counts = _flag_counts(cohort, flags, group, ("mdd", "trd")) if flags else None
    rows = []
    for variable, kind in variables:
        if kind == "flag":
            yes = flag_counts.loc[variable]
            table = np.array([[yes["mdd"], yes["trd"]], [sizes["mdd"] - yes["mdd"], sizes["trd"] - yes["trd"]]])
            rows.append({"variable": variable, "level": "",
                         "mdd_n": int(yes["mdd"]), "mdd_pct": _pct(yes["mdd"], sizes["mdd"]),
                         "trd_n": int(yes["trd"]), "trd_pct": _pct(yes["trd"], sizes["trd"]),
                         **_result_fields(chi_squared(table))})
        elif kind == "categorical":
            counts = _level_counts(cohort, variable, group, ("mdd", "trd"))
            rows.append({"variable": variable, "level": "", **_result_fields(chi_squared(counts.to_numpy()))})
            level_tests = per_level_chi_squared(counts.to_numpy()) if len(counts) > 2 and per_level_tests else None
            for i, (level, row) in enumerate(counts.iterrows()):
                rows.append({"variable": variable, "level": level,
                             "mdd_n": int(row["mdd"]), "mdd_pct": _pct(row["mdd"], sizes["mdd"]),
                             "trd_n": int(row["trd"]), "trd_pct": _pct(row["trd"], sizes["trd"]),
                             **_result_fields(level_tests[i] if level_tests else None)})
        else:
            values = pd.to_numeric(cohort[variable], errors="coerce").astype(float)
            mdd_values, trd_values = values[~trd].dropna(), values[trd].dropna()
            summary = {"mdd_n": len(mdd_values), "trd_n": len(trd_values),
                       "mdd_mean": mdd_values.mean(), "mdd_sd": mdd_values.std(ddof=1),
                       "trd_mean": trd_values.mean(), "trd_sd": trd_values.std(ddof=1)}
            for result in t_tests(mdd_values.to_numpy(), trd_values.to_numpy()):
                rows.append({"variable": variable, "level": "", **summary, **_result_fields(result)})
    return pd.DataFrame(rows, columns=list(COMPARISON_COLUMNS))


def resistance_level_table(cohort: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """MDD, 2, 3, 4+: counts, chi-squared (df 3 for a flag) and one-way ANOVA with Bonferroni post hoc."""
    level = cohort["resistance_level"].astype(str)
    group = level.map(dict(zip(RESISTANCE_LEVELS, RESISTANCE_GROUPS)))
    sizes = group.value_counts().reindex(list(RESISTANCE_GROUPS), fill_value=0)
    total = int(sizes.sum())
    rows = [{"variable": "resistance_level", "level": "",
             **{f"{g}_n": int(sizes[g]) for g in RESISTANCE_GROUPS},
             **{f"{g}_pct": _pct(sizes[g], total) for g in RESISTANCE_GROUPS}}]
    posthoc_rows = []

    def counts_row(variable, level_name, counts: pd.Series) -> dict:
        return {"variable": variable, "level": level_name,
                **{f"{g}_n": int(counts[g]) for g in RESISTANCE_GROUPS},
                **{f"{g}_pct": _pct(counts[g], sizes[g]) for g in RESISTANCE_GROUPS}}

    anova_targets = dict(ANOVA_VARIABLES)
    flags = [v for v, kind in TABLE1_VARIABLES + TABLE2_VARIABLES if kind == "flag"]
    flag_counts = _flag_counts(cohort, flags, group, RESISTANCE_GROUPS)
    for variable, kind in TABLE1_VARIABLES + TABLE2_VARIABLES:
        if kind == "flag":
            yes = flag_counts.loc[variable]
            table = np.vstack([yes.to_numpy(), (sizes - yes).to_numpy()])
            result = chi_squared(table)
            rows.append({**counts_row(variable, "", yes), **_result_fields(result), "df2": math.nan})
        elif kind == "categorical":
            counts = _level_counts(cohort, variable, group, RESISTANCE_GROUPS)
            rows.append({"variable": variable, "level": "", **_result_fields(chi_squared(counts.to_numpy()))})
            for level_name, row in counts.iterrows():
                entry = counts_row(variable, level_name, row)
                if anova_targets.get(variable) == level_name:
                    indicator = (cohort[variable].astype(str) == level_name).astype(float)
                    entry.update(_anova_fields(variable, level_name, indicator, level, posthoc_rows))
                rows.append(entry)
        elif variable in anova_targets:
            values = pd.to_numeric(cohort[variable], errors="coerce").astype(float)
            rows.append({"variable": variable, "level": "",
                         **{f"{g}_n": int(values[group == g].notna().sum()) for g in RESISTANCE_GROUPS},
                         **_anova_fields(variable, "", values, level, posthoc_rows)})
    table = pd.DataFrame(rows, columns=list(RESISTANCE_COLUMNS))
    return table, pd.DataFrame(posthoc_rows, columns=list(POSTHOC_COLUMNS))


def _anova_fields(variable, level_name, values: pd.Series, level: pd.Series, posthoc_rows: list) -> dict:
    result, post_hoc = one_way_anova(values.to_numpy(), level.to_numpy(), RESISTANCE_LEVELS)
    grouped = values.groupby(level.to_numpy())
    means, sds = grouped.mean(), grouped.std(ddof=1)
    for a, b, difference, p in post_hoc:
        posthoc_rows.append({"variable": variable, "level": level_name, "group_a": a, "group_b": b,
                             "mean_difference": difference, "p_value": p})
    fields = {"test": ANOVA_F, "statistic": result.statistic, "df": result.df, "df2": result.df2,
              "p_value": result.p_value, "warning": result.warning}
    for lvl, g in zip(RESISTANCE_LEVELS, RESISTANCE_GROUPS):
        fields[f"{g}_mean"] = float(means.get(lvl, math.nan))
        fields[f"{g}_sd"] = float(sds.get(lvl, math.nan))
    return fields


def service_use_table(cohort: pd.DataFrame) -> pd.DataFrame:
    """Referrals per service category by group: shares of all referrals and of patients, with chi-squared.

    The paper's percentages (e.g. community 40% TRD v. 45% MDD) are shares of each group's referrals; the
    chi-squared on referrals treats referrals as independent, which they are not (one patient can have
    several), so the patient-level comparison is given beside it.
    """
    trd = cohort["trd"].astype(bool).to_numpy()
    columns = [f"referrals_{c}" for c in SERVICE_CATEGORIES]
    referrals = cohort[columns].fillna(0).astype(np.int64)
    sums = referrals.groupby(trd).sum().reindex([False, True], fill_value=0)
    patients = (referrals > 0).groupby(trd).sum().reindex([False, True], fill_value=0)
    sizes = {False: int((~trd).sum()), True: int(trd.sum())}
    totals = sums.sum(axis=1)
    rows = []
    clustered = CLUSTERED_NOTE
    overall = chi_squared(sums.to_numpy().T)
    rows.append({"measure": "referrals", "category": "", "mdd_n": int(totals[False]), "mdd_pct": 100.0,
                 "trd_n": int(totals[True]), "trd_pct": 100.0, **_result_fields(overall)})
    rows[-1]["warning"] = "; ".join(w for w in (overall.warning, clustered) if w)
    for category, column in zip(SERVICE_CATEGORIES, columns):
        mdd, trd_n = int(sums.loc[False, column]), int(sums.loc[True, column])
        result = chi_squared(np.array([[mdd, trd_n], [totals[False] - mdd, totals[True] - trd_n]]))
        rows.append({"measure": "referrals", "category": category,
                     "mdd_n": mdd, "mdd_pct": _pct(mdd, totals[False]),
                     "trd_n": trd_n, "trd_pct": _pct(trd_n, totals[True]), **_result_fields(result)})
    for category, column in zip(SERVICE_CATEGORIES, columns):
        mdd, trd_n = int(patients.loc[False, column]), int(patients.loc[True, column])
        result = chi_squared(np.array([[mdd, trd_n], [sizes[False] - mdd, sizes[True] - trd_n]]))
        rows.append({"measure": "patients", "category": category,
                     "mdd_n": mdd, "mdd_pct": _pct(mdd, sizes[False]),
                     "trd_n": trd_n, "trd_pct": _pct(trd_n, sizes[True]), **_result_fields(result)})
    return pd.DataFrame(rows, columns=list(SERVICE_COLUMNS))


JOURNEY_STEPS = 5  # positions shown in the Sankey: first ... fifth drug started in the current episode
JOURNEY_TOP_DRUGS = 8  # drugs named per position; the rest are grouped as "other"


def journey_links(cohort: pd.DataFrame) -> pd.DataFrame:
    """Flows between consecutive drugs of the current episode (the Sankey): step, source, target, n.

    ``treatment_sequence`` lists ingredients in order of first start; augmenting agents carry a '+' and are
    shown as "augmentation: NAME". Patients whose journey ends at a step flow into "no further drug".
    Distinct sequences are counted first, so the string work is on thousands of sequences, not millions of rows.
    """
    sequences = cohort["treatment_sequence"].fillna("").astype(str).value_counts()
    sequences = sequences[sequences.index != ""]
    if sequences.empty:
        return pd.DataFrame(columns=["step", "source", "target", "n"])
    weights = sequences.to_numpy()
    parts = pd.Series(sequences.index).str.split(";", n=JOURNEY_STEPS, expand=True)
    parts = parts.reindex(columns=range(JOURNEY_STEPS + 1), fill_value=None).astype("string")
    labels = {}
    for step in range(JOURNEY_STEPS):
        column = parts[step].mask(parts[step].fillna("") == "")
        column = column.str.replace(r"^\+(.*)$", r"augmentation: \1", regex=True)
        totals = pd.Series(weights).groupby(column.to_numpy()).sum().sort_values(ascending=False)
        top = totals.index[:JOURNEY_TOP_DRUGS]
        labels[step] = column.where(column.isin(top) | column.isna(), "other")
    links = []
    for step in range(JOURNEY_STEPS - 1):
        source, target = labels[step], labels[step + 1]
        started = source.notna().to_numpy()
        frame = pd.DataFrame({"source": source[started].astype(str),
                              "target": target[started].fillna("no further drug").astype(str),
                              "n": weights[started]})
        counts = frame.groupby(["source", "target"], as_index=False)["n"].sum()
        counts.insert(0, "step", step + 1)
        links.append(counts)
    result = pd.concat(links, ignore_index=True)
    return result[result["n"] > 0].reset_index(drop=True)
