"""The web application: Starlette routes over a result folder, Jinja2 templates (autoescaped), one small
vendored stylesheet and script (no asset from another origin; works offline)."""

from __future__ import annotations

import math
import secrets
import threading
from pathlib import Path

import pandas as pd
from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from trdpath import __version__
from trdpath.safety import mask_credentials
from trdpath.serve.filters import DIMENSIONS, SERVICES, FilterError, parse_filter
from trdpath.serve.live import LiveTables
from trdpath.serve.results import ResultFolder
from trdpath.serve.security import AccessMiddleware, csrf_token, same

STATIC = Path(__file__).parent / "static"
_templates = Environment(loader=PackageLoader("trdpath.serve", "templates"),
                         autoescape=select_autoescape(default=True, default_for_string=True))

TABLE_TITLES = {"table1": "Table 1. Sociodemographic characteristics, MDD v. TRD",
                "table2": "Table 2. Comorbidities, MDD v. TRD"}


def fmt(value, kind: str = "") -> str:
    """A published value as text: counts whole, percentages one decimal, statistics two, P three."""
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, str):
        try:
            value = float(value) if value not in ("",) else value
        except ValueError:
            return value
        if value == "":
            return ""
    if kind == "n":
        return f"{int(round(value)):,}"
    if kind == "p":
        return "<0.001" if value < 0.001 else f"{value:.3f}"
    if kind == "pct" or kind == "mean":
        return f"{value:.1f}"
    if kind == "df":
        return f"{value:g}"
    return f"{value:.2f}"


_templates.filters["pct"] = lambda v: fmt(v, "pct")
_templates.filters["count"] = lambda v: fmt(v, "n")

COLUMN_KINDS = {"mdd_n": "n", "trd_n": "n", "mdd_pct": "pct", "trd_pct": "pct", "p_value": "p",
                "mdd_mean": "mean", "trd_mean": "mean", "mdd_sd": "mean", "trd_sd": "mean", "df": "df",
                "n": "n", "trd_n_": "n"}


def rows_of(table: pd.DataFrame, columns: list[str]) -> list[list[str]]:
    return [[fmt(row[c], COLUMN_KINDS.get(c, "")) if c not in ("variable", "level", "test", "term", "model",
                                                               "category", "measure", "warning", "source",
                                                               "target", "definition", "definition_a",
                                                               "definition_b")
             else ("" if pd.isna(row[c]) else str(row[c])) for c in columns] for _, row in table.iterrows()]


def create_app(results: Path, *, secret: str | None = None, patient_level: bool = False,
               allowed_hosts: tuple[str, ...] = ("127.0.0.1", "localhost"), https: bool = False,
               warm: bool = True, coding: Starlette | None = None) -> Starlette:
    folder = ResultFolder.open(results)
    live = LiveTables(folder)
    secret = secret or secrets.token_urlsafe(32)
    if warm:
        threading.Thread(target=live.warm, name="trdpath-serve-warm", daemon=True).start()

    cache: dict[str, pd.DataFrame | None] = {}

    def published_table(stem: str) -> pd.DataFrame | None:
        """A published table, read once (the result folder is read-only while served)."""
        if stem not in cache:
            cache[stem] = folder.published_table(stem)
        return cache[stem]

    def page(request: Request, template: str, status: int = 200, **context) -> HTMLResponse:
        html = _templates.get_template(template).render(
            request=request, csrf=csrf_token(request), version=__version__, patient_level=patient_level,
            nav=_nav(folder, patient_level, coding is not None), path=request.url.path, **context)
        return HTMLResponse(html, status_code=status)

    def login_page(request: Request, message: str, status: int) -> HTMLResponse:
        return page(request, "login.html.j2", status=status, message=message)

    async def login(request: Request):
        if request.method == "GET":
            return login_page(request, "", 200)
        form = getattr(request.state, "form", None) or await request.form()
        if same(form.get("token"), secret):
            request.session["auth"] = True
            request.session["csrf"] = secrets.token_urlsafe(32)  # a new CSRF token for the new session
            return RedirectResponse("/", status_code=303)
        return login_page(request, "Wrong token or password.", 401)

    async def logout(request: Request):
        request.session.clear()
        return RedirectResponse("/login", status_code=303)

    async def overview(request: Request):
        published = live.published
        from trdpath.stats.disclosure import published_group_sizes
        sizes = published_group_sizes(published, folder.config.disclosure)
        levels = published_table("resistance_levels")
        attrition = published_table("attrition")
        first_levels = levels[levels["variable"] == "resistance_level"] if levels is not None else None
        return page(request, "overview.html.j2", sizes=sizes, metadata={
            k: mask_credentials(v) for k, v in folder.metadata.items() if k in ("index_date", "software_version", "source")},
            attrition=attrition.to_dict("records") if attrition is not None else [],
            levels=first_levels.to_dict("records") if first_levels is not None else [])

    async def tables(request: Request):
        options = dict(live.partitions())
        options["service"] = SERVICES
        try:
            chosen = parse_filter(request.query_params, options)
        except FilterError as exc:
            return page(request, "tables.html.j2", status=400, error=str(exc), options=options, dimensions=DIMENSIONS,
                        chosen=None, view=None, tables={}, sizes={}, table3=None)
        if chosen is None:
            published = live.published
            from trdpath.stats.disclosure import published_group_sizes
            shown = {"table1": published.table1, "table2": published.table2}
            sizes = published_group_sizes(published, folder.config.disclosure)
            view = None
        else:
            view = live.view(*chosen)
            shown, sizes = view.tables, view.sizes
        columns = ["variable", "level", "mdd_n", "mdd_pct", "mdd_mean", "mdd_sd", "trd_n", "trd_pct", "trd_mean",
                   "trd_sd", "test", "statistic", "df", "p_value"]
        rendered = {name: {"title": TABLE_TITLES[name], "columns": columns, "rows": rows_of(t, columns)}
                    for name, t in shown.items()}
        table3 = published_table("table3_logistic_regression")
        t3 = None
        if table3 is not None:
            c3 = [c for c in ("model", "term", "odds_ratio", "ci_lower", "ci_upper", "p_value") if c in table3.columns]
            t3 = {"columns": c3, "rows": rows_of(table3, c3)}
        return page(request, "tables.html.j2", options=options, dimensions=DIMENSIONS, chosen=chosen, view=view,
                    tables=rendered, sizes=sizes, table3=t3, error="")

    async def pathways(request: Request):
        found = {}
        for stem, title in (("journeys", "Flows between consecutive antidepressants (the Sankey's links)"),
                            ("lines", "Patients by treatment line and drug"),
                            ("step_times", "Days between treatment steps")):
            table = published_table(stem)
            if table is not None:
                found[stem] = {"title": title, "columns": list(table.columns), "rows": rows_of(table, list(table.columns))}
        return page(request, "pathways.html.j2", found=found)

    async def definitions(request: Request):
        found = {}
        for name in ("prevalence", "agreement"):
            path = folder.optional("definitions", f"{name}.csv")
            if path is not None:
                table = pd.read_csv(path, dtype=str, keep_default_na=False)
                found[name] = {"columns": list(table.columns), "rows": rows_of(table, list(table.columns))}
        return page(request, "definitions.html.j2", found=found)

    async def worklist(request: Request):
        if not patient_level:
            return page(request, "refused.html.j2", status=403, message=(
                "Patient-level views are off. Start the server with --patient-level to see the worklist."))
        path = folder.optional("worklist.csv")
        table = pd.read_csv(path, dtype=str, keep_default_na=False) if path else None
        return page(request, "worklist.html.j2", columns=list(table.columns) if table is not None else [],
                    rows=table.to_dict("records") if table is not None else [])

    async def patient(request: Request):
        if not patient_level:
            return page(request, "refused.html.j2", status=403, message=(
                "Patient-level views are off. Start the server with --patient-level to see a patient."))
        patient_id = request.path_params["patient_id"]
        found = folder.connection().execute(
            "SELECT * FROM patients WHERE CAST(patient_id AS VARCHAR) = ?", [patient_id]).fetch_df()
        if found.empty:
            return page(request, "refused.html.j2", status=404, message="No patient with that id in this result.")
        record = {k: ("" if pd.isna(v) else str(v)) for k, v in found.iloc[0].items()}
        return page(request, "patient.html.j2", record=record)

    routes = [
        Route("/", overview), Route("/tables", tables), Route("/pathways", pathways),
        Route("/definitions", definitions), Route("/worklist", worklist),
        Route("/patients/{patient_id:str}", patient),
        Route("/login", login, methods=["GET", "POST"]), Route("/logout", logout, methods=["POST"]),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
        *([Mount("/coding", app=coding)] if coding is not None else []),  # trdpath.serve.coding (issue 20)
    ]
    middleware = [
        Middleware(TrustedHostMiddleware, allowed_hosts=list(allowed_hosts)),
        Middleware(SessionMiddleware, secret_key=secrets.token_urlsafe(32), session_cookie="trdpath_session",
                   same_site="strict", https_only=https, max_age=12 * 3600),
        Middleware(AccessMiddleware, secret=secret, login_page=login_page),
    ]
    app = Starlette(routes=routes, middleware=middleware)
    app.state.live = live
    app.state.folder = folder
    return app


def _nav(folder: ResultFolder, patient_level: bool, coding: bool = False) -> list[tuple[str, str]]:
    items = [("/", "Overview"), ("/tables", "Tables"), ("/pathways", "Pathways")]
    if folder.optional("definitions", "prevalence.csv"):
        items.append(("/definitions", "Definitions"))
    if patient_level:
        items.append(("/worklist", "Worklist"))
    if coding:
        items.append(("/coding/", "Coding"))
    return items
