"""Page and filter response times of `trdpath serve` on a large result, measured against 127.0.0.1.

    python benchmarks/bench_serve.py --patients 1000000 --requests 300

Builds a result folder from the statistics' synthetic per-patient rows (no extract, no classification:
the server only reads the result), starts the app with uvicorn on a free 127.0.0.1 port, waits until every
filtered view is computed (the server does this once, in the background, at start; the time is printed),
then sends a bounded number of requests (pages and every filter value, in a fixed shuffled order, one at
a time) and prints p50/p95/max. It stops by itself; nothing leaves this machine.
"""

from __future__ import annotations

import argparse
import random
import socket
import statistics
import tempfile
import threading
import time
from pathlib import Path

import httpx
import pandas as pd


def build(folder: Path, n: int) -> None:
    from trdpath.config import StudyConfig
    from trdpath.report import write_report
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # support.synthetic: test-only helpers
    from support.synthetic import synthetic_patients

    patients = synthetic_patients(n, seed=1)
    folder.mkdir(parents=True, exist_ok=True)
    patients.to_parquet(folder / "patients.parquet", index=False)
    # Pathway steps made up from the sequences, so the release has lines and step times and patient pages a timeline.
    from trdpath.stats.pathways import synthetic_steps, write_steps
    write_steps(synthetic_steps(patients, seed=1), folder)
    config = StudyConfig()
    (folder / "config.toml").write_text(config.to_toml(), encoding="utf-8")
    cohort = int(patients["in_cohort"].sum())
    attrition = pd.DataFrame({"rule": ["extract", "excluded"], "remaining": [n, cohort], "excluded": [0, n - cohort]})
    write_report(folder, patients, attrition, config, {"software_version": "bench", "index_date": "2024-01-01",
                                                       "data_date_range": ("2000-01-01", "2024-01-01"),
                                                       "source": "synthetic"})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--results", type=Path, default=None, help="an existing result folder (skips building)")
    args = parser.parse_args()

    import uvicorn

    from trdpath.serve.app import create_app
    from trdpath.serve.filters import SERVICES
    from trdpath.serve.live import partitions

    folder = args.results or Path(tempfile.mkdtemp(prefix="trdpath-bench-serve-")) / "results"
    if args.results is None:
        started = time.perf_counter()
        build(folder, args.patients)
        print(f"result of {args.patients:,} patients built in {time.perf_counter() - started:.1f} s")
    secret = "bench-token-0123456789"
    app = create_app(folder, secret=secret, warm=False, patient_level=True)
    started = time.perf_counter()
    app.state.live.warm()
    print(f"every filtered view computed in {time.perf_counter() - started:.1f} s (once, at start)")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    paths = ["/", "/tables", "/pathways", "/definitions"]
    # Patient pages (the timeline: one patient's rows of pathway_steps and patients.parquet, queried in DuckDB).
    ids = [r[0] for r in app.state.folder.connection().execute(
        "SELECT patient_id FROM patients WHERE in_cohort ORDER BY hash(patient_id) LIMIT 20").fetchall()]
    paths += [f"/patients/{i}" for i in ids]
    for dimension, values in partitions(app.state.folder).items():
        paths += [f"/tables?{dimension}={v}" for v in values]
    paths += [f"/tables?service={s}" for s in SERVICES]
    order = [paths[i % len(paths)] for i in range(args.requests)]
    random.Random(1).shuffle(order)
    times = []
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
        client.get(f"/?token={secret}")
        for path in order:
            t = time.perf_counter()
            response = client.get(path.replace("+", "%2B"))
            times.append(time.perf_counter() - t)
            assert response.status_code == 200, (path, response.status_code)
    server.should_exit = True
    times.sort()
    p95 = times[int(0.95 * (len(times) - 1))]
    print(f"{len(times)} requests over {len(paths)} pages/filters: p50 {statistics.median(times) * 1000:.0f} ms, "
          f"p95 {p95 * 1000:.0f} ms, max {times[-1] * 1000:.0f} ms")


if __name__ == "__main__":
    main()
