"""The medspaCy pipeline and mention-level extraction from the `notes` table.

blank English tokenizer -> sentencizer -> TargetMatcher (self-harm, suicidal ideation, suicide attempt)
-> ConText (negated, historical, hypothetical, experiencer, uncertain) -> Sectionizer (family history,
past psychiatric history, crisis plan). Runs offline: no statistical model is downloaded.
"""

from __future__ import annotations

import bisect
import re
import warnings
from pathlib import Path
from typing import Iterable, Sequence

import pandas as pd
import spacy
from spacy.language import Language
from spacy.tokens import Span

from trdpath.errors import InputError
from trdpath.nlp.rules import RuleSet, load_rules

CATEGORIES = {"SELF_HARM": "self_harm", "SUICIDAL_IDEATION": "suicidal_ideation",
              "SUICIDE_ATTEMPT": "suicide_attempt"}

# ConText modifier category -> the span attribute it sets (medspaCy's defaults plus 'other people').
CONTEXT_ATTRIBUTES = {
    "NEGATED_EXISTENCE": {"is_negated": True},
    "POSSIBLE_EXISTENCE": {"is_uncertain": True},
    "HISTORICAL": {"is_historical": True},
    "HYPOTHETICAL": {"is_hypothetical": True},
    "FAMILY": {"is_family": True},
    "OTHER_EXPERIENCER": {"is_other_experiencer": True},
}

MENTION_COLUMNS = ["patient_id", "note_id", "date", "start", "end", "text", "category", "negated",
                   "historical", "hypothetical", "experiencer", "certainty", "section"]

# Notes are split at full stops, exclamation marks and line breaks, not at '?': UK notes write '?OD' for
# 'query overdose', and the query mark must stay in the sentence it qualifies.
SENTENCE_ENDS = [".", "!", "\n", "\n\n", "\r\n", "\n\n\n"]

# medspaCy keeps a PhraseMatcher for literal rules; ours are all token patterns, so it is empty by design.
warnings.filterwarnings("ignore", message=r"\[W036\]")

if not Span.has_extension("is_other_experiencer"):
    Span.set_extension("is_other_experiencer", default=False)


def build_pipeline(extra_rule_files: Iterable[Path | str] = (), rules: RuleSet | None = None) -> Language:
    """A blank English spaCy pipeline with medspaCy components and the trdpath rules (plus extra files)."""
    import medspacy  # noqa: F401  (registers the medspacy_* factories)

    rules = rules or load_rules(extra_rule_files)
    nlp = spacy.blank("en")
    nlp.add_pipe("sentencizer", config={"punct_chars": SENTENCE_ENDS})
    matcher = nlp.add_pipe("medspacy_target_matcher")
    matcher.add(rules.target_rules)
    context = nlp.add_pipe("medspacy_context", config={
        "rules": None, "span_attrs": CONTEXT_ATTRIBUTES, "prune_on_target_overlap": True,
        "terminating_types": rules.terminating_types or None})
    context.add(rules.context_rules)
    if rules.section_rules:
        sectionizer = nlp.add_pipe("medspacy_sectionizer", config={
            "rules": None, "span_attrs": rules.section_attributes or None})
        sectionizer.add(rules.section_rules)
    prefilter = rules.prefilter()
    nlp.meta["trdpath_prefilter"] = prefilter.pattern if prefilter else None
    # Section headers must survive sentence-level filtering; only literal headers can be found by regex.
    literal_headers = all(rule.pattern is None for rule in rules.section_rules)
    nlp.meta["trdpath_section_headers"] = (
        "|".join(re.escape(rule.literal) for rule in rules.section_rules) if literal_headers else None)
    return nlp


# A sentence for filtering purposes: text up to a full stop or '!' followed by space, or a line break.
# These cut at least wherever spaCy's sentencizer would (it also needs '.' as its own token).
_SENTENCE = re.compile(r"[^\n]*?(?:[.!](?=\s|$)|\n|$)")


class SentenceFilter:
    """Keeps only the sentences that can hold a mention (plus section headers), remembering offsets.

    ConText works within a sentence and the Sectionizer only needs the headers, so the pipeline gives the
    same mentions on the shortened text; offsets are mapped back to the full note.
    """

    def __init__(self, candidate: str, headers: str | None):
        pattern = f"(?:{candidate})" + (f"|(?:{headers})" if headers else "")
        self.keep = re.compile(pattern, re.IGNORECASE)

    def shorten(self, text: str) -> tuple[str, list[int], list[int]]:
        pieces, short_starts, full_starts = [], [], []
        length = 0
        for match in _SENTENCE.finditer(text):
            sentence = match.group()
            if not sentence.strip() or not self.keep.search(sentence):
                continue
            stripped = sentence.strip()
            short_starts.append(length)
            full_starts.append(match.start() + (len(sentence) - len(sentence.lstrip())))
            pieces.append(stripped)
            length += len(stripped) + 1
        return "\n".join(pieces), short_starts, full_starts


def _to_full(rows: list[dict], short_starts: list[int], full_starts: list[int], text: str) -> list[dict]:
    for row in rows:
        piece = bisect.bisect_right(short_starts, row["start"]) - 1
        shift = full_starts[piece] - short_starts[piece]
        row["start"] += shift
        row["end"] += shift
        row["text"] = text[row["start"]:row["end"]]
    return rows


def _experiencer(span: Span) -> str:
    # Family wins over 'other' when both fire: the more specific cue in UK notes ("her mother's friend") is rare.
    if span._.is_family:
        return "family"
    if span._.is_other_experiencer:
        return "other"
    return "patient"


def mentions_in_doc(doc) -> list[dict]:
    """One dict per target span in a processed Doc (offsets are character positions in the text)."""
    rows = []
    for span in doc.ents:
        if span.label_ not in CATEGORIES:
            continue
        section = span._.section_category if Span.has_extension("section_category") else None
        category = CATEGORIES[span.label_]
        experiencer = _experiencer(span)
        # The bare word 'suicide' about a relative or someone else means their death by suicide (an act),
        # about the patient it is the thought or the risk ("risk of suicide", "thoughts of suicide").
        if category == "suicidal_ideation" and span.text.lower() == "suicide" and experiencer != "patient":
            category = "suicide_attempt"
        rows.append({
            "start": span.start_char, "end": span.end_char, "text": span.text,
            "category": category,
            "negated": bool(span._.is_negated), "historical": bool(span._.is_historical),
            "hypothetical": bool(span._.is_hypothetical), "experiencer": experiencer,
            "certainty": "uncertain" if span._.is_uncertain else "certain",
            "section": section,
        })
    return rows


def validate_notes(notes: pd.DataFrame, label: str = "notes") -> pd.DataFrame:
    """Check the data-contract columns of the notes table and normalise types."""
    missing = [c for c in ("patient_id", "note_id", "date", "text") if c not in notes.columns]
    if missing:
        raise InputError(f"missing column(s) {', '.join(missing)}; the notes table needs "
                         "patient_id, note_id, date, text", file=label)
    out = notes[["patient_id", "note_id", "date", "text"]].copy()
    out["patient_id"] = out["patient_id"].astype(str)
    out["note_id"] = out["note_id"].astype(str)
    dates = pd.to_datetime(out["date"], errors="coerce")
    bad = dates.isna() & out["date"].notna() & (out["date"].astype(str).str.strip() != "")
    if bad.any():
        row = int(bad.to_numpy().nonzero()[0][0])
        raise InputError("not a date (expected YYYY-MM-DD)", file=label, row=row + 2, column="date",
                         value=notes["date"].iloc[row])
    out["date"] = dates.dt.date
    out["text"] = out["text"].fillna("").astype(str)
    return out


def extract_mentions(notes: pd.DataFrame, nlp: Language | None = None, *,
                     extra_rule_files: Sequence[Path | str] = (), batch_size: int = 256,
                     n_process: int = 1, progress: bool = False, use_prefilter: bool = True) -> pd.DataFrame:
    """Mention-level table: one row per self-harm / suicidal ideation / suicide attempt mention.

    Notes with no candidate term (a regex built from the rules) skip the spaCy pipeline: this cannot lose a
    match because every target rule needs one of those stems. ``n_process > 1`` forks worker processes.
    """
    notes = validate_notes(notes)
    nlp = nlp or build_pipeline(extra_rule_files)
    texts = notes["text"].tolist()
    prefilter = nlp.meta.get("trdpath_prefilter") if use_prefilter else None
    if prefilter:
        candidate = notes["text"].str.contains(prefilter, case=False, regex=True).to_numpy()
        positions = [i for i, keep in enumerate(candidate) if keep]
        sentences = SentenceFilter(prefilter, nlp.meta.get("trdpath_section_headers"))
        shortened = [sentences.shorten(texts[i]) for i in positions]
    else:
        positions = list(range(len(texts)))
        shortened = [(texts[i], [0], [0]) for i in positions]
    docs = nlp.pipe((short for short, _, _ in shortened), batch_size=batch_size, n_process=n_process)
    rows: list[dict] = []
    progress_bar = None
    if progress:
        from rich.progress import Progress
        progress_bar = Progress(transient=False)
        progress_bar.start()
        task = progress_bar.add_task("Reading notes", total=len(positions))
    try:
        for position, (_, short_starts, full_starts), doc in zip(positions, shortened, docs):
            found = _to_full(mentions_in_doc(doc), short_starts, full_starts, texts[position])
            rows.extend(_tag(found, position))
            if progress_bar is not None:
                progress_bar.advance(task)
    finally:
        if progress_bar is not None:
            progress_bar.stop()
    if not rows:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in MENTION_COLUMNS})
    found = pd.DataFrame(rows)
    keys = notes.iloc[found.pop("_position").to_numpy()][["patient_id", "note_id", "date"]].reset_index(drop=True)
    return pd.concat([keys, found], axis=1)[MENTION_COLUMNS]


def _tag(rows: list[dict], position: int) -> list[dict]:
    for row in rows:
        row["_position"] = position
    return rows
