"""Routes of the coding app (see the package docstring and docs/qualitative.md, "Coding in the browser")."""

from __future__ import annotations

import secrets
import threading
from pathlib import Path
from urllib.parse import urlsplit

from jinja2 import Environment, PackageLoader, select_autoescape
from sqlalchemy import select
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from trdpath import __version__
from trdpath.errors import UserError
from trdpath.qualitative import models as m
from trdpath.qualitative import team
from trdpath.qualitative.store import QualProject, open_project
from trdpath.serve.security import SECURITY_HEADERS, same

STATIC = Path(__file__).resolve().parent.parent / "static"
_templates = Environment(loader=PackageLoader("trdpath.serve", "templates"),
                         autoescape=select_autoescape(default=True, default_for_string=True))
OPEN_PATHS = ("/login", "/static/")
STATE_CHANGING = ("POST", "PUT", "PATCH", "DELETE")
# "no-referrer" makes Chromium send `Origin: null` with every form POST, which the Origin check must refuse;
# "same-origin" still sends nothing to other sites and lets this app's own forms show their origin.
HEADERS = {**SECURITY_HEADERS, "Referrer-Policy": "same-origin"}


def _int(value, what: str) -> int:  # noqa: ANN001
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        raise UserError(f"{what} must be a whole number (got {str(value)[:40]!r})") from None


class CodingAccess(BaseHTTPMiddleware):
    """Accounts, CSRF on every state-changing request, security headers: the same rules as `trdpath serve`."""

    async def dispatch(self, request: Request, call_next) -> Response:  # noqa: ANN001
        response = await self._checked(request, call_next)
        for name, value in HEADERS.items():
            response.headers.setdefault(name, value)
        return response

    async def _checked(self, request: Request, call_next) -> Response:  # noqa: ANN001
        state = request.app.state
        if request.method in STATE_CHANGING:
            origin = request.headers.get("origin")
            if origin is not None and (origin == "null" or urlsplit(origin).netloc != request.headers.get("host")):
                return PlainTextResponse("Forbidden: request from another site.", status_code=403)
            sent = request.headers.get("x-csrf-token")
            if sent is None and request.headers.get("content-type", "").startswith(
                    "application/x-www-form-urlencoded"):
                form = await request.form()
                request.state.form = form  # the body is read once: handlers take it from here
                sent = form.get("csrf_token")
            if not same(sent, request.session.get("csrf")):
                return PlainTextResponse("Forbidden: missing or wrong CSRF token (reload the page).", status_code=403)
        sid = request.session.get("sid")
        account_id = state.sessions.get(sid) if sid else None
        viewer = (await run_in_threadpool(team.viewer_by_id, state.project, account_id)
                  if account_id is not None else None)
        request.state.viewer = viewer
        path = request.url.path[len(request.scope.get("root_path", "")):] if request.scope.get("root_path") else request.url.path
        if viewer is None and not path.startswith(OPEN_PATHS):
            if request.method == "GET":
                return RedirectResponse(f"{request.scope.get('root_path', '')}/login", status_code=303)
            return PlainTextResponse("Log in first.", status_code=401)
        return await call_next(request)


JOINT_ROWS = 8  # rows the mapping form offers (the seed study integrated a handful of findings)
# The joint display is the exported, self-contained page: inline style only, no script, no request.
JOINT_CSP = ("default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'none'; "
             "base-uri 'none'; form-action 'none'")


def create_coding_app(project: str | Path | QualProject, *, results: str | Path | None = None,
                      allowed_hosts: tuple[str, ...] = ("127.0.0.1", "localhost"), https: bool = False,
                      limiter: team.LoginLimiter | None = None) -> Starlette:
    """The coding app for one project (a path, a database URL or an open project); with ``results`` (a result
    folder) also the joint-display mapping form and the display, from its published tables only."""
    if results is not None:  # a wrong folder is the user's mistake at start, not an error page later
        from trdpath.joint.quantitative import PublishedTables

        PublishedTables(results)
    project = project if isinstance(project, QualProject) else open_project(project)
    sessions: dict[str, int] = {}
    sessions_lock = threading.Lock()
    limiter = limiter or team.LoginLimiter()

    def csrf(request: Request) -> str:
        token = request.session.get("csrf")
        if not token:
            token = request.session["csrf"] = secrets.token_urlsafe(32)
        return token

    def page(request: Request, template: str, status: int = 200, **context) -> HTMLResponse:
        viewer = getattr(request.state, "viewer", None)
        html = _templates.get_template(template).render(
            request=request, csrf=csrf(request), version=__version__, viewer=viewer, base=request.scope.get("root_path", ""),
            project_name=project.name, **context)
        return HTMLResponse(html, status_code=status)

    def back(request: Request, where: str) -> RedirectResponse:
        return RedirectResponse(f"{request.scope.get('root_path', '')}{where}", status_code=303)

    def form_of(request: Request) -> FormData:
        """The POST body, read by the middleware (it checks the CSRF token in it); handlers are plain functions
        that Starlette runs in its thread pool, so a waiting transaction never blocks the other coders."""
        return getattr(request.state, "form", None) or FormData()

    def refused(request: Request, exc: Exception) -> HTMLResponse:
        status = 403 if isinstance(exc, team.RoleError) else 400
        return page(request, "coding_message.html.j2", status=status, message=str(exc))

    # --- login / logout -----------------------------------------------------------------------------
    def login(request: Request):
        if request.method == "GET":
            return page(request, "coding_login.html.j2", message="")
        form = form_of(request)
        name, password = str(form.get("name", ""))[:200], str(form.get("password", ""))[:1000]
        address = request.client.host if request.client else "?"
        wait = limiter.blocked(name, address)
        if wait:
            return page(request, "coding_login.html.j2", status=429,
                        message=f"Too many failed logins; try again in {int(wait // 60) + 1} minutes.")
        viewer = team.authenticate(project, name, password)
        if viewer is None:
            limiter.failed(name, address)
            return page(request, "coding_login.html.j2", status=401, message="Wrong name or password.")
        limiter.succeeded(name)
        old = request.session.get("sid")
        sid = secrets.token_urlsafe(32)
        with sessions_lock:
            sessions.pop(old, None)
            sessions[sid] = viewer.account_id
        request.session.clear()  # a new session at login (no fixation): new id, new CSRF token
        request.session.update(sid=sid, csrf=secrets.token_urlsafe(32))
        return back(request, "/")

    def logout(request: Request):
        with sessions_lock:
            sessions.pop(request.session.get("sid"), None)  # the cookie is worthless from now on
        request.session.clear()
        return back(request, "/login")

    # --- reading ------------------------------------------------------------------------------------
    def color_of(code: m.Code) -> str:
        """A code's colour, else its nearest ancestor's (NVivo colours a theme; its codes show it)."""
        node = code
        while node is not None and not node.color:
            node = node.parent
        return node.color if node is not None else ""

    def codebook(s) -> list[dict]:  # noqa: ANN001
        rows = []

        def walk(code: m.Code, depth: int) -> None:
            rows.append(dict(id=code.id, name=code.name, path=code.path(), depth=depth, color=color_of(code),
                             definition=code.definition))
            for child in code.children:
                walk(child, depth + 1)

        for root in s.scalars(select(m.Code).where(m.Code.parent_id.is_(None)).order_by(m.Code.position, m.Code.id)):
            walk(root, 0)
        return rows

    def home(request: Request):
        viewer = request.state.viewer
        with project.reading() as s:
            hidden = team.blind_document_ids(s, viewer)
            counts = {}
            for segment in team.visible_segments(s, viewer):
                counts[segment.document_id] = counts.get(segment.document_id, 0) + 1
            documents = [dict(id=d.id, name=d.name, participant=d.participant.label if d.participant else "",
                              role=(d.participant.role or "") if d.participant else "",
                              attributes=", ".join(f"{a.name}: {a.value}" for a in d.participant.attributes
                                                   if a.value) if d.participant else "",
                              segments=counts.get(d.id, 0), blind=d.id in hidden, length=len(d.text))
                         for d in s.scalars(select(m.Document).order_by(m.Document.interview_order, m.Document.id))]
            codes = codebook(s)
        return page(request, "coding_home.html.j2", documents=documents, codes=codes)

    def pieces(text: str, turns, segments) -> list[dict]:  # noqa: ANN001
        """The text cut at every turn and segment edge; each piece knows its offset and the segments over it."""
        cuts = {0, len(text)}
        for t in turns:
            cuts.update((t["start"], t["end"]))
        for sg in segments:
            cuts.update((sg["start"], sg["end"]))
        edges = sorted(c for c in cuts if 0 <= c <= len(text))
        out = []
        for a, b in zip(edges, edges[1:]):
            over = [sg for sg in segments if sg["start"] <= a and b <= sg["end"]]
            turn = next((t for t in turns if t["start"] <= a and b <= t["end"]), None)
            out.append(dict(start=a, text=text[a:b], segments=" ".join(str(sg["id"]) for sg in over),
                            color=over[0]["color"] if over else "", codes="; ".join(sorted({sg["code"] for sg in over})),
                            speaker=turn["speaker"] if turn else "", interviewer=bool(turn and not turn["participant"])))
        return out

    def document(request: Request):
        viewer = request.state.viewer
        document_id = _int(request.path_params["document_id"], "document")
        with project.reading() as s:
            doc = s.get(m.Document, document_id)
            if doc is None:
                return page(request, "coding_message.html.j2", status=404, message="No such document.")
            turns = [dict(start=t.start, end=t.end, speaker=t.speaker.label, participant=t.speaker.participant_id is not None)
                     for t in doc.turns]
            segments = [dict(id=sg.id, start=sg.start, end=sg.end, code=sg.code.path(), code_id=sg.code_id,
                             color=color_of(sg.code), coder=sg.coder.name if sg.coder else "",
                             mine=sg.coder_id == viewer.coder_id, text=doc.text[sg.start:sg.end],
                             memos=[mm.text for mm in s.scalars(select(m.Memo).where(m.Memo.segment_id == sg.id))])
                        for sg in team.visible_segments(s, viewer, document_id=doc.id)]
            memos = [dict(title=mm.title or "", text=mm.text, coder=mm.coder.name if mm.coder else "")
                     for mm in s.scalars(select(m.Memo).where(m.Memo.document_id == doc.id).order_by(m.Memo.id))]
            rounds = [dict(id=r.id, name=r.name) for r in s.scalars(
                select(m.BlindRound).join(m.RoundDocument).join(m.RoundCoder)
                .where(m.RoundDocument.document_id == doc.id, m.RoundCoder.coder_id == viewer.coder_id,
                       m.BlindRound.revealed_at.is_(None)))]
            info = dict(id=doc.id, name=doc.name, participant=doc.participant.label if doc.participant else "",
                        blind=doc.id in team.blind_document_ids(s, viewer), length=len(doc.text))
            codes = codebook(s)
            text = doc.text
        return page(request, "coding_document.html.j2", document=info, pieces=pieces(text, turns, segments),
                    segments=segments, memos=memos, codes=codes, rounds=rounds,
                    error=request.query_params.get("error", "")[:300])

    def code_page(request: Request):
        viewer = request.state.viewer
        code_id = _int(request.path_params["code_id"], "code")
        group = request.query_params.get("role", "")
        attribute, value = request.query_params.get("attribute", ""), request.query_params.get("value", "").strip()
        with project.reading() as s:
            code = s.get(m.Code, code_id)
            if code is None:
                return page(request, "coding_message.html.j2", status=404, message="No such code.")
            attributes = sorted(set(s.scalars(select(m.ParticipantAttribute.name))))
            references = []
            for sg in team.visible_segments(s, viewer, code_id=code.id):
                participant = sg.document.participant
                if group and (participant is None or participant.role != group):
                    continue
                if attribute and (participant is None or not any(
                        a.name == attribute and (a.value or "").casefold() == value.casefold()
                        for a in participant.attributes)):
                    continue
                references.append(dict(id=sg.id, document=sg.document.name, document_id=sg.document_id,
                                       participant=participant.label if participant else "",
                                       coder=sg.coder.name if sg.coder else "", start=sg.start, end=sg.end,
                                       text=sg.document.text[sg.start:sg.end]))
            memos = [dict(text=mm.text, coder=mm.coder.name if mm.coder else "")
                     for mm in s.scalars(select(m.Memo).where(m.Memo.code_id == code.id).order_by(m.Memo.id))]
            info = dict(id=code.id, path=code.path(), name=code.name, definition=code.definition or "",
                        color=color_of(code), own_color=code.color or "", parent_id=code.parent_id)
            codes = [c for c in codebook(s)]
        return page(request, "coding_code.html.j2", code=info, references=references, memos=memos, group=group,
                    roles=m.ROLES, attributes=attributes, attribute=attribute, value=value, codes=codes,
                    history=team.code_history(project, code_id))

    def edit_code(request: Request):
        viewer = request.state.viewer
        code_id = _int(request.path_params["code_id"], "code")
        form = form_of(request)
        try:
            if request.url.path.endswith("/merge"):
                target = _int(form.get("target_id"), "code")
                team.merge_codes(project, viewer, code_id, target)
                return back(request, f"/codes/{target}")
            parent = str(form.get("parent_id", "keep"))
            team.update_code(project, viewer, code_id, name=form.get("name"), definition=form.get("definition"),
                             # the colour picker always sends a value: only a changed one is a change
                             color=form.get("color") if form.get("color") != form.get("color_was") else None,
                             parent_id=team.KEEP if parent == "keep" else (None if parent == "" else _int(parent, "parent")))
        except UserError as exc:
            return refused(request, exc)
        return back(request, f"/codes/{code_id}")

    # --- changes ------------------------------------------------------------------------------------
    def apply_code(request: Request):
        viewer = request.state.viewer
        form = form_of(request)
        document_id = _int(request.path_params["document_id"], "document")
        try:
            start, end = _int(form.get("start"), "start"), _int(form.get("end"), "end")
            new_name = str(form.get("new_code", "")).strip()
            # One or more codes at once (a multiple select), and/or a new one typed in.
            code_ids = [_int(v, "code") for v in form.getlist("code_id")]
            if new_name:
                code_ids.append(team.add_code(project, viewer, new_name))
            if not code_ids:
                raise UserError("choose a code (or type a new one)")
            for code_id in code_ids:
                segment_id = team.code_span(project, viewer, document_id, code_id, start, end)
        except UserError as exc:
            return refused(request, exc)
        return back(request, f"/documents/{document_id}#segment-{segment_id}")

    def remove(request: Request):
        segment_id = _int(request.path_params["segment_id"], "segment")
        with project.reading() as s:
            found = s.get(m.Segment, segment_id)
            document_id = found.document_id if found is not None else None
        try:
            team.remove_segment(project, request.state.viewer, segment_id)
        except UserError as exc:
            return refused(request, exc)
        return back(request, f"/documents/{document_id}" if document_id else "/")

    def respan(request: Request):
        segment_id = _int(request.path_params["segment_id"], "segment")
        form = form_of(request)
        try:
            team.respan_segment(project, request.state.viewer, segment_id, _int(form.get("start"), "start"),
                                _int(form.get("end"), "end"))
            with project.reading() as s:
                document_id = s.get(m.Segment, segment_id).document_id
        except UserError as exc:
            return refused(request, exc)
        return back(request, f"/documents/{document_id}#segment-{segment_id}")

    def memo(request: Request):
        form = form_of(request)
        target, target_id = str(form.get("target", "")), _int(form.get("target_id"), "target")
        if target not in ("document", "code", "segment"):
            return refused(request, UserError("a memo is on a document, a code or a segment"))
        try:
            team.add_web_memo(project, request.state.viewer, str(form.get("text", "")),
                              title=str(form.get("title", "")) or None, **{f"{target}_id": target_id})
        except UserError as exc:
            return refused(request, exc)
        where = str(form.get("next", ""))
        return back(request, where if where.startswith("/") and not where.startswith("//") else "/")

    def new_code(request: Request):
        form = form_of(request)
        parent = str(form.get("parent_id", "")).strip()
        try:
            team.add_code(project, request.state.viewer, str(form.get("name", "")),
                          _int(parent, "parent") if parent else None, str(form.get("definition", "")) or None)
        except UserError as exc:
            return refused(request, exc)
        return back(request, "/")

    # --- suggestions --------------------------------------------------------------------------------
    def suggestions(request: Request):
        from trdpath.qualitative.suggest import acceptance_rates, decide, suggest

        viewer = request.state.viewer
        code_id = _int(request.path_params["code_id"], "code")
        if request.method == "POST":
            form = form_of(request)
            try:
                decide(project, viewer, code_id, _int(form.get("document_id"), "document"),
                       _int(form.get("start"), "start"), _int(form.get("end"), "end"),
                       accept=form.get("decision") == "accept")
            except UserError as exc:
                return refused(request, exc)
            return back(request, f"/codes/{code_id}/suggestions")
        with project.reading() as s:
            code = s.get(m.Code, code_id)
            if code is None:
                return page(request, "coding_message.html.j2", status=404, message="No such code.")
            path = code.path()
        found = suggest(project, viewer, code_id)
        rates = acceptance_rates(project)
        rates = rates[rates["code"] == path].to_dict("records")
        return page(request, "coding_suggestions.html.j2", code=dict(id=code_id, path=path), suggestions=found,
                    rates=rates)

    # --- blind rounds -------------------------------------------------------------------------------
    def rounds(request: Request):
        viewer = request.state.viewer
        if request.method == "POST":
            form = form_of(request)
            try:
                team.create_round(project, viewer, str(form.get("name", "")),
                                  [_int(v, "document") for v in form.getlist("document_id")],
                                  [_int(v, "account") for v in form.getlist("account_id")])
            except UserError as exc:
                return refused(request, exc)
            return back(request, "/rounds")
        with project.reading() as s:
            documents = [dict(id=d.id, name=d.name) for d in s.scalars(select(m.Document).order_by(m.Document.interview_order))]
        return page(request, "coding_rounds.html.j2", rounds=team.rounds_table(project), documents=documents,
                    accounts=[a for a in team.accounts_table(project) if a["role"] != "viewer" and a["active"]])

    def round_action(request: Request):
        viewer = request.state.viewer
        round_id = _int(request.path_params["round_id"], "round")
        action = request.path_params["action"]
        form = form_of(request)
        try:
            if action == "submit":
                team.submit_round(project, viewer, round_id)
            elif action == "reveal":
                team.reveal_round(project, viewer, round_id)
            elif action == "resolve":
                team.resolve_disagreement(project, viewer, round_id, _int(form.get("document_id"), "document"),
                                          _int(form.get("code_id"), "code"), _int(form.get("start"), "start"),
                                          _int(form.get("end"), "end"), keep=form.get("decision") == "keep")
            else:
                return page(request, "coding_message.html.j2", status=404, message="No such action.")
        except UserError as exc:
            return refused(request, exc)
        return back(request, f"/rounds/{round_id}" if action != "submit" else "/rounds")

    def round_page(request: Request):
        viewer = request.state.viewer
        round_id = _int(request.path_params["round_id"], "round")
        try:
            by_code, disagreements = team.round_agreement(project, viewer, round_id)
        except UserError as exc:
            return refused(request, exc)
        with project.reading() as s:
            round_ = s.get(m.BlindRound, round_id)
            name = round_.name
            ids = {d.name: d.id for d in s.scalars(select(m.Document))}
            code_ids = {c.path(): c.id for c in s.scalars(select(m.Code))}
        rows = by_code.to_dict("records") if not by_code.empty else []
        issues = disagreements.to_dict("records") if not disagreements.empty else []
        for row in issues:
            row["document_id"], row["code_id"] = ids[row["document"]], code_ids[row["code"]]
        return page(request, "coding_round.html.j2", round=dict(id=round_id, name=name), rows=rows, issues=issues)

    # --- accounts -----------------------------------------------------------------------------------
    def accounts(request: Request):
        viewer = request.state.viewer
        if not viewer.is_lead:
            return refused(request, team.RoleError("only the project lead manages accounts"))
        if request.method == "POST":
            form = form_of(request)
            try:
                team.add_account(project, str(form.get("name", "")), str(form.get("password", "")),
                                 str(form.get("role", "")), who=viewer.name)
            except UserError as exc:
                return refused(request, exc)
            return back(request, "/accounts")
        from trdpath.qualitative.suggest import acceptance_rates

        return page(request, "coding_accounts.html.j2", accounts=team.accounts_table(project), roles=m.ACCOUNT_ROLES,
                    rates=acceptance_rates(project).to_dict("records"))

    # --- joint display (issue 20 item 5) ----------------------------------------------------------------
    def joint(request: Request):
        from trdpath.joint.saved import choice_key, finding_choices, latest_mapping, mapping_from_form, save_mapping

        viewer = request.state.viewer
        if results is None:
            return page(request, "coding_message.html.j2", status=404, message=(
                "No result folder: start the server with --results OUT to map findings to themes."))
        try:
            choices = finding_choices(results)
        except UserError as exc:
            return refused(request, exc)
        error = ""
        if request.method == "POST":
            if not viewer.is_lead:
                return refused(request, team.RoleError("only the project lead edits the joint display"))
            try:
                mapping = mapping_from_form(form_of(request), choices, JOINT_ROWS)
                from trdpath.joint.display import build_display

                build_display(mapping, Path(results), project)  # every code, coder and finding checked first
                save_mapping(project, mapping, viewer.name)
                return back(request, "/joint/display")
            except UserError as exc:
                error = str(exc)
        try:
            saved = latest_mapping(project)
        except UserError as exc:
            saved, error = None, error or str(exc)
        rows = []
        for i in range(JOINT_ROWS):
            row = saved.rows[i] if saved is not None and i < len(saved.rows) else None
            finding = row.finding.model_dump(exclude_none=True) if row else {}
            rows.append(dict(index=i, key=choice_key(choices, finding) if row else "",
                             label=finding.get("label", ""), codes=row.codes if row else [],
                             theme=(row.theme or "") if row else "", quotes=row.quotes if row else 2,
                             judgement=row.judgement if row else "", meta=row.meta_inference if row else ""))
        with project.reading() as s:
            codes = codebook(s)
            coders = [c.name for c in s.scalars(select(m.Coder).order_by(m.Coder.name))]
        return page(request, "coding_joint.html.j2", status=400 if error else 200, error=error, choices=choices,
                    rows=rows, codes=codes, coders=coders, title=saved.title if saved else "Joint display",
                    chosen_coders=(saved.coders or []) if saved else [], saved=saved is not None)

    def joint_display(request: Request):
        from trdpath.joint.display import build_display
        from trdpath.joint.render import render_docx, render_html, render_xlsx
        from trdpath.joint.saved import latest_mapping, latest_yaml

        kind = request.path_params.get("kind", "html")
        if kind not in ("html", "docx", "xlsx", "yaml"):
            return page(request, "coding_message.html.j2", status=404, message="No such export.")
        if results is None:
            return page(request, "coding_message.html.j2", status=404, message="No result folder for a joint display.")
        try:
            mapping = latest_mapping(project)
            if mapping is None:
                return page(request, "coding_message.html.j2", status=404, message=(
                    "No mapping yet: the lead makes one on the Joint display page."))
            if kind == "yaml":
                return Response(latest_yaml(project), media_type="text/yaml; charset=utf-8", headers={
                    "Content-Disposition": 'attachment; filename="joint_mapping.yaml"'})
            display = build_display(mapping, Path(results), project)
        except UserError as exc:
            return refused(request, exc)
        if kind == "docx":
            return Response(render_docx(display), headers={"Content-Disposition": 'attachment; filename="joint_display.docx"'},
                            media_type="application/vnd.openxmlformats-officedocument.wordprocessingml.document")
        if kind == "xlsx":
            return Response(render_xlsx(display), headers={"Content-Disposition": 'attachment; filename="joint_display.xlsx"'},
                            media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
        # In the app the result folder is named, not its path on the server (coders need not know it).
        display.results = Path(results).name
        return HTMLResponse(render_html(display, back_link=f"{request.scope.get('root_path', '')}/joint"),
                            headers={"Content-Security-Policy": JOINT_CSP})

    routes = [
        Route("/joint", joint, methods=["GET", "POST"]), Route("/joint/display", joint_display),
        Route("/joint/display.{kind:str}", joint_display),
        Route("/", home), Route("/login", login, methods=["GET", "POST"]), Route("/logout", logout, methods=["POST"]),
        Route("/documents/{document_id}", document), Route("/documents/{document_id}/code", apply_code, methods=["POST"]),
        Route("/segments/{segment_id}/remove", remove, methods=["POST"]),
        Route("/segments/{segment_id}/span", respan, methods=["POST"]),
        Route("/memos", memo, methods=["POST"]), Route("/codes", new_code, methods=["POST"]),
        Route("/codes/{code_id}", code_page),
        Route("/codes/{code_id}/edit", edit_code, methods=["POST"]), Route("/codes/{code_id}/merge", edit_code, methods=["POST"]),
        Route("/codes/{code_id}/suggestions", suggestions, methods=["GET", "POST"]),
        Route("/rounds", rounds, methods=["GET", "POST"]), Route("/rounds/{round_id}", round_page),
        Route("/rounds/{round_id}/{action}", round_action, methods=["POST"]),
        Route("/accounts", accounts, methods=["GET", "POST"]),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    middleware = [
        Middleware(TrustedHostMiddleware, allowed_hosts=list(allowed_hosts)),
        Middleware(SessionMiddleware, secret_key=secrets.token_urlsafe(32), session_cookie="trdpath_coding",
                   same_site="strict", https_only=https, max_age=12 * 3600),
        Middleware(CodingAccess),
    ]
    app = Starlette(routes=routes, middleware=middleware)
    app.state.project = project
    app.state.sessions = sessions
    app.state.limiter = limiter
    return app
