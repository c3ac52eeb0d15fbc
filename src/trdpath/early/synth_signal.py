"""A modest, known association for the synthetic extract, so that risk tests and demos have an answer.

The default generator (trdpath.synth) is left as it is. `add_modest_signal(FOLDER)` rewrites only the
diagnoses of a generated extract: every anxiety code (ICD-10 F40-F41, F43.1: the `anxiety` list of
reference/icd10_codes.csv) is removed, then each patient with an episode gets one anxiety code
(F41.1), dated 30 days before the generator's intended episode start (so known at the first
adequate trial), with probability p0 when the generator's latent truth says "no TRD" and p1 when it
says "TRD", chosen so the odds ratio is `odds_ratio` (default 2.0: modest, near the published
predictors of TRD; Lage et al. 2022 report an external AUROC of 0.652 for a full model).

    p1 = OR * p0 / (1 - p0 + OR * p0)

The truth is `synth_truth.csv` (intended TRD); the classification agrees with it for most
patients, so the association seen by `trdpath risk` is this one, diluted a little.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from trdpath.atomic import replace_file
from trdpath.errors import UserError

ANXIETY_CODE = "F41.1"
ANXIETY_PATTERN = r"^(?:F4[01]|F431)"  # the `anxiety` list (reference/icd10_codes.csv), dots removed
LEAD_DAYS = 30


def signal_probabilities(odds_ratio: float, p0: float) -> tuple[float, float]:
    """(p0, p1) with p1 / (1 - p1) = odds_ratio * p0 / (1 - p0)."""
    return p0, odds_ratio * p0 / (1 - p0 + odds_ratio * p0)


def add_modest_signal(folder: Path | str, odds_ratio: float = 2.0, p0: float = 0.15, seed: int = 0) -> dict:
    """Rewrite `folder`'s diagnoses (CSV or Parquet, as generated) with the designed anxiety signal;
    returns the design and the counts. Deterministic for `seed`."""
    folder = Path(folder)
    if not (odds_ratio > 0 and 0 < p0 < 1):
        raise UserError(f"The modest signal needs odds_ratio > 0 and 0 < p0 < 1 (got {odds_ratio}, {p0}).")
    truth_path = folder / "synth_truth.csv"
    parquet = folder / "diagnoses.parquet"
    parts = folder / "diagnoses"  # a folder of part-*.parquet (as some writers of extracts give)
    path = parquet if parquet.is_file() else parts if parts.is_dir() else folder / "diagnoses.csv"
    if not truth_path.is_file() or not path.exists():
        raise UserError(f"{folder} is not an extract written by `trdpath synth` (synth_truth.csv and diagnoses needed).")
    truth = pd.read_csv(truth_path, dtype=str, keep_default_na=False)
    is_parquet = path.suffix == ".parquet" or path.is_dir()
    diagnoses = pd.read_parquet(path) if is_parquet else pd.read_csv(path, dtype=str, keep_default_na=False)
    normalised = diagnoses["code"].astype(str).str.replace(".", "", regex=False).str.strip().str.upper()
    kept = diagnoses[~normalised.str.match(ANXIETY_PATTERN)]
    start = pd.to_datetime(truth["intended_episode_start"], errors="coerce")
    treated = truth[start.notna()].copy()
    trd = treated["intended_trd"].str.lower().eq("true").to_numpy()
    p0, p1 = signal_probabilities(odds_ratio, p0)
    rng = np.random.default_rng(seed)
    gets = rng.random(len(treated)) < np.where(trd, p1, p0)
    dates = (start[start.notna()] - pd.Timedelta(days=LEAD_DAYS))[gets]
    added = pd.DataFrame({"patient_id": treated["patient_id"].to_numpy()[gets], "code": ANXIETY_CODE})
    if is_parquet:
        added["date"] = dates.dt.date.to_numpy()
        added = added.astype({c: diagnoses[c].dtype for c in ("patient_id", "code")}, errors="ignore")
    else:
        added["date"] = dates.dt.strftime("%Y-%m-%d").to_numpy()
    for column in diagnoses.columns.difference(added.columns):
        added[column] = None
    out = pd.concat([kept, added[diagnoses.columns]], ignore_index=True)
    if path.is_dir():
        from trdpath.atomic import replace_folder

        with replace_folder(path) as staging:  # trdpath.atomic: the old parts or the new one, never half
            out.to_parquet(staging / "part-0.parquet", index=False)
        return _design(odds_ratio, p0, p1, diagnoses, kept, gets, treated, trd)
    with replace_file(path) as temporary:  # trdpath.atomic: the old diagnoses or the new, never half
        if path.suffix == ".parquet":
            out.to_parquet(temporary, index=False)
        else:
            out.to_csv(temporary, index=False)
    return _design(odds_ratio, p0, p1, diagnoses, kept, gets, treated, trd)


def _design(odds_ratio, p0, p1, diagnoses, kept, gets, treated, trd) -> dict:
    return {"odds_ratio": odds_ratio, "p0": p0, "p1": p1, "removed": int(len(diagnoses) - len(kept)),
            "added": int(gets.sum()), "treated": int(len(treated)), "trd": int(trd.sum())}
