"""`trdpath demo`: a synthetic extract, then everything trdpath can do on it (over trdpath.api)."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import nullcontext
from pathlib import Path

from rich.console import Console

from trdpath import layout

DEMO_MAPPING = Path(__file__).parent / "joint" / "demo_mapping.yaml"


def run_demo(out: Path, n_patients: int, seed: int, console: Console, stages: Callable | None = None,
             summary: Callable | None = None):
    """Write OUT/data (a synthetic extract), OUT/results (`trdpath run` on it) and OUT/qualitative;
    return the classification. `stages(title)`: a context giving the progress callback, `summary(result)`:
    what to show of the classification (both the CLI's)."""
    from trdpath import api

    out = Path(out)
    data = out / "data"
    console.print(f"Generating a synthetic extract of {n_patients:,} patients (seed {seed}) in {data} ...")
    api.synth(data, n_patients, seed=seed, fmt="csv", overwrite=True)
    results = out / "results"
    with stages("Running") if stages else nullcontext(None) as progress:
        result = api.run(data, results, progress=progress)
    if summary:
        console.print(summary(result))
    with console.status("Qualitative demo project: coding, agreement, saturation, themes report ..."):
        qual_report = api.qual_demo(out / "qualitative")
    from trdpath.joint.cli import build_joint_display  # the two strands in one joint display (docs/joint-displays.md)
    joint = build_joint_display(results, out / "qualitative" / "demo_project.sqlite", DEMO_MAPPING, out / "joint")[0]
    release = layout.release_dir(results)
    console.print(f"\nDemo written to {out.resolve()}:")
    console.print(f"  {data}/        the synthetic extract (CSV)")
    console.print(f"  {results}/     patient-level: {layout.PATIENTS_CSV}, {layout.DATA_QUALITY_CSV}, "
                  f"{layout.ATTRITION_CSV}, {layout.CONFIG_TOML} (stay in the secure environment)")
    console.print(f"  {release}/     publishable: {layout.REPORT_HTML} (open in a browser), {layout.REPORT_DOCX}, "
                  f"{layout.TABLES}/, {layout.DATA_QUALITY_CSV}, {layout.ATTRITION_CSV}")
    console.print(f"  {qual_report}  the qualitative themes report (demo interviews, two coders)")
    console.print(f"  {joint}  the joint display of both (statistics-by-themes, side-by-side; also .docx, .xlsx)")
    console.print(f"\nExplore the results in a browser (this machine only): trdpath serve --results {results}")
    return result
