"""`trdpath serve`: start the local web application on a result folder."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Optional

import typer

from trdpath.errors import UserError

LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")


def serve(
    results: Annotated[Path, typer.Option("--results", "-r", help="A result folder (from `trdpath run`).")],
    host: Annotated[str, typer.Option("--host", help="Address to listen on. Default: this machine only.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", "-p", min=1, max=65535, help="Port to listen on.")] = 8765,
    patient_level: Annotated[bool, typer.Option("--patient-level", help="Also show patient-level views (worklist, patient pages), with a banner.")] = False,
    password_env: Annotated[Optional[str], typer.Option("--password-env", help="Name of an environment variable holding a fixed password (instead of a random token).")] = None,
    https: Annotated[bool, typer.Option("--behind-tls", help="Mark the session cookie Secure (when a TLS reverse proxy serves the app).")] = False,
    project: Annotated[Optional[str], typer.Option("--project", help="A qualitative project: code it as a team at /coding/ (accounts from `trdpath qual account`).")] = None,
) -> None:
    """Explore a result in the browser: overview, Tables 1-3 with filters, pathways, definitions, worklist."""
    import uvicorn

    from trdpath.serve.app import create_app
    from trdpath.serve.security import new_token

    secret = None
    if password_env:
        secret = os.environ.get(password_env, "")
        if len(secret) < 12:
            raise UserError(f"The environment variable {password_env} must hold a password of at least 12 characters.")
    token = secret or new_token()
    hosts = ("127.0.0.1", "localhost") if host in LOCAL_HOSTS else ("127.0.0.1", "localhost", host)
    coding = None
    if project:  # issue 20: the coding app, with its own accounts (docs/qualitative.md, "Coding in the browser")
        from trdpath.serve.coding import create_coding_app
        coding = create_coding_app(project, results=results, allowed_hosts=hosts, https=https)
    app = create_app(results, secret=token, patient_level=patient_level, allowed_hosts=hosts, https=https, coding=coding)
    shown_host = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    if host not in LOCAL_HOSTS:
        typer.echo(f"Warning: listening on {host}, reachable from other machines; put it behind TLS (docs/serve.md).", err=True)
    where = f"http://{shown_host}:{port}/"
    typer.echo(f"trdpath serve: {where}" + ("" if secret else f"?token={token}"), err=True)
    uvicorn.run(app, host=host, port=port, log_level="warning", server_header=False)
