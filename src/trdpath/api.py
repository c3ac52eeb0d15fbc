"""The public Python API. The CLI (cli.py), the demo and notebooks are thin layers over these functions.

``classify(data, out)`` writes the patient-level results; ``run(data, out)`` adds the publishable
report (OUT/release/); ``report(results)`` rewrites the report of an existing result; ``synth(out, n)``
writes a synthetic extract; ``nlp_flags(notes)`` reads the notes into patient flags; ``qual_demo(out)``
builds the qualitative demo project. Each builds its
whole result beside OUT and swaps it in with one rename (trdpath.atomic); the folder names are in
trdpath.layout.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from trdpath import engines, layout
from trdpath.atomic import replace_folder
from trdpath.config import StudyConfig
from trdpath.output import read_run_metadata, run_metadata, write_classification
from trdpath.pipeline import Classification, Progress, classify_extract
from trdpath.errors import UserError
from trdpath.schema import PATIENT_COLUMNS
from trdpath.sources.open import open_source, open_tables
from trdpath.stats.extract_outputs import write_extract_outputs

__all__ = ["Classification", "classify", "classify_tables", "run", "report", "synth", "nlp_flags", "qual_demo",
           "check_config", "check_output", "classify_with_definition"]


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
        location = engines.backend_from_url(str(data))
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


def classify_tables(tables: Mapping[str, pd.DataFrame], config: StudyConfig | None = None,
                    index_date: dt.date | None = None, backend: str = "duckdb",
                    progress: Progress | None = None) -> Classification:
    """Classify in-memory tables (the data contract's raw columns). Used by tests on every backend.

    Tables are validated on DuckDB, then the pipeline runs on `backend`.
    """
    config = config or StudyConfig()
    con, extract = open_tables(tables, config, backend)
    return classify_extract(con, extract, config, index_date, progress)


def _classify_into(folder: Path, data: str | Path, config: StudyConfig, index_date: dt.date | None,
                   progress: Progress | None, backend: str | None) -> Classification:
    """Read an extract, classify, and write the patient-level files into `folder` (a staging folder)."""
    with open_source(data, config, backend) as (con, extract):
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
    CDM schema) or ``spark:SCHEMA`` (see engines.backend_from_url). `backend` runs a flat folder's
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

    patients, attrition, config = read_classification(results)
    check_config(config, files=False)  # the report reads no reference file
    write_report(results, patients, attrition, config, read_run_metadata(results, patients, config))


def synth(out: str | Path, n_patients: int, seed: int = 0, fmt: str = "csv", *, chunk_size: int = 100_000,
          notes: bool = True, overwrite: bool = False, vocabulary: str = "full", progress: bool = False) -> dict:
    """A synthetic extract in `out` (docs/synthetic-data.md): the flat tables as ``csv`` or ``parquet``,
    or an OMOP CDM as ``omop`` / ``omop-parquet``. Returns the row count of each table."""
    fmt = fmt.lower()
    if fmt in ("omop", "omop-csv", "omop-parquet"):
        from trdpath.synth.omop import generate_omop

        return generate_omop(out, n_patients, seed=seed, file_format="parquet" if fmt == "omop-parquet" else "csv",
                             vocabulary=vocabulary, overwrite=overwrite)
    from trdpath.synth import generate

    return generate(out, n_patients=n_patients, seed=seed, fmt=fmt, chunk_size=chunk_size, progress=progress,
                    notes=notes, overwrite=overwrite)


def nlp_flags(notes: pd.DataFrame, index_date: dt.date | None = None, *, extra_rules=(), processes: int = 1,
              progress: bool = False) -> pd.DataFrame:
    """Patient flags from clinical notes (patient_id, note_id, date, text): self_harm_nlp,
    suicidal_ideation_nlp, suicide_attempt_nlp, affirmed and about the patient (docs/nlp.md)."""
    from trdpath.nlp.patient import patient_flags

    return patient_flags(notes, index_date, extra_rule_files=extra_rules, n_process=processes, progress=progress)


def qual_demo(out: str | Path) -> Path:
    """The qualitative demo project (two coders' transcripts, codebook, report) in `out`; returns report.html."""
    from trdpath.qualitative.demo import write_demo

    return write_demo(Path(out))


def classify_with_definition(data: str | Path, out: str | Path, config: StudyConfig, index_date: dt.date | None,
                             progress: Progress | None, backend: str | None, overwrite: bool,
                             definition, text: str) -> Classification:
    """api.classify with the definition's TRD: the same checks, the same files, written at once."""
    from trdpath.definitions.classify import DEFINITION_TOML, apply_definition
    from trdpath.definitions.compare import compare_extract

    check_config(config)
    check_output(data, out, overwrite)
    with replace_folder(out) as staging, open_source(data, config, backend) as (con, extract):
        comparison = compare_extract(con, extract, [definition], config, index_date, progress, why="none")
        result = apply_definition(comparison.classification, comparison.patients, definition)
        write_classification(result, staging)
        write_extract_outputs(con, extract, result, staging)
        (Path(staging) / DEFINITION_TOML).write_text(text, encoding="utf-8")
        return result
