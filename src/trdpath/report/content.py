"""What the report says, in reading order: the sections shared by report.html and report.docx."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from trdpath.report import display
from trdpath.report.figures import DrugColours, Figure
from trdpath.safety import neutralise_frame
from trdpath.report.layout import Section, number_figures

SENSITIVITY_TITLE = "Sensitivity analysis: self-harm from codes and notes"
# The cohort's definition, said in full wherever a denominator is the cohort (issue 16: exact denominators).
COHORT_DEFINITION = ("patients with a depression diagnosis (ICD-10 F32/F33), no exclusionary diagnosis and at least "
                     "one antidepressant prescription")


def percentage(count, total, decimals: int) -> str:
    """'47.9%' from two published counts, or '' when either is hidden or the total is zero."""
    if not isinstance(count, int) or not isinstance(total, int) or total <= 0:
        return ""
    return f"{100 * count / total:.{decimals}f}%"


def prevalence_text(sizes: dict, applied: bool) -> str:
    decimals = display.percent_decimals(applied)
    trd_pct, mdd_pct = (percentage(sizes[k], sizes["cohort"], decimals) for k in ("trd", "mdd"))
    return (f"Of the {sizes['cohort']} {COHORT_DEFINITION}, {sizes['trd']}{f' ({trd_pct})' if trd_pct else ''} met "
            "the TRD criteria (Maudsley: two failed adequate antidepressant trials in the current episode, then a "
            f"third antidepressant or augmentation) and {sizes['mdd']}{f' ({mdd_pct})' if mdd_pct else ''} were "
            "classified as MDD.")


def report_sections(tables: list[display.DisplayTable], figures: dict[str, Figure], sizes: dict, settings,
                    applied: bool, sensitivity: dict, warnings: list[str], extra: dict | None = None) -> list[Section]:
    """Sections in reading order, with figures numbered as they appear. ``extra`` holds optional sections
    (assumption sensitivity, pathways) by key, each a Section."""
    extra = extra or {}
    by_key = {table.key: table for table in tables}
    sections = [
        Section("attrition", "Cohort flow").table(by_key["attrition"]).figure(figures.get("cohort_flow")),
        Section("prevalence", "Prevalence of TRD")
        .text(prevalence_text(sizes, applied)).text(display.rounding_note(settings, applied), "note")
        .figure(figures.get("resistance_levels")),
        Section("table1", "Sociodemographic characteristics").table(by_key["table1"]),
        Section("table2", "Comorbid diagnoses").table(by_key["table2"]).figure(figures.get("comorbidities")),
        Section("table3", "Predictors of TRD").table(by_key["table3"]).figure(figures.get("forest")),
        Section("resistance", "Levels of treatment resistance").table(by_key["resistance"]),
        Section("service_use", "Service use").table(by_key["service_use"]).figure(figures.get("service_use")),
    ]
    if "assumptions" in extra:
        sections.append(extra["assumptions"])
    self_harm = Section("sensitivity", sensitivity["title"])
    for text in sensitivity["summary"]:
        self_harm.text(text)
    for table in sensitivity["tables"]:
        self_harm.table(table)
    sections.append(self_harm)
    journeys = Section("journeys", "Treatment pathways").text(
        "Flows between consecutive drugs started in the current episode (augmenting agents shown as "
        "\"augmentation\"). Hover over a flow or a drug for its count; click a drug to highlight its flows. Flows "
        "below the disclosure threshold are not drawn.", "note")
    journeys.figure(figures.get("sankey")).figure(figures.get("journeys"))
    if "pathways" in extra:
        journeys.blocks.extend(extra["pathways"].blocks)
    sections.append(journeys)
    sections.append(Section("warnings", "Warnings").items(warnings) if warnings
                    else Section("warnings", "Warnings").text("None."))
    number_figures(sections)
    return sections


@dataclass
class ExtraOutputs:
    """Published tables, figures and sections from the extract-level outputs (issue 16 items 3-4)."""

    colours: DrugColours | None = None
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)  # tables/*.csv and XLSX sheets, protected
    figures: dict[str, Figure] = field(default_factory=dict)
    sections: dict[str, Section] = field(default_factory=dict)


def load_extras(out_dir: Path, patients: pd.DataFrame) -> dict:
    """What `trdpath classify` wrote beside patients.csv for the report (absent files are skipped)."""
    from trdpath.stats.assumptions import read_assumption_sensitivity

    extras: dict = {"patients": patients}
    assumptions = read_assumption_sensitivity(out_dir)
    if assumptions is not None:
        extras["assumptions"] = assumptions
    return extras


def extra_outputs(extras: dict, settings, protected) -> ExtraOutputs:
    from trdpath.stats.assumptions import protect_assumptions

    out = ExtraOutputs(colours=DrugColours.from_journeys(protected.journeys))
    if "assumptions" in extras:
        table = protect_assumptions(extras["assumptions"], settings)
        out.tables["assumption_sensitivity"] = neutralise_frame(table)
        out.sections["assumptions"] = assumptions_section(table, settings, protected.disclosure_applied)
    return out


ASSUMPTIONS_TITLE = "Sensitivity to missing doses and durations"


def assumptions_section(table: pd.DataFrame, settings, applied: bool) -> Section:
    """Headline prevalence and levels under each handling of a missing dose or duration (issue 16 item 3)."""
    display_table = display.DisplayTable(
        "assumptions", "Table 6 Prevalence of TRD and levels of resistance by the handling of missing doses and "
        "durations",
        header=[[("Prescription without a daily dose", 1), ("Without an end date or days' supply", 1),
                 ("Cohort", 1), ("TRD", 1), ("TRD, 2", 1), ("TRD, 3", 1), ("TRD, 4+", 1)],
                [("", 1), ("", 1), ("N", 1), ("N (% of cohort)", 1), ("N (% of TRD)", 1), ("N (% of TRD)", 1),
                 ("N (% of TRD)", 1)]])
    with display.percent_precision(applied):
        for i, row in table.iterrows():
            display_table.add(
                [row["missing_dose"], row["missing_duration"], display.fmt_count(row["cohort_n"]),
                 display.fmt_n_pct(row["trd_n"], row["trd_pct"])]
                + [display.fmt_n_pct(row[f"{g}_n"], row[f"{g}_pct"]) for g in ("level2", "level3", "level4plus")],
                "header" if i == table.index[0] else "")
    display_table.footnotes += [
        "First row: the handling configured for this study (the headline). Each other row re-classifies the same "
        "extract with one handling changed (the last row with both): a missing dose counted adequate, counted "
        "inadequate, or the antidepressant prescription left out; a missing duration set to the configured "
        "default, or the prescription left out. A patient whose only antidepressant prescriptions are left out "
        "leaves the cohort.",
        display.disclosure_footnote(settings, applied), display.rounding_note(settings, applied)]
    intro = ("How much the headline rests on assumptions about missing data: the prevalence of TRD and the levels "
             "of resistance when prescriptions without a dose or a duration are handled otherwise (data_quality.csv "
             "counts them).")
    return Section("assumptions", ASSUMPTIONS_TITLE).text(intro).table(display_table)
