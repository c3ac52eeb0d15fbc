"""`trdpath serve --results OUT --project study.qual`: the coding app mounted at /coding/ of the results app,
with its own accounts: the results token opens no coding page and a coding account opens no result page."""

from __future__ import annotations

import re

from starlette.testclient import TestClient

from trdpath.qualitative import team
from trdpath.qualitative.coding import add_transcript, get_code
from trdpath.qualitative.store import create_project
from trdpath.qualitative.transcripts import ParsedTranscript

from .conftest import SECRET

PASSWORD = "correct horse battery"


def test_coding_mounted_beside_the_results(result_folder, tmp_path):
    from trdpath.serve.app import create_app
    from trdpath.serve.coding import create_coding_app

    project = create_project(tmp_path / "p.qual", "mounted")
    with project.transaction("setup") as s:
        add_transcript(s, ParsedTranscript(name="P1", text="P1: hope <script>x</script>\n", turns=[], source_format="txt"))
        get_code(s, ["Hope"])
    team.add_account(project, "lead", PASSWORD, "lead")
    app = create_app(result_folder, secret=SECRET, warm=False, coding=create_coding_app(project))
    c = TestClient(app, base_url="http://127.0.0.1:8765", follow_redirects=False)

    # The results token opens the results, not the coding app.
    assert c.get(f"/?token={SECRET}").status_code == 303
    overview = c.get("/")
    assert overview.status_code == 200 and 'href="/coding/"' in overview.text  # the nav entry
    r = c.get("/coding/")
    assert r.status_code == 303 and r.headers["location"] == "/coding/login"

    # A coding account: its pages, links and static files under /coding/.
    fresh = TestClient(app, base_url="http://127.0.0.1:8765", follow_redirects=False)
    page = fresh.get("/coding/login")
    assert page.status_code == 200 and 'action="/coding/login"' in page.text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    r = fresh.post("/coding/login", data={"csrf_token": token, "name": "lead", "password": PASSWORD})
    assert r.status_code == 303 and r.headers["location"] == "/coding/"
    home = fresh.get("/coding/")
    assert home.status_code == 200 and 'href="/coding/documents/1"' in home.text
    assert "&lt;script&gt;" not in home.text  # (the transcript is only on its own page)
    doc = fresh.get("/coding/documents/1")
    assert doc.status_code == 200 and "hope &lt;script&gt;x&lt;/script&gt;" in doc.text
    assert fresh.get("/coding/static/coding.js").status_code == 200
    # ...and no result page: the coding session is not the results session.
    assert fresh.get("/tables").status_code == 401
    project.close()
