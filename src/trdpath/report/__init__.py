"""The study report: tables as CSV and XLSX, a self-contained HTML report and a DOCX, all disclosure-controlled.

``write_report(out_dir, patients, attrition, config, meta)`` analyses the classification (trdpath.stats),
applies statistical disclosure control (trdpath.stats.disclosure) and writes the publishable part of the
results folder (trdpath.layout), swapping the whole folder in at the end (trdpath.atomic)::

    OUT/release/tables/*.csv        one machine-readable table each (numbers, or "<8" / "suppressed")
    OUT/release/tables/tables.xlsx  the same tables, one sheet each
    OUT/release/report.html         one self-contained file (figures as base64 PNG, the Sankey as inline SVG; opens offline)
    OUT/release/report.docx         the same tables and figures for a journal submission
    OUT/release/data_quality.csv    data-quality counts, rare labels grouped, counts rounded
    OUT/release/attrition.csv       the cohort flow, rounded
    OUT/release/README.md           what may leave the secure environment
"""

from __future__ import annotations

import base64
import datetime as dt
from pathlib import Path

import pandas as pd
from jinja2 import Environment, PackageLoader, select_autoescape

from trdpath import layout
from trdpath.atomic import carry_over, replace_folder
from trdpath.config import DisclosureSection, StudyConfig, load_config
from trdpath.errors import UserError
from trdpath.report import display, figures
from trdpath.report.content import (
    SENSITIVITY_TITLE, extra_outputs, load_extras, passes_not_run, report_sections, true_extras,
)
from trdpath.report.docx_writer import write_docx
from trdpath.report.sections import number_figures
from trdpath.stats import Analysis, analyse
from trdpath.safety import mask_credentials, neutralise_frame
from trdpath.stats.disclosure import protect, protect_attrition, published_group_sizes, round_count, small_label

__all__ = ["write_report", "write_release", "read_classification", "render_report", "release_data_quality"]

REPORT_FILES = layout.REPORT_FILES


def read_classification(out_dir: Path) -> tuple[pd.DataFrame, pd.DataFrame, StudyConfig]:
    """An existing classification folder (patients.parquet, attrition.csv, config.toml), for `trdpath report`."""
    out_dir = Path(out_dir)
    needed = {name: out_dir / name for name in (layout.PATIENTS_PARQUET, layout.ATTRITION_CSV, layout.CONFIG_TOML)}
    missing = [name for name, path in needed.items() if not path.is_file()]
    if missing:
        raise UserError(f"{out_dir} is not a classification folder: {', '.join(missing)} missing. "
                        "Run `trdpath classify` or `trdpath run` first.")
    try:
        patients = pd.read_parquet(needed[layout.PATIENTS_PARQUET])
    except Exception as exc:  # pyarrow raises several types for a damaged file
        raise UserError(f"{needed[layout.PATIENTS_PARQUET]} cannot be read: {exc}") from None
    attrition = pd.read_csv(needed[layout.ATTRITION_CSV], keep_default_na=False)
    for column in ("remaining", "excluded"):
        if column in attrition.columns:
            attrition[column] = pd.to_numeric(attrition[column], errors="coerce").fillna(0).astype(int)
    return patients, attrition, load_config(needed[layout.CONFIG_TOML])


def read_data_quality(out_dir: Path) -> pd.DataFrame | None:
    """The raw data_quality.csv of a results folder, if it has one."""
    path = Path(out_dir) / layout.DATA_QUALITY_CSV
    if not path.is_file():
        return None
    return pd.read_csv(path, dtype={"value": str}, keep_default_na=False)


def _meta_dates(meta: dict) -> tuple[str, str]:
    date_range = meta.get("data_date_range") or (None, None)
    return tuple("unknown" if d is None or pd.isna(d) else str(pd.Timestamp(d).date()) for d in date_range)


def render_report(out_dir: Path, analysis: Analysis, attrition: pd.DataFrame, config: StudyConfig,
                  meta: dict, extras: dict | None = None) -> pd.DataFrame:
    """Write the protected outputs of an existing Analysis into ``out_dir`` (which should be empty); returns the
    published cohort flow (protected with the rest of the release).

    ``extras``: what the classification wrote beside patients.csv (content.load_extras), published here.
    """
    settings = config.disclosure
    # Tables 6-9 and the Kaplan-Meier curve are protected and audited with the rest of the release (issue 14).
    # So are the definitions atlas's counts (issue 17), whose section and tables are then written from them.
    extras = dict(extras or {})
    protected = protect(analysis, settings, attrition, true_extras(extras, settings, meta),
                        extras.get("definition_counts"))
    if protected.definitions is not None:
        extras["definitions"] = write_definitions(out_dir, extras["definition_counts"], protected, settings)
    attrition_protected = published_attrition(protected, attrition, settings)
    sizes = published_group_sizes(analysis, settings)

    tables_dir = out_dir / layout.TABLES
    tables_dir.mkdir(parents=True, exist_ok=True)
    published = dict(protected.tables())
    published["attrition"] = attrition_protected
    published["warnings"] = pd.DataFrame({"warning": protected.warnings}, dtype=object)
    extra = extra_outputs(extras or {}, settings, protected)
    published.update(extra.tables)
    # Issue 18 hook: the backtest and risk evaluation when run into OUT/backtest and OUT/risk (trdpath.early.report).
    from trdpath.early.report import early_section
    early, early_tables = early_section(Path(out_dir).parent, settings)
    published.update(early_tables)
    # Text cells that a spreadsheet would run as a formula get a leading ' (OWASP CSV injection).
    published = {stem: neutralise_frame(table) for stem, table in published.items()}
    for stem, table in published.items():
        table.to_csv(tables_dir / f"{stem}.csv", index=False)
    date_from, date_to = _meta_dates(meta)
    meta = {**meta, "source": mask_credentials(meta.get("source", ""))}  # no password in any file
    release_note = layout.release_statement(settings.enabled)
    about = pd.DataFrame({
        "item": ["study", "software_version", "index_date", "data_from", "data_to", "source",
                 "disclosure_control", "min_count", "rounding", "generated", "release"],
        "value": [config.study.name, meta.get("software_version", ""), str(meta.get("index_date", "")),
                  date_from, date_to, str(meta.get("source", "")), str(settings.enabled), settings.min_count,
                  settings.rounding, dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"), release_note],
    })
    _write_xlsx(tables_dir / layout.TABLES_XLSX, {"about": neutralise_frame(about), **published})

    display_tables = display.all_tables(protected, attrition_protected, sizes, settings)
    sensitivity = {"title": SENSITIVITY_TITLE, "summary": display.sensitivity_summary(protected),
                   "tables": display.sensitivity_tables(protected, sizes, settings)}
    report_figures = figures.all_figures(protected, attrition_protected, extra.colours)
    report_figures.update(extra.figures)
    disclosure_note = display.disclosure_footnote(settings, protected.disclosure_applied)
    sections = report_sections(display_tables, report_figures, sizes, settings, protected.disclosure_applied,
                               sensitivity, protected.warnings, extra.sections)
    if early is not None:  # issue 18 hook: before the warnings, figures renumbered in reading order
        sections.insert(len(sections) - 1, early)
        number_figures(sections)
    title = f"{config.study.name}: treatment-resistant depression report"
    environment = Environment(loader=PackageLoader("trdpath.report", "templates"),
                              autoescape=select_autoescape(["html", "j2"]))
    environment.filters["b64"] = lambda data: base64.b64encode(data).decode("ascii")
    html = environment.get_template("report.html.j2").render(
        title=title, sections=sections, meta={**meta, "date_from": date_from, "date_to": date_to},
        generated=dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        disclosure=settings, disclosure_note=disclosure_note, release_note=release_note, config_toml=config.to_toml(),
    )
    (out_dir / layout.REPORT_HTML).write_text(html, encoding="utf-8")

    intro = [disclosure_note, release_note]
    about_lines = [f"trdpath {meta.get('software_version', '')}; index date {meta.get('index_date', '')}; "
                   f"data from {date_from} to {date_to}; source: {meta.get('source', '')}."]
    write_docx(out_dir / layout.REPORT_DOCX, title, intro, sections, about_lines, config.to_toml())
    return attrition_protected


def write_definitions(out_dir: Path, counts, protected, settings):
    """release/definitions/ from the atlas as protect() published it; the report's Definitions section."""
    from trdpath.definitions.report import report_section
    from trdpath.definitions.audit import write_release

    folder = Path(out_dir) / DEFINITIONS_DIR
    write_release(counts, protected.definitions, settings, folder)
    return report_section(None, folder)


DEFINITIONS_DIR = "definitions"  # OUT/release/definitions/ (definitions.compare.RELEASE_DIR)


def published_attrition(protected: Analysis, attrition: pd.DataFrame, settings: DisclosureSection) -> pd.DataFrame:
    """The cohort flow as protect() published it with the rest of the release (or protected on its own)."""
    if protected.published_attrition is not None:
        return protected.published_attrition
    return protect_attrition(attrition, settings)


def _write_xlsx(path: Path, sheets: dict[str, pd.DataFrame]) -> None:
    """One sheet per table; every text cell stored as text, never as a formula (openpyxl turns any
    string starting with '=' into one, so the cells are typed explicitly after pandas writes them)."""
    with pd.ExcelWriter(path, engine="openpyxl") as writer:
        for stem, table in sheets.items():
            table.to_excel(writer, sheet_name=stem[:31], index=False)
        for sheet in writer.book.worksheets:
            for row in sheet.iter_rows():
                for cell in row:
                    if cell.data_type == "f":
                        cell.data_type = "s"


def release_data_quality(data_quality: pd.DataFrame, settings: DisclosureSection) -> pd.DataFrame:
    """data_quality.csv as it may be published: a value (an unmapped label) seen by fewer than
    ``min_count`` rows is not named (grouped into one row per issue), every count is rounded like the
    tables' counts, and a total below ``min_count`` is shown as ``<min_count``."""
    columns = ["table", "column", "issue", "value", "count"]
    if data_quality is None or data_quality.empty:
        return pd.DataFrame(columns=columns)
    if not settings.enabled:
        return data_quality[columns].copy()
    frame = data_quality[columns].copy()
    frame["value"] = frame["value"].fillna("").astype(str)
    frame["count"] = pd.to_numeric(frame["count"], errors="coerce").fillna(0).astype(int)
    rare = (frame["value"] != "") & (frame["count"] < settings.min_count)
    kept = frame[~rare]
    grouped = (frame[rare].groupby(["table", "column", "issue"], sort=False, as_index=False)["count"].sum()
               .assign(value=f"(values each seen fewer than {settings.min_count} times)"))
    out = pd.concat([kept, grouped[columns]], ignore_index=True)
    out["count"] = [small_label(settings) if 0 < n < settings.min_count else round_count(n, settings.rounding)
                    for n in out["count"]]
    return out.astype(object)


def write_release(release_dir: Path, patients: pd.DataFrame, attrition: pd.DataFrame, config: StudyConfig,
                  meta: dict, data_quality: pd.DataFrame | None = None, extras: dict | None = None) -> None:
    """The whole publishable part of a result into ``release_dir`` (a staging folder): the report, its
    tables, the protected attrition and data-quality counts and the README that says what may leave.
    ``extras``: the classification's extra patient-level outputs (content.load_extras)."""
    release_dir = Path(release_dir)
    release_dir.mkdir(parents=True, exist_ok=True)
    settings = config.disclosure
    extras = {**(extras or {}), "not_run": passes_not_run(config)}  # issue 16: passes switched off
    attrition_protected = render_report(release_dir, analyse(patients, config), attrition, config, meta, extras)
    neutralise_frame(attrition_protected).to_csv(release_dir / layout.RELEASE_ATTRITION_CSV, index=False)
    neutralise_frame(release_data_quality(data_quality, settings)).to_csv(
        release_dir / layout.RELEASE_DATA_QUALITY_CSV, index=False)
    (release_dir / layout.README).write_text(
        layout.release_readme(settings.enabled, settings.min_count, settings.rounding), encoding="utf-8")


def write_report(out_dir: Path, patients: pd.DataFrame, attrition: pd.DataFrame, config: StudyConfig,
                 meta: dict, data_quality: pd.DataFrame | None = None) -> None:
    """Analyse and write OUT/release/ (report, tables, protected counts), keeping the rest of OUT.

    The new OUT is built beside it (the rest of OUT as hard links) and swapped in with one rename, so a
    failure or a kill at any instant leaves the previous OUT complete (trdpath.atomic).
    """
    out_dir = Path(out_dir)
    if data_quality is None:
        data_quality = read_data_quality(out_dir)
    regenerated = {f"{layout.RELEASE}/{name}" for name in (*layout.REPORT_FILES, layout.RELEASE_ATTRITION_CSV,
                                                           layout.RELEASE_DATA_QUALITY_CSV, layout.README)}
    regenerated |= set(layout.REPORT_FILES)  # a report of trdpath 0.1 sat in OUT itself: superseded
    if (out_dir / "definitions" / "counts").is_dir():  # the atlas is re-protected with the release: written anew
        regenerated.add(f"{layout.RELEASE}/{DEFINITIONS_DIR}")
    with replace_folder(out_dir) as staging:
        carry_over(out_dir, staging, skip=regenerated)
        write_release(layout.release_dir(staging), patients, attrition, config, meta, data_quality,
                      load_extras(staging, patients))
