"""The coding app end to end in Debian's Chromium (selenium + chromedriver, nothing downloaded): code a hostile
transcript by mouse and keyboard, two coders at once, roles, CSRF, a blind round with its agreement and a
consensus, an accepted suggestion, login throttling, logout and another project's accounts. Offsets stored are
checked against the text with Python's own indexing (code points); screenshots go to TRDPATH_SCREENSHOTS."""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from trdpath.qualitative import models as m
from trdpath.qualitative import team
from trdpath.qualitative.coding import add_transcript, get_code
from trdpath.qualitative.store import create_project, open_project
from trdpath.qualitative.transcripts import ParsedTranscript, ParsedTurn
from support.browser import next_page

# The tests are one coding session told in order (log in, code, blind round, suggestions, codebook edits) on
# one module-scoped server and browsers: under xdist they must run in file order on one worker.
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("coding_browser")]

PASSWORD = "correct horse battery"
# A transcript a hostile interviewee (or a hostile file) could bring: markup, script, template syntax, and an
# emoji and CJK before the coded words so code points and the browser's UTF-16 positions differ.
QUESTION_1 = "How have things been?"
ANSWER_1 = ('<script>alert("x")</script> I felt \U0001F600 hopeful when the new 精神科医 psychiatrist listened. '
            '<img src=x onerror=alert(2)> {{7*7}} Nothing changed for months and I could not sleep at night.')
QUESTION_2 = "And now?"
ANSWER_2 = "Now I sleep at night a little better, and I feel hopeful again."
BODY = f"Interviewer: {QUESTION_1}\nP1: {ANSWER_1}\nInterviewer: {QUESTION_2}\nP1: {ANSWER_2}\n"
HOSTILE_CODE = '<b onmouseover="alert(5)">bold</b>'


def _turns(body: str) -> list[ParsedTurn]:
    out, pos = [], 0
    for line in body.splitlines(keepends=True):
        speaker, _, said = line.partition(": ")
        start = pos + len(speaker) + 2
        out.append(ParsedTurn(speaker, start, start + len(said.rstrip("\n"))))
        pos += len(line)
    return out


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _serve(app):
    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=_port(), log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(200):
        if server.started:
            break
        time.sleep(0.05)
    return server, thread, f"http://127.0.0.1:{server.config.port}"


@pytest.fixture(scope="module")
def project_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("coding") / "hostile.qual"
    project = create_project(path, "Hostile <script>alert(0)</script> project")
    with project.transaction("setup") as s:
        add_transcript(s, ParsedTranscript(name="P1", text=BODY, turns=_turns(BODY), source_format="txt"))
        add_transcript(s, ParsedTranscript(name="C1 <img src=x onerror=alert(4)>", text="C1: We talk about hope a lot.\n",
                                           turns=[ParsedTurn("C1", 4, 29)], source_format="txt"))
        for name in ("Hope", "Sleep", HOSTILE_CODE):
            get_code(s, [name]).color = "#1f77b4" if name == "Hope" else None
        participant = s.scalar(select(m.Participant).where(m.Participant.label == "P1"))
        participant.attributes.append(m.ParticipantAttribute(name="note", value="<i>x</i><script>alert(6)</script>"))
    for name, role in (("lead", "lead"), ("alice", "coder"), ("bob", "coder"), ("vic", "viewer")):
        team.add_account(project, name, PASSWORD, role)
    project.close()
    return path


@pytest.fixture(scope="module")
def server(project_path):
    from trdpath.serve.coding import create_coding_app

    server, thread, url = _serve(create_coding_app(project_path))
    yield url
    server.should_exit = True
    thread.join(timeout=5)


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> Path:
    folder = os.environ.get("TRDPATH_SCREENSHOTS")
    path = Path(folder) if folder else tmp_path_factory.mktemp("coding-shots")
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="module")
def browsers():
    """Chromium instances on demand (each its own cookie jar: a different person)."""
    browser, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if not (browser and driver):
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail("CI=true but Debian's chromium and chromium-driver are not installed", pytrace=False)
        pytest.skip("Debian's chromium and chromium-driver are not installed (scripts/install-system.sh)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    made = {}

    def get(name: str):
        if name not in made:
            options = webdriver.ChromeOptions()
            options.binary_location = browser
            for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                         "--window-size=1400,1100"):
                options.add_argument(flag)
            made[name] = webdriver.Chrome(service=Service(executable_path=driver), options=options)
        return made[name]

    yield get
    for d in made.values():
        d.quit()


def _by():
    from selenium.webdriver.common.by import By

    return By


def login(driver, url: str, name: str, password: str = PASSWORD, expect_ok: bool = True) -> None:
    By = _by()
    driver.get(f"{url}/login")
    driver.find_element(By.NAME, "name").send_keys(name)
    driver.find_element(By.NAME, "password").send_keys(password)
    click_and_wait(driver, driver.find_element(By.CSS_SELECTOR, "#login-form button"))  # the answer, not the old page
    if expect_ok:
        assert driver.find_element(By.ID, "who").text.startswith(name)


def no_alert(driver) -> None:
    from selenium.common.exceptions import NoAlertPresentException

    with pytest.raises(NoAlertPresentException):
        driver.switch_to.alert.text  # noqa: B018


SELECT_JS = """
// Select the n-th occurrence of a string in the transcript, across piece boundaries, as a mouse drag would.
const [word, nth] = arguments; const root = document.getElementById('transcript');
const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT); const nodes = []; let all = '';
while (walker.nextNode()) { nodes.push([walker.currentNode, all.length]); all += walker.currentNode.data; }
let at = -1; for (let i = 0; i <= nth; i++) { at = all.indexOf(word, at + 1); }
const locate = (pos) => { for (const [n, s] of nodes) { if (pos <= s + n.data.length) return [n, pos - s]; } };
const r = document.createRange(); const a = locate(at), b = locate(at + word.length);
r.setStart(a[0], a[1]); r.setEnd(b[0], b[1]);
const sel = window.getSelection(); sel.removeAllRanges(); sel.addRange(r);
root.dispatchEvent(new MouseEvent('mouseup', {bubbles: true}));
return [document.getElementById('start').value, document.getElementById('end').value];
"""


def click_and_wait(driver, element) -> None:
    """Click a submit button and wait for the next page (the store is read after the POST has finished)."""
    with next_page(driver):
        element.click()


def ids(project_path):
    with open_project(project_path) as project, project.reading() as s:
        docs = {d.name: d.id for d in s.scalars(select(m.Document))}
        codes = {c.name: c.id for c in s.scalars(select(m.Code))}
    return docs, codes


def segments(project_path, coder: str | None = None):
    with open_project(project_path) as project, project.reading() as s:
        query = select(m.Segment).join(m.Coder)
        if coder:
            query = query.where(m.Coder.name == coder)
        return sorted((x.coder.name, x.code.name, x.start, x.end, x.document.text[x.start:x.end])
                      for x in s.scalars(query))


def test_code_a_hostile_transcript_by_mouse_and_keyboard(browsers, server, project_path, shots):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.support.select import Select

    By = _by()
    docs, codes = ids(project_path)
    alice = browsers("alice")
    browsers_url = server
    alice.get(f"{browsers_url}/documents/{docs['P1']}")
    assert "/login" in alice.current_url  # no account: the login page, no transcript
    login(alice, server, "alice")
    no_alert(alice)
    table = alice.find_element(By.ID, "documents").text
    assert "<i>x</i><script>alert(6)</script>" in table and "C1 <img src=x onerror=alert(4)>" in table
    alice.save_screenshot(str(shots / "coding-home.png"))

    alice.get(f"{server}/documents/{docs['P1']}")
    no_alert(alice)
    transcript = alice.find_element(By.ID, "transcript")
    assert transcript.text.strip() == BODY.strip()  # every payload is on screen as text
    assert transcript.find_elements(By.CSS_SELECTOR, "script, img, b") == []  # and none became an element
    assert "Content-Security-Policy" not in alice.page_source  # (headers are checked in test_coding_http.py)

    # A drag over "hopeful", after an emoji (two UTF-16 units, one code point) and CJK.
    start, end = alice.execute_script(SELECT_JS, "hopeful", 0)
    assert BODY[int(start):int(end)] == "hopeful" and int(start) == BODY.index("hopeful")
    assert alice.find_element(By.ID, "selection-preview").text == "hopeful"
    Select(alice.find_element(By.ID, "code-select")).select_by_value(str(codes["Hope"]))
    click_and_wait(alice, alice.find_element(By.ID, "apply-code"))
    assert ("alice", "Hope", BODY.index("hopeful"), BODY.index("hopeful") + 7, "hopeful") in segments(project_path)

    # The keyboard: select, then "2" applies the second code of the list (Sleep).
    alice.execute_script(SELECT_JS, "could not sleep at night", 0)
    with next_page(alice):
        ActionChains(alice).send_keys("2").perform()
    where = BODY.index("could not sleep at night")
    assert ("alice", "Sleep", where, where + 24, "could not sleep at night") in segments(project_path, "alice")

    # A real mouse: double-click the coded word; the browser selects it and the form gets its offsets.
    alice.get(f"{server}/documents/{docs['P1']}")
    coded = [p for p in alice.find_elements(By.CSS_SELECTOR, "#transcript .coded") if p.text == "hopeful"][0]
    ActionChains(alice).double_click(coded).perform()
    assert (int(alice.find_element(By.ID, "start").get_attribute("value")),
            int(alice.find_element(By.ID, "end").get_attribute("value"))) == (BODY.index("hopeful"), BODY.index("hopeful") + 7)
    Select(alice.find_element(By.ID, "code-select")).deselect_all()
    Select(alice.find_element(By.ID, "code-select")).select_by_value(str(codes[HOSTILE_CODE]))
    click_and_wait(alice, alice.find_element(By.ID, "apply-code"))
    no_alert(alice)
    assert ("alice", HOSTILE_CODE, BODY.index("hopeful"), BODY.index("hopeful") + 7, "hopeful") in segments(project_path)
    stripes = alice.find_element(By.ID, "segments").text
    assert HOSTILE_CODE in stripes  # the hostile code name is text

    # A memo on the segment with a script in it: saved, shown as text.
    first = alice.find_element(By.CSS_SELECTOR, "#segments li.stripe")
    first.find_element(By.TAG_NAME, "summary").click()
    first.find_element(By.NAME, "text").send_keys("<script>alert(9)</script> check")
    click_and_wait(alice, first.find_element(By.CSS_SELECTOR, "details button"))
    no_alert(alice)
    assert "Memo: <script>alert(9)</script> check" in alice.find_element(By.ID, "segments").text
    alice.save_screenshot(str(shots / "coding-document.png"))

    # Remove her Sleep coding: gone from the store.
    sleep_item = [li for li in alice.find_elements(By.CSS_SELECTOR, "#segments li.stripe") if "Sleep" in li.text][0]
    click_and_wait(alice, sleep_item.find_element(By.CSS_SELECTOR, "button.remove"))
    assert not [s for s in segments(project_path, "alice") if s[1] == "Sleep"]

    # The code's references page (NVivo: open a node) lists the hopeful coding with its words.
    alice.get(f"{server}/codes/{codes['Hope']}")
    assert "hopeful" in alice.find_element(By.ID, "references").text
    alice.save_screenshot(str(shots / "coding-code.png"))


def test_two_coders_at_once_lose_nothing(browsers, server, project_path):
    By = _by()
    docs, codes = ids(project_path)
    people = {"alice": browsers("alice"), "bob": browsers("bob")}
    login(people["bob"], server, "bob")
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait

    words = {"alice": ["psychiatrist", "listened", "Nothing changed"], "bob": ["a little better", "Now I", "feel"]}
    errors = []

    def work(name):
        try:
            driver = people[name]
            for word in words[name]:
                driver.get(f"{server}/documents/{docs['P1']}")
                try:
                    WebDriverWait(driver, 20).until(EC.presence_of_element_located((By.ID, "apply-code")))
                except TimeoutException:
                    raise AssertionError(f"{name}: not the coding page: {driver.current_url} "
                                         f"{driver.find_element(By.TAG_NAME, 'body').text[:300]!r}") from None
                driver.execute_script(SELECT_JS, word, 0)
                click_and_wait(driver, driver.find_element(By.ID, "apply-code"))  # the first code (Hope) is selected by default
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in people]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    for name in people:
        stored = [s[4] for s in segments(project_path, name) if s[1] == "Hope"]
        for word in words[name]:
            assert stored.count(word) == 1, (name, word)
    # No round: bob sees alice's codings.
    people["bob"].get(f"{server}/documents/{docs['P1']}")
    assert "alice" in people["bob"].find_element(By.ID, "segments").text


def _post(driver, path: str, fields: dict, with_csrf: bool = True) -> int:
    """A POST from the page's own script (same origin, the session cookie), with or without its CSRF token."""
    return driver.execute_async_script("""
        const [path, fields, withCsrf, done] = arguments;
        const body = new URLSearchParams(fields);
        if (withCsrf) body.set('csrf_token', document.querySelector('input[name=csrf_token]').value);
        fetch(path, {method: 'POST', body: body, redirect: 'manual'}).then(r => done(r.status));
    """, path, fields, with_csrf)


def test_roles_and_csrf_in_the_browser(browsers, server, project_path):
    By = _by()
    docs, codes = ids(project_path)
    bob = browsers("bob")
    bob.get(f"{server}/accounts")
    assert "only the project lead" in bob.find_element(By.ID, "message").text
    bob.get(f"{server}/rounds")
    assert not bob.find_elements(By.ID, "new-round")
    before = segments(project_path)
    # A coder trying the lead's actions with a valid token: refused.
    assert _post(bob, f"{server}/rounds", {"name": "sneaky", "document_id": docs["P1"]}) == 403
    assert _post(bob, f"{server}/accounts", {"name": "mallory", "password": PASSWORD, "role": "lead"}) == 403
    # No CSRF token: refused, nothing stored.
    assert _post(bob, f"{server}/documents/{docs['P1']}/code", {"start": 0, "end": 5, "code_id": codes["Hope"]},
                 with_csrf=False) == 403
    assert segments(project_path) == before
    # A viewer sees codings but has no coding form, and a POST with the token is refused.
    vic = browsers("vic")
    login(vic, server, "vic")
    vic.get(f"{server}/documents/{docs['P1']}")
    assert not vic.find_elements(By.ID, "code-form") and vic.find_elements(By.CSS_SELECTOR, "#segments li.stripe")
    assert _post(vic, f"{server}/documents/{docs['P1']}/code", {"start": 0, "end": 5, "code_id": codes["Hope"]}) == 403
    assert segments(project_path) == before
    with open_project(project_path) as project:
        assert [a["name"] for a in team.accounts_table(project)] == ["alice", "bob", "lead", "vic"]


def test_blind_round_reveal_agreement_and_consensus(browsers, server, project_path, shots):
    By = _by()
    docs, codes = ids(project_path)
    lead = browsers("lead")
    login(lead, server, "lead")
    lead.get(f"{server}/rounds")
    form = lead.find_element(By.ID, "new-round")
    form.find_element(By.NAME, "name").send_keys("Round <1>")
    for box in form.find_elements(By.CSS_SELECTOR, "input[type=checkbox]"):
        label = box.find_element(By.XPATH, "..").text
        if label.startswith(("C1", "alice", "bob")):
            box.click()
    click_and_wait(lead, form.find_element(By.CSS_SELECTOR, "button"))
    assert "Round <1>" in lead.find_element(By.ID, "rounds").text

    c1 = [name for name in docs if name.startswith("C1")][0]
    text = "C1: We talk about hope a lot.\n"
    alice, bob = browsers("alice"), browsers("bob")
    for driver, word in ((alice, "We talk about hope"), (bob, "about hope a lot")):
        driver.get(f"{server}/documents/{docs[c1]}")
        assert driver.find_element(By.ID, "blind-note").is_displayed()
        driver.execute_script(SELECT_JS, word, 0)
        click_and_wait(driver, driver.find_element(By.ID, "apply-code"))
    alice.get(f"{server}/documents/{docs[c1]}")
    assert "bob" not in alice.find_element(By.ID, "segments").text  # blind: only her own
    click_and_wait(alice, alice.find_element(By.CSS_SELECTOR, "form.inline button"))  # "I have finished"
    assert _post(alice, f"{server}/rounds/1/reveal", {}) == 403  # a coder cannot reveal
    alice.get(f"{server}/rounds/1")
    assert "not revealed" in alice.find_element(By.ID, "message").text

    lead.get(f"{server}/rounds")
    assert "alice (finished), bob (coding)" in lead.find_element(By.ID, "rounds").text
    click_and_wait(lead, lead.find_element(By.CSS_SELECTOR, "button.reveal"))
    lead.get(f"{server}/rounds/1")
    # By hand: N = 30 characters; alice 4-22 (18), bob 12-28 (16), both 12-22 (10), neither 30 - 24 = 6.
    # agreement = (10 + 6) / 30 = 53.3 %; E = (18*16 + 12*14) / 30 = 15.2; kappa = (16 - 15.2) / (30 - 15.2) = 0.05.
    a0, a1 = text.index("We talk about hope"), text.index("We talk about hope") + 18
    b0, b1 = text.index("about hope a lot"), text.index("about hope a lot") + 16
    assert (a0, a1, b0, b1) == (4, 22, 12, 28)
    row = lead.find_element(By.CSS_SELECTOR, "#agreement tbody tr").find_elements(By.TAG_NAME, "td")
    assert [c.text for c in row[:4]] == ["Hope", "alice / bob", "53.3", "0.05"]
    issues = lead.find_elements(By.CSS_SELECTOR, "#disagreements li.disagreement")
    assert ["We talk " in issues[0].text, "a lot" in issues[1].text] == [True, True]
    lead.save_screenshot(str(shots / "coding-round.png"))
    click_and_wait(lead, issues[0].find_element(By.CSS_SELECTOR, "button.keep"))
    assert ("Consensus", "Hope", 4, 12, "We talk ") in segments(project_path, "Consensus")
    alice.get(f"{server}/documents/{docs[c1]}")
    assert "bob" in alice.find_element(By.ID, "segments").text  # revealed: everyone's codings


def test_accept_a_suggestion(browsers, server, project_path, shots):
    By = _by()
    docs, codes = ids(project_path)
    alice = browsers("alice")
    alice.get(f"{server}/documents/{docs['P1']}")
    alice.execute_script(SELECT_JS, "could not sleep at night", 0)
    from selenium.webdriver.support.select import Select

    Select(alice.find_element(By.ID, "code-select")).deselect_all()
    Select(alice.find_element(By.ID, "code-select")).select_by_value(str(codes["Sleep"]))
    click_and_wait(alice, alice.find_element(By.ID, "apply-code"))
    alice.get(f"{server}/codes/{codes['Sleep']}/suggestions")
    first = alice.find_element(By.CSS_SELECTOR, "#suggestions li.suggestion")
    assert ANSWER_2 in first.text  # the other sentence about sleep at night; never the interviewer's question
    alice.save_screenshot(str(shots / "coding-suggestions.png"))
    assert ("alice", "Sleep", BODY.index(ANSWER_2), BODY.index(ANSWER_2) + len(ANSWER_2), ANSWER_2) \
        not in segments(project_path)  # shown, not applied
    click_and_wait(alice, first.find_element(By.CSS_SELECTOR, "button.accept"))
    assert ("alice", "Sleep", BODY.index(ANSWER_2), BODY.index(ANSWER_2) + len(ANSWER_2), ANSWER_2) \
        in segments(project_path)
    assert "alice: 1 accepted, 0 rejected (100%)" in alice.find_element(By.ID, "acceptance").text


def test_several_codes_at_once(browsers, server, project_path):
    from selenium.webdriver.support.select import Select

    By = _by()
    docs, codes = ids(project_path)
    alice = browsers("alice")
    alice.get(f"{server}/documents/{docs['P1']}")
    alice.execute_script(SELECT_JS, "Now I sleep", 0)
    chooser = Select(alice.find_element(By.ID, "code-select"))
    chooser.deselect_all()
    chooser.select_by_value(str(codes["Sleep"]))
    chooser.select_by_value(str(codes[HOSTILE_CODE]))
    click_and_wait(alice, alice.find_element(By.ID, "apply-code"))
    where = BODY.index("Now I sleep")
    mine = segments(project_path, "alice")
    assert ("alice", "Sleep", where, where + 11, "Now I sleep") in mine
    assert ("alice", HOSTILE_CODE, where, where + 11, "Now I sleep") in mine
    assert ("alice", "Hope", where, where + 11, "Now I sleep") not in mine  # only the chosen ones


def test_move_a_coding_to_the_selected_words(browsers, server, project_path):
    By = _by()
    docs, codes = ids(project_path)
    alice = browsers("alice")
    alice.get(f"{server}/documents/{docs['P1']}")
    mine = [li for li in alice.find_elements(By.CSS_SELECTOR, "#segments li.stripe.mine")
            if li.find_element(By.CSS_SELECTOR, ".quote").text == "listened"][0]
    alice.execute_script(SELECT_JS, "psychiatrist listened", 0)
    click_and_wait(alice, mine.find_element(By.CSS_SELECTOR, "button.respan-button"))
    where = BODY.index("psychiatrist listened")
    stored = segments(project_path, "alice")
    assert ("alice", "Hope", where, where + 21, "psychiatrist listened") in stored
    assert not [x for x in stored if x[4] == "listened"]


def test_codebook_edited_in_place_and_references_filtered(browsers, server, project_path, shots):
    from selenium.webdriver.support.select import Select

    By = _by()
    docs, codes = ids(project_path)
    lead = browsers("lead")
    lead.get(f"{server}/codes/{codes['Hope']}")
    everyone = lead.find_element(By.ID, "references").text
    assert "P1" in everyone and "C1 <img" in everyone  # both groups coded Hope by now
    Select(lead.find_element(By.NAME, "role")).select_by_visible_text("person with trd")
    click_and_wait(lead, lead.find_element(By.ID, "filter-references"))
    assert "C1 <img" not in lead.find_element(By.ID, "references").text
    Select(lead.find_element(By.NAME, "attribute")).select_by_visible_text("note")
    lead.find_element(By.NAME, "value").send_keys("<i>x</i><script>alert(6)</script>")
    click_and_wait(lead, lead.find_element(By.ID, "filter-references"))
    assert "hopeful" in lead.find_element(By.ID, "references").text  # P1 has that attribute value
    form = lead.find_element(By.ID, "edit-code")
    form.find_element(By.NAME, "name").clear()
    form.find_element(By.NAME, "name").send_keys("Hope & <again")
    click_and_wait(lead, form.find_element(By.CSS_SELECTOR, "button"))
    no_alert(lead)
    assert lead.find_element(By.TAG_NAME, "h1").text == "Hope & <again"
    assert "name: 'Hope' -> 'Hope & <again'" in lead.find_element(By.ID, "code-history").text
    with open_project(project_path) as project, project.reading() as s:
        code = s.get(m.Code, codes["Hope"])
        assert (code.name, code.color) == ("Hope & <again", "#1f77b4")  # the colour was left as it was
    lead.save_screenshot(str(shots / "coding-code-edit.png"))


def test_throttle_logout_and_another_projects_accounts(browsers, server, project_path, tmp_path):
    from trdpath.serve.coding import create_coding_app

    By = _by()
    other = create_project(tmp_path / "other.qual", "other")
    team.add_account(other, "olga", PASSWORD, "lead")
    other_server, thread, other_url = _serve(create_coding_app(other, limiter=team.LoginLimiter(attempts=3)))
    try:
        guest = browsers("guest")
        login(guest, other_url, "alice", expect_ok=False)  # an account of the first project
        assert "Wrong name or password" in guest.find_element(By.ID, "login-message").text
        for _ in range(2):
            login(guest, other_url, "olga", "wrong password!", expect_ok=False)
        login(guest, other_url, "olga", expect_ok=False)  # even the right password waits now
        assert "Too many failed logins" in guest.find_element(By.ID, "login-message").text
    finally:
        other_server.should_exit = True
        thread.join(timeout=5)
        other.close()

    # Logging out ends the session on the server: the old cookie opens nothing.
    vic = browsers("vic")
    login(vic, server, "vic")
    cookie = {c["name"]: c["value"] for c in vic.get_cookies()}
    click_and_wait(vic, vic.find_element(By.CSS_SELECTOR, "form.logout button"))
    replay = httpx.get(f"{server}/", cookies=cookie, follow_redirects=False)
    assert replay.status_code == 303 and replay.headers["location"].endswith("/login")


def test_map_findings_to_themes_and_open_the_joint_display(browsers, tmp_path, shots):
    """Item 5: the lead maps a published Table 3 finding to a theme in the form; the display shows the published
    OR and the hand-worked protected counts; a coder cannot save; hostile text stays text."""
    from joint.handmade import build_project, write_result  # tests/joint/handmade.py: every figure by hand

    from trdpath.serve.coding import create_coding_app
    from selenium.webdriver.support.select import Select

    By = _by()
    results = write_result(tmp_path / "OUT")
    path = build_project(tmp_path / "joint.qual")
    with open_project(path) as project:
        team.add_account(project, "lead", PASSWORD, "lead")
        team.add_account(project, "carol", PASSWORD, "coder")
    server, thread, url = _serve(create_coding_app(path, results=results))
    try:
        lead = browsers("joint-lead")
        login(lead, url, "lead")
        lead.get(f"{url}/joint")
        Select(lead.find_element(By.NAME, "coders")).select_by_visible_text("Ann")
        Select(lead.find_element(By.NAME, "finding_0")).select_by_visible_text("Table 3: waiting")
        Select(lead.find_element(By.NAME, "codes_0")).select_by_visible_text("Barriers")
        Select(lead.find_element(By.NAME, "judgement_0")).select_by_visible_text("expansion")
        lead.find_element(By.NAME, "meta_0").send_keys("<script>alert(1)</script> waiting shapes hope")
        lead.save_screenshot(str(shots / "coding-joint-form.png"))
        click_and_wait(lead, lead.find_element(By.ID, "save-joint"))
        assert lead.current_url.endswith("/joint/display")
        no_alert(lead)
        page = lead.find_element(By.TAG_NAME, "body").text
        # Model 2 is the last model holding `waiting` (handmade TABLE3): OR 1.42 (1.02 to 1.98); coder Ann's
        # Barriers: 12 of 19 participants, published under the default rule as "10 of 20" (test_joint.py).
        assert "OR 1.42 (95% CI 1.02 to 1.98)" in page and "10 of 20" in page
        assert "<script>alert(1)</script> waiting shapes hope" in page
        assert str(results) not in page and "Back to the mapping" in page  # no server path shown to the team
        lead.save_screenshot(str(shots / "coding-joint-display.png"))
        lead.get(f"{url}/joint")  # the saved mapping comes back into the form
        assert Select(lead.find_element(By.NAME, "finding_0")).first_selected_option.text == "Table 3: waiting"

        carol = browsers("joint-carol")
        login(carol, url, "carol")
        carol.get(f"{url}/joint")
        assert not carol.find_elements(By.ID, "save-joint")
        assert _post(carol, f"{url}/joint", {"finding_0": "0", "codes_0": "Barriers", "judgement_0": "divergence",
                                             "meta_0": "x"}) == 403
        with open_project(path) as project:
            from trdpath.joint.saved import latest_mapping

            assert latest_mapping(project).rows[0].judgement == "expansion"  # carol changed nothing
    finally:
        server.should_exit = True
        thread.join(timeout=5)
