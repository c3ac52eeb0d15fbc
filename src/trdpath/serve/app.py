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
    if kind == "raw":  # shown exactly as published
        return f"{value:g}"
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
                "n": "n", "trd_n_": "n", "population_n": "n", "both": "n", "a_only": "n", "b_only": "n",
                "neither": "n", "kappa": "raw", "ci95_low": "raw", "ci95_high": "raw"}


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
        from trdpath.serve import charts

        if request.query_params:  # the charts are of the published tables: nothing to filter (docs/serve.md)
            return page(request, "pathways.html.j2", status=400, found={}, sankey={}, lines_chart={}, times_chart={},
                        error="The pathway charts take no parameters: they show the published tables as they are.")
        found = {}
        for stem, title in (("journeys", "Flows between consecutive antidepressants (the Sankey's links)"),
                            ("lines", "Patients by treatment line and drug"),
                            ("step_times", "Days between treatment steps")):
            table = published_table(stem)
            if table is not None:
                found[stem] = {"title": title, "columns": list(table.columns), "rows": rows_of(table, list(table.columns))}
        return page(request, "pathways.html.j2", found=found, error="",
                    sankey=charts.sankey(published_table("journeys")), lines_chart=charts.lines_chart(published_table("lines")),
                    times_chart=charts.step_times_chart(published_table("step_times")))

    async def definitions(request: Request):
        from trdpath.serve import charts

        if request.query_params:
            return page(request, "definitions.html.j2", status=400, found={}, forest={}, heatmap={}, results_name="",
                        error="The definitions view takes no parameters: it shows the published comparison as it is.")
        found, frames = {}, {}
        for name in ("prevalence", "agreement"):
            # Only the publishable copy (release/definitions): never the patient-level definitions/ folder.
            path = folder.release / "definitions" / f"{name}.csv"
            if path.is_file():
                frames[name] = pd.read_csv(path, dtype=str, keep_default_na=False)
                found[name] = {"columns": list(frames[name].columns),
                               "rows": rows_of(frames[name], list(frames[name].columns))}
        prevalence = frames.get("prevalence")
        order = list(prevalence["definition"]) if prevalence is not None else []
        return page(request, "definitions.html.j2", found=found, error="", results_name=folder.root.name,
                    forest=charts.prevalence_forest(prevalence), heatmap=charts.kappa_heatmap(frames.get("agreement"), order))

    worklist_state: dict[str, object] = {}

    async def worklist(request: Request):
        if not patient_level:
            return page(request, "refused.html.j2", status=403, message=(
                "Patient-level views are off. Start the server with --patient-level to see the worklist."))
        from trdpath.serve import worklist as wl

        if not folder.has_view("worklist"):
            return page(request, "worklist.html.j2", missing=True)
        if "options" not in worklist_state:  # the worklist is read-only while served: its values are read once
            worklist_state["problem"] = wl.check_columns(folder)
            worklist_state["options"] = {} if worklist_state["problem"] else wl.options(folder)
        if worklist_state["problem"]:
            return page(request, "refused.html.j2", status=500, message=worklist_state["problem"])
        options = worklist_state["options"]
        context = dict(missing=False, options=options, filters=wl.FILTERS, sorts=wl.SORTS, columns=wl.SHOWN_COLUMNS)
        try:
            chosen = wl.parse(request.query_params, options)
        except wl.WorklistQueryError as exc:
            return page(request, "worklist.html.j2", status=400, error=str(exc), chosen=wl.WorklistQuery(), total=0,
                        rows=[], pages=0, **context)
        total, found = wl.rows(folder, chosen)
        pages = max(1, -(-total // wl.PAGE_SIZE))
        return page(request, "worklist.html.j2", error="", chosen=chosen, total=total, rows=found, pages=pages,
                    **context)

    async def patient(request: Request):
        if not patient_level:
            return page(request, "refused.html.j2", status=403, message=(
                "Patient-level views are off. Start the server with --patient-level to see a patient."))
        from trdpath.serve.timeline import patient_timeline

        timeline = patient_timeline(folder, request.path_params["patient_id"])
        if timeline is None:
            return page(request, "refused.html.j2", status=404, message="No patient with that id in this result.")
        return page(request, "patient.html.j2", t=timeline)

    routes = [
        Route("/", overview), Route("/tables", tables), Route("/pathways", pathways),
        Route("/definitions", definitions), Route("/worklist", worklist),
        Route("/patients/{patient_id:path}", patient),
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
    items.append(("/definitions", "Definitions"))  # an empty state says how to make one when there is none
    if patient_level:
        items.append(("/worklist", "Worklist"))
    if coding:
        items.append(("/coding/", "Coding"))
    return items
