"""Licence metadata as PEP 639 wants it (setuptools >= 77 warns about a `license` table) and a LICENSE
file that says what pyproject.toml says (issue 15 item 8)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_licence_is_an_spdx_expression_with_its_file():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert project["project"]["license"] == "MIT"  # a string, not the deprecated {text = ...} table
    files = project["project"]["license-files"]
    assert files == ["LICENSE"] and all((ROOT / f).is_file() for f in files)
    text = (ROOT / "LICENSE").read_text()
    assert text.startswith("MIT License\n") and "Permission is hereby granted, free of charge" in text
    # PEP 639 support (license-files, SPDX license) arrived in setuptools 77
    requires = " ".join(project["build-system"]["requires"])
    assert int(re.search(r"setuptools>=(\d+)", requires).group(1)) >= 77
    assert not any("License ::" in c for c in project["project"].get("classifiers", []))
