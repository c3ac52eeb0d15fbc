"""Tables 1 and 2 recomputed for a filtered cohort, under the report's disclosure control and three more
rules for views that can be compared with each other (docs/serve.md, "Live disclosure"):

1. **One filter at a time, on coarse partitions** (age band, sex, ethnicity group, resistance level,
   year the episode started; or one service category). Combinations and free date ranges would let a
   reader difference two views that differ by a handful of patients.
2. **Query-set size**: a view is shown only when it and its complement in the cohort each hold at least
   `minimum_view` patients; otherwise it is refused as a whole.
3. **Audit across siblings**: the views of one partition add up to the published table. For every cell
   the server does what a reader could: it intersects the intervals that each shown value allows
   (a count rounded to 5 is one of 5 integers, `<8` is 1-7) with the published total, and where any cell
   (shown or hidden, published or filtered) would be left with fewer than two possible values, that
   row's cell is suppressed in every view of the partition. The sibling views are computed together,
   once per partition, and cached.
"""

from __future__ import annotations

import dataclasses
import math
import threading
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from trdpath.config import StudyConfig
from trdpath.serve.filters import AGE_BANDS, ETHNICITY_GROUPS, LEVELS, SERVICES, SEXES
from trdpath.serve.results import ResultFolder
from trdpath.schema import REFERRAL_COLUMNS
from trdpath.stats import _integer_counts, analyse, cohort_of
from trdpath.stats.sensitivity import empty_sensitivity
from trdpath.stats.tables import TABLE1_VARIABLES, TABLE2_VARIABLES, compare_groups, service_use_table
from trdpath.stats.disclosure import SUPPRESSED, protect, small_label

GROUPS = ("mdd", "trd")
TABLES = ("table1", "table2")
STAT_COLUMNS = ("statistic", "df", "df2", "p_value")
BIG = 10**12  # an upper bound for a count nobody has bounded


@dataclass
class View:
    """One filtered view: its protected tables, or the reason it is refused."""

    dimension: str
    value: str
    n_mdd: int = 0
    n_trd: int = 0
    refused: str = ""
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    sizes: dict[str, object] = field(default_factory=dict)  # published group sizes (rounded)


def partitions(folder: ResultFolder) -> dict[str, tuple[str, ...]]:
    """Each filter dimension and its values (episode years from the data)."""
    years = [str(int(y)) for (y,) in folder.connection().execute(
        "SELECT DISTINCT year(CAST(episode_start AS DATE)) AS y FROM patients "
        "WHERE in_cohort AND episode_start IS NOT NULL ORDER BY y").fetchall() if y is not None]
    return {"age_band": tuple(AGE_BANDS), "sex": SEXES, "ethnicity": ETHNICITY_GROUPS, "level": LEVELS,
            "episode_year": tuple(years)}


def minimum_view(config: StudyConfig) -> int:
    """The smallest view (and complement) shown: ten times the small-count threshold, at least 50."""
    return max(50, 10 * config.disclosure.min_count)


def _where(dimension: str, value: str) -> tuple[str, list]:
    if dimension == "age_band":
        low, high = AGE_BANDS[value]
        return "age BETWEEN ? AND ?", [low, high]
    if dimension == "sex":
        return "sex = ?", [value]
    if dimension == "ethnicity":
        return "ethnicity_group = ?", [value]
    if dimension == "level":
        return "(CASE WHEN trd THEN resistance_level ELSE 'MDD' END) = ?", [value]
    if dimension == "episode_year":
        return "year(CAST(episode_start AS DATE)) = ?", [int(value)]
    if dimension == "service":
        if value not in SERVICES:
            raise ValueError(value)
        return f'"referrals_{value}" > 0', []
    raise ValueError(dimension)


# The columns Tables 1 and 2 read (only these leave DuckDB).
VIEW_COLUMNS = ("in_cohort", "trd", "resistance_level") + REFERRAL_COLUMNS + tuple(
    dict.fromkeys(name for name, _ in TABLE1_VARIABLES + TABLE2_VARIABLES))


def _cohort(folder: ResultFolder, where: str = "TRUE", params: list | None = None,
            columns: tuple[str, ...] | None = None) -> pd.DataFrame:
    """The in-cohort patients matching `where`, filtered in DuckDB (only they reach Python)."""
    available = set(folder.columns())
    select = "*" if columns is None else ", ".join(f'"{c}"' for c in columns if c in available)
    return folder.connection().execute(f"SELECT {select} FROM patients WHERE in_cohort AND ({where})",
                                       params or []).fetch_df()


def _quick(config: StudyConfig) -> StudyConfig:
    """The configuration without the regression (Table 3 is not filtered)."""
    return config.model_copy(update={"analysis": config.analysis.model_copy(update={"regression_blocks": []})})


def _view_analysis(cohort: pd.DataFrame, whole, config: StudyConfig):
    """Tables 1-2 of a filtered cohort by the report's own code (compare_groups), protected by the report's
    own `protect`; the whole cohort's other tables only fill the Analysis and are not shown."""
    cohort = cohort_of(cohort)
    n_trd = int(cohort["trd"].sum())
    tables = {name: _integer_counts(compare_groups(cohort, variables))
              for name, variables in (("table1", TABLE1_VARIABLES), ("table2", TABLE2_VARIABLES))}
    # Only Tables 1-2 are shown for a view; the linked tables (resistance levels, service use, flows,
    # self-harm sensitivity) are left empty, so the release policy's joint check sees one consistent cohort.
    light = dataclasses.replace(
        whole, n_mdd=len(cohort) - n_trd, n_trd=n_trd, resistance_levels=whole.resistance_levels.iloc[0:0],
        resistance_posthoc=whole.resistance_posthoc.iloc[0:0], service_use=_integer_counts(service_use_table(cohort)),
        journeys=whole.journeys.iloc[0:0], sensitivity=empty_sensitivity(), warnings=[], **tables)
    return protect(light, config.disclosure)


def _interval(value, settings) -> tuple[int, int]:
    """The true counts a shown value allows."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return 0, 0
    if isinstance(value, str):
        if value == small_label(settings):
            return 1, settings.min_count - 1
        if value == SUPPRESSED:
            return 0, BIG
        value = float(value)
    base = settings.rounding
    shown = int(value)
    if shown == 0:
        return 0, 0
    low = math.ceil(shown - base / 2)
    high = math.ceil(shown + base / 2) - 1
    return max(low, settings.min_count), high


def _candidates(own: tuple[int, int], others: list[tuple[int, int]], total: tuple[int, int]) -> int:
    """How many values a cell can take given its own interval, its siblings' and their published total."""
    low = max(own[0], total[0] - sum(o[1] for o in others))
    high = min(own[1], total[1] - sum(o[0] for o in others))
    return max(0, high - low + 1)


def audit(published: pd.DataFrame, views: list[pd.DataFrame | None], settings, refused_bound: int) -> set:
    """The (row, group) cells to suppress in every view of one partition (rule 3).

    `views` are the sibling tables in the same row order as `published`; None stands for a refused view,
    whose cells a reader knows only to be below `refused_bound`."""
    hide = set()
    for i in published.index:
        for g in GROUPS:
            column = f"{g}_n"
            if column not in published.columns or pd.isna(published.at[i, column]):
                continue
            total = _interval(published.at[i, column], settings)
            cells = [(0, refused_bound) if v is None else _interval(v.at[i, column], settings) for v in views]
            if not cells:
                continue
            weak = _candidates(total, [], (sum(c[0] for c in cells), sum(c[1] for c in cells))) < 2 and total[1] > 0
            for j, own in enumerate(cells):
                others = cells[:j] + cells[j + 1:]
                if own[1] > 0 and _candidates(own, others, total) < 2:
                    weak = True
            if weak:
                hide.add((i, g))
    return hide


def exhaustive_variables(whole_table: pd.DataFrame, n: dict[str, int]) -> dict[str, list[str]]:
    """Per group, the variables whose levels add up to the group's size (sex, ethnicity group, ...): in each view
    their counts sum to the view's published group size, a second sum a reader can use (rule 4)."""
    found: dict[str, list[str]] = {g: [] for g in GROUPS}
    for variable, rows in whole_table.groupby("variable", sort=False):
        for g in GROUPS:
            counts = pd.to_numeric(rows[f"{g}_n"], errors="coerce").dropna()
            if len(counts) >= 2 and int(counts.sum()) == n[g]:
                found[g].append(variable)
    return found


def joint_audit(base: pd.DataFrame, views: list[pd.DataFrame | None], view_bounds: list[tuple[int, int] | None],
                sizes: list[dict | None], whole_size: dict, variables: dict[str, list[str]], settings,
                hide: set, rounds: int = 6) -> tuple[set, set]:
    """Rule 4: the sums within a view audited jointly with the sums across the partition.

    For each variable whose levels add up to the group size, the cells of a partition form a grid (levels x
    views) whose rows add up to the published table's cells and whose columns add up to each view's published
    group size. The reader's knowledge is then a set of linear constraints with interval bounds; the exact
    range of every cell (and of every published cell) under them is found by linear programming (the grid is a
    transportation polytope: its constraint matrix is totally unimodular, so with integer bounds the LP bounds
    are the integer bounds). A view cell left with fewer than two possible values is hidden in every view; a
    published cell pinned even with its views hidden, or group sizes that pin each other, hide the views'
    group sizes of that group (the column sums). Repeats until nothing changes.

    `view_bounds[j]` bounds the cells of a refused view (None: not bounded). Returns (`hide` extended, the
    groups whose view sizes must be hidden)."""
    from scipy.optimize import linprog

    hide, hidden_sizes = set(hide), set()
    for g in GROUPS:  # the sizes alone: the views' group sizes add up to the published group size (rule 3)
        shown = [None if s is None else _interval(s.get(g), settings) for s in sizes]
        known = [c if c is not None else (0, BIG) for c in shown]
        total = _interval(whole_size.get(g), settings)
        if any(c is not None and c[1] > 0 and _candidates(c, known[:j] + known[j + 1:], total) < 2
               for j, c in enumerate(shown)):
            hidden_sizes.add(g)
    for _ in range(rounds):
        added = False
        for g in GROUPS:
            column = f"{g}_n"
            whole = _interval(whole_size.get(g), settings)
            for variable in variables.get(g, []):
                rows = [i for i in base.index[base["variable"] == variable] if pd.notna(base.at[i, column])]
                if len(rows) < 2:
                    continue
                # The published table stays as published (release/): its cells are known whatever the views hide.
                totals = {i: _interval(base.at[i, column], settings) for i in rows}
                cap = sum(t[1] for t in totals.values())
                bounds, index = [], {}
                for j, view in enumerate(views):
                    for i in rows:
                        if view is None:
                            low, high = 0, (view_bounds[j][1] if view_bounds[j] is not None else cap)
                        elif (i, g) in hide:
                            low, high = 0, cap
                        else:
                            low, high = _interval(view.at[i, column], settings)
                        index[(i, j)] = len(bounds)
                        bounds.append((low, min(high, cap)))
                a_ub, b_ub = [], []

                def between(members: list[int], interval: tuple[int, int]) -> None:
                    row = np.zeros(len(bounds))
                    row[members] = 1.0
                    a_ub.extend([row, -row])
                    b_ub.extend([min(interval[1], cap), -interval[0]])

                for i in rows:
                    between([index[(i, j)] for j in range(len(views))], totals[i])
                if g not in hidden_sizes:
                    for j, view in enumerate(views):
                        if view is not None and sizes[j] is not None:
                            between([index[(i, j)] for i in rows], _interval(sizes[j].get(g), settings))
                between(list(range(len(bounds))), whole)
                a_ub, b_ub = np.array(a_ub), np.array(b_ub, dtype=float)

                def pinned(objective: np.ndarray) -> bool:
                    low = linprog(objective, A_ub=a_ub, b_ub=b_ub, bounds=bounds, method="highs")
                    high = linprog(-objective, A_ub=a_ub, b_ub=b_ub, bounds=bounds, method="highs")
                    if low.status != 0 or high.status != 0:
                        return True  # no consistent reading: hide rather than guess
                    return math.floor(-high.fun + 1e-6) - math.ceil(low.fun - 1e-6) < 1

                for i in rows:
                    whole_row = np.zeros(len(bounds))
                    whole_row[[index[(i, j)] for j in range(len(views))]] = 1.0
                    if (i, g) in hide:
                        if g not in hidden_sizes and totals[i][1] > 0 and pinned(whole_row):
                            hidden_sizes.add(g)  # the views' sizes pin a published cell: hide the sizes
                            added = True
                        continue
                    targets = [np.eye(len(bounds))[index[(i, j)]] for j, view in enumerate(views)
                               if view is not None and _interval(view.at[i, column], settings)[1] > 0]
                    if totals[i][1] > 0:
                        targets.append(whole_row)
                    if any(pinned(t) for t in targets):
                        hide.add((i, g))
                        added = True
        if not added:
            break
    return hide, hidden_sizes


def _apply_hiding(table: pd.DataFrame, hide: set) -> pd.DataFrame:
    out = table.copy()
    variables = set()
    for i, g in hide:
        if i in out.index:
            out.at[i, f"{g}_n"] = SUPPRESSED
            for stat in ("pct", "mean", "sd"):
                if f"{g}_{stat}" in out.columns and pd.notna(out.at[i, f"{g}_{stat}"]):
                    out.at[i, f"{g}_{stat}"] = SUPPRESSED
            variables.add(out.at[i, "variable"])
    for i in out.index[out["variable"].isin(variables)]:
        for column in STAT_COLUMNS:
            if column in out.columns and pd.notna(out.at[i, column]) and out.at[i, column] != "":
                out.at[i, column] = SUPPRESSED
    return out


def keyed(table: pd.DataFrame) -> pd.DataFrame:
    """The table indexed by (variable, level, n-th row of that pair): a view lacks the levels no patient of
    it has, so rows are matched by what they are, never by position."""
    keys = table["variable"].astype(str) + "\x1f" + table["level"].fillna("").astype(str)
    order = keys.groupby(keys).cumcount().astype(str)
    return table.set_index(keys + "\x1f" + order)


def aligned(view: pd.DataFrame, base: pd.DataFrame) -> pd.DataFrame:
    """A view's table with the published table's rows: a level absent from the view is a count of 0."""
    out = view.reindex(base.index)
    missing = out["variable"].isna()
    out.loc[missing, ["variable", "level"]] = base.loc[missing, ["variable", "level"]]
    for g in GROUPS:
        column = f"{g}_n"
        if column in out.columns:
            out[column] = out[column].astype(object)
            fill = missing & base[column].notna()
            out.loc[fill, column] = 0
    return out


class LiveTables:
    """Every filtered view of a result, computed one partition at a time and kept."""

    def __init__(self, folder: ResultFolder):
        self.folder = folder
        self.config = folder.config
        self._lock = threading.RLock()
        self._partitions: dict[str, dict[str, View]] = {}
        self._published = None
        self._whole = None  # the whole cohort's true analysis (unprotected), computed once
        self._partition_values = None

    @property
    def published(self):
        with self._lock:
            if self._published is None:
                self._whole = analyse(_cohort(self.folder), _quick(self.config))
                self._published = protect(self._whole, self.config.disclosure)
            return self._published

    def partitions(self) -> dict[str, tuple[str, ...]]:
        with self._lock:
            if self._partition_values is None:
                self._partition_values = partitions(self.folder)
            return self._partition_values

    def base_table(self, name: str) -> pd.DataFrame:
        """A published table (table1 or table2), keyed like the views."""
        return keyed(getattr(self.published, name))

    def view(self, dimension: str, value: str) -> View:
        if dimension == "service":
            return self._views(dimension, (value,))[value]
        values = self.partitions()[dimension]
        if value not in values:
            raise KeyError(value)
        return self._views(dimension, values)[value]

    def _views(self, dimension: str, values: tuple[str, ...]) -> dict[str, View]:
        key = dimension if dimension != "service" else f"service:{values[0]}"
        published = self.published
        with self._lock:
            if key in self._partitions:
                return self._partitions[key]
            size = self.folder.connection().execute("SELECT count(*) FROM patients WHERE in_cohort").fetchone()[0]
            smallest = minimum_view(self.config)
            views: dict[str, View] = {}
            analyses = {}
            for value in values:
                where, params = _where(dimension, value)
                cohort = _cohort(self.folder, where, params, VIEW_COLUMNS)
                view = View(dimension, value, n_mdd=int((~cohort["trd"].astype(bool)).sum()),
                            n_trd=int(cohort["trd"].astype(bool).sum()))
                if len(cohort) < smallest or size - len(cohort) < smallest:
                    view.refused = (f"This view is not shown: it holds {'too few' if len(cohort) < smallest else 'nearly all'}"
                                    f" patients (each view and the rest of the cohort must hold at least {smallest}).")
                else:
                    analyses[value] = _view_analysis(cohort, self._whole, self.config)
                views[value] = view
            settings = self.config.disclosure
            from trdpath.stats.disclosure import published_group_sizes
            sizes = [published_group_sizes(analyses[v], settings) if v in analyses else None for v in values]
            # What a reader knows of a refused view's cells: under `smallest` when it was too small, nothing
            # useful when it held nearly everyone (its complement was too small).
            bounds = [None if v in analyses else ((0, smallest - 1) if "too few" in views[v].refused else None)
                      for v in values]
            if dimension == "service":
                sizes, bounds = sizes + [None], bounds + [None]
            hidden_sizes: set[str] = set()
            for name in TABLES:
                base = self.base_table(name)
                tables = [aligned(keyed(getattr(analyses[v], name)), base) if v in analyses else None for v in values]
                if dimension == "service":
                    tables = tables + [None]  # the complement (no such referral) is not shown: unbounded
                hide = audit(base, tables, settings, refused_bound=BIG if dimension == "service" else smallest - 1)
                hide, no_sizes = joint_audit(base, tables, bounds, sizes, published_group_sizes(published, settings),
                                             self._exhaustive(name), settings, hide)
                hidden_sizes |= no_sizes
                for value, table in zip(values, tables):
                    if table is not None:
                        views[value].tables[name] = _apply_hiding(table, hide)
            for value in analyses:
                views[value].sizes = {k: (SUPPRESSED if k in hidden_sizes else v)  # rule 4: sizes that pin a count
                                      for k, v in published_group_sizes(analyses[value], settings).items()}
            self._partitions[key] = views
            return views

    def _exhaustive(self, name: str) -> dict[str, list[str]]:
        """The variables of table `name` whose levels add up to the group size (from the true whole cohort:
        a property of how the variable is tabulated, the same in every view)."""
        whole = self._whole
        return exhaustive_variables(getattr(whole, name), {"mdd": whole.n_mdd, "trd": whole.n_trd})

    def warm(self) -> None:
        """Compute every partition (the server does this in the background at start)."""
        for dimension, values in self.partitions().items():
            self._views(dimension, values)
        for service in SERVICES:
            self._views("service", (service,))


def shown_numbers(table: pd.DataFrame) -> np.ndarray:
    """The counts a view shows (for the disclosure tests)."""
    values = []
    for g in GROUPS:
        if f"{g}_n" in table.columns:
            values += [v for v in table[f"{g}_n"] if not isinstance(v, str) and pd.notna(v)]
    return np.array(values, dtype=float)
