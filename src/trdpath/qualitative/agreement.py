"""Inter-coder agreement on the same documents: percentage agreement and Cohen's kappa as NVivo computes them,
Krippendorff's alpha (nominal) over any number of coders, and the list of disagreements for the consensus meeting.

The unit is one character of one document for one code (NVivo "Coding Comparison"): each coder either coded it
with the code or did not. For coders A and B on a document of N characters (NVivo help, "How are percentage
agreement and kappa calculated"):

* percentage agreement = (characters coded by both + characters coded by neither) / N x 100;
* expected agreement E = (coded_A x coded_B + (N - coded_A) x (N - coded_B)) / N;
* kappa = (observed agreements - E) / (N - E), and kappa = 1 when E = N (neither coder used the code: NVivo's
  convention, they agree completely).

Per code over several documents we give both the pooled figure (all characters of all compared documents as one
set of units, which is also Cohen's kappa of scikit-learn on those units) and NVivo's average weighted by
document length. Krippendorff's alpha uses the ``krippendorff`` package (Castro 2017) on the same binary units.
"""

from __future__ import annotations

import math
from itertools import combinations

import numpy as np
import pandas as pd
from sqlalchemy import func, select

from trdpath.errors import UserError
from trdpath.qualitative import models as m
from trdpath.qualitative.store import QualProject

SEGMENT_COLUMNS = ["segment_id", "document", "document_length", "participant", "role", "interview_order",
                   "code_id", "code", "coder", "start", "end"]


def segments_frame(project: QualProject) -> pd.DataFrame:
    """All coded segments as one table (one row per segment), the input of every analysis."""
    with project.reading() as s:
        rows = s.execute(
            # length() counts characters (code points) in SQLite and PostgreSQL, so texts are not loaded here.
            select(m.Segment.id, m.Document.name, func.length(m.Document.text), m.Participant.label,
                   m.Participant.role,
                   m.Document.interview_order, m.Segment.code_id, m.Coder.name, m.Segment.start, m.Segment.end)
            .join(m.Document, m.Segment.document_id == m.Document.id)
            .outerjoin(m.Participant, m.Document.participant_id == m.Participant.id)
            .outerjoin(m.Coder, m.Segment.coder_id == m.Coder.id)
            .order_by(m.Document.interview_order, m.Segment.start, m.Segment.id)).all()
        paths = {c.id: c.path() for c in s.scalars(select(m.Code))}
    frame = pd.DataFrame(
        [(r[0], r[1], r[2], r[3], r[4], r[5], r[6], paths[r[6]], r[7], r[8], r[9]) for r in rows],
        columns=SEGMENT_COLUMNS)
    return frame


def coded_mask(length: int, starts, ends) -> np.ndarray:  # noqa: ANN001
    """Boolean array over a document's characters: True where any of the [start, end) spans covers it."""
    edges = np.zeros(length + 1, dtype=np.int64)
    np.add.at(edges, np.asarray(starts, dtype=np.int64), 1)
    np.add.at(edges, np.asarray(ends, dtype=np.int64), -1)
    return np.cumsum(edges[:length]) > 0


def nvivo_agreement(coded_a: np.ndarray, coded_b: np.ndarray) -> dict[str, float]:
    """Percentage agreement and kappa for two coders' binary unit arrays, by NVivo's formulas."""
    n = coded_a.size
    if n == 0:
        return dict(units=0, coded_a=0, coded_b=0, coded_both=0, coded_neither=0,
                    agreement_pct=math.nan, kappa=math.nan)
    a_total, b_total = int(coded_a.sum()), int(coded_b.sum())
    both = int((coded_a & coded_b).sum())
    neither = int((~coded_a & ~coded_b).sum())
    observed = both + neither
    expected = (a_total * b_total + (n - a_total) * (n - b_total)) / n
    kappa = 1.0 if math.isclose(expected, n) else (observed - expected) / (n - expected)
    return dict(units=n, coded_a=a_total, coded_b=b_total, coded_both=both, coded_neither=neither,
                agreement_pct=100.0 * observed / n, kappa=kappa)


def _compared_documents(segments: pd.DataFrame, coders: list[str], documents: list[str] | None) -> pd.DataFrame:
    """Documents to compare: given, or those every coder coded at least once (others were not double-coded)."""
    firsts = segments.sort_values(["interview_order", "document"], na_position="last").drop_duplicates("document")
    lengths = firsts.set_index("document")["document_length"]
    if documents is None:
        by_doc = segments.groupby("document")["coder"].agg(lambda c: set(c))
        # In interview order, so tables and the disagreement list read in the order the interviews were done.
        documents = [d for d in lengths.index if set(coders) <= by_doc[d]]
    missing = [d for d in documents if d not in lengths.index]
    if missing:
        raise UserError(f"no coding at all in document(s) {', '.join(missing)}")
    return lengths.loc[documents].rename("document_length").reset_index()


def _masks(segments: pd.DataFrame, coders: list[str], docs: pd.DataFrame, code: str) -> dict[str, np.ndarray]:
    """Per coder, the concatenated character mask of one code over the compared documents (in docs order)."""
    subset = segments[(segments["code"] == code) & segments["coder"].isin(coders)
                      & segments["document"].isin(docs["document"])]
    # Offsets of each document's first character in the concatenation; one vectorised pass per coder.
    starts_at = dict(zip(docs["document"], np.concatenate([[0], np.cumsum(docs["document_length"])[:-1]])))
    total = int(docs["document_length"].sum())
    shift = subset["document"].map(starts_at).to_numpy(dtype=np.int64)
    out = {}
    for coder in coders:
        mine = (subset["coder"] == coder).to_numpy()
        out[coder] = coded_mask(total, subset["start"].to_numpy()[mine] + shift[mine],
                                subset["end"].to_numpy()[mine] + shift[mine])
    return out


def _weighted_document_kappa(coded_a: np.ndarray, coded_b: np.ndarray, lengths: np.ndarray) -> float:
    """NVivo's average over documents of the per-document kappa, weighted by document length (vectorised:
    per-document counts by np.add.reduceat over the concatenated masks)."""
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
    n = lengths.astype(float)
    a = np.add.reduceat(coded_a.astype(np.int64), starts).astype(float)
    b = np.add.reduceat(coded_b.astype(np.int64), starts).astype(float)
    both = np.add.reduceat((coded_a & coded_b).astype(np.int64), starts).astype(float)
    observed = n - a - b + 2 * both  # coded by both + coded by neither
    expected = (a * b + (n - a) * (n - b)) / n
    with np.errstate(divide="ignore", invalid="ignore"):
        kappa = np.where(np.isclose(expected, n), 1.0, (observed - expected) / (n - expected))
    return float((n * kappa).sum() / n.sum())


def _check_coders(segments: pd.DataFrame, coders: list[str] | None) -> list[str]:
    known = sorted(segments["coder"].dropna().unique())
    coders = coders or known
    unknown = [c for c in coders if c not in known]
    if unknown:
        raise UserError(f"no segments by coder(s) {', '.join(unknown)}; coders in the project: {', '.join(known)}")
    if len(coders) < 2:
        raise UserError("agreement needs at least two coders")
    return coders


def krippendorff_alpha_nominal(reliability_data) -> float:  # noqa: ANN001
    """Krippendorff's alpha for nominal data; rows are coders, columns units, NaN = not coded (missing)."""
    import krippendorff

    data = np.asarray(reliability_data, dtype=float)
    values = np.unique(data[~np.isnan(data)])
    if values.size < 2:
        return math.nan  # one value only: alpha is undefined (no variation to be reliable about)
    return float(krippendorff.alpha(reliability_data=data, level_of_measurement="nominal"))


# Above this many coder x unit values the krippendorff package (which builds a units x values x values array)
# takes seconds per code; there we use the closed form below, which tests check equals the package.
PACKAGE_VALUE_LIMIT = 1_000_000


def binary_alpha(masks: list[np.ndarray]) -> float:
    """Krippendorff's alpha (nominal) for binary units every coder rated, from the coincidence matrix in closed
    form (Krippendorff 2011): with j of m coders coding a unit, it adds j(m-j)/(m-1) to o_01; then
    alpha = 1 - (n - 1) o_01 / (n_0 n_1). O(units) with one bincount."""
    m = len(masks)
    ones = np.sum(np.vstack(masks), axis=0)
    units_with = np.bincount(ones, minlength=m + 1).astype(float)
    j = np.arange(m + 1, dtype=float)
    o_01 = float((units_with * j * (m - j)).sum() / (m - 1))
    n_1 = float((units_with * j).sum())
    n_0 = float((units_with * (m - j)).sum())
    if n_0 == 0 or n_1 == 0:
        return math.nan
    return 1.0 - (n_0 + n_1 - 1) * o_01 / (n_0 * n_1)


def _alpha_for_masks(masks: list[np.ndarray]) -> float:
    if len(masks) * masks[0].size <= PACKAGE_VALUE_LIMIT:
        return krippendorff_alpha_nominal(np.vstack([mk.astype(float) for mk in masks]))
    return binary_alpha(masks)


def agreement_by_code(segments: pd.DataFrame, coders: list[str] | None = None,
                      documents: list[str] | None = None) -> pd.DataFrame:
    """Per code and pair of coders: pooled % agreement and kappa, NVivo's length-weighted mean kappa, and
    Krippendorff's alpha over all the coders."""
    coders = _check_coders(segments, coders)
    docs = _compared_documents(segments, coders, documents)
    segments = segments[segments["document"].isin(docs["document"])]
    rows = []
    for code in sorted(segments["code"].unique()):
        masks = _masks(segments, coders, docs, code)
        alpha = _alpha_for_masks([masks[c] for c in coders])
        for a, b in combinations(coders, 2):
            pooled = nvivo_agreement(masks[a], masks[b])
            weighted = _weighted_document_kappa(masks[a], masks[b], docs["document_length"].to_numpy())
            rows.append(dict(code=code, coder_a=a, coder_b=b, documents=len(docs), **pooled,
                             kappa_nvivo_weighted=weighted, krippendorff_alpha=alpha))
    return pd.DataFrame(rows)


def agreement_by_document(segments: pd.DataFrame, coders: list[str] | None = None,
                          documents: list[str] | None = None) -> pd.DataFrame:
    """Per document and pair of coders, pooled over all codes (units: character x code)."""
    coders = _check_coders(segments, coders)
    docs = _compared_documents(segments, coders, documents)
    rows = []
    codes = sorted(segments["code"].unique())
    for document, length in docs.itertuples(index=False):
        one = docs[docs["document"] == document]
        masks_by_code = [_masks(segments, coders, one, code) for code in codes]
        stacked = {c: np.concatenate([mk[c] for mk in masks_by_code]) for c in coders}
        alpha = _alpha_for_masks([stacked[c] for c in coders])
        for a, b in combinations(coders, 2):
            rows.append(dict(document=document, characters=int(length), coder_a=a, coder_b=b,
                             **nvivo_agreement(stacked[a], stacked[b]), krippendorff_alpha=alpha))
    return pd.DataFrame(rows)


def disagreements(segments: pd.DataFrame, document_texts: dict[str, str], coders: list[str] | None = None,
                  documents: list[str] | None = None) -> pd.DataFrame:
    """Every stretch of text where the coders did not all make the same decision for a code: who coded it, who
    did not, and the words, for the team's consensus meeting."""
    coders = _check_coders(segments, coders)
    docs = _compared_documents(segments, coders, documents)
    rows = []
    for code in sorted(segments["code"].unique()):
        for document, length in docs.itertuples(index=False):
            masks = _masks(segments, coders, docs[docs["document"] == document], code)
            stack = np.vstack([masks[c] for c in coders])
            # A pattern number per character (bit i = coder i coded it); runs of equal pattern are one decision.
            pattern = (stack.astype(np.int64) << np.arange(len(coders))[:, None]).sum(axis=0)
            split = np.flatnonzero(np.diff(pattern)) + 1
            starts = np.concatenate([[0], split])
            ends = np.concatenate([split, [int(length)]])
            full = (1 << len(coders)) - 1
            for start, end in zip(starts, ends):
                value = int(pattern[start])
                if value in (0, full):
                    continue
                coded_by = [c for i, c in enumerate(coders) if value >> i & 1]
                rows.append(dict(document=document, code=code, start=int(start), end=int(end),
                                 characters=int(end - start), coded_by=", ".join(coded_by),
                                 not_coded_by=", ".join(c for c in coders if c not in coded_by),
                                 text=document_texts[document][start:end]))
    out = pd.DataFrame(rows, columns=["document", "code", "start", "end", "characters", "coded_by",
                                      "not_coded_by", "text"])
    # In reading order (documents as compared, then position), as the team will go through them.
    position = {d: i for i, d in enumerate(docs["document"])}
    return (out.assign(_doc=out["document"].map(position)).sort_values(["_doc", "start", "code"], kind="stable")
            .drop(columns="_doc").reset_index(drop=True))


def document_texts(project: QualProject) -> dict[str, str]:
    with project.reading() as s:
        return {d.name: d.text for d in s.scalars(select(m.Document))}


def agreement_summary(by_code: pd.DataFrame) -> dict[str, float]:
    """Project-level figures for the agreement table: means over codes of % agreement, kappa and alpha."""
    if by_code.empty:
        return {}
    return dict(codes=int(by_code["code"].nunique()),
                mean_agreement_pct=float(by_code["agreement_pct"].mean()),
                mean_kappa=float(by_code["kappa"].mean()),
                mean_krippendorff_alpha=float(by_code.drop_duplicates("code")["krippendorff_alpha"].mean()))
