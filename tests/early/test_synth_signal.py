"""The modest-signal option of the synthetic extract (trdpath.early.synth_signal): a known odds ratio
of anxiety for TRD, only the diagnoses rewritten, the default generator untouched."""

from __future__ import annotations

import hashlib
import math
import shutil

import numpy as np
import pandas as pd
import pytest

from trdpath.early.synth_signal import ANXIETY_PATTERN, add_modest_signal, signal_probabilities
from trdpath.errors import UserError


def _odds_ratio(exposed: np.ndarray, outcome: np.ndarray) -> tuple[float, float, float]:
    """Odds ratio with Woolf's 95% CI from the 2x2 table."""
    a = np.sum(exposed & outcome); b = np.sum(exposed & ~outcome)
    c = np.sum(~exposed & outcome); d = np.sum(~exposed & ~outcome)
    ratio, se = (a * d) / (b * c), math.sqrt(1 / a + 1 / b + 1 / c + 1 / d)
    return ratio, ratio * math.exp(-1.96 * se), ratio * math.exp(1.96 * se)


def test_probabilities_by_hand():
    # OR 2 at p0 = 0.15: p1 = 0.3 / (0.85 + 0.3) = 0.26087; odds 0.35294 / 0.17647 = 2.
    p0, p1 = signal_probabilities(2.0, 0.15)
    assert p1 == pytest.approx(0.3 / 1.15) and (p1 / (1 - p1)) / (p0 / (1 - p0)) == pytest.approx(2.0)


@pytest.fixture(scope="module")
def extracts(tmp_path_factory):
    from trdpath.synth import generate

    base = tmp_path_factory.mktemp("signal")
    generate(base / "plain", 3000, seed=21, notes=False)
    shutil.copytree(base / "plain", base / "signal")
    design = add_modest_signal(base / "signal", odds_ratio=2.0, seed=4)
    return base / "plain", base / "signal", design


def _digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_known_odds_ratio_and_only_diagnoses_change(extracts):
    plain, signal, design = extracts
    for name in ("patients.csv", "prescriptions.csv", "referrals.csv", "synth_truth.csv"):
        assert _digest(plain / name) == _digest(signal / name)
    assert _digest(plain / "diagnoses.csv") != _digest(signal / "diagnoses.csv")
    truth = pd.read_csv(signal / "synth_truth.csv", dtype=str, keep_default_na=False)
    truth = truth[truth["intended_episode_start"] != ""]
    dx = pd.read_csv(signal / "diagnoses.csv", dtype=str, keep_default_na=False)
    anxious = dx[dx["code"].str.replace(".", "", regex=False).str.upper().str.match(ANXIETY_PATTERN)]
    assert set(anxious["code"]) == {"F41.1"}  # the generator's own anxiety codes are gone
    exposed = truth["patient_id"].isin(anxious["patient_id"]).to_numpy()
    ratio, lo, hi = _odds_ratio(exposed, truth["intended_trd"].eq("true").to_numpy())
    assert lo < 2.0 < hi and lo > 1.0, (ratio, lo, hi)
    # Known by the first adequate trial: dated 30 days before the intended episode start.
    start = truth.set_index("patient_id")["intended_episode_start"]
    lead = pd.to_datetime(anxious["patient_id"].map(start)) - pd.to_datetime(anxious["date"])
    assert (lead.dt.days == 30).all()
    assert design["added"] == int(exposed.sum())


def test_the_risk_data_see_the_association(extracts):
    from trdpath.sources.open import open_source as opened_extract
    from trdpath.config import StudyConfig
    from trdpath.early.api import default_as_of
    from trdpath.early.risk import risk_dataset
    from trdpath.early.timeline import build_timeline

    _, signal, _ = extracts
    config = StudyConfig()
    with opened_extract(signal, config) as (con, extract):
        as_of = default_as_of(con, extract, config)
        frame = risk_dataset(build_timeline(con, extract, config, as_of), extract, as_of)
    ratio, lo, _ = _odds_ratio(frame["anxiety"].to_numpy(bool), frame["outcome"].to_numpy(bool))
    assert lo > 1.0  # diluted by the outcome window, but there


def test_not_a_synthetic_extract(tmp_path):
    with pytest.raises(UserError, match="not an extract written by"):
        add_modest_signal(tmp_path)


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_synth_command_modest_signal(tmp_path, fmt):
    """`trdpath synth --modest-signal` gives the diagnoses add_modest_signal gives on the same extract
    generated without the flag (same seed), in both file formats."""
    from cli.test_bad_input import run_cli

    for flag, name in (("--modest-signal", "with"), (None, "plain")):
        done = run_cli("synth", "-n", "300", "-s", "4", "--format", fmt, "--no-notes", "-q", "--out",
                       str(tmp_path / name), *([flag] if flag else []))
        assert done.returncode == 0, done.stderr
    design = add_modest_signal(tmp_path / "plain", seed=4)
    read = (lambda p: pd.read_csv(p / "diagnoses.csv", dtype=str)) if fmt == "csv" else (lambda p: pd.read_parquet(p / "diagnoses.parquet"))
    key = ["patient_id", "date", "code"]
    a = read(tmp_path / "with").astype(str).sort_values(key).reset_index(drop=True)
    b = read(tmp_path / "plain").astype(str).sort_values(key).reset_index(drop=True)
    pd.testing.assert_frame_equal(a[key], b[key])
    assert design["added"] > 0 and (a["code"] == "F41.1").sum() == design["added"]


def test_synth_command_modest_signal_refuses_omop(tmp_path):
    from cli.test_bad_input import run_cli

    done = run_cli("synth", "-n", "10", "--format", "omop", "--modest-signal", "--out", str(tmp_path / "o"))
    assert done.returncode == 2 and "--modest-signal works with --format csv or parquet" in done.stderr
    assert "Traceback" not in done.stderr and not (tmp_path / "o").exists()
