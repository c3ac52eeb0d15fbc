"""Patient-level flags from mentions, and the inputs of the self-harm sensitivity analysis.

A patient is flagged for a category when at least one note dated on or before the index date holds an
affirmed mention about the patient: not negated, not hypothetical, experiencer 'patient', certain; current
or historical both count. Self-harm follows NICE NG225: self-poisoning or self-injury whatever the intent,
so a suicide attempt also counts as self-harm (as ICD-10 X60-X84 'intentional self-harm' codes do).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from pathlib import Path
from typing import Sequence

import pandas as pd

from trdpath.errors import InputError
from trdpath.nlp.pipeline import CATEGORIES, INTERNAL_CATEGORIES, extract_mentions, shared_pipeline, validate_notes
from trdpath.nlp.rules import load_rules

FLAG_COLUMNS = ["self_harm_nlp", "suicidal_ideation_nlp", "suicide_attempt_nlp"]


def affirmed(mentions: pd.DataFrame) -> pd.Series:
    """True for mentions that assert the event happened to the patient (current or historical)."""
    return (~mentions["negated"].astype(bool) & ~mentions["hypothetical"].astype(bool)
            & (mentions["experiencer"] == "patient") & (mentions["certainty"] == "certain"))


def _index_dates(patient_ids: pd.Series, index_date) -> pd.Series | None:
    """Per-row index date: one date for everyone, or a per-patient Series / mapping, or None (no cut-off)."""
    if index_date is None:
        return None
    if isinstance(index_date, (dt.date, pd.Timestamp, str)):
        return pd.Series(pd.Timestamp(index_date), index=patient_ids.index)
    if isinstance(index_date, pd.Series) or isinstance(index_date, Mapping):
        lookup = pd.Series(index_date)
        lookup.index = lookup.index.astype(str)
        return pd.to_datetime(patient_ids.map(lookup))
    raise InputError(f"index_date must be a date, a per-patient Series/mapping or None, not {type(index_date).__name__}")


def flags_from_mentions(mentions: pd.DataFrame, patient_ids: Sequence[str] | pd.Series,
                        index_date=None, extra_categories: Sequence[str] = ()) -> pd.DataFrame:
    """Patient-level flags from a mention table (see module docstring); one row per id in patient_ids.

    extra_categories: categories added with --rules (lower case); each gets a '<category>_nlp' column
    after the three built-in flags, by the same rule (affirmed, about the patient, up to the index date).
    """
    ids = pd.Index(pd.Series(patient_ids, dtype=str).drop_duplicates(), name="patient_id")
    mentions = mentions.copy()
    mentions["patient_id"] = mentions["patient_id"].astype(str)
    keep = affirmed(mentions) if len(mentions) else pd.Series(dtype=bool)
    cutoff = _index_dates(mentions["patient_id"], index_date)
    if cutoff is not None and len(mentions):
        # No index date for a patient (NaT) means no cut-off for that patient.
        keep &= cutoff.isna() | (pd.to_datetime(mentions["date"]) <= cutoff)
    found = mentions[keep] if len(mentions) else mentions
    has = found.groupby(["patient_id", "category"]).size().unstack(fill_value=0) > 0 if len(found) else pd.DataFrame()
    out = pd.DataFrame(index=ids)
    extra = [c for c in dict.fromkeys(extra_categories) if f"{c}_nlp" not in FLAG_COLUMNS]
    for category in ("self_harm", "suicidal_ideation", "suicide_attempt", *extra):
        column = has[category] if category in has.columns else pd.Series(dtype=bool)
        out[f"{category}_nlp"] = column.reindex(ids, fill_value=False).astype(bool).to_numpy()
    out["self_harm_nlp"] |= out["suicide_attempt_nlp"]
    return out.reset_index()


def patient_flags(notes: pd.DataFrame, index_date: dt.date | pd.Series | Mapping | None = None, *,
                  extra_rule_files: Sequence[Path | str] = (), n_process: int = 1,
                  progress: bool = False, mentions: pd.DataFrame | None = None) -> pd.DataFrame:
    """patient_id, self_harm_nlp, suicidal_ideation_nlp, suicide_attempt_nlp for every patient in notes.

    index_date: one date for all patients, a Series/mapping patient_id -> date (each patient's own index
    date), or None to use every note. Patients with notes but no affirmed mention get False; patients
    with no notes are absent (join with how='left' and fill False).
    """
    notes = validate_notes(notes)
    if mentions is None:
        # The pipeline of these rule files, built once per process (pipeline.shared_pipeline).
        mentions = extract_mentions(notes, shared_pipeline(extra_rule_files), n_process=n_process,
                                    progress=progress)
    # Only the category names are needed here: the same whether the rules are compiled or not.
    rules = load_rules(extra_rule_files, compile_rules=False)
    return flags_from_mentions(mentions, notes["patient_id"], index_date,
                               extra_categories=reported_categories(rules.target_rules))


def reported_categories(target_rules) -> list[str]:
    """Target categories beyond the three built in (added with --rules), lower case, in rule order."""
    labels = [rule.category for rule in target_rules]
    return [label.lower() for label in dict.fromkeys(labels)
            if label not in CATEGORIES and label not in INTERNAL_CATEGORIES]


def self_harm_sensitivity_inputs(patients: pd.DataFrame, flags: pd.DataFrame,
                                 structured_column: str = "self_harm") -> pd.DataFrame:
    """The per-patient table with self_harm_codes, the NLP flags and self_harm_any = codes or notes.

    patients: the per-patient result with a structured (ICD-10 coded) self-harm column.
    The report runs its TRD vs MDD comparison and Models 3/4 once with self_harm_codes and once with
    self_harm_any.
    """
    if structured_column not in patients.columns:
        raise InputError(f"column {structured_column!r} (self-harm from codes) not found in patients")
    out = patients.copy()
    out["patient_id"] = out["patient_id"].astype(str)
    flags = flags.assign(patient_id=flags["patient_id"].astype(str))
    out = out.merge(flags[["patient_id", *FLAG_COLUMNS]], on="patient_id", how="left")
    out[FLAG_COLUMNS] = out[FLAG_COLUMNS].astype("boolean").fillna(False).astype(bool)
    out["self_harm_codes"] = out[structured_column].astype("boolean").fillna(False).astype(bool)
    out["self_harm_any"] = out["self_harm_codes"] | out["self_harm_nlp"]
    return out


def self_harm_gain(table: pd.DataFrame, group_column: str | None = None) -> pd.DataFrame:
    """How many patients have self-harm by codes, by notes, by either, and by notes only (per group)."""
    groups = table.groupby(group_column) if group_column else [("all", table)]
    rows = []
    for name, part in groups:
        rows.append({"group": name, "patients": len(part),
                     "self_harm_codes": int(part["self_harm_codes"].sum()),
                     "self_harm_nlp": int(part["self_harm_nlp"].sum()),
                     "self_harm_any": int(part["self_harm_any"].sum()),
                     "notes_only": int((part["self_harm_nlp"] & ~part["self_harm_codes"]).sum())})
    return pd.DataFrame(rows)
