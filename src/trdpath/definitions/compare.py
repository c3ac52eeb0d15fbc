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
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from trdpath import atomic, engines
from trdpath.config import DisclosureSection, StudyConfig
from trdpath.errors import UserError
from trdpath.definitions.engine import Evaluator, Stages, why_text
from trdpath.definitions.model import Definition
from trdpath.definitions.params import Resolved, resolve
from trdpath.pipeline import Classification, Progress, classify_extract
from trdpath.safety import neutralise_arrow
# The two tables' counts and protection live in definitions.tables (re-exported: callers import them from here).
from trdpath.definitions.tables import (agreement_counts, cohen_kappa, prevalence_counts,  # noqa: F401
                                       protect_agreement, protect_prevalence)

# Where the files go inside OUT (one place, so the results layout can be re-pointed at merge time).
PATIENT_LEVEL_DIR = Path("definitions")
RELEASE_DIR = Path("release") / "definitions"
WHY_COLUMNS = ["patient_id", "definition", "drug", "start_date", "end_date", "counted", "reason"]


@dataclass
class Comparison:
    patients: pa.Table  # patient_id, <id>__trd, <id>__date, <id>__stage
    _why: pa.Table | None  # why.csv's rows, decoded to text (from why_source when first asked for)
    definitions: list[Resolved]
    classification: Classification
    dial: pd.DataFrame | None = None  # true counts of the definition dial (compare --dial), never written as they are
    why_source: WhySource | None = None  # why.csv's rows, fetched definition by definition (see WhySource)

    @property
    def compact_why(self) -> pa.Table | None:
        """why.csv's rows with dictionary columns, all definitions at once (the tests'; compare streams them)."""
        return None if self.why_source is None else self.why_source.table()

    @property
    def why(self) -> pa.Table:
        if self._why is None:
            self._why = _decoded(self.compact_why) if self.why_source is not None else WHY_SCHEMA.empty_table()
        return self._why

    def write_why(self, path: Path) -> None:
        if self.why_source is not None:
            self.why_source.write(path)
        else:
            from trdpath.output import write_csv

            write_csv(_neutralised(self._why if self._why is not None else WHY_SCHEMA.empty_table()), path)

    @property
    def patients_frame(self) -> pd.DataFrame:
        return self.patients.to_pandas()


WHY_MODES = ("all", "trd", "none")


def compare_extract(con, extract, definitions: list[Definition], config: StudyConfig,
                    index_date: dt.date | None = None, progress: Progress | None = None,
                    why: str = "all") -> Comparison:
    """Classify once, then evaluate every definition from the same stages.

    `why`: which patients get why.csv rows: "all" (everyone in the definition's population), "trd"
    (those it calls TRD) or "none" (an empty why.csv: at national scale the full trace is tens of
    millions of rows)."""
    if why not in WHY_MODES:
        raise UserError(f"--why must be one of {', '.join(WHY_MODES)} (got {why!r}).")
    held: dict = {}
    classification = classify_extract(con, extract, config, index_date, progress, on_stages=held.update)
    (progress or (lambda _s: None))("Evaluating the definitions")
    return evaluate_definitions(con, classification, Evaluator(Stages.from_hook(held), config), definitions, config, why)


def evaluate_definitions(con, classification: Classification, evaluator: Evaluator, definitions: list[Definition],
                         config: StudyConfig, why: str = "none") -> Comparison:
    """Every definition from the evaluator's stages in ONE query (their verdicts side by side), the
    population from `classification`; why.csv's traces are planned here and fetched when written."""
    resolved = [resolve(d, config) for d in definitions]
    evaluator.plan(resolved)
    wide_ok = engines.capabilities(con).wide_queries
    wide = base = evaluator.s.keyed.select("patient_id", "pkey")
    columns = ["patient_id", "pkey"]
    whys = []
    for number, r in enumerate(resolved):
        out, trace = evaluator.evaluate(r, with_why=why != "none")
        # Spark: each definition materialised on its own (one query holding all twelve is a plan its
        # optimiser takes minutes over). DuckDB plans the one wide query at once, saving twelve tables.
        if not wide_ok or why == "trd":
            out = out.cache()
        named = out.rename({f"_k{number}": "pkey", f"_d{number}": "day", f"_s{number}": "stage", f"_c{number}": "score"})
        # one chain of joins (one SELECT), not twelve nested ones: cheaper to compile and to plan
        wide = wide.left_join(named, base.pkey == named[f"_k{number}"])
        columns += [f"_d{number}", f"_s{number}", f"_c{number}"]
        if trace is not None:
            if why == "trd":
                trace = trace.semi_join(out.filter(out.day.notnull()), "pkey")
            whys.append((number, trace))
    fetched = _in_order_of(_fetch(con, wide.select(columns)), classification.table["patient_id"])
    patients, masks = _finish(fetched, classification, resolved)
    source = WhySource(con, whys, fetched.select(["patient_id", "pkey"]), masks, resolved, evaluator) if whys else None
    return Comparison(patients, None, resolved, classification, why_source=source)


def _in_order_of(fetched: pa.Table, ids: pa.ChunkedArray) -> pa.Table:
    """The fetched rows in the classification's order, matched by a hash lookup of the patient ids (no
    sort of identifier text in the engine: 0.4 s CPU of the wide query at 200k patients)."""
    where = pc.index_in(ids, value_set=fetched["patient_id"])
    if fetched.num_rows != len(ids) or where.null_count:
        raise RuntimeError("the definitions and the classification hold different patients")
    return fetched.take(where)


def _fetch(con, expr) -> pa.Table:
    return engines.fetch_arrow(con, expr)  # DuckDB: streamed in batches


WHY_SCHEMA = pa.schema([("patient_id", pa.string()), ("definition", pa.string()), ("drug", pa.string()),
                        ("start_date", pa.date32()), ("end_date", pa.date32()), ("counted", pa.bool_()),
                        ("reason", pa.string())])


class WhySource:
    """why.csv's rows, one engine query per definition, ordered (patient in extract order, start, drug) on
    integers only: sorting tens of millions of rows on the identifier text would cost more than evaluating
    the definitions. Written definition by definition (rows in definition order, as listed), so memory
    holds one definition's trace, not all twelve (26.9M rows at 1M patients). Patient ids, definitions,
    drug names and reasons are dictionary columns (an index into the ids, names and texts, no copy of a
    string per row; each text neutralised once); rows outside the definition's population are dropped."""

    def __init__(self, con, traces: list, keys: pa.Table, masks: list[np.ndarray], resolved: list[Resolved], evaluator):
        self.con, self.traces, self.masks, self.resolved, self.evaluator = con, traces, masks, resolved, evaluator
        self.ids = keys["patient_id"].combine_chunks()
        pkeys = pc.cast(keys["pkey"], pa.int64()).to_numpy()
        self.row_of = np.full(int(pkeys.max()) + 1 if len(pkeys) else 1, -1, np.int64)
        self.row_of[pkeys] = np.arange(len(pkeys))
        self.definition_ids = pa.array([r.id for r in resolved], pa.string())
        names = evaluator.names
        self.names = pa.array([names.get(i) for i in range(max(names) + 1 if names else 0)], pa.string())
        self._table: pa.Table | None = None

    def parts(self, neutralised: bool = False):
        """One table per definition (dictionary columns), in definition order."""
        ids, names, definition_ids = self.ids, self.names, self.definition_ids
        if neutralised:
            ids, names, definition_ids = (_neutral_texts(a) for a in (ids, names, definition_ids))
        for number, trace in self.traces:
            yield self._decode(_fetch(self.con, trace.order_by(["pkey", "start", "ingredient_id"])), number,
                               ids, names, definition_ids, neutralised)

    def _decode(self, t: pa.Table, number: int, ids, names, definition_ids, neutralised: bool) -> pa.Table:
        # numpy columns, filtered by numpy (Arrow's filter of a table fetched in many small batches is slower)
        t = t.combine_chunks()
        column = {name: pc.cast(t[name], pa.int64()).to_numpy() for name in ("pkey", "ingredient_id", "start", "end", "code")}
        rows = self.row_of[column["pkey"]]
        keep = self.masks[number][rows]  # inside the definition's population
        rows, codes = rows[keep], column["code"][keep]
        # one reason per code of this definition: the dictionary of texts and each row's index into it
        low = int(codes.min()) if len(codes) else 0
        seen = np.zeros(int(codes.max()) - low + 1 if len(codes) else 1, bool)
        seen[codes - low] = True  # a lookup, not a sort: a definition has a few codes
        present, reason_index = np.flatnonzero(seen) + low, (np.cumsum(seen) - 1)[codes - low]
        texts = pa.array([why_text(int(c), self.resolved[number]) for c in present], pa.string())
        if neutralised:
            texts = _neutral_texts(texts)
        return pa.table({
            "patient_id": pa.DictionaryArray.from_arrays(pa.array(rows.astype(np.int32)), ids),
            "definition": pa.DictionaryArray.from_arrays(pa.array(np.full(len(rows), number, np.int32)), definition_ids),
            "drug": pa.DictionaryArray.from_arrays(pa.array(column["ingredient_id"][keep].astype(np.int32)), names),
            "start_date": pa.array(column["start"][keep].astype(np.int32)).cast(pa.date32()),
            "end_date": pa.array(column["end"][keep].astype(np.int32)).cast(pa.date32()),
            "counted": pa.array(codes > 0),
            "reason": pa.DictionaryArray.from_arrays(pa.array(reason_index.reshape(-1).astype(np.int32)), texts),
        })

    def table(self) -> pa.Table:
        if self._table is None:
            self._table = pa.concat_tables(list(self.parts())) if self.traces else _empty_compact()
        return self._table

    def write(self, path: Path) -> None:
        """why.csv, one definition at a time (trdpath.output.write_csv's format: Arrow's writer, quotes
        only where a value needs them; when one does, the whole file is written again by that function)."""
        from pyarrow import csv as pa_csv

        from trdpath.output import write_csv

        try:
            with open(path, "wb") as sink:
                sink.write((",".join(WHY_COLUMNS) + "\n").encode())
                options = pa_csv.WriteOptions(include_header=False, quoting_style="none")
                for part in self.parts(neutralised=True):
                    pa_csv.write_csv(part, sink, options)
        except pa.ArrowInvalid:  # a text needs quotes (a comma in an identifier): the writer that quotes it
            write_csv(_neutralised(self.table()), path)


def _empty_compact() -> pa.Table:
    return WHY_SCHEMA.empty_table()


def _neutral_texts(values: pa.Array) -> pa.Array:
    """A dictionary's texts through neutralise_arrow (trdpath.safety), once each."""
    return neutralise_arrow(pa.table({"v": values})).column(0).combine_chunks()


def _decoded(table: pa.Table) -> pa.Table:
    """Dictionary columns as plain text (the schema of why.csv)."""
    return pa.table([pc.cast(c, pa.string()) if pa.types.is_dictionary(c.type) else c for c in table.columns],
                    schema=WHY_SCHEMA)


def _neutralised(table: pa.Table) -> pa.Table:
    """neutralise_arrow for a table with dictionary columns: each dictionary's texts once, not each row."""
    for i, field in enumerate(table.schema):
        if pa.types.is_dictionary(field.type):
            chunks = [pa.DictionaryArray.from_arrays(c.indices, _neutral_texts(c.dictionary)) for c in table.column(i).chunks]
            table = table.set_column(i, field.name, pa.chunked_array(chunks, field.type))
    return neutralise_arrow(table)


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


def _finish(fetched: pa.Table, classification: Classification, resolved: list[Resolved]):
    """patients.csv's table, and each definition's population as a boolean mask over its rows."""
    ids = classification.table["patient_id"]
    if not fetched["patient_id"].equals(ids):  # both ordered by patient_id over the same patients
        raise RuntimeError("the definitions and the classification hold different patients")
    columns = {"patient_id": ids}
    masks = []
    for number, r in enumerate(resolved):
        inside = _population(classification, r)
        masks.append(inside.to_numpy(zero_copy_only=False) if isinstance(inside, pa.Array)
                     else inside.combine_chunks().to_numpy(zero_copy_only=False))
        day = pc.cast(fetched[f"_d{number}"], pa.int64())
        columns[f"{r.id}__trd"] = pc.if_else(inside, pc.is_valid(day), pa.scalar(None, pa.bool_()))
        columns[f"{r.id}__date"] = pc.if_else(inside, pc.cast(pc.cast(day, pa.int32()), pa.date32()), pa.scalar(None, pa.date32()))
        if r.definition.has_stage:
            if r.definition.stage.kind == "score":
                stage = _score_text(pc.cast(fetched[f"_c{number}"], pa.float64()))
            else:
                stage = pc.cast(fetched[f"_s{number}"], pa.string())
            columns[f"{r.id}__stage"] = pc.if_else(inside, stage, pa.scalar(None, pa.string()))
    return pa.table(columns), masks


# -- writing -----------------------------------------------------------------------------------

def write_comparison(comparison: Comparison, out: Path, settings: DisclosureSection) -> dict[str, Path]:
    """The files, each folder staged beside its target and swapped in whole by trdpath.atomic (no half-written output)."""
    from trdpath.output import write_csv

    out = Path(out)
    targets = {"patient": out / PATIENT_LEVEL_DIR, "release": out / RELEASE_DIR}
    with atomic.replace_folder(targets["patient"]) as patient_dir, atomic.replace_folder(targets["release"]) as release_dir:
        write_csv(neutralise_arrow(comparison.patients), patient_dir / "patients.csv")
        comparison.write_why(patient_dir / "why.csv")
        # The true counts stay in the patient-level folder for the report's whole-release audit; the release
        # copy is audited over the atlas's own counts (definitions.audit).
        from trdpath.definitions import audit as definitions_audit

        blocks = [list(b) for b in comparison.classification.config.analysis.regression_blocks]
        counts = definitions_audit.counts_of(comparison, blocks)
        definitions_audit.save(counts, patient_dir)
        if not definitions_audit.report_rewrites(out):  # else the report writes it (trdpath.api.compare runs it next)
            definitions_audit.write_release(counts, definitions_audit.protect_alone(counts, settings), settings, release_dir)
    return {"patients": targets["patient"] / "patients.csv", "why": targets["patient"] / "why.csv",
            "prevalence": targets["release"] / "prevalence.csv", "agreement": targets["release"] / "agreement.csv"}


def compare_tables(tables, definitions: list[Definition], config: StudyConfig | None = None,
                   index_date: dt.date | None = None, backend: str = "duckdb", why: str = "all") -> Comparison:
    """In-memory tables (the data contract's raw columns) on `backend`: what the tests call."""
    from trdpath.sources.open import open_tables

    config = config or StudyConfig()
    con, extract = open_tables(tables, config, backend)
    return compare_extract(con, extract, definitions, config, index_date, why=why)


def compare(data: str | Path, out: str | Path, definitions: list[Definition], config: StudyConfig | None = None,
            index_date: dt.date | None = None, progress: Progress | None = None,
            backend: str | None = None, why: str = "all", dial: bool = False) -> Comparison:
    """Read an extract (any location `trdpath classify` reads), compare the definitions, write the files.
    `dial`: also the definition dial (definitions/dial.py: three more classifications of the extract)."""
    from trdpath.sources.open import open_source as opened_extract

    config = config or StudyConfig()
    with opened_extract(data, config, backend) as (con, extract):
        result = compare_extract(con, extract, definitions, config, index_date, progress, why)
        if dial:
            from trdpath.definitions.dial import dial_counts

            (progress or (lambda _s: None))("The definition dial")
            result.dial = dial_counts(con, extract, config, index_date, compare_extract, evaluate_definitions,
                                      result.classification)
        write_comparison(result, Path(out), config.disclosure)
    # Into a results folder with a report, the caller (trdpath.api.compare) re-runs the report, which protects
    # the atlas with the whole release (one audit); write_comparison leaves release/definitions/ to it.
    return result
