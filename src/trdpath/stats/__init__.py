"""The study's statistics (the paper's Statistical analysis section) on a per-patient classification.

``analyse(patients, config)`` returns an :class:`Analysis` of true counts and test results; everything that
leaves the program goes through :func:`trdpath.stats.disclosure.protect` first.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import pandas as pd

from trdpath.config import StudyConfig
from trdpath.errors import UserError

if TYPE_CHECKING:
    from trdpath.stats.sensitivity import SelfHarmSensitivity

# The statistics' libraries (statsmodels, SciPy: 1-2 s to import) load on first use, not with the package:
# `classify` imports this package for its extra passes (assumptions.py, pathways.py) and uses neither (issue 15).

__all__ = ["Analysis", "analyse"]

REQUIRED_COLUMNS = ("in_cohort", "trd", "resistance_level")


@dataclass
class Analysis:
    """All results of one analysis. Counts are true counts; see disclosure.protect for publishable ones."""

    n_mdd: int
    n_trd: int
    table1: pd.DataFrame  # table1_sociodemographics.csv
    table2: pd.DataFrame  # table2_comorbidities.csv
    table3: pd.DataFrame  # table3_logistic_regression.csv
    model_fit: pd.DataFrame  # model_fit.csv
    resistance_levels: pd.DataFrame  # resistance_levels.csv
    resistance_posthoc: pd.DataFrame  # resistance_posthoc.csv (Bonferroni post hoc comparisons)
    service_use: pd.DataFrame  # service_use.csv
    journeys: pd.DataFrame  # journeys.csv: flows between consecutive drugs (the Sankey)
    term_cells: pd.DataFrame  # 2x2 counts behind each regression term (for disclosure control; not published)
    warnings: list[str] = field(default_factory=list)
    disclosure_applied: bool = False
    # Self-harm from codes alone v. codes + notes (issue 6); empty when the extract had no notes.
    sensitivity: SelfHarmSensitivity = field(default_factory=lambda: _empty_sensitivity())
    # Counts the release audit still pins after protect() (empty on every release it lets out; issue 14).
    audit_pinned: list = field(default_factory=list)
    # The cohort flow as published, when protect() was given it (it may hide a step the audit found pinning).
    published_attrition: pd.DataFrame | None = None
    # Tables 6-9 and the Kaplan-Meier curve as published, when protect() was given them (stats.extra_tables).
    extras: object = None
    # The definitions atlas as published (definitions.audit.PublishedDefinitions), when given its counts.
    definitions: object = None

    @property
    def n_cohort(self) -> int:
        return self.n_mdd + self.n_trd

    def tables(self) -> dict[str, pd.DataFrame]:
        """The published tables by file stem, in report order."""
        return {
            "table1_sociodemographics": self.table1,
            "table2_comorbidities": self.table2,
            "table3_logistic_regression": self.table3,
            "model_fit": self.model_fit,
            "resistance_levels": self.resistance_levels,
            "resistance_posthoc": self.resistance_posthoc,
            "service_use": self.service_use,
            "journeys": self.journeys,
            "sensitivity_self_harm": self.sensitivity.self_harm,
            "sensitivity_regression": self.sensitivity.regression,
        }


def cohort_of(patients: pd.DataFrame) -> pd.DataFrame:
    """The analysed patients: in the cohort (MDD = in cohort and not TRD)."""
    missing = [c for c in REQUIRED_COLUMNS if c not in patients.columns]
    if missing:
        raise UserError(f"The patients table lacks the columns {missing} needed for the analysis.")
    in_cohort = patients["in_cohort"].fillna(False).astype(bool)
    cohort = patients.loc[in_cohort].copy()
    cohort["trd"] = cohort["trd"].fillna(False).astype(bool)
    # study-definition.md: resistance_level is 'MDD' for non-TRD; normalise in case a frame carries blanks for MDD.
    cohort["resistance_level"] = cohort["resistance_level"].astype(str).where(cohort["trd"], "MDD")
    return cohort


def _integer_counts(table: pd.DataFrame) -> pd.DataFrame:
    """Counts as nullable integers, so a CSV shows 4, not 4.0, beside the empty cells of header rows."""
    columns = [c for c in table.columns if c.endswith("_n")]
    return table.astype({c: "Int64" for c in columns})


def _empty_sensitivity():
    from trdpath.stats.sensitivity import empty_sensitivity

    return empty_sensitivity()


def analyse(patients: pd.DataFrame, config: StudyConfig) -> Analysis:
    """Tables 1-3, model fit, resistance levels and service use for the in-cohort patients."""
    from trdpath.stats.regression import stepwise_logistic
    from trdpath.stats.sensitivity import self_harm_sensitivity
    from trdpath.stats.tables import (
        TABLE1_VARIABLES, TABLE2_VARIABLES, compare_groups, journey_links, resistance_level_table, service_use_table,
    )

    cohort = cohort_of(patients)
    if cohort.empty:
        raise UserError("No patient is in the cohort: there is nothing to analyse.")
    notes = []
    n_trd = int(cohort["trd"].sum())
    n_mdd = len(cohort) - n_trd
    if n_trd == 0 or n_mdd == 0:
        notes.append("Only one group (MDD or TRD) is present: comparisons between groups are not possible.")
    blocks = [list(b) for b in config.analysis.regression_blocks]
    regression = stepwise_logistic(cohort, blocks)
    sensitivity = self_harm_sensitivity(cohort, blocks, regression)
    resistance, posthoc = resistance_level_table(cohort)
    table1 = compare_groups(cohort, TABLE1_VARIABLES)
    table2 = compare_groups(cohort, TABLE2_VARIABLES)
    service = service_use_table(cohort)
    for name, table in (("Table 1", table1), ("Table 2", table2), ("Resistance levels", resistance),
                        ("Service use", service)):
        for _, row in table[table["warning"].fillna("") != ""].iterrows():
            where = row.get("level") or row.get("category") or ""
            notes.append(f"{name}, {row.get('variable', row.get('measure'))}"
                         f"{' ' + str(where) if where else ''}: {row['warning']}")
    notes.extend(f"Table 3, {w}" for w in regression.warnings)
    notes.extend(w for w in sensitivity.warnings if sensitivity.notes_available)
    table1, table2, resistance, service = (_integer_counts(t) for t in (table1, table2, resistance, service))
    return Analysis(
        n_mdd=n_mdd, n_trd=n_trd, table1=table1, table2=table2,
        table3=regression.coefficients, model_fit=regression.model_fit,
        resistance_levels=resistance, resistance_posthoc=posthoc, service_use=service,
        journeys=journey_links(cohort), term_cells=regression.term_cells, warnings=notes,
        sensitivity=sensitivity,
    )
