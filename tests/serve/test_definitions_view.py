"""The definitions view: forest plot of prevalence (Wilson intervals from the published counts) and the kappa
heat map, from release/definitions only; a clear empty state without them; no parameters accepted."""

from __future__ import annotations

import math
import shutil

import lxml.html
import pytest
from starlette.testclient import TestClient

from trdpath import layout
from trdpath.serve.app import create_app

SECRET = "test-token-0123456789abcdef"
HOSTILE = "<i onmouseover=alert(3)>def</i>"
# The atlas's publishable files (docs/definitions.md, "What it writes"), written by hand: three definitions,
# one hostile name, one pair whose kappa was suppressed (a hidden cell) and counts as published (rounded).
PREVALENCE = f"""definition,population_n,trd_n,trd_pct
maudsley,2390,1125,47.1
mgh_s,2390,200,8.4
"{HOSTILE}",2130,1080,50.7
"""
AGREEMENT = f"""definition_a,definition_b,n,both,a_only,b_only,neither,kappa
maudsley,mgh_s,2390,200,925,0,1265,0.18
maudsley,"{HOSTILE}",2130,1000,80,80,970,0.85
mgh_s,"{HOSTILE}",2130,suppressed,<8,suppressed,suppressed,suppressed
"""


def wilson(k: int, n: int, z: float = 1.959963984540054) -> tuple[float, float]:
    """Wilson's score interval by its formula (Wilson 1927), a second implementation beside statsmodels'."""
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return round(100 * (centre - half), 1), round(100 * (centre + half), 1)


def client(folder) -> TestClient:
    c = TestClient(create_app(folder, secret=SECRET, patient_level=False, warm=False), base_url="http://127.0.0.1")
    c.get(f"/?token={SECRET}", follow_redirects=False)
    return c


@pytest.fixture(scope="module")
def compared(result_folder, tmp_path_factory):
    copy = tmp_path_factory.mktemp("compared") / "results"
    shutil.copytree(result_folder, copy)
    folder = layout.release_dir(copy) / "definitions"
    folder.mkdir()
    (folder / "prevalence.csv").write_text(PREVALENCE, encoding="utf-8")
    (folder / "agreement.csv").write_text(AGREEMENT, encoding="utf-8")
    return copy


@pytest.fixture(scope="module")
def page(compared):
    response = client(compared).get("/definitions")
    assert response.status_code == 200
    return response.text


def test_forest_shows_the_published_prevalence_and_wilson_intervals(page):
    tree = lxml.html.fromstring(page)
    rows = [(g.get("data-definition"), g.get("data-pct"), g.get("data-low"), g.get("data-high"))
            for g in tree.xpath("//svg[@id='prevalence-forest']//g[@class='forest-row']")]
    # maudsley 1125 / 2390, mgh_s 200 / 2390, the hostile one 1080 / 2130 (the published, rounded counts).
    expected = [("maudsley", "47.1", *wilson(1125, 2390)), ("mgh_s", "8.4", *wilson(200, 2390)),
                (HOSTILE, "50.7", *wilson(1080, 2130))]
    assert [(d, p, float(lo), float(hi)) for d, p, lo, hi in rows] == expected
    # The point sits at its percentage on the 0-100% axis: x(47.1) between x(40%) and x(60%) ticks.
    ticks = {t.text_content(): float(t.get("x")) for t in tree.xpath("//svg[@id='prevalence-forest']//g[@class='tick']/text")}
    point = tree.xpath("//svg[@id='prevalence-forest']//rect[@class='point']")[0]
    x = float(point.get("x")) + 4
    assert x == pytest.approx(ticks["40%"] + (ticks["60%"] - ticks["40%"]) * 7.1 / 20, abs=0.2)


def test_heatmap_cells_are_the_published_kappas(page):
    tree = lxml.html.fromstring(page)
    cells = {(g.get("data-a"), g.get("data-b")): (g.get("data-kappa"), "".join(g.xpath("./text/text()")))
             for g in tree.xpath("//svg[@id='kappa-heatmap']//g[contains(@class, 'cell')]")}
    assert len(cells) == 9  # 3 x 3
    assert cells[("maudsley", "mgh_s")] == cells[("mgh_s", "maudsley")] == ("0.18", "0.18")
    assert cells[("maudsley", HOSTILE)] == ("0.85", "0.85")
    assert cells[("mgh_s", HOSTILE)] == ("suppressed", "supp.")  # hidden: hatched, no number
    assert cells[("maudsley", "maudsley")] == ("", "")
    hidden = tree.xpath("//svg[@id='kappa-heatmap']//g[contains(@class, 'k-hidden')]/rect")
    assert len(hidden) == 2 and all(r.get("fill") == "url(#hidden-hatch)" for r in hidden)


def test_names_are_text_and_nothing_small_is_shown(page):
    assert HOSTILE not in page and "&lt;i onmouseover=alert(3)&gt;def&lt;/i&gt;" in page
    tree = lxml.html.fromstring(page)
    agreement = [[td.text_content() for td in tr.xpath("./td")] for tr in tree.xpath("//table[@id='agreement']/tbody/tr")]
    assert agreement[2][3:] == ["suppressed", "<8", "suppressed", "suppressed", "suppressed"]


def test_empty_state_and_no_patient_level_fallback(result_folder, tmp_path):
    copy = tmp_path / "results"
    shutil.copytree(result_folder, copy)
    # A definitions/ folder beside release/ is patient level: the aggregate view must not read it.
    (copy / "definitions").mkdir()
    (copy / "definitions" / "prevalence.csv").write_text(PREVALENCE, encoding="utf-8")
    text = client(copy).get("/definitions").text
    tree = lxml.html.fromstring(text)
    assert "No comparison of definitions in this result" in tree.xpath("//*[@id='definitions-empty']")[0].text_content()
    assert "maudsley" not in text and "<svg" not in text


@pytest.mark.parametrize("query", ["definition=maudsley", "a=maudsley&b=mgh_s", "sex=female"])
def test_no_parameters(compared, query):
    response = client(compared).get(f"/definitions?{query}")
    assert response.status_code == 400 and "takes no parameters" in response.text and "<svg" not in response.text
