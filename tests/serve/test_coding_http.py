"""The coding app's security over HTTP, as an attacker would try it: no session, no or a wrong CSRF token,
another site's Origin, a rebinding Host, cookie flags, a new session at login, login throttling, bad offsets,
an open redirect through a memo's `next`, a path out of /static, and `qual serve` binding this machine only."""

from __future__ import annotations

import base64
import json
import re

import pytest
from sqlalchemy import select
from starlette.testclient import TestClient

from trdpath.qualitative import models as m
from trdpath.qualitative import team
from trdpath.qualitative.coding import add_transcript, get_code
from trdpath.qualitative.store import create_project, open_project
from trdpath.qualitative.transcripts import ParsedTranscript
from trdpath.serve.coding import create_coding_app

PASSWORD = "correct horse battery"
TEXT = "P1: I hope it gets better.\n"


@pytest.fixture(scope="module")
def project_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("http") / "p.qual"
    project = create_project(path, "p")
    with project.transaction("setup") as s:
        add_transcript(s, ParsedTranscript(name="P1", text=TEXT, turns=[], source_format="txt"))
        get_code(s, ["Hope"])
    team.add_account(project, "lead", PASSWORD, "lead")
    team.add_account(project, "alice", PASSWORD, "coder")
    project.close()
    return path


def client(project_path, **kw) -> TestClient:
    return TestClient(create_coding_app(project_path, **kw), base_url="http://127.0.0.1:8766", follow_redirects=False)


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def logged_in(c: TestClient, name: str = "alice") -> str:
    token = csrf_of(c.get("/login").text)
    r = c.post("/login", data={"csrf_token": token, "name": name, "password": PASSWORD})
    assert r.status_code == 303, r.text
    return csrf_of(c.get("/").text)


def session_of(c: TestClient) -> dict:
    value = c.cookies.get("trdpath_coding").split(".")[0]
    return json.loads(base64.b64decode(value + "=" * (-len(value) % 4)))


def stored(project_path) -> list[tuple]:
    with open_project(project_path) as project, project.reading() as s:
        return [(x.start, x.end) for x in s.scalars(select(m.Segment))]


def test_headers_and_no_access_without_a_session(project_path):
    c = client(project_path)
    r = c.get("/")
    assert r.status_code == 303 and r.headers["location"] == "/login"
    page = c.get("/login")
    csp = page.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert page.headers["x-frame-options"] == "DENY" and page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["cache-control"] == "no-store" and page.headers["referrer-policy"] == "same-origin"
    cookie = page.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie and "secure" not in cookie
    secure = client(project_path, https=True).get("/login").headers["set-cookie"].lower()
    assert "secure" in secure
    # A POST with the login page's token but no account: refused, nothing stored.
    r = c.post("/documents/1/code", data={"csrf_token": csrf_of(page.text), "start": 0, "end": 4, "code_id": 1})
    assert r.status_code == 401 and stored(project_path) == []
    assert c.get("/documents/1").status_code == 303


def test_csrf_origin_and_host_checks(project_path):
    c = client(project_path)
    token = logged_in(c)
    form = {"start": "4", "end": "8", "code_id": "1"}
    assert c.post("/documents/1/code", data=form).status_code == 403  # no token
    assert c.post("/documents/1/code", data={**form, "csrf_token": "x" + token}).status_code == 403
    assert c.post("/documents/1/code", data={**form, "csrf_token": token},
                  headers={"Origin": "http://evil.example"}).status_code == 403
    assert c.post("/documents/1/code", data={**form, "csrf_token": token}, headers={"Origin": "null"}).status_code == 403
    assert stored(project_path) == []
    # A page on another name that resolves here (DNS rebinding) is not answered.
    assert c.get("/", headers={"Host": "evil.example"}).status_code == 400
    ok = c.post("/documents/1/code", data={**form, "csrf_token": token}, headers={"Origin": "http://127.0.0.1:8766"})
    assert ok.status_code == 303 and TEXT[4:8] == "I ho" and (4, 8) in stored(project_path)


def test_a_new_session_at_login_and_an_ended_one_at_logout(project_path):
    c = client(project_path)
    c.get("/login")
    before = session_of(c)
    logged_in(c)
    after = session_of(c)
    assert "sid" not in before and after["sid"] and after["csrf"] != before["csrf"]
    old = dict(c.cookies)
    c.post("/logout", data={"csrf_token": after["csrf"]})
    replay = TestClient(c.app, base_url="http://127.0.0.1:8766", follow_redirects=False, cookies=old)
    assert replay.get("/").status_code == 303  # the server forgot the session id


def test_login_is_throttled_per_name(project_path):
    c = client(project_path, limiter=team.LoginLimiter(attempts=5, window=600))
    token = csrf_of(c.get("/login").text)
    for _ in range(5):
        assert c.post("/login", data={"csrf_token": token, "name": "lead", "password": "guess-guess-guess"}).status_code == 401
    r = c.post("/login", data={"csrf_token": token, "name": "lead", "password": PASSWORD})
    assert r.status_code == 429 and "Too many failed logins" in r.text


@pytest.mark.parametrize("start, end", [("a", "3"), ("5", "2"), ("0", "9999"), ("-1", "3"), ("", "")])
def test_bad_offsets_are_a_message_and_change_nothing(project_path, start, end):
    c = client(project_path)
    token = logged_in(c)
    before = stored(project_path)
    r = c.post("/documents/1/code", data={"csrf_token": token, "start": start, "end": end, "code_id": "1"})
    assert r.status_code == 400 and 'id="message"' in r.text
    assert stored(project_path) == before


def test_no_open_redirect_and_no_path_out_of_static(project_path):
    c = client(project_path)
    token = logged_in(c)
    r = c.post("/memos", data={"csrf_token": token, "target": "document", "target_id": "1", "text": "note",
                               "next": "//evil.example/x"})
    assert r.status_code == 303 and r.headers["location"] == "/"
    for path in ("/static/../app.py", "/static/%2e%2e/app.py", "/static/..%2fcoding/app.py"):
        assert c.get(path).status_code == 404
    assert c.get("/static/coding.js").status_code == 200


def test_qual_serve_binds_this_machine_and_needs_a_lead(project_path, tmp_path, monkeypatch):
    import uvicorn
    from typer.testing import CliRunner

    from trdpath.qualitative.cli import app

    calls = []
    monkeypatch.setattr(uvicorn, "run", lambda app_, **kw: calls.append(kw))
    result = CliRunner().invoke(app, ["serve", str(project_path)])
    assert result.exit_code == 0 and calls[0]["host"] == "127.0.0.1"
    empty = create_project(tmp_path / "empty.qual", "empty")
    empty.close()
    result = CliRunner().invoke(app, ["serve", str(tmp_path / "empty.qual")])
    assert result.exit_code != 0 and "no lead account" in str(result.exception or result.output)


@pytest.fixture(params=["sqlite", "postgresql"])
def team_location(request, tmp_path):
    """A project file, or a throw-away database on the test PostgreSQL server (dropped afterwards)."""
    import os
    import uuid

    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    if request.param == "sqlite":
        yield str(tmp_path / "team.qual")
        return
    url = os.environ.get("TRDPATH_TEST_POSTGRES_URL")
    if not url:
        pytest.skip("set TRDPATH_TEST_POSTGRES_URL to a PostgreSQL server")
    name = f"trdpath_web_{uuid.uuid4().hex[:10]}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    yield make_url(url).set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def test_five_coders_at_once_over_http(team_location):
    """The team server on SQLite and on PostgreSQL: five logged-in coders post 6 codings each at the same time
    (their own words, plus one span all of them code); nothing lost, nothing doubled."""
    import threading

    body = "P1: " + " ".join(f"w{i:02d}" for i in range(40)) + "\n"
    project = create_project(team_location, "team")
    with project.transaction("setup") as s:
        add_transcript(s, ParsedTranscript(name="P1", text=body, turns=[], source_format="txt"))
        get_code(s, ["Hope"])
    names = [f"coder{i}" for i in range(5)]
    for name in names:
        team.add_account(project, name, PASSWORD, "coder")
    app = create_coding_app(project)
    clients = {}
    for name in names:
        c = TestClient(app, base_url="http://127.0.0.1:8766", follow_redirects=False)
        token = csrf_of(c.get("/login").text)
        assert c.post("/login", data={"csrf_token": token, "name": name, "password": PASSWORD}).status_code == 303
        clients[name] = (c, csrf_of(c.get("/").text))
    barrier, errors = threading.Barrier(5), []

    def work(k: int, name: str):
        c, token = clients[name]
        try:
            barrier.wait()
            for j in range(5):
                word = 4 + 4 * (5 * k + j)  # "wNN" of this coder: words 5k..5k+4
                r = c.post("/documents/1/code", data={"csrf_token": token, "start": word, "end": word + 3, "code_id": 1})
                assert r.status_code == 303, r.text
            r = c.post("/documents/1/code", data={"csrf_token": token, "start": 4, "end": 7, "code_id": 1})
            assert r.status_code == 303, r.text
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(k, n)) for k, n in enumerate(names)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with project.reading() as s:
        rows = s.execute(select(m.Coder.name, m.Segment.start, m.Segment.end).join(m.Coder)).all()
    # 5 coders x 5 own words + each coder's coding of w00 (coder0's w00 is one of its own: 4 new, 1 the same).
    assert len(rows) == 25 + 4 and len(set(rows)) == len(rows)
    assert {body[a:b] for _, a, b in rows} == {f"w{i:02d}" for i in range(25)}
    project.close()
