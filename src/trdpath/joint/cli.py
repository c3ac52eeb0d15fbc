"""`trdpath joint`: a mixed-methods joint display from a result folder, a qualitative project and a mapping."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

MappingOption = Annotated[Path, typer.Option("--mapping", "-m", help="The mapping YAML (docs/joint-displays.md).")]


def build_joint_display(results: Path, project: str, mapping: Path, out: Path) -> list[Path]:
    """Validate the mapping, read both strands, write joint_display.html/.docx/.xlsx into ``out``."""
    from trdpath.joint.display import build_display
    from trdpath.joint.mapping import load_mapping
    from trdpath.joint.render import write_display
    from trdpath.qualitative.store import open_project

    plan = load_mapping(mapping)  # a bad mapping stops here, before any project is opened or file written
    with open_project(project) as qual:
        display = build_display(plan, Path(results), qual)
    return write_display(display, out)


def joint(
    results: Annotated[Path, typer.Option("--results", "-r", help="A result folder (its release/tables are read).")],
    project: Annotated[str, typer.Option("--project", "-p", help="The qualitative project (SQLite file or database URL).")],
    mapping: MappingOption,
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder to write joint_display.html, .docx and .xlsx to.")],
) -> None:
    """Joint display (statistics-by-themes, side-by-side) of quantitative findings and qualitative themes."""
    from trdpath.safety import mask_credentials

    for path in build_joint_display(results, project, mapping, out):
        typer.echo(f"Wrote {mask_credentials(path)}")
