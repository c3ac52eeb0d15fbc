"""Codebooks: read them from YAML, CSV or REFI-QDA .qdc, list them as a theme -> subtheme -> code table.

YAML::

    codes:
      - name: Barriers to treatment
        definition: What stops people getting or giving effective care
        color: "#d62728"
        children:
          - name: Organisational
            children: [{name: No dedicated funding}]

CSV: either a ``code`` column holding a path (``Barriers / Organisational / No dedicated funding``) or level
columns ``theme``, ``subtheme``, ``code`` (seed 002's Table 1 layout: main theme, subtheme, open code), plus
optional ``definition`` and ``color``.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import yaml
from sqlalchemy import select

from trdpath.errors import InputError
from trdpath.qualitative import models as m
from trdpath.qualitative.coding import get_code, read_csv_rows, split_code_path
from trdpath.qualitative.store import QualProject

LEVEL_COLUMNS = ("theme", "subtheme", "code")
_COLOR = re.compile(r"^#([0-9A-Fa-f]{6}|[0-9A-Fa-f]{3})$")


def _apply(code: m.Code, definition: str | None, color: str | None, file: str, where: str) -> None:
    if definition:
        code.definition = definition.strip()
    if color:
        color = color.strip()
        if not _COLOR.match(color):
            raise InputError("colour must look like #1f77b4", file=file, column="color", value=f"{where}: {color}")
        code.color = color


def _yaml_nodes(s, nodes, parent_path: list[str], file: str) -> int:  # noqa: ANN001
    count = 0
    if not isinstance(nodes, list):
        raise InputError("'codes' (and every 'children') must be a list", file=file,
                         value=" / ".join(parent_path) or None)
    for node in nodes:
        if isinstance(node, str):
            node = {"name": node}
        if not isinstance(node, dict) or not node.get("name"):
            raise InputError("every code needs a name", file=file, value=" / ".join(parent_path) or None)
        path = parent_path + [str(node["name"]).strip()]
        code = get_code(s, path)
        _apply(code, node.get("definition"), node.get("color"), file, " / ".join(path))
        count += 1 + _yaml_nodes(s, node.get("children") or [], path, file)
    return count


def import_codebook(project: QualProject, path: str | Path, *, who: str | None = None, limits=None) -> int:  # noqa: ANN001
    """Merge a codebook file into the project (codes matched by path; definitions and colours updated)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if not path.is_file():
        raise InputError("codebook file not found", file=str(path))
    if suffix == ".qdc":
        from trdpath.qualitative.refi import import_qdc

        return import_qdc(project, path, who=who, **({"limits": limits} if limits else {}))
    if suffix in (".yaml", ".yml"):
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            raise InputError(f"not valid YAML: {exc}", file=str(path)) from exc
        if not isinstance(data, dict) or "codes" not in data:
            raise InputError("needs a top-level 'codes:' list", file=str(path))
        with project.transaction(who) as s:
            return _yaml_nodes(s, data["codes"], [], str(path))
    if suffix == ".csv":
        rows = read_csv_rows(path)
        if not rows:
            return 0
        columns = set(rows[0])
        levels = [c for c in LEVEL_COLUMNS if c in columns]
        if not levels:
            raise InputError("needs a 'code' column (path) or theme/subtheme/code columns", file=str(path))
        with project.transaction(who) as s:
            for i, row in enumerate(rows, start=2):
                if levels == ["code"]:
                    parts = split_code_path(row["code"] or "")
                else:
                    parts = [(row[c] or "").strip() for c in levels]
                    parts = [p for p in parts if p]
                if not parts:
                    raise InputError("empty code", file=str(path), row=i)
                code = get_code(s, parts)
                _apply(code, row.get("definition"), row.get("color"), str(path), f"row {i}")
        return len(rows)
    raise InputError(f"unsupported codebook type {suffix!r}; use .yaml, .csv or .qdc", file=str(path))


def codebook_table(project: QualProject) -> pd.DataFrame:
    """Every code with its depth, full path, parent path, definition and colour, in codebook order."""
    rows = []
    with project.reading() as s:
        roots = s.scalars(select(m.Code).where(m.Code.parent_id.is_(None)).order_by(m.Code.position, m.Code.id))

        def walk(code: m.Code, depth: int) -> None:
            rows.append(dict(code_id=code.id, depth=depth, name=code.name, path=code.path(),
                             parent=code.parent.path() if code.parent else None,
                             definition=code.definition, color=code.color))
            for child in code.children:
                walk(child, depth + 1)

        for root in roots:
            walk(root, 0)
    return pd.DataFrame(rows, columns=["code_id", "depth", "name", "path", "parent", "definition", "color"])
