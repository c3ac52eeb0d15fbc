"""The definitions atlas inside the one release audit (issue 17 with issue 14's audit).

A reader sees the "Definitions" section beside the main report: the Maudsley row of the prevalence table and
the dial's default grid point repeat the headline TRD count and the level sizes; each definition's TRD count
is "both + only A" of every agreement pair it is in; the overlap (UpSet) groups add up to each definition's
TRD count and to each pair's "both"; neighbouring grid points of the dial differ by a few patients. So the
atlas's counts are variables of the release's integer programme (stats.release_audit) with every such
relation, each kept only when the true counts satisfy it, and protect() hides what it names.

``trdpath compare`` keeps the true counts in the patient-level folder OUT/definitions/counts/ (never
released); the report reads them, protects them with the rest of the release and writes
OUT/release/definitions/ itself. A comparison written where no report is (compare alone) is protected by
the same audit over the atlas's own counts (:func:`protect_alone`).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from trdpath.stats.cell_rules import round_count

COUNTS_DIR = "counts"  # OUT/definitions/counts/: the true tables, patient-level folder (never released)
TABLES = ("prevalence", "agreement", "dial", "odds", "overlap", "titles")
KEYS = ("def_prevalence", "def_agreement", "def_dial", "def_overlap")  # protect()'s hide sets for the atlas
AGREEMENT_CELLS = ("both", "a_only", "b_only", "neither")
DIAL_LEVELS = ("level_2_n", "level_3_n", "level_4plus_n")
HEADLINE_LEVELS = {"level_2_n": "level2", "level_3_n": "level3", "level_4plus_n": "level4plus"}
OVERLAP_SHOWN = 20  # the UpSet plot's largest groups (definitions.report.upset_png)


@dataclass
class DefinitionCounts:
    """The atlas's true tables (definitions.compare / dial / models / report compute them)."""

    titles: pd.DataFrame  # definition, title (reading order)
    prevalence: pd.DataFrame
    agreement: pd.DataFrame
    odds: pd.DataFrame
    overlap: pd.DataFrame  # one bool column per definition + n: patients in every population by verdicts
    dial: pd.DataFrame | None = None

    def ids(self) -> list[str]:
        return list(self.titles["definition"])

    # What stats.disclosure.protect() and stats.release_audit ask of the atlas: they take it through these
    # methods, so the stats package never imports the definitions package (no import cycle).
    KEYS = KEYS

    def publish(self, settings, hide: dict | None = None) -> "PublishedDefinitions":
        return publish(self, settings, hide)

    def add_to_model(self, m, shown: "PublishedDefinitions", **links) -> None:
        add_to_model(m, self, shown, **links)

    @staticmethod
    def hide_key(key: tuple):
        return hide_key(key)


@dataclass
class PublishedDefinitions:
    prevalence: pd.DataFrame
    agreement: pd.DataFrame
    odds: pd.DataFrame
    overlap: pd.DataFrame  # the groups drawn (pattern columns + n as printed)
    dial: pd.DataFrame | None = None
    hidden: dict = field(default_factory=dict)

    def overlap_series(self) -> pd.Series:
        """The UpSet plot's input: printed counts indexed by the verdict pattern."""
        ids = [c for c in self.overlap.columns if c != "n"]
        if self.overlap.empty:
            return pd.Series(dtype="int64")
        return self.overlap.set_index(ids)["n"].astype("int64")


def counts_of(comparison, blocks) -> DefinitionCounts:
    """The true tables of a Comparison (what `compare` writes into OUT/definitions/counts/)."""
    from trdpath.config import DisclosureSection
    from trdpath.definitions.tables import agreement_counts, prevalence_counts
    from trdpath.definitions.models import odds_ratios_by_definition
    from trdpath.definitions.report import overlap_counts

    titles = pd.DataFrame({"definition": [r.id for r in comparison.definitions],
                           "title": [r.definition.title for r in comparison.definitions]})
    overlap = overlap_counts(comparison, DisclosureSection(enabled=False))
    return DefinitionCounts(titles, prevalence_counts(comparison), agreement_counts(comparison),
                            odds_ratios_by_definition(comparison, blocks), overlap.rename("n").reset_index(),
                            comparison.dial)


def save(counts: DefinitionCounts, folder: Path) -> None:
    folder = Path(folder) / COUNTS_DIR
    folder.mkdir(parents=True, exist_ok=True)
    for name in TABLES:
        table = getattr(counts, name)
        if table is not None:
            table.to_parquet(folder / f"{name}.parquet", index=False)


def load(folder: Path) -> DefinitionCounts | None:
    """The true tables `compare` left in OUT/definitions/counts/ (None when it was not run there)."""
    folder = Path(folder) / COUNTS_DIR
    if not (folder / "prevalence.parquet").is_file():
        return None
    try:
        tables = {name: pd.read_parquet(folder / f"{name}.parquet") if (folder / f"{name}.parquet").is_file() else None
                  for name in TABLES}
    except Exception:  # pyarrow raises several types for a damaged file: the report goes on without the atlas
        return None
    if any(tables[name] is None for name in TABLES if name != "dial"):
        return None
    return DefinitionCounts(**tables)


# -- publishing --------------------------------------------------------------------------------------------

def publish(counts: DefinitionCounts, settings, hide: dict | None = None) -> PublishedDefinitions:
    """The atlas as printed, with the cells the audit named hidden (``hide[key]`` sets of cell keys)."""
    from trdpath.definitions.tables import protect_agreement, protect_prevalence
    from trdpath.definitions.dial import protect_dial
    from trdpath.definitions.models import protect_odds_ratios

    hide = hide or {}
    prevalence = protect_prevalence(counts.prevalence, settings, forced=hide.get("def_prevalence", set()))
    agreement = protect_agreement(counts.agreement, settings, forced=hide.get("def_agreement", set()))
    dial = None if counts.dial is None else protect_dial(counts.dial, settings,
                                                         forced=hide.get("def_dial", set()))
    odds = protect_odds_ratios(counts.odds, settings)
    return PublishedDefinitions(prevalence, agreement, odds, published_overlap(counts.overlap, settings,
                                                                               hide.get("def_overlap", set())), dial)


def pattern_key(row, ids) -> tuple:
    return tuple(bool(row[i]) for i in ids)


def published_overlap(overlap: pd.DataFrame, settings, hidden=frozenset()) -> pd.DataFrame:
    """The groups the UpSet plot draws: the 20 largest of at least min_count, rounded; a group the audit names
    is left out (the caption says a group may be)."""
    if not settings.enabled:
        return overlap.sort_values("n", ascending=False, kind="stable").head(OVERLAP_SHOWN).reset_index(drop=True)
    ids = [c for c in overlap.columns if c != "n"]
    keep = overlap[overlap["n"] >= settings.min_count]
    keep = keep[pd.Series([pattern_key(r, ids) not in hidden for _, r in keep.iterrows()], index=keep.index, dtype=bool)]
    keep = keep.sort_values("n", ascending=False, kind="stable").head(OVERLAP_SHOWN)
    return keep.assign(n=[round_count(int(v), settings.rounding) for v in keep["n"]]).reset_index(drop=True)


def report_rewrites(out) -> bool:
    """Is ``out`` a results folder with a report? Then `compare` leaves release/definitions/ to the report,
    which protects the atlas with the whole release (no moment with an atlas audited on its own beside it)."""
    from trdpath import layout

    return layout.report_html(out).is_file() and layout.is_result(out)


# -- the audit's variables and relations -------------------------------------------------------------------

def add_to_model(m, true: DefinitionCounts, shown: PublishedDefinitions, size=None, cohort=None,
                 level_size=None) -> None:
    """The atlas's counts and every relation a reader can assume, between them and with the headline (``size``,
    ``cohort``, ``level_size``: the main release's variables; None when the atlas is audited alone)."""
    size, level_size = size or {}, level_size or {}
    ids = true.ids()
    pop, trd = {}, {}
    prevalence = true.prevalence.set_index("definition")
    printed = shown.prevalence.set_index("definition")
    for d in prevalence.index:
        pop[d] = m.count(("def_prevalence", d, "population_n"), printed.at[d, "population_n"],
                         prevalence.at[d, "population_n"])
        trd[d] = m.count(("def_prevalence", d, "trd_n"), printed.at[d, "trd_n"], prevalence.at[d, "trd_n"])
        m.at_most([trd[d]], [pop[d]])
        # The Maudsley rule is the study's: its row repeats the cohort and the headline TRD count (if true).
        if cohort is not None:
            m.equal([pop[d]], [cohort])
        if "trd" in size:
            m.equal([trd[d]], [size["trd"]])
    for a, b in itertools.combinations(prevalence.index, 2):
        m.equal([pop[a]], [pop[b]])  # the same population (if true)

    printed = shown.agreement.reset_index(drop=True)
    for k, row in true.agreement.reset_index(drop=True).iterrows():
        a, b = row["definition_a"], row["definition_b"]
        c = {cell: m.count(("def_agreement", (a, b), cell), printed.at[k, cell], row[cell])
             for cell in (*AGREEMENT_CELLS, "n")}
        m.equal([c[x] for x in AGREEMENT_CELLS], [c["n"]])
        for d in (a, b):
            m.at_most([c["n"]], [pop.get(d)])
            m.equal([c["n"]], [pop.get(d)])
        # Each pair's margins are the definitions' TRD and non-TRD counts (when the pair covers the populations).
        m.equal([c["both"], c["a_only"]], [trd.get(a)])
        m.equal([c["both"], c["b_only"]], [trd.get(b)])
        m.equal([c["b_only"], c["neither"], trd.get(a)], [pop.get(a)])
        m.equal([c["a_only"], c["neither"], trd.get(b)], [pop.get(b)])
        m.at_most([c["both"], c["a_only"]], [trd.get(a)])
        m.at_most([c["both"], c["b_only"]], [trd.get(b)])
        _pair_overlap(m, true, shown, ids, a, b, c["both"])

    _overlap(m, true, shown, ids, trd)
    _dial(m, true, shown, size, cohort, level_size)


EXHAUSTIVE = 6  # up to 6 definitions every verdict pattern (2^6) is a variable; beyond, only the drawn groups (a bound
# of 0-7 on each of 2^(k-1) groups with a definition says nothing about its sum then)


def _overlap_vars(m, true, shown, ids):
    """One variable per verdict pattern: a drawn group's window; a group not drawn 0..min_count-1 when it is
    (0 or small: what a reader who guesses that nothing was withheld assumes, true then) and >= 0 otherwise (left
    out by the audit, or beyond the 20 drawn). Up to EXHAUSTIVE definitions every pattern is there, so the sums
    below are equalities; beyond, only the drawn groups, and the sums are bounds."""
    cache = getattr(m, "_overlap_cache", None)
    if cache is not None:
        return cache
    printed = {pattern_key(r, ids): r["n"] for _, r in shown.overlap.iterrows()}
    truth = {pattern_key(r, ids): int(r["n"]) for _, r in true.overlap.iterrows()}
    exhaustive = len(ids) <= EXHAUSTIVE
    patterns = itertools.product((False, True), repeat=len(ids)) if exhaustive else printed.keys()
    out = {}
    for key in patterns:
        n = truth.get(key, 0)
        if key in printed:
            out[key] = m.count(("def_overlap", key), printed[key], n)
        else:
            bounds = (0, m.min_count - 1) if n < m.min_count else (0, 10.0 ** 9)
            out[key] = m._var(("def_overlap", key), bounds, n, False, False)
    population = m._var(("def_overlap", "population"), (0, 10.0 ** 9), sum(truth.values()), False, False)
    relation = m.equal if exhaustive else m.at_most
    relation(list(out.values()), [population])
    for d in ids:
        m.at_most([population], [m.index.get(("def_prevalence", d, "population_n"))])
        m.equal([population], [m.index.get(("def_prevalence", d, "population_n"))])  # one population (if true)
    m._overlap_cache = (out, population, relation)
    return m._overlap_cache


def _pair_overlap(m, true, shown, ids, a, b, both) -> None:
    out, _, relation = _overlap_vars(m, true, shown, ids)
    ia, ib = ids.index(a), ids.index(b)
    relation([v for key, v in out.items() if key[ia] and key[ib]], [both])  # when every population is the same


def _overlap(m, true, shown, ids, trd) -> None:
    out, _, relation = _overlap_vars(m, true, shown, ids)
    for k, d in enumerate(ids):
        relation([v for key, v in out.items() if key[k]], [trd.get(d)])


def _dial(m, true, shown, size, cohort, level_size) -> None:
    if true.dial is None or shown.dial is None:
        return
    points = {}
    printed = shown.dial.reset_index(drop=True)
    for k, row in true.dial.reset_index(drop=True).iterrows():
        point = (int(row["min_trial_days"]), int(row["persistence_gap_days"]), bool(row["augmentation_counts"]))
        c = {col: m.count(("def_dial", point, col), printed.at[k, col], row[col])
             for col in ("population_n", "trd_n", *DIAL_LEVELS)}
        points[point] = c
        m.equal([c[x] for x in DIAL_LEVELS], [c["trd_n"]])
        m.at_most([c[x] for x in DIAL_LEVELS], [c["trd_n"]])
        m.at_most([c["trd_n"]], [c["population_n"]])
        if cohort is not None:
            m.equal([c["population_n"]], [cohort])
        # The study's own grid point repeats the headline TRD count and level sizes (kept when true).
        if "trd" in size:
            m.equal([c["trd_n"]], [size["trd"]])
        for col, level in HEADLINE_LEVELS.items():
            if level in level_size:
                m.equal([c[col]], [level_size[level]])
    # Neighbouring grid points: a longer minimum trial or augmentation not counted never adds TRD patients
    # (kept when true), and the difference between two points is a group of patients of its own.
    for (days, gap, aug), c in points.items():
        for other in ((days + 14, gap, aug), (days, gap, False) if aug else None):
            if other is None or other not in points:
                continue
            d = points[other]
            for col in ("trd_n", *DIAL_LEVELS):
                m.at_most([d[col]], [c[col]])
            difference = int(m.truth[c["trd_n"]] - m.truth[d["trd_n"]]) if None not in (c["trd_n"], d["trd_n"]) else None
            if difference and abs(difference) < m.min_count:
                v = m._var(("def_dial_difference", (days, gap, aug), other), (-10.0 ** 9, 10.0 ** 9), difference,
                           False, False)
                m.equal([d["trd_n"], v], [c["trd_n"]])


# -- the atlas alone (compare without a report beside it) --------------------------------------------------

def protect_alone(counts: DefinitionCounts, settings, rounds: int = 20) -> PublishedDefinitions:
    """The atlas audited over its own counts until nothing is pinned (release_audit.ReleaseModel)."""
    from trdpath.stats.release_audit import ReleaseModel

    if not settings.enabled:
        return publish(counts, settings)
    hide = {key: set() for key in KEYS}
    for _ in range(rounds):
        shown = publish(counts, settings, hide)
        m = ReleaseModel(settings.min_count, settings.rounding)
        add_to_model(m, counts, shown)
        pinned = m.pinned()
        new = [key for key in m.cells_to_hide(pinned) if key[1:] not in hide[key[0]]] if pinned else []
        if not new:
            shown.hidden = {"pinned": [m.keys[v] for v in pinned]}
            return shown
        for key in new:
            hide[key[0]].add(hide_key(key))
    shown.hidden = {"pinned": [m.keys[v] for v in pinned]}
    return shown


def hide_key(key: tuple):
    """An audit key ("def_prevalence", definition, column) as the cell key its protect function takes."""
    if key[0] == "def_agreement":
        return (*key[1], key[2])
    if key[0] == "def_overlap":
        return key[1]
    return key[1:]



# -- writing OUT/release/definitions/ ----------------------------------------------------------------------

RELEASE_FILES = ("prevalence.csv", "agreement.csv", "odds_ratios.csv", "dial.csv", "overlap.csv", "section.html",
                 "section.json", "figure_*.png")


def write_release(counts: DefinitionCounts, published: PublishedDefinitions, settings, folder: Path) -> None:
    """release/definitions/: the atlas's tables as CSV and its section (section.html, section.json, figures),
    every number from ``published`` (``folder``: a staging folder, swapped in whole by its caller)."""
    from types import SimpleNamespace

    from trdpath.definitions.report import section_parts, write_section
    from trdpath.safety import neutralise_frame

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tables = {"prevalence": published.prevalence, "agreement": published.agreement, "odds_ratios": published.odds,
              "overlap": published.overlap}
    if published.dial is not None:
        tables["dial"] = published.dial
    for name, table in tables.items():
        neutralise_frame(table).to_csv(folder / f"{name}.csv", index=False)
    # section_parts reads the definitions' ids and titles off a Comparison: the saved titles stand in for it.
    shim = SimpleNamespace(definitions=[SimpleNamespace(id=d, definition=SimpleNamespace(title=t))
                                        for d, t in zip(counts.titles["definition"], counts.titles["title"])])
    write_section(section_parts(shim, published.prevalence, published.agreement, settings, published.odds,
                                published.dial, overlap=published.overlap_series()), folder)
