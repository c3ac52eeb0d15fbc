"""The definition dial: Maudsley-shaped TRD over a grid of minimum trial days x persistence gap x augmentation.

Issue 17: how much prevalence and the resistance-level mix move with the three parameters a study most
often chooses: the minimum trial length (28 / 42 / 56 days), the persistence gap that joins prescriptions
into one era (`treatment.era_gap_days`: 30 / 90 / 180 days) and whether augmentation counts as the next
step. Everything else is the study configuration's Maudsley rule (study-definition.md). A gap changes the eras
themselves, so each gap other than the study's rebuilds the eras (not the classification: the cohort is the
same at every gap): `trdpath compare --dial` asks for it.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pyarrow.compute as pc

from trdpath.config import DisclosureSection, StudyConfig
from trdpath.definitions.model import Definition, shipped_definitions
from trdpath.stats.disclosure import SUPPRESSED, round_count, small_label, suppression_pattern

DIAL_DAYS = (28, 42, 56)
DIAL_GAPS = (30, 90, 180)
DIAL_AUGMENTATION = (True, False)
LEVELS = ("2", "3", "4+")
LEVEL_COLUMNS = ("level_2_n", "level_3_n", "level_4plus_n")
DIAL_COLUMNS = ["min_trial_days", "persistence_gap_days", "augmentation_counts", "population_n", "trd_n", "trd_pct",
                "level_2_n", "level_3_n", "level_4plus_n"]


def dial_definitions() -> list[Definition]:
    """The six Maudsley variants evaluated on each gap's eras."""
    base = shipped_definitions()["maudsley"]
    out = []
    for days in DIAL_DAYS:
        for augmentation in DIAL_AUGMENTATION:
            out.append(base.model_copy(update={
                "id": f"dial_{days}d_{'aug' if augmentation else 'noaug'}",
                "trial": base.trial.model_copy(update={"min_days": days}),
                "augmentation": base.augmentation.model_copy(update={"counts": augmentation}),
            }))
    return out


def dial_counts(con, extract, config: StudyConfig, index_date: dt.date | None, compare_extract,
                evaluate_definitions, classification=None) -> pd.DataFrame:
    """True counts for every grid point (never written as they are; see protect_dial). `compare_extract`
    and `evaluate_definitions` are definitions.compare's (passed in: compare imports this module, so this one may
    not import it back: tests/unit/test_import_graph.py).

    The extract is classified once (`classification`: compare's own, when it has one): the study's cohort
    does not move with the gap (a patient has an antidepressant era at every gap or at none). At the
    study's gap the six variants are evaluated on its eras; each other gap rebuilds only the exposures'
    eras, adequate-dose segments and episodes (as trdpath.pipeline builds them) and evaluates on those."""
    from trdpath.definitions.engine import Evaluator, Stages, stages_with_gap

    definitions = dial_definitions()
    if classification is None or not classification.stages:
        classification = compare_extract(con, extract, [], config, index_date, why="none").classification
    rows = []
    for gap in DIAL_GAPS:
        settings = config.model_copy(update={"treatment": config.treatment.model_copy(update={"era_gap_days": gap})})
        stages = classification.stages if gap == config.treatment.era_gap_days else \
            stages_with_gap(classification.stages, settings.treatment)
        comparison = evaluate_definitions(con, classification, Evaluator(Stages.from_hook(stages), settings),
                                          definitions, settings)
        for days in DIAL_DAYS:
            for augmentation in DIAL_AUGMENTATION:
                key = f"dial_{days}d_{'aug' if augmentation else 'noaug'}"
                trd = comparison.patients[f"{key}__trd"]
                stage = comparison.patients[f"{key}__stage"]
                population = len(trd) - trd.null_count
                is_trd = pc.fill_null(trd, False)
                n_trd = int(pc.sum(is_trd).as_py() or 0)
                levels = {row["values"]: row["counts"] for row in pc.value_counts(pc.filter(stage, is_trd)).to_pylist()}
                rows.append((days, gap, augmentation, population, n_trd,
                             100.0 * n_trd / population if population else float("nan"),
                             # "1" (one failed trial: failed_trials = 1) would be its own level; the grid keeps the study's two
                             levels.get("2", 0), levels.get("3", 0), levels.get("4+", 0)))
    return pd.DataFrame(rows, columns=DIAL_COLUMNS)


def protect_dial(table: pd.DataFrame, settings: DisclosureSection, forced=frozenset()) -> pd.DataFrame:
    """As the prevalence table: counts 1..min_count-1 shown as <min_count, others rounded, the percentage
    from the rounded counts; the three levels add up to TRD (and with non-TRD to the population), so a
    small level is hidden with another (secondary suppression, stats.disclosure.suppression_pattern).
    ``forced``: ((days, gap, augmentation), column) cells the release audit hides (definitions.audit)."""
    if not settings.enabled:
        return table
    small = small_label(settings)
    out = []
    for row in table.to_dict("records"):
        pop, trd = int(row["population_n"]), int(row["trd_n"])
        cells = {"2": int(row["level_2_n"]), "3": int(row["level_3_n"]), "4+": int(row["level_4plus_n"]), "other": pop - trd}
        point = (row["min_trial_days"], row["persistence_gap_days"], bool(row["augmentation_counts"]))
        pattern = suppression_pattern(cells, [["2", "3", "4+", "other"], ["2", "3", "4+"]], settings.min_count,
                                      forced=[lv for lv, c in zip(LEVELS, LEVEL_COLUMNS) if (point, c) in forced])
        top = suppression_pattern({"trd": trd, "other": pop - trd}, [["trd", "other"]], settings.min_count,
                                  forced=["trd"] if (point, "trd_n") in forced else ())
        shown = dict(row)
        shown["population_n"] = small if 0 < pop < settings.min_count else round_count(pop, settings.rounding)
        if (point, "population_n") in forced and not isinstance(shown["population_n"], str):
            shown["population_n"] = SUPPRESSED
        shown["trd_n"] = small if top.get("trd") == "primary" else SUPPRESSED if "trd" in top else round_count(trd, settings.rounding)
        for level, column in zip(LEVELS, LEVEL_COLUMNS):
            state = pattern.get(level)
            shown[column] = small if state == "primary" else SUPPRESSED if state else round_count(cells[level], settings.rounding)
        if isinstance(shown["population_n"], str) or isinstance(shown["trd_n"], str) or not shown["population_n"]:
            shown["trd_pct"] = SUPPRESSED if pop else float("nan")
        else:
            shown["trd_pct"] = round(100.0 * shown["trd_n"] / shown["population_n"], 1)
        out.append(shown)
    return pd.DataFrame(out, columns=DIAL_COLUMNS)
