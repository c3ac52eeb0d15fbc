"""Benchmark: the daily worklist job end to end, as a user runs it: `trdpath worklist` against
`trdpath worklist --incremental`, each a separate command writing every file (worklist.csv,
worklist.xlsx, the HTML pages, flags.ndjson).

    python benchmarks/bench_daily.py [--patients 200000] [--data DIR] [--repeat 1] [--formats csv,fhir]

bench_incremental.py times the computation alone (the issue's ratio); this one times what the user
waits for. On a Parquet extract (generated unless --data points at one), with D1 = 60 days before the
latest prescription, as bench_incremental.py:

1. `worklist --incremental --as-of D1-1` then `--as-of D1` into one folder (the state a daily run finds:
   a full build refreshed once; not timed);
2. for each repeat, alternating: `worklist --as-of D2` (D2 = D1 + 1 day) into a new folder (the full
   run), and `worklist --incremental --as-of D2` into a copy of the D1 folder (the daily refresh).

Prints wall and CPU seconds (the child's user + system) and peak memory of each command, the ratios,
and checks that both wrote the same worklist.csv byte for byte. `--formats` is passed to both timed
commands (default: every file). Not part of the tests.
"""

from __future__ import annotations

import argparse
import datetime as dt
import filecmp
import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_classify import CPU, prescriptions_glob, run, synth_extract  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--patients", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--data", type=Path, help="an existing Parquet extract (skips generation)")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--formats", default="csv,xlsx,html,fhir", help="passed to both timed runs (csv is needed)")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="trdpath-bench-", dir="."))
    data = args.data or work / "extract"
    try:
        if args.data is None:
            synth_extract(data, args.patients, args.seed)
        import duckdb

        last = duckdb.connect().execute(f"SELECT max(start_date) FROM read_parquet('{prescriptions_glob(data)}')").fetchone()[0]
        d1 = last - dt.timedelta(days=60)
        d2 = d1 + dt.timedelta(days=1)
        trdpath = [sys.executable, "-m", "trdpath", "worklist", "--data", str(data), "--quiet"]
        for day in (d1 - dt.timedelta(days=1), d1):
            run([*trdpath, "--as-of", str(day), "--out", str(work / "d1"), "--incremental"])
        print(f"state as of {d1} kept in {work / 'd1'}", flush=True)
        fulls, incs = [], []
        for attempt in range(args.repeat):
            print(f"load average before: {os.getloadavg()}", flush=True)
            full_cmd = [*trdpath, "--as-of", str(d2), "--out", str(work / f"full{attempt}"), "--formats", args.formats]
            wall, peak, _ = run(full_cmd)
            fulls.append((wall, CPU[" ".join(full_cmd)]))
            print(f"  full `worklist` on {d2}: {wall:.1f} s wall, {fulls[-1][1]:.1f} s CPU, peak {peak:.2f} GB", flush=True)
            shutil.copytree(work / "d1", work / f"inc{attempt}")
            inc_cmd = [*trdpath, "--as-of", str(d2), "--out", str(work / f"inc{attempt}"), "--incremental", "--formats",
                       args.formats]
            wall, peak, _ = run(inc_cmd)
            incs.append((wall, CPU[" ".join(inc_cmd)]))
            print(f"  `worklist --incremental` on {d2}: {wall:.1f} s wall, {incs[-1][1]:.1f} s CPU, peak {peak:.2f} GB",
                  flush=True)
            if not filecmp.cmp(work / f"full{attempt}" / "worklist.csv", work / f"inc{attempt}" / "worklist.csv", shallow=False):
                sys.exit("the two runs wrote different worklists")
            shutil.rmtree(work / f"full{attempt}")
            shutil.rmtree(work / f"inc{attempt}")
        wall = statistics.median(i[0] for i in incs) / statistics.median(f[0] for f in fulls)
        cpu = statistics.median(i[1] for i in incs) / statistics.median(f[1] for f in fulls)
        print(f"--formats {args.formats}: end to end, incremental / full: wall {wall:.3f}, CPU {cpu:.3f}; the same worklist.csv; "
              f"load average after: {os.getloadavg()}")
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
