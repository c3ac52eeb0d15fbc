"""Benchmark: the whole study report on a synthetic 1-million-patient classification (target: under 60 s).

Run:  PYTHONPATH=src python benchmarks/bench_report.py [--patients 1000000] [--seed 0] [--out DIR]

Prints the time of each stage: generating the frame (not part of the target), analyse() (Tables 1-3,
resistance levels, service use, journeys), disclosure control, and write_report() end to end (analysis,
disclosure, CSV/XLSX, figures, HTML with the Sankey, DOCX).
"""

from __future__ import annotations

import argparse
import datetime as dt
import shutil
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # support.synthetic: test-only helpers

from trdpath import __version__  # noqa: E402
from trdpath.config import StudyConfig  # noqa: E402
from trdpath.layout import report_html  # noqa: E402
from trdpath.report import write_report  # noqa: E402
from trdpath.stats import analyse  # noqa: E402
from trdpath.stats.disclosure import protect  # noqa: E402
from support.synthetic import synthetic_patients  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=None, help="keep the report here (default: a temp folder)")
    parser.add_argument("--no-pathways", action="store_true",
                        help="leave out the made-up pathway steps (Tables 7-9 and the Kaplan-Meier curve)")
    args = parser.parse_args()
    config = StudyConfig()

    start = time.perf_counter()
    patients = synthetic_patients(args.patients, seed=args.seed)
    generated = time.perf_counter() - start
    in_cohort = int(patients["in_cohort"].sum())
    attrition = pd.DataFrame({"rule": ["extract", "no_antidepressant"],
                              "remaining": [args.patients, in_cohort], "excluded": [0, args.patients - in_cohort]})
    print(f"patients: {args.patients:,} ({in_cohort:,} in cohort); generated in {generated:.1f} s")

    start = time.perf_counter()
    analysis = analyse(patients, config)
    analysed = time.perf_counter() - start
    print(f"analyse():          {analysed:6.1f} s")
    out = args.out or Path(tempfile.mkdtemp(prefix="trdpath-bench-"))
    meta = {"software_version": __version__, "index_date": dt.date(2021, 10, 31),
            "data_date_range": (dt.date(1996, 1, 1), dt.date(2021, 10, 31)), "source": "synthetic benchmark"}
    extras = None
    if not args.no_pathways:  # what `classify` writes beside patients.csv, made up from the sequences
        from trdpath.stats.extra_tables import pathway_tables
        from trdpath.stats.pathways import synthetic_steps, write_steps

        out.mkdir(parents=True, exist_ok=True)
        steps = synthetic_steps(patients, seed=args.seed)
        write_steps(steps, out)
        print(f"pathway steps:      {len(steps):,} rows (made up; written before timing)")
        start, cpu = time.perf_counter(), time.process_time()
        extras = pathway_tables(steps, patients, config.disclosure, meta["index_date"])
        print(f"pathway tables:     {time.perf_counter() - start:6.1f} s  (CPU {time.process_time() - cpu:.1f} s; "
              "true Tables 7-9 and the Kaplan-Meier curve)")
    start, cpu = time.perf_counter(), time.process_time()
    protected = protect(analysis, config.disclosure, attrition, extras)
    print(f"disclosure control: {time.perf_counter() - start:6.1f} s  (CPU {time.process_time() - cpu:.1f} s; "
          f"whole-release audit of every table with Tables 7-9 and the curve, "
          f"{len(protected.audit_pinned)} counts left pinned)")

    start, cpu = time.perf_counter(), time.process_time()
    write_report(out, patients, attrition, config, meta)
    whole = time.perf_counter() - start
    print(f"write_report():     {whole:6.1f} s  (whole analysis and report; target < 60 s)")
    # On a shared machine the wall time says more about the neighbours than the code: the CPU time of this
    # process (mostly one thread) is what an unloaded machine would take, give or take.
    print(f"  CPU time:         {time.process_time() - cpu:6.1f} s  (this process, all threads)")
    print(f"report.html:        {report_html(out).stat().st_size / 1e6:6.2f} MB (limit 1.5 MB)")
    if args.out is None:
        shutil.rmtree(out, ignore_errors=True)
    else:
        print(f"report written to {out}")


if __name__ == "__main__":
    main()
