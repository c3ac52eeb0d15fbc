"""Issue 16 item 2: a light, offline report (the Sankey as inline SVG laid out once, the same flows in the DOCX)."""

from __future__ import annotations

import datetime as dt
import itertools

import pandas as pd
import pytest
from docx import Document

from trdpath import layout as paths
from trdpath.config import StudyConfig
from trdpath.report import figures, write_report
from support.synthetic import synthetic_patients
from trdpath.stats.tables import JOURNEY_STEPS, JOURNEY_TOP_DRUGS

LIMIT = 1_500_000  # bytes: what an output checker in a secure environment will open (issue 16)
META = {"software_version": "t", "index_date": dt.date(2021, 10, 31), "data_date_range": (None, None),
        "source": "unit test"}


def test_report_html_is_under_the_limit_and_offline(tmp_path):
    patients = synthetic_patients(5000, seed=3)
    attrition = pd.DataFrame({"rule": ["extract"], "remaining": [len(patients)], "excluded": [0]})
    write_report(tmp_path, patients, attrition, StudyConfig(), META)
    html = paths.report_html(tmp_path).read_text(encoding="utf-8")
    assert len(html.encode("utf-8")) < LIMIT
    assert "plotly" not in html.lower() and "https://" not in html.split("<pre>")[0]
    # The DOCX carries the Sankey as a picture (the same layout, drawn by matplotlib).
    document = Document(str(paths.report_docx(tmp_path)))
    assert any(p.text.startswith("Figure") and "Antidepressant journeys" in p.text for p in document.paragraphs)


def test_the_sankey_stays_small_whatever_the_cohort_size():
    """The HTML's size does not grow with patients: tables are fixed, and the Sankey's links are bounded by
    positions x named drugs. The largest possible journeys table (every named drug, 'other' and augmentation to
    every target at every step, with 7-digit counts as at national scale) still draws in under 200 kB."""
    names = [f"drug{i}" for i in range(JOURNEY_TOP_DRUGS)] + ["other"]
    rows = [(step, a, b, 1_000_000 + 7 * i)
            for step in range(1, JOURNEY_STEPS)
            for i, (a, b) in enumerate(itertools.product(names, names + ["no further drug"]))]
    journeys = pd.DataFrame(rows, columns=["step", "source", "target", "n"])
    colours = figures.DrugColours.from_journeys(journeys)
    svg = figures.sankey_svg(figures.sankey_layout(journeys, colours), colours)
    assert svg.count("<path") == len(journeys) and len(svg.encode("utf-8")) < 200_000


def journeys():
    return pd.DataFrame({"step": [1, 1, 1, 2, 2], "source": ["sertraline", "sertraline", "citalopram",
                                                            "mirtazapine", "augmentation: lithium"],
                         "target": ["mirtazapine", "augmentation: lithium", "no further drug", "no further drug",
                                    "no further drug"],
                         "n": [40, 20, 30, 40, "<8"]})


def test_sankey_layout_by_hand():
    colours = figures.DrugColours.from_journeys(journeys())
    layout = figures.sankey_layout(journeys(), colours, height=1.0, padding=0.02)
    nodes = {(n.column, n.name): n for n in layout.nodes}
    # Hidden flows (<8) are not drawn: 4 links. Columns: position 1 holds sertraline 60 + citalopram 30 = 90;
    # position 2 holds mirtazapine 40, lithium 20, no further drug 30 = 90 (3 nodes, the tallest column);
    # position 3 holds no further drug 40. Scale = (1 - 2 x 0.02) / 90 per patient.
    assert len(layout.links) == 4 and layout.columns == 3
    scale = (1 - 2 * 0.02) / 90
    assert layout.scale == pytest.approx(scale)
    # Position 2 in the report's drug order (mirtazapine, then lithium), "no further drug" last.
    mirtazapine, lithium, ended = (nodes[(1, "mirtazapine")], nodes[(1, "augmentation: lithium")],
                                   nodes[(1, "no further drug")])
    assert (mirtazapine.y0, mirtazapine.y1) == pytest.approx((0, 40 * scale))
    assert (lithium.y0, lithium.y1) == pytest.approx((40 * scale + 0.02, 60 * scale + 0.02))
    assert (ended.y0, ended.y1) == pytest.approx((60 * scale + 0.04, 90 * scale + 0.04))
    # Sertraline's bands leave in the order of their targets: to mirtazapine at the top, to lithium below it.
    bands = {(lk.source.name, lk.target.name): lk for lk in layout.links}
    assert bands[("sertraline", "mirtazapine")].y_source == pytest.approx(0)
    assert bands[("sertraline", "augmentation: lithium")].y_source == pytest.approx(40 * scale)
    assert bands[("sertraline", "augmentation: lithium")].y_target == pytest.approx(lithium.y0)
    # Node values: the larger of published in- and outflow (lithium: 20 in, its outflow hidden).
    assert lithium.value == 20 and nodes[(0, "sertraline")].value == 60


def test_sankey_svg_says_each_count_and_escapes_names():
    frame = journeys()
    frame.loc[0, "target"] = "<script>alert(1)</script>"
    colours = figures.DrugColours.from_journeys(frame)
    svg = figures.sankey_svg(figures.sankey_layout(frame, colours), colours)
    assert "<script>alert" not in svg and "&lt;script&gt;" in svg
    assert "<title>1. sertraline → 2. augmentation: lithium: 20 patients</title>" in svg
    assert figures.sankey_svg(None, colours).startswith("<p>No journeys")
