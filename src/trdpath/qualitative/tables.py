"""Flat exports of a project's coded segments (CSV, XLSX), for analysis elsewhere."""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd

from trdpath.errors import UserError
from trdpath.qualitative.agreement import document_texts, segments_frame
from trdpath.qualitative.store import QualProject, atomic_write_bytes
from trdpath.safety import neutralise_cell, neutralise_frame

EXPORT_COLUMNS = ["document", "participant", "role", "interview_order", "code", "coder", "start", "end", "text"]


def segments_table(project: QualProject, coders: list[str] | None = None) -> pd.DataFrame:
    """One row per coded segment with its words; offsets are code points, end-exclusive."""
    segments = segments_frame(project)
    if coders:
        segments = segments[segments["coder"].isin(coders)]
    texts = document_texts(project)
    words = [texts[d][s:e] for d, s, e in zip(segments["document"], segments["start"], segments["end"])]
    return segments.assign(text=words)[EXPORT_COLUMNS].reset_index(drop=True)


def csv_bytes(frame: pd.DataFrame) -> bytes:
    """A qualitative table as CSV text, formula-like cells neutralised (every CSV `trdpath qual` writes)."""
    # Matrix tables carry code names and participant labels in the header row too.
    safe = neutralise_frame(frame)
    safe.columns = [neutralise_cell(c) for c in safe.columns]
    return safe.to_csv(index=False).encode("utf-8")


def export_segments(project: QualProject, path: str | Path, coders: list[str] | None = None) -> Path:
    path = Path(path)
    # Quotes, code and coder names are free text: one starting with = + - @ must not run as a formula (OWASP).
    table = neutralise_frame(segments_table(project, coders))
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return atomic_write_bytes(path, table.to_csv(index=False).encode("utf-8"))
    if suffix == ".xlsx":
        buffer = io.BytesIO()
        with pd.ExcelWriter(buffer, engine="openpyxl") as writer:
            table.to_excel(writer, sheet_name="segments", index=False)
        return atomic_write_bytes(path, buffer.getvalue())
    raise UserError(f"{path}: segments can be exported as .csv or .xlsx")
