"""The quantitative side of a joint display, read only from the PUBLISHED tables of a result folder
(OUT/release/tables/*.csv, already disclosure-controlled): nothing patient-level is opened."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from trdpath import layout
from trdpath.errors import UserError
from trdpath.joint.mapping import Comparison, Predictor, Prevalence, ResistanceLevel, ServiceUse
from trdpath.safety import neutralise_cell

TABLE3 = "table3_logistic_regression.csv"
TABLE1 = "table1_sociodemographics.csv"
TABLE2 = "table2_comorbidities.csv"
RESISTANCE = "resistance_levels.csv"
SERVICE_USE = "service_use.csv"
DEFINITIONS = "definitions"  # the atlas's release folder: release/definitions/prevalence.csv
PREVALENCE = "prevalence.csv"
LEVEL_GROUPS = (("mdd", "MDD"), ("level2", "TRD level 2"), ("level3", "TRD level 3"), ("level4plus", "TRD level 4+"))
TESTS = {"pearson_chi2": "χ²", "fisher_exact": "Fisher's exact test", "student_t": "t", "welch_t": "Welch t",
         "anova_f": "F"}


@dataclass
class QuantFigure:
    """One published finding: per-group figures (MDD, TRD, levels) and the effect (OR with CI, or a test)."""
    label: str
    source: str
    groups: list[tuple[str, str]] = field(default_factory=list)
    effect: str = ""

    def text(self) -> str:
        parts = [" v ".join(f"{g} {v}" for g, v in self.groups)] if self.groups else []
        return "; ".join(parts + ([self.effect] if self.effect else []))


class PublishedTables:
    """The release tables of one result folder, read as published (strings: '<8', 'suppressed' stay)."""

    def __init__(self, results: str | Path):
        self.results = Path(results)
        self.tables = layout.tables_dir(self.results)
        if not self.tables.is_dir():
            raise UserError(f"{self.results}: no published tables at {self.tables} (run `trdpath run` or "
                            "`trdpath report` on it first)")
        self._cache: dict[Path, pd.DataFrame] = {}

    def read(self, path: Path) -> pd.DataFrame:
        if path not in self._cache:
            if not path.is_file():
                raise UserError(f"{path}: this published table is missing from the result folder")
            self._cache[path] = pd.read_csv(path, dtype=str, keep_default_na=False)
        return self._cache[path]

    def table(self, name: str) -> pd.DataFrame:
        return self.read(self.tables / name)


def _is(column: pd.Series, value: str | None) -> pd.Series:
    # Published cells were neutralised against spreadsheet formulas: match the mapping's value both ways.
    wanted = "" if value is None else str(value)
    return column.isin({wanted, str(neutralise_cell(wanted))})


def _pick(frame: pd.DataFrame, where: str, keys: dict[str, str | None], key_names: dict[str, str]) -> pd.Series:
    rows = frame
    for column, value in keys.items():
        rows = rows[_is(rows[column], value)]
    if rows.empty:
        # Name the first key with no match on its own; else the last (the combination is what is missing).
        within = frame
        for column, value in keys.items():  # the first key that matches nothing, among the rows the earlier keys match
            if not _is(within[column], value).any():
                break
            within = within[_is(within[column], value)]
        seen = sorted({x for x in within[column] if x})[:12] or ["nothing"]
        raise UserError(f"{where}: {key_names[column]} {value!r} is not in the published table (it has: "
                        f"{', '.join(seen)})")
    return rows.iloc[0]


def _number(value: str) -> bool:
    try:
        float(value)
    except ValueError:
        return False
    return True


def _p(p: str) -> str:
    return f"P {p}" if p.startswith("<") or not _number(p) else f"P = {p}"


def _pct(value: str) -> str:
    try:
        return f"{float(value):.1f}%"
    except ValueError:
        return value  # '<8' or 'suppressed': shown as published


def _count_pct(n: str, pct: str) -> str:
    if n in ("", None):
        return ""
    if pct in ("", None) or not _number(pct):
        return n  # a hidden count's percentage is hidden too: '<8' says it
    return f"{_pct(pct)} ({n})"


def _test(row: pd.Series) -> str:
    test, statistic, p = row.get("test", ""), row.get("statistic", ""), row.get("p_value", "")
    if not test or not statistic:
        return ""
    name = TESTS.get(test.removesuffix("_bonferroni"), test)
    df = row.get("df", "")
    df = df.removesuffix(".0") if df else ""
    if not _number(statistic) and not test.startswith("fisher"):
        return f"{name} {statistic}"  # 'suppressed': it used a hidden count (disclosure control)
    if test.startswith("fisher"):
        return f"{name}, {_p(p)}"
    stat = f"{name}({df}) = {statistic}" if df else f"{name} = {statistic}"
    return f"{stat}, {_p(p)}"


def _group_values(row: pd.Series, groups) -> list[tuple[str, str]]:
    out = []
    for key, label in groups:
        mean = row.get(f"{key}_mean", "")
        if mean:
            out.append((label, f"mean {mean} (s.d. {row.get(f'{key}_sd', '')})"))
        else:
            out.append((label, _count_pct(row.get(f"{key}_n", ""), row.get(f"{key}_pct", ""))))
    return out


def _with_test(frame: pd.DataFrame, row: pd.Series, key: str) -> pd.Series:
    # A categorical variable's test sits on its header row (level empty), its counts on the level rows.
    if row.get("test") or not row.get("level"):
        return row
    header = frame[(frame[key] == row[key]) & (frame["level"] == "") & (frame["test"] != "")]
    if header.empty:
        return row
    columns = ["test", "statistic", "df", "p_value"]
    return pd.concat([row.drop(columns), header.iloc[0][columns]])


def quantitative_figure(tables: PublishedTables, finding, where: str) -> QuantFigure:
    """The published figure for one mapped finding; ``where`` names the mapping row in messages."""
    if isinstance(finding, Predictor):
        frame = tables.table(TABLE3)
        rows = frame[_is(frame["term"], finding.term)]
        if finding.model is not None:
            rows = rows[_is(rows["model"], finding.model)]
        if rows.empty:
            _pick(frame, where, {"term": finding.term, **({"model": finding.model} if finding.model else {})},
                  {"term": "term", "model": "model"})
        row = rows.iloc[-1]  # the last model holding the term: the fully adjusted estimate
        ci = f"{row['ci_lower']} to {row['ci_upper']}"
        p = row["p_value"]
        effect = (f"OR {row['odds_ratio']} (95% CI {ci}), {_p(p)}"
                  if row["odds_ratio"] not in ("suppressed", "withheld", "") else f"OR {row['odds_ratio']}")
        return QuantFigure(finding.label or finding.term, f"Table 3, {row['model']}", [], effect)
    if isinstance(finding, Comparison):
        names = [finding.table] if finding.table else ["table1", "table2"]
        files = {"table1": TABLE1, "table2": TABLE2}
        frames = [(n, tables.table(files[n])) for n in names]
        hits = [(n, f) for n, f in frames if _is(f["variable"], finding.variable).any()]
        if not hits:
            _pick(pd.concat([f for _, f in frames]), where, {"variable": finding.variable}, {"variable": "variable"})
        name, frame = hits[0]
        row = _pick(frame, where, {"variable": finding.variable, "level": finding.level},
                    {"variable": "variable", "level": "level"})
        row = _with_test(frame, row, "variable")
        label = finding.label or (f"{finding.variable}: {finding.level}" if finding.level else finding.variable)
        return QuantFigure(label, "Table 1" if name == "table1" else "Table 2",
                           _group_values(row, (("mdd", "MDD"), ("trd", "TRD"))), _test(row))
    if isinstance(finding, ResistanceLevel):
        frame = tables.table(RESISTANCE)
        row = _pick(frame, where, {"variable": finding.variable, "level": finding.level},
                    {"variable": "variable", "level": "level"})
        row = _with_test(frame, row, "variable")
        label = finding.label or (f"{finding.variable}: {finding.level}" if finding.level else finding.variable)
        return QuantFigure(label, "Resistance levels", _group_values(row, LEVEL_GROUPS), _test(row))
    if isinstance(finding, ServiceUse):
        frame = tables.table(SERVICE_USE)
        row = _pick(frame, where, {"measure": finding.measure, "category": finding.category},
                    {"measure": "measure", "category": "category"})
        label = finding.label or (f"{finding.measure}: {finding.category}" if finding.category else finding.measure)
        return QuantFigure(label, "Service use", _group_values(row, (("mdd", "MDD"), ("trd", "TRD"))), _test(row))
    if isinstance(finding, Prevalence):
        path = layout.release_dir(tables.results) / DEFINITIONS / PREVALENCE
        if not path.is_file():
            raise UserError(f"{where}: a prevalence finding needs the definitions atlas's {path} (run `trdpath "
                            "compare` on this result first)")
        from trdpath.definitions.report import prevalence_with_ci  # Wilson CI of the published counts

        published = tables.read(path).copy()
        for column in ("population_n", "trd_n"):  # numbers as numbers, '<8' / 'suppressed' as published
            published[column] = [int(v) if v.isdigit() else v for v in published[column]]
        frame = prevalence_with_ci(published)
        row = _pick(frame.astype(str), where, {"definition": finding.definition}, {"definition": "definition"})
        ci = (f" (95% CI {row['ci95_low']}% to {row['ci95_high']}%)" if row["ci95_low"] != "suppressed" else "")
        effect = f"{_pct(row['trd_pct'])}{ci}, {row['trd_n']} of {row['population_n']}"
        return QuantFigure(finding.label or finding.definition, "Definitions atlas", [("TRD prevalence", effect)])
    raise TypeError(finding)  # the mapping's union is closed
