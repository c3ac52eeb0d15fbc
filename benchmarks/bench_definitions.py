"""Benchmark: `trdpath compare` (all twelve shipped definitions) against one `trdpath classify`.

    python benchmarks/bench_definitions.py [--patients 1000000] [--data DIR] [--repeat 3] [--keep] [--dial]

Generates a synthetic extract (`trdpath synth --patients N --seed 1 --format parquet --no-notes`)
unless --data points at one, then runs, each in a fresh process and alternating (a shared machine's
speed drifts; alternating keeps both under the same load), `trdpath classify`, `trdpath compare` and `trdpath compare --why none` --repeat times. compare classifies once (the same cohort, eras, trials and episodes) and evaluates
every definition from those stages, writing patients.csv, why.csv, prevalence.csv and agreement.csv.
Prints each pair, the medians, peak memory and the ratio compare / classify (target: <= 1.5).

Since `trdpath classify` also writes the extract-level outputs of issue 16 (assumption sensitivity,
pathway steps: several more passes over the extract), a third child runs the classification `compare`
shares, alone: read, classify (trdpath.pipeline.classify_extract) and write patients.csv/.parquet
(`--core-classify`). The "core" ratios compare against it: what the twelve definitions add to one
classification, whatever else `classify` writes. `--dial` adds a child `compare --why none --dial` (the
definition dial's 18 grid points on top of the twelve definitions): what the dial costs.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from bench_classify import run as run_wall  # noqa: E402 (wall seconds and peak memory of a child process)
from bench_classify import synth_extract  # noqa: E402


def run(cmd: list[str]) -> tuple[float, float, float]:
    """Wall seconds, peak memory (GB) and CPU seconds (user + system, all threads) of a child run.
    CPU time is what a crowded shared machine distorts least: wall time there waits for other jobs.
    Each child's figures are printed as it ends (on a crowded machine a run may not see its end)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    wall, peak, _ = run_wall(cmd)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    what = " ".join(c for c in cmd[2:] if not c.startswith("/")) or cmd[-1]
    print(f"    {what[:70]}: {wall:.1f} s wall, {cpu:.1f} s CPU, {peak:.2f} GB; load {os.getloadavg()[0]:.1f}", flush=True)
    return wall, peak, cpu


def core_classify(data: str, out: str) -> None:
    """The classification compare shares, and its patient-level files (no extract-level outputs)."""
    from trdpath.sources.open import open_source as opened_extract
    from trdpath.config import StudyConfig
    from trdpath.output import write_classification
    from trdpath.pipeline import classify_extract

    config = StudyConfig()
    Path(out).mkdir(parents=True, exist_ok=True)
    with opened_extract(data, config) as (con, extract):
        write_classification(classify_extract(con, extract, config), Path(out))


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--core-classify":
        core_classify(sys.argv[2], sys.argv[3])
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--patients", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--data", type=Path, help="an existing Parquet extract (skips generation)")
    parser.add_argument("--keep", action="store_true", help="keep the generated extract and results")
    parser.add_argument("--repeat", type=int, default=3, help="alternating runs of each (medians reported)")
    parser.add_argument("--dial", action="store_true", help="also time compare --why none --dial")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="trdpath-bench-", dir="."))
    data = args.data or work / "extract"
    try:
        if args.data is None:
            synth_extract(data, args.patients, args.seed)
        classify_walls, compare_walls, peaks, cpus, no_why, core, dials = [], [], [], [], [], [], []
        for attempt in range(1, args.repeat + 1):
            k_wall, _k_peak, k_cpu = run([sys.executable, str(Path(__file__).resolve()), "--core-classify", str(data), str(work / "core")])
            core.append((k_wall, k_cpu))
            c_wall, c_peak, c_cpu = run([sys.executable, "-m", "trdpath", "classify", "--data", str(data),
                                     "--out", str(work / "classified"), "--quiet"])
            m_wall, m_peak, m_cpu = run([sys.executable, "-m", "trdpath", "compare", "--data", str(data),
                                     "--out", str(work / "compared"), "--quiet"])
            n_wall, _n_peak, n_cpu = run([sys.executable, "-m", "trdpath", "compare", "--data", str(data),
                                          "--out", str(work / "compared-no-why"), "--quiet", "--why", "none"])
            no_why.append((n_wall, n_cpu))
            if args.dial:
                d_wall, _d_peak, d_cpu = run([sys.executable, "-m", "trdpath", "compare", "--data", str(data),
                                              "--out", str(work / "compared-dial"), "--quiet", "--why", "none", "--dial"])
                dials.append((d_wall, d_cpu))
                print(f"  run {attempt}: the dial adds {d_wall - n_wall:.1f} s wall, {d_cpu - n_cpu:.1f} s CPU to "
                      f"compare --why none ({d_cpu / n_cpu:.2f}x CPU)", flush=True)
            classify_walls.append(c_wall)
            compare_walls.append(m_wall)
            peaks.append((c_peak, m_peak))
            cpus.append((c_cpu, m_cpu))
            print(f"  run {attempt}: classify {c_wall:.1f} s wall, {c_cpu:.1f} s CPU ({c_peak:.2f} GB); compare (12 definitions) "
                  f"{m_wall:.1f} s wall, {m_cpu:.1f} s CPU ({m_peak:.2f} GB): ratio {m_wall / c_wall:.2f} wall, "
                  f"{m_cpu / c_cpu:.2f} CPU; compare --why none {n_wall:.1f} s wall, {n_cpu:.1f} s CPU: ratio "
                  f"{n_wall / c_wall:.2f} wall, {n_cpu / c_cpu:.2f} CPU; core classification {k_wall:.1f} s wall, "
                  f"{k_cpu:.1f} s CPU: compare / core {m_wall / k_wall:.2f} wall, {m_cpu / k_cpu:.2f} CPU, "
                  f"--why none / core {n_wall / k_wall:.2f} wall, {n_cpu / k_cpu:.2f} CPU", flush=True)
        why = work / "compared" / "definitions" / "why.csv"
        why_rows = sum(1 for _ in open(why, "rb")) - 1 if why.exists() else None
        c_med, m_med = statistics.median(classify_walls), statistics.median(compare_walls)
        print(json.dumps({
            "patients": args.patients if args.data is None else None,
            "runs": args.repeat,
            "classify_s": round(c_med, 1),
            "compare_12_definitions_s": round(m_med, 1),
            "ratio": round(m_med / c_med, 2),
            "pairs": [round(m / c, 2) for c, m in zip(classify_walls, compare_walls)],
            "classify_cpu_s": round(statistics.median(c for c, _ in cpus), 1),
            "compare_cpu_s": round(statistics.median(m for _, m in cpus), 1),
            "cpu_ratio": round(statistics.median(m for _, m in cpus) / statistics.median(c for c, _ in cpus), 2),
            "classify_peak_gb": round(max(p[0] for p in peaks), 2),
            "compare_peak_gb": round(max(p[1] for p in peaks), 2),
            "why_rows": why_rows,
            "compare_why_none_s": round(statistics.median(w for w, _ in no_why), 1),
            "ratio_why_none": round(statistics.median(w for w, _ in no_why) / c_med, 2),
            "cpu_ratio_why_none": round(statistics.median(c for _, c in no_why) / statistics.median(c for c, _ in cpus), 2),
            "core_classify_s": round(statistics.median(w for w, _ in core), 1),
            "core_classify_cpu_s": round(statistics.median(c for _, c in core), 1),
            "ratio_to_core": round(m_med / statistics.median(w for w, _ in core), 2),
            "cpu_ratio_to_core": round(statistics.median(m for _, m in cpus) / statistics.median(c for _, c in core), 2),
            "cpu_ratio_why_none_to_core": round(statistics.median(c for _, c in no_why) / statistics.median(c for _, c in core), 2),
            "ratio_why_none_to_core": round(statistics.median(w for w, _ in no_why) / statistics.median(w for w, _ in core), 2),
            "compare_why_none_dial_s": round(statistics.median(w for w, _ in dials), 1) if dials else None,
            "compare_why_none_dial_cpu_s": round(statistics.median(c for _, c in dials), 1) if dials else None,
        }, indent=2))
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
