"""`trdpath demo`: a synthetic extract, then everything trdpath can do on it."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from trdpath.config import StudyConfig


def run_demo(out: Path, n_patients: int, seed: int, console: Console) -> None:
    from trdpath.cli import run_classify, run_report
    from trdpath.synth import generate

    out = Path(out)
    data = out / "data"
    console.print(f"Generating a synthetic extract of {n_patients:,} patients (seed {seed}) in {data} ...")
    generate(data, n_patients=n_patients, seed=seed, fmt="csv", overwrite=True)
    results = out / "results"
    result = run_classify(str(data), results, StudyConfig(), None)
    run_report(results, result)
    from trdpath.qualitative.demo import write_demo

    with console.status("Qualitative demo project: coding, agreement, saturation, themes report ..."):
        qual_report = write_demo(out / "qualitative")
    console.print(f"\nDemo written to {out.resolve()}:")
    console.print(f"  {data}/        the synthetic extract (CSV)")
    console.print(f"  {results}/     patients.csv, attrition.csv, data_quality.csv, config.toml")
    console.print(f"  {results / 'report.html'}  the study report (open in a browser); report.docx; tables/")
    console.print(f"  {qual_report}  the qualitative themes report (demo interviews, two coders)")
