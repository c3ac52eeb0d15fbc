"""`trdpath demo`: a synthetic extract, then everything trdpath can do on it."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from trdpath import layout
from trdpath.config import StudyConfig


def run_demo(out: Path, n_patients: int, seed: int, console: Console) -> None:
    from trdpath.cli import run_classify
    from trdpath.synth import generate

    out = Path(out)
    data = out / "data"
    console.print(f"Generating a synthetic extract of {n_patients:,} patients (seed {seed}) in {data} ...")
    generate(data, n_patients=n_patients, seed=seed, fmt="csv", overwrite=True)
    results = out / "results"
    run_classify(str(data), results, StudyConfig(), None, with_report=True)
    from trdpath.qualitative.demo import write_demo

    with console.status("Qualitative demo project: coding, agreement, saturation, themes report ..."):
        qual_report = write_demo(out / "qualitative")
    release = layout.release_dir(results)
    console.print(f"\nDemo written to {out.resolve()}:")
    console.print(f"  {data}/        the synthetic extract (CSV)")
    console.print(f"  {results}/     patient-level: {layout.PATIENTS_CSV}, {layout.DATA_QUALITY_CSV}, "
                  f"{layout.ATTRITION_CSV}, {layout.CONFIG_TOML} (stay in the secure environment)")
    console.print(f"  {release}/     publishable: {layout.REPORT_HTML} (open in a browser), {layout.REPORT_DOCX}, "
                  f"{layout.TABLES}/, {layout.DATA_QUALITY_CSV}, {layout.ATTRITION_CSV}")
    console.print(f"  {qual_report}  the qualitative themes report (demo interviews, two coders)")
