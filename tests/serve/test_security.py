"""The server as an attacker meets it: no token, a forged POST, another site, a hostile text, a foreign Host."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient

SECRET = "test-token-0123456789abcdef"  # the same as conftest.SECRET
from trdpath.serve.app import create_app
from trdpath.serve.security import CSP


@pytest.fixture(scope="module")
def app(result_folder):
    return create_app(result_folder, secret=SECRET, warm=False)


def client(app, **kwargs):
    return TestClient(app, base_url="http://127.0.0.1", **kwargs)


def logged_in(app):
    c = client(app)
    assert c.get(f"/?token={SECRET}", follow_redirects=False).status_code == 303
    return c


@pytest.mark.parametrize("path", ["/", "/tables", "/tables?sex=male", "/pathways", "/definitions", "/worklist",
                                  "/patients/P0000001"])
def test_no_token_is_401_and_shows_no_number(app, path):
    response = client(app).get(path)
    assert response.status_code == 401
    assert 'id="n-trd"' not in response.text and "<table" not in response.text


def test_a_wrong_token_is_refused_and_opens_no_session(app):
    c = client(app)
    assert c.get("/?token=guess", follow_redirects=False).status_code == 401
    assert c.get("/").status_code == 401


def test_the_token_link_opens_a_session_and_drops_the_token_from_the_address(app):
    c = client(app)
    response = c.get(f"/tables?sex=male&token={SECRET}", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/tables?sex=male"
    cookie = response.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie
    assert c.get("/").status_code == 200


def test_login_form_needs_the_csrf_token_of_the_session(app):
    c = client(app)
    page = c.get("/login")
    csrf = page.text.split('name="csrf_token" value="')[1].split('"')[0]
    assert c.post("/login", data={"token": SECRET}).status_code == 403  # forged: no CSRF token
    assert c.post("/login", data={"token": SECRET, "csrf_token": "x" * len(csrf)}).status_code == 403
    assert c.post("/login", data={"token": "wrong", "csrf_token": csrf}).status_code == 401
    response = c.post("/login", data={"token": SECRET, "csrf_token": csrf}, follow_redirects=False)
    assert response.status_code == 303
    assert c.get("/").status_code == 200


def test_a_forged_post_from_a_logged_in_browser_is_refused(app):
    c = logged_in(app)
    assert c.post("/logout").status_code == 403  # no CSRF token
    csrf = c.get("/").text.split('name="csrf_token" value="')[1].split('"')[0]
    assert c.post("/logout", data={"csrf_token": csrf}, headers={"Origin": "http://evil.example"}).status_code == 403
    assert c.post("/logout", data={"csrf_token": csrf}, headers={"Origin": "null"}).status_code == 403
    assert c.get("/").status_code == 200  # still logged in: nothing was changed
    assert c.post("/logout", data={"csrf_token": csrf}, follow_redirects=False).status_code == 303
    assert c.get("/").status_code == 401


def test_every_response_carries_the_security_headers(app):
    c = logged_in(app)
    for path in ("/", "/tables", "/login", "/static/app.css", "/nowhere"):
        response = c.get(path)
        assert response.headers["content-security-policy"] == CSP
        assert "'unsafe-inline'" not in CSP and "http" not in CSP
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["x-content-type-options"] == "nosniff"


def test_a_foreign_host_header_is_refused(app):
    """DNS rebinding: a page on another name that resolves to 127.0.0.1 gets nothing."""
    response = TestClient(app, base_url="http://evil.example").get(f"/?token={SECRET}")
    assert response.status_code == 400


def test_hostile_text_is_inert(app):
    c = logged_in(app)
    page = c.get("/pathways").text
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<script" not in page.replace('<script src="/static/app.js" defer></script>', "")


def test_patient_level_views_need_the_switch(app, result_folder):
    c = logged_in(app)
    assert c.get("/worklist").status_code == 403
    assert c.get("/patients/P0000001").status_code == 403
    on = create_app(result_folder, secret=SECRET, warm=False, patient_level=True)
    c2 = logged_in(on)
    page = c2.get("/patients/P0000001")
    assert page.status_code == 200 and 'id="patient-level-banner"' in page.text
    hostile = c2.get("/patients/%3Cimg%20src%3Dx%20onerror%3Dalert(2)%3E")
    assert hostile.status_code == 200 and "<img src=x" not in hostile.text and "&lt;img src=x" in hostile.text


def test_no_password_is_shown(app):
    page = logged_in(app).get("/").text
    assert "hunter2" not in page and "postgresql://alice:***@db/cdm" in page


@pytest.mark.parametrize("query", ["sex=male&age_band=65%2B", "sex=robot", "nonsense=1", "episode_year=1850",
                                   "sex=male%27%20OR%201%3D1--"])
def test_filters_outside_their_lists_are_a_400_with_a_message(app, query):
    response = logged_in(app).get(f"/tables?{query}")
    assert response.status_code == 400 and 'id="filter-error"' in response.text
