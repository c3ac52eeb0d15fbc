"""Outputs that need the extract itself, not only patients.csv (issue 16 items 3-4), written by `classify`
beside the patient-level files; the report publishes them under disclosure control."""

from __future__ import annotations

from pathlib import Path


def write_extract_outputs(con, extract, result, folder: Path) -> None:
    """OUT/assumption_sensitivity.csv (true counts) and OUT/pathway_steps.csv (patient level).

    Each pass runs only when switched on (``[analysis] assumption_sensitivity`` / ``pathways``, both on by
    default; ``--no-extra-passes``); a pass switched off writes nothing and the report says it was not run.
    """
    from trdpath.stats.assumptions import write_assumption_sensitivity
    from trdpath.stats.pathways import write_pathway_steps

    if result.config.analysis.assumption_sensitivity:
        write_assumption_sensitivity(con, extract, result, folder)
    if result.config.analysis.pathways:
        write_pathway_steps(con, extract, result, folder)
