"""The atlas's two side-by-side tables, prevalence and pairwise agreement: their true counts from a comparison
(definitions.compare.Comparison) and their protected versions (the cell rules of stats.cell_rules, with the
cells the one release audit names as ``forced``; definitions.audit).

In a module of their own so that definitions.audit can use them without importing definitions.compare, which
writes through the audit (no import cycle: tests/unit/test_import_graph.py).
"""

from __future__ import annotations

import itertools
import math

import pandas as pd
import pyarrow.compute as pc

from trdpath.config import DisclosureSection
from trdpath.stats.disclosure import SUPPRESSED, round_count, small_label, suppression_pattern


# -- prevalence and agreement ---------------------------------------------------------------------

def prevalence_counts(comparison) -> pd.DataFrame:
    """True counts: definition, population_n, trd_n, trd_pct (for the tests and the report; never written)."""
    rows = []
    for r in comparison.definitions:
        trd = comparison.patients[f"{r.id}__trd"]
        population = trd.length() - trd.null_count
        n = int(pc.sum(pc.fill_null(trd, False)).as_py() or 0)
        rows.append((r.id, population, n, 100.0 * n / population if population else math.nan))
    return pd.DataFrame(rows, columns=["definition", "population_n", "trd_n", "trd_pct"])


def cohen_kappa(both: int, a_only: int, b_only: int, neither: int) -> float:
    """Cohen's kappa of two yes/no ratings from their 2 x 2 table (Cohen 1960): (po - pe) / (1 - pe)."""
    n = both + a_only + b_only + neither
    if n == 0:
        return math.nan
    po = (both + neither) / n
    pe = ((both + a_only) * (both + b_only) + (b_only + neither) * (a_only + neither)) / (n * n)
    return math.nan if pe == 1 else (po - pe) / (1 - pe)


def agreement_counts(comparison) -> pd.DataFrame:
    """True counts for each pair of definitions, over patients in both populations."""
    rows = []
    columns = {r.id: comparison.patients[f"{r.id}__trd"] for r in comparison.definitions}
    valid = {k: pc.is_valid(v).to_numpy(zero_copy_only=False) for k, v in columns.items()}
    value = {k: pc.fill_null(v, False).to_numpy(zero_copy_only=False) for k, v in columns.items()}
    for a, b in itertools.combinations(list(columns), 2):
        both_in = valid[a] & valid[b]
        xa, ya = value[a][both_in], value[b][both_in]
        both, a_only, b_only = int((xa & ya).sum()), int((xa & ~ya).sum()), int((~xa & ya).sum())
        neither = int(both_in.sum()) - both - a_only - b_only
        rows.append((a, b, int(both_in.sum()), both, a_only, b_only, neither, cohen_kappa(both, a_only, b_only, neither)))
    return pd.DataFrame(rows, columns=["definition_a", "definition_b", "n", "both", "a_only", "b_only", "neither", "kappa"])


def protect_prevalence(table: pd.DataFrame, settings: DisclosureSection, forced=frozenset()) -> pd.DataFrame:
    """Counts 1..min_count-1 as '<min_count', others rounded; the percentage from the rounded counts.
    ``forced``: (definition, column) cells the release audit hides (definitions.audit)."""
    if not settings.enabled:
        return table
    small = small_label(settings)
    out = []
    for row in table.itertuples(index=False):
        pop, trd = int(row.population_n), int(row.trd_n)
        # TRD and non-TRD add up to the population: hide both when either is small (else subtraction recovers it).
        pattern = suppression_pattern({"trd": trd, "other": pop - trd}, [["trd", "other"]], settings.min_count,
                                      forced=["trd"] if (row.definition, "trd_n") in forced else ())
        pop_shown = small if 0 < pop < settings.min_count else round_count(pop, settings.rounding)
        if (row.definition, "population_n") in forced and not isinstance(pop_shown, str):
            pop_shown = SUPPRESSED
        trd_shown = small if pattern.get("trd") == "primary" else (SUPPRESSED if "trd" in pattern else round_count(trd, settings.rounding))
        if isinstance(pop_shown, str) or isinstance(trd_shown, str) or not round_count(pop, settings.rounding):
            pct = SUPPRESSED if pop else math.nan
        else:
            pct = round(100.0 * trd_shown / pop_shown, 1)
        out.append((row.definition, pop_shown, trd_shown, pct))
    return pd.DataFrame(out, columns=list(table.columns))


def protect_agreement(table: pd.DataFrame, settings: DisclosureSection, forced=frozenset()) -> pd.DataFrame:
    """The four cells add up to n and, by pairs, to each definition's TRD and non-TRD counts: small
    cells are hidden with enough others (secondary suppression) that none can be recovered; kappa
    is hidden when it uses a hidden cell, else computed from the rounded cells (kappa of the true cells to
    3 decimals would pick the true table out of the rounding windows). ``forced``: (a, b, cell) to hide."""
    if not settings.enabled:
        return table
    small = small_label(settings)
    cells = ["both", "a_only", "b_only", "neither"]
    groups = [cells, ["both", "a_only"], ["both", "b_only"], ["b_only", "neither"], ["a_only", "neither"]]
    out = []
    for row in table.to_dict("records"):
        pair = (row["definition_a"], row["definition_b"])
        pattern = suppression_pattern({c: int(row[c]) for c in cells}, groups, settings.min_count,
                                      forced=[c for c in cells if (*pair, c) in forced])
        shown = dict(row)
        n = int(row["n"])
        shown["n"] = small if 0 < n < settings.min_count else round_count(n, settings.rounding)
        if (*pair, "n") in forced and not isinstance(shown["n"], str):
            shown["n"] = SUPPRESSED
        for c in cells:
            state = pattern.get(c)
            shown[c] = small if state == "primary" else SUPPRESSED if state else round_count(int(row[c]), settings.rounding)
        if pattern or isinstance(shown["n"], str):
            shown["kappa"] = SUPPRESSED
        elif not math.isnan(row["kappa"]):
            kappa = cohen_kappa(*(shown[c] for c in cells))
            shown["kappa"] = SUPPRESSED if math.isnan(kappa) else round(kappa, 2)
        out.append(shown)
    return pd.DataFrame(out, columns=list(table.columns))
