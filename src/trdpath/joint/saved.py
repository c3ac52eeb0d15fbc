"""Joint-display mappings made with the app's form: the findings a row may use (a closed list read from the
PUBLISHED tables only), a mapping saved in the project store as the YAML `trdpath joint --mapping` reads, and
the latest one loaded back."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml
from sqlalchemy import select

from trdpath.errors import UserError
from trdpath.joint.mapping import Mapping, parse_mapping
from trdpath.joint.quantitative import RESISTANCE, SERVICE_USE, TABLE1, TABLE2, TABLE3, PublishedTables
from trdpath.qualitative import models as m
from trdpath.qualitative.store import QualProject


@dataclass(frozen=True)
class FindingChoice:
    key: str  # what the form sends: an index into this closed list, never a finding the browser made up
    label: str
    finding: dict


def finding_choices(results: str | Path) -> list[FindingChoice]:
    """Every finding of the published tables a mapping row can point at, in the tables' order."""
    tables = PublishedTables(results)
    out: list[tuple[str, dict]] = []

    def optional(name: str):  # noqa: ANN202
        path = tables.tables / name
        return tables.read(path) if path.is_file() else None

    table3 = optional(TABLE3)
    if table3 is not None:
        for term in dict.fromkeys(table3["term"]):
            out.append((f"Table 3: {term}", {"kind": "predictor", "term": term}))
    for name, file in (("table1", TABLE1), ("table2", TABLE2)):
        frame = optional(file)
        if frame is not None:
            for variable, level in dict.fromkeys(zip(frame["variable"], frame["level"])):
                finding = {"kind": "comparison", "table": name, "variable": variable}
                if level:
                    finding["level"] = level
                out.append((f"{'Table 1' if name == 'table1' else 'Table 2'}: {variable}"
                            + (f": {level}" if level else ""), finding))
    frame = optional(RESISTANCE)
    if frame is not None:
        for variable, level in dict.fromkeys(zip(frame["variable"], frame["level"])):
            finding = {"kind": "resistance_level", "variable": variable, **({"level": level} if level else {})}
            out.append((f"Resistance levels: {variable}" + (f": {level}" if level else ""), finding))
    frame = optional(SERVICE_USE)
    if frame is not None:
        for measure, category in dict.fromkeys(zip(frame["measure"], frame["category"])):
            finding = {"kind": "service_use", "measure": measure, **({"category": category} if category else {})}
            out.append((f"Service use: {measure}" + (f": {category}" if category else ""), finding))
    return [FindingChoice(str(i), label, finding) for i, (label, finding) in enumerate(out)]


def choice_key(choices: list[FindingChoice], finding: dict) -> str:
    """The form's key of a saved finding (its label dropped), or "" when the published tables no longer hold it."""
    core = {k: v for k, v in finding.items() if k not in ("label", "model") and v is not None}
    return next((c.key for c in choices if c.finding == core), "")


def save_mapping(project: QualProject, mapping: Mapping, who: str) -> None:
    data = mapping.model_dump(mode="json", exclude_none=True)
    with project.transaction(who) as s:
        s.add(m.JointMapping(yaml_text=yaml.safe_dump(data, sort_keys=False, allow_unicode=True), saved_by=who))


def latest_mapping(project: QualProject) -> Mapping | None:
    with project.reading() as s:
        saved = s.scalar(select(m.JointMapping).order_by(m.JointMapping.id.desc()).limit(1))
    if saved is None:
        return None
    return parse_mapping(yaml.safe_load(saved.yaml_text), "the mapping saved in the project")


def latest_yaml(project: QualProject) -> str | None:
    with project.reading() as s:
        return s.scalar(select(m.JointMapping.yaml_text).order_by(m.JointMapping.id.desc()).limit(1))


def mapping_from_form(form, choices: list[FindingChoice], rows: int) -> Mapping:  # noqa: ANN001
    """A mapping from the form's fields (row i: finding_i, codes_i, theme_i, quotes_i, judgement_i, meta_i);
    rows with no finding chosen are left out; the result is validated as a YAML mapping is."""
    by_key = {c.key: c for c in choices}
    data: dict = {"title": str(form.get("title", "")).strip() or "Joint display", "rows": []}
    coders = [str(c) for c in form.getlist("coders") if str(c).strip()]
    if coders:
        data["coders"] = coders
    level = str(form.get("level_attribute", "")).strip()
    if level:
        data["level_attribute"] = level
    for i in range(rows):
        key = str(form.get(f"finding_{i}", "")).strip()
        if not key:
            continue
        if key not in by_key:
            raise UserError(f"row {i + 1}: that finding is not in the published tables")
        finding = dict(by_key[key].finding)
        label = str(form.get(f"label_{i}", "")).strip()
        if label:
            finding["label"] = label
        row = {"finding": finding, "codes": [str(c) for c in form.getlist(f"codes_{i}")],
               "judgement": str(form.get(f"judgement_{i}", "")), "meta_inference": str(form.get(f"meta_{i}", ""))}
        theme = str(form.get(f"theme_{i}", "")).strip()
        if theme:
            row["theme"] = theme
        quotes = str(form.get(f"quotes_{i}", "2")).strip()
        row["quotes"] = int(quotes) if quotes.isdigit() else quotes
        data["rows"].append(row)
    return parse_mapping(data, "the mapping form")
