"""Benchmark: the incremental worklist refresh against a full rebuild on the same date.

    python benchmarks/bench_incremental.py [--patients 200000] [--data DIR] [--days 1 7] [--repeat 2] [--floor]

Wall and CPU seconds (process_time: this process's CPU, DuckDB's threads included) are both printed,
with the load average before and after: on a shared machine the CPU ratio is the steadier figure.

Generates a synthetic extract (Parquet, no notes) unless --data points at one, opens it once, keeps
the state as of D1 = 60 days before the latest prescription (a full build on D1 - 1 day refreshed to D1,
as a daily run finds it; not timed), then
for each step in --days times, alternating in the same process: the full worklist computation on
D2 = D1 + step (worklist_on: timeline and evaluation) and the incremental refresh from the D1 state
(fingerprints of every record, the changed patients' records picked and their timeline built, the
state database copied and updated in place, the parts of the changed and due patients, every row
written for D2 in SQL, the checkpoint). Both give the same worklist (checked here too). Prints the
patients whose records changed, each pair with the refresh's phases (wall and CPU), and the ratio
incremental / full. Writing the worklist files (CSV, XLSX,
HTML, FHIR) is the same for both and not timed; opening the extract is shared and timed once.
Not part of the tests.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import statistics
import sys
import time
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_classify import extract_parser, extract_workspace, prescriptions_glob  # noqa: E402


def main() -> None:
    parser = extract_parser(__doc__, patients=200_000, repeat=2)
    parser.add_argument("--days", type=int, nargs="+", default=[1, 7])
    parser.add_argument("--floor", action="store_true",
                        help="also time the two passes any refresh must make (see floor()) against the full computation")
    args = parser.parse_args()
    with extract_workspace(args) as (work, data):
        import duckdb

        from trdpath.sources.open import open_source as opened_extract
        from trdpath.config import StudyConfig
        from trdpath.early.api import incremental_worklist, worklist_on
        from trdpath.early.worklist import load_rules

        last = duckdb.connect().execute(f"SELECT max(start_date) FROM read_parquet('{prescriptions_glob(data)}')").fetchone()[0]
        d1 = pd.Timestamp(last).date() - dt.timedelta(days=60)
        config, rules = StudyConfig(), load_rules()
        t0 = time.perf_counter()
        with opened_extract(data, config) as (con, extract):
            print(f"open and validate the extract: {time.perf_counter() - t0:.1f} s")
            t0 = time.perf_counter()
            # The state a daily run starts from is the previous daily run's: a full build the day before
            # D1, then a refresh to D1 (a state straight from a full build costs ~1 s CPU more at its first
            # checkpoint, once: DuckDB settles the freshly bulk-written file).
            d0 = d1 - dt.timedelta(days=1)
            incremental_worklist(con, extract, config, d0, rules, None, work / "none", work / "state_d0")[2].con.disconnect()
            incremental_worklist(con, extract, config, d1, rules, None, work / "state_d0", work / "state_d1")[2].con.disconnect()
            shutil.rmtree(work / "state_d0")
            print(f"state as of {d1} (full build on {d0}, refreshed to {d1}; kept): {time.perf_counter() - t0:.1f} s")
            for step in args.days:
                d2 = d1 + dt.timedelta(days=step)
                fulls, incs, full_cpu, inc_cpu = [], [], [], []
                print(f"  load average before: {os.getloadavg()}", flush=True)
                for attempt in range(args.repeat):
                    t0, c0 = time.perf_counter(), time.process_time()
                    full, _, _ = worklist_on(con, extract, config, d2, rules)
                    fulls.append(time.perf_counter() - t0)
                    full_cpu.append(time.process_time() - c0)
                    staging = work / f"state_{step}_{attempt}"
                    t0, c0 = time.perf_counter(), time.process_time()
                    frame, _, timeline, refresh = incremental_worklist(con, extract, config, d2, rules, None, work / "state_d1", staging)
                    timeline.con.disconnect()  # the state closed (timed: DuckDB would checkpoint any change left here)
                    incs.append(time.perf_counter() - t0)
                    inc_cpu.append(time.process_time() - c0)
                    pd.testing.assert_frame_equal(full.reset_index(drop=True), frame.reset_index(drop=True))
                    print(f"  +{step} d, pair {attempt + 1}: full {fulls[-1]:.1f} s (CPU {full_cpu[-1]:.1f} s), "
                          f"incremental {incs[-1]:.1f} s (CPU {inc_cpu[-1]:.1f} s) "
                          f"({refresh.recomputed:,} of {refresh.patients:,} patients recomputed, "
                          f"{100 * refresh.recomputed / refresh.patients:.2f}%), {len(full):,} in current care", flush=True)
                    print("    incremental phases: " + "; ".join(f"{k} {v['wall_s']} s (CPU {v['cpu_s']} s)"
                                                           for k, v in refresh.timings.items()), flush=True)
                    if args.floor:
                        floor(data, staging, d2, config, rules, full_cpu[-1])
                    shutil.rmtree(staging)
                ratio = statistics.median(incs) / statistics.median(fulls)
                print(f"D2 = D1 + {step} d: full median {statistics.median(fulls):.1f} s, incremental median "
                      f"{statistics.median(incs):.1f} s, ratio {ratio:.3f}; CPU ratio "
                      f"{statistics.median(inc_cpu) / statistics.median(full_cpu):.3f}; same worklist; "
                      f"load average after: {os.getloadavg()}", flush=True)


def floor(data: Path, state: Path, as_of: dt.date, config, rules, full_cpu: float) -> None:
    """The two passes no refresh can skip, each in the cheapest form measured, timed alone (CPU):
    reading and hashing every record of every table, grouped by patient (plain DuckDB SQL over the
    Parquet files: HASH of the columns as arguments, summed as HUGEINT; cheaper than the refresh's own
    fingerprint, which must also run on PostgreSQL and Spark), and writing every row in current care
    for the date from the refreshed state's kept row parts (the refresh's own statement) as the
    DataFrame the writers take. Their sum, as a share of the full computation, is a floor under any
    refresh that reads the data contract's tables (no change feed) and writes the whole worklist."""
    import duckdb

    from trdpath.early.assemble import register_lookups, render, to_frame
    from trdpath.early.incremental import STATE_DB
    from trdpath.early.worklist import WorklistSettings
    from trdpath.reference import ReferenceData
    from trdpath.treatment.drug_names import DrugDictionary

    con = duckdb.connect()
    parts = []
    for name in ("patients", "prescriptions", "diagnoses", "referrals"):
        folder = data / name
        files = str(folder / "*.parquet") if folder.is_dir() else str(data / f"{name}.parquet")
        columns = [row[0] for row in con.execute(f"DESCRIBE SELECT * FROM read_parquet('{files}')").fetchall()]
        parts.append(f"SELECT patient_id, hash('{name}', {', '.join(columns)}) AS h FROM read_parquet('{files}')")
    c0 = time.process_time()
    # Fetched whole: under a count(*) DuckDB would drop the unused sums, and the hashing with them.
    n = con.sql("SELECT patient_id, count(*) AS n, sum(h::HUGEINT) AS s FROM (" + " UNION ALL ".join(parts)
                + ") GROUP BY patient_id").to_arrow_table().num_rows
    read_cpu = time.process_time() - c0
    con.close()
    state = duckdb.connect(str(state / STATE_DB), read_only=True)
    register_lookups(state, DrugDictionary(ReferenceData(config)).ingredient_table(), rules)
    c0 = time.process_time()
    rows = to_frame(render(state, "wl_rows", as_of, rules, WorklistSettings(), config))
    write_cpu = time.process_time() - c0
    state.close()
    print(f"    floor: every record read and hashed by patient {read_cpu:.2f} s CPU ({n:,} "
          f"patients), every row written for the date {write_cpu:.2f} s CPU ({len(rows):,} rows): "
          f"{read_cpu + write_cpu:.2f} s, {(read_cpu + write_cpu) / full_cpu:.3f} of the full computation "
          f"({full_cpu:.1f} s CPU)", flush=True)


if __name__ == "__main__":
    main()
