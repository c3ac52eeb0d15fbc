"""The pathway charts: drawn from the published tables of release/ only, every number on them a published one,
hidden counts not drawn; and an attacker's parameters. Values are checked against the CSVs read independently."""

from __future__ import annotations

import re
import shutil

import lxml.html
import pandas as pd
import pytest
from starlette.testclient import TestClient

from trdpath import layout
from trdpath.serve.app import create_app

SECRET = "test-token-0123456789abcdef"
HIDDEN = ("<8", "suppressed")


def client(folder) -> TestClient:
    c = TestClient(create_app(folder, secret=SECRET, patient_level=False, warm=False), base_url="http://127.0.0.1")
    c.get(f"/?token={SECRET}", follow_redirects=False)
    return c


@pytest.fixture(scope="module")
def page(result_folder):
    response = client(result_folder).get("/pathways")
    assert response.status_code == 200
    return response.text


def published(result_folder, stem: str) -> pd.DataFrame:
    return pd.read_csv(layout.tables_dir(result_folder) / f"{stem}.csv", dtype=str, keep_default_na=False)


def test_sankey_draws_each_shown_flow_once_with_its_published_count(page, result_folder):
    tree = lxml.html.fromstring(page)
    drawn = [(p.get("data-step"), p.get("data-source"), p.get("data-target"), p.get("data-n"))
             for p in tree.xpath("//svg[@id='sankey']//path[@class='link']")]
    journeys = published(result_folder, "journeys")
    shown = journeys[~journeys["n"].isin(HIDDEN) & (journeys["n"] != "0")]
    assert sorted(drawn) == sorted(map(tuple, shown[["step", "source", "target", "n"]].to_numpy()))
    n_hidden = int(journeys["n"].isin(HIDDEN).sum())
    assert n_hidden > 0 and f"{n_hidden} flow(s) published as <8 or suppressed are not drawn" in \
        tree.xpath("//*[@id='sankey-note']")[0].text_content()
    # Band widths are proportional to the published counts: width / count is one constant (to 0.1 px rounding).
    ratios = [float(p.get("stroke-width")) / float(p.get("data-n")) for p in tree.xpath("//svg[@id='sankey']//path[@class='link']")
              if float(p.get("stroke-width")) > 1.0]
    # Each width is rounded to 0.1 px and the smallest drawn count is 10 (8 rounds to 10): 2 x 0.05 / 10 = 0.01.
    assert max(ratios) - min(ratios) <= 0.01


def test_lines_and_step_times_equal_the_published_tables(page, result_folder):
    tree = lxml.html.fromstring(page)
    lines = published(result_folder, "lines")
    anyone = lines[lines["drug"] == "any"]
    bars = [(g.get("data-label"), g.get("data-value")) for g in tree.xpath("//svg[@id='lines-chart']//g")]
    assert [v for _, v in bars] == list(anyone["n"])
    assert [re.match(r"line (\d+):", label).group(1) for label, _ in bars] == list(anyone["line"])
    times = published(result_folder, "step_times")
    boxes = [(g.get("data-label"), g.get("data-q1"), g.get("data-median"), g.get("data-q3"), g.get("data-n"))
             for g in tree.xpath("//svg[@id='step-times-chart']//g[@class='box-row']")]
    assert [b[0] for b in boxes] == list(times["interval"])
    for box, (_, row) in zip(boxes, times.iterrows()):
        assert [float(v) for v in box[1:4]] == [float(row["q1"]), float(row["median"]), float(row["q3"])]
        assert box[4] == row["n"]


def test_no_small_count_on_the_charts(page):
    """Every number in the charts' text, titles and data is a published one: none from 1 to 7."""
    tree = lxml.html.fromstring(page)
    for svg_id in ("sankey", "lines-chart", "step-times-chart"):
        svg = tree.xpath(f"//svg[@id='{svg_id}']")[0]
        for element in svg.iter():
            for value in [element.get("data-n"), element.get("data-value")]:
                if value and value.replace(".", "", 1).isdigit():
                    assert not 0 < float(value) < 8, (svg_id, value)
        for title in svg.xpath(".//title"):
            for count in re.findall(r"(\d+) patients", title.text_content()):
                assert not 0 < int(count) < 8


def test_the_charts_read_the_release_not_the_patients(result_folder, tmp_path, page):
    """Replacing patients.parquet changes no chart; removing a published table removes its chart."""
    copy = tmp_path / "results"
    shutil.copytree(result_folder, copy)
    patients = pd.read_parquet(copy / layout.PATIENTS_PARQUET)
    patients["treatment_sequence"] = "sertraline;citalopram"
    patients.to_parquet(copy / layout.PATIENTS_PARQUET, index=False)
    other = client(copy).get("/pathways").text

    def svgs(text):
        return re.findall(r"<svg id=\"(?:sankey|lines-chart|step-times-chart)\".*?</svg>", text, flags=re.S)

    assert svgs(other) == svgs(page) and len(svgs(page)) == 3
    for stem in ("journeys", "lines", "step_times"):
        (layout.tables_dir(copy) / f"{stem}.csv").unlink()
    gone = client(copy).get("/pathways").text
    assert not svgs(gone) and "no published pathway tables" in gone


def test_hostile_drug_name_is_text_in_the_charts(page):
    assert "<script>alert(1)</script>" not in page
    tree = lxml.html.fromstring(page)
    names = [t.text_content() for t in tree.xpath("//svg[@id='sankey']//text")]
    assert any("<script>" in n for n in names)  # drawn, as text


@pytest.mark.parametrize("query", ["step=1", "drug=sertraline", "source=sertraline&target=citalopram", "n=%3C8",
                                   "sex=female", "level=4%2B&sex=female"])
def test_the_charts_take_no_parameters(result_folder, query):
    response = client(result_folder).get(f"/pathways?{query}")
    assert response.status_code == 400
    assert "take no parameters" in response.text and "<svg" not in response.text
