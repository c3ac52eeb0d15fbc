"""Statistical disclosure control for everything that leaves the program (CSV, XLSX, HTML, DOCX, figures).

The release policy (issue 3, hardened by issue 14 after a reader recombining published figures recovered
suppressed cells exactly; the practice of NHS trusted research environments such as OpenSAFELY and the ONS):

* **Primary suppression**: a count from 1 to ``min_count - 1`` is shown as ``<min_count`` (e.g. ``<8``).
* **Secondary suppression**: where counts add up to a published total, a single hidden cell could be recovered
  by subtraction, so the smallest visible non-zero cells are hidden too (``suppressed``) until at least two
  cells are hidden and the hidden cells add up to at least ``min_count``.
* **Rounding**: every other count is rounded to the nearest ``rounding`` (5); percentages are computed from
  the rounded counts over rounded denominators.
* **Statistics of counts are computed on the published counts**: a chi-squared, its P and the ANOVA of a 0/1
  indicator are recomputed from the rounded counts, so they hold nothing the counts do not (a chi-squared of
  true counts printed to two decimals picks out the exact table among the few that round alike).
* **Secondary suppression also checks intervals**: a hidden cell that the published bounds of its group pin to
  one value (1 + 8 + 18 = 27 in a group shown as 25) forces one more hidden cell (:func:`_pinned`); then the
  whole release (every table, their linking sums, the Sankey, the cohort flow and model n) is audited as one
  integer programme (:mod:`trdpath.stats.release_audit`) and any count it pins makes another count hidden.
* **Statistics are rounded as journals print them** (:data:`DECIMALS`): chi-squared, t and F to 2 decimals,
  P to 3 (or ``<0.001``), odds ratios and CIs to 2, R-squared to 2, means, s.d. and mean differences to 1.
* **Figures that pin down an exact count come from published figures**: t-tests and the ANOVA of ages from the
  published n, mean and s.d. (so their df are those of the rounded n); -2 log likelihood and the R-squared
  from the printed model chi-squared and the rounded group sizes. Raw coefficients and standard errors are
  ``withheld`` (the odds ratio and CI carry them at journal precision).
* **Nothing derived from a hidden cell is published**: percentages, means, tests, post hoc comparisons of a
  suppressed ANOVA, warnings that quote a hidden count, and a regression block whose terms are all suppressed
  (with the model statistics that would give its chi-squared back by difference).

:data:`RELEASE_POLICY` lists every published figure with its rule and the reason (docs/report.md prints it).
:func:`protect` turns an :class:`~trdpath.stats.Analysis` of true counts into one whose tables hold only
publishable values (numbers, or the strings ``<8`` / ``suppressed`` / ``withheld`` / ``<0.001``).
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import re
from collections.abc import Callable

import numpy as np
import pandas as pd
from scipy import stats as scipy_stats

from trdpath.config import DisclosureSection
from trdpath.stats.cell_rules import (  # noqa: F401 (re-exported: the names callers know)
    PRIMARY, SECONDARY, SUPPRESSED, WITHHELD, _pinned, published_interval, round_count, small_label, suppression_pattern,
)
from trdpath.stats.comparisons import (
    ANOVA_F, FISHER_EXACT, PEARSON_CHI2, PEARSON_CHI2_BONFERRONI, STUDENT_T, WELCH_T, TestResult, chi_squared,
)
from trdpath.stats.tables import CLUSTERED_NOTE, RESISTANCE_GROUPS, RESISTANCE_LEVELS
from trdpath.values import is_missing

GROUPS2 = ("mdd", "trd")

P_FLOOR = 0.001
P_BELOW = "<0.001"  # P as journals print it below 0.001

# Decimals of every published statistic, as journals print them (BJPsych style; SPSS tables rounded for print).
DECIMALS = {"statistic": 2, "p_value": 3, "odds_ratio": 2, "r2": 2, "mean": 1, "sd": 1, "mean_difference": 1}
CHI2_TESTS = (PEARSON_CHI2, PEARSON_CHI2_BONFERRONI, FISHER_EXACT, f"{FISHER_EXACT}_bonferroni")
ON_PUBLISHED_COUNTS = "computed on the published (rounded) counts"
ON_PUBLISHED_SUMMARIES = "computed from the published (rounded) n, mean and s.d."

# Every published figure: (figure, rule, why). Printed in docs/report.md and docs/security.md.
RELEASE_POLICY = (
    ("Count (cell, group size, model n, flow, attrition step, line, step, step-time n, Table 6 cell)",
     "1-7 shown as <8; the rest rounded to the nearest 5; 0 shown as 0",
     "OpenSAFELY/ONS small-number rule: a count of 1-7 can identify a person; rounding stops differencing"),
    ("Count in a linked sum (levels to a group, TRD 2+3+4+ to TRD, referral categories, Sankey node, "
     "codes/notes overlaps)",
     "secondary suppression: more cells hidden until no hidden cell is alone, the hidden add up to >= 8 and no "
     "cell is pinned to one value by the published bounds (hidden: 1-7 or >= 8; shown r: r-2..r+2; the total's)",
     "a lone hidden cell comes back by subtraction from the published total; 1 (<8) + 8 (suppressed) + 18 "
     "(shown 20) in a group shown as 25 (<= 27) has one solution"),
    ("Every published count together (Tables 1-2, resistance levels, service use, self-harm sensitivity, Sankey, "
     "cohort flow, model n, group sizes, Tables 6-9, Kaplan-Meier counts, the definitions atlas)",
     "one integer programme of the whole release (scipy.optimize.milp): printed values as intervals, hidden as "
     "1-7 or >= 8, every linking equality (levels to groups, TRD = 2 + 3 + 4+ cell by cell, t-test/ANOVA n = "
     "group or level size, referrals, codes/notes overlaps, Sankey inflow = outflow, remaining - excluded = next "
     "remaining, model n = the cohort with complete data; a line's drugs to its total, line k+1 <= line k, line 1 "
     "= the cohort and, by drug, the Sankey's first column; Table 8's position k = the Sankey's column k = Table "
     "9's step k-1 to k, its judged cells = the lines' totals; T1 >= T2 >= TRD n = TRD; the curve's cumulative "
     "counts rising, ending at TRD and the cohort; Table 6's MDD + TRD = cohort and 2 + 3 + 4+ = TRD in every row, "
     "its first row = the headline counts; the atlas: each definition's TRD <= its population, the Maudsley row = the "
     "cohort and the headline TRD, every pair's four cells = n and, by pairs, its definitions' TRD and non-TRD "
     "counts, the UpSet groups adding up to each definition's TRD, each pair's both and the population, the dial's "
     "levels = its TRD, its population = the cohort, its study point = the headline and the level sizes, "
     "neighbouring points ordered and their differences); any count it pins to one value makes another count hidden (a Sankey "
     "flow, a cohort-flow exclusion step, a table cell; a step-time n of 1-7 whose <8 caps a column is withheld), "
     "and the release is audited again",
     "sums one at a time are not enough: rounding windows of several sums meeting at one number pin it (67 + 32 "
     "+ 69 = 168 shown as 65, 30, 70 and 170; n = 357: the level sizes from every variable's levels, the ANOVA n "
     "and Tables 1-2 together)"),
    ("Definitions atlas (release/definitions/: prevalence, agreement, UpSet groups in overlap.csv, dial)",
     "counts as everywhere, inside the one audit when `trdpath report` (or `compare` into a results folder with a "
     "report) writes it; `compare` alone audits the atlas's own counts; an UpSet group below 8 or named by the "
     "audit is not drawn",
     "the Maudsley row and the dial's study point repeat the headline; both + only A = A's TRD; a 22-patient "
     "atlas's UpSet groups pinned its hidden 2 x 2 table (13, 1, 0, 8)"),
    ("Cohen's kappa (atlas)", f"{ON_PUBLISHED_COUNTS}, 2 decimals; suppressed when a cell of the pair is hidden",
     "kappa of the true cells to 3 decimals picked the true table out of the rounding windows (28, 9, 9, 9)"),
    ("Risk model calibration points, the treat-all line and the lift (early identification)",
     "observed proportions from each tenth's events rounded to 5 over the rounded tenth size, a tenth with fewer "
     "than 8 events or non-events not drawn; treat-all from the rounded prevalence; lift in the top fifth 1 decimal",
     "exact observed proportions of tenths of about n/10 patients gave the test set's n and each tenth's events "
     "back (n = 103 printed 105); a lift to 2 decimals left 2 of the 25 (n, events) pairs a printed 40 and 20 allow"),
    ("Cohort flow (attrition)", "a step excluding 1-7 is merged with the next; counts rounded; an exclusion the "
     "audit finds pinning the cohort is shown as suppressed",
     "remaining - excluded = next remaining would reveal it"),
    ("Percentage", "rounded count / rounded denominator (printed to any precision); suppressed when its count "
     "is hidden", "a percentage of exact counts gives the exact count back; of rounded counts it adds nothing"),
    ("Chi-squared (overall, per level, flag, resistance level, service use, sensitivity), Fisher's P",
     f"{ON_PUBLISHED_COUNTS}; 2 decimals; suppressed when any of its cells is hidden",
     "chi-squared of true counts to 2 decimals picks out the one table among those that round alike "
     "(issue 14: level counts from per-level chi-squared)"),
    ("Chi-squared degrees of freedom", "published ((levels - 1) x (groups - 1))",
     "depends only on which cells are non-zero, which the published counts already show"),
    ("Mean and s.d. (ages, age at death)", "1 decimal; suppressed when the group's count is hidden",
     "a mean of whole-year ages to 16 digits is a fraction whose denominator is the exact n (issue 14)"),
    ("Step times (Table 9): mean, s.d., median and quartiles of days",
     "mean and s.d. 1 decimal, median and quartiles whole days (halves up); all suppressed when the row's n is "
     "hidden; minimum and maximum not published",
     "a median of whole days ending in .5 says n is even, a linear-interpolated quartile's fraction says n modulo "
     "4 (with n's rounding window of 5 that pins it); a minimum or maximum is one patient's value"),
    ("Kaplan-Meier curve (time to TRD): at risk, events, censored, survival and its CI",
     "fitted on events and censorings per 30 days whose cumulative counts are rounded to 5 (0 stands for 0-2); "
     "stopped before fewer than 8 remain at risk; the cumulative counts are in the release audit",
     "differences of rounded cumulative counts cannot undo the rounding; a curve of exact counts gives each "
     "interval's count back"),
    ("Mean of a 0/1 indicator (economic inactivity by level)", "not published (its rounded percentage is)",
     "the mean of an indicator is an exact proportion"),
    ("t statistic (Student, Welch), its df and P",
     f"{ON_PUBLISHED_SUMMARIES} (scipy ttest_ind_from_stats): t 2 decimals, df n1 + n2 - 2 of the rounded n "
     "(Welch: Satterthwaite, 2 decimals), P 3",
     "the true df = n1 + n2 - 2 gives the exact group sizes (issue 14); a true t to 2 decimals beside means to "
     "1 decimal narrows n at small n"),
    ("One-way ANOVA F, df, P (ages)",
     f"{ON_PUBLISHED_SUMMARIES} of each level: F 2 decimals, df k - 1 and N - k of the rounded N, P 3",
     "the true residual df = N - k gives the exact N (issue 14)"),
    ("One-way ANOVA F, df, P (economic inactivity)", f"{ON_PUBLISHED_COUNTS} (a 0/1 variable: mean y/n, "
     "variance y(n-y)/(n(n-1)))", "an F of a 0/1 indicator is a function of the counts, like a chi-squared"),
    ("Post hoc (Bonferroni) P and mean difference",
     "from the same published summaries as its ANOVA: P 3 decimals, difference 1 decimal (indicator: not "
     "published); suppressed whenever its ANOVA is",
     "post hoc P of exact counts gave 'suppressed, suppressed, 20' back as (10, 8, 20) (issue 14)"),
    ("P value", "3 decimals, or <0.001", "journal style; more digits invert the statistic"),
    ("Odds ratio and 95% CI", "2 decimals; suppressed when the term's 2x2 table (term x TRD) has a cell of 1-7",
     "an odds ratio of a small cell is the small cell in disguise"),
    ("Regression coefficient (log odds) and standard error", "withheld",
     "the odds ratio and CI carry them at journal precision; full-precision coefficients do not round"),
    ("Model chi-squared, df, P", "chi-squared 2 decimals, P 3; suppressed for a model whose block is suppressed",
     "journal precision"),
    ("-2 log likelihood", "-2 LL0 - chi2 with LL0 = n1 ln(n1/n) + n0 ln(n0/n) of the rounded MDD and TRD counts of "
     "the models and the printed chi-squared (2 decimals)",
     "the true -2LL + chi-squared = -2 LL0 gives the exact TRD and MDD counts"),
    ("Cox & Snell and Nagelkerke R2", "from the printed chi-squared and the rounded counts of the models, "
     "2 decimals", "1 - exp(-chi2/n) to many digits gives the exact model n (issue 14)"),
    ("Block chi-squared, df, P",
     "2 decimals; suppressed when every term of the block is suppressed, and then the next block's too",
     "it is the test of the hidden terms; model chi-squared k - (k-1) and (k+1) - block k+1 would give it back"),
    ("Warnings (warnings.csv, report)",
     f"expected-count warnings those of the tests {ON_PUBLISHED_COUNTS}; counts in them rounded; none on a "
     "hidden row; the patients left out for a missing predictor are a count of the release audit (model n + left "
     "out = cohort), written as 'some' when the audit names it",
     "'4 of 8 cells have an expected count below 5' and 'n patients left out' quote true counts"),
)


def release_number(value, decimals: int):
    """A statistic rounded for release; hidden markers and missing values pass through."""
    if isinstance(value, str) or value is None or value is pd.NA:
        return value
    value = float(value)
    if math.isnan(value) or math.isinf(value):
        return value
    return round(value, decimals) + 0.0  # + 0.0: no "-0.0" in a CSV


def release_p(value):
    """P to 3 decimals, or '<0.001' (journal style)."""
    if isinstance(value, str) or value is None or value is pd.NA:
        return value
    value = float(value)
    if math.isnan(value):
        return value
    return P_BELOW if value < P_FLOOR else round(value, DECIMALS["p_value"])


class _Protector:
    def __init__(self, settings: DisclosureSection):
        self.settings = settings
        self.small = small_label(settings)

    def count(self, value: float, state: str | None):
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return np.nan
        if state == PRIMARY:
            return self.small
        if state == SECONDARY:
            return SUPPRESSED
        return round_count(value, self.settings.rounding)

    def total(self, value: int) -> int | str:
        """A denominator (group size): small ones are hidden like any count."""
        return self.small if 0 < value < self.settings.min_count else round_count(value, self.settings.rounding)

    def pct(self, count_value: float, state: str | None, denominator: float):
        if state is not None:
            return SUPPRESSED
        if count_value is None or (isinstance(count_value, float) and math.isnan(count_value)):
            return np.nan
        rounded_denominator = round_count(denominator, self.settings.rounding)
        if rounded_denominator <= 0 or 0 < denominator < self.settings.min_count:
            return SUPPRESSED if denominator else np.nan
        return 100.0 * round_count(count_value, self.settings.rounding) / rounded_denominator


HIDDEN_NOTE = "statistic suppressed: it uses a suppressed count (disclosure control)"


def _hide_statistics(out: pd.DataFrame, index, columns=("statistic", "df", "df2", "p_value")) -> None:
    for column in columns:
        if column in out.columns:
            out.at[index, column] = SUPPRESSED
    # The row's own warning came from the true counts (e.g. "no test: fewer than two values"): not published.
    if "warning" in out.columns:
        out.at[index, "warning"] = HIDDEN_NOTE


def _published_number(value) -> float | None:
    """A published count as a number, or None when it is hidden or missing."""
    if isinstance(value, str) or value is None or value is pd.NA:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    return float(value)


def _set_test(out: pd.DataFrame, index, result) -> None:
    """Write a test recomputed on published counts (statistic, df, P rounded; its own warning)."""
    out.at[index, "test"] = result.test
    out.at[index, "statistic"] = release_number(result.statistic, DECIMALS["statistic"])
    out.at[index, "df"] = result.df
    out.at[index, "p_value"] = release_p(result.p_value)
    if "warning" in out.columns:
        out.at[index, "warning"] = result.warning


def _retest_counts(out: pd.DataFrame, table: pd.DataFrame, groups: tuple[str, ...], blocks: dict[int, list[int]],
                   header_of: dict[int, int], totals: Callable[[int, str], float | None],
                   composite: dict[int, list[int]]) -> None:
    """Recompute every chi-squared (and Fisher's P) from the published counts of ``out``.

    A header row tests its block of levels; a level row tests its level against the rest (Bonferroni); a
    ``composite`` row tests the rows it names; any other row is a flag: yes against (published total - yes).
    A test whose counts are not all published is suppressed (that was decided before this step).
    """
    def counts(rows: list[int]) -> np.ndarray | None:
        values = [[_published_number(out.at[r, f"{g}_n"]) for g in groups] for r in rows]
        if any(v is None for row in values for v in row):
            return None
        return np.array(values, dtype=float)

    for i, row in table.iterrows():
        test = row.get("test")
        if not isinstance(test, str) or test not in CHI2_TESTS or out.at[i, "statistic"] == SUPPRESSED:
            continue
        if i in blocks or i in composite:
            matrix = counts(blocks.get(i) or composite[i])
            result = chi_squared(matrix) if matrix is not None else None
        else:
            yes = counts([i])
            total = [totals(i, g) for g in groups]
            result = None
            if yes is not None and all(t is not None for t in total):
                result = chi_squared(np.vstack([yes[0], np.array(total, dtype=float) - yes[0]]))
            if result is not None and i in header_of:
                # Level against the rest, Bonferroni over the non-empty levels (zeros are published as 0).
                compared = sum(any(out.at[m, f"{g}_n"] != 0 for g in groups) for m in blocks[header_of[i]])
                result = _bonferroni(result, compared)
        if result is None:
            _hide_statistics(out, i)
        else:
            _set_test(out, i, result)


def _bonferroni(result, compared: int):
    """A level's 2x2 test as per_level_chi_squared reports it: P x levels compared (capped at 1), renamed."""
    p = min(1.0, result.p_value * compared) if not math.isnan(result.p_value) else math.nan
    name = PEARSON_CHI2_BONFERRONI if result.test == PEARSON_CHI2 else f"{result.test}_bonferroni"
    return TestResult(name, result.statistic, result.df, p, warning=result.warning)


def _round_summaries(out: pd.DataFrame, groups: tuple[str, ...]) -> None:
    """Means and s.d. to 1 decimal; t-tests recomputed from the published n, mean and s.d. (2 decimals, P to 3).

    A t of the true values printed to 2 decimals beside means printed to 1 narrows the group sizes (at n = 19 a
    change of one patient moves t by 2%), so t, its df and P are those of the published summaries
    (scipy.stats.ttest_ind_from_stats) and hold nothing more. ANOVA rows are done in _protect_resistance.
    """
    for g in groups:
        for stat in ("mean", "sd"):
            column = f"{g}_{stat}"
            if column in out.columns:
                out[column] = _column(out, [release_number(v, DECIMALS[stat]) for v in out[column]])
    for i in out.index:
        test = out.at[i, "test"] if "test" in out.columns else None
        if test not in (STUDENT_T, WELCH_T) or out.at[i, "statistic"] == SUPPRESSED:
            continue
        if is_missing(out.at[i, "statistic"]):
            continue  # no test (values do not vary): nothing to recompute
        summary = _published_summaries(out, i, groups[:2])
        if summary is None:
            _hide_statistics(out, i)
            continue
        (n1, m1, s1), (n2, m2, s2) = summary
        result = scipy_stats.ttest_ind_from_stats(m1, s1, n1, m2, s2, n2, equal_var=test == STUDENT_T)
        if test == STUDENT_T:
            df = n1 + n2 - 2
        else:  # Welch-Satterthwaite, on the published summaries
            a, b = s1 ** 2 / n1, s2 ** 2 / n2
            df = (a + b) ** 2 / (a ** 2 / (n1 - 1) + b ** 2 / (n2 - 1)) if a + b > 0 else math.nan
        out.at[i, "statistic"] = release_number(result.statistic, DECIMALS["statistic"])
        out.at[i, "df"] = release_number(df, DECIMALS["statistic"])
        out.at[i, "p_value"] = release_p(result.pvalue)
        if "warning" in out.columns:
            out.at[i, "warning"] = ""  # the true-value warnings (if any) are not the published test's


def _published_summaries(out: pd.DataFrame, i, groups) -> list[tuple[float, float, float]] | None:
    """(n, mean, s.d.) per group as published, or None when any is hidden or n < 2."""
    summary = []
    for g in groups:
        n, mean, sd = (_published_number(out.at[i, f"{g}_{s}"]) for s in ("n", "mean", "sd"))
        if n is None or mean is None or sd is None or (n < 2 and n != 0):
            return None
        summary.append((n, mean, sd))
    return summary


def anova_from_summaries(summary: list[tuple[float, float, float]], levels: tuple[str, ...]):
    """One-way ANOVA and Bonferroni post hoc from (n, mean, s.d.) per level, as SPSS computes them.

    F = [sum n_g (m_g - m)^2 / (k - 1)] / [sum (n_g - 1) s_g^2 / (N - k)] over the k levels with n_g > 0; each
    pair's t = (m_a - m_b) / sqrt(MSE (1/n_a + 1/n_b)) with N - k df, P x k(k-1)/2 capped at 1.
    """
    present = [(lvl, n, m, sd) for lvl, (n, m, sd) in zip(levels, summary) if n > 0]
    k = len(present)
    total = sum(n for _, n, _, _ in present)
    if k < 2 or total - k < 1:
        return TestResult(ANOVA_F, warning="no test: fewer than two groups with values"), []
    grand = sum(n * m for _, n, m, _ in present) / total
    between = sum(n * (m - grand) ** 2 for _, n, m, _ in present) / (k - 1)
    mse = sum((n - 1) * sd ** 2 for _, n, _, sd in present) / (total - k)
    if mse <= 0:
        return TestResult(ANOVA_F, warning="no test: the values do not vary within the groups"), []
    f = between / mse
    result = TestResult(ANOVA_F, f, float(k - 1), float(scipy_stats.f.sf(f, k - 1, total - k)), df2=float(total - k))
    pairs = list(itertools.combinations(present, 2))
    post_hoc = []
    for (a, na, ma, _), (b, nb, mb, _) in pairs:
        t = (ma - mb) / math.sqrt(mse * (1 / na + 1 / nb))
        p = min(1.0, 2 * scipy_stats.t.sf(abs(t), total - k) * len(pairs))
        post_hoc.append((a, b, ma - mb, p))
    return result, post_hoc


def _protect_grouped_table(table: pd.DataFrame, groups: tuple[str, ...], settings: DisclosureSection,
                           denominator: Callable[[int, str], float], row_sums_over: tuple[str, ...] = (),
                           label_column: str = "variable", level_column: str = "level",
                           extra_groups: list[list[tuple[int, str]]] = (),
                           composite: dict[int, list[int]] | None = None, forced=(), row_sums_skip=(),
                           state: dict | None = None) -> pd.DataFrame:
    """Protect a table of rows x groups with ``{group}_n`` / ``{group}_pct`` (and optional mean/sd) columns.

    Categorical variables are the blocks of level rows after a header row whose counts are empty; their
    level counts add up to the group size. ``row_sums_over`` names groups whose counts in a row add up to a
    number published elsewhere (TRD levels 2, 3, 4+ add up to the TRD count of Tables 1-2). ``composite``
    maps a row whose test is over other rows (all referrals: the categories) to those rows.
    """
    protector = _Protector(settings)
    composite = composite or {}
    values, blocks = {}, {}
    header_of: dict[int, int] = {}
    current_header = None
    for i, row in table.iterrows():
        has_counts = any(pd.notna(row.get(f"{g}_n")) for g in groups)
        if not has_counts:
            current_header = i
            blocks[i] = []
            continue
        if current_header is not None and row[label_column] == table.at[current_header, label_column] \
                and row[level_column] != "":
            blocks[current_header].append(i)
            header_of[i] = current_header
        else:
            current_header = None
        for g in groups:
            if pd.notna(row.get(f"{g}_n")):
                values[(i, g)] = int(row[f"{g}_n"])
    cell_groups = [list(g) for g in extra_groups]
    for members in blocks.values():
        for g in groups:
            cell_groups.append([(i, g) for i in members if (i, g) in values])
    row_groups = {}
    if row_sums_over:
        for i in table.index:
            if i in row_sums_skip:
                continue  # the total this row adds up to is hidden in its own table
            cells = [(i, g) for g in row_sums_over if (i, g) in values]
            if len(cells) > 1:
                cell_groups.append(cells)
                row_groups[i] = cells
    pattern = suppression_pattern(values, cell_groups, settings.min_count, settings.rounding, forced)
    if state is not None:
        state.update(pattern=pattern, values=values, row_groups=row_groups, blocks=blocks)

    out = table.astype(object).copy()
    for (i, g), value in values.items():
        state = pattern.get((i, g))
        out.at[i, f"{g}_n"] = protector.count(value, state)
        if f"{g}_pct" in out.columns:
            out.at[i, f"{g}_pct"] = (protector.pct(value, state, denominator(i, g))
                                     if pd.notna(table.at[i, f"{g}_pct"]) else np.nan)
        if state is not None:
            for stat in ("mean", "sd"):
                if f"{g}_{stat}" in out.columns and pd.notna(table.at[i, f"{g}_{stat}"]):
                    out.at[i, f"{g}_{stat}"] = SUPPRESSED
    # A test is hidden when any count it was computed from is hidden (a flag's or level's group total too).
    for i, row in table.iterrows():
        if not isinstance(row.get("test"), str) or not row.get("test"):
            continue
        members = blocks.get(i, []) + composite.get(i, []) + [i]
        small_total = any(isinstance(protector.total(denominator(i, g)), str) for g in groups
                          if (i, g) in values and i not in composite)
        if small_total or any((m, g) in pattern for m in members for g in groups):
            _hide_statistics(out, i)

    def published_total(i, g):
        total = protector.total(denominator(i, g))
        return None if isinstance(total, str) else float(total)

    _retest_counts(out, table, groups, blocks, header_of, published_total, composite)
    _round_summaries(out, groups)
    return out


def _protect_comparison(table: pd.DataFrame, sizes: dict[str, int], settings, forced=(),
                        state: dict | None = None) -> pd.DataFrame:
    return _protect_grouped_table(table, ("mdd", "trd"), settings, lambda i, g: sizes[g], forced=forced,
                                  state=state)


def _protect_resistance(table: pd.DataFrame, posthoc: pd.DataFrame, settings: DisclosureSection, forced=(),
                        row_sums_skip=(), state: dict | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The resistance-level table and its Bonferroni post hoc comparisons, protected together."""
    first = table.index[table["variable"] == "resistance_level"]
    sizes = {g: int(table.loc[first[0], f"{g}_n"]) for g in RESISTANCE_GROUPS} if len(first) else {}
    total = sum(sizes.values())
    extra = []
    if len(first):
        # The four level counts add up to the cohort, and 2 + 3 + 4+ to the TRD count.
        extra = [[(first[0], g) for g in RESISTANCE_GROUPS], [(first[0], g) for g in RESISTANCE_GROUPS[1:]]]

    def denominator(i, g):
        return total if i in first else sizes.get(g, 0)

    out = _protect_grouped_table(table, RESISTANCE_GROUPS, settings, denominator,
                                 row_sums_over=RESISTANCE_GROUPS[1:], extra_groups=extra, forced=forced,
                                 row_sums_skip=row_sums_skip, state=state)
    # The mean of a 0/1 indicator (economic inactivity) is an exact proportion: it would undo the rounding,
    # so it is not published (its rounded percentage is); its F and post hoc P come from the published counts.
    # The ANOVA of ages comes from the published n, mean and s.d. of each level (like the t-tests).
    recomputed: dict[tuple[str, str], list] = {}
    anova_rows = table.index[table["test"].fillna("") == ANOVA_F]
    for i in anova_rows:
        indicator = table.at[i, "level"] != ""
        if indicator:
            for g in RESISTANCE_GROUPS:
                out.at[i, f"{g}_mean"] = np.nan
                out.at[i, f"{g}_sd"] = np.nan
        if out.at[i, "statistic"] == SUPPRESSED:
            continue
        if is_missing(table.at[i, "statistic"]):
            out.at[i, "df2"] = np.nan
            continue  # no test on the true values either
        if indicator:
            yes = [_published_number(out.at[i, f"{g}_n"]) for g in RESISTANCE_GROUPS]
            sizes_ = [_published_number(out.at[first[0], f"{g}_n"]) if len(first) else None for g in RESISTANCE_GROUPS]
            if any(v is None for v in yes + sizes_):
                _hide_statistics(out, i)
                continue
            # (n, mean, s.d.) of a 0/1 variable with y ones among n: mean y/n, variance y(n-y)/(n(n-1)).
            summary = [(n, y / n if n else 0.0, math.sqrt(y * (n - y) / (n * (n - 1))) if n > 1 else 0.0)
                       for y, n in zip(yes, sizes_)]
        else:
            summary = _published_summaries(out, i, RESISTANCE_GROUPS)
            if summary is None:
                _hide_statistics(out, i)
                continue
        result, post_hoc = anova_from_summaries(summary, RESISTANCE_LEVELS)
        out.at[i, "statistic"] = release_number(result.statistic, DECIMALS["statistic"])
        out.at[i, "df"] = result.df
        out.at[i, "df2"] = result.df2
        out.at[i, "p_value"] = release_p(result.p_value)
        out.at[i, "warning"] = result.warning
        recomputed[(table.at[i, "variable"], table.at[i, "level"])] = post_hoc
    return out, _protect_posthoc(posthoc, table, out, recomputed)


def _protect_posthoc(posthoc: pd.DataFrame, table: pd.DataFrame, protected: pd.DataFrame,
                     recomputed: dict[tuple[str, str], list]) -> pd.DataFrame:
    """Post hoc P only beside a published ANOVA: P to 3 decimals, mean difference to 1 (indicators: none)."""
    out = posthoc.astype(object).copy()
    anova = {(table.at[i, "variable"], table.at[i, "level"]): i for i in table.index if table.at[i, "test"] == ANOVA_F}
    for i, row in posthoc.iterrows():
        key = (row["variable"], row["level"])
        row_index = anova.get(key)
        if row_index is None or protected.at[row_index, "statistic"] == SUPPRESSED:
            # The comparisons of a suppressed ANOVA would give its hidden cells back (issue 14: (10, 8, 20)).
            out.at[i, "mean_difference"] = SUPPRESSED
            out.at[i, "p_value"] = SUPPRESSED
        else:
            published = {(a, b): (d, p) for a, b, d, p in recomputed.get(key, [])}
            difference, p = published.get((row["group_a"], row["group_b"]), (None, None))
            if p is None:
                out.at[i, "mean_difference"] = SUPPRESSED
                out.at[i, "p_value"] = SUPPRESSED
                continue
            # A difference of proportions is not published (the mean of an indicator is not); of ages it is.
            out.at[i, "mean_difference"] = np.nan if row["level"] else \
                release_number(difference, DECIMALS["mean_difference"])
            out.at[i, "p_value"] = release_p(p)
    return out


def _protect_service_use(table: pd.DataFrame, sizes: dict[str, int], settings, forced=()) -> pd.DataFrame:
    out_parts = []
    for measure, part in table.groupby("measure", sort=False):
        if measure == "referrals":
            totals = part[part["category"] == ""]
            total = {g: int(totals.iloc[0][f"{g}_n"]) for g in ("mdd", "trd")} if len(totals) else sizes
            categories = part.index[part["category"] != ""]
            # Referrals per category add up to the group's total referrals (the first row).
            extra = [[(i, g) for i in categories] for g in ("mdd", "trd")]
            composite = {totals.index[0]: list(categories)} if len(totals) else {}
            protected = _protect_grouped_table(
                part, ("mdd", "trd"), settings, lambda i, g: total[g], label_column="measure",
                level_column="category", extra_groups=extra, composite=composite, forced=forced)
            if len(totals):
                # The overall test's note that referrals are clustered within patients is a method note.
                previous = protected.at[totals.index[0], "warning"]
                protected.at[totals.index[0], "warning"] = "; ".join(
                    w for w in (previous if isinstance(previous, str) else "", CLUSTERED_NOTE) if w)
                for g in ("mdd", "trd"):
                    protected.at[totals.index[0], f"{g}_pct"] = 100.0
        else:
            protected = _protect_grouped_table(part, ("mdd", "trd"), settings, lambda i, g: sizes[g],
                                               label_column="measure", level_column="category", forced=forced)
        out_parts.append(protected)
    return pd.concat(out_parts).loc[table.index]


ESTIMATE_DECIMALS = {"odds_ratio": DECIMALS["odds_ratio"], "ci_lower": DECIMALS["odds_ratio"],
                     "ci_upper": DECIMALS["odds_ratio"]}


def _small_term(cells: pd.DataFrame, term: str, settings: DisclosureSection) -> bool:
    """A term whose 2x2 table (term present/absent x MDD/TRD) has a cell of 1 .. min_count-1."""
    if term not in cells.index:
        return False
    counts = cells.loc[term]
    return any(0 < int(counts[c]) < settings.min_count for c in ("mdd_yes", "trd_yes", "mdd_no", "trd_no"))


def _release_estimates(table: pd.DataFrame, prefix: str = "") -> None:
    """Odds ratios and CIs to 2 decimals, P to 3; coefficients and standard errors withheld."""
    for column, decimals in ESTIMATE_DECIMALS.items():
        if prefix + column in table.columns:
            table[prefix + column] = _column(table, [release_number(v, decimals) for v in table[prefix + column]])
    if prefix + "p_value" in table.columns:
        table[prefix + "p_value"] = _column(table, [release_p(v) for v in table[prefix + "p_value"]])
    for column in ("coef", "std_err"):
        if prefix + column in table.columns:
            # ln(OR) and its s.e. at full precision are the odds ratio unrounded: not published.
            table[prefix + column] = _column(table, [v if v == SUPPRESSED or is_missing(v) else WITHHELD
                                      for v in table[prefix + column]])


def _column(frame: pd.DataFrame, values: list) -> pd.Series:
    """Values as an object column, so a later 'suppressed' fits beside the numbers."""
    return pd.Series(values, index=frame.index, dtype=object)


def _suppressed_blocks(estimates: pd.DataFrame, odds_ratio: str = "odds_ratio") -> set[str]:
    """Models whose block (the terms not in the previous model) has every term suppressed."""
    models = list(dict.fromkeys(estimates["model"]))
    hidden, previous_terms = set(), set()
    for model in models:
        part = estimates[estimates["model"] == model]
        new = part[~part["term"].isin(previous_terms) & (part["term"] != "const")]
        if len(new) and all(v == SUPPRESSED for v in new[odds_ratio]):
            hidden.add(model)
        previous_terms |= set(part["term"])
    return hidden


def _model_groups(term_cells: pd.DataFrame, fallback: tuple[int, int]) -> tuple[int, int]:
    """(MDD, TRD) patients in the models: every term's 2x2 table covers the same complete cases."""
    if len(term_cells):
        row = term_cells.iloc[0]
        return int(row["mdd_yes"] + row["mdd_no"]), int(row["trd_yes"] + row["trd_no"])
    return fallback


def _release_model_fit(model_fit: pd.DataFrame, hidden_blocks: set[str], settings: DisclosureSection,
                       groups: tuple[int, int], all_models: list[str] | None = None) -> pd.DataFrame:
    """Model fit for release: n rounded, statistics rounded, R2 and -2LL from the rounded group sizes.

    -2LL + chi2 = -2 LL0 = -2[n1 ln(n1/n) + n0 ln(n0/n)] and Cox & Snell R2 = 1 - exp(-chi2/n) would give the
    exact group sizes back, so with the model chi-squared (2 decimals) they are computed from the published
    (rounded) MDD and TRD counts n0, n1 of the models: they then hold nothing the counts do not.
    A block whose terms are all suppressed has its block chi-squared hidden; since model chi2(k) - chi2(k-1)
    = block chi2(k) and chi2(k+1) - block chi2(k+1) = chi2(k), model k's statistics (and R2 and -2LL, which
    give its chi-squared back) and block k+1's chi-squared are hidden too.
    """
    out = model_fit.astype(object).copy()
    if out.empty:
        return out
    protector = _Protector(settings)
    if "n" in out.columns:
        out["n"] = _column(out, [protector.total(int(n)) if pd.notna(n) else np.nan for n in model_fit["n"]])
    for column in ("chi2", "block_chi2"):
        if column in out.columns:
            out[column] = _column(out, [release_number(v, DECIMALS["statistic"]) for v in out[column]])
    for column in ("p_value", "block_p_value"):
        if column in out.columns:
            out[column] = _column(out, [release_p(v) for v in out[column]])
    n0, n1 = (protector.total(g) for g in groups)
    for i in out.index:
        chi2 = _published_number(out.at[i, "chi2"]) if "chi2" in out.columns else None
        if chi2 is None or isinstance(n0, str) or isinstance(n1, str) or not n0 or not n1:
            for column in ("minus2ll", "cox_snell_r2", "nagelkerke_r2"):
                if column in out.columns and not is_missing(out.at[i, column]):
                    out.at[i, column] = SUPPRESSED if chi2 is not None else np.nan
            continue
        n = n0 + n1
        ll0 = n1 * math.log(n1 / n) + n0 * math.log(n0 / n)
        cox_snell = 1.0 - math.exp(-chi2 / n)
        maximum = 1.0 - math.exp(2.0 * ll0 / n)
        out.at[i, "minus2ll"] = release_number(-2.0 * ll0 - chi2, DECIMALS["statistic"])
        out.at[i, "cox_snell_r2"] = release_number(cox_snell, DECIMALS["r2"])
        out.at[i, "nagelkerke_r2"] = release_number(cox_snell / maximum if maximum > 0 else math.nan, DECIMALS["r2"])
    order = all_models or list(out["model"])
    for model in hidden_blocks:
        rows = out.index[out["model"] == model]
        for i in rows:
            for column in ("block_chi2", "block_df", "block_p_value", "chi2", "df", "p_value", "cox_snell_r2",
                           "nagelkerke_r2", "minus2ll"):
                if column in out.columns:
                    out.at[i, column] = SUPPRESSED
            out.at[i, "warning"] = "; ".join(w for w in (out.at[i, "warning"] if isinstance(
                out.at[i, "warning"], str) else "", "block suppressed: all its terms are suppressed") if w)
        position = order.index(model) if model in order else -1
        if 0 <= position < len(order) - 1:
            for i in out.index[out["model"] == order[position + 1]]:
                for column in ("block_chi2", "block_df", "block_p_value"):
                    if column in out.columns:
                        out.at[i, column] = SUPPRESSED
    return out


def _protect_regression(analysis, settings: DisclosureSection) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Hide a term's odds ratio when its 2x2 table (term x group) has a small cell; release the model fit."""
    table3 = analysis.table3.astype(object).copy()
    cells = analysis.term_cells.set_index("term") if len(analysis.term_cells) else pd.DataFrame()
    for i, row in analysis.table3.iterrows():
        if _small_term(cells, row["term"], settings):
            for column in ("odds_ratio", "ci_lower", "ci_upper", "p_value", "coef", "std_err"):
                table3.at[i, column] = SUPPRESSED
            table3.at[i, "warning"] = "; ".join(
                w for w in (row["warning"] if isinstance(row["warning"], str) else "",
                            f"odds ratio suppressed: fewer than {settings.min_count} patients in a cell") if w)
    hidden = _suppressed_blocks(table3)
    _release_estimates(table3)
    groups = _model_groups(analysis.term_cells, (analysis.n_mdd, analysis.n_trd))
    return table3, _release_model_fit(analysis.model_fit, hidden, settings, groups)


def _protect_journeys(journeys: pd.DataFrame, settings: DisclosureSection, forced=()) -> pd.DataFrame:
    """Sankey flows: a node's inflows and outflows balance, so each node's links form one group."""
    values = {i: int(n) for i, n in journeys["n"].items()}
    groups = []
    for (_, _), part in journeys.groupby(["step", "source"]):
        groups.append(list(part.index))  # outflows of a node
    for step in sorted(journeys["step"].unique()):
        incoming = journeys[journeys["step"] == step]
        outgoing = journeys[journeys["step"] == step + 1]
        for target, part in incoming.groupby("target"):
            onward = outgoing.index[outgoing["source"] == target]
            groups.append(list(part.index) + list(onward))
    pattern = suppression_pattern(values, groups, settings.min_count, settings.rounding, forced)
    protector = _Protector(settings)
    out = journeys.astype(object).copy()
    out["n"] = _column(out, [protector.count(values[i], pattern.get(i)) for i in journeys.index])
    return out


def protect_attrition(attrition: pd.DataFrame, settings: DisclosureSection) -> pd.DataFrame:
    """Cohort flow: small exclusion steps are merged with the next step (or the previous at the end).

    Merging, rather than hiding, keeps the chain ``remaining - excluded = next remaining`` from revealing a
    small exclusion by subtraction; the remaining counts are rounded like every count.
    """
    if not settings.enabled:
        return attrition.copy()
    return _round_attrition(merge_attrition(attrition, settings), settings)


def merge_attrition(attrition: pd.DataFrame, settings: DisclosureSection) -> pd.DataFrame:
    """The cohort flow with every step excluding 1 .. min_count-1 merged into a neighbour (true counts)."""
    rows = [dict(r) for _, r in attrition.iterrows()]
    merged: list[dict] = []
    pending: dict | None = None
    for row in rows:
        excluded = int(row["excluded"]) if pd.notna(row.get("excluded")) else 0
        if pending is not None:
            row = {**row, "rule": f"{pending['rule']} + {row['rule']}", "excluded": pending["excluded"] + excluded}
            excluded = row["excluded"]
            pending = None
        if 0 < excluded < settings.min_count:
            pending = row
            continue
        merged.append(row)
    if pending is not None:
        if merged and len(merged) > 1:
            last = merged.pop()
            merged.append({**pending, "rule": f"{last['rule']} + {pending['rule']}",
                           "excluded": int(last["excluded"]) + int(pending["excluded"])})
        else:
            merged.append(pending)
    return pd.DataFrame(merged, columns=attrition.columns).reset_index(drop=True)


def _round_attrition(merged: pd.DataFrame, settings: DisclosureSection, hidden=()) -> pd.DataFrame:
    """Counts rounded; an exclusion step in ``hidden`` ((row, "excluded"), found by the release audit) suppressed."""
    protector = _Protector(settings)
    out = merged.astype(object).copy()
    out["remaining"] = _column(out, [protector.total(int(v)) for v in out["remaining"]])
    out["excluded"] = _column(out, [SUPPRESSED if (k, "excluded") in hidden else
                                    protector.total(int(v)) if pd.notna(v) else np.nan
                                    for k, v in enumerate(out["excluded"])])
    return out


def _protect_sensitivity_self_harm(table: pd.DataFrame, sizes: dict[str, int], settings: DisclosureSection,
                                   forced=(), table2: pd.DataFrame | None = None) -> pd.DataFrame:
    """sensitivity_self_harm.csv: the rules of Table 2, plus the sums that link its rows.

    Linked counts: MDD + TRD = all in every row; codes only + both = codes (published in Table 2 too);
    codes only + notes only + both = either = codes + notes only (codes + notes). The coded row is
    protected exactly as Table 2's self-harm row (primary suppression only, so the two never disagree) and is
    treated as a published total; its 'all' cell is hidden when MDD or TRD is. 'either' repeats codes + notes.
    """
    from trdpath.stats.sensitivity import ANY, CODED

    if table.empty:
        return table.copy()
    groups = ("mdd", "trd", "all")
    sizes = {**sizes, "all": sizes["mdd"] + sizes["trd"]}
    row = {v: i for i, v in table["variable"].items()}
    fixed = {row[CODED]}, {row.get("either")}
    # The coded row first, exactly as Table 2: primary suppression only; its 'all' cell hidden with MDD or TRD.
    coded = {g: int(table.at[row[CODED], f"{g}_n"]) for g in groups}
    coded_pattern = {(row[CODED], g): PRIMARY for g in ("mdd", "trd") if 0 < coded[g] < settings.min_count}
    if table2 is not None:
        # Table 2's self-harm row as published (the release audit may have hidden a cell of it): shown alike.
        shown = table2[(table2["variable"] == CODED) & (table2["level"] == "")]
        for g in ("mdd", "trd"):
            if len(shown) and shown.iloc[0][f"{g}_n"] == SUPPRESSED and (row[CODED], g) not in coded_pattern:
                coded_pattern[(row[CODED], g)] = SECONDARY
    if coded_pattern and coded["all"] > 0:
        coded_pattern[(row[CODED], "all")] = SECONDARY if coded["all"] >= settings.min_count else PRIMARY
    values = {(i, g): int(table.at[i, f"{g}_n"]) for i in table.index if i not in fixed[0] | fixed[1]
              for g in groups}
    cell_groups = [[(i, g) for g in groups] for i in table.index if i not in fixed[0] | fixed[1]]
    for g in groups:
        cell_groups += [[(row["codes_only"], g), (row["both"], g)],
                        [(row["codes_only"], g), (row["notes_only"], g), (row["both"], g), (row[ANY], g)]]
        if (row[CODED], g) not in coded_pattern:
            # codes + notes only = codes + notes: with codes published, one of the two gives the other.
            cell_groups.append([(row["notes_only"], g), (row[ANY], g)])
    # Overlaps that pin each other jointly (codes 1 (<8), both 1, notes only 8 -> codes + notes 9 shown 10) are
    # found by the release audit, which hides them through ``forced``.
    forced = {cell for cell in forced if cell in values}
    pattern = {**suppression_pattern(values, cell_groups, settings.min_count, settings.rounding, forced),
               **coded_pattern}
    protector = _Protector(settings)
    out = table.astype(object).copy()
    for i in table.index:
        if i in fixed[1]:
            continue
        for g in groups:
            value, state = int(table.at[i, f"{g}_n"]), pattern.get((i, g))
            out.at[i, f"{g}_n"] = protector.count(value, state)
            out.at[i, f"{g}_pct"] = protector.pct(value, state, sizes[g])
        if isinstance(table.at[i, "test"], str) and table.at[i, "test"] and \
                any((i, g) in pattern for g in groups):
            _hide_statistics(out, i)
    for g in groups:
        for column in (f"{g}_n", f"{g}_pct"):
            out.at[row["either"], column] = out.at[row[ANY], column]
    # TRD v. MDD tests from the published counts, as in Table 2 (comparison rows only; overlap rows have none).
    published_sizes = {g: protector.total(sizes[g]) for g in ("mdd", "trd")}
    for i in table.index:
        test = table.at[i, "test"]
        if not isinstance(test, str) or test not in CHI2_TESTS or out.at[i, "statistic"] == SUPPRESSED:
            continue
        yes = [_published_number(out.at[i, f"{g}_n"]) for g in ("mdd", "trd")]
        totals = [published_sizes[g] for g in ("mdd", "trd")]
        if any(v is None for v in yes) or any(isinstance(t, str) for t in totals):
            _hide_statistics(out, i)
            continue
        _set_test(out, i, chi_squared(np.array([yes, [t - y for t, y in zip(totals, yes)]], dtype=float)))
    return out


def _protect_sensitivity_regression(analysis, settings: DisclosureSection) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Codes-only and codes + notes estimates side by side, each hidden as in Table 3 (a 2x2 cell of 1-7)."""
    from trdpath.stats.sensitivity import ANY, CODED, ESTIMATE_COLUMNS, SOURCES

    sensitivity = analysis.sensitivity
    table = sensitivity.regression.astype(object).copy()
    cells = {
        SOURCES[0]: analysis.term_cells.set_index("term") if len(analysis.term_cells) else pd.DataFrame(),
        SOURCES[1]: sensitivity.term_cells.set_index("term") if len(sensitivity.term_cells) else pd.DataFrame(),
    }
    for i, term in table["term"].items():
        for source in SOURCES:
            key = ANY if (source == SOURCES[1] and term == CODED) else term
            if _small_term(cells[source], key, settings):
                for column in ESTIMATE_COLUMNS:
                    table.at[i, f"{source}_{column}"] = SUPPRESSED
                previous = table.at[i, f"{source}_warning"]
                table.at[i, f"{source}_warning"] = "; ".join(
                    w for w in (previous if isinstance(previous, str) else "",
                                f"odds ratio suppressed: fewer than {settings.min_count} patients in a cell") if w)
    # The refitted models continue Table 3's chain: their first block is tested against Table 3's previous model.
    refit_terms = table.rename(columns={f"{SOURCES[1]}_odds_ratio": "odds_ratio"})[["model", "term", "odds_ratio"]]
    refit_terms = refit_terms[refit_terms["odds_ratio"].notna()]
    codes_models = list(dict.fromkeys(analysis.table3["model"]))
    earlier = analysis.table3[~analysis.table3["model"].isin(set(refit_terms["model"]))]
    chain = pd.concat([earlier[["model", "term"]].assign(odds_ratio=1.0), refit_terms], ignore_index=True)
    hidden = _suppressed_blocks(chain)
    for source in SOURCES:
        _release_estimates(table, f"{source}_")
    groups = _model_groups(sensitivity.term_cells, (analysis.n_mdd, analysis.n_trd))
    return table, _release_model_fit(sensitivity.model_fit, hidden, settings, groups, codes_models)


AUDIT_ROUNDS = 40  # rounds of audit and secondary suppression (each hides at least one more count)


def protect(analysis, settings: DisclosureSection, attrition: pd.DataFrame | None = None, extras=None,
            definitions=None):
    """The publishable version of an Analysis (unchanged, marked as such, when disclosure is disabled).

    Each table is protected by its own rules; then the whole release (with the cohort flow ``attrition`` and the
    extract-level tables ``extras``, a :class:`~trdpath.stats.extra_tables.ExtraTables` of true counts, when
    given) is audited as one integer programme (:mod:`trdpath.stats.release_audit`) and every count it pins
    makes one more count hidden (secondary suppression), until no published figure pins a count. The published
    extra tables are ``.extras`` of the result; ``definitions`` (the atlas's true counts,
    definitions.audit.DefinitionCounts) are audited with the rest and published as ``.definitions``.
    """
    from trdpath.stats import extra_tables

    if not settings.enabled:
        published = None if extras is None else extra_tables.protect_extras(extras, settings, analysis.n_cohort, {})
        atlas = None if definitions is None else definitions.publish(settings)
        return dataclasses.replace(analysis, disclosure_applied=False, extras=published, definitions=atlas)
    from trdpath.stats import release_audit

    sizes = {"mdd": analysis.n_mdd, "trd": analysis.n_trd}
    table3, model_fit = _protect_regression(analysis, settings)
    flow = None
    if attrition is not None and len(attrition):
        merged = merge_attrition(attrition, settings)
        flow = (merged, _round_attrition(merged, settings))
    hide: dict[str, set] = {name: set() for name in ("table1", "table2", "levels", "service", "sensitivity",
                                                     "journeys", "attrition", "warning", *EXTRA_KEYS,
                                                     *(definitions.KEYS if definitions is not None else ()))}
    pinned: list = []
    published_extras = atlas = None
    for _ in range(AUDIT_ROUNDS):
        table1, table2, resistance, posthoc = _protect_linked(analysis, sizes, settings, hide)
        protected = dataclasses.replace(
            analysis,
            table1=table1,
            table2=table2,
            table3=table3, model_fit=model_fit,
            resistance_levels=resistance,
            resistance_posthoc=posthoc,
            service_use=_protect_service_use(analysis.service_use, sizes, settings, hide["service"]),
            journeys=_protect_journeys(analysis.journeys, settings, hide["journeys"]),
            sensitivity=_protect_sensitivity(analysis, sizes, settings, hide["sensitivity"], table2),
            disclosure_applied=True,
        )
        if flow is not None:
            flow = (flow[0], _round_attrition(flow[0], settings, hide["attrition"]))
        new = []
        if extras is not None:
            published_extras = extra_tables.protect_extras(extras, settings, analysis.n_cohort, hide)
            # Table 6's headline row repeats the level sizes: a size hidden in one table is hidden in the other.
            to_assumptions, to_levels = extra_tables.headline_copies(published_extras.assumptions, resistance,
                                                                     analysis.resistance_levels)
            new += [("assumptions", *cell) for cell in to_assumptions] + [("levels", *cell) for cell in to_levels]
        # The audit reads the warnings as printed (a count in one is a count of the release).
        protected.warnings = published_warnings(analysis, protected, settings, hide["warning"])
        if definitions is not None:
            atlas = definitions.publish(settings, hide)
        pinned, to_hide = release_audit.audit(analysis, protected, settings, flow,
                                              None if extras is None else (extras, published_extras),
                                              None if definitions is None else (definitions, atlas))
        new += [key for key in to_hide if _hide_key(key, definitions) not in hide[key[0]]]
        if not new:
            break
        for key in new:
            hide[key[0]].add(_hide_key(key, definitions))
    protected.audit_pinned = pinned  # counts still pinned after the last round (empty unless AUDIT_ROUNDS ran out)
    protected.published_attrition = flow[1] if flow is not None else None
    protected.extras = published_extras
    protected.definitions = atlas
    protected.warnings = published_warnings(analysis, protected, settings, hide["warning"])
    if pinned:
        protected.warnings.append(f"Disclosure audit: {len(pinned)} published counts could still be derived "
                                  "exactly; do not release without an output check")
    return protected


EXTRA_KEYS = ("assumptions", "lines", "steps", "step_times")  # the extra tables' cells the audit may hide


def _hide_key(key: tuple, definitions=None):
    """An audit key ("table1", row, group) / ("journeys", row) as the cell key of its table's protection (the
    atlas's keys, "def_...", as its own counts object says: stats does not import the definitions package)."""
    if key[0].startswith("def_"):
        return definitions.hide_key(key)
    return key[1] if len(key) == 2 else key[1:]


def _row_keys(table: pd.DataFrame) -> dict[tuple[str, str], list[int]]:
    """Rows by (variable, level); the rows of a continuous variable (t-tests, ANOVA) by (variable, '#n')."""
    keys: dict[tuple[str, str], list[int]] = {}
    for i, row in table.iterrows():
        continuous = row.get("test") in (STUDENT_T, WELCH_T) or (row.get("test") == ANOVA_F and row["level"] == "")
        keys.setdefault((row["variable"], "#n" if continuous else row["level"]), []).append(i)
    return keys


def _protect_linked(analysis, sizes, settings: DisclosureSection, hide: dict | None = None, rounds: int = 8):
    """Tables 1-2 and the resistance-level table, protected together until their hidden cells agree.

    They share cells: a row's MDD count is the same number in both, and its TRD count in Tables 1-2 is the sum
    of levels 2 + 3 + 4+. So a MDD cell hidden in one is hidden in the other, and when a row's three TRD level
    cells are pinned by the TRD count of Tables 1-2 (8 + 1 + 8 = 17 with 17 shown as 15 <= 17), that count is
    hidden too (and, hidden, it is no longer a total the levels are held to).
    """
    tables = {"table1": analysis.table1, "table2": analysis.table2}
    keys = {name: _row_keys(t) for name, t in tables.items()}
    level_keys = _row_keys(analysis.resistance_levels)
    hide = hide or {}
    # Cells the release audit found pinned elsewhere start hidden (release_audit: one programme over everything).
    forced = {"table1": set(hide.get("table1", ())), "table2": set(hide.get("table2", ()))}
    forced_levels: set = set(hide.get("levels", ()))
    for _ in range(rounds):
        new_level = False
        states = {name: {} for name in tables}
        protected = {name: _protect_comparison(t, sizes, settings, forced[name], states[name])
                     for name, t in tables.items()}
        hidden = {(key, g) for name in tables for key, rows in keys[name].items() for g in GROUPS2
                  if any((i, g) in states[name]["pattern"] for i in rows)}
        skip = {i for key, rows in level_keys.items() if (key, "trd") in hidden for i in rows}
        forced_levels |= {(i, "mdd") for key, rows in level_keys.items() if (key, "mdd") in hidden for i in rows}
        level_state: dict = {}
        resistance, posthoc = _protect_resistance(analysis.resistance_levels, analysis.resistance_posthoc,
                                                  settings, forced_levels, skip, level_state)
        pattern, values = level_state["pattern"], level_state["values"]
        more = set()
        for key, rows in level_keys.items():
            for i in rows:
                if (i, "mdd") in pattern and (key, "mdd") not in hidden:
                    more.add((key, "mdd"))
                group = level_state["row_groups"].get(i)
                if group and _pinned(values, group, pattern, settings.min_count, settings.rounding):
                    more.add((key, "trd"))
        new = False
        for name in tables:
            for key, g in more:
                for i in keys[name].get(key, []):
                    if (i, g) not in forced[name]:
                        forced[name].add((i, g))
                        new = True
        if not new and not new_level:
            break
    return protected["table1"], protected["table2"], resistance, posthoc


# Warnings computed from true counts: the expected-count ones are rebuilt from the published tables.
_TRUE_COUNT_WARNING = re.compile(r"expected count below|no test: fewer than two|level absent|statistic suppressed")
_PATIENT_COUNT = re.compile(r"\b(\d+) patients with a missing predictor")
MISSING_PREDICTOR = "missing predictor"  # the release audit's key of that count


def published_warnings(analysis, protected, settings: DisclosureSection, hidden=()) -> list[str]:
    """warnings.csv and the report's warnings: rebuilt from the protected tables; counts in them protected (the
    number of patients left out for a missing predictor not at all when the release audit names it: ``hidden``)."""
    protector = _Protector(settings)
    notes = [w for w in analysis.warnings if not _TRUE_COUNT_WARNING.search(w)]
    left_out = ("some" if MISSING_PREDICTOR in hidden else None)
    notes = [_PATIENT_COUNT.sub(lambda m: f"{left_out or protector.total(int(m.group(1)))} patients with a missing "
                                "predictor", w) for w in notes]
    rebuilt = []
    for name, table in (("Table 1", protected.table1), ("Table 2", protected.table2),
                        ("Resistance levels", protected.resistance_levels), ("Service use", protected.service_use)):
        for _, row in table[table["warning"].fillna("").astype(str) != ""].iterrows():
            if row["warning"] == HIDDEN_NOTE:
                continue
            where = row.get("level") or row.get("category") or ""
            rebuilt.append(f"{name}, {row.get('variable', row.get('measure'))}"
                           f"{' ' + str(where) if where else ''}: {row['warning']}")
    if protected.sensitivity.notes_available:
        frame = protected.sensitivity.self_harm
        for _, row in frame[frame["warning"].fillna("").astype(str) != ""].iterrows():
            if row["warning"] != HIDDEN_NOTE:
                rebuilt.append(f"Sensitivity, {row['variable']}: {row['warning']}")
    # Keep the analysis order: table notes first (as analyse() lists them), then models and sensitivity.
    table_prefixes = ("Table 1, ", "Table 2, ", "Resistance levels, ", "Service use, ") + tuple(
        f"Sensitivity, {v}:" for v in ("self_harm", "self_harm_any", "suicidal_ideation_nlp", "suicide_attempt_nlp"))
    rest = [w for w in notes if not w.startswith(table_prefixes)]
    return rebuilt + rest


def _protect_sensitivity(analysis, sizes: dict[str, int], settings: DisclosureSection, forced=(),
                         table2: pd.DataFrame | None = None):
    if not analysis.sensitivity.notes_available:
        return analysis.sensitivity
    regression, model_fit = _protect_sensitivity_regression(analysis, settings)
    return dataclasses.replace(
        analysis.sensitivity, self_harm=_protect_sensitivity_self_harm(analysis.sensitivity.self_harm, sizes, settings,
                                                                       forced, table2),
        regression=regression, model_fit=model_fit)


def published_group_sizes(analysis, settings: DisclosureSection) -> dict[str, int | str]:
    """MDD, TRD and cohort sizes as they may be printed."""
    if not settings.enabled:
        return {"mdd": analysis.n_mdd, "trd": analysis.n_trd, "cohort": analysis.n_cohort}
    protector = _Protector(settings)
    return {"mdd": protector.total(analysis.n_mdd), "trd": protector.total(analysis.n_trd),
            "cohort": protector.total(analysis.n_cohort)}
