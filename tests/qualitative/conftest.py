"""Shared fixtures: the fictional demo project, built once per test session (read-only uses only)."""

from __future__ import annotations

import pytest

from trdpath.qualitative.demo import build_demo_project


@pytest.fixture(scope="session")
def demo_project(tmp_path_factory):
    project = build_demo_project(tmp_path_factory.mktemp("demo") / "demo.qual")
    yield project
    project.close()
