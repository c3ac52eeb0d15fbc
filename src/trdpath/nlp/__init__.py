"""Free-text notes: self-harm, suicidal ideation and suicide attempt mentions with their context (issue 6).

medspaCy rules over a blank spaCy English pipeline; see docs/nlp.md.
"""

from trdpath.nlp.patient import (FLAG_COLUMNS, affirmed, flags_from_mentions, patient_flags,
                                 self_harm_gain, self_harm_sensitivity_inputs)
from trdpath.nlp.pipeline import MENTION_COLUMNS, build_pipeline, extract_mentions
from trdpath.nlp.synthetic import make_notes

__all__ = ["FLAG_COLUMNS", "MENTION_COLUMNS", "affirmed", "build_pipeline", "extract_mentions",
           "flags_from_mentions", "make_notes", "patient_flags", "self_harm_gain",
           "self_harm_sensitivity_inputs"]
