"""The worklist view: filters by team, service and stage (combined), sorts and pages, in DuckDB, on the hand-made
worklist of tests/serve/handmade.py (orders worked out by hand below); and an attacker's parameters."""

from __future__ import annotations

import shutil
from urllib.parse import quote, urlencode

import lxml.html
import pandas as pd
import pytest
from starlette.testclient import TestClient

from serve.handmade import HOSTILE_ID, HOSTILE_TEAM
from trdpath.serve.app import create_app
from trdpath.serve.worklist import PAGE_SIZE

SECRET = "test-token-0123456789abcdef"


def client(folder, patient_level: bool = True) -> TestClient:
    c = TestClient(create_app(folder, secret=SECRET, patient_level=patient_level, warm=False), base_url="http://127.0.0.1")
    c.get(f"/?token={SECRET}", follow_redirects=False)
    return c


@pytest.fixture(scope="module")
def app_client(handmade_result):
    return client(handmade_result)


def listed(c: TestClient, **params) -> list[str]:
    response = c.get("/worklist?" + urlencode(params))
    assert response.status_code == 200, response.text[-600:]
    tree = lxml.html.fromstring(response.text)
    return [a.text_content() for a in tree.xpath("//table[@id='worklist']//tbody/tr/td[2]/a")]


@pytest.mark.parametrize(("params", "expected"), [
    # priority ascending, ties by stage (TRD first) then id: P1 and P2 (1, TRD), P4 (4), P3 (5).
    ({}, ["P1", "P2", HOSTILE_ID, "P3"]),
    ({"team": "CMHT North"}, ["P1", "P3"]),
    ({"team": "CMHT North", "stage": "0"}, ["P3"]),
    ({"team": "CMHT North", "stage": "1"}, []),
    ({"service": "(none recorded)"}, ["P3"]),
    ({"service": "inpatient", "team": HOSTILE_TEAM}, ["P2"]),
    ({"stage": "TRD", "sort": "team"}, ["P2", "P1"]),  # "<script..." sorts before "CMHT North" ('<' < 'C')
    # longest since contact first, no contact recorded (P3) counting as longest: P3, P2 200, P4 35, P1 20 days.
    ({"sort": "contact"}, ["P3", "P2", HOSTILE_ID, "P1"]),
    ({"sort": "stage"}, ["P1", "P2", HOSTILE_ID, "P3"]),
    ({"sort": "patient"}, [HOSTILE_ID, "P1", "P2", "P3"]),  # '<' sorts before 'P'
])
def test_filters_and_sorts(app_client, params, expected):
    assert listed(app_client, **params) == expected


def test_each_patient_links_to_its_page(app_client):
    response = app_client.get("/worklist")
    tree = lxml.html.fromstring(response.text)
    hrefs = tree.xpath("//table[@id='worklist']//tbody/tr/td[2]/a/@href")
    assert f"/patients/{quote(HOSTILE_ID, safe='/')}" in hrefs
    for href in hrefs:
        assert app_client.get(href).status_code == 200


@pytest.mark.parametrize("query", [
    "teams=CMHT%20North",                       # unknown parameter
    "team=Nobody",                              # a team not on the worklist
    "team=CMHT%20North'%20OR%20'1'='1",         # SQL in a value: refused before any query
    "stage=3",
    "service=community%3B%20DROP%20TABLE%20worklist",
    "sort=priority%20DESC",
    "sort=patient_id",
    "page=0", "page=-1", "page=abc", "page=99999999999",
    "team=CMHT%20North&team=Ward%203",          # a parameter twice
])
def test_unknown_parameters_and_values_are_refused_clearly(app_client, query):
    response = app_client.get(f"/worklist?{query}")
    assert response.status_code == 400
    tree = lxml.html.fromstring(response.text)
    message = tree.xpath("//*[@id='worklist-error']")[0].text_content()
    assert message and not tree.xpath("//table[@id='worklist']")  # the reason, and no rows


def test_a_refused_value_is_echoed_as_text(app_client):
    response = app_client.get("/worklist?" + urlencode({"team": "<img src=x onerror=alert(1)>"}))
    assert response.status_code == 400
    assert "<img src=x" not in response.text and "&lt;img src=x onerror=alert(1)&gt;" in response.text


def test_the_hostile_team_is_an_escaped_option(app_client):
    text = app_client.get("/worklist").text
    assert HOSTILE_TEAM not in text
    assert '<option value="&lt;script&gt;alert(&#39;team&#39;)&lt;/script&gt;">' in text


def test_pages(handmade_result, tmp_path):
    """250 rows: pages of PAGE_SIZE (100), 100 + 100 + 50, in priority order across pages."""
    copy = tmp_path / "results"
    shutil.copytree(handmade_result, copy)
    frame = pd.read_csv(copy / "worklist.csv", dtype=str, keep_default_na=False)
    big = pd.concat([frame.iloc[[0]]] * 250, ignore_index=True)
    big["patient_id"] = [f"Q{i:04d}" for i in range(250)]
    big["priority"] = [str(1 + i % 5) for i in range(250)]
    big.to_csv(copy / "worklist.csv", index=False)
    c = client(copy)
    pages = [listed(c, page=str(k)) for k in (1, 2, 3)]
    assert [len(p) for p in pages] == [PAGE_SIZE, PAGE_SIZE, 50]
    everyone = pages[0] + pages[1] + pages[2]
    # Priority 1 are Q0000, Q0005, ... (i % 5 == 0): 50 of them, then the 50 of priority 2, ...
    assert everyone == [f"Q{i:04d}" for k in range(5) for i in range(250) if i % 5 == k]
    assert listed(c, page="4") == []
    assert "page 2 of 3" in c.get("/worklist?page=2").text


def test_patient_level_only_and_missing_worklist(handmade_result, tmp_path):
    refused = client(handmade_result, patient_level=False).get("/worklist?team=CMHT%20North")
    assert refused.status_code == 403 and "P1" not in refused.text
    copy = tmp_path / "results"
    shutil.copytree(handmade_result, copy)
    (copy / "worklist.csv").unlink()
    assert "has no worklist" in client(copy).get("/worklist").text
