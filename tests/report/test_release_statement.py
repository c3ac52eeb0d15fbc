"""The report and release/README.md say which files may leave the secure environment, and name every
patient-level file that may not (issue 14 item 4; the pathway steps and the assumption counts were missing)."""

from __future__ import annotations

import pytest

from trdpath import layout


@pytest.mark.parametrize("text", [layout.release_statement(True), layout.release_readme(True, 8, 5)])
def test_every_patient_level_file_is_named_as_staying(text):
    for name in layout.PATIENT_LEVEL_FILES:  # patients, pathway steps, assumption counts, raw DQ, attrition, ...
        assert name in text, name
    for name in (layout.REPORT_HTML, layout.REPORT_DOCX, layout.TABLES_XLSX):
        assert name in text, name


def test_with_disclosure_off_nothing_may_leave():
    assert "no file of it" in layout.release_statement(False)
    assert "nothing here may leave" in layout.release_readme(False, 8, 5)


@pytest.mark.parametrize("text", [layout.release_statement(True), layout.release_readme(True, 8, 5)])
def test_the_atlas_may_leave_and_the_other_commands_folders_stay(text):
    """release/definitions/ (the atlas, inside the one audit) may leave; OUT/definitions/ (verdicts, true counts),
    OUT/backtest/ and OUT/risk/ are patient-level."""
    for folder in ("definitions/", "backtest/", "risk/"):
        assert folder in text, folder
