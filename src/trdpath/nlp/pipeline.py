"""The medspaCy pipeline and mention-level extraction from the `notes` table.

blank English tokenizer -> trdpath_sentences -> TargetMatcher (self-harm, suicidal ideation, suicide attempt)
-> ConText (negated, historical, hypothetical, experiencer, uncertain) -> Sectionizer (family history,
past psychiatric history, crisis plan; headers only at a line start). Runs offline: no statistical
model is downloaded. extract_mentions sends only candidate sentences through spaCy (see
candidate_sentences); tests check that this gives exactly the mentions of the whole-note pipeline.
"""

from __future__ import annotations

import bisect
import gc
import hashlib
import re
import threading
import warnings
from collections import OrderedDict
from pathlib import Path
from typing import Iterable, Sequence

import pandas as pd
import spacy
from spacy.language import Language
from spacy.tokens import Span

from trdpath.errors import InputError
from trdpath.nlp.rules import BUILTIN_RULE_FILES, RuleSet, load_rules

CATEGORIES = {"SELF_HARM": "self_harm", "SUICIDAL_IDEATION": "suicidal_ideation",
              "SUICIDE_ATTEMPT": "suicide_attempt"}
# Target categories matched only to win an overlap (once-daily 'OD' dosing, a method after 'by') and never
# reported; every other target category, built in or added with --rules, is a mention with full context.
INTERNAL_CATEGORIES = {"OD_DOSING", "METHOD"}

# ConText modifier category -> the span attribute it sets (medspaCy's defaults plus 'other people').
CONTEXT_ATTRIBUTES = {
    "NEGATED_EXISTENCE": {"is_negated": True},
    "POSSIBLE_EXISTENCE": {"is_uncertain": True},
    "HISTORICAL": {"is_historical": True},
    # A time-bounded qualifier ("none since", "no recurrence") says the act stopped: historical (issue 21).
    "TIME_BOUND": {"is_historical": True},
    "HYPOTHETICAL": {"is_hypothetical": True},
    "FAMILY": {"is_family": True},
    "OTHER_EXPERIENCER": {"is_other_experiencer": True},
}

# Which attribute each ConText category and section attribute sets, for the audit columns (*_rule).
ATTRIBUTE_OF_CATEGORY = {"NEGATED_EXISTENCE": "negated", "POSSIBLE_EXISTENCE": "certainty",
                         "HISTORICAL": "historical", "TIME_BOUND": "historical", "HYPOTHETICAL": "hypothetical",
                         "FAMILY": "experiencer", "OTHER_EXPERIENCER": "experiencer"}
ATTRIBUTE_OF_EXTENSION = {"is_negated": "negated", "is_uncertain": "certainty", "is_historical": "historical",
                          "is_hypothetical": "hypothetical", "is_family": "experiencer",
                          "is_other_experiencer": "experiencer"}
AUDIT_COLUMNS = ["negated_rule", "historical_rule", "hypothetical_rule", "experiencer_rule", "certainty_rule"]

MENTION_COLUMNS = ["patient_id", "note_id", "date", "start", "end", "text", "category", "negated",
                   "historical", "hypothetical", "experiencer", "certainty", "section", *AUDIT_COLUMNS]

# A sentence ends at '.' or '!' followed by white space, or at a line break; never at '?': UK notes write
# '?OD' for 'query overdose', and the query mark must stay in the sentence it qualifies. The same rule
# cuts notes for the pre-filter (candidate_sentences), so both paths see the same sentences.
SENTENCE_BOUNDARY = re.compile(r"[.!](?=\s)|\n")


@Language.component("trdpath_sentences")
def note_sentences(doc):
    """Sentence starts from SENTENCE_BOUNDARY character positions (white-space tokens never start one)."""
    boundaries = [m.end() for m in SENTENCE_BOUNDARY.finditer(doc.text)]
    next_boundary, previous_end = 0, 0
    for i, token in enumerate(doc):
        if i == 0:
            token.is_sent_start = True
            continue
        if token.is_space:
            token.is_sent_start = False
            continue
        while next_boundary < len(boundaries) and boundaries[next_boundary] < previous_end:
            next_boundary += 1
        token.is_sent_start = next_boundary < len(boundaries) and boundaries[next_boundary] <= token.idx
        previous_end = token.idx + len(token)
    return doc

# Each medspaCy component keeps a token Matcher, a PhraseMatcher and a regex matcher; an empty one warns
# (spaCy W036) on every document, which says nothing about our rules.
warnings.filterwarnings("ignore", message=r"\[W036\]")

if not Span.has_extension("is_other_experiencer"):
    Span.set_extension("is_other_experiencer", default=False)

_YEAR = re.compile(r"(?:^|\D)((?:19|20)\d\d)s?$|^\d{1,2}[/.-]\d{1,2}[/.-](\d\d)$")


def before_note_date(target: Span, modifier: Span, span_between: Span) -> bool:
    """medspaCy on_modifies callback for date cues: a year counts as historical only when it is before the
    year of the note (doc.user_data['note_date']); with no note date every past-looking year counts."""
    note_date = target.doc.user_data.get("note_date")
    if note_date is None:
        return True
    for token in reversed(modifier):
        found = _YEAR.search(token.text)
        if found:
            year = int(found.group(1)) if found.group(1) else 2000 + int(found.group(2))
            if found.group(2) and year > note_date.year:
                year -= 100  # a two-digit year after the note's year is last century ('03/05/98')
            return year < note_date.year
    return True


# Python callbacks a rule file can name in its metadata ("on_modifies": NAME); rule files stay JSON.
ON_MODIFIES = {"before_note_date": before_note_date}


def build_pipeline(extra_rule_files: Iterable[Path | str] = (), rules: RuleSet | None = None,
                   compile_rules: bool = True) -> Language:
    """A blank English spaCy pipeline with medspaCy components and the trdpath rules (plus extra files)."""
    import medspacy  # noqa: F401  (registers the medspacy_* factories)

    rules = rules or load_rules(extra_rule_files, compile_rules=compile_rules)
    nlp = spacy.blank("en")
    nlp.add_pipe("trdpath_sentences")
    matcher = nlp.add_pipe("medspacy_target_matcher")
    matcher.add(rules.target_rules)
    context = nlp.add_pipe("medspacy_context", config={
        "rules": None, "span_attrs": CONTEXT_ATTRIBUTES, "prune_on_target_overlap": True})
    # Set terminations on each rule ourselves: ConText's own terminating_types reaches only the first rule
    # of each category (medspaCy 1.3.1 receives the lists as one-shot iterators through spaCy's config).
    for rule in rules.context_rules:
        rule.terminated_by |= set(rules.terminating_types.get(rule.category.upper(), ()))
        callback = (rule.metadata or {}).get("on_modifies")
        if callback:
            rule.on_modifies = ON_MODIFIES[callback]
    context.add(rules.context_rules)
    if rules.section_rules:
        # Headers count only at the start of a line: "Family history:" inside a sentence is not a section.
        sectionizer = nlp.add_pipe("medspacy_sectionizer", config={
            "rules": None, "span_attrs": rules.section_attributes or None, "require_start_line": True})
        sectionizer.add(rules.section_rules)
    prefilter = rules.prefilter()
    nlp.meta["trdpath_prefilter"] = prefilter.pattern if prefilter else None
    nlp.meta["trdpath_section_attributes"] = rules.section_attributes if rules.section_rules else {}
    # Section headers must survive sentence-level filtering; only literal headers can be found by regex.
    literal_headers = all(rule.pattern is None for rule in rules.section_rules)
    nlp.meta["trdpath_section_headers"] = (
        "|".join(re.escape(rule.literal) for rule in rules.section_rules) if literal_headers else None)
    return nlp


# Built pipelines kept per thread (spaCy's vocabulary is not safe for two threads writing at once), keyed by
# the bytes of every rule file read: building one costs ~1-2 s of CPU (medspaCy validates each token
# pattern), more than the notes of a small extract take, and a process may classify many extracts.
PIPELINE_CACHE_SIZE = 4
_PIPELINES = threading.local()


def _rules_key(extra_rule_files: Sequence[Path | str], compile_rules: bool) -> tuple | None:
    """What the pipeline is built from: the built-in and extra rule files' contents; None if one is unreadable
    (then the pipeline is built afresh, so load_rules raises its own message)."""
    from importlib import resources

    package = resources.files("trdpath.nlp") / "rules"
    try:
        files = [(name, (package / name).read_bytes()) for name in BUILTIN_RULE_FILES]
        files += [(str(extra), Path(extra).read_bytes()) for extra in extra_rule_files]
    except OSError:
        return None
    return (compile_rules, *((name, hashlib.sha256(data).hexdigest()) for name, data in files))


def shared_pipeline(extra_rule_files: Sequence[Path | str] = (), compile_rules: bool = True) -> Language:
    """build_pipeline(extra_rule_files), built once per thread for the same rule files' contents and reused.

    Running a pipeline changes nothing in it that later documents see (medspaCy's components keep their
    state in the rules added at build time; spaCy only adds strings to its vocabulary), so mentions are
    the same as from a fresh pipeline (tests/nlp/test_shared_pipeline.py)."""
    extra_rule_files = tuple(extra_rule_files)  # read twice below (a generator would be empty the second time)
    key = _rules_key(extra_rule_files, compile_rules)
    if key is None:
        return build_pipeline(extra_rule_files, compile_rules=compile_rules)
    cache = getattr(_PIPELINES, "cache", None)
    if cache is None:
        cache = _PIPELINES.cache = OrderedDict()
    nlp = cache.get(key)
    if nlp is None:
        nlp = build_pipeline(extra_rule_files, compile_rules=compile_rules)
        cache[key] = nlp
        while len(cache) > PIPELINE_CACHE_SIZE:
            cache.popitem(last=False)
    cache.move_to_end(key)
    return nlp


ONCE_DAILY = (r"(?i)\b(?:\d+(?:\.\d+)?\s*(?:mg|mgs|mcg|g|ml|micrograms?|milligrams?|units?)|tablets?|tabs?|"
              r"caps?|capsules?|puffs?|sachets?|patch|dose|daily|nocte|mane)\s+(?:od|o\.d\.?)\b")


def candidate_sentences(texts: list[str], candidate: str, headers: str | None) -> list[tuple[str, list[int], list[int]]]:
    """For each note: the sentences that can hold a mention (plus section headers) joined by line breaks,
    with the start of each kept sentence in the shortened text and in the full note.

    ConText works within a sentence and the Sectionizer only needs the headers, so the pipeline gives the
    same mentions on the shortened text; offsets are mapped back to the full note. Sentences are cut at a
    full stop or '!' followed by white space, and at line breaks: at least wherever spaCy's sentencizer cuts.
    The splitting and matching run in Arrow (RE2), vectorised over all notes.
    """
    if not texts:
        return []
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    notes = pa.array(texts, type=pa.large_string())
    # Replace the one white-space character after a sentence end (or a line break) by NUL, then split on NUL:
    # every piece keeps its length, so offsets can be rebuilt from the lengths alone.
    marked = pc.replace_substring_regex(notes, pattern=r"([.!])\s", replacement="\\1\x00")
    marked = pc.replace_substring(marked, pattern="\n", replacement="\x00")
    pieces = pc.split_pattern(marked, pattern="\x00")
    flat = pc.list_flatten(pieces)
    note_of_piece = pc.list_parent_indices(pieces).to_numpy()
    lengths = pc.utf8_length(flat).to_numpy().astype(np.int64)
    trimmed = pc.utf8_trim_whitespace(flat)
    lead = pc.utf8_length(pc.utf8_rtrim_whitespace(flat)).to_numpy() - pc.utf8_length(trimmed).to_numpy()
    pattern = f"(?:{candidate})" + (f"|(?:{headers})" if headers else "")
    # A dose followed by OD ('50mg OD') is once-daily dosing: the OD_DOSING rule always wins the overlap
    # against the overdose rules there, so such an OD alone does not make a sentence a candidate.
    undosed = pc.replace_substring_regex(flat, pattern=ONCE_DAILY, replacement=" ")
    keep = pc.match_substring_regex(undosed, pattern=pattern, ignore_case=True).to_numpy(zero_copy_only=False)
    # start of each piece in its note = running total of (length + 1 separator) since the note's first piece
    step = lengths + 1
    running = np.cumsum(step) - step
    first_of_note = np.r_[0, np.flatnonzero(np.diff(note_of_piece)) + 1]
    note_base = np.repeat(running[first_of_note], np.diff(np.r_[first_of_note, len(note_of_piece)]))
    full_start = running - note_base + lead
    piece_start = running - note_base  # before trimming leading white space
    nonempty = pc.utf8_length(trimmed).to_numpy() > 0
    kept = np.flatnonzero(keep & nonempty)
    header_at_start = re.compile(f"(?:{headers})", re.IGNORECASE) if headers else None
    out: list[tuple[str, list[int], list[int]]] = [("", [], []) for _ in texts]
    groups: dict[int, tuple[list[str], list[int], list[int], list[int]]] = {}

    def starts_line(k: int, note: int) -> bool:
        start = int(piece_start[k])
        return start == 0 or texts[note][start - 1] in "\n\r"

    def add(k: int, note: int, piece_text: str) -> None:
        parts, short_starts, full_starts, indices = groups.setdefault(note, ([], [], [], []))
        # Adjacent pieces cut at '. ' are re-joined with a space (still a sentence end, not a line start);
        # anything else with a line break, so section headers are at a line start exactly when they were.
        joiner = " " if indices and indices[-1] == k - 1 and not starts_line(k, note) else "\n"
        short_starts.append(short_starts[-1] + len(parts[-1]) + len(joiner) if parts else 0)
        if parts:
            parts.append(joiner)
        parts.append(piece_text)
        full_starts.append(int(full_start[k]))
        indices.append(k)

    kept_text = trimmed.take(pa.array(kept, type=pa.int64())).to_pylist()
    for k, piece_text in zip(kept.tolist(), kept_text):
        note = int(note_of_piece[k])
        indices = groups.get(note, (None, None, None, []))[3]
        if (header_at_start is not None and not starts_line(k, note) and header_at_start.match(piece_text)
                and nonempty[k - 1] and not (indices and indices[-1] == k - 1)):
            # A header-like phrase mid-line is not a section header: keep the sentence before it so the
            # shortened text does not put it at a line start either.
            add(k - 1, note, trimmed[k - 1].as_py())
        add(k, note, piece_text)
    for note, (parts, short_starts, full_starts, _) in groups.items():
        out[note] = ("".join(parts), short_starts, full_starts)
    return out


def _to_full(rows: list[dict], short_starts: list[int], full_starts: list[int], text: str) -> list[dict]:
    for row in rows:
        piece = bisect.bisect_right(short_starts, row["start"]) - 1
        shift = full_starts[piece] - short_starts[piece]
        row["start"] += shift
        row["end"] += shift
        row["text"] = text[row["start"]:row["end"]]
    return rows


def _experiencer(extensions) -> str:
    # Family wins over 'other' when both fire: the more specific cue in UK notes ("her mother's friend") is rare.
    if extensions.is_family:
        return "family"
    if extensions.is_other_experiencer:
        return "other"
    return "patient"


_NO_AUDIT = dict.fromkeys(AUDIT_COLUMNS, "")


def _audit(extensions, section: str | None, section_attributes: dict) -> dict[str, str]:
    """For each attribute, the rules that set it: 'context:<rule>' (ConText modifier), 'section:<name>'
    (a section's attributes) or 'target:<rule>' (a target rule's own attributes); '; '-joined."""
    modifiers = extensions.modifiers
    from_section = section_attributes.get(section) if section else None
    target_rule = extensions.target_rule
    from_target = target_rule.attributes if target_rule is not None else None
    if not modifiers and not from_section and not from_target:
        return _NO_AUDIT
    fired: dict[str, list[str]] = {column: [] for column in AUDIT_COLUMNS}
    for modifier in modifiers:
        attribute = ATTRIBUTE_OF_CATEGORY.get(modifier.category.upper())
        if attribute:
            name = (modifier.rule.metadata or {}).get("rule", modifier.rule.literal)
            entry = f"context:{name}"
            if entry not in fired[f"{attribute}_rule"]:
                fired[f"{attribute}_rule"].append(entry)
    for extension, value in (from_section or {}).items():
        attribute = ATTRIBUTE_OF_EXTENSION.get(extension)
        if attribute and value:
            fired[f"{attribute}_rule"].append(f"section:{section}")
    for extension, value in (from_target or {}).items():
        attribute = ATTRIBUTE_OF_EXTENSION.get(extension)
        if attribute and value:
            fired[f"{attribute}_rule"].append(f"target:{target_rule.literal}")
    return {column: "; ".join(values) for column, values in fired.items()}


def mentions_in_doc(doc, section_attributes: dict | None = None) -> list[dict]:
    """One dict per target span in a processed Doc (offsets are character positions in the text).

    Every target category is reported (lower-cased), including categories a user adds with --rules, with
    the same context attributes and the rule that set each one (columns *_rule)."""
    rows = []
    section_attributes = section_attributes or {}
    has_sections = Span.has_extension("section_category")
    for span in doc.ents:
        if span.label_ in INTERNAL_CATEGORIES:
            continue
        extensions = span._  # one Underscore object per span: each 'span._' builds a new one
        section = extensions.section_category if has_sections else None
        category = CATEGORIES.get(span.label_, span.label_.lower())
        experiencer = _experiencer(extensions)
        # The bare word 'suicide' about a relative or someone else means their death by suicide (an act),
        # about the patient it is the thought or the risk ("risk of suicide", "thoughts of suicide").
        if category == "suicidal_ideation" and span.text.lower() == "suicide" and experiencer != "patient":
            category = "suicide_attempt"
        rows.append({
            "start": span.start_char, "end": span.end_char, "text": span.text,
            "category": category,
            "negated": bool(extensions.is_negated), "historical": bool(extensions.is_historical),
            "hypothetical": bool(extensions.is_hypothetical), "experiencer": experiencer,
            "certainty": "uncertain" if extensions.is_uncertain else "certain",
            "section": section,
            **_audit(extensions, section, section_attributes),
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


# The pipeline a forked worker uses: set just before the pool forks, inherited copy-on-write.
_WORKER_NLP: Language | None = None


def _docs_with_dates(nlp: Language, chunk) -> Iterable:
    """Tokenised docs carrying their note date (doc.user_data['note_date']) for the date cues' on_modifies."""
    for item in chunk:
        doc = nlp.make_doc(item[1])
        doc.user_data["note_date"] = item[5]
        yield doc


def _mentions_in_chunk(args: tuple[int, list[str], list, int, bool]) -> tuple[list[dict], int]:
    """Mentions for a chunk of notes (first position, texts, note dates): pre-filter, then the pipeline.

    The pre-filter runs here, in the worker, so with n_process > 1 it is parallel too."""
    first, texts, dates, batch_size, use_prefilter = args
    nlp = _WORKER_NLP
    prefilter = nlp.meta.get("trdpath_prefilter") if use_prefilter else None
    if prefilter:
        shortened = candidate_sentences(texts, prefilter, nlp.meta.get("trdpath_section_headers"))
        work = [(first + i, short, short_starts, full_starts, texts[i], dates[i])
                for i, (short, short_starts, full_starts) in enumerate(shortened) if short_starts]
    else:
        work = [(first + i, text, [0], [0], text, dates[i]) for i, text in enumerate(texts)]
    section_attributes = nlp.meta.get("trdpath_section_attributes") or {}
    rows: list[dict] = []
    docs = nlp.pipe(_docs_with_dates(nlp, work), batch_size=batch_size)
    for (position, _, short_starts, full_starts, text, _), doc in zip(work, docs):
        rows.extend(_tag(_to_full(mentions_in_doc(doc, section_attributes), short_starts, full_starts, text),
                         position))
    return rows, len(texts)


def extract_mentions(notes: pd.DataFrame, nlp: Language | None = None, *,
                     extra_rule_files: Sequence[Path | str] = (), batch_size: int = 256,
                     n_process: int = 1, progress: bool = False, use_prefilter: bool = True) -> pd.DataFrame:
    """Mention-level table: one row per self-harm / suicidal ideation / suicide attempt mention.

    Only sentences with a candidate term (a regex covering every target rule) go through spaCy, so the
    pre-filter cannot lose a match; use_prefilter=False runs every note whole (slow; for checking).
    n_process > 1 forks worker processes (POSIX), each running the pipeline on chunks of notes.
    """
    global _WORKER_NLP
    notes = validate_notes(notes)
    nlp = nlp or shared_pipeline(extra_rule_files)
    texts = notes["text"].tolist()
    # A missing date is None: date cues then count as historical whatever the year (no note date to compare).
    dates = [None if pd.isna(d) else d for d in notes["date"].tolist()]
    # About 1 note in 3 holds a candidate sentence, so chunks of raw notes are larger than chunks of work were.
    chunk_size = max(64, min(4096, len(texts) // max(4 * n_process, 1) + 1))
    chunks = [(i, texts[i:i + chunk_size], dates[i:i + chunk_size], batch_size, use_prefilter)
              for i in range(0, len(texts), chunk_size)]
    rows: list[dict] = []
    progress_bar = task = None
    if progress:
        from rich.progress import Progress
        progress_bar = Progress(transient=False)
        progress_bar.start()
        task = progress_bar.add_task("Reading notes", total=len(texts))
    _WORKER_NLP = nlp
    # Python's advice for forked workers (gc.freeze docs): move the pipeline's many long-lived objects out of
    # the collector's generations, so collections neither walk them nor copy their pages; undone below.
    gc.freeze()
    try:
        import multiprocessing
        # Workers inherit the built pipeline by fork; where fork is unavailable (Windows) run in-process.
        if n_process > 1 and len(chunks) > 1 and "fork" in multiprocessing.get_all_start_methods():
            with multiprocessing.get_context("fork").Pool(n_process) as pool:
                results = pool.imap(_mentions_in_chunk, chunks)
                for found, done in results:
                    rows.extend(found)
                    if progress_bar is not None:
                        progress_bar.advance(task, done)
        else:
            for chunk in chunks:
                found, done = _mentions_in_chunk(chunk)
                rows.extend(found)
                if progress_bar is not None:
                    progress_bar.advance(task, done)
    finally:
        gc.unfreeze()
        _WORKER_NLP = None
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
