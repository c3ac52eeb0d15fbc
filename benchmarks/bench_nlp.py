"""Throughput of the notes NLP on synthetic ~100-word UK psychiatric notes (issue 21: >= 5,000 notes/s on 2 processes).

Run:  PYTHONPATH=src /work/venv/bin/python benchmarks/bench_nlp.py [--notes 20000] [--processes 1 2] [--profile]
Prints notes/second for each process count, with and without the sentence pre-filter, and (with
--profile) the top of a cProfile of one single-process run.
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import io
import os
import pstats
import resource
import time

import numpy as np
import pandas as pd
from rich.console import Console
from rich.table import Table

from trdpath.nlp.pipeline import build_pipeline, extract_mentions
from trdpath.nlp.synthetic import make_notes


def synthetic_notes(n_notes: int, seed: int = 1) -> pd.DataFrame:
    """About n_notes notes: 2.5 notes per patient on average; 15% self-harm, 15% SI, 4% attempts."""
    rng = np.random.default_rng(seed)
    n_patients = int(n_notes / 2.5) + 1
    patients = pd.DataFrame({
        "patient_id": [f"B{i:06d}" for i in range(n_patients)],
        "index_date": dt.date(2023, 1, 1),
        "self_harm": rng.random(n_patients) < 0.15,
        "suicidal_ideation": rng.random(n_patients) < 0.15,
        "suicide_attempt": rng.random(n_patients) < 0.04,
    })
    notes, _ = make_notes(patients, seed=seed)
    return notes.head(n_notes)


def _cpu_seconds() -> float:
    """CPU time of this process and of finished worker processes: on a shared machine, wall time measures
    the other users as much as us, while notes per CPU-second is what one idle core would do."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--notes", type=int, default=20000)
    parser.add_argument("--processes", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    console = Console()
    notes = synthetic_notes(args.notes)
    words = notes["text"].str.split().str.len().mean()
    nlp = build_pipeline()
    extract_mentions(notes.head(200), nlp)  # warm-up: compile matchers and regexes
    table = Table(title=f"{len(notes)} notes, {words:.0f} words on average, {os.cpu_count()} CPUs, "
                        f"load average {os.getloadavg()[0]:.1f}")
    for column in ("pre-filter", "processes", "wall s", "notes/s (wall)", "CPU s", "notes per CPU-s", "mentions"):
        table.add_column(column, justify="right")
    for use_prefilter in (True, False):
        for processes in args.processes:
            subset = notes if use_prefilter else notes.head(max(len(notes) // 10, 1000))
            start, cpu_start = time.perf_counter(), _cpu_seconds()
            mentions = extract_mentions(subset, nlp, n_process=processes, use_prefilter=use_prefilter)
            seconds, cpu = time.perf_counter() - start, _cpu_seconds() - cpu_start
            table.add_row("on" if use_prefilter else "off (10% sample)", str(processes), f"{seconds:.2f}",
                          f"{len(subset) / seconds:,.0f}", f"{cpu:.2f}", f"{len(subset) / cpu:,.0f}",
                          str(len(mentions)))
    console.print(table)
    if args.profile:
        profiler = cProfile.Profile()
        profiler.enable()
        extract_mentions(notes, nlp)
        profiler.disable()
        stream = io.StringIO()
        pstats.Stats(profiler, stream=stream).sort_stats("tottime").print_stats(15)
        console.print(stream.getvalue(), markup=False, highlight=False)


if __name__ == "__main__":
    main()
