"""The public Python API. The CLI (cli.py) and the demo are thin layers over these functions.

``classify(data, out)`` writes the patient-level results; ``run(data, out)`` adds the publishable
report (OUT/release/); ``report(results)`` rewrites the report of an existing result. Each builds its
whole result beside OUT and swaps it in with one rename (trdpath.atomic); the folder names are in
trdpath.layout.
"""

from __future__ import annotations

import datetime as dt
import shutil
import tempfile
from collections.abc import Mapping
from contextlib import contextmanager
from pathlib import Path

import pandas as pd

from trdpath import backends, layout
from trdpath.atomic import replace_folder
from trdpath.config import StudyConfig
from trdpath.output import run_metadata, write_classification
from trdpath.pipeline import Classification, Progress, classify_extract
from trdpath.errors import UserError
from trdpath.schema import PATIENT_COLUMNS
from trdpath.sources import Extract
from trdpath.sources.flat import read_flat_folder, read_flat_location
from trdpath.sources.omop import read_omop_location
from trdpath.sources.validate import validate_extract
from trdpath.stats.extract_outputs import write_extract_outputs

__all__ = ["Classification", "classify", "classify_tables", "run", "report", "check_config", "check_output"]


def check_config(config: StudyConfig, files: bool = True) -> None:
    """What the configuration's own validation cannot know: names that must be columns of the
    per-patient table (data-contract.md) and files it names. Checked before any work, so a typo costs
    seconds, not a run."""
    named = {f"reference.{key}": path for key, path in config.reference.model_dump().items() if path is not None}
    named.update({f"nlp.extra_rules[{i}]": path for i, path in enumerate(config.nlp.extra_rules)})
    missing = [f"{key} = {str(path)!r}" for key, path in named.items() if files and not Path(path).is_file()]
    if missing:
        raise UserError(f"The configuration names file(s) that do not exist: {'; '.join(missing)}.")
    unknown = [name for block in config.analysis.regression_blocks for name in block if name not in PATIENT_COLUMNS]
    if unknown:
        raise UserError(
            f"analysis.regression_blocks names {', '.join(repr(n) for n in unknown)}, which "
            f"{'is not a column' if len(unknown) == 1 else 'are not columns'} of the per-patient table. "
            f"Predictors can be: {', '.join(PATIENT_COLUMNS)}.")


def check_output(data: str | Path | None, out: str | Path, overwrite: bool = False) -> None:
    """Refuse an output folder that would destroy something: the input extract (OUT equal to, inside or
    holding --data) or a non-empty folder that is not a trdpath result (unless `overwrite`)."""
    out_path = Path(out).expanduser().resolve()
    if data is not None:
        location = backends.backend_from_url(str(data))
        if location.path is not None:
            data_path = Path(location.path).expanduser().resolve()
            if out_path == data_path or data_path in out_path.parents:
                raise UserError(f"--out {out} is {'the' if out_path == data_path else 'inside the'} --data folder "
                                f"{data}: the results would overwrite the extract. Choose another --out.")
            if out_path in data_path.parents:
                raise UserError(f"--data {data} is inside --out {out}: writing the results replaces that folder. "
                                "Choose another --out.")
    for folder in (out_path, *out_path.parents):
        if folder.exists() and not folder.is_dir():
            raise UserError(f"--out {out}: {folder} is a file, not a folder.")
    if out_path.is_dir() and any(out_path.iterdir()) and not layout.is_result(out_path) and not overwrite:
        raise UserError(f"--out {out} is not empty and is not a trdpath result: its content would be replaced. "
                        "Choose an empty or new folder, or add --overwrite.")


def _with_row_numbers(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.copy()
    frame.columns = [str(c).strip().lower() for c in frame.columns]
    for col in frame.columns:
        # Text (and all-empty) columns as strings: a column of only None has no type otherwise.
        if frame[col].dtype == object or frame[col].isna().all():
            frame[col] = frame[col].astype("string")
    frame["_row"] = range(1, len(frame) + 1)
    return frame


def classify_tables(tables: Mapping[str, pd.DataFrame], config: StudyConfig | None = None,
                    index_date: dt.date | None = None, backend: str = "duckdb",
                    progress: Progress | None = None) -> Classification:
    """Classify in-memory tables (the data contract's raw columns). Used by tests on every backend.

    Tables are validated on DuckDB, then the pipeline runs on `backend`.
    """
    config = config or StudyConfig()
    duck = backends.connect("duckdb", engine=config.engine)
    raw = {name: duck.create_table(f"raw_{name}", _with_row_numbers(frame), temp=True)
           for name, frame in tables.items()}
    extract = validate_extract(duck, raw, {name: f"{name} table" for name in tables}, source="in-memory tables")
    if backend == "duckdb":
        return classify_extract(duck, extract, config, index_date, progress)
    con, moved = _move_to_backend(duck, extract, backend, config)
    return classify_extract(con, moved, config, index_date, progress)


def _move_to_backend(duck, extract: Extract, backend: str, config: StudyConfig) -> tuple[object, Extract]:
    """Validated tables from DuckDB into another backend (through Arrow), for `--backend` with flat files."""
    con = backends.connect(backend, engine=config.engine)
    names = [n for n in ("patients", "diagnoses", "prescriptions", "referrals", "notes") if getattr(extract, n) is not None]
    typed = {name: duck.execute(getattr(extract, name)) for name in names}
    loaded = backends.load_tables(con, typed, schemas={name: getattr(extract, name).schema() for name in names})
    # Same rows: the date ranges and quality counts found while validating still hold.
    return con, Extract(**{n: loaded.get(n) for n in ("patients", "diagnoses", "prescriptions", "referrals", "notes")},
                        source=extract.source, date_bounds=extract.date_bounds, quality_counts=extract.quality_counts)


@contextmanager
def opened_extract(data: str | Path, config: StudyConfig, backend: str | None = None):
    """(connection, validated Extract) for any `--data` location, the one way every command opens one:
    a flat folder (validated in DuckDB, then moved to `backend`), ``omop:DIR``, or a database schema.
    The engine's working folder is removed afterwards."""
    location = backends.backend_from_url(str(data))
    asked, backend = backend, backend or config.engine.backend
    work = Path(tempfile.mkdtemp(prefix="trdpath-engine-"))
    try:
        if location.format == "omop":
            con, extract = read_omop_location(location, config, backend=asked if location.path is None else backend)
        elif location.path is None:  # the contract's tables in a database schema
            con, extract = read_flat_location(location, config)
        else:
            # A database file (not memory) so DuckDB can spill to disk on national-scale extracts.
            con = backends.connect("duckdb", url=str(work / "engine.duckdb"), engine=config.engine)
            if not config.engine.temp_directory:
                con.raw_sql(f"SET temp_directory = '{work / 'spill'}'")
            raw, files = read_flat_folder(con, location.path)
            extract = validate_extract(con, raw, {k: str(v) for k, v in files.items()}, source=f"flat:{location.path}")
            if backend != "duckdb":
                con, extract = _move_to_backend(con, extract, backend, config)
        yield con, extract
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _classify_into(folder: Path, data: str | Path, config: StudyConfig, index_date: dt.date | None,
                   progress: Progress | None, backend: str | None) -> Classification:
    """Read an extract, classify, and write the patient-level files into `folder` (a staging folder)."""
    with opened_extract(data, config, backend) as (con, extract):
        result = classify_extract(con, extract, config, index_date, progress)
        write_classification(result, folder)
        # Issue 16: the assumption sensitivity and the pathway steps need the extract (patient-level side).
        write_extract_outputs(con, extract, result, folder)
        return result


def classify(data: str | Path, out: str | Path, config: StudyConfig | None = None,
             index_date: dt.date | None = None, progress: Progress | None = None,
             backend: str | None = None, overwrite: bool = False) -> Classification:
    """Read an extract, classify, and write the patient-level results into `out` (replacing it whole).

    `data` is a folder of flat tables (or ``flat:DIR``), ``omop:DIR``, ``postgresql://...`` (an OMOP
    CDM schema) or ``spark:SCHEMA`` (see backends.backend_from_url). `backend` runs a flat folder's
    pipeline on another engine (default: the configuration's, DuckDB). `out` must be new, empty or an
    earlier trdpath result unless `overwrite`; it may not be or hold the extract.
    """
    config = config or StudyConfig()
    check_config(config)
    check_output(data, out, overwrite)
    with replace_folder(out) as staging:
        return _classify_into(staging, data, config, index_date, progress, backend)


def run(data: str | Path, out: str | Path, config: StudyConfig | None = None,
        index_date: dt.date | None = None, progress: Progress | None = None,
        backend: str | None = None, overwrite: bool = False) -> Classification:
    """`classify`, then the statistics and the publishable report in OUT/release/, all swapped in at once."""
    from trdpath.report import write_release
    from trdpath.report.content import load_extras

    config = config or StudyConfig()
    check_config(config)
    check_output(data, out, overwrite)
    with replace_folder(out) as staging:
        result = _classify_into(staging, data, config, index_date, progress, backend)
        if progress:
            progress("analysing and writing the report")
        write_release(layout.release_dir(staging), result.patients, result.attrition, result.config,
                      run_metadata(result), result.data_quality, load_extras(staging, result.patients))
        return result


def report(results: str | Path) -> None:
    """Re-run the statistics and rewrite OUT/release/ of an existing result (the rest is kept)."""
    from trdpath.report import read_classification, write_report
    from trdpath.report.cli import classification_meta

    patients, attrition, config = read_classification(results)
    check_config(config, files=False)  # the report reads no reference file
    write_report(results, patients, attrition, config, classification_meta(results, patients, config))
