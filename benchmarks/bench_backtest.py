"""Benchmark: `trdpath backtest` over 24 monthly as-of dates against one `trdpath classify`.

    python benchmarks/bench_backtest.py [--patients 1000000] [--data DIR] [--dates 24] [--repeat 3] [--keep]

Generates a synthetic extract (Parquet, no notes) unless --data points at one, then runs, each in a
fresh process, `trdpath classify` and `trdpath backtest --every month` over the last --dates months
before the latest prescription, alternating, --repeat times (a shared machine's speed drifts;
alternating keeps both under the same load). Prints each pair, the medians and the ratio
backtest / classify (the target of issue 18: 24 dates within 3x one classify). Not part of the tests.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_classify import prescriptions_glob, run, synth_extract  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--patients", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--data", type=Path, help="an existing Parquet extract (skips generation)")
    parser.add_argument("--dates", type=int, default=24, help="monthly as-of dates (default 24)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="trdpath-bench-", dir="."))
    data = args.data or work / "extract"
    try:
        if args.data is None:
            synth_extract(data, args.patients, args.seed)
        import duckdb

        n_rx, last = duckdb.connect().execute(
            f"SELECT count(*), max(start_date) FROM read_parquet('{prescriptions_glob(data)}')").fetchone()
        to = pd.Timestamp(last).date()
        first = (pd.Timestamp(to) - pd.DateOffset(months=args.dates - 1)).date()
        classify_walls, backtest_walls, peaks = [], [], []
        for attempt in range(1, args.repeat + 1):
            c_wall, _, _ = run([sys.executable, "-m", "trdpath", "classify", "--data", str(data),
                                "--out", str(work / "classified"), "--quiet"])
            b_wall, b_peak, _ = run([sys.executable, "-m", "trdpath", "backtest", "--data", str(data), "--out",
                                     str(work / "backtest"), "--from", str(first), "--to", str(to), "--every", "month"])
            classify_walls.append(c_wall)
            backtest_walls.append(b_wall)
            peaks.append(b_peak)
            print(f"  run {attempt}: classify {c_wall:.1f} s, backtest ({args.dates} dates) {b_wall:.1f} s "
                  f"(ratio {b_wall / c_wall:.2f}), backtest peak {b_peak:.2f} GB", flush=True)
        c, b = statistics.median(classify_walls), statistics.median(backtest_walls)
        print(json.dumps({"patients": args.patients if args.data is None else None, "prescriptions": n_rx,
                          "dates": args.dates, "from": str(first), "to": str(to), "runs": args.repeat,
                          "classify_s": round(c, 1), "backtest_s": round(b, 1), "backtest_peak_gb": round(max(peaks), 2),
                          "ratio": round(b / c, 2)}, indent=2))
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
