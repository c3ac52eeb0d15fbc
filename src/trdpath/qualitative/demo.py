"""The fictional demonstration project shipped in ``demo_data/`` and the report ``trdpath demo`` writes."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from trdpath.qualitative.codebook import import_codebook
from trdpath.qualitative.coding import code_from_table, import_memos, import_participants, import_transcripts
from trdpath.qualitative.store import QualProject, create_project

DEMO_DIR = Path(__file__).parent / "demo_data"
INTERVIEW_ORDER = ["P1", "C1", "P2", "C2", "P3", "C3", "P4", "C4", "P5", "C5"]
DEMO_CODERS = ("Alex", "Sam")


def build_demo_project(location: str | Path) -> QualProject:
    """Create the demo project at ``location`` (a new SQLite file or a database URL)."""
    project = create_project(location, "TRD interviews (fictional demonstration)",
                             description="Ten fictional interviews with people with TRD and clinicians, "
                                         "coded independently by two coders.")
    import_participants(project, DEMO_DIR / "participants.csv", who="Alex")
    import_transcripts(project, [DEMO_DIR / "transcripts" / f"{name}.txt" for name in INTERVIEW_ORDER], who="Alex")
    import_codebook(project, DEMO_DIR / "codebook.yaml", who="Alex")
    for coder in DEMO_CODERS:
        code_from_table(project, DEMO_DIR / f"coding_{coder.lower()}.csv", who=coder)
    import_memos(project, DEMO_DIR / "memos.csv", who="Alex")
    return project


def write_demo(out_dir: Path) -> Path:
    """Build the demo project and write its qualitative report (HTML, DOCX, Markdown) and project into
    ``out_dir``; returns the path of report.html. Files appear only when complete (built in a temporary folder)."""
    from trdpath.qualitative.report import write_reports

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out_dir, prefix=".qual-demo-") as tmp:
        tmp = Path(tmp)
        project = build_demo_project(tmp / "demo_project.sqlite")
        try:
            written = write_reports(project, tmp, coders_for_themes=[DEMO_CODERS[0]],
                                    agreement_coders=list(DEMO_CODERS))
        finally:
            project.close()
        for path in [tmp / "demo_project.sqlite", *written]:
            if path.exists():
                shutil.move(str(path), out_dir / path.name)
    return out_dir / "report.html"
