"""Free-text notes: self-harm, suicidal ideation and suicide attempt mentions with their context (issue 6).

medspaCy rules over a blank spaCy English pipeline; see docs/nlp.md. The names below load on first
use (PEP 562), so that `trdpath --help` and `trdpath classify` on an extract without notes do not
pay for importing spaCy.
"""

from __future__ import annotations

import importlib

_WHERE = {
    "FLAG_COLUMNS": "patient", "affirmed": "patient", "flags_from_mentions": "patient", "patient_flags": "patient",
    "self_harm_gain": "patient", "self_harm_sensitivity_inputs": "patient",
    "MENTION_COLUMNS": "pipeline", "build_pipeline": "pipeline", "extract_mentions": "pipeline",
    "shared_pipeline": "pipeline",
    "make_notes": "synthetic",
}

__all__ = sorted(_WHERE)


def __getattr__(name: str):
    if name not in _WHERE:
        raise AttributeError(f"module 'trdpath.nlp' has no attribute {name!r}")
    return getattr(importlib.import_module(f"trdpath.nlp.{_WHERE[name]}"), name)
