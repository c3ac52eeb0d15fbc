"""Flags from the clinical notes (issue 6): self-harm, suicidal ideation and suicide attempt, up to
the index date, and `self_harm_any` (coded self-harm or an affirmed mention in the notes).

The one definition of `self_harm_any` for every engine: `self_harm_any` below, taken by the Ibis
pipeline (with_note_flags) and the reference engine (in_memory) alike.
"""

from __future__ import annotations

import datetime as dt

import ibis

from trdpath.config import StudyConfig
from trdpath.schema import NLP_COLUMNS
from trdpath.sources import Extract

NOTE_FLAGS = NLP_COLUMNS[:-1]  # self_harm_nlp, suicidal_ideation_nlp, suicide_attempt_nlp


def self_harm_any(coded, from_notes):
    """Coded self-harm or an affirmed self-harm mention in the notes; without notes (`from_notes`
    None, or NULL in the engine) the coded flag alone. Ibis values and Python booleans alike."""
    if from_notes is None:
        return coded
    if isinstance(coded, ibis.Expr):
        return coded | from_notes.fill_null(False)
    return bool(coded) or bool(from_notes)


def notes_in_use(extract_has_notes: bool, config: StudyConfig) -> bool:
    return extract_has_notes and config.nlp.enabled


def with_note_flags(con, out: ibis.Table, extract: Extract, config: StudyConfig, index_date: dt.date) -> ibis.Table:
    """Add NLP_COLUMNS to `out` (which has patient_id and self_harm). Without notes (or with NLP off)
    the note columns are empty (NULL) and `self_harm_any` is the coded flag."""
    if not notes_in_use(extract.notes is not None, config):
        return out.mutate(**{col: ibis.null("boolean") for col in NOTE_FLAGS}, self_harm_any=self_harm_any(out.self_harm, None))
    from trdpath.nlp.patient import FLAG_COLUMNS, patient_flags  # medspaCy loads only when notes are read

    notes = con.execute(extract.notes.filter(extract.notes.date <= index_date))
    flags = patient_flags(notes, index_date, extra_rule_files=config.nlp.extra_rules, n_process=config.nlp.n_process)
    # Typed even when no patient has a note up to the index date (issue 13: PostgreSQL refused the
    # null-typed column of an empty flags table).
    flags = ibis.memtable(flags[["patient_id", *FLAG_COLUMNS]].rename(columns={"patient_id": "_note_patient_id"}),
                          schema={"_note_patient_id": "string", **{col: "boolean" for col in FLAG_COLUMNS}})
    joined = out.left_join(flags, out.patient_id == flags._note_patient_id).drop("_note_patient_id")
    filled = joined.mutate(**{col: joined[col].fill_null(False) for col in FLAG_COLUMNS})
    return filled.mutate(self_harm_any=self_harm_any(filled.self_harm, filled.self_harm_nlp))
