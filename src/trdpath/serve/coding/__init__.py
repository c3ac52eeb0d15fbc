"""Coding interviews in the browser, as a team (issue 20): `trdpath qual serve PROJECT`.

A Starlette application over one qualitative project store. Accounts (argon2id, roles lead / coder / viewer)
live in the store; the session is a signed cookie (HttpOnly, SameSite=Strict, Secure behind TLS) whose id is
also held by the server, so logging out ends it; every POST needs the session's CSRF token; logins are
throttled per name and per address. Every change calls the store's own functions (`qualitative.team`,
`qualitative.suggest`), one transaction each, so the CLI and the browser write the same rows.
"""

from __future__ import annotations

from trdpath.serve.coding.app import create_coding_app

__all__ = ["create_coding_app"]
