"""Benchmark: `trdpath classify` against the floor, a bare DuckDB query that only builds 30-day eras.

    python benchmarks/bench_classify.py [--patients 1000000] [--data DIR] [--repeat 3] [--keep] [--extra-passes]

Generates a synthetic extract (Parquet, no notes) unless --data points at one, then runs, each in a
fresh process so peak memory is per run: (1) the bare era query over the same prescriptions,
(2) `trdpath classify`, alternating, --repeat times (a shared machine's speed drifts; alternating
keeps both measured under the same load). Prints each pair, the medians, peak resident memory and
the ratio of the medians, with the CPU seconds of each child (user + system, all its threads) beside
its wall time. `--extra-passes` adds (3) `trdpath classify --no-extra-passes` to every round: the
cost of the assumption-sensitivity and pathway passes as the same-run ratio of (2) to (3). Not part
of the tests.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
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


CPU = {}  # command (joined) -> CPU seconds of its last run


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)  # every waited-for descendant, all threads
    return usage.ru_utime + usage.ru_stime


def run(cmd: list[str]) -> tuple[float, float, str]:
    """Wall seconds, peak resident memory (GB, sampled every 0.1 s) of the child, stdout; its CPU seconds
    (user + system) in CPU[' '.join(cmd)]."""
    cpu_before = _children_cpu()
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
    CPU[" ".join(cmd)] = _children_cpu() - cpu_before
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


def extract_parser(doc: str, patients: int, repeat: int) -> argparse.ArgumentParser:
    """The options every benchmark on a synthetic extract shares (--patients, --seed, --data, --repeat,
    --keep); a benchmark adds its own and runs inside extract_workspace."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--patients", type=int, default=patients)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--data", type=Path, help="an existing Parquet extract (skips generation)")
    parser.add_argument("--repeat", type=int, default=repeat, help="alternating runs of each")
    parser.add_argument("--keep", action="store_true", help="keep the generated extract and results")
    return parser


@contextlib.contextmanager
def extract_workspace(args: argparse.Namespace):
    """(work folder, extract): a new folder under the current one, the extract generated there unless
    --data names one; the folder removed at the end unless --keep."""
    work = Path(tempfile.mkdtemp(prefix="trdpath-bench-", dir="."))
    data = args.data or work / "extract"
    try:
        if args.data is None:
            synth_extract(data, args.patients, args.seed)
        yield work, data
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--patients", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--data", type=Path, help="an existing Parquet extract (skips generation)")
    parser.add_argument("--keep", action="store_true", help="keep the generated extract and results")
    parser.add_argument("--config", type=Path, help="study configuration for classify (e.g. [engine] memory_limit)")
    parser.add_argument("--repeat", type=int, default=3, help="alternating runs of each (default 3; medians reported)")
    parser.add_argument("--extra-passes", action="store_true",
                        help="also time `classify --no-extra-passes` in every round (cost of the extra passes)")
    args = parser.parse_args()
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)

    work = Path(tempfile.mkdtemp(prefix="trdpath-bench-", dir="."))
    data = args.data or work / "extract"
    try:
        if args.data is None:
            synth_extract(data, args.patients, args.seed)
        import duckdb

        n_rx = duckdb.connect().execute(f"SELECT count(*) FROM read_parquet('{prescriptions_glob(data)}')").fetchone()[0]
        config = ["--config", str(args.config)] if args.config else []
        bare_walls, walls, peaks, cpus, bare_cpus, core_walls, core_cpus = [], [], [], [], [], [], []
        for attempt in range(1, args.repeat + 1):
            bare_cmd = [sys.executable, "-c", BARE_ERAS, prescriptions_glob(data)]
            bare_wall, _, eras = run(bare_cmd)
            classify = [sys.executable, "-m", "trdpath", "classify", "--data", str(data),
                        "--out", str(work / "results"), "--quiet", "--overwrite", *config]
            wall, peak, _ = run(classify)
            bare_walls.append(bare_wall)
            bare_cpus.append(CPU[" ".join(bare_cmd)])
            walls.append(wall)
            cpus.append(CPU[" ".join(classify)])
            peaks.append(peak)
            line = (f"  run {attempt}: bare era query {bare_wall:.1f} s ({bare_cpus[-1]:.1f} s CPU), classify "
                    f"{wall:.1f} s ({cpus[-1]:.1f} s CPU; ratio {wall / bare_wall:.2f}), classify peak {peak:.2f} GB")
            if args.extra_passes:
                core = [*classify, "--no-extra-passes"]
                core_wall, _, _ = run(core)
                core_walls.append(core_wall)
                core_cpus.append(CPU[" ".join(core)])
                line += (f"; --no-extra-passes {core_wall:.1f} s ({core_cpus[-1]:.1f} s CPU): with/without "
                         f"{wall / core_wall:.2f} wall, {cpus[-1] / core_cpus[-1]:.2f} CPU")
            print(line + f" [load {os.getloadavg()[0]:.1f}]", flush=True)
        bare_median, median = statistics.median(bare_walls), statistics.median(walls)
        result = {
            "patients": args.patients if args.data is None else None,
            "prescriptions": n_rx,
            "runs": args.repeat,
            "bare_era_query_s": round(bare_median, 1),
            "bare_era_query_cpu_s": round(statistics.median(bare_cpus), 1),
            "bare_eras": int(eras.strip().splitlines()[-1]),
            "classify_s": round(median, 1),
            "classify_cpu_s": round(statistics.median(cpus), 1),
            "classify_peak_gb": round(max(peaks), 2),
            "ratio": round(median / bare_median, 2),
            "prescriptions_per_s": round(n_rx / median),
            "load_average_end": [round(x, 2) for x in os.getloadavg()],
        }
        if args.extra_passes:
            core_median = statistics.median(core_walls)
            result.update({
                "classify_no_extra_passes_s": round(core_median, 1),
                "classify_no_extra_passes_cpu_s": round(statistics.median(core_cpus), 1),
                "no_extra_passes_ratio_to_bare": round(core_median / bare_median, 2),
                "extra_passes_ratio_wall": round(median / core_median, 2),
                "extra_passes_ratio_cpu": round(statistics.median(cpus) / statistics.median(core_cpus), 2),
            })
        print(json.dumps(result, indent=2))
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
