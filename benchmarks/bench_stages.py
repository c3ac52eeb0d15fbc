"""Benchmark: where `classify` spends its time and memory, stage by stage.

    python benchmarks/bench_stages.py --data EXTRACT [--config study.toml] [--out DIR]

Runs the public API (`trdpath.api.classify`, the same path as `trdpath classify`) on an existing
extract (make one with `trdpath synth --patients 1000000 --format parquet --no-notes --out DIR`)
and prints, for each stage the pipeline reports: wall seconds, prescriptions per second through
that stage, CPU seconds (all threads; twice the wall time is both cores busy) and the peak resident memory of this process during it (sampled every 50 ms; DuckDB's
memory is inside the process). Not part of the tests.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil


class StageClock:
    """The progress callback: closes the running stage and opens the next one."""

    def __init__(self) -> None:
        self.stages: list[dict] = []
        self._process = psutil.Process()
        self._peak = 0
        self._name = "reading and validating the extract"
        self._start = time.perf_counter()
        self._cpu = self._cpu_seconds()
        self._stop = threading.Event()
        self._sampler = threading.Thread(target=self._sample, daemon=True)
        self._sampler.start()

    def _sample(self) -> None:
        while not self._stop.is_set():
            self._peak = max(self._peak, self._process.memory_info().rss)
            time.sleep(0.05)

    def _cpu_seconds(self) -> float:
        times = self._process.cpu_times()
        return times.user + times.system

    def __call__(self, next_stage: str) -> None:
        now, cpu = time.perf_counter(), self._cpu_seconds()
        self._peak = max(self._peak, self._process.memory_info().rss)
        self.stages.append({"stage": self._name, "seconds": now - self._start, "cpu_s": cpu - self._cpu,
                            "peak_gb": self._peak / 1024**3})
        self._name, self._start, self._cpu, self._peak = next_stage, now, cpu, 0

    def finish(self) -> None:
        self("")
        self._stop.set()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True, help="a flat extract (folder of CSV/Parquet tables)")
    parser.add_argument("--config", type=Path, help="study configuration (e.g. [engine] memory_limit)")
    parser.add_argument("--out", type=Path, help="results folder (default: a temporary one, removed)")
    args = parser.parse_args()

    started = time.perf_counter()
    import duckdb

    from trdpath import api, output
    from trdpath.config import load_config

    imported = time.perf_counter() - started
    folder = args.data / "prescriptions"
    source = str(folder / "*.parquet") if folder.is_dir() else str(next(args.data.glob("prescriptions.*")))
    reader = "read_parquet" if source.endswith(".parquet") else "read_csv"
    n_rx = duckdb.connect().execute(f"SELECT count(*) FROM {reader}('{source}')").fetchone()[0]

    clock = StageClock()
    write = output.write_classification

    def timed_write(result, target):  # the output files are a stage of their own
        clock("writing patients.csv, patients.parquet and the rest")
        write(result, target)

    api.write_classification = timed_write
    out = args.out or Path(tempfile.mkdtemp(prefix="trdpath-stages-"))
    try:
        begun = time.perf_counter()
        result = api.classify(args.data, out, config=load_config(args.config), progress=clock)
        clock.finish()
        total = time.perf_counter() - begun
    finally:
        if args.out is None:
            shutil.rmtree(out, ignore_errors=True)

    print(f"{n_rx:,} prescriptions, {result.table.num_rows:,} patients; imports {imported:.1f} s")
    print(f"{'stage':55s} {'seconds':>8s} {'CPU s':>6s} {'rx/s':>12s} {'peak GB':>8s}")
    for stage in clock.stages:
        rate = n_rx / stage["seconds"] if stage["seconds"] > 0 else float("inf")
        print(f"{stage['stage']:55s} {stage['seconds']:8.2f} {stage['cpu_s']:6.2f} {rate:12,.0f} {stage['peak_gb']:8.2f}")
    cpu = sum(s["cpu_s"] for s in clock.stages)
    print(f"{'total':55s} {total:8.2f} {cpu:6.2f} {n_rx / total:12,.0f} {max(s['peak_gb'] for s in clock.stages):8.2f}")
    print(json.dumps(result.summary()), file=sys.stderr)


if __name__ == "__main__":
    main()
