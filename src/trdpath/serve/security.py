"""The server's security layer (docs/serve.md, "Security model").

- **Access**: a random token per start (printed as a URL, as Jupyter does) or a configured password;
  a visit with `?token=` or a POST to /login opens a session; every other request without one is 401.
- **Sessions**: Starlette's signed cookie (itsdangerous), HttpOnly, SameSite=Strict, Secure when served
  over TLS; the signing key is random per start, so a restart logs everyone out.
- **CSRF**: every state-changing request (the app's only ones are login and logout) must carry the
  session's CSRF token in a form field or the X-CSRF-Token header, and an Origin, when sent, of this host.
- **Headers**: a strict Content-Security-Policy (no inline script or style, nothing from another
  origin), no framing, no sniffing, no referrer, no caching of pages that may hold patient data.
- **Hosts**: only the names the server was started for are answered (no DNS rebinding).
"""

from __future__ import annotations

import hmac
import secrets
from urllib.parse import urlsplit

from starlette.middleware.base import BaseHTTPMiddleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response

CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
       "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Cache-Control": "no-store",
}
OPEN_PATHS = ("/login", "/static/")
CODING_PATH = "/coding/"  # trdpath.serve.coding, mounted with --project (issue 20)
STATE_CHANGING = ("POST", "PUT", "PATCH", "DELETE")


def new_token() -> str:
    return secrets.token_urlsafe(32)


def same(a: str | None, b: str | None) -> bool:
    return bool(a) and bool(b) and hmac.compare_digest(str(a), str(b))


def csrf_token(request: Request) -> str:
    token = request.session.get("csrf")
    if not token:
        token = request.session["csrf"] = new_token()
    return token


class AccessMiddleware(BaseHTTPMiddleware):
    """Token or password access, CSRF checks and the security headers, for every request."""

    def __init__(self, app, secret: str, login_page):  # noqa: ANN001
        super().__init__(app)
        self.secret = secret
        self.login_page = login_page

    async def dispatch(self, request: Request, call_next) -> Response:  # noqa: ANN001
        response = await self._checked(request, call_next)
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        return response

    async def _checked(self, request: Request, call_next) -> Response:  # noqa: ANN001
        if request.url.path.startswith(CODING_PATH):  # the coding app has its own accounts, sessions and CSRF
            return await call_next(request)
        if request.method in STATE_CHANGING:
            origin = request.headers.get("origin")
            if origin and origin != "null" and urlsplit(origin).netloc != request.headers.get("host"):
                return PlainTextResponse("Forbidden: request from another site.", status_code=403)
            if origin == "null":
                return PlainTextResponse("Forbidden: request from another site.", status_code=403)
            sent = request.headers.get("x-csrf-token")
            if sent is None and request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
                form = await request.form()
                request.state.form = form  # the body can be read once: the handler takes it from here
                sent = form.get("csrf_token")
            if not same(sent, request.session.get("csrf")):
                return PlainTextResponse("Forbidden: missing or wrong CSRF token (reload the page).", status_code=403)
        token = request.query_params.get("token")
        if token is not None and request.method == "GET":
            if same(token, self.secret):
                request.session["auth"] = True
                csrf_token(request)
                clean = request.url.remove_query_params("token")
                return RedirectResponse(clean.path + (f"?{clean.query}" if clean.query else ""), status_code=303)
            return self.login_page(request, "That link's token is not valid for this server.", 401)
        if request.session.get("auth") or request.url.path.startswith(OPEN_PATHS):
            return await call_next(request)
        return self.login_page(request, "", 401)
