"""Shared synthetic extracts for the generator's tests (generated once per session, seeded)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from trdpath.synth import generate

CALIBRATION_PATIENTS = 5000
CALIBRATION_SEED = 2026


@pytest.fixture(scope="session")
def calibration_extract(tmp_path_factory) -> Path:
    """A ~5,000-patient CSV extract (the size of the paper's cohort)."""
    out = tmp_path_factory.mktemp("synth") / "extract"
    generate(out, CALIBRATION_PATIENTS, seed=CALIBRATION_SEED, fmt="csv")
    return out


@pytest.fixture(scope="session")
def engine_result(calibration_extract, tmp_path_factory):
    """The lead's classification engine run on the calibration extract (default rules)."""
    from trdpath.api import classify

    return classify(calibration_extract, tmp_path_factory.mktemp("classified") / "out")


@pytest.fixture(scope="session")
def latent_truth(calibration_extract) -> pd.DataFrame:
    return pd.read_csv(calibration_extract / "synth_truth.csv", dtype=str, keep_default_na=False)


def read_csv(folder: Path, name: str) -> pd.DataFrame:
    return pd.read_csv(Path(folder) / f"{name}.csv", dtype=str, keep_default_na=False)


# The backend fixtures (a PostgreSQL URL that skips, or fails under CI, without a server; one Spark
# session) for the synthetic-CDM tests that run on every backend.
from backends.conftest import postgres_url, spark_con  # noqa: E402,F401
