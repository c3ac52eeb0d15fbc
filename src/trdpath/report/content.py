"""What the report says, in reading order: the sections shared by report.html and report.docx."""

from __future__ import annotations

from trdpath.report import display
from trdpath.report.figures import Figure
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
