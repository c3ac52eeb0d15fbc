"""The public Python API. The CLI (cli.py), the demo and notebooks are thin layers over these functions.

``classify(data, out)`` writes the patient-level results; ``run(data, out)`` adds the publishable
report (OUT/release/); ``report(results)`` rewrites the report of an existing result; ``synth(out, n)``
writes a synthetic extract; ``nlp_flags(notes)`` reads the notes into patient flags; ``qual_demo(out)``
builds the qualitative demo project. Each builds its
whole result beside OUT and swaps it in with one rename (trdpath.atomic); the folder names are in
trdpath.layout.

The qualitative workflow (``trdpath qual ...``): ``qual_init``, ``qual_import``, ``qual_code``,
``qual_codebook``, ``qual_agreement``, ``qual_saturation``, ``qual_tables``, ``qual_report``, ``qual_export``,
``qual_merge``, ``qual_account`` and ``qual_coding_app`` (what ``qual serve`` serves), each on a project
file or PostgreSQL URL.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import pandas as pd

from trdpath import layout
from trdpath.atomic import replace_folder
from trdpath.config import StudyConfig
from trdpath.output import check_output, read_run_metadata, run_metadata, write_classification
from trdpath.pipeline import Classification, Progress, classify_extract
from trdpath.errors import UserError
from trdpath.safety import mask_credentials
from trdpath.schema import PATIENT_COLUMNS
from trdpath.sources.open import open_source, open_tables
from trdpath.stats.extract_outputs import write_extract_outputs

__all__ = ["Classification", "classify", "classify_tables", "run", "report", "synth", "nlp_flags", "qual_demo",
           "check_config", "check_output", "classify_with_definition", "qual_init", "qual_import", "qual_code",
           "qual_codebook", "qual_agreement", "qual_saturation", "qual_tables", "qual_report", "qual_export",
           "qual_merge", "qual_account", "qual_coding_app"]


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
        result.stages = None  # engine tables: released here, while their connection is still open
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


def compare(data: str | Path, out: str | Path, definitions, config: StudyConfig | None = None,
            index_date: dt.date | None = None, progress=None, backend: str | None = None, why: str = "all",
            dial: bool = False, overwrite: bool = False, files=()):
    """The definitions atlas (docs/definitions.md): every chosen definition side by side, written to `out`.
    Into a results folder that has a report, the report is re-run so the atlas is protected with the whole
    release in one audit (definitions/audit.py). It replaces OUT/definitions/ and OUT/release/definitions/
    only; each is checked as check_output checks OUT (`files`: the definition and configuration files)."""
    from trdpath.definitions.compare import PATIENT_LEVEL_DIR, RELEASE_DIR, compare as compare_definitions
    from trdpath.definitions.audit import report_rewrites

    for folder in (PATIENT_LEVEL_DIR, RELEASE_DIR):
        check_output(data, Path(out) / folder, overwrite, files)

    result = compare_definitions(data, out, definitions, config, index_date, progress, backend, why, dial)
    if report_rewrites(out):
        report(out)
    return result


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
        result.stages = comparison.classification.stages = None  # released while their connection is open
        (Path(staging) / DEFINITION_TOML).write_text(text, encoding="utf-8")
        return result


# --- the qualitative workflow (docs/qualitative.md): what `trdpath qual ...` runs, for notebooks too -------------
# Every function opens the project (a SQLite file or a PostgreSQL URL), does one job and closes it; a change
# runs in one transaction and every file appears only when complete (trdpath.atomic).


def qual_init(project: str | Path, name: str = "Qualitative study") -> None:
    """Create a new, empty project."""
    from trdpath.qualitative.store import create_project

    create_project(project, name).close()


def qual_import(project: str | Path, files: Sequence[str | Path] = (), *, participants: str | Path | None = None,
                memos: str | Path | None = None, who: str | None = None, max_entry_mb: float | None = None,
                max_total_mb: float | None = None, max_entries: int | None = None,
                on_transcript: Callable[[str], None] | None = None) -> dict:
    """Import transcripts (.txt .docx .vtt .srt, in interview order), whole REFI-QDA projects (.qdpx),
    participants (CSV) and memos (CSV), all or nothing. Returns what was read: ``participants`` (rows),
    ``projects`` ({file name: counts of what was read and left out}), ``transcripts`` (names), ``memos``."""
    from trdpath.qualitative.coding import import_memos, import_participants, import_transcripts
    from trdpath.qualitative.refi import ImportLimits, import_qdpx_into
    from trdpath.qualitative.store import open_project

    limits = ImportLimits.from_megabytes(max_entry_mb, max_total_mb, max_entries)
    files = [Path(f) for f in files]
    qdpx = [f for f in files if f.suffix.lower() in (".qdpx", ".qde")]
    transcripts = [f for f in files if f not in qdpx]
    done: dict = {"participants": None, "projects": {}, "transcripts": [], "memos": None}
    with open_project(project) as qp, qp.transaction(who):  # everything below commits together or not at all
        if participants:
            done["participants"] = import_participants(qp, Path(participants), who=who)
        for path in qdpx:
            done["projects"][path.name] = import_qdpx_into(qp, path, who=who, limits=limits)
        if transcripts:
            done["transcripts"] = import_transcripts(qp, transcripts, who=who,
                                                     on_progress=on_transcript or (lambda _name: None))
        if memos:
            done["memos"] = import_memos(qp, Path(memos), who=who)
    return done


def qual_code(project: str | Path, table: str | Path, *, coder: str | None = None, who: str | None = None) -> int:
    """Add coded segments from a CSV (document, code, coder, and start+end or quote); returns how many."""
    from trdpath.qualitative.coding import code_from_table
    from trdpath.qualitative.store import open_project

    with open_project(project) as qp:
        return code_from_table(qp, Path(table), who=who or coder, default_coder=coder)


def qual_codebook(project: str | Path, *, load: str | Path | None = None, export: str | Path | None = None,
                  who: str | None = None, max_entry_mb: float | None = None) -> dict:
    """The codebook: merge one in (`load`: .yaml .csv .qdc), write it as REFI-QDA .qdc (`export`). Returns
    ``loaded`` (codes read, or None), ``exported`` (the path, or None), ``codebook`` (code_id, name, depth,
    definition... after the import) and ``history`` (every change to the codebook, oldest first)."""
    from trdpath.qualitative.codebook import codebook_table, import_codebook
    from trdpath.qualitative.refi import ImportLimits, export_qdc
    from trdpath.qualitative.store import codebook_history, open_project, refuse_project_as_output

    if export:
        refuse_project_as_output(project, export, "--export")
    limits = ImportLimits.from_megabytes(max_entry_mb)
    with open_project(project) as qp:
        loaded = import_codebook(qp, Path(load), who=who, limits=limits) if load else None
        if export:
            export_qdc(qp, Path(export))
        return {"loaded": loaded, "exported": Path(export) if export else None, "codebook": codebook_table(qp),
                "history": codebook_history(qp)}


def qual_agreement(project: str | Path, coders: Sequence[str] | None = None,
                   out: str | Path | None = None) -> dict[str, pd.DataFrame]:
    """Inter-coder agreement: ``by_code`` and ``by_document`` (% agreement, Cohen's kappa, Krippendorff's
    alpha) and ``disagreements``; with `out`, each also written as OUT/agreement_by_code.csv,
    agreement_by_document.csv, disagreements.csv."""
    from trdpath.qualitative.agreement import (agreement_by_code, agreement_by_document, disagreements,
                                               document_texts, segments_frame)
    from trdpath.qualitative.store import atomic_write_bytes, open_project
    from trdpath.qualitative.tables import csv_bytes

    coders = list(coders) if coders else None
    with open_project(project) as qp:
        segments = segments_frame(qp)
        frames = {"by_code": agreement_by_code(segments, coders),
                  "by_document": agreement_by_document(segments, coders),
                  "disagreements": disagreements(segments, document_texts(qp), coders)}
    if out:
        for name, frame in frames.items():
            file = "disagreements" if name == "disagreements" else f"agreement_{name}"
            atomic_write_bytes(Path(out) / f"{file}.csv", csv_bytes(frame))
    return frames


def qual_saturation(project: str | Path, coders: Sequence[str] | None = None, *, base: int = 4, run: int = 2,
                    threshold: float = 0.05, bootstrap: int = 0, seed: int = 0, level: int | None = None):
    """The code-discovery curve (a DataFrame) and Guest, Namey & Chen (2020) saturation (its result: runs,
    sentence(), bootstrap), from the coding of `coders` (default: all)."""
    from trdpath.qualitative.agreement import segments_frame
    from trdpath.qualitative.analysis import select_coders
    from trdpath.qualitative.saturation import codes_per_interview, discovery_curve, guest_saturation
    from trdpath.qualitative.store import open_project

    with open_project(project) as qp:
        interviews = codes_per_interview(select_coders(segments_frame(qp), list(coders) if coders else None),
                                         level=level)
    return discovery_curve(interviews), guest_saturation(interviews, base_size=base, run_length=run,
                                                         threshold=threshold, bootstrap=bootstrap, seed=seed)


def qual_tables(project: str | Path, out: str | Path, coders: Sequence[str] | None = None) -> list[Path]:
    """OUT/code_frequencies.csv (by participant group), co_occurrence.csv and code_by_participant.csv."""
    from trdpath.qualitative.agreement import segments_frame
    from trdpath.qualitative.analysis import co_occurrence, code_by_participant, code_frequencies
    from trdpath.qualitative.store import atomic_write_bytes, open_project
    from trdpath.qualitative.tables import csv_bytes

    coders = list(coders) if coders else None
    with open_project(project) as qp:
        segments = segments_frame(qp)
    frames = {"code_frequencies": code_frequencies(segments, coders=coders),
              "co_occurrence": co_occurrence(segments, coders=coders).reset_index(),
              "code_by_participant": code_by_participant(segments, coders=coders).reset_index()}
    return [atomic_write_bytes(Path(out) / f"{name}.csv", csv_bytes(frame)) for name, frame in frames.items()]


QUAL_REPORT_FORMATS = ("html", "docx", "md")


def qual_report(project: str | Path, out: str | Path, *, formats: Sequence[str] = QUAL_REPORT_FORMATS,
                theme_coders: Sequence[str] | None = None, agreement_coders: Sequence[str] | None = None,
                base: int = 4, run: int = 2, threshold: float = 0.05, bootstrap: int = 200,
                seed: int = 0) -> list[Path]:
    """The themes report (themes with quotes, participants, saturation curve, agreement) in `formats`."""
    from trdpath.qualitative.report import write_reports
    from trdpath.qualitative.store import open_project

    folder = Path(out).expanduser().resolve()
    if folder.name == layout.RELEASE and layout.is_result(folder.parent):
        raise UserError(f"{out} is the release folder of the classification {folder.parent}: the themes report would "
                        "replace its report.html and report.docx. Choose another folder, such as "
                        f"{folder.parent / 'qualitative'}.")
    formats = tuple(f.strip().lower() for f in formats if f.strip())
    unknown = set(formats) - set(QUAL_REPORT_FORMATS)
    if unknown:
        raise UserError(f"unknown report format(s) {', '.join(sorted(unknown))}; use html, docx, md")
    with open_project(project) as qp:
        return write_reports(qp, Path(out), formats=formats,
                             coders_for_themes=list(theme_coders) if theme_coders else None,
                             agreement_coders=list(agreement_coders) if agreement_coders else None,
                             base_size=base, run_length=run, threshold=threshold, bootstrap=bootstrap, seed=seed)


def qual_export(project: str | Path, target: str | Path, coders: Sequence[str] | None = None) -> Path:
    """Export to REFI-QDA (.qdpx project, .qdc codebook; validated against the schema) or the segments as a
    table (.csv, .xlsx)."""
    from trdpath.qualitative.refi import export_qdc, export_qdpx
    from trdpath.qualitative.store import open_project, refuse_project_as_output
    from trdpath.qualitative.tables import export_segments

    refuse_project_as_output(project, target)
    target = Path(target)
    writers = {".qdpx": lambda qp: export_qdpx(qp, target), ".qdc": lambda qp: export_qdc(qp, target),
               ".csv": lambda qp: export_segments(qp, target, list(coders) if coders else None)}
    writers[".xlsx"] = writers[".csv"]
    write = writers.get(target.suffix.lower())
    if write is None:  # refused before the project is opened
        raise UserError(f"{target}: export as .qdpx, .qdc, .csv or .xlsx")
    with open_project(project) as qp:
        write(qp)
    return target


def qual_merge(project: str | Path, other: str | Path, who: str | None = None) -> dict[str, int]:
    """Merge another coder's project into this one (documents by name, codes by path); returns the counts."""
    from trdpath.qualitative.merge import merge_project
    from trdpath.qualitative.store import open_project

    with open_project(project) as qp:
        return merge_project(qp, other, who=who)


def qual_account(project: str | Path, name: str, password: str, *, role: str = "coder", reset: bool = False,
                 who: str | None = None) -> None:
    """Add an account for `qual serve` (or, with `reset`, set an existing account's password); the password
    is stored as an argon2id hash."""
    from trdpath.qualitative.store import open_project
    from trdpath.qualitative.team import add_account, set_password

    with open_project(project) as opened:
        if reset:
            set_password(opened, name, password, who=who)
        else:
            add_account(opened, name, password, role, who=who)


def qual_coding_app(project: str | Path, *, host: str = "127.0.0.1", results: str | Path | None = None,
                    https: bool = False):
    """The browser coding app (an ASGI app) over an open project; refused without a lead account. The
    caller serves it (`trdpath qual serve` runs uvicorn) and the project stays open while it runs."""
    from trdpath.qualitative.store import open_project
    from trdpath.qualitative.team import accounts_table
    from trdpath.serve.coding import create_coding_app

    opened = open_project(project)
    if not any(a["role"] == "lead" for a in accounts_table(opened)):
        opened.close()
        raise UserError(f"{mask_credentials(project)} has no lead account yet: add one with "
                        f"`trdpath qual account {project} NAME --role lead`")
    local = host in ("127.0.0.1", "localhost", "::1")
    hosts = ("127.0.0.1", "localhost") if local else ("127.0.0.1", "localhost", host)
    return create_coding_app(opened, results=Path(results) if results else None, allowed_hosts=hosts, https=https)
