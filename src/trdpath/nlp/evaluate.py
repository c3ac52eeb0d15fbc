"""The gold set and mention-level evaluation (precision, recall, F1 per category and per context attribute).

Gold files are written in a small markup, one item per line: ``[span|CAT|flags]`` with CAT one of SH
(self-harm), SI (suicidal ideation), SA (suicide attempt) and flags any of n (negated), h (historical),
y (hypothetical), f (family), o (other person), u (uncertain). ``[span|-|-]`` marks text deliberately not
labelled. ``build_gold_csv`` turns markup into the CSV that ``trdpath nlp evaluate`` reads: one row per
mention (sentence_id, text, start, end, span, category, negated, historical, hypothetical, experiencer,
certainty); a sentence without mentions has one row with empty mention columns.

Matching: a predicted mention matches a gold mention in the same sentence with the same category whose
character span overlaps it (each gold mention used once). Attributes are scored on matched mentions:
for negated / historical / hypothetical the positive class is True, for experiencer it is "not the
patient" (a match needs the same value, family or other), for certainty it is "uncertain".
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from spacy.language import Language

from trdpath.atomic import replace_file
from trdpath.errors import InputError

CODES = {"SH": "self_harm", "SI": "suicidal_ideation", "SA": "suicide_attempt"}
GOLD_COLUMNS = ["sentence_id", "text", "start", "end", "span", "category", "negated", "historical",
                "hypothetical", "experiencer", "certainty"]
ATTRIBUTES = ["negated", "historical", "hypothetical", "experiencer", "certainty"]
_MARK = re.compile(r"\[([^\[\]|]+)\|([A-Z-]+)\|([nhyfou-]*)\]")


def parse_markup(line: str) -> tuple[str, list[dict]]:
    """Plain text and its labelled mentions from one markup line."""
    text_parts, mentions, position, cursor = [], [], 0, 0
    for match in _MARK.finditer(line):
        text_parts.append(line[cursor:match.start()])
        position += match.start() - cursor
        span, code, flags = match.groups()
        if code != "-":
            if code not in CODES:
                raise ValueError(f"unknown category code {code!r} in: {line}")
            mentions.append({
                "start": position, "end": position + len(span), "span": span, "category": CODES[code],
                "negated": "n" in flags, "historical": "h" in flags, "hypothetical": "y" in flags,
                "experiencer": "family" if "f" in flags else "other" if "o" in flags else "patient",
                "certainty": "uncertain" if "u" in flags else "certain"})
        text_parts.append(span)
        position += len(span)
        cursor = match.end()
    text_parts.append(line[cursor:])
    text = "".join(text_parts)
    if "[" in text or "]" in text:
        raise ValueError(f"unbalanced markup in: {line}")
    return text, mentions


_FAMILY = re.compile(r"^#\s*family:\s*(\S+)\s*$")


def markup_to_frame(markup: str, prefix: str) -> pd.DataFrame:
    """Gold rows from markup; a comment line '# family: NAME' puts the items after it in phrasing family NAME
    (a 'family' column is added only when the markup names families, so older splits keep their columns)."""
    rows = []
    family, number, families_named = "", 0, False
    for raw in markup.splitlines():
        line = raw.strip()
        if not line:
            continue
        if line.startswith("#"):
            named = _FAMILY.match(line)
            if named:
                family, families_named = named.group(1), True
            continue
        number += 1
        text, mentions = parse_markup(line)
        sentence_id = f"{prefix}{number:04d}"
        if not mentions:
            rows.append({"sentence_id": sentence_id, "text": text, "family": family})
        for mention in mentions:
            rows.append({"sentence_id": sentence_id, "text": text, "family": family, **mention})
    frame = pd.DataFrame(rows, columns=GOLD_COLUMNS + ["family"])
    if not families_named:
        frame = frame.drop(columns="family")
    frame["start"] = frame["start"].astype("Int64")
    frame["end"] = frame["end"].astype("Int64")
    return frame


def build_gold_csv(markup_file: Path, csv_file: Path, prefix: str) -> pd.DataFrame:
    frame = markup_to_frame(Path(markup_file).read_text(encoding="utf-8"), prefix)
    with replace_file(csv_file) as staging:  # a kill mid-write leaves the old gold file, never half of one
        frame.to_csv(staging, index=False)
    return frame


def read_gold(path: Path | str) -> pd.DataFrame:
    """Read a gold CSV, checking its columns and values."""
    label = str(path)
    try:
        gold = pd.read_csv(path, dtype={"sentence_id": str, "text": str, "span": str}, keep_default_na=False,
                           na_values={"start": [""], "end": [""]})
    except FileNotFoundError as exc:
        raise InputError("gold file not found", file=label) from exc
    missing = [c for c in GOLD_COLUMNS if c not in gold.columns]
    if missing:
        raise InputError(f"missing column(s) {', '.join(missing)}", file=label)
    has = gold["category"] != ""
    bad = has & ~gold["category"].isin(CODES.values())
    if bad.any():
        row = int(bad.to_numpy().nonzero()[0][0])
        raise InputError("unknown category", file=label, row=row + 2, column="category",
                         value=gold["category"].iloc[row])
    for column in ("negated", "historical", "hypothetical"):
        gold[column] = gold[column].astype(str).str.lower().isin(["true", "1", "yes"])
    gold["start"] = pd.to_numeric(gold["start"]).astype("Int64")
    gold["end"] = pd.to_numeric(gold["end"]).astype("Int64")
    spans_ok = gold[has].apply(lambda r: r["text"][int(r["start"]):int(r["end"])] == r["span"], axis=1)
    if len(spans_ok) and not spans_ok.all():
        row = int(spans_ok.index[~spans_ok.to_numpy()][0])
        raise InputError("span does not match text[start:end]", file=label, row=row + 2, column="span",
                         value=gold["span"].iloc[row])
    return gold


@dataclass
class Score:
    tp: int
    fp: int
    fn: int

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else float("nan")

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else float("nan")

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


def match_mentions(gold: pd.DataFrame, predicted: pd.DataFrame) -> tuple[list[tuple[dict, dict]], list[dict], list[dict]]:
    """(matched pairs, false positives, false negatives) under the overlap rule in the module docstring."""
    gold_rows = gold[gold["category"].notna() & (gold["category"] != "")].to_dict("records")
    by_sentence: dict[str, list[dict]] = {}
    for row in gold_rows:
        by_sentence.setdefault(row["sentence_id"], []).append(row)
    used: set[int] = set()
    pairs, false_pos = [], []
    for row in predicted.to_dict("records"):
        candidates = by_sentence.get(row["sentence_id"], [])
        hit = next((g for g in candidates if id(g) not in used and g["category"] == row["category"]
                    and g["start"] < row["end"] and row["start"] < g["end"]), None)
        if hit is None:
            false_pos.append(row)
        else:
            used.add(id(hit))
            pairs.append((hit, row))
    false_neg = [g for g in gold_rows if id(g) not in used]
    return pairs, false_pos, false_neg


def _attribute_positive(attribute: str, value) -> bool:
    if attribute == "experiencer":
        return value != "patient"
    if attribute == "certainty":
        return value == "uncertain"
    return bool(value)


def counts_by_sentence(gold: pd.DataFrame, predicted: pd.DataFrame) -> pd.DataFrame:
    """TP / FP / FN per sentence for every score key (rows: sentence_id; columns: (key, 'tp'|'fp'|'fn')).

    The totals over all sentences are the scores of `score`; the bootstrap resamples these rows.
    """
    pairs, false_pos, false_neg = match_mentions(gold, predicted)
    categories = list(CODES.values()) + sorted(set(predicted.get("category", pd.Series(dtype=str))) - set(CODES.values()))
    keys = [f"category:{c}" for c in categories] + ["category:all"] + [f"attribute:{a}" for a in ATTRIBUTES]
    sentences = list(dict.fromkeys(gold["sentence_id"]))
    position = {s: i for i, s in enumerate(sentences)}
    counts = {(key, kind): [0] * len(sentences) for key in keys for kind in ("tp", "fp", "fn")}

    def add(key: str, kind: str, sentence_id: str) -> None:
        counts[(key, kind)][position[sentence_id]] += 1

    for g, p in pairs:
        add(f"category:{g['category']}", "tp", g["sentence_id"])
        add("category:all", "tp", g["sentence_id"])
        for attribute in ATTRIBUTES:
            gold_pos = _attribute_positive(attribute, g[attribute])
            pred_pos = _attribute_positive(attribute, p[attribute])
            if gold_pos and pred_pos and g[attribute] == p[attribute]:
                add(f"attribute:{attribute}", "tp", g["sentence_id"])
            else:
                if pred_pos:
                    add(f"attribute:{attribute}", "fp", g["sentence_id"])
                if gold_pos:
                    add(f"attribute:{attribute}", "fn", g["sentence_id"])
    for p in false_pos:
        add(f"category:{p['category']}", "fp", p["sentence_id"])
        add("category:all", "fp", p["sentence_id"])
    for g in false_neg:
        add(f"category:{g['category']}", "fn", g["sentence_id"])
        add("category:all", "fn", g["sentence_id"])
    frame = pd.DataFrame(counts, index=pd.Index(sentences, name="sentence_id"))
    frame.columns = pd.MultiIndex.from_tuples(frame.columns)
    return frame


def score(gold: pd.DataFrame, predicted: pd.DataFrame) -> dict[str, Score]:
    """Scores keyed 'category:<name>', 'category:all' and 'attribute:<name>'."""
    totals = counts_by_sentence(gold, predicted).sum()
    keys = dict.fromkeys(key for key, _ in totals.index)
    return {key: Score(int(totals[(key, "tp")]), int(totals[(key, "fp")]), int(totals[(key, "fn")])) for key in keys}


def bootstrap_f1(counts: pd.DataFrame, replicates: int = 2000, seed: int = 21,
                 level: float = 0.95) -> pd.DataFrame:
    """Percentile bootstrap CI of F1 per score key, resampling sentences with replacement (Efron 1979).

    Sentences are the unit: mentions of one sentence share its wording, so they are resampled together.
    F1 = 2TP / (2TP + FP + FN), equal to 2PR/(P+R); a replicate with no positive at all is left out.
    """
    import numpy as np

    rng = np.random.default_rng(seed)
    n = len(counts)
    keys = list(dict.fromkeys(key for key, _ in counts.columns))
    rows = []
    if n == 0:
        return pd.DataFrame(columns=["key", "f1_low", "f1_high"])
    weights = rng.multinomial(n, np.full(n, 1.0 / n), size=replicates)  # replicates x sentences
    for key in keys:
        tp, fp, fn = (weights @ counts[(key, kind)].to_numpy(dtype=float) for kind in ("tp", "fp", "fn"))
        denominator = 2 * tp + fp + fn
        with np.errstate(invalid="ignore", divide="ignore"):
            f1 = np.where(denominator > 0, 2 * tp / denominator, np.nan)
        f1 = f1[~np.isnan(f1)]
        alpha = (1 - level) / 2
        low, high = (np.quantile(f1, [alpha, 1 - alpha]) if len(f1) else (float("nan"), float("nan")))
        rows.append({"key": key, "f1_low": float(low), "f1_high": float(high)})
    return pd.DataFrame(rows)


def score_report(gold: pd.DataFrame, predicted: pd.DataFrame, replicates: int = 2000,
                 seed: int = 21) -> pd.DataFrame:
    """One row per (family, score key): TP, FP, FN, precision, recall, F1 and its bootstrap 95% CI.

    family 'all' is the whole split; the other families come from the split's '# family:' headers.
    """
    counts = counts_by_sentence(gold, predicted)
    groups = [("all", counts)]
    if "family" in gold.columns:
        family_of = gold.drop_duplicates("sentence_id").set_index("sentence_id")["family"]
        # Items before the first '# family:' line (the issue-6 part of dev) form their own group.
        family_of = family_of.fillna("").replace("", "(no family)")
        for family in dict.fromkeys(family_of):
            groups.append((family, counts.loc[family_of.index[family_of == family]]))
    rows = []
    for family, part in groups:
        totals = part.sum()
        intervals = bootstrap_f1(part, replicates, seed).set_index("key")
        for key in intervals.index:
            result = Score(int(totals[(key, "tp")]), int(totals[(key, "fp")]), int(totals[(key, "fn")]))
            if result.tp + result.fp + result.fn == 0:
                continue
            rows.append({"family": family, "key": key, "tp": result.tp, "fp": result.fp, "fn": result.fn,
                         "precision": result.precision, "recall": result.recall,
                         "f1": 2 * result.tp / (2 * result.tp + result.fp + result.fn),
                         "f1_low": intervals.loc[key, "f1_low"], "f1_high": intervals.loc[key, "f1_high"]})
    return pd.DataFrame(rows)


def predict_gold(gold: pd.DataFrame, nlp: Language) -> pd.DataFrame:
    """Run the pipeline on each gold sentence; mentions carry sentence_id instead of note keys."""
    from trdpath.nlp.pipeline import extract_mentions

    sentences = gold.drop_duplicates("sentence_id")[["sentence_id", "text"]]
    notes = pd.DataFrame({"patient_id": sentences["sentence_id"], "note_id": sentences["sentence_id"],
                          "date": "2020-01-01", "text": sentences["text"]})
    mentions = extract_mentions(notes, nlp)
    return mentions.rename(columns={"note_id": "sentence_id"})


def evaluate(gold_file: Path | str, nlp: Language | None = None) -> tuple[dict[str, Score], pd.DataFrame, list, list]:
    from trdpath.nlp.pipeline import shared_pipeline

    gold = read_gold(gold_file)
    nlp = nlp or shared_pipeline()
    predicted = predict_gold(gold, nlp)
    pairs, false_pos, false_neg = match_mentions(gold, predicted)
    return score(gold, predicted), predicted, false_pos, false_neg
