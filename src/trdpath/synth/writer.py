"""Write a synthetic extract: the raw tables of data-contract.md, streamed chunk by chunk.

Layout of ``out_dir`` (written into a temporary sibling folder and renamed at the end):

- CSV: ``patients.csv``, ``diagnoses.csv``, ``prescriptions.csv``, ``referrals.csv``, ``notes.csv``.
- Parquet: ``NAME.parquet`` when the run fits in one chunk, else a folder ``NAME/`` of
  ``part-00000.parquet``, ``part-00001.parquet`` ... (one part per chunk; read the folder as one
  table, e.g. DuckDB ``read_parquet('NAME/*.parquet')`` or ``pandas.read_parquet('NAME')``).
- ``notes_truth.csv``: what each patient's notes really say (from ``trdpath.nlp.synthetic``).
- ``synth_truth.csv``: the generator's latent truth per patient (intended exclusion reason, TRD,
  resistance level, antidepressants in the current episode) for checking a classifier.
- ``synth.json``: seed, size, format, row counts.

Patients are generated in fixed blocks of ``BLOCK_SIZE`` with one random stream per block, so the
same seed gives the same rows whatever ``chunk_size`` is (``chunk_size`` is rounded up to whole
blocks) and memory depends on the chunk, not on the number of patients.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from trdpath.atomic import replace_folder
from trdpath.config import StudyConfig
from trdpath.errors import UserError
from trdpath.synth import calibration as cal
from trdpath.synth.block import BLOCK_SIZE, EMPTY, LEVEL_NAMES, STATUSES, VOCAB, generate_block
from trdpath.synth.catalogue import Catalogue, build_catalogue

TABLES = ("patients", "diagnoses", "prescriptions", "referrals", "notes")
_EPOCH = dt.date(1970, 1, 1)

SCHEMAS = {
    "patients": pa.schema([("patient_id", pa.string()), ("birth_date", pa.date32()), ("sex", pa.string()),
                           ("ethnicity", pa.string()), ("employment_status", pa.string()),
                           ("death_date", pa.date32())]),
    "diagnoses": pa.schema([("patient_id", pa.string()), ("code", pa.string()), ("date", pa.date32())]),
    "prescriptions": pa.schema([("patient_id", pa.string()), ("drug", pa.string()), ("start_date", pa.date32()),
                                ("end_date", pa.date32()), ("days_supply", pa.int64()),
                                ("daily_dose_mg", pa.float64()), ("atc_code", pa.string())]),
    "referrals": pa.schema([("patient_id", pa.string()), ("service", pa.string()), ("date", pa.date32()),
                            ("service_category", pa.string())]),
    "notes": pa.schema([("patient_id", pa.string()), ("note_id", pa.string()), ("date", pa.date32()),
                        ("text", pa.string())]),
}
TRUTH_SCHEMA = pa.schema([
    ("patient_id", pa.string()), ("intended_exclusion_reason", pa.string()), ("intended_trd", pa.bool_()),
    ("intended_resistance_level", pa.string()), ("intended_n_antidepressants", pa.int64()),
    ("intended_episode_start", pa.date32()), ("notes_self_harm", pa.bool_()), ("coded_self_harm", pa.bool_()),
])


def _day(date_text: str) -> int:
    return (dt.date.fromisoformat(date_text) - _EPOCH).days


def _dates(days: np.ndarray, missing: np.ndarray | None = None) -> pa.Array:
    return pa.array(np.asarray(days, dtype=np.int32), type=pa.date32(), mask=missing)


def _make_notes():
    """trdpath.nlp.synthetic.make_notes, or None while that module is not available."""
    try:
        from trdpath.nlp.synthetic import make_notes
    except ImportError:
        return None
    return make_notes


class _Context:
    def __init__(self, cat: Catalogue, width: int):
        self.cat = cat
        self.width = width
        self.drug_text = pa.array(cat.drug_text, pa.string())
        self.atc = pa.array(cat.atc, pa.string())
        self._vocab = pa.array([], pa.string())

    def vocabulary(self) -> pa.Array:
        """The generator's string vocabulary as Arrow (rebuilt only when it has grown)."""
        if len(self._vocab) != len(VOCAB.strings):
            self._vocab = pa.array(VOCAB.strings, pa.string())
        return self._vocab


def _block_tables(ctx: _Context, seed: int, block: int, first: int, n: int, extract_day: int, with_notes: bool):
    rng = np.random.default_rng(np.random.SeedSequence([seed, block]))
    truth, t = generate_block(rng, first, n, ctx.cat, extract_day)
    # 'P' + zero-padded number, built by Arrow (no per-patient Python).
    numbers = pc.cast(pa.array(np.arange(first, first + n, dtype=np.int64)), pa.string())
    id_arr = pc.binary_join_element_wise("P", pc.utf8_lpad(numbers, ctx.width, "0"), "")
    ids = id_arr.to_numpy(zero_copy_only=False)
    vocab = ctx.vocabulary()

    def pid(a):
        return id_arr.take(pa.array(a, pa.int64()))

    def text(a, empty_as_null=False):
        arr = pa.array(a, pa.int64())
        out = vocab.take(arr)
        if empty_as_null:
            out = pc.if_else(pc.equal(arr, EMPTY), pa.scalar(None, pa.string()), out)
        return out

    p = t["patients"]
    out = {
        "patients": pa.table([id_arr, _dates(p["birth_date"]), text(p["sex"]), text(p["ethnicity"]),
                              text(p["employment_status"]), _dates(p["death_date"], p["death_missing"])],
                             schema=SCHEMAS["patients"]),
    }
    d = t["diagnoses"]
    out["diagnoses"] = pa.table([pid(d["pid"]), text(d["code"]), _dates(d["date"])], schema=SCHEMAS["diagnoses"])
    r = t["prescriptions"]
    drug = ctx.drug_text.take(pa.array(r["text_key"], pa.int64()))
    atc = ctx.atc.take(pa.array(r["atc"], pa.int64()))
    atc = pc.if_else(pa.array(r["atc_missing"]), pa.scalar(None, pa.string()), atc)
    out["prescriptions"] = pa.table([
        pid(r["pid"]), drug, _dates(r["start_date"]), _dates(r["end_date"], r["end_missing"]),
        pa.array(r["days_supply"].astype(np.int64), mask=r["supply_missing"]),
        pa.array(r["daily_dose_mg"].astype(np.float64), mask=r["dose_missing"]), atc,
    ], schema=SCHEMAS["prescriptions"])
    f = t["referrals"]
    out["referrals"] = pa.table([pid(f["pid"]), text(f["service"]), _dates(f["date"]),
                                 text(f["service_category"], empty_as_null=True)],
                                schema=SCHEMAS["referrals"])

    status = truth["status"]
    reason = np.where(status == 0, "", np.array(STATUSES, dtype=object)[status]).astype(str)
    lvl = np.where(truth["trd"], np.vectorize(LEVEL_NAMES.get, otypes=[object])(np.maximum(truth["level"], 2)),
                   np.where(status == 0, "MDD", ""))
    ep = truth["episode_start"]
    out["truth"] = pa.table([
        id_arr, pa.array(reason), pa.array(truth["trd"]), pa.array(lvl.astype(str)),
        pa.array(truth["n_ad"].astype(np.int64)), _dates(np.where(ep < -(10**6), 0, ep), ep < -(10**6)),
        pa.array(truth["self_harm"]), pa.array(truth["coded_self_harm"]),
    ], schema=TRUTH_SCHEMA)

    make_notes = _make_notes() if with_notes else None
    if make_notes is not None:
        frame = pd.DataFrame({
            "patient_id": ids,
            "index_date": pd.to_datetime(truth["last_day"], unit="D").date,
            "self_harm": truth["self_harm"], "suicidal_ideation": truth["suicidal_ideation"],
            "suicide_attempt": truth["suicide_attempt"],
        })
        notes_seed = int(np.random.SeedSequence([seed, block, 1]).generate_state(1)[0])
        notes, notes_truth = make_notes(frame, seed=notes_seed)
        notes = notes[["patient_id", "note_id", "date", "text"]].copy()
        notes["date"] = pd.to_datetime(notes["date"]).dt.date
        for col in ("patient_id", "note_id", "text"):
            notes[col] = notes[col].astype(str)
        out["notes"] = pa.Table.from_pandas(notes, schema=SCHEMAS["notes"], preserve_index=False)
        out["notes_truth"] = pa.Table.from_pandas(notes_truth.reset_index(drop=True), preserve_index=False)
    return out


class _Sink:
    """One output table: a CSV file, one Parquet file, or a folder of Parquet parts."""

    def __init__(self, folder: Path, name: str, fmt: str, partitioned: bool):
        self.folder, self.name, self.fmt, self.partitioned = folder, name, fmt, partitioned
        self.writer = None
        self.part = 0
        self.rows = 0

    def write(self, table: pa.Table) -> None:
        self.rows += table.num_rows
        if self.fmt == "csv":
            if self.writer is None:
                self.writer = pacsv.CSVWriter(self.folder / f"{self.name}.csv", table.schema)
            self.writer.write_table(table)
        elif self.partitioned:
            (self.folder / self.name).mkdir(exist_ok=True)
            pq.write_table(table, self.folder / self.name / f"part-{self.part:05d}.parquet", compression="zstd")
            self.part += 1
        else:
            if self.writer is None:
                self.writer = pq.ParquetWriter(self.folder / f"{self.name}.parquet", table.schema, compression="zstd")
            self.writer.write_table(table)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


def generate(out_dir: Path, n_patients: int, seed: int = 0, fmt: str = "csv", chunk_size: int = 100_000,
             progress: bool = False, *, notes: bool = True, overwrite: bool = False,
             config: StudyConfig | None = None, on_chunk: Callable[[int, int], None] | None = None) -> dict:
    """Generate ``n_patients`` synthetic patients into ``out_dir``; return row counts per table.

    Deterministic for ``seed`` (same files byte for byte). ``chunk_size`` patients are held in
    memory at a time (rounded up to a multiple of BLOCK_SIZE). ``notes=False`` skips the free-text
    notes (large at national scale). ``on_chunk(done, total)`` is called after each chunk.
    """
    out_dir = Path(out_dir)
    if fmt not in ("csv", "parquet"):
        raise UserError(f"--format must be csv or parquet, not {fmt!r}.")
    if n_patients < 1:
        raise UserError(f"--patients must be at least 1 (got {n_patients}).")
    if chunk_size < 1:
        raise UserError(f"chunk_size must be at least 1 (got {chunk_size}).")
    if out_dir.exists() and not out_dir.is_dir():
        raise UserError(f"Output {out_dir} exists and is not a folder.")
    # A folder a previous run of the generator wrote (it holds synth.json) is replaced; anything else
    # is only replaced when asked, so a typo cannot wipe a real extract.
    if out_dir.exists() and any(out_dir.iterdir()) and not overwrite and not (out_dir / "synth.json").is_file():
        raise UserError(f"Output folder {out_dir} is not empty and was not written by trdpath synth; "
                        "choose another folder or pass --overwrite.")
    cat = build_catalogue(config)
    blocks_per_chunk = max(1, -(-chunk_size // BLOCK_SIZE))
    n_blocks = -(-n_patients // BLOCK_SIZE)
    n_chunks = -(-n_blocks // blocks_per_chunk)
    partitioned = fmt == "parquet" and n_chunks > 1
    ctx = _Context(cat, max(7, len(str(n_patients - 1))))
    extract_day = _day(cal.EXTRACT_DATE)
    with_notes = notes and _make_notes() is not None

    # Built beside out_dir and swapped in whole (trdpath.atomic): a failure or a kill leaves the old extract.
    with replace_folder(out_dir) as tmp:
        return _write_tables(tmp, ctx, seed, n_patients, n_blocks, blocks_per_chunk, n_chunks, fmt,
                             partitioned, with_notes, extract_day, progress, on_chunk)


def _write_tables(tmp: Path, ctx: _Context, seed: int, n_patients: int, n_blocks: int, blocks_per_chunk: int,
                  n_chunks: int, fmt: str, partitioned: bool, with_notes: bool, extract_day: int, progress: bool,
                  on_chunk: Callable[[int, int], None] | None) -> dict:
    tables = [t for t in TABLES if t != "notes" or with_notes]
    sinks = {t: _Sink(tmp, t, fmt, partitioned) for t in tables}
    sinks["synth_truth"] = _Sink(tmp, "synth_truth", "csv", False)
    if with_notes:
        sinks["notes_truth"] = _Sink(tmp, "notes_truth", "csv", False)
    bar = None
    try:
        if progress:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn, TimeRemainingColumn

            bar = Progress("[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(),
                           TimeElapsedColumn(), TimeRemainingColumn())
            bar.start()
            task = bar.add_task("Generating patients", total=n_patients)
        done = 0
        for c in range(n_chunks):
            parts: dict[str, list[pa.Table]] = {k: [] for k in sinks}
            for b in range(c * blocks_per_chunk, min((c + 1) * blocks_per_chunk, n_blocks)):
                first = b * BLOCK_SIZE
                n = min(BLOCK_SIZE, n_patients - first)
                out = _block_tables(ctx, seed, b, first, n, extract_day, with_notes)
                for k, v in out.items():
                    parts["synth_truth" if k == "truth" else k].append(v)
                done += n
            for k, sink in sinks.items():
                if parts[k]:
                    sink.write(pa.concat_tables(parts[k]).combine_chunks())
            del parts
            if bar is not None:
                bar.update(task, completed=done)
            if on_chunk is not None:
                on_chunk(done, n_patients)
        for sink in sinks.values():
            sink.close()
        counts = {k: sinks[k].rows for k in tables}
        manifest = {
            "generator": "trdpath.synth", "seed": seed, "n_patients": n_patients, "format": fmt,
            "layout": "folder of parts" if partitioned else "one file per table",
            "extract_date": cal.EXTRACT_DATE, "notes": with_notes, "counts": counts,
        }
        (tmp / "synth.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    except BaseException:
        for sink in sinks.values():
            try:
                sink.close()
            except Exception:  # noqa: BLE001 - already failing; replace_folder removes the folder
                pass
        raise
    finally:
        if bar is not None:
            bar.stop()
    return counts
