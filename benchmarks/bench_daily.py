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

import datetime as dt
import filecmp
import os
import shutil
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_classify import CPU, extract_parser, extract_workspace, prescriptions_glob, run  # noqa: E402


def main() -> None:
    parser = extract_parser(__doc__, patients=200_000, repeat=1)
    parser.add_argument("--formats", default="csv,xlsx,html,fhir", help="passed to both timed runs (csv is needed)")
    args = parser.parse_args()
    with extract_workspace(args) as (work, data):
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
            timed = {}
            for kind, extra in (("full", []), ("incremental", ["--incremental"])):
                out = work / f"{kind}{attempt}"
                if extra:
                    shutil.copytree(work / "d1", out)
                cmd = [*trdpath, "--as-of", str(d2), "--out", str(out), "--formats", args.formats, *extra]
                wall, peak, _ = run(cmd)
                timed[kind] = (wall, CPU[" ".join(cmd)])
                print(f"  `worklist {' '.join(extra)}` on {d2}: {wall:.1f} s wall, {timed[kind][1]:.1f} s CPU, "
                      f"peak {peak:.2f} GB", flush=True)
            fulls.append(timed["full"])
            incs.append(timed["incremental"])
            if not filecmp.cmp(work / f"full{attempt}" / "worklist.csv", work / f"incremental{attempt}" / "worklist.csv",
                               shallow=False):
                sys.exit("the two runs wrote different worklists")
            shutil.rmtree(work / f"full{attempt}")
            shutil.rmtree(work / f"incremental{attempt}")
        wall = statistics.median(i[0] for i in incs) / statistics.median(f[0] for f in fulls)
        cpu = statistics.median(i[1] for i in incs) / statistics.median(f[1] for f in fulls)
        print(f"--formats {args.formats}: end to end, incremental / full: wall {wall:.3f}, CPU {cpu:.3f}; "
              f"the same worklist.csv; load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
