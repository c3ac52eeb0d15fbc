"""What the report says, in reading order: the sections shared by report.html and report.docx."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from trdpath.report import display
from trdpath.report.figures import DrugColours, Figure
from trdpath.safety import neutralise_frame
from trdpath.values import is_missing
from trdpath.report.sections import Section, number_figures

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
    if "definitions" in extra:  # the definitions atlas (issue 17): trdpath.definitions.report.report_section
        sections.append(extra["definitions"])
    self_harm = Section("sensitivity", sensitivity["title"])
    for text in sensitivity["summary"]:
        self_harm.text(text)
    for table in sensitivity["tables"]:
        self_harm.table(table)
    sections.append(self_harm)
    journeys = Section("journeys", "Treatment pathways").text(
        "Flows between consecutive drugs started in the current episode (augmenting agents shown as "
        "\"augmentation\"); flows below the disclosure threshold are not drawn.", "note").text(
        "Hover over a flow or a drug for its count; click a drug to highlight its flows.", "note screen")
    journeys.figure(figures.get("sankey")).figure(figures.get("journeys"))
    sections.append(journeys)
    if "pathways" in extra:
        sections.append(extra["pathways"])
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
    from trdpath.stats.pathways import read_pathway_steps

    extras: dict = {"patients": patients}
    assumptions = read_assumption_sensitivity(out_dir)
    if assumptions is not None:
        extras["assumptions"] = assumptions
    steps = read_pathway_steps(out_dir)
    if steps is not None:
        extras["steps"] = steps
    # Written by `trdpath compare` (issue 17): its true counts, protected with the release (render_report); an
    # older compare left only its own release section, which is shown as it is.
    from trdpath.definitions.compare import PATIENT_LEVEL_DIR
    from trdpath.definitions import audit as definitions_audit

    if (counts := definitions_audit.load(Path(out_dir) / PATIENT_LEVEL_DIR)) is not None:
        extras["definition_counts"] = counts
    else:
        from trdpath.definitions.report import report_section

        if (definitions := report_section(out_dir)) is not None:
            extras["definitions"] = definitions
    return extras


def true_extras(extras: dict, settings, meta: dict | None = None):
    """The extract-level tables (Tables 6-9, the Kaplan-Meier curve) with their true counts, for protect() to
    protect with the rest of the release; None when the classification wrote none of them."""
    from trdpath.stats.extra_tables import ExtraTables, pathway_tables

    if "assumptions" not in extras and "steps" not in extras:
        return None
    index_date = (meta or {}).get("index_date")
    try:
        index_date = pd.Timestamp(index_date).date() if index_date not in (None, "", "unknown") else None
    except (TypeError, ValueError):
        index_date = None
    tables = (pathway_tables(extras["steps"], extras["patients"], settings, index_date) if "steps" in extras
              else ExtraTables())
    tables.assumptions = extras.get("assumptions")
    return tables


def extra_outputs(extras: dict, settings, protected) -> ExtraOutputs:
    """Sections and tables of the extra tables as protect() published them (``protected.extras``)."""
    out = ExtraOutputs(colours=DrugColours.from_journeys(protected.journeys))
    for key in extras.get("not_run", ()):
        out.sections[key] = not_run_section(key)
    published = protected.extras
    if published is not None and published.assumptions is not None:
        out.tables["assumption_sensitivity"] = neutralise_frame(published.assumptions)
        out.sections["assumptions"] = assumptions_section(published.assumptions, settings,
                                                          protected.disclosure_applied)
    if "definitions" in extras:
        out.sections["definitions"] = extras["definitions"]
    if published is not None and published.lines is not None:
        pathways_outputs(out, published, settings, protected.disclosure_applied)
    return out


PATHWAYS_TITLE = "Treatment lines, steps and time to TRD"
# Issue 16: a pass switched off is said to be off, not shown as empty tables. key -> (title, setting).
PASSES = {"assumptions": ("assumption_sensitivity", "the prevalence and levels of resistance under each handling "
                          "of missing doses and durations"),
          "pathways": ("pathways", "treatment lines, steps, times between steps and time to TRD")}


def passes_not_run(config) -> list[str]:
    """The extra passes of `classify` switched off in the study configuration (report section keys)."""
    return [key for key, (setting, _) in PASSES.items() if not getattr(config.analysis, setting, True)]


def not_run_section(key: str) -> Section:
    setting, what = PASSES[key]
    title = ASSUMPTIONS_TITLE if key == "assumptions" else PATHWAYS_TITLE
    return Section(key, title).text(
        f"Not run: this classification was made with analysis.{setting} = false in the study configuration (or "
        f"trdpath classify/run --no-extra-passes), so {what} were not computed. Run the classification again "
        "with the setting on to add this section.", "note")


def pathways_outputs(out: ExtraOutputs, published, settings, applied: bool) -> None:
    """lines.csv, steps.csv, step_times.csv, time_to_trd.csv, Tables 7-9 and the Kaplan-Meier figure, from the
    tables as protect() published them."""
    from trdpath.report import figures as fig

    lines, step_counts, times, curve = published.lines, published.steps, published.step_times, published.time_to_trd
    for stem, table in (("lines", lines), ("steps", step_counts), ("step_times", times), ("time_to_trd", curve)):
        out.tables[stem] = neutralise_frame(table)
    section = Section("pathways", PATHWAYS_TITLE)
    with display.percent_precision(applied):
        section.table(lines_display(lines)).table(steps_display(step_counts)).table(step_times_display(times))
    note = [display.disclosure_footnote(settings, applied), display.rounding_note(settings, applied)]
    for block in section.blocks:
        block[1].footnotes += note
    section.figure(Figure("time_to_trd", "Time from the start of the current episode to TRD: Kaplan-Meier "
                          "cumulative incidence with 95% pointwise confidence band; patients without TRD censored at "
                          "the index date" + (f" (counts rounded to {settings.rounding} before fitting, 30-day "
                                              "intervals)" if applied else " (30-day intervals)"),
                          fig.time_to_trd_png(curve)))
    out.sections["pathways"] = section


def lines_display(lines: pd.DataFrame) -> display.DisplayTable:
    table = display.DisplayTable(
        "lines", "Table 7 Patients by treatment line (antidepressant) and drug in the current episode",
        header=[[("Line, drug", 1), ("Patients", 1), ("% of cohort", 1), ("% of patients at this line", 1)]])
    for _, row in lines.iterrows():
        is_total = row["drug"] == "any"
        name = f"Line {row['line']}: any drug" if is_total else str(row["drug"])
        table.add([name, display.fmt_count(row["n"]), display.fmt_pct(row["pct_cohort"]),
                   display.fmt_pct(row["pct_treated"])], "header" if is_total else "level")
    table.footnotes.append("Line k: the k-th antidepressant started in the current episode (augmenting agents are "
                           "not lines; they are in Table 8 and the Sankey); line k's total is the patients with at least "
                           "k antidepressants. The eight most used drugs per line are named (if given to enough patients "
                           "to publish), the rest grouped as other.")
    return table


def steps_display(steps: pd.DataFrame) -> display.DisplayTable:
    from trdpath.stats import pathways as pw

    adequacy = [pw.ADEQUATE, pw.INADEQUATE, pw.ONGOING, pw.NOT_JUDGED]
    # Cells that cannot occur are dashes, not zeros: augmenting agents are never judged, antidepressants always.
    possible = {pw.AUGMENTATION: {pw.NOT_JUDGED}}
    table = display.DisplayTable(
        "steps", "Table 8 How each step of the current episode was taken and whether its drug had an adequate trial",
        header=[[("Position, step", 1)] + [(a.capitalize(), 1) for a in adequacy]])
    for position, part in steps.groupby("position", sort=True):
        table.add([f"Position {position}"] + [""] * len(adequacy), "section")
        for step in (pw.FIRST, pw.SWITCH, pw.COMBINATION, pw.AUGMENTATION):
            cells = part[part["step"] == step].set_index("adequacy")["n"]
            if cells.empty:
                continue
            allowed = possible.get(step, set(adequacy) - {pw.NOT_JUDGED} if step != pw.FIRST else set(adequacy))
            table.add([step.capitalize()] + [display.fmt_count(cells.get(a, 0)) if a in allowed else display.DASH
                                             for a in adequacy], "level")
    table.footnotes.append(
        "Position k: the k-th drug started in the current episode (the Sankey's columns). First drug: position 1. "
        "Switch: an antidepressant started after every earlier antidepressant's first era in the "
        "episode had ended; combination: started while one was still taken; augmentation: an augmenting agent. "
        "Adequate: an adequate trial of the drug in the episode (adequate dose for at least the minimum trial "
        "length); ongoing: no adequate trial yet and still taken at the index date; inadequate: stopped without "
        "one; not judged: augmenting agents (no minimum dose applies).")
    return table


def step_times_display(times: pd.DataFrame) -> display.DisplayTable:
    table = display.DisplayTable(
        "step_times", "Table 9 Days between treatment steps and from the episode start to T1, T2 and TRD",
        header=[[("Interval", 1), ("Patients", 1), ("Mean (s.d.)", 1), ("Median (IQR)", 1)]])
    for _, row in times.iterrows():
        median = display.DASH if is_missing(row["median"], blank_text=True) else (
            display.SECONDARY_MARK if row["median"] == "suppressed" else
            f"{float(row['median']):.0f} ({float(row['q1']):.0f}–{float(row['q3']):.0f})")
        table.add([str(row["interval"])[:1].upper() + str(row["interval"])[1:], display.fmt_count(row["n"]), display.fmt_mean_sd(row["mean"], row["sd"]),
                   median])
    table.footnotes.append(
        "Days. Step k to k + 1: from the start of the k-th drug of the episode to the start of the next. T1, T2: the dates the "
        "first and second adequate trials of different antidepressants became adequate; TRD: the next step after "
        "T2 (study-definition.md 4). IQR, interquartile range (numpy's linear interpolation); median and quartiles to whole "
        "days (their fractions would tell the number of patients). Minimum and maximum are not published (each is one "
        "patient's value). Withheld: a count below the threshold whose '<8' would, with the Sankey's flows, give "
        "counts back.")
    return table


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
