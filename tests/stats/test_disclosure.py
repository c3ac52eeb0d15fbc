"""Statistical disclosure control, on tables where a hidden count could otherwise be worked out."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trdpath import layout
from trdpath.config import DisclosureSection, StudyConfig
from trdpath.stats import analyse
from trdpath.stats.disclosure import (
    SUPPRESSED, protect, protect_attrition, round_count, suppression_pattern,
)
from support.synthetic import cohort_with_counts

DEFAULT = DisclosureSection()
SMALL = "<8"


def test_round_count():
    assert [round_count(v, 5) for v in (0, 2, 3, 8, 12, 13, 486, 2675)] == [0, 0, 5, 10, 10, 15, 485, 2675]
    assert round_count(15, 10) == 20 and round_count(14, 10) == 10
    assert round_count(7, 1) == 7


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=60), min_size=2, max_size=7))
def test_no_hidden_cell_is_alone_in_a_group(values):
    """Whatever the counts: hidden cells in a group are never one alone, and add up to at least min_count."""
    cells = dict(enumerate(values))
    pattern = suppression_pattern(cells, [list(cells)], 8)
    for cell, value in cells.items():
        if 0 < value < 8:
            assert pattern[cell] == "primary"
    hidden = [c for c in cells if c in pattern]
    nonzero_visible = [c for c in cells if c not in pattern and cells[c] > 0]
    if hidden and nonzero_visible:
        assert len(hidden) >= 2
        assert sum(cells[c] for c in hidden) >= 8
    if hidden and not nonzero_visible:
        # Everything non-zero is hidden: the total itself is then the only thing that could leak.
        assert all(cells[c] == 0 or c in pattern for c in cells)


def ethnicity_cohort():
    # MDD 200 and TRD 150. Mixed has 3 MDD patients: alone hidden, 200 - (visible levels) would give 3 back.
    levels = {"Black": (20, 15), "Mixed": (3, 9), "South Asian": (30, 25), "White": (130, 90), "Unknown": (17, 11)}
    flags = {"anxiety": (50, 60), "self_harm": (2, 30)}
    return cohort_with_counts(200, 150, flags, {"ethnicity_group": levels})


def _column(table, variable, group):
    rows = table[(table["variable"] == variable) & (table["level"] != "")]
    return dict(zip(rows["level"], rows[f"{group}_n"]))


def test_categorical_small_cell_cannot_be_recovered_from_the_group_total():
    analysis = analyse(ethnicity_cohort(), StudyConfig())
    protected = protect(analysis, DEFAULT)
    mdd = _column(protected.table1, "ethnicity_group", "mdd")
    assert mdd["Mixed"] == SMALL
    hidden = [level for level, value in mdd.items() if value in (SMALL, SUPPRESSED)]
    assert len(hidden) >= 2
    # The secondary cell is the smallest other level (Unknown, 17), so 200 - visible = 20, not 3.
    assert mdd["Unknown"] == SUPPRESSED
    true_counts = {"Black": 20, "Mixed": 3, "South Asian": 30, "White": 130, "Unknown": 17}
    assert sum(true_counts[level] for level in hidden) >= 8
    # Every visible count is a multiple of 5 and percentages come from rounded counts.
    rows = protected.table1[(protected.table1["variable"] == "ethnicity_group") & (protected.table1["level"] != "")]
    for n, pct in zip(rows["trd_n"], rows["trd_pct"]):
        if isinstance(n, int):
            assert n % 5 == 0
            assert pct == pytest.approx(100 * n / 150)
    # The overall test used the hidden cells, so it is hidden too; TRD (all >= 8) keeps its counts.
    header = protected.table1[(protected.table1["variable"] == "ethnicity_group") & (protected.table1["level"] == "")]
    assert header["statistic"].iloc[0] == SUPPRESSED
    assert _column(protected.table1, "ethnicity_group", "trd")["Mixed"] == 10


def test_flag_with_small_count_hides_percentage_and_statistic():
    protected = protect(analyse(ethnicity_cohort(), StudyConfig()), DEFAULT)
    row = protected.table2.set_index("variable").loc["self_harm"]
    assert row["mdd_n"] == SMALL and row["mdd_pct"] == SUPPRESSED
    assert row["statistic"] == SUPPRESSED and row["p_value"] == SUPPRESSED
    assert row["trd_n"] == 30 and row["trd_pct"] == pytest.approx(20.0)


def test_resistance_levels_cannot_be_recovered_from_the_trd_count_of_table2():
    """TRD = 2 + 3 + 4+: with the TRD count in Table 2, one hidden level would follow by subtraction."""
    patients = cohort_with_counts(100, 60, {"anxiety": (20, 30)})
    trd_rows = patients.index[patients["trd"]]
    levels = np.array(["2"] * 20 + ["3"] * 20 + ["4+"] * 20)
    patients.loc[trd_rows, "resistance_level"] = levels
    # Anxiety in TRD: 3 at level 2, 12 at level 3, 15 at level 4+ (30 in all, shown in Table 2).
    anxious = np.r_[np.arange(3), 20 + np.arange(12), 40 + np.arange(15)]
    patients.loc[trd_rows, "anxiety"] = False
    patients.loc[trd_rows[anxious], "anxiety"] = True
    protected = protect(analyse(patients, StudyConfig()), DEFAULT)
    assert protected.table2.set_index("variable").loc["anxiety", "trd_n"] == 30
    row = protected.resistance_levels.set_index("variable").loc["anxiety"]
    assert row["level2_n"] == SMALL
    assert row["level3_n"] == SUPPRESSED  # the smaller of the two others, 12
    assert row["level4plus_n"] == 15
    assert row["statistic"] == SUPPRESSED


def test_disabled_disclosure_keeps_true_counts():
    analysis = analyse(ethnicity_cohort(), StudyConfig())
    unprotected = protect(analysis, DisclosureSection(enabled=False))
    assert _column(unprotected.table1, "ethnicity_group", "mdd")["Mixed"] == 3
    assert not unprotected.disclosure_applied


def test_attrition_merges_small_exclusions():
    attrition = pd.DataFrame({
        "rule": ["extract", "no_depression_diagnosis", "under_18", "bipolar_or_mania", "dementia"],
        "remaining": [1000, 900, 897, 850, 848], "excluded": [0, 100, 3, 47, 2]})
    protected = protect_attrition(attrition, DEFAULT)
    assert list(protected["rule"]) == ["extract", "no_depression_diagnosis",
                                       "under_18 + bipolar_or_mania + dementia"]
    # 3 + 47 + 2 = 52 -> 50; remaining 848 -> 850: no step of fewer than 8 patients is visible.
    assert list(protected["excluded"]) == [0, 100, 50]
    assert list(protected["remaining"]) == [1000, 900, 850]


def test_regression_term_with_a_small_cell_is_hidden():
    protected = protect(analyse(ethnicity_cohort(), StudyConfig()), DEFAULT)
    table3 = protected.table3.set_index(["model", "term"])
    assert table3.loc[("Model 3", "self_harm"), "odds_ratio"] == SUPPRESSED
    assert isinstance(table3.loc[("Model 3", "anxiety"), "odds_ratio"], float)


def test_no_small_count_leaves_in_any_written_table(tmp_path):
    """Scan every CSV of a small report: counts are '<8', 'suppressed', 0 or multiples of 5 (never 1-7)."""
    from trdpath.report import write_report
    from support.synthetic import synthetic_patients

    patients = synthetic_patients(500, seed=9)
    attrition = pd.DataFrame({"rule": ["extract", "under_18"], "remaining": [510, 500], "excluded": [0, 10]})
    write_report(tmp_path, patients, attrition, StudyConfig(),
                 {"software_version": "t", "index_date": "2021-10-31", "data_date_range": (None, None),
                  "source": "synthetic"})
    checked = 0
    for path in layout.tables_dir(tmp_path).glob("*.csv"):
        table = pd.read_csv(path, dtype=str, keep_default_na=False)
        count_columns = [c for c in table.columns if c.endswith("_n") or c in ("n", "remaining", "excluded")]
        for column in count_columns:
            for value in table[column]:
                if value in ("", SMALL, SUPPRESSED):
                    continue
                number = float(value)
                assert number == 0 or (number % 5 == 0 and number >= 8), (path.name, column, value)
                checked += 1
    assert checked > 50
    # The same holds in the HTML tables (the Sankey's and figures' data come from the same protected tables).
    html = layout.report_html(tmp_path).read_text(encoding="utf-8")
    tables = pd.read_html(io.StringIO(html.split("<h2>Antidepressant journeys</h2>")[0]))
    table2 = tables[1]
    for cell in table2.iloc[:, 1]:
        text = str(cell)
        if text and text[0].isdigit():
            assert int(text.split(" ")[0]) % 5 == 0


@settings(max_examples=12, deadline=None)
@given(n=st.integers(min_value=40, max_value=400), seed=st.integers(min_value=0, max_value=10_000))
def test_every_protected_table_of_any_cohort_is_safe(n, seed):
    """For arbitrary small cohorts: no count of 1-7 is published, and no level is the only hidden one."""
    from support.synthetic import synthetic_patients

    protected = protect(analyse(synthetic_patients(n, seed=seed), StudyConfig()), DEFAULT)
    count_columns = {
        "table1": ["mdd_n", "trd_n"], "table2": ["mdd_n", "trd_n"], "service_use": ["mdd_n", "trd_n"],
        "resistance_levels": [f"{g}_n" for g in ("mdd", "level2", "level3", "level4plus")], "journeys": ["n"],
    }
    for name, columns in count_columns.items():
        table = getattr(protected, name)
        for column in columns:
            for value in table[column]:
                if isinstance(value, str):
                    assert value in (SMALL, SUPPRESSED)
                elif not pd.isna(value):
                    assert value == 0 or (value % 5 == 0 and value >= 8), (name, column, value)
    for variable in ("sex", "ethnicity_group", "employment_group", "depression_code"):
        rows = protected.table1[(protected.table1["variable"] == variable) & (protected.table1["level"] != "")]
        for column in ("mdd_n", "trd_n"):
            values = list(rows[column])
            hidden = [v for v in values if isinstance(v, str)]
            visible_nonzero = [v for v in values if not isinstance(v, str) and v > 0]
            assert len(hidden) != 1 or not visible_nonzero, (variable, column, values)
