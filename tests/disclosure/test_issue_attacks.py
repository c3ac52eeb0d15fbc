"""The attacks of issue 14 ("Suppressed cells are recovered exactly"), each replayed on a release.

Each test plays a reader who has only the published tables (as the CSV strings a run writes) and the rules,
and counts how many values of the protected cells remain possible. All of them recovered an exact value on
the code before the release policy (run with PYTHONPATH=<old src> to see them fail); now each must leave at
least two candidates.
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from trdpath.config import DisclosureSection, StudyConfig
from trdpath.stats import analyse
from trdpath.stats.comparisons import one_way_anova
from trdpath.stats.disclosure import protect, protect_attrition
from support.synthetic import synthetic_patients

from .attacker import Attack, count_bounds, interval, level_counts_from_per_level_chi2, release_of, \
    whole_number_sample_exists

SETTINGS = DisclosureSection()
LEVELS = ("MDD", "2", "3", "4+")


def _release(patients: pd.DataFrame):
    analysis = analyse(patients, StudyConfig())
    n = len(patients)
    cohort = analysis.n_cohort
    attrition = pd.DataFrame({"rule": ["extract", "not_in_cohort"], "remaining": [n, cohort],
                              "excluded": [0, n - cohort]})
    return analysis, release_of(protect(analysis, SETTINGS), protect_attrition(attrition, SETTINGS))


@pytest.fixture(scope="module")
def cohort_300():
    return _release(synthetic_patients(300, seed=3))


def test_group_sizes_from_degrees_of_freedom_r2_and_means_have_several_candidates(cohort_300):
    """t-test df = n1 + n2 - 2, ANOVA df2 = N - 4, Cox & Snell R2 = 1 - exp(-chi2/n), -2LL + chi2 = -2 LL0,
    and means/s.d. of whole-year ages: on the old release these gave the exact cohort (244 where 245 was shown)."""
    analysis, release = cohort_300
    attack = Attack(release)
    pairs = attack.group_size_candidates()
    assert (analysis.n_mdd, analysis.n_trd) in pairs  # the attacker's model of the release is right
    assert len({a for a, _ in pairs}) >= 2 and len({b for _, b in pairs}) >= 2, pairs
    assert len({a + b for a, b in pairs}) >= 2, pairs


def test_means_of_whole_year_ages_do_not_give_the_group_size_back(cohort_300):
    """A mean of n whole numbers is S/n: printed to 16 digits it names n; to 1 decimal many n fit.

    By hand: n = 10 .. 12 all allow a sum S with S/n within 0.05 of any printed mean (steps of 1/n <= 0.1).
    """
    analysis, release = cohort_300
    table1 = release["table1_sociodemographics"]
    row = table1[(table1["variable"] == "age") & (table1["test"] == "student_t")].iloc[0]
    for g in ("mdd", "trd"):
        low, high = count_bounds(row[f"{g}_n"])
        fitting = [n for n in range(low, high + 1)
                   if whole_number_sample_exists(n, interval(row[f"{g}_mean"]), interval(row[f"{g}_sd"]))]
        assert len(fitting) >= 2, (g, row[f"{g}_mean"], fitting)


def test_level_counts_from_per_level_chi_squared_have_several_candidates(cohort_300):
    """Per-level chi-squared printed to 16 digits named the exact (MDD, TRD) counts of the level."""
    _, release = cohort_300
    table1 = release["table1_sociodemographics"]
    rows = table1[(table1["test"] == "pearson_chi2_bonferroni") & ~table1["statistic"].isin(["", "suppressed"])]
    assert len(rows) >= 2  # the cohort has visible levels with a test
    for _, row in rows.iterrows():
        candidates = level_counts_from_per_level_chi2(release, row["variable"], row["level"])
        assert len({a for a, _ in candidates}) >= 2 and len({b for _, b in candidates}) >= 2, \
            (row["variable"], row["level"], candidates)


def _inactive_cohort():
    """Economic inactivity by level MDD 30, 2: 5, 3: 10, 4+: 20 of 120, 30, 40, 60 (shown '30, <8, suppressed, 20')."""
    patients = synthetic_patients(300, seed=11)
    cohort = patients.index[patients["in_cohort"]]
    sizes = (120, 30, 40, 60)
    inactive = (30, 5, 10, 20)
    keep = cohort[:sum(sizes)]
    patients = patients.loc[patients.index.isin(keep) | ~patients["in_cohort"]].copy()
    levels = np.concatenate([[lvl] * n for lvl, n in zip(LEVELS, sizes)])
    patients.loc[keep, "resistance_level"] = levels
    patients.loc[keep, "trd"] = levels != "MDD"
    employment = np.concatenate([["Economically inactive"] * k + ["Employed"] * (n - k)
                                 for k, n in zip(inactive, sizes)])
    patients.loc[keep, "employment_group"] = employment
    return patients, sizes, inactive


def test_posthoc_of_a_suppressed_anova_does_not_give_its_cells_back():
    """Issue 14: post hoc P published beside a suppressed ANOVA gave 'suppressed, suppressed, 20' back exactly.

    The reader here knows even more than the release: the exact group sizes and the two visible counts. It
    tries every value of the two hidden cells (1..7 and 8..40) and keeps those whose Bonferroni post hoc P
    (one-way ANOVA of the 0/1 indicator, as the report computes it) print as published.
    """
    patients, sizes, inactive = _inactive_cohort()
    _, release = _release(patients)
    resistance = release["resistance_levels"]
    row = resistance[(resistance["variable"] == "employment_group")
                     & (resistance["level"] == "Economically inactive")].iloc[0]
    assert (row["level2_n"], row["level3_n"]) == ("<8", "suppressed")
    posthoc = release["resistance_posthoc"]
    posthoc = posthoc[posthoc["level"] == "Economically inactive"]
    printed = {(r["group_a"], r["group_b"]): r["p_value"] for _, r in posthoc.iterrows()}
    candidates = []
    for level2, level3 in itertools.product(range(1, 8), range(8, 41)):
        counts = (inactive[0], level2, level3, inactive[3])
        values = np.concatenate([np.r_[np.ones(k), np.zeros(n - k)] for k, n in zip(counts, sizes)])
        groups = np.concatenate([[lvl] * n for lvl, n in zip(LEVELS, sizes)])
        _, pairs = one_way_anova(values, groups, LEVELS)
        if all(_prints_as(p, printed.get((a, b), "")) for a, b, _, p in pairs):
            candidates.append((level2, level3))
    assert (inactive[1], inactive[2]) in candidates
    assert len({a for a, _ in candidates}) >= 2 and len({b for _, b in candidates}) >= 2, candidates


def _prints_as(value: float, text: str) -> bool:
    """Does a true value agree with what is printed? (hidden or withheld: nothing is learnt)"""
    if text in ("", "suppressed", "withheld"):
        return True
    if text.startswith("<"):
        return value < float(text[1:])
    low, high = interval(text)
    return low - 1e-12 <= value <= high + 1e-12


def _hidden_block_cohort():
    """Self-harm in 3 MDD and 12 TRD patients: the 2x2 of Model 3's only term has a cell of 1-7; Model 4's
    terms are common."""
    patients = synthetic_patients(400, seed=5)
    cohort = patients.index[patients["in_cohort"]]
    trd = patients.loc[cohort, "trd"].to_numpy()
    harm = np.zeros(len(cohort), bool)
    harm[np.flatnonzero(~trd)[:3]] = True
    harm[np.flatnonzero(trd)[:12]] = True
    patients.loc[cohort, "self_harm"] = harm
    # Model 4's terms common enough (every 2x2 cell >= 8) that only Model 3's block is suppressed.
    rng = np.random.default_rng(1)
    for flag in ("cardiovascular", "respiratory", "gastrointestinal"):
        patients.loc[cohort, flag] = rng.random(len(cohort)) < 0.25
    return patients


def test_block_chi_squared_of_suppressed_terms_cannot_be_worked_out():
    """A block whose only term is suppressed: its chi-squared must not be printed, nor follow by difference.

    Published model chi2(k) = b1 + ... + bk and block chi2(k) = bk are linear in the block statistics b; a
    hidden block's b is recoverable exactly when its unit vector lies in the row space of what is published.
    """
    _, release = _release(_hidden_block_cohort())
    table3, fit = release["table3_logistic_regression"], release["model_fit"]
    models = list(fit["model"])
    hidden_blocks = []
    previous: set[str] = set()
    for k, model in enumerate(models):
        terms = table3[(table3["model"] == model) & (table3["term"] != "const")]
        new = terms[~terms["term"].isin(previous)]
        if len(new) and (new["odds_ratio"] == "suppressed").all():
            hidden_blocks.append(k)
        previous |= set(terms["term"])
    assert hidden_blocks == [2]  # Model 3: self-harm alone
    rows = []
    for k, (_, row) in enumerate(fit.iterrows()):
        if interval(row["chi2"]) is not None:
            rows.append([1.0 if j <= k else 0.0 for j in range(len(models))])
        if interval(row["block_chi2"]) is not None:
            rows.append([1.0 if j == k else 0.0 for j in range(len(models))])
    published = np.array(rows) if rows else np.zeros((0, len(models)))
    for k in hidden_blocks:
        unit = np.eye(len(models))[k]
        stacked = np.vstack([published, unit])
        assert np.linalg.matrix_rank(stacked) > np.linalg.matrix_rank(published), \
            f"the block chi-squared of {models[k]} follows from the published model statistics"
