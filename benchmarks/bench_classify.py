"""Benchmark: `trdpath classify` against the floor, a bare DuckDB query that only builds 30-day eras.

    python benchmarks/bench_classify.py [--patients 1000000] [--data DIR] [--repeat 3] [--keep]

Generates a synthetic extract (Parquet, no notes) unless --data points at one, then runs, each in a
fresh process so peak memory is per run: (1) the bare era query over the same prescriptions,
(2) `trdpath classify`, alternating, --repeat times (a shared machine's speed drifts; alternating
keeps both measured under the same load). Prints each pair, the medians, peak resident memory and
the ratio of the medians. Not part of the tests.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

BARE_ERAS = """
import duckdb, sys, time
con = duckdb.connect()
con.execute('SET enable_progress_bar = false')
src = sys.argv[1]
t = time.perf_counter()
n = con.execute(f'''
WITH rx AS (
  SELECT patient_id, lower(drug) AS drug, epoch(start_date)::BIGINT // 86400 AS s,
         coalesce(epoch(end_date)::BIGINT // 86400, epoch(start_date)::BIGINT // 86400 + coalesce(days_supply, 28)) AS e
  FROM read_parquet('{src}')),
m AS (SELECT *, max(e) OVER (PARTITION BY patient_id, drug ORDER BY s, e ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS prev FROM rx),
g AS (SELECT *, sum(CASE WHEN prev IS NULL OR s > prev + 30 THEN 1 ELSE 0 END)
        OVER (PARTITION BY patient_id, drug ORDER BY s, e ROWS UNBOUNDED PRECEDING) AS era FROM m)
SELECT count(*) FROM (SELECT patient_id, drug, era, min(s) AS era_start, max(e) AS era_end FROM g GROUP BY ALL)''').fetchone()[0]
print(n)
"""


def run(cmd: list[str]) -> tuple[float, float, str]:
    """Wall seconds, peak resident memory (GB, sampled every 0.1 s) of the child, stdout."""
    start = time.perf_counter()
    proc = psutil.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak = 0
    while proc.poll() is None:
        try:
            peak = max(peak, proc.memory_info().rss + sum(c.memory_info().rss for c in proc.children(recursive=True)))
        except psutil.Error:
            pass
        time.sleep(0.1)
    out, err = proc.communicate()
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{err[-3000:]}")
    return wall, peak / 1024**3, out


def prescriptions_glob(data: Path) -> str:
    folder = data / "prescriptions"
    return str(folder / "*.parquet") if folder.is_dir() else str(data / "prescriptions.parquet")


def synth_extract(data: Path, patients: int, seed: int) -> None:
    """A synthetic Parquet extract (no notes) written by `trdpath synth`, timed: what every benchmark starts from."""
    print(f"generating {patients:,} patients ...", flush=True)
    wall, peak, _ = run([sys.executable, "-m", "trdpath", "synth", "--patients", str(patients),
                         "--seed", str(seed), "--out", str(data), "--format", "parquet", "--no-notes", "--quiet"])
    print(f"  synth: {wall:.1f} s, peak {peak:.2f} GB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--patients", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--data", type=Path, help="an existing Parquet extract (skips generation)")
    parser.add_argument("--keep", action="store_true", help="keep the generated extract and results")
    parser.add_argument("--config", type=Path, help="study configuration for classify (e.g. [engine] memory_limit)")
    parser.add_argument("--repeat", type=int, default=3, help="alternating runs of each (default 3; medians reported)")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="trdpath-bench-", dir="."))
    data = args.data or work / "extract"
    try:
        if args.data is None:
            synth_extract(data, args.patients, args.seed)
        import duckdb

        n_rx = duckdb.connect().execute(f"SELECT count(*) FROM read_parquet('{prescriptions_glob(data)}')").fetchone()[0]
        config = ["--config", str(args.config)] if args.config else []
        bare_walls, walls, peaks = [], [], []
        for attempt in range(1, args.repeat + 1):
            bare_wall, _, eras = run([sys.executable, "-c", BARE_ERAS, prescriptions_glob(data)])
            wall, peak, _ = run([sys.executable, "-m", "trdpath", "classify", "--data", str(data),
                                 "--out", str(work / "results"), "--quiet", *config])
            bare_walls.append(bare_wall)
            walls.append(wall)
            peaks.append(peak)
            print(f"  run {attempt}: bare era query {bare_wall:.1f} s, classify {wall:.1f} s "
                  f"(ratio {wall / bare_wall:.2f}), classify peak {peak:.2f} GB", flush=True)
        bare_median, median = statistics.median(bare_walls), statistics.median(walls)
        result = {
            "patients": args.patients if args.data is None else None,
            "prescriptions": n_rx,
            "runs": args.repeat,
            "bare_era_query_s": round(bare_median, 1),
            "bare_eras": int(eras.strip().splitlines()[-1]),
            "classify_s": round(median, 1),
            "classify_peak_gb": round(max(peaks), 2),
            "ratio": round(median / bare_median, 2),
            "prescriptions_per_s": round(n_rx / median),
        }
        print(json.dumps(result, indent=2))
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
