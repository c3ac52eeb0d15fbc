"""The team server's store: migration 0004 on an existing project, accounts (argon2id), roles, blind rounds and
their agreement (worked by hand), suggestions reviewed by people, concurrent coders, login throttling."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import select, text

from trdpath.errors import UserError
from trdpath.qualitative import models as m
from trdpath.qualitative import store, team
from trdpath.qualitative.coding import add_transcript, get_code
from trdpath.qualitative.store import create_project, open_project
from trdpath.qualitative.suggest import acceptance_rates, decide, suggest
from trdpath.qualitative.transcripts import ParsedTranscript, ParsedTurn

from .test_postgres import postgres_url  # noqa: F401 - the fixture

PASSWORD = "correct horse battery"


def _project(tmp_path, texts: dict[str, str], location: str | None = None):
    project = create_project(location or tmp_path / "team.qual", "team")
    with project.transaction("setup") as s:
        for name, body in texts.items():
            add_transcript(s, ParsedTranscript(name=name, text=body, turns=[], source_format="txt"))
        get_code(s, ["Theme", "Hope"])
        get_code(s, ["Theme", "Sleep"])
    return project


def _ids(project):
    with project.reading() as s:
        docs = {d.name: d.id for d in s.scalars(select(m.Document))}
        codes = {c.name: c.id for c in s.scalars(select(m.Code))}
    return docs, codes


def _accounts(project, **roles):
    out = {}
    for name, role in roles.items():
        team.add_account(project, name, PASSWORD, role)
        out[name] = team.authenticate(project, name, PASSWORD)
    return out


def test_migration_0004_upgrades_a_0003_project_without_loss(tmp_path):
    from alembic import command

    path = tmp_path / "old.qual"
    engine = store._make_engine(store.project_url(path))
    with engine.begin() as conn:
        command.upgrade(store.alembic_config(conn), "0003")
        conn.execute(text("INSERT INTO project_info (id, guid, name, created_at) VALUES (1, 'g', 'old', '2024-01-01')"))
        conn.execute(text("INSERT INTO coder (id, guid, name) VALUES (1, 'u', 'Alex')"))
        conn.execute(text("INSERT INTO document (id, guid, name, text, created_at) VALUES (1, 'd', 'P1', 'hello world', "
                          "'2024-01-01')"))
        conn.execute(text("INSERT INTO code (id, guid, name, position, is_codable) VALUES (1, 'c', 'Hope', 0, 1)"))
        conn.execute(text("INSERT INTO segment (id, guid, document_id, code_id, coder_id, start_offset, end_offset, "
                          "created_at) VALUES (1, 's', 1, 1, 1, 0, 5, '2024-01-01')"))
        conn.execute(text("INSERT INTO memo (id, guid, text, segment_id, created_at) VALUES (1, 'm', 'note', 1, '2024-01-01')"))
        log_before = conn.execute(text("SELECT count(*) FROM change_log")).scalar()
    engine.dispose()
    project = open_project(path)
    assert project.backup is not None and "backup-0003" in project.backup.name
    with project.reading() as s:
        assert [(x.document.name, x.code.name, x.coder.name, x.start, x.end) for x in s.scalars(select(m.Segment))] \
            == [("P1", "Hope", "Alex", 0, 5)]
        assert [(x.text, x.segment_id) for x in s.scalars(select(m.Memo))] == [("note", 1)]
        assert s.scalar(select(m.Account.id)) is None
        assert s.execute(text("SELECT count(*) FROM change_log")).scalar() == log_before
    # The old coder's work is the new account's: an account named Alex codes as coder 1.
    team.add_account(project, "Alex", PASSWORD, "coder")
    alex = team.authenticate(project, "Alex", PASSWORD)
    assert alex.coder_id == 1
    project.close()


def test_accounts_store_argon2id_hashes_and_check_passwords(tmp_path):
    project = _project(tmp_path, {"P1": "x" * 10})
    team.add_account(project, "lead", PASSWORD, "lead")
    with project.reading() as s:
        stored = s.scalar(select(m.Account.password_hash))
        logged = " ".join(r.details or "" for r in s.scalars(select(m.ChangeLog)))
    assert stored.startswith("$argon2id$") and PASSWORD not in stored
    assert PASSWORD not in logged  # the change log holds the hash, never the password
    assert team.authenticate(project, "lead", PASSWORD).role == "lead"
    assert team.authenticate(project, "lead", PASSWORD + "x") is None
    assert team.authenticate(project, "nobody", PASSWORD) is None
    for name, password, role in (("a", "short", "coder"), ("b", PASSWORD, "admin"), ("", PASSWORD, "coder"),
                                 ("lead", PASSWORD, "coder"), ("c\x00d", PASSWORD, "coder")):
        with pytest.raises(UserError):
            team.add_account(project, name, password, role)
    with project.transaction("t") as s:
        s.scalar(select(m.Account)).active = False
    assert team.authenticate(project, "lead", PASSWORD) is None
    project.close()


def test_roles_idempotent_coding_and_removal(tmp_path):
    project = _project(tmp_path, {"P1": "I hope it gets better one day."})
    docs, codes = _ids(project)
    people = _accounts(project, lead="lead", alice="coder", bob="coder", vic="viewer")
    first = team.code_span(project, people["alice"], docs["P1"], codes["Hope"], 2, 6)
    assert team.code_span(project, people["alice"], docs["P1"], codes["Hope"], 2, 6) == first  # a double click
    with project.reading() as s:
        segment = s.get(m.Segment, first)
        assert segment.document.text[segment.start:segment.end] == "hope"
    with pytest.raises(team.RoleError):
        team.code_span(project, people["vic"], docs["P1"], codes["Hope"], 0, 1)
    with pytest.raises(team.RoleError):
        team.remove_segment(project, people["bob"], first)  # not bob's
    with pytest.raises(UserError):
        team.code_span(project, people["alice"], docs["P1"], codes["Hope"], 5, 99)  # outside the text
    team.respan_segment(project, people["alice"], first, 2, 14)  # her own coding, to other words
    with pytest.raises(team.RoleError):
        team.respan_segment(project, people["bob"], first, 0, 4)
    with pytest.raises(UserError):
        team.respan_segment(project, people["alice"], first, 20, 300)
    with project.reading() as s:
        assert s.get(m.Segment, first).text == "hope it gets"
    team.remove_segment(project, people["lead"], first)
    with project.reading() as s:
        assert s.scalar(select(m.Segment.id)) is None
        deleted = [r for r in s.scalars(select(m.ChangeLog).where(m.ChangeLog.entity == "segment"))]
    assert [(r.action, r.who) for r in deleted] == [("create", "alice"), ("update", "alice"), ("delete", "lead")]
    project.close()


def test_blind_round_hides_others_until_the_lead_reveals_and_agreement_by_hand(tmp_path):
    body = "a" * 100
    project = _project(tmp_path, {"P1": body, "P2": "b" * 50})
    docs, codes = _ids(project)
    people = _accounts(project, lead="lead", alice="coder", bob="coder")
    accounts = {a["name"]: a["id"] for a in team.accounts_table(project)}
    with pytest.raises(team.RoleError):
        team.create_round(project, people["alice"], "r", [docs["P1"]], [accounts["alice"], accounts["bob"]])
    round_id = team.create_round(project, people["lead"], "round 1", [docs["P1"]], [accounts["alice"], accounts["bob"]])
    team.code_span(project, people["alice"], docs["P1"], codes["Hope"], 0, 20)
    team.code_span(project, people["bob"], docs["P1"], codes["Hope"], 10, 30)
    team.code_span(project, people["bob"], docs["P2"], codes["Hope"], 0, 5)  # not in the round: visible to all

    def seen(viewer):
        with project.reading() as s:
            return sorted((x.document.name, x.start, x.end) for x in team.visible_segments(s, viewer))

    assert seen(people["alice"]) == [("P1", 0, 20), ("P2", 0, 5)]
    assert seen(people["bob"]) == [("P1", 10, 30), ("P2", 0, 5)]
    assert seen(people["lead"]) == [("P1", 0, 20), ("P1", 10, 30), ("P2", 0, 5)]
    with pytest.raises(team.RoleError):
        team.round_agreement(project, people["alice"], round_id)
    with pytest.raises(team.RoleError):
        team.reveal_round(project, people["alice"], round_id)
    team.submit_round(project, people["alice"], round_id)
    team.reveal_round(project, people["lead"], round_id)
    assert seen(people["alice"]) == seen(people["lead"])

    by_code, issues = team.round_agreement(project, people["alice"], round_id)
    row = by_code.iloc[0]
    # N = 100 characters; alice coded 0-20, bob 10-30: both 10, one only 20, neither 70: agreement (10 + 70) / 100
    # = 80 %; expected E = (20*20 + 80*80) / 100 = 68; kappa = (80 - 68) / (100 - 68) = 12 / 32 = 0.375.
    assert row["code"] == "Theme / Hope" and row["agreement_pct"] == pytest.approx(80.0)
    assert row["kappa"] == pytest.approx(0.375)
    assert issues[["start", "end", "coded_by"]].values.tolist() == [[0, 10, "alice"], [20, 30, "bob"]]

    team.resolve_disagreement(project, people["lead"], round_id, docs["P1"], codes["Hope"], 20, 30, keep=True)
    with project.reading() as s:
        consensus = s.scalars(select(m.Segment).join(m.Coder).where(m.Coder.name == "Consensus")).all()
        assert [(x.start, x.end) for x in consensus] == [(20, 30)]
        assert "Kept 'Theme / Hope' on 20-30" in s.scalar(select(m.Memo.text).where(m.Memo.title == "Consensus"))
    project.close()


def test_suggestions_rank_similar_sentences_and_record_decisions(tmp_path):
    body = ("I could not sleep at night for months. The weather was fine that summer. "
            "Sleep at night was impossible, I lay awake for hours. We moved house in May.")
    project = _project(tmp_path, {"P1": body})
    docs, codes = _ids(project)
    people = _accounts(project, alice="coder")
    alice = people["alice"]
    first = body.index("I could not sleep")
    team.code_span(project, alice, docs["P1"], codes["Sleep"], first, body.index(".") + 1)
    found = suggest(project, alice, codes["Sleep"])
    # Only the sleep sentence shares words (sleep, night) with the coded one; the others share none.
    assert [body[x.start:x.end] for x in found] == ["Sleep at night was impossible, I lay awake for hours."]
    assert found[0].text == body[found[0].start:found[0].end]
    # The theme above Sleep learns from Sleep's codings too (nothing is coded with the theme itself).
    assert [(x.start, x.end) for x in suggest(project, alice, codes["Theme"])] == [(found[0].start, found[0].end)]
    with project.reading() as s:
        assert s.scalar(select(m.Segment.id).where(m.Segment.start == found[0].start)) is None  # never applied alone
    decide(project, alice, codes["Sleep"], docs["P1"], found[0].start, found[0].end, accept=True)
    with project.reading() as s:
        assert s.scalar(select(m.Segment.id).where(m.Segment.start == found[0].start)) is not None
    assert suggest(project, alice, codes["Sleep"]) == []  # the accepted one is coded now
    other = body.index("We moved")
    decide(project, alice, codes["Sleep"], docs["P1"], other, len(body), accept=False)
    rates = acceptance_rates(project)
    assert rates.to_dict("records") == [dict(code="Theme / Sleep", coder="alice", accepted=1, rejected=1,
                                             acceptance_rate=0.5)]
    project.close()


def test_suggestions_skip_the_interviewer_and_hidden_blind_codings(tmp_path):
    body = "Interviewer: Do you sleep at night?\nP1: I never sleep at night now, not for years.\n"
    project = create_project(tmp_path / "t.qual", "t")
    q, a = body.index("Do you"), body.index("I never")
    with project.transaction("setup") as s:
        add_transcript(s, ParsedTranscript(name="P1", text=body, turns=[
            ParsedTurn("Interviewer", q, body.index("\n")), ParsedTurn("P1", a, len(body) - 1)], source_format="txt"))
        add_transcript(s, ParsedTranscript(name="P2", text="I sleep badly at night.", turns=[], source_format="txt"))
        get_code(s, ["Sleep"])
    docs, codes = _ids(project)
    people = _accounts(project, lead="lead", alice="coder", bob="coder")
    team.code_span(project, people["bob"], docs["P2"], codes["Sleep"], 0, 23)
    assert [x.document for x in suggest(project, people["alice"], codes["Sleep"])] == ["P1"]
    assert all(x.start >= a for x in suggest(project, people["alice"], codes["Sleep"]))  # never the question
    accounts = {x["name"]: x["id"] for x in team.accounts_table(project)}
    team.create_round(project, people["lead"], "r", [docs["P2"]], [accounts["alice"], accounts["bob"]])
    # bob's coding is hidden from alice now, so it cannot leak through the suggestions either.
    assert suggest(project, people["alice"], codes["Sleep"]) == []
    project.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def location(request, tmp_path):
    from .test_postgres import URL

    if request.param == "sqlite":
        return str(tmp_path / "team.qual")
    if not URL:
        pytest.skip("set TRDPATH_TEST_POSTGRES_URL to a PostgreSQL server")
    return request.getfixturevalue("postgres_url")


@pytest.mark.parametrize("coders", [2, 5])
def test_simultaneous_coders_lose_and_duplicate_nothing(tmp_path, coders, location):
    body = "word " * 400
    project = _project(tmp_path, {"P1": body}, location)
    docs, codes = _ids(project)
    names = {f"coder{i}": "coder" for i in range(coders)}
    people = _accounts(project, **names)
    errors = []
    barrier = threading.Barrier(coders)

    def work(viewer):
        try:
            barrier.wait()
            for k in range(10):
                team.code_span(project, viewer, docs["P1"], codes["Hope"], 5 * k, 5 * k + 4)  # its own 10 words
                team.code_span(project, viewer, docs["P1"], codes["Sleep"], 0, 4)  # the same span, each once
                team.add_code(project, viewer, "Shared new code")  # everyone creates the same new code at once
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(people[n],)) for n in names]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with project.reading() as s:
        rows = s.execute(select(m.Segment.coder_id, m.Segment.code_id, m.Segment.start)).all()
        shared = s.scalars(select(m.Code).where(m.Code.name == "Shared new code")).all()
    # Each coder: 10 Hope codings and 1 Sleep coding (applied 10 times) -> 11 per coder.
    assert len(rows) == 11 * coders and len(set(rows)) == len(rows)
    assert len(shared) == 1
    project.close()


def test_one_coder_in_five_tabs_at_once_makes_one_segment(tmp_path, location):
    project = _project(tmp_path, {"P1": "word " * 40}, location)
    docs, codes = _ids(project)
    alice = _accounts(project, alice="coder")["alice"]
    barrier, made, errors = threading.Barrier(5), [], []

    def tab():
        try:
            barrier.wait()
            made.append(team.code_span(project, alice, docs["P1"], codes["Hope"], 10, 14))
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=tab) for _ in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and len(set(made)) == 1
    with project.reading() as s:
        assert s.execute(select(m.Segment.start, m.Segment.end)).all() == [(10, 14)]
    project.close()


def test_login_limiter_throttles_by_name_and_by_address():
    limiter = team.LoginLimiter(attempts=3, window=60)
    for _ in range(3):
        assert limiter.blocked("alice", "10.0.0.1") == 0
        limiter.failed("alice", "10.0.0.1")
    assert limiter.blocked("alice", "10.0.0.9") > 0  # the name is throttled from anywhere
    assert limiter.blocked("bob", "10.0.0.1") > 0  # and the address for any name
    assert limiter.blocked("bob", "10.0.0.2") == 0
    limiter.succeeded("alice")
    assert limiter.blocked("alice", "10.0.0.9") == 0


def test_codebook_edited_in_place_with_its_history(tmp_path):
    project = _project(tmp_path, {"P1": "I hope it gets better and I hope to sleep."})
    docs, codes = _ids(project)
    people = _accounts(project, lead="lead", alice="coder")
    alice, lead = people["alice"], people["lead"]
    team.update_code(project, alice, codes["Hope"], name="Hope for recovery", definition="Looking forward",
                     color="#AA0000")
    with pytest.raises(UserError):
        team.update_code(project, alice, codes["Theme"], parent_id=codes["Hope"])  # beneath its own child
    with pytest.raises(UserError):
        team.update_code(project, alice, codes["Hope"], color="red")
    team.update_code(project, alice, codes["Sleep"], parent_id=None)  # to the top level
    with project.reading() as s:
        assert s.get(m.Code, codes["Hope"]).path() == "Theme / Hope for recovery"
        assert s.get(m.Code, codes["Sleep"]).path() == "Sleep"
    history = team.code_history(project, codes["Hope"])
    assert [h["action"] for h in history] == ["create", "update"]
    assert "name: 'Hope' -> 'Hope for recovery'" in history[1]["what"] and history[1]["who"] == "alice"

    # Merge (lead only): Sleep's codings move to Hope; one identical coding is not duplicated.
    team.code_span(project, alice, docs["P1"], codes["Hope"], 2, 6)
    team.code_span(project, alice, docs["P1"], codes["Sleep"], 2, 6)  # the same span: dropped by the merge
    team.code_span(project, alice, docs["P1"], codes["Sleep"], 36, 41)
    team.add_web_memo(project, alice, "about sleep", code_id=codes["Sleep"])
    with pytest.raises(team.RoleError):
        team.merge_codes(project, alice, codes["Sleep"], codes["Hope"])
    with pytest.raises(UserError):
        team.merge_codes(project, lead, codes["Theme"], codes["Hope"])  # into its own child
    assert team.merge_codes(project, lead, codes["Sleep"], codes["Hope"]) == 1
    with project.reading() as s:
        assert s.get(m.Code, codes["Sleep"]) is None
        assert sorted((x.code_id, x.start, x.end) for x in s.scalars(select(m.Segment))) == \
            [(codes["Hope"], 2, 6), (codes["Hope"], 36, 41)]
        assert s.scalar(select(m.Memo.code_id).where(m.Memo.text == "about sleep")) == codes["Hope"]
    project.close()
