"""Generated atlases for the attacker: a cohort's Maudsley verdicts with other definitions and dial points made by
turning a random few verdicts (a second, independent implementation of the atlas's counting)."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd

from trdpath.definitions.audit import DefinitionCounts

LEVELS = {"2": "level_2_n", "3": "level_3_n", "4+": "level_4plus_n"}


def _kappa(both, a, b, neither) -> float:
    n = both + a + b + neither
    po, pe = (both + neither) / n, ((both + a) * (both + b) + (b + neither) * (a + neither)) / n / n
    return float("nan") if pe == 1 else (po - pe) / (1 - pe)


def synthetic_definitions(patients: pd.DataFrame, seed: int, flips=(0.03, 0.1, 0.3), dial: bool = True) -> DefinitionCounts:
    """Maudsley = the cohort's TRD; definition k turns a share flips[k] of the verdicts; the dial keeps the
    default point (28 days, gap 30, augmentation) = the headline and drops a random few TRD patients elsewhere."""
    rng = np.random.default_rng(seed)
    cohort = patients[patients["in_cohort"]].reset_index(drop=True)
    verdicts = {"maudsley": cohort["trd"].to_numpy(bool)}
    for k, share in enumerate(flips):
        turned = rng.random(len(cohort)) < share
        verdicts[f"def_{k}"] = verdicts["maudsley"] ^ turned
    n = len(cohort)
    points = None
    if dial:
        levels = cohort["resistance_level"].astype(str).to_numpy()
        is_trd = verdicts["maudsley"]
        out = []
        for days, gap, aug in itertools.product((28, 42, 56), (30, 90, 180), (True, False)):
            share = {28: 0.0, 42: 0.05, 56: 0.12}[days] + (0.0 if aug else 0.25) + (0.0 if gap == 30 else 0.01)
            kept = is_trd & ~(rng.random(n) < share) if share else is_trd
            counts = {c: int((kept & (levels == lv)).sum()) for lv, c in LEVELS.items()}
            total = sum(counts.values())
            out.append((days, gap, aug, n, total, 100 * total / n, *counts.values()))
        points = pd.DataFrame(out, columns=["min_trial_days", "persistence_gap_days", "augmentation_counts",
                                            "population_n", "trd_n", "trd_pct", *LEVELS.values()])
    return atlas_of(verdicts, points)


def atlas_of(verdicts: dict, dial: pd.DataFrame | None = None) -> DefinitionCounts:
    """True tables of an atlas whose definitions share one population, counted here from each definition's
    verdicts (one bool per patient), not by compare: prevalence, each pair's 2 x 2 table and kappa, the groups."""
    v = {d: np.asarray(x, bool) for d, x in verdicts.items()}
    ids, n = list(v), len(next(iter(v.values())))
    prevalence = pd.DataFrame([(d, n, int(x.sum()), 100 * x.sum() / n) for d, x in v.items()],
                              columns=["definition", "population_n", "trd_n", "trd_pct"])
    rows = []
    for a, b in itertools.combinations(ids, 2):
        x, y = v[a], v[b]
        cells = int((x & y).sum()), int((x & ~y).sum()), int((~x & y).sum()), int((~x & ~y).sum())
        rows.append((a, b, n, *cells, _kappa(*cells)))
    agreement = pd.DataFrame(rows, columns=["definition_a", "definition_b", "n", "both", "a_only", "b_only", "neither",
                                            "kappa"])
    return DefinitionCounts(titles=pd.DataFrame({"definition": ids, "title": ids}), prevalence=prevalence,
                            agreement=agreement, odds=pd.DataFrame(columns=["definition", "term", "warning"]),
                            overlap=pd.DataFrame(v).value_counts().rename("n").reset_index(), dial=dial)
