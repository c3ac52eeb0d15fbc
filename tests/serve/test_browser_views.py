"""End to end in Debian's Chromium for the views added after the first browser test: the patient timeline
(on the hand-made result, values worked by hand in tests/serve/handmade.py), the worklist filters, the
pathway charts and the definitions view. Screenshots go to TRDPATH_SCREENSHOTS (else a temp folder)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from serve.handmade import EXPECTED_KEY_DATES, HOSTILE_TEAM
from support.browser import next_page

SECRET = "test-token-0123456789abcdef"  # the same as conftest.SECRET

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> Path:
    folder = os.environ.get("TRDPATH_SCREENSHOTS")
    path = Path(folder) if folder else tmp_path_factory.mktemp("screenshots")
    path.mkdir(parents=True, exist_ok=True)
    return path


def log_in(browser, base: str) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait

    browser.delete_all_cookies()
    browser.get(f"{base}/login")
    browser.get(f"{base}/login?token={SECRET}")
    WebDriverWait(browser, 10).until(EC.presence_of_element_located((By.TAG_NAME, "main")))


def csp_violations(browser) -> list[str]:
    logs = browser.get_log("browser") if hasattr(browser, "get_log") else []
    return [e["message"] for e in logs if "Content Security Policy" in e.get("message", "")]


def test_patient_timeline_in_a_real_browser(browser, handmade_server, shots):
    from selenium.webdriver.common.by import By

    log_in(browser, handmade_server)
    browser.get(f"{handmade_server}/patients/P1")
    svg = browser.find_element(By.ID, "timeline")
    assert svg.is_displayed() and svg.size["width"] > 800 and svg.size["height"] > 150
    bars = browser.find_elements(By.CSS_SELECTOR, "#timeline g.step rect.bar")
    assert len(bars) == 3 and all(b.size["width"] > 10 for b in bars)  # three drawn drugs, each 56 days wide
    shown = tuple(browser.find_element(By.ID, i).text for i in ("date-t1", "date-t2", "date-trd"))
    assert shown == EXPECTED_KEY_DATES["P1"]
    labels = [t.text for t in browser.find_elements(By.CSS_SELECTOR, "#timeline g.marker text")]
    assert labels == ["episode start 2020-01-01", "T1 2020-01-29", "T2 2020-03-29", "TRD 2020-05-01"]
    # The chart's geometry as the browser laid it out: T1's line passes through sertraline's adequacy diamond.
    t1 = browser.find_element(By.CSS_SELECTOR, "#timeline g.marker-t1 line").rect
    diamond = browser.find_elements(By.CSS_SELECTOR, "#timeline path.adequacy-mark")[0].rect
    assert abs((diamond["x"] + diamond["width"] / 2) - (t1["x"] + t1["width"] / 2)) < 2
    browser.save_screenshot(str(shots / "patient-timeline.png"))
    browser.get(f"{handmade_server}/patients/P2")
    assert HOSTILE_TEAM in browser.find_element(By.ID, "worklist-entry").text  # shown as text, not run
    browser.save_screenshot(str(shots / "patient-timeline-augmented.png"))
    assert not csp_violations(browser)


def test_worklist_filters_in_a_real_browser(browser, handmade_server, shots):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.select import Select

    def ids():
        return [a.text for a in browser.find_elements(By.CSS_SELECTOR, "#worklist tbody tr td:nth-child(2) a")]

    log_in(browser, handmade_server)
    browser.get(f"{handmade_server}/worklist")
    assert ids() == ["P1", "P2", "<b>P4</b>", "P3"]  # priority order (worked out in test_worklist_view.py)
    # Choosing a value submits the form (the script); filters combine and stay in the address.
    with next_page(browser):
        Select(browser.find_element(By.NAME, "team")).select_by_visible_text("CMHT North")
    assert "team=CMHT+North" in browser.current_url
    assert ids() == ["P1", "P3"]
    with next_page(browser):
        Select(browser.find_element(By.NAME, "stage")).select_by_visible_text("0")
    assert "stage=0" in browser.current_url
    assert "team=CMHT+North" in browser.current_url and ids() == ["P3"]
    assert browser.find_element(By.ID, "worklist-count").text.startswith("1 patient(s) with team CMHT North, stage 0")
    browser.get(f"{handmade_server}/worklist")
    with next_page(browser):
        Select(browser.find_element(By.NAME, "team")).select_by_visible_text(HOSTILE_TEAM)  # shown as text
    assert "team=%3Cscript" in browser.current_url
    assert ids() == ["P2"]
    with next_page(browser):
        Select(browser.find_element(By.NAME, "sort")).select_by_visible_text("Longest since contact")
    assert "sort=contact" in browser.current_url
    browser.get(f"{handmade_server}/worklist?sort=contact")
    assert ids() == ["P3", "P2", "<b>P4</b>", "P1"]
    browser.save_screenshot(str(shots / "worklist.png"))
    with next_page(browser):
        browser.find_element(By.LINK_TEXT, "<b>P4</b>").click()  # the hostile id's link opens its page
    assert browser.find_elements(By.ID, "timeline")
    assert browser.find_element(By.TAG_NAME, "h1").text == "Patient <b>P4</b>"
    browser.get(f"{handmade_server}/worklist?team=Nobody")
    assert "not on this worklist" in browser.find_element(By.ID, "worklist-error").text
    browser.save_screenshot(str(shots / "worklist-refused.png"))
    assert not csp_violations(browser)


def test_pathway_charts_in_a_real_browser(browser, live_server, result_folder, shots):
    import pandas as pd
    from selenium.webdriver.common.by import By

    from trdpath import layout

    log_in(browser, live_server)
    browser.get(f"{live_server}/pathways")
    for chart in ("sankey", "lines-chart", "step-times-chart"):
        element = browser.find_element(By.ID, chart)
        assert element.is_displayed() and element.size["height"] > 100
    journeys = pd.read_csv(layout.tables_dir(result_folder) / "journeys.csv", dtype=str, keep_default_na=False)
    shown = journeys[~journeys["n"].isin(["<8", "suppressed", "0"])]
    links = browser.find_elements(By.CSS_SELECTOR, "#sankey path.link")
    assert len(links) == len(shown)
    # The widest band on screen is the largest published flow.
    widest = max(links, key=lambda p: float(p.get_attribute("stroke-width")))
    assert int(widest.get_attribute("data-n")) == max(int(v) for v in shown["n"])
    lines = pd.read_csv(layout.tables_dir(result_folder) / "lines.csv", dtype=str, keep_default_na=False)
    values = [t.text for t in browser.find_elements(By.CSS_SELECTOR, "#lines-chart text.value")]
    assert values == list(lines.loc[lines["drug"] == "any", "n"])
    browser.save_screenshot(str(shots / "pathways-charts.png"))
    browser.get(f"{live_server}/pathways?drug=sertraline")
    assert "take no parameters" in browser.find_element(By.ID, "pathways-error").text
    assert not csp_violations(browser)


@pytest.fixture(scope="module")
def compared_server(result_folder, tmp_path_factory):
    import shutil

    from serve.conftest import serving
    from serve.test_definitions_view import AGREEMENT, PREVALENCE
    from trdpath import layout
    from trdpath.serve.app import create_app

    copy = tmp_path_factory.mktemp("compared-browser") / "results"
    shutil.copytree(result_folder, copy)
    folder = layout.release_dir(copy) / "definitions"
    folder.mkdir()
    (folder / "prevalence.csv").write_text(PREVALENCE, encoding="utf-8")
    (folder / "agreement.csv").write_text(AGREEMENT, encoding="utf-8")
    yield from serving(create_app(copy, secret=SECRET, patient_level=False, warm=False))


def test_definitions_in_a_real_browser(browser, compared_server, live_server, shots):
    from selenium.webdriver.common.by import By

    from serve.test_definitions_view import HOSTILE

    log_in(browser, compared_server)
    browser.get(f"{compared_server}/definitions")
    forest = browser.find_element(By.ID, "prevalence-forest")
    heat = browser.find_element(By.ID, "kappa-heatmap")
    assert forest.is_displayed() and heat.is_displayed()
    values = [t.text for t in browser.find_elements(By.CSS_SELECTOR, "#prevalence-forest text.value")]
    assert values[0].startswith("47.1% (45.")  # Wilson interval of 1125 / 2390 (test_definitions_view.py)
    cells = [t.text for t in browser.find_elements(By.CSS_SELECTOR, "#kappa-heatmap g.cell text")]
    assert sorted(cells) == sorted(["0.18", "0.18", "0.85", "0.85", "supp.", "supp."])
    assert HOSTILE in browser.find_element(By.ID, "prevalence").text  # a name shown as text, not markup
    assert not browser.find_elements(By.CSS_SELECTOR, "#prevalence i")
    browser.save_screenshot(str(shots / "definitions.png"))
    assert not csp_violations(browser)
    log_in(browser, live_server)  # a result without a comparison: the empty state
    browser.get(f"{live_server}/definitions")
    assert "trdpath compare" in browser.find_element(By.ID, "definitions-empty").text
    browser.save_screenshot(str(shots / "definitions-empty.png"))
