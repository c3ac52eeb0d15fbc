"""Benchmark: the worklist writers (CSV, XLSX, FHIR Flags, HTML) on one computed worklist.

    python benchmarks/bench_worklist.py [--patients 200000] [--data DIR] [--as-of YYYY-MM-DD] [--compare]

Generates a synthetic extract (Parquet, no notes) unless --data points at one, computes the worklist
once (timed, not part of the writers' figures), then times each writer of trdpath.early.outputs and
trdpath.early.fhir into a temporary folder, wall and CPU seconds. --compare also times, in the same
process, the writers they replaced: pandas.to_excel through openpyxl, and one fhir.resources model
built, validated and dumped per Flag (FHIR with --include-stage2 semantics: TRD and stage 2).
Not part of the tests.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_classify import synth_extract  # noqa: E402


def timed(label: str, fn, *args, **kwargs):
    t0, c0 = time.perf_counter(), time.process_time()
    result = fn(*args, **kwargs)
    print(f"  {label}: {time.perf_counter() - t0:.1f} s (CPU {time.process_time() - c0:.1f} s)", flush=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--patients", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--data", type=Path, help="an existing extract (skips generation)")
    parser.add_argument("--as-of", type=dt.date.fromisoformat, help="default: the index date")
    parser.add_argument("--compare", action="store_true", help="also time the writers these replaced")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="trdpath-bench-", dir="."))
    try:
        data = args.data or work / "extract"
        if args.data is None:
            synth_extract(data, args.patients, args.seed)
        from trdpath.config import StudyConfig
        from trdpath.early import fhir, outputs
        from trdpath.early.api import worklist_on
        from trdpath.early.worklist import load_rules
        from trdpath.safety import neutralise_frame
        from trdpath.sources.open import open_source

        print(f"load average: {os.getloadavg()}")
        with open_source(data, StudyConfig()) as (con, extract):
            frame, as_of, _ = timed("worklist computed (not a writer)", worklist_on, con, extract, StudyConfig(),
                                    args.as_of, load_rules())
        flags = int(frame["stage"].isin(["TRD", "2"]).sum())
        print(f"{len(frame):,} patients in current care, {flags:,} at stage 2 or TRD")
        out = work / "out"
        out.mkdir()
        timed("worklist.csv (pandas, neutralised)", lambda: neutralise_frame(frame).to_csv(out / "worklist.csv", index=False))
        timed("worklist.xlsx (XlsxWriter, constant memory)", outputs.write_xlsx, frame, out / "worklist.xlsx")
        timed("flags.ndjson (sampled model validation)", fhir.write_flags, frame, out / "flags.ndjson", as_of, True)
        timed(f"worklist.html (paged, {outputs.HTML_PAGE_ROWS} rows a page)", outputs.write_html, frame, out, as_of,
              "TRD pathway worklist")
        if args.compare:
            import pandas as pd

            def openpyxl_xlsx():
                with pd.ExcelWriter(out / "old.xlsx", engine="openpyxl") as writer:
                    neutralise_frame(frame).head(outputs.EXCEL_ROWS).to_excel(writer, sheet_name="worklist", index=False)

            def every_flag_validated():
                with open(out / "old.ndjson", "w", encoding="utf-8") as handle:
                    for flag in fhir.flag_resources(frame, as_of, include_stage2=True):
                        handle.write(flag.model_dump_json(exclude_none=True) + "\n")

            timed("before: worklist.xlsx (pandas + openpyxl)", openpyxl_xlsx)
            timed("before: flags.ndjson (a model per Flag)", every_flag_validated)
        print(f"load average: {os.getloadavg()}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
