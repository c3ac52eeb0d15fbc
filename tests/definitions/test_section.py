"""The Definitions section: Table 3 per definition, the definition dial, disclosure, and the report hook."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from support.cli import run_trdpath  # the CLI in the test's process (tests/support/cli.py)
from trdpath import engines
from trdpath.config import DisclosureSection, StudyConfig
from trdpath.definitions import shipped_definitions
from trdpath.definitions.dial import DIAL_COLUMNS, dial_counts, protect_dial
from trdpath.definitions.compare import compare_extract, evaluate_definitions
from trdpath.definitions.models import NOT_SHOWN, odds_ratios_by_definition, protect_odds_ratios
from trdpath.stats import cohort_of
from trdpath.stats.regression import stepwise_logistic

BLOCKS = [list(b) for b in StudyConfig().analysis.regression_blocks]


@pytest.fixture(scope="module")
def compared(tmp_path_factory):
    """A synthetic extract of 3,000 patients (trdpath synth), compared under every shipped definition."""
    from trdpath.definitions.compare import compare

    root = tmp_path_factory.mktemp("atlas")
    run_trdpath("synth", "--patients", "3000", "--seed", "7", "--out",
                str(root / "extract"), "--format", "parquet", "--no-notes", "--quiet", check=True)
    result = compare(root / "extract", root / "out", list(shipped_definitions().values()), why="none")
    return root, result


@pytest.mark.parametrize("definition", ["maudsley", "ema_two_failures", "reutfors_2018"])
def test_odds_ratios_equal_table_3s_per_patient_logit(compared, definition):
    """The grouped binomial fit gives the estimates of Table 3's own per-patient Logit (stats.regression:
    a second implementation) refitted with the definition's TRD, on the cohort patients in its population."""
    _root, comparison = compared
    got = odds_ratios_by_definition(comparison, BLOCKS)
    got = got[got.definition == definition].set_index("term")
    patients = comparison.classification.patients.copy()
    verdict = comparison.patients[f"{definition}__trd"].to_pandas()
    patients = patients.assign(trd=verdict.astype("boolean"))[verdict.notna().to_numpy()]
    want = stepwise_logistic(cohort_of(patients), BLOCKS).coefficients
    want = want[(want.model == f"Model {len(BLOCKS)}") & (want.term != "const")].set_index("term")
    assert sorted(got.index) == sorted(want.index)
    for column in ("odds_ratio", "ci_lower", "ci_upper", "p_value"):
        np.testing.assert_allclose(got.loc[want.index, column].astype(float), want[column].astype(float), rtol=1e-5, atol=1e-9)


def _true_rows(definition: str, n_trd: int, n_mdd: int, cells: dict) -> pd.DataFrame:
    return pd.DataFrame([{"definition": definition, "term": term, "n": n_trd + n_mdd, "n_trd": n_trd, "n_mdd": n_mdd,
                          "odds_ratio": 1.234567, "ci_lower": 0.9, "ci_upper": 1.7, "p_value": 0.04321, "coef": 0.21,
                          "std_err": 0.1, "warning": "", **dict(zip(("mdd_yes", "trd_yes", "mdd_no", "trd_no"), c))}
                         for term, c in cells.items()])


def test_odds_ratio_disclosure():
    settings = DisclosureSection()  # min_count 8, rounding 5
    table = pd.concat([
        # a: 100 TRD, 200 MDD; anxiety's cells are all >= 8, self_harm has 3 TRD patients with it (1..7: hidden)
        _true_rows("a", 100, 200, {"anxiety": (50, 30, 150, 70), "self_harm": (10, 3, 190, 97)}),
        # b: 5 TRD patients in the model: no model shown at all
        _true_rows("b", 5, 295, {"anxiety": (100, 2, 195, 3)}),
    ])
    shown = protect_odds_ratios(table, settings)
    a = shown[shown.definition == "a"].set_index("term")
    assert a.at["anxiety", "odds_ratio"] == 1.23 and a.at["anxiety", "p_value"] == 0.043  # 2 and 3 decimals
    assert a.at["self_harm", "odds_ratio"] == "suppressed" and a.at["self_harm", "ci_lower"] == "suppressed"
    b = shown[shown.definition == "b"]
    assert len(b) == 1 and b.iloc[0]["odds_ratio"] == "suppressed" and b.iloc[0]["warning"] == NOT_SHOWN.format(m=8)
    assert "n" not in shown.columns and "coef" not in shown.columns  # n is in prevalence.csv; ln(OR) not published


def test_the_report_includes_the_section_when_compare_wrote_one(compared):
    root, _comparison = compared
    out = root / "out"
    assert (out / "release" / "definitions" / "odds_ratios.csv").is_file()
    odds = pd.read_csv(out / "release" / "definitions" / "odds_ratios.csv", dtype=str, keep_default_na=False)
    assert set(odds.definition) == set(shipped_definitions())
    proc = run_trdpath("report", "--results", str(out), "--quiet")
    if proc.returncode != 0:  # `report` needs a classification in OUT: write one, then report again
        run_trdpath("classify", "--data", str(root / "extract"), "--out",
                    str(root / "classified"), "--quiet", check=True)
        import shutil

        shutil.copytree(out / "definitions", root / "classified" / "definitions")
        shutil.copytree(out / "release" / "definitions", root / "classified" / "release" / "definitions")
        out = root / "classified"
        proc = run_trdpath("report", "--results", str(out), "--quiet")
    assert proc.returncode == 0, proc.stderr
    html = (out / "release" / "report.html").read_text()
    assert '<h2 id="definitions">Definitions</h2>' in html
    assert "Table 3 under each definition" in html and "</b> Odds ratios of TRD by definition with 95% confidence" in html


def _dial_tables():
    """One patient. Sertraline 100 mg (adequate) on days 0-20 and 70-90 (a 50-day gap), then 2000-03-01..04-20
    venlafaxine 75 mg (50 days), then mirtazapine from 2000-06-01.
    - gap 30: sertraline is two 20-day eras: no trial; only venlafaxine is one: not TRD at any length.
    - gap 90 / 180: sertraline is one era, days 0-90 (90 >= 56); venlafaxine lasts 50 days: a trial at 28 and
      42 days, not at 56. So TRD (2 trials, then mirtazapine, a 3rd antidepressant) at 28 and 42 days only,
      whether augmentation counts or not (no augmenting agent)."""
    rx = [("sertraline", "2000-01-01", "2000-01-21", 100), ("sertraline", "2000-03-11", "2000-03-31", 100),
          ("venlafaxine", "2000-04-10", "2000-05-30", 75), ("mirtazapine", "2000-06-10", "2000-09-10", 30)]
    prescriptions = pd.DataFrame([{"patient_id": "p1", "drug": d, "start_date": s, "end_date": e, "daily_dose_mg": str(m)}
                                  for d, s, e, m in rx], dtype=object)
    return {"patients": pd.DataFrame([{"patient_id": "p1", "birth_date": "1970-01-01", "sex": "F"}], dtype=object),
            "diagnoses": pd.DataFrame([{"patient_id": "p1", "code": "F32.1", "date": "1999-12-01"}], dtype=object),
            "prescriptions": prescriptions}


def test_the_dial_counts_by_hand():
    from trdpath.sources.open import with_row_numbers as _with_row_numbers
    from trdpath.sources.validate import validate_extract

    config = StudyConfig()
    con = engines.connect("duckdb", engine=config.engine)
    raw = {n: con.create_table(f"raw_{n}", _with_row_numbers(f), temp=True) for n, f in _dial_tables().items()}
    extract = validate_extract(con, raw, {n: f"{n} table" for n in raw}, source="in-memory tables")
    got = dial_counts(con, extract, config, dt.date(2001, 1, 1), compare_extract, evaluate_definitions)
    assert list(got.columns) == DIAL_COLUMNS and len(got) == 18
    for row in got.to_dict("records"):
        trd = row["persistence_gap_days"] in (90, 180) and row["min_trial_days"] in (28, 42)
        assert (row["population_n"], row["trd_n"]) == (1, int(trd)), row
        # TRD with 3 antidepressants in the episode: level 3
        assert (row["level_2_n"], row["level_3_n"], row["level_4plus_n"]) == (0, int(trd), 0), row


def test_dial_disclosure():
    table = pd.DataFrame([(28, 30, True, 1000, 300, 30.0, 3, 150, 147), (42, 30, True, 1000, 5, 0.5, 0, 5, 0)],
                         columns=DIAL_COLUMNS)
    shown = protect_dial(table, DisclosureSection()).to_dict("records")
    # row 1: level 2 has 3 patients (hidden); the levels add up to TRD (300, published), so one more is hidden
    assert shown[0]["level_2_n"] == "<8" and "suppressed" in (shown[0]["level_3_n"], shown[0]["level_4plus_n"])
    assert shown[0]["trd_n"] == 300 and shown[0]["trd_pct"] == 30.0
    # row 2: 5 TRD patients: shown as <8, no percentage, and no level that would give it back
    assert shown[1]["trd_n"] == "<8" and shown[1]["trd_pct"] == "suppressed" and shown[1]["level_3_n"] == "<8"


def test_the_sections_figures_are_numbered_with_the_reports_and_are_in_the_docx(compared):
    """The three figures of the section (overlap, kappa, forest; no dial in this run) are report Figures:
    numbered in reading order with the report's own (1..K, no number twice), and embedded in report.docx
    (one picture per numbered figure of the HTML, the same captions)."""
    import re

    from docx import Document

    root, _comparison = compared
    out = root / "classified" if (root / "classified" / "release" / "report.html").is_file() else root / "out"
    if not (out / "release" / "report.html").is_file():
        test_the_report_includes_the_section_when_compare_wrote_one(compared)
        out = root / "classified" if (root / "classified" / "release" / "report.html").is_file() else root / "out"
    html = (out / "release" / "report.html").read_text()
    numbers = [int(n) for n in re.findall(r"<figcaption><b>Figure (\d+)</b>", html)]
    assert numbers == list(range(1, len(numbers) + 1))
    captions = dict((int(n), c) for n, c in re.findall(r"<figcaption><b>Figure (\d+)</b> ([^<]*)</figcaption>", html))
    ours = [n for n, c in captions.items() if c.startswith(("Overlap of the TRD verdicts", "Agreement between definitions",
                                                           "Odds ratios of TRD by definition"))]
    assert len(ours) == 3 and ours == list(range(ours[0], ours[0] + 3))  # consecutive, in the section's order
    assert html.count('id="fig-definitions_') == 3 and "section.html" not in html.split('id="definitions"')[1][:2000]
    document = Document(str(out / "release" / "report.docx"))
    assert len(document.inline_shapes) == len(numbers)
    texts = [p.text for p in document.paragraphs]
    for n in ours:
        assert any(t.startswith(f"Figure {n} ") and captions[n].replace("&#39;", "'")[:30] in t for t in texts), n


def test_a_hostile_section_file_is_read_as_data(tmp_path):
    """section.json is in the release folder, which a user may edit: markup in a text stays text (the
    report's templates escape it), a figure outside the folder or under another name is not read, an
    unknown block kind (raw html) is ignored, and a malformed file gives no section at all."""
    import json

    from trdpath import layout
    from trdpath.definitions.report import report_section

    folder = tmp_path / "out"
    target = layout.release_dir(folder) / "definitions"
    target.mkdir(parents=True)
    (tmp_path / "secret.png").write_bytes(b"\x89PNG not ours")
    (target / "figure_ok.png").write_bytes(b"\x89PNG ours")
    blocks = [{"kind": "text", "value": "<script>alert(1)</script>"},
              {"kind": "html", "value": "<script>alert(2)</script>"},
              {"kind": "figure", "key": "x", "caption": "outside", "file": "../../secret.png"},
              {"kind": "figure", "key": "y", "caption": "other name", "file": "secret.png"},
              {"kind": "figure", "key": "ok", "caption": "fine", "file": "figure_ok.png"}]
    (target / "section.json").write_text(json.dumps({"version": 1, "blocks": blocks}))
    section = report_section(folder)
    kinds = [kind for kind, _value in section.blocks]
    assert kinds == ["text", "figure"]
    assert section.blocks[0][1][0] == "<script>alert(1)</script>"  # a plain str: autoescaped by the template
    assert type(section.blocks[0][1][0]) is str
    assert section.blocks[1][1].png == b"\x89PNG ours" and section.blocks[1][1].caption == "fine"
    (target / "section.json").write_text('{"blocks": [{"kind": "table", "rows": 3}]}')
    assert report_section(folder) is None
    (target / "section.json").write_text("not json")
    assert report_section(folder) is None


def test_the_dial_sharing_compares_classification_equals_one_classification_per_gap(compared):
    """dial_counts evaluates the study's gap on compare's own eras and rebuilds only the eras at the other
    gaps; a second implementation classifies the whole extract again at each gap (what the dial did before)
    and evaluates the six variants there: the 18 grid points must agree exactly."""
    from trdpath.definitions.dial import DIAL_GAPS, dial_definitions
    from trdpath.sources.open import open_source

    root, _comparison = compared
    config = StudyConfig()
    with open_source(root / "extract", config, None) as (con, extract):
        shared = compare_extract(con, extract, list(shipped_definitions().values())[:2], config, why="none")
        got = dial_counts(con, extract, config, None, compare_extract, evaluate_definitions, shared.classification)
        for gap in DIAL_GAPS:
            settings = config.model_copy(update={"treatment": config.treatment.model_copy(update={"era_gap_days": gap})})
            again = compare_extract(con, extract, dial_definitions(), settings, why="none")
            for row in got[got.persistence_gap_days == gap].to_dict("records"):
                key = f"dial_{row['min_trial_days']}d_{'aug' if row['augmentation_counts'] else 'noaug'}"
                trd = again.patients[f"{key}__trd"].to_pandas()
                stage = again.patients[f"{key}__stage"].to_pandas()
                assert row["population_n"] == trd.notna().sum(), (gap, key)
                assert row["trd_n"] == (trd == True).sum(), (gap, key)  # noqa: E712 (nullable booleans)
                levels = stage[(trd == True).to_numpy()].value_counts()  # noqa: E712
                assert (row["level_2_n"], row["level_3_n"], row["level_4plus_n"]) == \
                    tuple(int(levels.get(k, 0)) for k in ("2", "3", "4+")), (gap, key)
    assert got.trd_n.sum() > 0  # the grid found TRD somewhere: the comparison is not of empty tables


def test_the_section_is_always_written_with_its_figures(compared):
    """compare draws every figure of the section whenever it writes it: each figure block of section.json names
    a PNG beside it (a real PNG), section.html inlines the same number of figures, and the three figures of a
    run without the dial (overlap, kappa matrix, forest plot) are all there on 3,000 patients."""
    import json

    root, _comparison = compared
    folder = root / "out" / "release" / "definitions"
    blocks = json.loads((folder / "section.json").read_text(encoding="utf-8"))["blocks"]
    figures = [b for b in blocks if b["kind"] == "figure"]
    assert [b["key"] for b in figures] == ["overlap", "kappa", "forest"]
    for block in figures:
        assert (folder / block["file"]).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", block
    assert (folder / "section.html").read_text(encoding="utf-8").count("<figure>") == len(figures)
