"""Benchmark the synthetic generator: wall time, rows per second and peak memory.

    PYTHONPATH=src python benchmarks/bench_synth.py --patients 1000000 --format parquet
    PYTHONPATH=src python benchmarks/bench_synth.py --patients 10000000 --format parquet --keep

Each run happens in a child process so that its peak resident memory (ru_maxrss of the child) is
its own. Notes are off by default (free text is ~0.6 kB a note, 2.5 notes a patient: use --notes to
include them). The output is deleted afterwards unless --keep; never commit it.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import resource
import shutil
import tempfile
import time
from pathlib import Path


def _run(out: str, n: int, seed: int, fmt: str, chunk: int, notes: bool, queue) -> None:
    from trdpath.synth import generate

    started = time.perf_counter()
    counts = generate(Path(out), n, seed=seed, fmt=fmt, chunk_size=chunk, notes=notes)
    queue.put({"seconds": time.perf_counter() - started, "counts": counts})


def _size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def bench(n: int, fmt: str, chunk: int, notes: bool, seed: int, where: Path, keep: bool) -> dict:
    out = where / f"synth-{n}-{fmt}"
    if out.exists():
        shutil.rmtree(out)
    queue = mp.get_context("spawn").Queue()
    proc = mp.get_context("spawn").Process(target=_run, args=(str(out), n, seed, fmt, chunk, notes, queue))
    proc.start()
    result = queue.get()
    proc.join()
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    peak_mb = usage.ru_maxrss / 1024  # Linux: kB; the largest child so far
    cpu = usage.ru_utime + usage.ru_stime - bench.cpu_so_far  # CPU time, unaffected by other load
    bench.cpu_so_far = usage.ru_utime + usage.ru_stime
    rows = sum(result["counts"].values())
    report = {
        "patients": n, "format": fmt, "chunk_size": chunk, "notes": notes,
        "seconds": round(result["seconds"], 1), "cpu_seconds": round(cpu, 1), "counts": result["counts"],
        "rows_per_second": round(rows / result["seconds"]),
        "prescriptions_per_second": round(result["counts"]["prescriptions"] / result["seconds"]),
        "patients_per_second": round(n / result["seconds"]),
        "peak_rss_mb": round(peak_mb), "output_mb": round(_size(out) / 2**20),
    }
    if not keep:
        shutil.rmtree(out)
    return report


bench.cpu_so_far = 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--patients", type=int, nargs="+", default=[1_000_000])
    parser.add_argument("--format", default="parquet", choices=["csv", "parquet"])
    parser.add_argument("--chunk-size", type=int, default=100_000)
    parser.add_argument("--notes", action="store_true")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--dir", type=Path, default=None, help="where to write (default: a temp folder)")
    parser.add_argument("--keep", action="store_true", help="keep the output")
    args = parser.parse_args()
    where = args.dir or Path(tempfile.mkdtemp(prefix="trdpath-bench-"))
    where.mkdir(parents=True, exist_ok=True)
    reports = []
    for n in args.patients:
        report = bench(n, args.format, args.chunk_size, args.notes, args.seed, where, args.keep)
        reports.append(report)
        print(json.dumps(report), flush=True)
    if len(reports) == 1 and reports[0]["patients"] < 10_000_000:
        r = reports[0]
        per_patient = r["seconds"] / r["patients"]
        print(f"Extrapolated to 10,000,000 patients (linear; memory is per chunk): "
              f"{per_patient * 1e7 / 60:.1f} min ({r['cpu_seconds'] / r['patients'] * 1e7 / 60:.1f} CPU-min), "
              f"peak memory ~{r['peak_rss_mb']} MB.")
    if not args.keep and args.dir is None:
        shutil.rmtree(where, ignore_errors=True)


if __name__ == "__main__":
    main()
