"""The patient page's treatment timeline against the hand-made extract (tests/serve/handmade.py): every date
on the page equals both the hand-worked value and what the pipeline wrote (pathway_steps, patients.parquet)."""

from __future__ import annotations

import re
import shutil
from html import escape
from urllib.parse import quote

import pandas as pd
import pytest
import lxml.html
from starlette.testclient import TestClient

from serve.handmade import (EXPECTED_ADEQUACY, EXPECTED_KEY_DATES, EXPECTED_REFERRALS, HOSTILE_ID, HOSTILE_TEAM, IDS)
from trdpath import layout
from trdpath.serve.app import create_app
from trdpath.serve.security import CSP

SECRET = "test-token-0123456789abcdef"


def client(folder, patient_level: bool = True) -> TestClient:
    c = TestClient(create_app(folder, secret=SECRET, patient_level=patient_level, warm=False), base_url="http://127.0.0.1")
    assert c.get(f"/?token={SECRET}", follow_redirects=False).status_code == 303
    return c


@pytest.fixture(scope="module")
def app_client(handmade_result):
    return client(handmade_result)


class Page:
    """An HTML page queried with lxml (XPath): by id, and by class (one class name among several)."""

    def __init__(self, text: str):
        self.tree = lxml.html.fromstring(text)

    def find(self, id: str):  # noqa: A002
        found = self.tree.xpath(f"//*[@id='{id}']")
        return found[0] if found else None

    def text(self, id: str) -> str:
        return " ".join(self.find(id).text_content().split())

    def by_class(self, name: str, under=None) -> list:
        return (under if under is not None else self.tree).xpath(
            f".//*[contains(concat(' ', normalize-space(@class), ' '), ' {name} ')]")

    def rows(self, id: str) -> list[list[str]]:
        return [[td.text_content().strip() for td in tr.xpath("./td")] for tr in self.find(id).xpath(".//tbody/tr")]


def patient_page(c: TestClient, pid: str) -> Page:
    response = c.get(f"/patients/{quote(pid, safe='')}")
    assert response.status_code == 200, response.text[:300]
    return Page(response.text)


def independent_t1_t2(steps: pd.DataFrame) -> dict[str, tuple[str, str]]:
    """T1 and T2 by a second route: per patient, the two smallest adequacy dates of antidepressants."""
    ad = steps[(steps["role"] == "antidepressant") & steps["adequacy_date"].notna()]
    out = {}
    for pid, group in ad.groupby("patient_id"):
        dates = sorted(pd.to_datetime(group["adequacy_date"]).dt.date.astype(str))
        out[pid] = (dates[0], dates[1] if len(dates) > 1 else "none")
    return out


@pytest.mark.parametrize("pid", IDS)
def test_key_dates_equal_the_hand_worked_and_the_pipeline(app_client, handmade_result, pid):
    page = patient_page(app_client, pid)
    shown = tuple(page.text(i) for i in ("date-t1", "date-t2", "date-trd"))
    assert shown == EXPECTED_KEY_DATES[pid]
    patients = pd.read_parquet(handmade_result / layout.PATIENTS_PARQUET).set_index("patient_id")
    steps = pd.read_parquet(handmade_result / layout.PATHWAY_STEPS_PARQUET)
    t1, t2 = independent_t1_t2(steps).get(pid, ("none", "none"))
    trd = patients.at[pid, "trd_date"]
    assert shown == (t1, t2, "none" if trd is None or pd.isna(trd) else str(trd))
    assert page.text("date-episode-start") == str(patients.at[pid, "episode_start"])
    # The chart's marker lines carry the same dates.
    for key, value in zip(("t1", "t2", "trd"), shown):
        marker = page.by_class(f"marker-{key}", page.find("timeline"))
        assert (marker[0].get("data-date") if marker else "none") == value


@pytest.mark.parametrize("pid", IDS)
def test_every_step_of_pathway_steps_is_drawn_and_listed(app_client, handmade_result, pid):
    page = patient_page(app_client, pid)
    steps = pd.read_parquet(handmade_result / layout.PATHWAY_STEPS_PARQUET)
    mine = steps[steps["patient_id"] == pid].sort_values("position")

    def day(v):
        return "none" if v is None or pd.isna(v) else str(v)

    bars = page.by_class("step", page.find("timeline"))
    assert [(g.get("data-drug"), g.get("data-start"), g.get("data-end"), g.get("data-adequacy"),
             g.get("data-adequacy-date")) for g in bars] == [
        (r.drug, day(r.start_date), day(r.first_era_end), r.adequacy, day(r.adequacy_date)) for r in mine.itertuples()]
    rows = page.rows("timeline-steps") if mine.shape[0] else []
    assert [(r[2], r[3], r[6], r[7]) for r in rows] == [
        (r.drug, r.step, r.adequacy, "" if r.adequacy_date is None or pd.isna(r.adequacy_date) else str(r.adequacy_date))
        for r in mine.itertuples()]
    for (patient, drug), date in EXPECTED_ADEQUACY.items():
        if patient == pid:
            assert [g.get("data-adequacy-date") for g in bars if g.get("data-drug") == drug] == [date]


def test_the_drawing_is_to_scale(app_client):
    """P1 by hand: sertraline's adequacy diamond is T1; bars are in date order; 28 days = 28 days."""
    page = patient_page(app_client, "P1")
    bars = page.by_class("step", page.find("timeline"))
    xs = [float(g.xpath("./rect")[0].get("x")) for g in bars]
    assert xs == sorted(xs) and len(set(xs)) == 3
    diamond_x = [float(re.match(r"M([\d.]+),", page.by_class("adequacy-mark", g)[0].get("d")).group(1)) for g in bars]
    t1_x = float(page.by_class("marker-t1")[0].xpath("./line")[0].get("x1"))
    assert diamond_x[0] == t1_x
    # start -> adequacy is 28 days for all three drugs, so the same width on screen (to the rounding of 0.1 px).
    assert max(d - x for d, x in zip(diamond_x, xs)) - min(d - x for d, x in zip(diamond_x, xs)) <= 0.2


def test_pattern_and_words_not_colour_alone(app_client):
    page = patient_page(app_client, "P2")
    groups = page.by_class("step", page.find("timeline"))
    words = [page.by_class("state-label", g)[0].text_content() for g in groups]
    assert words == ["adequate", "adequate", "not judged"]
    p3page = patient_page(app_client, "P3")
    p3 = p3page.by_class("step", p3page.find("timeline"))[0]
    assert p3.xpath("./rect")[0].get("fill") == "url(#hatch)" and p3page.by_class("state-label", p3)[0].text_content() == "inadequate"
    legend = page.text("timeline-legend")
    for phrase in ("solid bar", "hatched bar", "dotted outline", "diamond", "dashed = episode start"):
        assert phrase in legend


def test_referrals_notes_and_worklist_reasons(app_client):
    page = patient_page(app_client, "P1")
    referrals = {service: int(n) for service, n in page.rows("referrals")}
    for service, n in EXPECTED_REFERRALS["P1"].items():
        assert referrals[service] == n
    assert sum(referrals.values()) == 3  # the three hand-made referrals, no more
    flags = page.text("note-flags")
    assert "yes: self-harm mentioned" in flags  # the note "She disclosed self-harm last week"
    assert page.text("worklist-reasons") == "reasons for P1"
    p2 = patient_page(app_client, "P2")
    assert "no: self-harm mentioned" in p2.text("note-flags")  # "No thoughts of self-harm": negated


def test_hostile_identifier_and_team_are_text(app_client):
    response = app_client.get(f"/patients/{quote(HOSTILE_ID, safe='')}")
    assert response.status_code == 200
    assert HOSTILE_ID not in response.text and escape(HOSTILE_ID) in response.text
    assert response.headers["content-security-policy"] == CSP
    assert ' style="' not in response.text  # no inline style: the CSP would drop it
    p2 = app_client.get("/patients/P2").text
    assert HOSTILE_TEAM not in p2 and "&lt;script&gt;alert(&#39;team&#39;)&lt;/script&gt;" in p2


def test_access_rules(handmade_result):
    off = client(handmade_result, patient_level=False)
    refused = off.get("/patients/P1")
    assert refused.status_code == 403 and "2020-05-01" not in refused.text
    on = client(handmade_result)
    assert on.get("/patients/P9").status_code == 404
    anonymous = TestClient(create_app(handmade_result, secret=SECRET, patient_level=True, warm=False),
                           base_url="http://127.0.0.1")
    assert anonymous.get("/patients/P1").status_code == 401


def test_result_without_pathway_steps(handmade_result, tmp_path):
    copy = tmp_path / "results"
    shutil.copytree(handmade_result, copy)
    for name in (layout.PATHWAY_STEPS_CSV, layout.PATHWAY_STEPS_PARQUET):
        (copy / name).unlink()
    page = patient_page(client(copy), "P1")
    assert "no pathway steps" in page.text("no-steps")
    assert page.text("date-trd") == "2020-05-01"  # still from patients.parquet
