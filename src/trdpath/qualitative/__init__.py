"""Qualitative thematic analysis: coding projects, codebooks, inter-coder agreement, saturation, REFI-QDA
exchange and theme reports (see docs/qualitative.md).

Entry points: ``store.create_project`` / ``store.open_project``; imports in ``coding``, ``codebook`` and ``refi``;
analyses in ``analysis``, ``saturation`` and ``agreement``; ``report.write_reports``; ``demo.write_demo``; the
Typer app ``cli.app`` (mounted as ``trdpath qual``).
"""
