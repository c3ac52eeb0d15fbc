"""The study report: tables as CSV and XLSX, a self-contained HTML report and a DOCX, all disclosure-controlled.

``write_report(out_dir, patients, attrition, config, meta)`` analyses the classification (trdpath.stats),
applies statistical disclosure control (trdpath.stats.disclosure) and writes, atomically::

    OUT/tables/*.csv        one machine-readable table each (numbers, or "<8" / "suppressed")
    OUT/tables/tables.xlsx  the same tables, one sheet each
    OUT/report.html         one self-contained file (figures as base64 PNG, the Sankey as inline SVG; opens offline)
    OUT/report.docx         the same tables and figures for a journal submission
"""

from __future__ import annotations

import base64
import datetime as dt
import shutil
import tempfile
import uuid
from pathlib import Path

import pandas as pd
from jinja2 import Environment, PackageLoader, select_autoescape

from trdpath.config import StudyConfig, load_config
from trdpath.errors import UserError
from trdpath.report import display, figures
from trdpath.report.content import SENSITIVITY_TITLE, extra_outputs, load_extras, report_sections
from trdpath.report.docx_writer import write_docx
from trdpath.stats import Analysis, analyse
from trdpath.stats.disclosure import protect, protect_attrition, published_group_sizes

__all__ = ["write_report", "read_classification", "render_report"]

REPORT_FILES = ("tables", "report.html", "report.docx")


def read_classification(out_dir: Path) -> tuple[pd.DataFrame, pd.DataFrame, StudyConfig]:
    """An existing classification folder (patients.parquet, attrition.csv, config.toml), for `trdpath report`."""
    out_dir = Path(out_dir)
    needed = {name: out_dir / name for name in ("patients.parquet", "attrition.csv", "config.toml")}
    missing = [name for name, path in needed.items() if not path.is_file()]
    if missing:
        raise UserError(f"{out_dir} is not a classification folder: {', '.join(missing)} missing. "
                        "Run `trdpath classify` or `trdpath run` first.")
    try:
        patients = pd.read_parquet(needed["patients.parquet"])
    except Exception as exc:  # pyarrow raises several types for a damaged file
        raise UserError(f"{needed['patients.parquet']} cannot be read: {exc}") from None
    attrition = pd.read_csv(needed["attrition.csv"], keep_default_na=False)
    for column in ("remaining", "excluded"):
        if column in attrition.columns:
            attrition[column] = pd.to_numeric(attrition[column], errors="coerce").fillna(0).astype(int)
    return patients, attrition, load_config(needed["config.toml"])


def _meta_dates(meta: dict) -> tuple[str, str]:
    date_range = meta.get("data_date_range") or (None, None)
    return tuple("unknown" if d is None or pd.isna(d) else str(pd.Timestamp(d).date()) for d in date_range)


def render_report(out_dir: Path, analysis: Analysis, attrition: pd.DataFrame, config: StudyConfig,
                  meta: dict, extras: dict | None = None) -> None:
    """Write the protected outputs of an existing Analysis into ``out_dir`` (which should be empty).

    ``extras``: what the classification wrote beside patients.csv (content.load_extras), published here.
    """
    settings = config.disclosure
    protected = protect(analysis, settings)
    attrition_protected = protect_attrition(attrition, settings)
    sizes = published_group_sizes(analysis, settings)

    tables_dir = out_dir / "tables"
    tables_dir.mkdir(parents=True, exist_ok=True)
    published = dict(protected.tables())
    published["attrition"] = attrition_protected
    published["warnings"] = pd.DataFrame({"warning": analysis.warnings}, dtype=object)
    extra = extra_outputs(extras or {}, settings, protected, meta)
    published.update(extra.tables)
    for stem, table in published.items():
        table.to_csv(tables_dir / f"{stem}.csv", index=False)
    date_from, date_to = _meta_dates(meta)
    about = pd.DataFrame({
        "item": ["study", "software_version", "index_date", "data_from", "data_to", "source",
                 "disclosure_control", "min_count", "rounding", "generated"],
        "value": [config.study.name, meta.get("software_version", ""), str(meta.get("index_date", "")),
                  date_from, date_to, str(meta.get("source", "")), str(settings.enabled), settings.min_count,
                  settings.rounding, dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")],
    })
    with pd.ExcelWriter(tables_dir / "tables.xlsx", engine="openpyxl") as writer:
        about.to_excel(writer, sheet_name="about", index=False)
        for stem, table in published.items():
            table.to_excel(writer, sheet_name=stem[:31], index=False)

    display_tables = display.all_tables(protected, attrition_protected, sizes, settings)
    sensitivity = {"title": SENSITIVITY_TITLE, "summary": display.sensitivity_summary(protected),
                   "tables": display.sensitivity_tables(protected, sizes, settings)}
    report_figures = figures.all_figures(protected, attrition_protected, extra.colours)
    report_figures.update(extra.figures)
    disclosure_note = display.disclosure_footnote(settings, protected.disclosure_applied)
    sections = report_sections(display_tables, report_figures, sizes, settings, protected.disclosure_applied,
                               sensitivity, analysis.warnings, extra.sections)
    title = f"{config.study.name}: treatment-resistant depression report"
    environment = Environment(loader=PackageLoader("trdpath.report", "templates"),
                              autoescape=select_autoescape(["html", "j2"]))
    environment.filters["b64"] = lambda data: base64.b64encode(data).decode("ascii")
    html = environment.get_template("report.html.j2").render(
        title=title, sections=sections, meta={**meta, "date_from": date_from, "date_to": date_to},
        generated=dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        disclosure=settings, disclosure_note=disclosure_note, config_toml=config.to_toml(),
    )
    (out_dir / "report.html").write_text(html, encoding="utf-8")

    intro = [disclosure_note]
    about_lines = [f"trdpath {meta.get('software_version', '')}; index date {meta.get('index_date', '')}; "
                   f"data from {date_from} to {date_to}; source: {meta.get('source', '')}."]
    write_docx(out_dir / "report.docx", title, intro, sections, about_lines, config.to_toml())


def write_report(out_dir: Path, patients: pd.DataFrame, attrition: pd.DataFrame, config: StudyConfig,
                 meta: dict) -> None:
    """Analyse and write OUT/tables/*.csv, tables.xlsx, report.html and report.docx, atomically.

    Everything is written into a temporary folder inside ``out_dir`` and moved into place at the end, so a
    failure leaves the previous report (or nothing) rather than a half-written one.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    analysis = analyse(patients, config)
    staging = Path(tempfile.mkdtemp(prefix=".report-tmp-", dir=out_dir))
    try:
        render_report(staging, analysis, attrition, config, meta, load_extras(out_dir, patients))
        previous = out_dir / f".report-old-{uuid.uuid4().hex[:8]}"
        previous.mkdir()
        for name in REPORT_FILES:
            if (out_dir / name).exists():
                (out_dir / name).rename(previous / name)
        for name in REPORT_FILES:
            (staging / name).rename(out_dir / name)
        shutil.rmtree(previous, ignore_errors=True)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
