"""The generator's check: the reference engine (trdpath.in_memory, the plain-Python definition of the
rules that every engine is tested against) classifies the extract the generator wrote, so tests can
compare its answer with the generator's intended latent truth. No third implementation of the rules."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from trdpath.in_memory import classify_in_memory

TABLES = ("patients", "diagnoses", "prescriptions", "referrals")


def read_table(folder: Path, name: str) -> pd.DataFrame | None:
    folder = Path(folder)
    if (folder / f"{name}.csv").exists():
        return pd.read_csv(folder / f"{name}.csv", dtype=str, keep_default_na=False)
    for path in (folder / f"{name}.parquet", folder / name):
        if path.exists():
            return pd.read_parquet(path)
    return None


def classify(folder: Path) -> pd.DataFrame:
    """The reference's per-patient table for a generated extract (the notes are left out: the NLP is
    not a rule, and the latent truth is about the rules), with empty text for a missing reason/level."""
    tables = {name: frame for name in TABLES if (frame := read_table(folder, name)) is not None}
    out = classify_in_memory(tables)
    for column in ("exclusion_reason", "resistance_level"):
        out[column] = out[column].fillna("")
    out["in_cohort"] = out["in_cohort"].astype(bool)
    return out
