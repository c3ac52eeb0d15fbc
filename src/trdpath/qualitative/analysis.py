"""Descriptive analysis of a coded project: code frequencies and participants per code by group, code
co-occurrence (overlapping segments) and the code x participant matrix. All work is done on the segments table
with pandas (vectorised), never a loop per participant.
"""

from __future__ import annotations

import pandas as pd

from trdpath.qualitative.models import ROLE_CLINICIAN, ROLE_PERSON_WITH_TRD

GROUP_LABELS = {ROLE_PERSON_WITH_TRD: "People with TRD", ROLE_CLINICIAN: "Clinicians"}


def select_coders(segments: pd.DataFrame, coders: list[str] | None) -> pd.DataFrame:
    return segments if not coders else segments[segments["coder"].isin(coders)]


def with_ancestors(segments: pd.DataFrame) -> pd.DataFrame:
    """One row per segment and per level of its code path, so a theme counts everything coded beneath it."""
    parts = segments["code"].str.split(" / ")
    exploded = segments.assign(_levels=parts.map(lambda p: [" / ".join(p[:i + 1]) for i in range(len(p))]))
    exploded = exploded.explode("_levels")
    return exploded.assign(code=exploded["_levels"]).drop(columns="_levels")


def code_frequencies(segments: pd.DataFrame, *, coders: list[str] | None = None,
                     rollup: bool = True) -> pd.DataFrame:
    """Per code: segments, documents and participants, overall and per participant group (role).

    With ``rollup`` a theme's counts include its subthemes and codes (a participant counts once per theme)."""
    data = select_coders(segments, coders)
    if rollup:
        data = with_ancestors(data)
    overall = data.groupby("code").agg(segments=("segment_id", "nunique"), documents=("document", "nunique"),
                                       participants=("participant", "nunique"))
    by_role = (data.dropna(subset=["role"]).groupby(["code", "role"])["participant"].nunique()
               .unstack("role", fill_value=0))
    for role in GROUP_LABELS:
        if role not in by_role:
            by_role[role] = 0
    by_role = by_role[list(GROUP_LABELS)].rename(columns={r: f"participants_{r}" for r in GROUP_LABELS})
    out = overall.join(by_role, how="left").fillna(0)
    return out.astype(int).reset_index()


def code_by_participant(segments: pd.DataFrame, *, coders: list[str] | None = None,
                        rollup: bool = False) -> pd.DataFrame:
    """Matrix of segment counts: one row per code, one column per participant (in interview order)."""
    data = select_coders(segments, coders)
    if rollup:
        data = with_ancestors(data)
    order = (data.dropna(subset=["participant"]).sort_values("interview_order")["participant"]
             .drop_duplicates().tolist())
    matrix = data.pivot_table(index="code", columns="participant", values="segment_id", aggfunc="nunique",
                              fill_value=0)
    return matrix.reindex(columns=order, fill_value=0).astype(int)


def co_occurrence(segments: pd.DataFrame, *, coders: list[str] | None = None) -> pd.DataFrame:
    """Symmetric code x code matrix: the number of pairs of segments (same document, same coder) whose spans
    overlap by at least one character. The diagonal is left at 0."""
    data = select_coders(segments, coders)[["segment_id", "document", "coder", "code", "start", "end"]]
    data = data.assign(coder=data["coder"].fillna(""))
    pairs = data.merge(data, on=["document", "coder"], suffixes=("_a", "_b"))
    overlapping = pairs[(pairs["start_a"] < pairs["end_b"]) & (pairs["start_b"] < pairs["end_a"])
                        & (pairs["code_a"] != pairs["code_b"])]
    codes = sorted(data["code"].unique())
    matrix = (overlapping.groupby(["code_a", "code_b"]).size().unstack(fill_value=0)
              .reindex(index=codes, columns=codes, fill_value=0))
    matrix.index.name, matrix.columns.name = "code", "code"
    return matrix.astype(int)
