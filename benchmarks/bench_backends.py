"""Classification time per backend on one synthetic extract (figures for docs/backends.md).

    PYTHONPATH=src python benchmarks/bench_backends.py --patients 100000 --backends duckdb,pyspark

The synthetic extract (trdpath.synth.generate, seed 1) is exported to OMOP CDM Parquet files
(trdpath.sources.omop_export), which each backend reads where it is: DuckDB and Spark read the
Parquet files directly, as they would read a trust's CDM. Times exclude data generation; Spark's
session start is reported on its own line. Run on an otherwise quiet machine.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import pandas as pd

from trdpath import engines
from trdpath.sources.folder import read_folder
from trdpath.config import StudyConfig
from trdpath.pipeline import classify_extract
from trdpath.schema import TABLES
from trdpath.sources.omop import OPTIONAL_TABLES, REQUIRED_TABLES, read_omop
from trdpath.sources.omop_export import flat_to_omop, write_omop_folder
from trdpath.synth import generate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=100_000)
    parser.add_argument("--backends", default="duckdb,pyspark")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="trdpath-bench-"))
    started = time.perf_counter()
    generate(work / "flat", args.patients, seed=1, fmt="parquet", notes=False)
    flat = {p.stem: pd.read_parquet(p) for p in (work / "flat").glob("*.parquet") if p.stem in TABLES}
    for folder in (work / "flat").iterdir():
        if folder.is_dir() and folder.name in TABLES:
            flat[folder.name] = pd.read_parquet(folder)
    cdm = write_omop_folder(flat_to_omop(flat), work / "cdm", "parquet")
    rows = {name: len(frame) for name, frame in flat.items()}
    print(f"extract: {args.patients:,} patients, {rows.get('prescriptions', 0):,} prescriptions "
          f"(prepared in {time.perf_counter() - started:.0f} s)")
    results = {}
    for backend in args.backends.split(","):
        t0 = time.perf_counter()
        con = engines.connect(backend)
        t1 = time.perf_counter()
        if backend != "duckdb":
            print(f"{backend}: session start {t1 - t0:.1f} s")
        tables = read_folder(con, cdm, REQUIRED_TABLES, OPTIONAL_TABLES)
        extract = read_omop(con, tables, patient_id="person_source_value")
        t2 = time.perf_counter()
        patients = classify_extract(con, extract, StudyConfig()).patients
        seconds = time.perf_counter() - t2
        results[backend] = patients.sort_values("patient_id").reset_index(drop=True)
        print(f"{backend}: classified {len(patients):,} patients in {seconds:.1f} s "
              f"({rows.get('prescriptions', 0) / seconds:,.0f} prescriptions/s), TRD {int(patients['trd'].sum()):,}")
    names = list(results)
    for other in names[1:]:
        same = results[names[0]].equals(results[other])
        print(f"{names[0]} and {other} identical: {same}")


if __name__ == "__main__":
    main()
