"""The production audit of a release: one integer programme over every published count (issue 14).

A reader sees every table of a release at once. Secondary suppression looks at one sum at a time; rounding
windows of many sums meeting at one number can still pin it (n = 357, seed 74868: the level sizes followed
from the windows of every categorical variable's levels, the ANOVA n and Tables 1-2). So :func:`audit` writes
down what the release publishes as one linear model:

* a variable per published count: ``<8`` -> 1..7, ``suppressed`` -> >= 8, 0 -> 0, a rounded r -> r-2..r+2;
  the group sizes (printed rounded in headers) and the cohort;
* every linking equality a reader can assume: levels add up to their group; TRD levels 2 + 3 + 4+ equal
  Tables 1-2 cell by cell and add up to TRD; the n of a t-test or ANOVA row is the group or level size; age
  at death n = died; referral categories add up to the referrals; patients <= referrals; the self-harm
  overlaps; Sankey inflow = outflow at every node, position 1 = the cohort; the cohort flow chain
  (remaining - excluded = next remaining) ending at the cohort; model n = the cohort with complete data;

then finds, with scipy.optimize.milp (HiGHS), every count the model pins to one value. A candidate relation
is kept only if the true counts satisfy it (a reader may guess it; if it is false it cannot pin the truth).
:func:`cells_to_hide` names, for each pinned count, one published count whose hiding releases it; protect()
hides those (secondary suppression) and audits again until nothing is pinned.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from trdpath.values import is_missing

BIG = 10.0 ** 9
GROUPS2 = ("mdd", "trd")
LEVELS = ("mdd", "level2", "level3", "level4plus")
T_TESTS = ("student_t", "welch_t")
ANOVA = "anova_f"
NO_FURTHER = "no further drug"
WITHHELD = "withheld"


@dataclass
class ReleaseModel:
    """Variables (bounds, true value), the linear relations between them, and which variables are hideable."""

    min_count: int
    rounding: int
    keys: list = field(default_factory=list)
    index: dict = field(default_factory=dict)
    low: list = field(default_factory=list)
    high: list = field(default_factory=list)
    truth: list = field(default_factory=list)
    shown: list = field(default_factory=list)  # published as a number (visible), not hidden
    hideable: list = field(default_factory=list)
    rows: list = field(default_factory=list)  # (terms {var: coef}, low, high)

    # --- variables -------------------------------------------------------------------------------------------
    def count(self, key, published, true_value, hideable: bool = True, withholdable: bool = False) -> int | None:
        """A published count cell: bounds from its printed form; None when the cell is not a count.

        ``withholdable``: a ``<8`` of this cell may be withheld (a row that is there whatever its count, e.g. an
        interval of Table 9), when its upper bound 7 pins something (seven flows of at least 1 under a total <8).
        """
        if true_value is None or is_missing(true_value):
            return None
        true_value = int(true_value)
        if isinstance(published, str):
            if published == "suppressed":
                bounds, shown = (self.min_count, BIG), False
            elif published.startswith("<"):
                bounds, shown = (1, self.min_count - 1), False
                return self._var(key, bounds, true_value, False, hideable and withholdable)
            elif published == WITHHELD:
                bounds, shown = (0, BIG), False
            else:
                return None
        elif is_missing(published):
            return None
        else:
            bounds, shown = self.window(int(round(float(published)))), True
        return self._var(key, bounds, true_value, shown, hideable and shown)

    def size(self, key, true_value: int) -> int:
        """A group size printed rounded (headers, the report's sentences): its window around the rounded value."""
        shown = true_value if true_value >= self.min_count else None
        if shown is None:
            bounds = (0, 0) if true_value == 0 else (1, self.min_count - 1)
        else:
            bounds = self.window(_round(true_value, self.rounding))
        return self._var(key, bounds, true_value, False, False)

    def window(self, printed: int) -> tuple[float, float]:
        if printed == 0:
            return 0.0, 0.0
        if self.rounding <= 1:
            return float(printed), float(printed)
        return float(max(self.min_count, printed - self.rounding // 2)), float(printed + (self.rounding + 1) // 2 - 1)

    def _var(self, key, bounds, true_value, shown, hideable) -> int:
        if key in self.index:
            return self.index[key]
        self.index[key] = len(self.keys)
        self.keys.append(key)
        self.low.append(float(bounds[0]))
        self.high.append(float(bounds[1]))
        self.truth.append(true_value)
        self.shown.append(shown)
        self.hideable.append(hideable)
        return self.index[key]

    # --- relations (kept only when the true counts satisfy them) ---------------------------------------------
    def equal(self, left, right) -> None:
        self._relation(left, right, 0.0, 0.0)

    def at_most(self, left, right) -> None:
        self._relation(left, right, -np.inf, 0.0)

    def _relation(self, left, right, low, high) -> None:
        left, right = [v for v in left], [v for v in right]
        if None in left or None in right or not left or not right:
            return
        terms: dict[int, float] = {}
        for v in left:
            terms[v] = terms.get(v, 0.0) + 1.0
        for v in right:
            terms[v] = terms.get(v, 0.0) - 1.0
        value = sum(c * self.truth[v] for v, c in terms.items())
        if low - 1e-9 <= value <= high + 1e-9:
            self.rows.append((terms, low, high))

    # --- solving ---------------------------------------------------------------------------------------------
    def _problem(self):
        from scipy.optimize import LinearConstraint
        from scipy.sparse import coo_matrix

        r, c, v = [], [], []
        for k, (terms, _, _) in enumerate(self.rows):
            for var, coef in terms.items():
                r.append(k)
                c.append(var)
                v.append(coef)
        matrix = coo_matrix((v, (r, c)), shape=(len(self.rows), len(self.keys))).tocsr()
        return LinearConstraint(matrix, [row[1] for row in self.rows], [row[2] for row in self.rows])

    def _feasible(self, constraint, low, high) -> bool:
        from scipy.optimize import Bounds, milp

        if np.any(low > high):
            return False
        result = milp(np.zeros(len(self.keys)), constraints=[constraint], bounds=Bounds(low, high),
                      integrality=np.ones(len(self.keys)))
        return result.x is not None

    def _moves(self, constraint, low, high, candidates: list[int]) -> set[int]:
        """Variables of ``candidates`` that some solution moves off their true value (batched searches)."""
        from scipy.optimize import Bounds, milp

        truth = np.array(self.truth, dtype=float)
        moved: set[int] = set()
        remaining = list(candidates)
        integrality = np.ones(len(self.keys))
        rng = np.random.default_rng(0)
        # Push all of them up, then down, then random directions: each solution frees every variable it moves.
        for attempt in range(6):
            if not remaining:
                break
            objective = np.zeros(len(self.keys))
            if attempt < 2:
                objective[remaining] = -1.0 if attempt == 0 else 1.0
            else:
                objective[remaining] = rng.choice([-1.0, 1.0], len(remaining))
            result = milp(objective, constraints=[constraint], bounds=Bounds(low, high), integrality=integrality)
            if result.x is None:
                break
            x = np.round(result.x)
            newly = {v for v in remaining if x[v] != truth[v]}
            if not newly:
                if attempt >= 1:
                    break
                continue
            moved |= newly
            remaining = [v for v in remaining if v not in newly]
        # The rest one by one: is there a solution above, or below, the true value?
        for v in remaining:
            up_low = low.copy()
            up_low[v] = truth[v] + 1
            if self._feasible(constraint, up_low, high):
                moved.add(v)
                continue
            down_high = high.copy()
            down_high[v] = truth[v] - 1
            if self._feasible(constraint, low, down_high):
                moved.add(v)
        return moved

    def pinned(self) -> list[int]:
        """Variables (published counts and group sizes) that every consistent table gives the true value."""
        if not self.keys:
            return []
        constraint = self._problem()
        low, high = np.array(self.low), np.array(self.high)
        # A published 0 is exact by design (nobody to protect), and so is a group of nobody a reader works out (an
        # UpSet pattern under a printed 0); with no rounding every shown count is exact.
        candidates = [v for v in range(len(self.keys))
                      if self.high[v] > 0 and self.truth[v] != 0 and not (self.shown[v] and self.rounding <= 1)]
        moved = self._moves(constraint, low, high, candidates)
        return [v for v in candidates if v not in moved]

    def _linear(self):
        """The relations as A_eq x = 0 and A_ub x <= 0 (for scipy.optimize.linprog)."""
        from scipy.sparse import coo_matrix

        parts = {}
        for kind in ("eq", "ub"):
            rows = [terms for terms, low, _ in self.rows if (low == 0.0) == (kind == "eq")]
            r = [k for k, terms in enumerate(rows) for _ in terms]
            c = [var for terms in rows for var in terms]
            v = [coef for terms in rows for coef in terms.values()]
            parts[kind] = coo_matrix((v, (r, c)), shape=(len(rows), len(self.keys))).tocsr() if rows else None
        return parts

    def _binding(self, linear, v: int, sense: float) -> list[int]:
        """Hideable shown counts whose window bounds hold ``v`` at its extreme (LP bound marginals, HiGHS)."""
        from scipy.optimize import linprog

        objective = np.zeros(len(self.keys))
        objective[v] = sense
        kwargs = {}
        if linear["eq"] is not None:
            kwargs.update(A_eq=linear["eq"], b_eq=np.zeros(linear["eq"].shape[0]))
        if linear["ub"] is not None:
            kwargs.update(A_ub=linear["ub"], b_ub=np.zeros(linear["ub"].shape[0]))
        result = linprog(objective, bounds=list(zip(self.low, self.high)), method="highs", **kwargs)
        if result.status != 0:
            return []
        # Hiding lifts an upper bound to "any number" and lowers a lower bound to min_count: only those help.
        lower = (np.abs(result.lower.marginals) > 1e-9) & (np.array(self.low) > self.min_count)
        upper = np.abs(result.upper.marginals) > 1e-9
        return [u for u in np.flatnonzero(lower | upper) if self.hideable[u] and self.truth[u] > 0]

    def cells_to_hide(self, pinned: list[int]) -> list:
        """For each pinned count, one shown count to hide so that it is released (the smallest that binds).

        The counts whose published windows hold the pinned one at its value are those with a non-zero bound
        marginal when it is pushed to its maximum (or minimum) in the linear relaxation; hiding one of them
        (bounds >= min_count) widens that bound. If none binds (an integrality pin), the smallest shown count
        in a relation with it (or with anything equal to it: the same number printed twice) is hidden, and the
        next audit looks again.
        """
        linear = self._linear()
        same = _equal_classes(self.rows, len(self.keys))
        chosen: list = []
        done: set[int] = set()
        picked: set[int] = set()
        for v in pinned:
            members = same[v]
            near = {u for terms, _, _ in self.rows if members & terms.keys() for u in terms}
            if members & done or near & picked:
                continue  # a copy of a count already handled, or a neighbour just hidden: the next audit looks
            done |= members
            # Hiding a copy of the same number does not help (the other copy keeps the window); hiding v itself
            # can, when it is printed once and its own window holds it.
            others = members - {v} if len(members) == 1 else members
            binding = [u for sense in (-1.0, 1.0) for u in self._binding(linear, v, sense) if u not in others]
            if not binding:
                binding = [u for u in near - members if self.hideable[u] and self.truth[u] > 0]
            if binding:
                pick = min(binding, key=lambda u: (self.truth[u], u))
                if pick not in picked:
                    picked.add(pick)
                    chosen.append(self.keys[pick])
        return chosen


def _equal_classes(rows, n: int) -> dict[int, set[int]]:
    """Variables linked by x = y relations (the same number published in two places)."""
    parent = list(range(n))

    def find(a):
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    for terms, low, high in rows:
        if low == high == 0 and len(terms) == 2 and sorted(terms.values()) == [-1.0, 1.0]:
            a, b = terms
            parent[find(a)] = find(b)
    classes: dict[int, set[int]] = {}
    for v in range(n):
        classes.setdefault(find(v), set()).add(v)
    return {v: classes[find(v)] for v in range(n)}


def _round(value: int, base: int) -> int:
    return int(base * math.floor(value / base + 0.5)) if base > 1 else int(value)


def _blocks(table: pd.DataFrame, groups, label: str = "variable", level: str = "level") -> dict:
    """Header row -> its level rows (a header row has no counts; its levels follow with the same label)."""
    blocks, current = {}, None
    for i, row in table.iterrows():
        if all(is_missing(row.get(f"{g}_n")) for g in groups):
            current = i
            blocks[i] = []
            continue
        if current is not None and row[label] == table.at[current, label] and row[level] != "":
            blocks[current].append(i)
        else:
            current = None
    return blocks


def _continuous(row) -> bool:
    return row.get("test") in T_TESTS or (row.get("test") == ANOVA and row.get("level") == "")


def build(analysis, protected, settings, attrition: tuple[pd.DataFrame, pd.DataFrame] | None = None,
          extras=None, definitions=None) -> ReleaseModel:
    """The release's linear model: ``protected`` tables for what is printed, ``analysis`` for the true counts.

    ``attrition`` is (true merged cohort flow, published cohort flow), row for row; ``extras`` (true, published)
    :class:`~trdpath.stats.extra_tables.ExtraTables` (Tables 6-9 and the Kaplan-Meier curve); ``definitions``
    (true, published) atlas tables (definitions.audit).
    """
    m = ReleaseModel(settings.min_count, settings.rounding)
    size = {g: m.size(("N", g), n) for g, n in (("mdd", analysis.n_mdd), ("trd", analysis.n_trd))}
    cohort = m.size(("N", "cohort"), analysis.n_cohort)
    m.equal([size["mdd"], size["trd"]], [cohort])

    def cells(name, true_table, published_table, groups):
        return {(i, g): m.count((name, i, g), published_table.at[i, f"{g}_n"], true_table.at[i, f"{g}_n"])
                for i in true_table.index for g in groups if f"{g}_n" in true_table.columns}

    comparison_cells = {}
    for name in ("table1", "table2"):
        true_table, published_table = getattr(analysis, name), getattr(protected, name)
        c = cells(name, true_table, published_table, GROUPS2)
        comparison_cells[name] = c
        blocks = _blocks(true_table, GROUPS2)
        in_block = {i for members in blocks.values() for i in members}
        for members in blocks.values():
            for g in GROUPS2:
                m.equal([c[(i, g)] for i in members], [size[g]])
        for i, row in true_table.iterrows():
            if i in blocks or i in in_block:
                continue
            for g in GROUPS2:
                m.at_most([c[(i, g)]], [size[g]])
                if _continuous(row):
                    m.equal([c[(i, g)]], [size[g]])  # ages are recorded for everyone (if true)
        # The same n printed on the Student and the Welch row; age at death n = died.
        died = true_table.index[(true_table["variable"] == "died") & (true_table["level"] == "")]
        for variable, rows in true_table[true_table["test"].isin(T_TESTS)].groupby("variable").groups.items():
            rows = list(rows)
            for g in GROUPS2:
                for j in rows[1:]:
                    m.equal([c[(rows[0], g)]], [c[(j, g)]])
                if variable == "age_at_death" and len(died):
                    m.equal([c[(rows[0], g)]], [c[(died[0], g)]])

    levels_true, levels_published = analysis.resistance_levels, protected.resistance_levels
    level_size: dict = {}
    if len(levels_true):
        lc = cells("levels", levels_true, levels_published, LEVELS)
        first = levels_true.index[levels_true["variable"] == "resistance_level"]
        if len(first):
            level_size = {g: lc[(first[0], g)] for g in LEVELS}
            m.equal([level_size["mdd"]], [size["mdd"]])
            m.equal([level_size[g] for g in LEVELS[1:]], [size["trd"]])
            blocks = _blocks(levels_true.drop(index=first), LEVELS)
            in_block = {i for members in blocks.values() for i in members}
            for members in blocks.values():
                for g in LEVELS:
                    m.equal([lc[(i, g)] for i in members], [level_size[g]])
            for i, row in levels_true.iterrows():
                if i in first or i in blocks or i in in_block:
                    continue
                for g in LEVELS:
                    m.at_most([lc[(i, g)]], [level_size[g]])
                    if _continuous(row):
                        m.equal([lc[(i, g)]], [level_size[g]])
        # Each row of the level table is a row of Tables 1-2: MDD alike, TRD = 2 + 3 + 4+.
        for name in ("table1", "table2"):
            keys = _row_keys(getattr(analysis, name))
            for key, rows in _row_keys(levels_true).items():
                for i in rows:
                    for j in keys.get(key, []):
                        c = comparison_cells[name]
                        m.equal([lc[(i, "mdd")]], [c[(j, "mdd")]])
                        m.equal([lc[(i, g)] for g in LEVELS[1:]], [c[(j, "trd")]])

    _service(m, analysis.service_use, protected.service_use, size)
    _sensitivity(m, analysis, protected, size, comparison_cells.get("table2", {}))
    journeys = _journeys(m, analysis.journeys, protected.journeys, cohort)
    if extras is not None:
        _extras(m, *extras, size, cohort, level_size, analysis.journeys, journeys)
    if attrition is not None:
        _attrition(m, *attrition, cohort)
    if definitions is not None:
        true_atlas, shown_atlas = definitions  # definitions.audit.DefinitionCounts and what was published
        true_atlas.add_to_model(m, shown_atlas, size=size, cohort=cohort, level_size=level_size)
    fit_true, fit_published = analysis.model_fit, protected.model_fit
    if len(fit_true) and "n" in fit_true.columns:
        ns = [m.count(("fit", i), fit_published.at[i, "n"], fit_true.at[i, "n"], hideable=False)
              for i in fit_true.index]
        for v in ns:
            m.at_most([v], [cohort])
            m.equal([v], [cohort])  # complete data: the models have the whole cohort (if true)
            m.equal([v], [ns[0]])
        # warnings.csv prints "N patients with a missing predictor were left out" (N rounded): model n + N = cohort.
        left_out, printed = (missing_predictor_count(w) for w in (analysis.warnings, protected.warnings))
        if left_out is not None and printed is not None and ns:
            m.equal([ns[0], m.count(("warning", "missing predictor"), printed, left_out, withholdable=True)], [cohort])
    return m


def missing_predictor_count(warnings) -> int | str | None:
    """The count in the warning "N patients with a missing predictor ..." as written (a number, or '<8'); None
    when there is no such warning or its count is not given ("some patients")."""
    import re

    for warning in warnings or ():
        found = re.search(r"(\d+|<\d+) patients with a missing predictor", warning)
        if found:
            text = found.group(1)
            return text if text.startswith("<") else int(text)
    return None


def _row_keys(table: pd.DataFrame) -> dict:
    keys: dict = {}
    for i, row in table.iterrows():
        keys.setdefault((row["variable"], "#n" if _continuous(row) else row["level"]), []).append(i)
    return keys


def _service(m: ReleaseModel, true_table, published_table, size) -> None:
    if true_table is None or not len(true_table):
        return
    c = {(i, g): m.count(("service", i, g), published_table.at[i, f"{g}_n"], true_table.at[i, f"{g}_n"])
         for i in true_table.index for g in GROUPS2}
    referrals = true_table[true_table["measure"] == "referrals"]
    total = referrals.index[referrals["category"] == ""]
    categories = {row["category"]: i for i, row in referrals.iterrows() if row["category"] != ""}
    for g in GROUPS2:
        if len(total):
            m.equal([c[(i, g)] for i in categories.values()], [c[(total[0], g)]])
        for i, row in true_table[true_table["measure"] != "referrals"].iterrows():
            m.at_most([c[(i, g)]], [size[g]])
            if row["category"] in categories:
                m.at_most([c[(i, g)]], [c[(categories[row["category"]], g)]])  # a patient has >= 1 referral


def _sensitivity(m: ReleaseModel, analysis, protected, size, table2_cells) -> None:
    true_table = analysis.sensitivity.self_harm
    if true_table is None or not len(true_table) or not analysis.sensitivity.notes_available:
        return
    published_table = protected.sensitivity.self_harm
    row = {v: i for i, v in true_table["variable"].items()}
    # The coded row is Table 2's self-harm row, protected with it: hidden there, never chosen here.
    c = {(i, g): m.count(("sensitivity", i, g), published_table.at[i, f"{g}_n"], true_table.at[i, f"{g}_n"],
                         hideable=true_table.at[i, "variable"] not in ("self_harm", "either"))
         for i in true_table.index for g in ("mdd", "trd", "all")}
    for i in true_table.index:
        m.equal([c[(i, "mdd")], c[(i, "trd")]], [c[(i, "all")]])
        for g in GROUPS2:
            m.at_most([c[(i, g)]], [size[g]])
    need = ("self_harm", "self_harm_any", "codes_only", "notes_only", "both", "either")
    if all(v in row for v in need):
        for g in ("mdd", "trd", "all"):
            m.equal([c[(row["codes_only"], g)], c[(row["both"], g)]], [c[(row["self_harm"], g)]])
            m.equal([c[(row["codes_only"], g)], c[(row["notes_only"], g)], c[(row["both"], g)]],
                    [c[(row["self_harm_any"], g)]])
            m.equal([c[(row["either"], g)]], [c[(row["self_harm_any"], g)]])
    table2 = analysis.table2
    coded = table2.index[(table2["variable"] == "self_harm") & (table2["level"] == "")]
    if len(coded) and "self_harm" in row:
        for g in GROUPS2:
            m.equal([c[(row["self_harm"], g)]], [table2_cells.get((coded[0], g))])


def _journeys(m: ReleaseModel, true_table, published_table, cohort) -> dict:
    if true_table is None or not len(true_table):
        return {}
    c = {i: m.count(("journeys", i), published_table.at[i, "n"], true_table.at[i, "n"]) for i in true_table.index}
    steps = sorted(true_table["step"].unique())
    first = [c[i] for i in true_table.index[true_table["step"] == steps[0]]]
    m.at_most(first, [cohort])
    m.equal(first, [cohort])  # everyone in the cohort has a first antidepressant (if true)
    by_step = {s: part for s, part in true_table.groupby("step")}
    for s in steps:
        incoming = by_step[s]
        outgoing = by_step.get(s + 1)
        for target, part in incoming.groupby("target"):
            if target == NO_FURTHER:
                continue
            onward = [] if outgoing is None else list(outgoing.index[outgoing["source"] == target])
            # Flow conservation: everyone who reaches a drug at position s + 1 either goes on or stops there.
            if onward:
                m.equal([c[i] for i in part.index], [c[i] for i in onward])
    return c


def _attrition(m: ReleaseModel, true_flow: pd.DataFrame, published_flow: pd.DataFrame, cohort) -> None:
    if true_flow is None or not len(true_flow):
        return
    remaining = [m.count(("attrition", k, "remaining"), published_flow["remaining"].iloc[k],
                         true_flow["remaining"].iloc[k], hideable=False) for k in range(len(true_flow))]
    # An exclusion step may be hidden (a chain of rounded steps can pin the cohort); a remaining count is not.
    excluded = [m.count(("attrition", k, "excluded"), published_flow["excluded"].iloc[k],
                        true_flow["excluded"].iloc[k]) if k else None
                for k in range(len(true_flow))]
    for k in range(1, len(remaining)):
        m.equal([remaining[k - 1]], [remaining[k], excluded[k]])
    m.equal([remaining[-1]], [cohort])


def _extras(m: ReleaseModel, true, published, size, cohort, level_size, journeys_true, journeys) -> None:
    """Tables 6-9 and the Kaplan-Meier curve: their counts and every sum a reader can assume between them and
    the rest of the release (kept only when true, like every relation)."""
    from trdpath.stats.extra_tables import (
        ASSUMPTION_COUNTS, LEVEL_COLUMNS, cumulative_window, published_cumulative,
    )
    from trdpath.stats.pathways import ADEQUATE, NOT_JUDGED

    # Patients with a k-th drug of the episode: Table 8's position k, Table 9's "step k-1 to step k" and the
    # Sankey's column k are the same number, published nowhere by itself (an unpublished variable each).
    truth: dict[int, int] = {}
    if journeys_true is not None and len(journeys_true):
        for step, part in journeys_true.groupby("step"):
            truth[int(step)] = int(part["n"].sum())
            truth.setdefault(int(step) + 1, int(part.loc[part["target"] != NO_FURTHER, "n"].sum()))
    if true.steps is not None and len(true.steps):
        truth.update({int(p): int(n) for p, n in true.steps.groupby("position")["n"].sum().items()})
    position = {p: m._var(("position", p), (0.0, BIG), n, False, False) for p, n in truth.items()}
    if 1 in position:
        m.equal([position[1]], [cohort])
    for p in sorted(position):
        if p + 1 in position:
            m.at_most([position[p + 1]], [position[p]])
    if journeys:
        for step, part in journeys_true.groupby("step"):
            m.equal([journeys[i] for i in part.index], [position[int(step)]])
            onward = [journeys[i] for i in part.index[part["target"] != NO_FURTHER]]
            if onward:
                m.equal(onward, [position[int(step) + 1]])

    anys: dict[int, int] = {}
    if true.lines is not None and len(true.lines):
        lines = {i: m.count(("lines", i), published.lines.at[i, "n"], true.lines.at[i, "n"])
                 for i in true.lines.index}
        for line, part in true.lines.groupby("line"):
            total = part.index[part["drug"] == "any"]
            if len(total):
                anys[int(line)] = lines[total[0]]
                m.equal([lines[i] for i in part.index if i != total[0]], [lines[total[0]]])
        ordered = sorted(anys)
        for a, b in zip(ordered, ordered[1:]):
            m.at_most([anys[b]], [anys[a]])  # a (k+1)-th antidepressant needs a k-th
        if 1 in anys:
            m.at_most([anys[1]], [cohort])
            m.equal([anys[1]], [cohort])
            # When nobody starts on an augmenting agent, line 1's drugs are the Sankey's first column (if true).
            if journeys:
                first = journeys_true[journeys_true["step"] == 1]
                for i in true.lines.index[(true.lines["line"] == 1) & ~true.lines["drug"].isin(["any", "other"])]:
                    flows = [journeys[j] for j in first.index[first["source"] == true.lines.at[i, "drug"]]]
                    if flows:
                        m.equal([lines[i]], flows)
    adequate: list = []
    if true.steps is not None and len(true.steps):
        steps = {i: m.count(("steps", i), published.steps.at[i, "n"], true.steps.at[i, "n"])
                 for i in true.steps.index}
        for p, part in true.steps.groupby("position"):
            m.equal([steps[i] for i in part.index], [position[int(p)]])
        # Every antidepressant step is one line of one patient: the judged cells add up to the lines' totals.
        if anys:
            m.equal([steps[i] for i in true.steps.index if true.steps.at[i, "adequacy"] != NOT_JUDGED],
                    list(anys.values()))
        adequate = [steps[i] for i in true.steps.index if true.steps.at[i, "adequacy"] == ADEQUATE]
    if true.step_times is not None and len(true.step_times):
        times = {true.step_times.at[i, "interval"]: m.count(("step_times", i), published.step_times.at[i, "n"],
                                                             true.step_times.at[i, "n"], withholdable=True)
                 for i in true.step_times.index}
        for p in position:
            if f"step {p - 1} to step {p}" in times:
                m.equal([times[f"step {p - 1} to step {p}"]], [position[p]])
        t1, t2, trd = (times.get(f"episode start to {name}") for name in ("T1", "T2", "TRD"))
        m.at_most([t2], [t1])
        m.at_most([trd], [t2])  # TRD follows T2 (study-definition.md 4)
        m.at_most([trd], [size["trd"]])
        m.equal([trd], [size["trd"]])
        m.at_most([t1], [cohort])
        if adequate:
            m.at_most([t1], adequate)
    curve, counts = published.time_to_trd, true.km_counts
    if curve is not None and len(curve) and counts is not None and len(counts):
        events, censored = published_cumulative(curve)
        by_day = counts.set_index("day")
        total = m._var(("km", "total"), cumulative_window(int(curve["at_risk"].iloc[0]), m.rounding),
                       int(counts["total"].iloc[0]), True, False)
        m.at_most([total], [cohort])
        m.equal([total], [cohort])
        previous = None
        for k, day in enumerate(curve["day"]):
            e = m._var(("km", k, "events"), cumulative_window(int(events[k]), m.rounding),
                       int(by_day.at[day, "events"]), True, False)
            c = m._var(("km", k, "censored"), cumulative_window(int(censored[k]), m.rounding),
                       int(by_day.at[day, "censored"]), True, False)
            m.at_most([e, c], [total])
            m.at_most([e], [size["trd"]])
            if previous is not None:  # cumulative counts never fall
                m.at_most([previous[0]], [e])
                m.at_most([previous[1]], [c])
            previous = (e, c)
        if len(curve) == len(counts):  # the whole curve is published: every event and censoring is in it
            m.equal([previous[0]], [size["trd"]])
            m.equal(list(previous), [total])
    table = true.assumptions
    if table is not None and len(table):
        shown = published.assumptions
        cells = {(i, c): m.count(("assumptions", i, c), shown.at[i, f"{c}_n"], table.at[i, f"{c}_n"])
                 for i in table.index for c in ASSUMPTION_COUNTS}
        cohorts = {i: m.count(("assumptions", i, "cohort"), shown.at[i, "cohort_n"], table.at[i, "cohort_n"],
                              hideable=False) for i in table.index}
        for i in table.index:
            m.equal([cells[(i, "mdd")], cells[(i, "trd")]], [cohorts[i]])
            m.equal([cells[(i, c)] for c in LEVEL_COLUMNS], [cells[(i, "trd")]])
        headline = table.index[0]  # the handling configured for the study: the headline counts again
        m.equal([cohorts[headline]], [cohort])
        for g in GROUPS2:
            m.equal([cells[(headline, g)]], [size[g]])
        for c in LEVEL_COLUMNS:
            if c in level_size:
                m.equal([cells[(headline, c)]], [level_size[c]])


def audit(analysis, protected, settings, attrition=None, extras=None, definitions=None) -> tuple[list, list]:
    """(pinned keys, keys of published counts to hide so that they are released)."""
    model = build(analysis, protected, settings, attrition, extras, definitions)
    pinned = model.pinned()
    return [model.keys[v] for v in pinned], model.cells_to_hide(pinned) if pinned else []
