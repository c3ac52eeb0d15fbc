"""Rule files: the built-in target, ConText and section rules, plus any extra files a user supplies.

Rules are data (medspaCy's JSON formats) so a site can add its own abbreviations without touching code.
An extra rule file may hold any of the keys ``target_rules``, ``context_rules``, ``section_rules``,
``terminating_types``, ``section_attributes`` and ``prefilter`` (a regular expression, see below).
"""

from __future__ import annotations

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

# Lower-case stems covering every built-in target rule: a note with none of these cannot hold a mention,
# so it skips the spaCy pipeline. Kept in step with rules/targets.json (tests check it on the gold set).
BUILTIN_PREFILTER = (
    r"self|harm|\bdsh\b|\bsh\b|nssi|nssh|\bsi\b|\bsis\b|\bsih\b|tosh|tosi|\bsa\b|\bsas\b|suicid|"
    r"\bcut|slash|slit|scratch|burn|laceration|scar|superficial|ligatur|bang|overdos|over[- ]?dos|"
    r"\bo\.?d\b|\bods\b|oded|poison|swallow|ingest|took|taken|injur|hurt|punch|strangl|stab|kill|\bhit|\bhang|attempt|tried|tries|trying|"
    r"\bend(?:s|ed|ing)?\s+(?:her|his|their|my|own|it|things|them|him)|(?:take|taking|took)\s+(?:her|his|their|my)|"
    r"\bdie|dead|death|\bexist|\bwake\b|\bnot\s+(?:being|wanting|waking|existing|living)|alive|\bgone\b|disappear|worth living|point (?:in|to)"
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


def _add(rules: RuleSet, data: dict, label: str, builtin: bool) -> None:
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
                into.append(rule_class.from_dict(entry))
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


def load_rules(extra_rule_files: Iterable[Path | str] = ()) -> RuleSet:
    """Built-in rules followed by each extra file in order."""
    rules = RuleSet(prefilter_patterns=[BUILTIN_PREFILTER])
    package = resources.files("trdpath.nlp") / "rules"
    for name in BUILTIN_RULE_FILES:
        with resources.as_file(package / name) as path:
            _add(rules, _read_json(path, f"trdpath/nlp/rules/{name}"), name, builtin=True)
    for extra in extra_rule_files:
        _add(rules, _read_json(extra, str(extra)), str(extra), builtin=False)
    return rules
