"""A reader who recombines every published figure of a run to recover counts (issue 14, item 2).

The attacker sees only the release: the CSV tables as written (strings, exactly as printed) and the rules
(Kerckhoffs: the release policy is public). It sets up one integer programme over every count of the run:

* a variable per published count cell, bounded by what its printed value allows: ``<8`` -> 1..7, a rounded
  ``r`` -> max(8, r-2)..r+2 (rounding to the nearest 5, halves up), ``suppressed`` -> >= 8, ``0`` -> 0;
* the additive structure every reader knows: levels add up to the group, TRD levels 2 + 3 + 4+ to TRD and
  equal Tables 1-2 cell by cell, referral categories to the total, the codes/notes overlaps, the Sankey nodes
  (inflow = outflow), the cohort flow (remaining - excluded = next remaining), each model's n <= the cohort;
  Tables 6-9 and the Kaplan-Meier counts: a line's drugs to its total, line k+1 <= line k <= the cohort, the
  patients at position k (Table 8's cells, the Sankey's column k, Table 9's "step k-1 to step k"), Table 8's
  judged cells = the lines' totals, T1 >= T2 >= TRD n = TRD, line 1 = the Sankey's first column drug by drug
  when Table 8 shows nobody starting on an augmenting agent, the curve's cumulative counts rising and below TRD
  and the cohort, Table 6's rows (MDD + TRD = cohort, 2 + 3 + 4+ = TRD) and its headline row = the headline;

then asks scipy.optimize.milp (HiGHS) for the smallest and largest value of every variable. A count with
max > min has at least two candidates. The non-linear figures are used as filters on the group sizes they
involve (means of whole-year ages and their s.d., Student and Welch t, Cox & Snell and Nagelkerke R2 with the
model chi-squared, -2LL), and the figures the policy computes from published counts (percentages,
chi-squared, Fisher's P) are checked to be exactly that, so that they carry nothing more.

``truth`` (the unprotected Analysis) is used only to check that the true table is one of the candidates,
i.e. that the attacker's model of the structure is right; never to narrow the search.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats as scipy_stats
from scipy.optimize import Bounds, LinearConstraint, milp

from trdpath.stats.comparisons import chi_squared

MIN_COUNT, ROUNDING = 8, 5
BIG = 10**7
GROUPS2 = ("mdd", "trd")
LEVEL_GROUPS = ("mdd", "level2", "level3", "level4plus")
T_TESTS = ("student_t", "welch_t")
CHI2_TESTS = ("pearson_chi2", "pearson_chi2_bonferroni", "fisher_exact", "fisher_exact_bonferroni")


def read_release(tables_dir: Path) -> dict[str, pd.DataFrame]:
    """Every published CSV as strings, as a reader would open them."""
    return {p.stem: pd.read_csv(p, dtype=str, keep_default_na=False) for p in sorted(Path(tables_dir).glob("*.csv"))}


def release_of(protected, attrition_protected) -> dict[str, pd.DataFrame]:
    """The same strings from a protected Analysis (the CSV round trip, without the files)."""
    import io

    tables = dict(protected.tables())
    tables["attrition"] = attrition_protected
    if protected.extras is not None:
        tables.update(protected.extras.tables())
    out = {}
    for stem, table in tables.items():
        buffer = io.StringIO()
        table.to_csv(buffer, index=False)
        buffer.seek(0)
        out[stem] = pd.read_csv(buffer, dtype=str, keep_default_na=False)
    return out


def count_bounds(text: str) -> tuple[int, int] | None:
    """What a printed count allows for the true count (None: not a count)."""
    if text == "":
        return None
    if text == f"<{MIN_COUNT}":
        return 1, MIN_COUNT - 1
    if text == "suppressed":
        return MIN_COUNT, BIG
    if text == "withheld":
        return 0, BIG  # a row that is there whatever its count: nothing known
    value = int(float(text))
    if value == 0:
        return 0, 0
    half = ROUNDING // 2
    return max(MIN_COUNT, value - half), value + half


def km_bounds(value) -> tuple[int, int]:
    """A rounded cumulative count of the Kaplan-Meier table (no small-number rule there: 0 stands for 0-2)."""
    value = int(float(value))
    half = ROUNDING // 2
    return max(0, value - half), value + half


def interval(text: str) -> tuple[float, float] | None:
    """The interval a printed number stands for, from its printed decimals ('0.05' -> [0.045, 0.055])."""
    if text in ("", "suppressed", "withheld") or text.startswith("<"):
        return None
    decimals = len(text.split(".")[1]) if "." in text and "e" not in text.lower() else 0
    if "e" in text.lower():
        value = float(text)
        return value * (1 - 1e-15), value * (1 + 1e-15)
    value = float(text)
    half = max(0.5 * 10.0 ** (-decimals), 1e-11 * abs(value))  # 16 printed digits: floating-point slack
    return value - half, value + half


@dataclass
class Programme:
    """An integer programme over named count variables."""

    names: list[str] = field(default_factory=list)
    lower: list[float] = field(default_factory=list)
    upper: list[float] = field(default_factory=list)
    rows: list[dict[int, float]] = field(default_factory=list)
    row_lower: list[float] = field(default_factory=list)
    row_upper: list[float] = field(default_factory=list)
    index: dict[str, int] = field(default_factory=dict)

    def var(self, name: str, bounds: tuple[int, int] = (0, BIG)) -> int:
        if name in self.index:
            i = self.index[name]
            self.lower[i] = max(self.lower[i], bounds[0])
            self.upper[i] = min(self.upper[i], bounds[1])
            return i
        self.index[name] = len(self.names)
        self.names.append(name)
        self.lower.append(bounds[0])
        self.upper.append(bounds[1])
        return self.index[name]

    def relation(self, terms: dict[int, float], low: float, high: float) -> None:
        if None in terms:
            return  # a side that is not a published count
        merged: dict[int, float] = {}
        for i, c in terms.items():
            merged[i] = merged.get(i, 0.0) + c
        self.rows.append(merged)
        self.row_lower.append(low)
        self.row_upper.append(high)

    def equal(self, left: list[int], right: list[int]) -> None:
        """sum(left) == sum(right)."""
        if None in left or None in right or not left or not right:
            return
        terms: dict[int, float] = {}
        for i in left:
            terms[i] = terms.get(i, 0.0) + 1.0
        for i in right:
            terms[i] = terms.get(i, 0.0) - 1.0
        self.relation(terms, 0.0, 0.0)

    def at_most(self, left: list[int], right: list[int]) -> None:
        """sum(left) <= sum(right)."""
        if None in left or None in right or not left or not right:
            return
        terms: dict[int, float] = {}
        for i in left:
            terms[i] = terms.get(i, 0.0) + 1.0
        for i in right:
            terms[i] = terms.get(i, 0.0) - 1.0
        self.relation(terms, -np.inf, 0.0)

    def _constraints(self, fixed: dict[int, int]):
        n = len(self.names)
        if getattr(self, "_matrix", None) is None or self._matrix.shape != (len(self.rows), n):
            from scipy.sparse import lil_matrix

            matrix = lil_matrix((len(self.rows), n))
            for r, terms in enumerate(self.rows):
                for i, c in terms.items():
                    matrix[r, i] = c
            self._matrix = matrix.tocsr()
        matrix = self._matrix
        lower, upper = np.array(self.lower, float), np.array(self.upper, float)
        for i, v in fixed.items():
            lower[i] = upper[i] = v
        return LinearConstraint(matrix, self.row_lower, self.row_upper), Bounds(lower, upper)

    def extreme(self, i: int, sense: int, fixed: dict[int, int] | None = None) -> float | None:
        """min (sense 1) or max (sense -1) of variable i; None when infeasible."""
        constraint, bounds = self._constraints(fixed or {})
        c = np.zeros(len(self.names))
        c[i] = sense
        result = milp(c, constraints=[constraint], bounds=bounds, integrality=np.ones(len(self.names)))
        return None if result.x is None else round(float(result.x[i]))

    def feasible(self, fixed: dict[int, int]) -> bool:
        constraint, bounds = self._constraints(fixed)
        if np.any(bounds.lb > bounds.ub):
            return False
        result = milp(np.zeros(len(self.names)), constraints=[constraint], bounds=bounds,
                      integrality=np.ones(len(self.names)))
        return result.x is not None

    def holds(self, values: dict[str, int]) -> list[str]:
        """The bounds and relations a full assignment breaks (empty: it is a candidate)."""
        broken = []
        x = np.array([values.get(name, np.nan) for name in self.names], dtype=float)
        for i, name in enumerate(self.names):
            if not np.isnan(x[i]) and not (self.lower[i] <= x[i] <= self.upper[i]):
                broken.append(f"{name}={x[i]:g} outside [{self.lower[i]}, {self.upper[i]}]")
        for terms, low, high in zip(self.rows, self.row_lower, self.row_upper):
            total = sum(c * x[i] for i, c in terms.items())
            if not np.isnan(total) and not (low - 1e-9 <= total <= high + 1e-9):
                broken.append(" + ".join(f"{c:g}*{self.names[i]}" for i, c in terms.items()) + f" = {total:g}")
        return broken


class Attack:
    """The integer programme of one release, plus the non-linear filters on group sizes."""

    def __init__(self, release: dict[str, pd.DataFrame]):
        self.release = release
        self.p = Programme()
        self.true_values: dict[str, int] = {}
        self.published: list[int] = []  # variables that stand for a published count cell
        self.notes: list[str] = []
        self._build()

    # --- variables -----------------------------------------------------------------------------------------
    def cell(self, name: str, text: str) -> int | None:
        bounds = count_bounds(text)
        if bounds is None:
            return None
        i = self.p.var(name, bounds)
        self.published.append(i)
        return i

    def group(self, g: str) -> int:
        return self.p.var(f"N[{g}]")

    # --- structure -----------------------------------------------------------------------------------------
    def _build(self) -> None:
        p = self.p
        n_mdd, n_trd = self.group("mdd"), self.group("trd")
        level_size = {}
        resistance = self.release.get("resistance_levels")
        if resistance is not None and len(resistance):
            first = resistance.iloc[0]
            for g in LEVEL_GROUPS:
                level_size[g] = self.cell(f"resistance:size:{g}", first[f"{g}_n"])
            p.equal([level_size["mdd"]], [n_mdd])
            p.equal([level_size[g] for g in LEVEL_GROUPS[1:]], [n_trd])
        sizes = {"mdd": n_mdd, "trd": n_trd}
        comparison_cells: dict[tuple[str, str, str], int] = {}
        for stem in ("table1_sociodemographics", "table2_comorbidities"):
            self._comparison(stem, sizes, comparison_cells)
        if resistance is not None and len(resistance):
            self._resistance(resistance, level_size, comparison_cells)
        self._service(sizes)
        self._sensitivity(sizes, comparison_cells)
        self._journeys(n_mdd, n_trd)
        self._attrition(n_mdd, n_trd)
        self._pathways(n_mdd, n_trd)
        self._assumptions(n_mdd, n_trd, level_size)
        self._definitions(n_mdd, n_trd, level_size)
        fit = self.release.get("model_fit")
        if fit is not None:
            for _, row in fit.iterrows():
                i = self.cell(f"model_fit:n:{row['model']}", row["n"])
                if i is not None:
                    p.at_most([i], [n_mdd, n_trd])

    def _definitions(self, n_mdd, n_trd, level_size) -> None:
        """The atlas: prevalence per definition, each pair's 2 x 2 table, the UpSet groups and the dial, with
        the headline (the Maudsley row and the dial's own grid point are the study's rule) and each other."""
        p = self.p
        prevalence = self.release.get("definitions_prevalence")
        if prevalence is None:
            return
        pop, trd, printed_pop = {}, {}, {}
        for _, row in prevalence.iterrows():
            d = row["definition"]
            pop[d] = self.cell(f"def:pop:{d}", row["population_n"])
            trd[d] = self.cell(f"def:trd:{d}", row["trd_n"])
            printed_pop[d] = row["population_n"]
            p.at_most([trd[d]], [pop[d]])
        if "maudsley" in pop:
            p.equal([pop["maudsley"]], [n_mdd, n_trd])
            p.equal([trd["maudsley"]], [n_trd])
        agreement = self.release.get("definitions_agreement")
        both = {}
        for _, row in (agreement if agreement is not None else pd.DataFrame()).iterrows():
            a, b = row["definition_a"], row["definition_b"]
            c = {x: self.cell(f"def:agree:{a}:{b}:{x}", row[x]) for x in ("n", "both", "a_only", "b_only", "neither")}
            both[(a, b)] = c["both"]
            p.equal([c["both"], c["a_only"], c["b_only"], c["neither"]], [c["n"]])
            p.at_most([c["n"]], [pop[a]])
            p.at_most([c["n"]], [pop[b]])
            p.at_most([c["both"], c["a_only"]], [trd[a]])
            p.at_most([c["both"], c["b_only"]], [trd[b]])
            # Printed alike, the pair covers both populations: its margins are their TRD and non-TRD counts.
            if row["n"] == printed_pop[a] == printed_pop[b]:
                p.equal([c["n"]], [pop[a]])
                p.equal([c["n"]], [pop[b]])
                p.equal([c["both"], c["a_only"]], [trd[a]])
                p.equal([c["both"], c["b_only"]], [trd[b]])
        overlap = self.release.get("definitions_overlap")
        if overlap is not None and len(overlap):
            ids = [c for c in overlap.columns if c != "n"]
            groups = {}
            for _, row in overlap.iterrows():
                key = "".join("1" if row[i] == "True" else "0" for i in ids)
                groups[key] = self.cell(f"def:overlap:{key}", row["n"])
            # Groups not drawn are below 8 or left out: each >= 0, so the drawn ones are lower bounds.
            for k, d in enumerate(ids):
                p.at_most([v for key, v in groups.items() if key[k] == "1"], [trd[d]])
                p.at_most(list(groups.values()), [pop[d]])
            for (a, b), v in both.items():
                ia, ib = ids.index(a), ids.index(b)
                p.at_most([u for key, u in groups.items() if key[ia] == "1" and key[ib] == "1"], [v])
        dial = self.release.get("definitions_dial")
        for _, row in (dial if dial is not None else pd.DataFrame()).iterrows():
            point = f"{row['min_trial_days']}:{row['persistence_gap_days']}:{row['augmentation_counts']}"
            c = {x: self.cell(f"def:dial:{point}:{x}", row[x])
                 for x in ("population_n", "trd_n", "level_2_n", "level_3_n", "level_4plus_n")}
            p.equal([c["level_2_n"], c["level_3_n"], c["level_4plus_n"]], [c["trd_n"]])
            p.at_most([c["trd_n"]], [c["population_n"]])
            p.equal([c["population_n"]], [n_mdd, n_trd])
            if (row["min_trial_days"], row["persistence_gap_days"], row["augmentation_counts"]) == DIAL_DEFAULT:
                p.equal([c["trd_n"]], [n_trd])
                for x, g in (("level_2_n", "level2"), ("level_3_n", "level3"), ("level_4plus_n", "level4plus")):
                    if g in level_size:
                        p.equal([c[x]], [level_size[g]])

    def _comparison(self, stem, sizes, cells) -> None:
        table = self.release.get(stem)
        if table is None:
            return
        blocks: dict[str, list[str]] = {}
        for _, row in table.iterrows():
            variable, level = row["variable"], row["level"]
            if row["mdd_n"] == "" and level == "":
                blocks[variable] = []
                continue
            if row["test"] in T_TESTS:
                if row["test"] == "welch_t":
                    continue
                for g in GROUPS2:
                    i = self.cell(f"{stem}:{variable}:n:{g}", row[f"{g}_n"])
                    if i is not None:
                        self.p.at_most([i], [sizes[g]])
                        cells[(variable, "#n", g)] = i
                continue
            for g in GROUPS2:
                i = self.cell(f"{stem}:{variable}:{level}:{g}", row[f"{g}_n"])
                if i is None:
                    continue
                cells[(variable, level, g)] = i
                if level == "":
                    self.p.at_most([i], [sizes[g]])
            if level != "" and variable in blocks:
                blocks[variable].append(level)
        for variable, levels in blocks.items():
            for g in GROUPS2:
                # Every patient is in exactly one level (Unknown included).
                self.p.equal([cells[(variable, level, g)] for level in levels], [sizes[g]])
        for g in GROUPS2:
            # Ages are recorded for everyone; an age at death for everyone who died (the synthetic cohorts).
            for variable in ("age", "age_at_diagnosis"):
                if (variable, "#n", g) in cells:
                    self.p.equal([cells[(variable, "#n", g)]], [sizes[g]])
            if ("age_at_death", "#n", g) in cells and ("died", "", g) in cells:
                self.p.equal([cells[("age_at_death", "#n", g)]], [cells[("died", "", g)]])

    def _resistance(self, table, level_size, cells) -> None:
        blocks: dict[str, list[str]] = {}
        for _, row in table.iloc[1:].iterrows():
            variable, level = row["variable"], row["level"]
            if row["mdd_n"] == "" and level == "":
                blocks[variable] = []
                continue
            key = (variable, "#n" if row["test"] == "anova_f" and level == "" else level)
            ids = {g: self.cell(f"resistance:{variable}:{level}:{g}", row[f"{g}_n"]) for g in LEVEL_GROUPS}
            for g in LEVEL_GROUPS:
                self.p.at_most([ids[g]], [level_size[g]])
            if (key[0], key[1], "mdd") in cells:
                self.p.equal([ids["mdd"]], [cells[(key[0], key[1], "mdd")]])
                self.p.equal([ids[g] for g in LEVEL_GROUPS[1:]], [cells[(key[0], key[1], "trd")]])
            if level != "" and variable in blocks:
                blocks[variable].append(ids)
        for variable, rows in blocks.items():
            for g in LEVEL_GROUPS:
                self.p.equal([ids[g] for ids in rows], [level_size[g]])

    def _service(self, sizes) -> None:
        table = self.release.get("service_use")
        if table is None or not len(table):
            return
        total, referrals = {}, {}
        for _, row in table.iterrows():
            for g in GROUPS2:
                i = self.cell(f"service:{row['measure']}:{row['category']}:{g}", row[f"{g}_n"])
                if row["measure"] == "referrals" and row["category"] == "":
                    total[g] = i
                elif row["measure"] == "referrals":
                    referrals.setdefault(g, {})[row["category"]] = i
                else:
                    self.p.at_most([i], [sizes[g]])
                    if row["category"] in referrals.get(g, {}):
                        self.p.at_most([i], [referrals[g][row["category"]]])  # a patient has >= 1 referral
        for g in GROUPS2:
            if g in total:
                self.p.equal(list(referrals[g].values()), [total[g]])

    def _sensitivity(self, sizes, cells) -> None:
        table = self.release.get("sensitivity_self_harm")
        if table is None or not len(table):
            return
        ids = {}
        for _, row in table.iterrows():
            for g in ("mdd", "trd", "all"):
                ids[(row["variable"], g)] = self.cell(f"sensitivity:{row['variable']}:{g}", row[f"{g}_n"])
        for variable in table["variable"]:
            self.p.equal([ids[(variable, "mdd")], ids[(variable, "trd")]], [ids[(variable, "all")]])
            for g in GROUPS2:
                self.p.at_most([ids[(variable, g)]], [sizes[g]])
        for g in ("mdd", "trd", "all"):
            self.p.equal([ids[("codes_only", g)], ids[("both", g)]], [ids[("self_harm", g)]])
            self.p.equal([ids[("codes_only", g)], ids[("notes_only", g)], ids[("both", g)]],
                         [ids[("self_harm_any", g)]])
            self.p.equal([ids[("either", g)]], [ids[("self_harm_any", g)]])
        for g in GROUPS2:
            if ("self_harm", "", g) in cells:
                self.p.equal([ids[("self_harm", g)]], [cells[("self_harm", "", g)]])

    def _journeys(self, n_mdd, n_trd) -> None:
        table = self.release.get("journeys")
        if table is None or not len(table):
            return
        links = {}
        for k, row in table.iterrows():
            links[k] = (int(row["step"]), row["source"], row["target"],
                        self.cell(f"journey:{row['step']}:{row['source']}>{row['target']}", row["n"]))
        steps = sorted({s for s, *_ in links.values()})
        first = [i for s, _, _, i in links.values() if s == steps[0]]
        self.p.at_most(first, [n_mdd, n_trd])
        for s in steps[:-1]:
            for node in {t for st, _, t, _ in links.values() if st == s and t != "no further drug"}:
                inflow = [i for st, _, t, i in links.values() if st == s and t == node]
                outflow = [i for st, src, _, i in links.values() if st == s + 1 and src == node]
                self.p.equal(inflow, outflow)

    def _attrition(self, n_mdd, n_trd) -> None:
        table = self.release.get("attrition")
        if table is None or not len(table):
            return
        remaining = [self.cell(f"attrition:remaining:{k}", v) for k, v in enumerate(table["remaining"])]
        excluded = [self.cell(f"attrition:excluded:{k}", v) if k else None for k, v in enumerate(table["excluded"])]
        for k in range(1, len(remaining)):
            self.p.equal([remaining[k - 1]], [remaining[k], excluded[k]])
        self.p.equal([remaining[-1]], [n_mdd, n_trd])

    def _position(self, p: int) -> int:
        """Patients with a p-th drug of the episode: Table 8's position p, the Sankey's column p (not published)."""
        return self.p.var(f"P[{p}]")

    def _pathways(self, n_mdd, n_trd) -> None:
        """Tables 7-9 and the Kaplan-Meier curve, tied to each other, the Sankey and the group sizes."""
        p = self.p
        journeys = self.release.get("journeys")
        flows: dict[int, list] = {}
        if journeys is not None and len(journeys):
            for _, row in journeys.iterrows():
                i = p.index[f"journey:{row['step']}:{row['source']}>{row['target']}"]
                flows.setdefault(int(row["step"]), []).append((row["source"], row["target"], i))
            for step, links in flows.items():
                p.equal([i for *_, i in links], [self._position(step)])
                p.equal([i for _, target, i in links if target != "no further drug"], [self._position(step + 1)])
        anys: dict[int, int] = {}
        lines = self.release.get("lines")
        if lines is not None and len(lines):
            cells = {}
            for _, row in lines.iterrows():
                cells[(int(row["line"]), row["drug"])] = self.cell(f"lines:{row['line']}:{row['drug']}", row["n"])
            for (line, drug), i in cells.items():
                if drug == "any":
                    anys[line] = i
                    p.equal([j for (k, d), j in cells.items() if k == line and d != "any"], [i])
            for k in sorted(anys)[1:]:
                p.at_most([anys[k]], [anys[k - 1]])
            if 1 in anys:
                p.at_most([anys[1]], [n_mdd, n_trd])
        steps = self.release.get("steps")
        adequate, judged = [], []
        augmentation_first = False
        if steps is not None and len(steps):
            by_position: dict[int, list] = {}
            for _, row in steps.iterrows():
                i = self.cell(f"steps:{row['position']}:{row['step']}:{row['adequacy']}", row["n"])
                by_position.setdefault(int(row["position"]), []).append(i)
                if row["adequacy"] == "adequate":
                    adequate.append(i)
                if row["adequacy"] != "not judged":
                    judged.append(i)
                elif int(row["position"]) == 1 and row["n"] != "0":
                    augmentation_first = True
            for position, ids in by_position.items():
                p.equal(ids, [self._position(position)])
            if anys:
                # Each antidepressant step is one line of one patient.
                p.equal(judged, list(anys.values()))
        if 1 in self._positions():
            p.equal([self._position(1)], [n_mdd, n_trd])  # everyone in the cohort has a first drug
        for k in sorted(self._positions())[1:]:
            p.at_most([self._position(k)], [self._position(k - 1)])
        if lines is not None and flows and not augmentation_first:
            # Nobody starts on an augmenting agent (Table 8 says so): line 1's drugs are the Sankey's first column.
            for _, row in lines[(lines["line"] == "1") & ~lines["drug"].isin(["any", "other"])].iterrows():
                ids = [i for source, _, i in flows.get(1, []) if source == row["drug"]]
                if ids:
                    p.equal([p.index[f"lines:1:{row['drug']}"]], ids)
        times = self.release.get("step_times")
        if times is not None and len(times):
            n = {row["interval"]: self.cell(f"step_times:{row['interval']}", row["n"]) for _, row in times.iterrows()}
            for interval, i in n.items():
                if interval.startswith("step "):
                    p.equal([i], [self._position(int(interval.rsplit(" ", 1)[1]))])
            t1, t2, trd = (n.get(f"episode start to {name}") for name in ("T1", "T2", "TRD"))
            if trd is not None:
                p.equal([trd], [n_trd])  # every TRD patient has an episode start and a TRD date
            if None not in (t1, t2, trd):
                p.at_most([t2], [t1])
                p.at_most([trd], [t2])
            if t1 is not None and adequate:
                p.at_most([t1], adequate)
        curve = self.release.get("time_to_trd")
        if curve is not None and len(curve):
            total = self.p.var("km:total", km_bounds(curve["at_risk"].iloc[0]))
            self.published.append(total)
            p.at_most([total], [n_mdd, n_trd])
            events = np.cumsum([int(float(v)) for v in curve["events"]])
            censored = np.cumsum([int(float(v)) for v in curve["censored"]])
            previous = None
            for k in range(len(curve)):
                e = self.p.var(f"km:events:{k}", km_bounds(events[k]))
                c = self.p.var(f"km:censored:{k}", km_bounds(censored[k]))
                self.published += [e, c]
                p.at_most([e, c], [total])
                p.at_most([e], [n_trd])
                if previous is not None:
                    p.at_most([previous[0]], [e])
                    p.at_most([previous[1]], [c])
                previous = (e, c)

    def _positions(self) -> set[int]:
        return {int(name[2:-1]) for name in self.p.names if name.startswith("P[")}

    def _assumptions(self, n_mdd, n_trd, level_size) -> None:
        """Table 6: per row MDD + TRD = cohort and levels 2 + 3 + 4+ = TRD; its first row is the headline."""
        table = self.release.get("assumption_sensitivity")
        if table is None or not len(table):
            return
        for k, row in table.iterrows():
            ids = {c: self.cell(f"assumptions:{row['scenario']}:{c}", row[f"{c}_n"])
                   for c in ("cohort", "mdd", "trd", "level2", "level3", "level4plus")}
            self.p.equal([ids["mdd"], ids["trd"]], [ids["cohort"]])
            self.p.equal([ids[c] for c in ("level2", "level3", "level4plus")], [ids["trd"]])
            if k == table.index[0]:
                self.p.equal([ids["mdd"]], [n_mdd])
                self.p.equal([ids["trd"]], [n_trd])
                for c in ("level2", "level3", "level4plus"):
                    if c in level_size:
                        self.p.equal([ids[c]], [level_size[c]])

    # --- the search ----------------------------------------------------------------------------------------
    def ranges(self, seeds: int = 8) -> dict[str, tuple[float, float]]:
        """Smallest and largest value of every published count over all consistent tables.

        A few solutions for random objectives first (every variable that differs between two of them has two
        candidates, shown by the solutions themselves); a variable that never moved gets its own min and max.
        """
        constraint, bounds = self.p._constraints({})
        n = len(self.p.names)
        rng = np.random.default_rng(0)
        seen_low = np.full(n, np.inf)
        seen_high = np.full(n, -np.inf)
        for _ in range(seeds):
            c = rng.choice([-1.0, 1.0], n) * rng.random(n)
            result = milp(c, constraints=[constraint], bounds=bounds, integrality=np.ones(n))
            if result.x is None:
                raise AssertionError("no table of counts is consistent with the release: the attacker's model is wrong")
            x = np.round(result.x)
            seen_low, seen_high = np.minimum(seen_low, x), np.maximum(seen_high, x)
        out = {}
        for i in sorted(set(self.published)):
            if seen_high[i] > seen_low[i]:
                out[self.p.names[i]] = (seen_low[i], seen_high[i])  # two solutions differ here
            else:
                out[self.p.names[i]] = (self.p.extreme(i, 1), self.p.extreme(i, -1))
        return out

    def group_size_candidates(self) -> list[tuple[int, int]]:
        """(MDD, TRD) pairs consistent with the integer programme and every non-linear published figure."""
        mdd, trd = self.p.index["N[mdd]"], self.p.index["N[trd]"]
        lows = (self.p.extreme(mdd, 1), self.p.extreme(trd, 1))
        highs = (self.p.extreme(mdd, -1), self.p.extreme(trd, -1))
        pairs = []
        for a in range(lows[0], highs[0] + 1):
            for b in range(lows[1], highs[1] + 1):
                if self.nonlinear_ok(a, b) and self.p.feasible({mdd: a, trd: b}):
                    pairs.append((a, b))
        return pairs

    # --- non-linear figures ----------------------------------------------------------------------------------
    def nonlinear_ok(self, n_mdd: int, n_trd: int) -> bool:
        """Group sizes that every published df, mean, s.d., t, R2, -2LL of the run allows."""
        return (self._dfs_ok(n_mdd, n_trd) and self._ages_ok(n_mdd, n_trd) and self._model_fit_ok(n_mdd, n_trd))

    def _dfs_ok(self, n_mdd, n_trd) -> bool:
        table1 = self.release.get("table1_sociodemographics")
        for _, row in table1[table1["test"] == "student_t"].iterrows():
            df = interval(row["df"])
            printed = [_float(row[f"{g}_n"]) for g in GROUPS2]
            if df is not None and None not in printed and df[0] <= sum(printed) - 2 <= df[1]:
                continue  # the df of the printed (rounded) n: it says nothing more
            if df is not None and row["variable"] in ("age", "age_at_diagnosis"):
                # Ages are never missing in these cohorts: n1 + n2 - 2 is the df.
                if not df[0] <= n_mdd + n_trd - 2 <= df[1]:
                    return False
        resistance = self.release.get("resistance_levels")
        for _, row in resistance[(resistance["test"] == "anova_f")].iterrows():
            df2 = interval(row.get("df2", ""))
            printed = [_float(row[f"{g}_n"]) for g in LEVEL_GROUPS]
            if df2 is not None and None not in printed and df2[0] <= sum(printed) - 4 <= df2[1]:
                continue  # N - k of the printed n
            if df2 is not None and row["level"] == "":
                if not df2[0] <= n_mdd + n_trd - 4 <= df2[1]:
                    return False
        return True

    def _ages_ok(self, n_mdd, n_trd) -> bool:
        table1 = self.release.get("table1_sociodemographics")
        students = table1[table1["test"] == "student_t"].set_index("variable")
        welches = table1[table1["test"] == "welch_t"].set_index("variable")
        for variable in ("age", "age_at_diagnosis"):
            if variable not in students.index:
                continue
            row = students.loc[variable]
            boxes = {k: interval(row[k]) for k in ("mdd_mean", "mdd_sd", "trd_mean", "trd_sd")}
            if any(b is None for b in boxes.values()):
                continue
            if not (whole_number_sample_exists(n_mdd, boxes["mdd_mean"], boxes["mdd_sd"])
                    and whole_number_sample_exists(n_trd, boxes["trd_mean"], boxes["trd_sd"])):
                return False
            t_box, w_box = interval(row["statistic"]), interval(welches.loc[variable, "statistic"])
            if t_box is not None and _t_of_printed_summaries(row, t_box):
                continue  # Student's t is that of the printed n, means and s.d.: it says nothing more
            if t_box is not None and w_box is not None and not t_tests_possible(
                    n_mdd, n_trd, boxes, t_box, w_box):
                return False
        return True

    def _model_fit_ok(self, n_mdd, n_trd) -> bool:
        fit = self.release.get("model_fit")
        if fit is None:
            return True
        n = n_mdd + n_trd  # no predictor is missing in these cohorts: every model has the whole cohort
        ll0 = n_trd * math.log(n_trd / n) + n_mdd * math.log(n_mdd / n)
        printed = self._published_sizes()
        for _, row in fit.iterrows():
            chi2 = interval(row["chi2"])
            if chi2 is None:
                continue
            if _fit_of_rounded_sizes(row):
                continue  # -2LL and R2 are those of the printed chi-squared and some rounded group sizes
            m2ll = interval(row["minus2ll"])
            if m2ll is not None:
                # -2LL + chi2 = -2 LL0, a function of the two group sizes alone.
                if not (m2ll[0] + chi2[0] - 1e-9 <= -2 * ll0 <= m2ll[1] + chi2[1] + 1e-9):
                    return False
            cs, nk = interval(row["cox_snell_r2"]), interval(row["nagelkerke_r2"])
            grid = np.linspace(chi2[0], chi2[1], 41)
            cs_values = 1 - np.exp(-grid / n)
            maximum = 1 - math.exp(2 * ll0 / n)
            ok = np.ones_like(grid, dtype=bool)
            if cs is not None:
                ok &= (cs[0] <= cs_values) & (cs_values <= cs[1])
            if nk is not None:
                ok &= (nk[0] <= cs_values / maximum) & (cs_values / maximum <= nk[1])
            if not ok.any():
                return False
        return True

    # --- figures that must carry nothing beyond the counts -------------------------------------------------
    def derived_figures_mismatches(self) -> list[str]:
        """Percentages and chi-squared tests that are not the ones of the published counts."""
        problems = []
        sizes = self._published_sizes()
        for stem in ("table1_sociodemographics", "table2_comorbidities"):
            table = self.release.get(stem)
            blocks: dict[str, list] = {}
            for _, row in table.iterrows():
                if row["mdd_n"] == "" and row["level"] == "":
                    blocks[row["variable"]] = []
                elif row["level"] != "":
                    blocks.setdefault(row["variable"], []).append(row)
            for _, row in table.iterrows():
                for g in GROUPS2:
                    problems += _pct_problem(stem, row, g, sizes.get(g))
                if row["test"] not in CHI2_TESTS or row["statistic"] in ("", "suppressed"):
                    continue
                if row["level"] == "" and row["mdd_n"] == "":
                    counts = [[float(r[f"{g}_n"]) for g in GROUPS2] for r in blocks[row["variable"]]]
                    problems += _chi2_problem(stem, row, np.array(counts))
                elif isinstance(sizes.get("mdd"), float) and isinstance(sizes.get("trd"), float):
                    yes = np.array([float(row[f"{g}_n"]) for g in GROUPS2])
                    problems += _chi2_problem(stem, row, np.vstack([yes, [sizes["mdd"], sizes["trd"]] - yes]))
        agreement = self.release.get("definitions_agreement")
        for _, row in (agreement if agreement is not None else pd.DataFrame()).iterrows():
            if row["kappa"] in ("", "suppressed"):
                continue
            kappa = kappa_of_printed(row)
            if kappa is None or abs(kappa - float(row["kappa"])) > 0.005 + 1e-9:
                problems.append(f"kappa {row['definition_a']}/{row['definition_b']} {row['kappa']} is not the printed "
                                f"cells' {kappa}")
        return problems

    def _published_sizes(self) -> dict[str, float | None]:
        """The rounded MDD and TRD sizes the report prints, read back from any visible count and its percentage."""
        out: dict[str, float | None] = {"mdd": None, "trd": None}
        for stem in ("table2_comorbidities", "table1_sociodemographics"):
            table = self.release.get(stem)
            for _, row in table.iterrows():
                for g in GROUPS2:
                    n, pct = _float(row[f"{g}_n"]), _float(row[f"{g}_pct"])
                    if out[g] is None and n and pct and row["test"] not in T_TESTS:
                        out[g] = float(round(100 * n / pct / ROUNDING) * ROUNDING)
        return out


def _float(text):
    try:
        return float(text)
    except (TypeError, ValueError):
        return None


def _pct_problem(stem, row, g, size) -> list[str]:
    n, pct = _float(row[f"{g}_n"]), _float(row[f"{g}_pct"])
    if n is None or pct is None or not size or row["level"] == "" and row["mdd_n"] == "":
        return []
    box = interval(row[f"{g}_pct"])
    if not box[0] - 1e-9 <= 100 * n / size <= box[1] + 1e-9:
        return [f"{stem} {row['variable']} {row['level']} {g}: {pct} is not {n}/{size}"]
    return []


def _chi2_problem(stem, row, counts: np.ndarray) -> list[str]:
    result = chi_squared(counts)
    if row["test"].startswith("fisher") or math.isnan(result.statistic):
        return []
    box = interval(row["statistic"])
    if row["test"] == "pearson_chi2_bonferroni":
        return []  # checked through its 2x2 value below
    if box is not None and not box[0] - 1e-9 <= result.statistic <= box[1] + 1e-9:
        return [f"{stem} {row['variable']} {row['level']}: chi2 {row['statistic']} is not that of the published "
                f"counts ({result.statistic:.4f})"]
    return []


def _t_of_printed_summaries(row, t_box) -> bool:
    values = [_float(row[c]) for c in ("mdd_mean", "mdd_sd", "mdd_n", "trd_mean", "trd_sd", "trd_n")]
    if None in values:
        return False
    t = scipy_stats.ttest_ind_from_stats(*values, equal_var=True).statistic
    return t_box[0] - 1e-9 <= t <= t_box[1] + 1e-9


_FIT_CACHE: dict[tuple, bool] = {}


def _fit_of_rounded_sizes(row) -> bool:
    """Are -2LL and both R2 those of the printed chi-squared and some multiples of 5 (n0, n1)?

    Then they are functions of rounded counts and say nothing about the exact ones (the policy-aware reader).
    """
    key = tuple(row[c] for c in ("chi2", "minus2ll", "cox_snell_r2", "nagelkerke_r2", "n"))
    if key in _FIT_CACHE:
        return _FIT_CACHE[key]
    chi2, model_n = _float(row["chi2"]), _float(row["n"])
    found = False
    if chi2 is not None and model_n:
        for n0 in range(ROUNDING, int(model_n) + 3 * ROUNDING, ROUNDING):
            for n1 in range(ROUNDING, int(model_n) + 3 * ROUNDING - n0, ROUNDING):
                n = n0 + n1
                ll0 = n1 * math.log(n1 / n) + n0 * math.log(n0 / n)
                cs = 1 - math.exp(-chi2 / n)
                expected = {"minus2ll": -2 * ll0 - chi2, "cox_snell_r2": cs,
                            "nagelkerke_r2": cs / (1 - math.exp(2 * ll0 / n))}
                if all(interval(row[c]) is None or interval(row[c])[0] - 1e-9 <= v <= interval(row[c])[1] + 1e-9
                       for c, v in expected.items()):
                    found = True
                    break
            if found:
                break
    _FIT_CACHE[key] = found
    return found


def whole_number_sample_exists(n: int, mean_box, sd_box) -> bool:
    """Is there a sample of n whole numbers whose mean and s.d. print as given? (sum S, sum of squares Q)

    S must be an integer with S/n in the mean box; Q an integer of the parity of S (x^2 = x mod 2) with
    sqrt((Q - S^2/n)/(n-1)) in the s.d. box. For n >= 2 and a box of any width, such Q exist whenever the box
    allows a variance of at least (n-1)/n... we look for one directly.
    """
    if n < 2:
        return False
    for s in range(math.ceil(mean_box[0] * n), math.floor(mean_box[1] * n) + 1):
        q_low = s * s / n + (n - 1) * sd_box[0] ** 2
        q_high = s * s / n + (n - 1) * sd_box[1] ** 2
        q = math.ceil(q_low)
        if q % 2 != s % 2:
            q += 1
        if q <= q_high:
            return True
    return False


def t_tests_possible(n1, n2, boxes, t_box, w_box) -> bool:
    """Means and s.d. within their boxes that give both the printed Student t and the printed Welch t."""
    for s1 in np.linspace(*boxes["mdd_sd"], 11):
        for s2 in np.linspace(*boxes["trd_sd"], 11):
            pooled = math.sqrt(((n1 - 1) * s1 ** 2 + (n2 - 1) * s2 ** 2) / (n1 + n2 - 2))
            se_student = pooled * math.sqrt(1 / n1 + 1 / n2)
            se_welch = math.sqrt(s1 ** 2 / n1 + s2 ** 2 / n2)
            d_low = boxes["mdd_mean"][0] - boxes["trd_mean"][1]
            d_high = boxes["mdd_mean"][1] - boxes["trd_mean"][0]
            # The difference of means fixing Student's t, intersected with the means' boxes and Welch's t box.
            low = max(d_low, t_box[0] * se_student, w_box[0] * se_welch)
            high = min(d_high, t_box[1] * se_student, w_box[1] * se_welch)
            if low <= high:
                return True
    return False


def truth_of_results(out: Path):
    """What only the secure environment knows about a results folder: the analysis of its patients under its
    configuration, its cohort flow and its true extract-level tables (the patient-level files beside
    patients.csv). Returns (analysis, attrition, extras, config)."""
    import json

    from trdpath.config import load_config
    from trdpath.report.content import load_extras, true_extras
    from trdpath.stats import analyse

    patients = pd.read_parquet(out / "patients.parquet")
    config = load_config(out / "config.toml")
    meta = json.loads((out / "metadata.json").read_text())
    extras = true_extras(load_extras(out, patients), config.disclosure, meta)
    return analyse(patients, config), pd.read_csv(out / "attrition.csv"), extras, config


def true_values(attack: Attack, analysis, attrition: pd.DataFrame, extras=None, definitions=None) -> dict[str, int]:
    """The true value of every variable of the programme, from the unprotected analysis and the extra tables'
    true counts (stats.extra_tables.ExtraTables), for the self-check."""
    from trdpath.stats.disclosure import protect
    from trdpath.config import DisclosureSection

    unprotected = protect(analysis, DisclosureSection(enabled=False))
    release = {stem: table.astype(object) for stem, table in unprotected.tables().items()}
    values: dict[str, int] = {"N[mdd]": analysis.n_mdd, "N[trd]": analysis.n_trd}
    first = release["resistance_levels"].iloc[0]
    for g in LEVEL_GROUPS:
        values[f"resistance:size:{g}"] = int(first[f"{g}_n"])
    for stem in ("table1_sociodemographics", "table2_comorbidities"):
        for _, row in release[stem].iterrows():
            for g in GROUPS2:
                if pd.isna(row[f"{g}_n"]):
                    continue
                key = f"{stem}:{row['variable']}:n:{g}" if row["test"] in T_TESTS else \
                    f"{stem}:{row['variable']}:{row['level']}:{g}"
                values[key] = int(row[f"{g}_n"])
    for _, row in release["resistance_levels"].iloc[1:].iterrows():
        for g in LEVEL_GROUPS:
            if not pd.isna(row[f"{g}_n"]):
                values[f"resistance:{row['variable']}:{row['level']}:{g}"] = int(row[f"{g}_n"])
    for _, row in release["service_use"].iterrows():
        for g in GROUPS2:
            values[f"service:{row['measure']}:{row['category']}:{g}"] = int(row[f"{g}_n"])
    for _, row in release["sensitivity_self_harm"].iterrows():
        for g in ("mdd", "trd", "all"):
            values[f"sensitivity:{row['variable']}:{g}"] = int(row[f"{g}_n"])
    for _, row in release["journeys"].iterrows():
        values[f"journey:{row['step']}:{row['source']}>{row['target']}"] = int(row["n"])
    for _, row in release["model_fit"].iterrows():
        values[f"model_fit:n:{row['model']}"] = int(row["n"])
    if extras is not None:
        values.update(_extra_true_values(attack, extras))
    if definitions is not None:
        values.update(definitions_true_values(definitions))
    # Attrition: the protected table may merge steps; the true value of a merged step is the sum of its parts.
    published = attack.release.get("attrition")
    if published is not None:
        by_rule = dict(zip(attrition["rule"], zip(attrition["remaining"], attrition["excluded"])))
        for k, rule in enumerate(published["rule"]):
            parts = rule.split(" + ")
            values[f"attrition:remaining:{k}"] = int(by_rule[parts[-1]][0])
            if k:
                values[f"attrition:excluded:{k}"] = int(sum(by_rule[p][1] for p in parts))
    return values


def _extra_true_values(attack: Attack, extras) -> dict[str, int]:
    values: dict[str, int] = {}
    if extras.lines is not None:
        for _, row in extras.lines.iterrows():
            values[f"lines:{row['line']}:{row['drug']}"] = int(row["n"])
    if extras.steps is not None:
        for _, row in extras.steps.iterrows():
            values[f"steps:{row['position']}:{row['step']}:{row['adequacy']}"] = int(row["n"])
        for position, n in extras.steps.groupby("position")["n"].sum().items():
            values[f"P[{position}]"] = int(n)
    if extras.step_times is not None:
        for _, row in extras.step_times.iterrows():
            values[f"step_times:{row['interval']}"] = int(row["n"])
    curve = attack.release.get("time_to_trd")
    if extras.km_counts is not None and curve is not None and len(curve):
        counts = extras.km_counts.set_index("day")
        values["km:total"] = int(extras.km_counts["total"].iloc[0])
        for k, day in enumerate(curve["day"]):
            values[f"km:events:{k}"] = int(counts.at[int(float(day)), "events"])
            values[f"km:censored:{k}"] = int(counts.at[int(float(day)), "censored"])
    if extras.assumptions is not None:
        for _, row in extras.assumptions.iterrows():
            for c in ("cohort", "mdd", "trd", "level2", "level3", "level4plus"):
                values[f"assumptions:{row['scenario']}:{c}"] = int(row[f"{c}_n"])
    return values


DIAL_DEFAULT = ("28", "30", "True")  # the study's own Maudsley rule: min_trial_days, era_gap_days, augmentation


def read_definitions(folder: Path) -> dict[str, pd.DataFrame]:
    """release/definitions/*.csv as strings, named definitions_<stem> (the atlas beside the report)."""
    return {f"definitions_{p.stem}": pd.read_csv(p, dtype=str, keep_default_na=False)
            for p in sorted(Path(folder).glob("*.csv"))}


def definitions_of(published) -> dict[str, pd.DataFrame]:
    """The same strings from protect()'s published atlas (definitions.audit.PublishedDefinitions)."""
    import io

    out = {}
    tables = {"prevalence": published.prevalence, "agreement": published.agreement, "overlap": published.overlap}
    if published.dial is not None:
        tables["dial"] = published.dial
    for stem, table in tables.items():
        buffer = io.StringIO()
        table.to_csv(buffer, index=False)
        buffer.seek(0)
        out[f"definitions_{stem}"] = pd.read_csv(buffer, dtype=str, keep_default_na=False)
    return out


def kappa_of_printed(row) -> float | None:
    """Cohen's kappa of the printed 2 x 2 cells (None when one is not a number)."""
    try:
        both, a, b, neither = (int(row[c]) for c in ("both", "a_only", "b_only", "neither"))
    except ValueError:
        return None
    n = both + a + b + neither
    po, pe = (both + neither) / n, ((both + a) * (both + b) + (b + neither) * (a + neither)) / n / n
    return None if pe == 1 else (po - pe) / (1 - pe)


def definitions_true_values(counts) -> dict[str, int]:
    """The atlas's variables from its true tables (definitions.audit.DefinitionCounts)."""
    values: dict[str, int] = {}
    for _, row in counts.prevalence.iterrows():
        values[f"def:pop:{row['definition']}"] = int(row["population_n"])
        values[f"def:trd:{row['definition']}"] = int(row["trd_n"])
    for _, row in counts.agreement.iterrows():
        for c in ("n", "both", "a_only", "b_only", "neither"):
            values[f"def:agree:{row['definition_a']}:{row['definition_b']}:{c}"] = int(row[c])
    ids = list(counts.titles["definition"])
    for _, row in counts.overlap.iterrows():
        values["def:overlap:" + "".join("1" if row[i] else "0" for i in ids)] = int(row["n"])
    if counts.dial is not None:
        for _, row in counts.dial.iterrows():
            point = f"{row['min_trial_days']}:{row['persistence_gap_days']}:{bool(row['augmentation_counts'])}"
            for c in ("population_n", "trd_n", "level_2_n", "level_3_n", "level_4plus_n"):
                values[f"def:dial:{point}:{c}"] = int(row[c])
    return values


def level_counts_from_per_level_chi2(release, variable: str, level: str) -> list[tuple[int, int]]:
    """Issue 14's attack: (MDD, TRD) counts of a level whose per-level chi-squared is printed.

    Enumerates the level's counts and the group sizes within their rounding windows and keeps those whose
    chi-squared (this level against the rest, computed on true counts) prints as published. A policy-aware
    reader first checks whether the printed value is simply the chi-squared of the printed counts; if it is,
    the statistic says nothing more and every count in the windows remains.
    """
    table = release["table1_sociodemographics"]
    row = table[(table["variable"] == variable) & (table["level"] == level)].iloc[0]
    box = interval(row["statistic"])
    windows = [count_bounds(row[f"{g}_n"]) for g in GROUPS2]
    attack = Attack(release)
    n_windows = [(attack.p.extreme(attack.p.index[f"N[{g}]"], 1), attack.p.extreme(attack.p.index[f"N[{g}]"], -1))
                 for g in GROUPS2]
    everything = sorted(itertools.product(*(range(w[0], w[1] + 1) for w in windows)))
    published = attack._published_sizes()
    if all(published.get(g) for g in GROUPS2):
        yes = np.array([float(row[f"{g}_n"]) for g in GROUPS2])
        on_published = chi_squared(np.vstack([yes, np.array([published["mdd"], published["trd"]]) - yes])).statistic
        if box[0] - 1e-12 <= on_published <= box[1] + 1e-12:
            return everything  # the printed value is that of the printed counts: it narrows nothing
    candidates = set()
    for y1, y2 in itertools.product(*(range(w[0], min(w[1], 10**4) + 1) for w in windows)):
        for n1, n2 in itertools.product(*(range(w[0], w[1] + 1) for w in n_windows)):
            if y1 > n1 or y2 > n2:
                continue
            stat = chi_squared(np.array([[y1, y2], [n1 - y1, n2 - y2]])).statistic
            if box[0] - 1e-12 <= stat <= box[1] + 1e-12:
                candidates.add((y1, y2))
    return sorted(candidates)
