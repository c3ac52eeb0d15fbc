"""Synthetic EHR extracts at event level, calibrated to the seed paper (see docs/synthetic-data.md)."""

from trdpath.synth.writer import TABLES, generate

__all__ = ["TABLES", "generate"]
