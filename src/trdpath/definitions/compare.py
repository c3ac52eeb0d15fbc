"""`trdpath compare`: every chosen definition side by side on the same patients, in one pass.

The extract is classified once (the study cohort, eras, adequate trials and episodes, exactly as
`trdpath classify`), and every definition is then evaluated in the engine from those same stages
(definitions/engine.py). Outputs (the interface of docs/definitions.md):

- patient-level (never leaves the secure environment): ``OUT/definitions/patients.csv`` (per patient:
  ``<id>__trd``, ``<id>__date``, ``<id>__stage``) and ``OUT/definitions/why.csv`` (each drug counted or
  not, and why);
- publishable, disclosure-controlled: ``OUT/release/definitions/prevalence.csv`` and ``agreement.csv``
  (counts 1 to min_count-1 hidden, others rounded, as everywhere in the report; stats/disclosure.py).
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import ibis
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from trdpath import backends
from trdpath.config import DisclosureSection, StudyConfig
from trdpath.definitions.engine import Evaluator, Stages
from trdpath.definitions.model import Definition
from trdpath.definitions.params import Resolved, resolve
from trdpath.pipeline import Classification, Progress, classify_extract
from trdpath.safety import neutralise_arrow, neutralise_frame
from trdpath.stats.disclosure import SUPPRESSED, round_count, small_label, suppression_pattern

# Where the files go inside OUT (one place, so the results layout can be re-pointed at merge time).
PATIENT_LEVEL_DIR = Path("definitions")
RELEASE_DIR = Path("release") / "definitions"
WHY_COLUMNS = ["patient_id", "definition", "drug", "start_date", "end_date", "counted", "reason"]


@dataclass
class Comparison:
    patients: pa.Table  # patient_id, <id>__trd, <id>__date, <id>__stage
    why: pa.Table
    definitions: list[Resolved]
    classification: Classification

    @property
    def patients_frame(self) -> pd.DataFrame:
        return self.patients.to_pandas()


def compare_extract(con, extract, definitions: list[Definition], config: StudyConfig,
                    index_date: dt.date | None = None, progress: Progress | None = None) -> Comparison:
    """Classify once, then evaluate every definition from the same stages."""
    held: dict = {}
    classification = classify_extract(con, extract, config, index_date, progress, on_stages=held.update)
    resolved = [resolve(d, config) for d in definitions]
    (progress or (lambda _s: None))("Evaluating the definitions")
    evaluator = Evaluator(Stages.from_hook(held), config)
    keyed = held["keyed"].select("patient_id", "pkey")
    wide = keyed
    whys = []
    for number, r in enumerate(resolved):
        out, why = evaluator.evaluate(r)
        # Each definition is materialised on its own: one query holding all twelve is a plan that
        # Spark's optimiser takes minutes over, and the per-definition tables are small.
        out = out.rename({f"_d{number}": "day", f"_s{number}": "stage", f"_c{number}": "score"}).cache()
        wide = wide.left_join(out, "pkey").drop("pkey_right")
        whys.append(why.mutate(_def=ibis.literal(number, "int32")).cache())
    wide = wide.order_by("patient_id")
    fetched = con.to_pyarrow(wide) if con.name != "duckdb" else con._to_duckdb_relation(wide).to_arrow_reader(1_000_000).read_all()
    why = whys[0] if len(whys) == 1 else whys[0].union(*whys[1:])
    why = why.join(keyed, "pkey").join(evaluator.names_t, why.ingredient_id == evaluator.names_t._nid)
    # Ordered on integers only (patient in extract order, definition, start, drug): sorting ~20M rows
    # of a national extract on the identifier text would cost more than evaluating the definitions.
    why = why.order_by(["pkey", "_def", "start", "ingredient_id"]).select(
        "patient_id", "_def", "drug", "start", "end", "counted", "reason")
    why_table = con.to_pyarrow(why) if con.name != "duckdb" else con._to_duckdb_relation(why).to_arrow_reader(1_000_000).read_all()
    patients, why_table = _finish(fetched, why_table, classification, resolved)
    return Comparison(patients, why_table, resolved, classification)


def _population(classification: Classification, r: Resolved) -> pa.Array:
    """The definition's population: the study cohort, narrowed by the definition's own ages."""
    table = classification.table
    mask = pc.fill_null(table["in_cohort"], False)
    age = table["age"]
    if r.min_age is not None:
        mask = pc.and_(mask, pc.fill_null(pc.greater_equal(age, r.min_age), True))
    if r.max_age is not None:
        mask = pc.and_(mask, pc.fill_null(pc.less_equal(age, r.max_age), True))
    return mask


def _score_text(scores: pa.ChunkedArray) -> pa.ChunkedArray:
    """Scores as text like params.format_score: whole numbers without a decimal point ('4'), halves as '3.5'."""
    whole = pc.equal(scores, pc.floor(scores))
    return pc.if_else(whole, pc.cast(pc.cast(pc.floor(scores), pa.int64()), pa.string()), pc.cast(scores, pa.string()))


def _finish(fetched: pa.Table, why: pa.Table, classification: Classification, resolved: list[Resolved]):
    ids = classification.table["patient_id"]
    if not fetched["patient_id"].equals(ids):  # both ordered by patient_id over the same patients
        fetched = fetched.sort_by("patient_id")
        if not fetched["patient_id"].equals(ids):
            raise RuntimeError("the definitions and the classification hold different patients")
    columns = {"patient_id": ids}
    why_keep = []
    for number, r in enumerate(resolved):
        inside = _population(classification, r)
        day = pc.cast(fetched[f"_d{number}"], pa.int64())
        trd = pc.if_else(inside, pc.is_valid(day), pa.scalar(None, pa.bool_()))
        date = pc.if_else(inside, pc.cast(pc.cast(day, pa.int32()), pa.date32()), pa.scalar(None, pa.date32()))
        columns[f"{r.id}__trd"] = trd
        columns[f"{r.id}__date"] = date
        if r.definition.has_stage:
            if r.definition.stage.kind == "score":
                stage = _score_text(pc.cast(fetched[f"_c{number}"], pa.float64()))
            else:
                stage = pc.cast(fetched[f"_s{number}"], pa.string())
            columns[f"{r.id}__stage"] = pc.if_else(inside, stage, pa.scalar(None, pa.string()))
        members = pc.filter(ids, inside)
        mine = why.filter(pc.equal(why["_def"], number))
        why_keep.append(mine.filter(pc.is_in(mine["patient_id"], value_set=members)))
    patients = pa.table(columns)
    why = pa.concat_tables(why_keep) if why_keep else why
    names = pa.array([r.id for r in resolved], pa.string())
    why = pa.table({
        "patient_id": why["patient_id"],
        "definition": pc.take(names, pc.cast(why["_def"], pa.int32())),
        "drug": why["drug"],
        "start_date": pc.cast(pc.cast(why["start"], pa.int32()), pa.date32()),
        "end_date": pc.cast(pc.cast(why["end"], pa.int32()), pa.date32()),
        "counted": pc.cast(why["counted"], pa.bool_()),
        "reason": why["reason"],
    })
    return patients, why


# -- prevalence and agreement ---------------------------------------------------------------------

def prevalence_counts(comparison: Comparison) -> pd.DataFrame:
    """True counts: definition, population_n, trd_n, trd_pct (for the tests and the report; never written)."""
    rows = []
    for r in comparison.definitions:
        trd = comparison.patients[f"{r.id}__trd"]
        population = trd.length() - trd.null_count
        n = int(pc.sum(pc.fill_null(trd, False)).as_py() or 0)
        rows.append((r.id, population, n, 100.0 * n / population if population else math.nan))
    return pd.DataFrame(rows, columns=["definition", "population_n", "trd_n", "trd_pct"])


def cohen_kappa(both: int, a_only: int, b_only: int, neither: int) -> float:
    """Cohen's kappa of two yes/no ratings from their 2 x 2 table (Cohen 1960): (po - pe) / (1 - pe)."""
    n = both + a_only + b_only + neither
    if n == 0:
        return math.nan
    po = (both + neither) / n
    pe = ((both + a_only) * (both + b_only) + (b_only + neither) * (a_only + neither)) / (n * n)
    return math.nan if pe == 1 else (po - pe) / (1 - pe)


def agreement_counts(comparison: Comparison) -> pd.DataFrame:
    """True counts for each pair of definitions, over patients in both populations."""
    rows = []
    columns = {r.id: comparison.patients[f"{r.id}__trd"] for r in comparison.definitions}
    valid = {k: pc.is_valid(v).to_numpy(zero_copy_only=False) for k, v in columns.items()}
    value = {k: pc.fill_null(v, False).to_numpy(zero_copy_only=False) for k, v in columns.items()}
    for a, b in itertools.combinations(list(columns), 2):
        both_in = valid[a] & valid[b]
        xa, ya = value[a][both_in], value[b][both_in]
        both, a_only, b_only = int((xa & ya).sum()), int((xa & ~ya).sum()), int((~xa & ya).sum())
        neither = int(both_in.sum()) - both - a_only - b_only
        rows.append((a, b, int(both_in.sum()), both, a_only, b_only, neither, cohen_kappa(both, a_only, b_only, neither)))
    return pd.DataFrame(rows, columns=["definition_a", "definition_b", "n", "both", "a_only", "b_only", "neither", "kappa"])


def protect_prevalence(table: pd.DataFrame, settings: DisclosureSection) -> pd.DataFrame:
    """Counts 1..min_count-1 as '<min_count', others rounded; the percentage from the rounded counts."""
    if not settings.enabled:
        return table
    small = small_label(settings)
    out = []
    for row in table.itertuples(index=False):
        pop, trd = int(row.population_n), int(row.trd_n)
        # TRD and non-TRD add up to the population: hide both when either is small (else subtraction recovers it).
        pattern = suppression_pattern({"trd": trd, "other": pop - trd}, [["trd", "other"]], settings.min_count)
        pop_shown = small if 0 < pop < settings.min_count else round_count(pop, settings.rounding)
        trd_shown = small if pattern.get("trd") == "primary" else (SUPPRESSED if "trd" in pattern else round_count(trd, settings.rounding))
        if isinstance(pop_shown, str) or isinstance(trd_shown, str) or not round_count(pop, settings.rounding):
            pct = SUPPRESSED if pop else math.nan
        else:
            pct = round(100.0 * trd_shown / pop_shown, 1)
        out.append((row.definition, pop_shown, trd_shown, pct))
    return pd.DataFrame(out, columns=list(table.columns))


def protect_agreement(table: pd.DataFrame, settings: DisclosureSection) -> pd.DataFrame:
    """The four cells add up to n and, by pairs, to each definition's TRD and non-TRD counts: small
    cells are hidden with enough others (secondary suppression) that none can be recovered; kappa
    is hidden when it uses a hidden cell."""
    if not settings.enabled:
        return table
    small = small_label(settings)
    cells = ["both", "a_only", "b_only", "neither"]
    groups = [cells, ["both", "a_only"], ["both", "b_only"], ["b_only", "neither"], ["a_only", "neither"]]
    out = []
    for row in table.to_dict("records"):
        pattern = suppression_pattern({c: int(row[c]) for c in cells}, groups, settings.min_count)
        shown = dict(row)
        n = int(row["n"])
        shown["n"] = small if 0 < n < settings.min_count else round_count(n, settings.rounding)
        for c in cells:
            state = pattern.get(c)
            shown[c] = small if state == "primary" else SUPPRESSED if state else round_count(int(row[c]), settings.rounding)
        if pattern or isinstance(shown["n"], str):
            shown["kappa"] = SUPPRESSED
        elif not math.isnan(row["kappa"]):
            shown["kappa"] = round(float(row["kappa"]), 3)
        out.append(shown)
    return pd.DataFrame(out, columns=list(table.columns))


# -- writing -----------------------------------------------------------------------------------

def write_comparison(comparison: Comparison, out: Path, settings: DisclosureSection) -> dict[str, Path]:
    """The four files, each folder written beside its target and moved in whole (no half-written output)."""
    from trdpath.output import _write_csv

    out = Path(out)
    targets = {"patient": out / PATIENT_LEVEL_DIR, "release": out / RELEASE_DIR}
    staged = {}
    try:
        for key, target in targets.items():
            target.parent.mkdir(parents=True, exist_ok=True)
            staged[key] = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
        _write_csv(neutralise_arrow(comparison.patients), staged["patient"] / "patients.csv")
        _write_csv(neutralise_arrow(comparison.why), staged["patient"] / "why.csv")
        prevalence = protect_prevalence(prevalence_counts(comparison), settings)
        neutralise_frame(prevalence).to_csv(staged["release"] / "prevalence.csv", index=False)
        agreement = protect_agreement(agreement_counts(comparison), settings)
        neutralise_frame(agreement).to_csv(staged["release"] / "agreement.csv", index=False)
        from trdpath.definitions.report import section_html

        (staged["release"] / "section.html").write_text(section_html(comparison, prevalence, agreement, settings), encoding="utf-8")
        for key, target in targets.items():
            if target.exists():
                shutil.rmtree(target)
            os.replace(staged[key], target)
    finally:
        for folder in staged.values():
            shutil.rmtree(folder, ignore_errors=True)
    return {"patients": targets["patient"] / "patients.csv", "why": targets["patient"] / "why.csv",
            "prevalence": targets["release"] / "prevalence.csv", "agreement": targets["release"] / "agreement.csv"}


def compare_tables(tables, definitions: list[Definition], config: StudyConfig | None = None,
                   index_date: dt.date | None = None, backend: str = "duckdb") -> Comparison:
    """In-memory tables (the data contract's raw columns) on `backend`: what the tests call."""
    from trdpath.api import _move_to_backend, _with_row_numbers
    from trdpath.sources.validate import validate_extract

    config = config or StudyConfig()
    duck = backends.connect("duckdb", engine=config.engine)
    raw = {name: duck.create_table(f"raw_{name}", _with_row_numbers(frame), temp=True) for name, frame in tables.items()}
    extract = validate_extract(duck, raw, {name: f"{name} table" for name in tables}, source="in-memory tables")
    if backend == "duckdb":
        return compare_extract(duck, extract, definitions, config, index_date)
    con, moved = _move_to_backend(duck, extract, backend, config)
    return compare_extract(con, moved, definitions, config, index_date)


def compare(data: str | Path, out: str | Path, definitions: list[Definition], config: StudyConfig | None = None,
            index_date: dt.date | None = None, progress: Progress | None = None,
            backend: str | None = None) -> Comparison:
    """Read an extract (any location `trdpath classify` reads), compare the definitions, write the files."""
    from trdpath.api import _move_to_backend
    from trdpath.sources.flat import read_flat_folder, read_flat_location
    from trdpath.sources.omop import read_omop_location
    from trdpath.sources.validate import validate_extract

    config = config or StudyConfig()
    location = backends.backend_from_url(str(data))
    backend = backend or config.engine.backend
    work = Path(tempfile.mkdtemp(prefix="trdpath-engine-"))
    try:
        if location.format == "omop":
            con, extract = read_omop_location(location, config)
        elif location.path is None:
            con, extract = read_flat_location(location, config)
        else:
            con = backends.connect("duckdb", url=str(work / "engine.duckdb"), engine=config.engine)
            if not config.engine.temp_directory:
                con.raw_sql(f"SET temp_directory = '{work / 'spill'}'")
            raw, files = read_flat_folder(con, location.path)
            extract = validate_extract(con, raw, {k: str(v) for k, v in files.items()}, source=f"flat:{location.path}")
            if backend != "duckdb":
                con, extract = _move_to_backend(con, extract, backend, config)
        result = compare_extract(con, extract, definitions, config, index_date, progress)
        write_comparison(result, Path(out), config.disclosure)
        return result
    finally:
        shutil.rmtree(work, ignore_errors=True)
