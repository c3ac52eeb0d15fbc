"""Where everything goes in a results folder OUT: the one place that names its files.

OUT/ itself is patient-level and never leaves the secure environment; OUT/release/ is the
disclosure-controlled part that may be published after the environment's output check
(docs/security.md, "Results folder"). Every writer, reader, test and doc takes names from here.
"""

from __future__ import annotations

from pathlib import Path

# OUT/: patient-level (one row per patient, raw data-quality labels and counts).
README = "README.md"
PATIENTS_CSV = "patients.csv"
PATIENTS_PARQUET = "patients.parquet"
ATTRITION_CSV = "attrition.csv"  # exact counts at each exclusion step (the release copy is rounded)
DATA_QUALITY_CSV = "data_quality.csv"  # raw: unmapped labels with their exact counts
CONFIG_TOML = "config.toml"
METADATA_JSON = "metadata.json"
PATHWAY_STEPS_CSV = "pathway_steps.csv"  # each drug of the current episode: line, step, adequacy (issue 16)
PATHWAY_STEPS_PARQUET = "pathway_steps.parquet"
ASSUMPTION_SENSITIVITY_CSV = "assumption_sensitivity.csv"  # true counts under each missing-data assumption
PATIENT_LEVEL_FILES = (PATIENTS_CSV, PATIENTS_PARQUET, ATTRITION_CSV, DATA_QUALITY_CSV, CONFIG_TOML, METADATA_JSON,
                       PATHWAY_STEPS_CSV, PATHWAY_STEPS_PARQUET, ASSUMPTION_SENSITIVITY_CSV)

# OUT/release/: disclosure-controlled, publishable.
RELEASE = "release"
REPORT_HTML = "report.html"
REPORT_DOCX = "report.docx"
TABLES = "tables"
TABLES_XLSX = "tables.xlsx"
RELEASE_DATA_QUALITY_CSV = DATA_QUALITY_CSV  # labels with counts 1..min_count-1 suppressed, counts rounded
RELEASE_ATTRITION_CSV = ATTRITION_CSV  # counts rounded, small exclusions suppressed
REPORT_FILES = (REPORT_HTML, REPORT_DOCX, TABLES)
RELEASE_DEFINITIONS = "definitions"  # the definitions atlas (trdpath compare), protected with the release
# Patient-level folders other commands write into OUT: compare's verdicts and true counts, backtest, risk.
PATIENT_LEVEL_DIRS = ("definitions/", "backtest/", "risk/")


def release_dir(out: Path | str) -> Path:
    return Path(out) / RELEASE


def tables_dir(out: Path | str) -> Path:
    return Path(out) / RELEASE / TABLES


def report_html(out: Path | str) -> Path:
    return Path(out) / RELEASE / REPORT_HTML


def report_docx(out: Path | str) -> Path:
    return Path(out) / RELEASE / REPORT_DOCX


def _json_has(path: Path, key: str) -> bool:
    import json

    try:
        return key in json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, TypeError):
        return False


def is_output(folder: Path | str) -> bool:
    """A folder some trdpath command wrote whole, so writing it again may replace it: a classification
    (is_result), a worklist (worklist.json), a backtest (backtest.json), a risk model (risk_evaluation.json)
    or the definitions atlas's two folders (definitions/, release/definitions/)."""
    folder = Path(folder)
    return (is_result(folder) or _json_has(folder / "worklist.json", "trdpath_version")
            or _json_has(folder / "backtest.json", "outcome_date")
            or _json_has(folder / "risk_evaluation.json", "not_a_medical_device")
            or (folder / "counts" / "prevalence.parquet").is_file()  # compare's definitions/
            or _json_has(folder / "section.json", "blocks"))  # compare's release/definitions/


def is_result(folder: Path | str) -> bool:
    """A folder written by trdpath classify/run (its metadata.json names the software version)."""
    return _json_has(Path(folder) / METADATA_JSON, "software_version")


OUT_README = """\
# trdpath results: PATIENT-LEVEL, do not release

This folder holds patient-level data and must not leave the secure environment:

- `patients.csv`, `patients.parquet`: one row per patient of the extract (identifiers, dates, flags).
- `data_quality.csv`: unmapped or odd values with their exact counts (a rare label can identify someone).
- `attrition.csv`: exact counts at each exclusion step.
- `pathway_steps.csv` / `.parquet`: each patient's drugs of the current episode with line, step and adequacy.
- `assumption_sensitivity.csv`: exact counts under each handling of missing doses and durations.
- `config.toml`, `metadata.json`: the settings and the run (index date, data range, source).

Only the files in `release/` are disclosure-controlled (counts 1-{small} suppressed, counts rounded to
the nearest {rounding}) and may be submitted to the environment's output check for publication:
see `release/README.md`.
"""

RELEASE_README = """\
# trdpath results: release (disclosure-controlled)

Everything in this folder has passed trdpath's statistical disclosure control{state}, and may be
submitted to the secure environment's output check for publication:

- `report.html`, `report.docx`: the study report (written by `trdpath run` or `trdpath report`).
- `tables/*.csv`, `tables/tables.xlsx`: the report's tables.
- `data_quality.csv`: data-quality counts, labels seen fewer than {min_count} times grouped, counts rounded.
- `attrition.csv`: patients remaining at each exclusion step, rounded.
- `definitions/` (when `trdpath compare` was run): the definitions atlas's tables, section and figures.

Everything in the folder above (`patients.csv`, `patients.parquet`, `pathway_steps.csv`,
`pathway_steps.parquet`, `assumption_sensitivity.csv`, the raw `data_quality.csv` and `attrition.csv`,
`config.toml`, `metadata.json`, and the folders `definitions/`, `backtest/`, `risk/`) is patient-level and
must not leave the environment.
"""


def out_readme(min_count: int, rounding: int) -> str:
    return OUT_README.format(small=min_count - 1, rounding=rounding)


def release_readme(enabled: bool, min_count: int, rounding: int) -> str:
    state = (f" (counts 1-{min_count - 1} suppressed, other counts rounded to the nearest {rounding})" if enabled
             else " - EXCEPT THAT DISCLOSURE CONTROL WAS TURNED OFF for this run ([disclosure] enabled = false):"
                  " nothing here may leave the environment")
    return RELEASE_README.format(state=state, min_count=min_count)


def release_statement(enabled: bool) -> str:
    """The report's sentence on which files may leave the secure environment."""
    if not enabled:
        return ("Disclosure control was turned off for this run: no file of it, this report included, may "
                "leave the secure environment.")
    return (f"May leave the secure environment (after its output check): the files in {RELEASE}/ only: "
            f"{REPORT_HTML}, {REPORT_DOCX}, {TABLES}/ ({TABLES_XLSX} and one CSV per table), "
            f"{RELEASE_DATA_QUALITY_CSV}, {RELEASE_ATTRITION_CSV} and, when `trdpath compare` was run, "
            f"{RELEASE_DEFINITIONS}/ (its CSV tables, section.html, section.json and figures). Every file beside "
            f"{RELEASE}/ ({', '.join(PATIENT_LEVEL_FILES)}, and the folders {', '.join(PATIENT_LEVEL_DIRS)}) is "
            "patient-level and must not.")
