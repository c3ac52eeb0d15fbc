"""Benchmark: what the spreadsheet-formula guard costs when writing patients.csv at 1M patients.

    PYTHONPATH=src python benchmarks/bench_write_patients.py [--patients 1000000] [--repeat 5]

Builds a per-patient table of `--patients` rows by classifying a small synthetic extract and repeating
its rows (fresh patient ids), then alternates, `--repeat` times: (a) the Arrow CSV writer alone (the path
before the guard), (b) `neutralise_arrow` alone, (c) both, as trdpath.output writes patients.csv. Prints
the medians and the ratio (c)/(a) from the same run (the machine may be shared: compare ratios).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import pyarrow as pa  # noqa: E402
import pyarrow.compute as pc  # noqa: E402

from trdpath import api  # noqa: E402
from trdpath.output import write_csv  # noqa: E402
from trdpath.safety import neutralise_arrow  # noqa: E402
from trdpath.synth import generate  # noqa: E402


def patients_table(n: int, work: Path) -> pa.Table:
    generate(work / "extract", n_patients=2000, seed=3, fmt="csv", notes=False)
    small = api.classify(work / "extract", work / "results").table
    table = pa.concat_tables([small] * (-(-n // small.num_rows))).slice(0, n).combine_chunks()
    ids = pc.binary_join_element_wise("P", pc.cast(pa.array(range(n), pa.int64()), pa.string()), "")
    return table.set_column(0, table.schema.field(0), ids)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--patients", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        table = patients_table(args.patients, work)
        texts = [f.name for f in table.schema if pa.types.is_string(f.type)]
        flagged = sum(pc.sum(pc.match_substring_regex(table.column(c), r"^[=+\-@\t\r]")).as_py() or 0 for c in texts)
        print(f"{table.num_rows:,} rows, {len(texts)} text columns, {flagged:,} values starting like a formula")
        times = {"write": [], "neutralise": [], "both": []}
        for _ in range(args.repeat):
            start = time.perf_counter()
            write_csv(table, work / "a.csv")
            times["write"].append(time.perf_counter() - start)
            start = time.perf_counter()
            neutralise_arrow(table)
            times["neutralise"].append(time.perf_counter() - start)
            start = time.perf_counter()
            write_csv(neutralise_arrow(table), work / "b.csv")
            times["both"].append(time.perf_counter() - start)
        medians = {k: statistics.median(v) for k, v in times.items()}
        for key, values in times.items():
            print(f"{key:>10}: median {medians[key]:.3f} s  ({', '.join(f'{v:.3f}' for v in values)})")
        print(f"ratio (neutralise + write) / write: {medians['both'] / medians['write']:.3f}")


if __name__ == "__main__":
    main()
