"""Rule files: the built-in target, ConText and section rules, plus any extra files a user supplies.

Rules are data (medspaCy's JSON formats) so a site can add its own abbreviations without touching code.
An extra rule file may hold any of the keys ``target_rules``, ``context_rules``, ``section_rules``,
``terminating_types``, ``section_attributes`` and ``prefilter`` (a regular expression, see below).
"""

from __future__ import annotations

import itertools
import json
import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Iterable

from medspacy.context import ConTextRule
from medspacy.ner import TargetRule
from medspacy.section_detection import SectionRule

from trdpath.errors import InputError

BUILTIN_RULE_FILES = ("targets.json", "context.json", "sections.json")
# medspaCy on_modifies callbacks a ConText rule may name in its metadata (defined in pipeline.ON_MODIFIES).
ON_MODIFIES_NAMES = {"before_note_date"}

# Lower-case stems covering every built-in target rule: a note with none of these cannot hold a mention,
# so it skips the spaCy pipeline. Kept in step with rules/targets.json (tests check it on the gold set).
BUILTIN_PREFILTER = (
    r"self|harm|\bdsh\b|\bsh\b|nssi|nssh|\bsi\b|\bsis\b|\bsih\b|tosh|tosi|\bsa\b|\bsas\b|suicid|"
    r"\bcut|slash|slit|scratch|burn|lacerat|scar|superficial|ligatur|bang|overdos|over[- ]?dos|"
    r"\bo\.?d\b|\bods\b|oded|poison|swallow|ingest|took|taken|injur|hurt|punch|strangl|stab|kill|\bhit|\bhang|attempt|tried|tries|trying|"
    r"\bend(?:s|ed|ing)?\s+(?:her|his|their|my|own|it|things|them|him)|(?:take|taking|took)\s+(?:her|his|their|my|own|themsel|himself|herself|myself)|"
    r"\bdie|dying|jump|drown|gassed|\bhung\b|\bshot\b|suffocat|dead|death|\bexist|\bwake\b|\bnot\s+(?:being|wanting|waking|existing|living)|alive|\bgone\b|disappear|worth living|point (?:in|to)"
)

@dataclass
class RuleSet:
    """Everything the pipeline needs from rule files, already parsed."""

    target_rules: list[TargetRule] = field(default_factory=list)
    context_rules: list[ConTextRule] = field(default_factory=list)
    section_rules: list[SectionRule] = field(default_factory=list)
    terminating_types: dict[str, list[str]] = field(default_factory=dict)
    section_attributes: dict[str, dict[str, bool]] = field(default_factory=dict)
    prefilter_patterns: list[str] = field(default_factory=list)
    # False once a user adds target rules without saying how to pre-filter for them.
    prefilter_safe: bool = True

    def prefilter(self) -> re.Pattern[str] | None:
        """The compiled pre-filter, or None when it could lose a match (then every note is processed)."""
        if not self.prefilter_safe:
            return None
        return re.compile("|".join(f"(?:{p})" for p in self.prefilter_patterns), re.IGNORECASE)


# --- Speed: compile rules into forms spaCy matches faster, with the same matches -------------------------
# spaCy's token Matcher evaluates every first-token predicate on every token (regexes in Python), while the
# PhraseMatcher is a hash lookup. So (1) a regex over a finite set of words becomes an IN list and (2) a
# pattern made only of fixed words (LOWER equal / IN, optional '?') becomes literal phrases.
MAX_EXPANSION = 1500


def finite_strings(regex: str, limit: int = MAX_EXPANSION) -> list[str] | None:
    """Every string a fully anchored regex (^...$) can match, or None when not finite / too many."""
    try:
        from re import _parser as sre_parse  # Python 3.11+
    except ImportError:  # pragma: no cover
        import sre_parse  # type: ignore
    import re._constants as c

    if not (regex.startswith("^") and regex.endswith("$")):
        return None
    try:
        parsed = sre_parse.parse(regex[1:-1])
    except re.error:
        return None

    def expand(items) -> list[str] | None:
        results = [""]
        for op, arg in items:
            if op is c.LITERAL:
                options = [chr(arg)]
            elif op is c.SUBPATTERN:
                options = expand(arg[-1])
            elif op is c.BRANCH:
                options = []
                for branch in arg[1]:
                    sub = expand(branch)
                    if sub is None:
                        return None
                    options.extend(sub)
            elif op is c.MAX_REPEAT or op is c.MIN_REPEAT:
                low, high, sub_items = arg
                if high > 3:
                    return None
                sub = expand(sub_items)
                if sub is None:
                    return None
                options = []
                for count in range(low, high + 1):
                    options.extend("".join(p) for p in itertools.product(sub, repeat=count))
            elif op is c.IN:
                options = []
                for kind, value in arg:
                    if kind is c.LITERAL:
                        options.append(chr(value))
                    elif kind is c.RANGE and value[1] - value[0] < 30:
                        options.extend(chr(x) for x in range(value[0], value[1] + 1))
                    else:
                        return None
            else:
                return None
            if options is None:
                return None
            results = [a + b for a in results for b in options]
            if len(results) > limit:
                return None
        return results

    return expand(parsed)


def _finite_token(token: dict) -> dict:
    """A token pattern with each finite REGEX replaced by the equivalent IN list."""
    out = dict(token)
    for attr in ("LOWER", "TEXT", "ORTH", "NORM"):
        value = token.get(attr)
        if isinstance(value, dict) and set(value) == {"REGEX"}:
            words = finite_strings(value["REGEX"])
            if words is not None:
                out[attr] = {"IN": sorted(set(words))}
    return out


def _phrases(pattern: list[dict], single_token) -> list[str] | None:
    """Literal phrases equivalent to a pattern of fixed lower-case words, or None if it is not one."""
    choices = []
    for token in pattern:
        if set(token) - {"LOWER", "OP"} or token.get("OP") not in (None, "?") or "LOWER" not in token:
            return None
        value = token["LOWER"]
        words = [value] if isinstance(value, str) else value.get("IN") if set(value) == {"IN"} else None
        if not words or not all(isinstance(w, str) and w == w.lower() for w in words):
            return None
        # A word the tokenizer splits ("aunt's", "can't") can never equal one token: dropping it changes nothing.
        words = [w for w in words if single_token(w)]
        if not words:
            return None
        choices.append(words + ([None] if token.get("OP") == "?" else []))
    phrases = set()
    for combination in itertools.product(*choices):
        words = [w for w in combination if w is not None]
        if words:
            phrases.add(" ".join(words))
        if len(phrases) > MAX_EXPANSION:
            return None
    return sorted(phrases)


MAX_FIRST_TOKEN_EXPANSION = 400


def expand_first_token(pattern: list[dict]) -> list[list[dict]]:
    """Equivalent patterns whose first token is one exact word instead of an IN list.

    spaCy's Matcher starts every pattern at every token and checks an IN list with a Python predicate, but an
    exact LOWER / TEXT value in C; so a pattern starting with {"LOWER": {"IN": [a, b]}} becomes one pattern per
    word. Optional first tokens unfold by the identities A? B = A B | B, A* B = A A* B | B, A+ B = A A* B.
    The matches (spans) are the same; patterns that would unfold into too many stay as they are.
    """
    def unfold(tokens: list[dict]) -> list[list[dict]] | None:
        if not tokens:
            return None
        first, rest = tokens[0], tokens[1:]
        op = first.get("OP")
        attrs = set(first) - {"OP"}
        attr = next(iter(attrs)) if len(attrs) == 1 else None
        value = first.get(attr) if attr in ("LOWER", "TEXT", "ORTH") else None
        if isinstance(value, dict) and set(value) == {"IN"} and all(isinstance(v, str) for v in value["IN"]):
            words = list(dict.fromkeys(value["IN"]))
        elif isinstance(value, str):
            words = [value]
        else:
            return [tokens] if op in (None, "!") else None  # a flag (LIKE_NUM, IS_PUNCT) is checked in C already
        if op is None:
            return [[{attr: word}] + rest for word in words]
        if op in ("?", "*", "+"):
            repeat = [] if op == "?" else [{attr: {"IN": words}, "OP": "*"}]
            with_first = [[{attr: word}] + repeat + rest for word in words]
            if op == "+":
                return with_first
            without = unfold(rest)
            return None if without is None else with_first + without
        return None

    unfolded = unfold(pattern)
    if unfolded is None or len(unfolded) > MAX_FIRST_TOKEN_EXPANSION:
        return [pattern]
    return unfolded


def compile_rule_dicts(entries: list[dict], single_token) -> list[dict]:
    """Rule dicts rewritten for speed (finite regexes to IN lists, fixed-word patterns to literals)."""
    compiled = []
    for entry in entries:
        pattern = entry.get("pattern")
        if not isinstance(pattern, list):
            compiled.append(entry)
            continue
        pattern = [_finite_token(t) for t in pattern]
        phrases = _phrases(pattern, single_token)
        if phrases is None:
            compiled.extend({**entry, "pattern": p} for p in expand_first_token(pattern))
        else:
            compiled.extend({**entry, "literal": phrase, "pattern": None} for phrase in phrases)
    return compiled


def _read_json(path: Path | str, label: str) -> dict:
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except FileNotFoundError as exc:
        raise InputError("rule file not found", file=label) from exc
    except json.JSONDecodeError as exc:
        raise InputError(f"not valid JSON: {exc.msg} at line {exc.lineno}", file=label) from exc
    if not isinstance(data, dict):
        raise InputError("a rule file must hold a JSON object", file=label)
    return data


def _add(rules: RuleSet, data: dict, label: str, builtin: bool, single_token=None) -> None:
    known = {"target_rules", "context_rules", "section_rules", "terminating_types",
             "section_attributes", "prefilter"}
    for key in data:
        if key not in known and not key.startswith("_"):
            raise InputError(f"unknown key {key!r}; expected one of {sorted(known)}", file=label)
    parsers = (("target_rules", TargetRule, rules.target_rules),
               ("context_rules", ConTextRule, rules.context_rules),
               ("section_rules", SectionRule, rules.section_rules))
    for key, rule_class, into in parsers:
        for row, entry in enumerate(data.get(key, []), start=1):
            try:
                rule_class.from_dict(entry)  # validate as written, so errors name the user's rule
                if key == "context_rules":
                    metadata = entry.get("metadata") or {}
                    callback = metadata.get("on_modifies")
                    if callback is not None and callback not in ON_MODIFIES_NAMES:
                        raise ValueError(f"unknown on_modifies {callback!r}; expected one of {sorted(ON_MODIFIES_NAMES)}")
                    # The audit columns name the rule as written, also after compilation into many literals.
                    entry = {**entry, "metadata": {**metadata, "rule": metadata.get("rule", entry["literal"])}}
                entries = [entry]
                if single_token is not None and key != "section_rules":
                    entries = compile_rule_dicts(entries, single_token)
                into.extend(rule_class.from_dict(e) for e in entries)
            except (ValueError, TypeError) as exc:
                raise InputError(f"bad rule in {key}: {exc}", file=label, row=row) from exc
    for category, terminators in data.get("terminating_types", {}).items():
        rules.terminating_types.setdefault(category.upper(), []).extend(t.upper() for t in terminators)
    rules.section_attributes.update(data.get("section_attributes", {}))
    if "prefilter" in data:
        try:
            re.compile(data["prefilter"])
        except re.error as exc:
            raise InputError(f"prefilter is not a valid regular expression: {exc}", file=label) from exc
        rules.prefilter_patterns.append(data["prefilter"])
    elif data.get("target_rules") and not builtin:
        rules.prefilter_safe = False


def load_rules(extra_rule_files: Iterable[Path | str] = (), compile_rules: bool = True) -> RuleSet:
    """Built-in rules followed by each extra file in order.

    compile_rules: rewrite rules into faster equivalent forms (see compile_rule_dicts); False keeps them
    exactly as written (used by the tests that check both give the same mentions).
    """
    single_token = None
    if compile_rules:
        import spacy

        tokenizer = spacy.blank("en").tokenizer
        single_token = lambda word: len(tokenizer(word)) == 1  # noqa: E731
    rules = RuleSet(prefilter_patterns=[BUILTIN_PREFILTER])
    package = resources.files("trdpath.nlp") / "rules"
    for name in BUILTIN_RULE_FILES:
        with resources.as_file(package / name) as path:
            _add(rules, _read_json(path, f"trdpath/nlp/rules/{name}"), name, builtin=True,
                 single_token=single_token)
    for extra in extra_rule_files:
        _add(rules, _read_json(extra, str(extra)), str(extra), builtin=False, single_token=single_token)
    return rules
