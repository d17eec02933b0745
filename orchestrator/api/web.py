"""The web page: server-rendered (Jinja2), readable without JavaScript; a few lines of script
only make the live rollout view update itself (server-sent events). Forms post to the same
application functions the API calls, so a button shown is exactly an action allowed."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, quote

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates

from orchestrator.acting import acting
from orchestrator.api import login_limit, problems, rate_chart
from orchestrator.api.login_limit import TooManyAttempts
from orchestrator.api.deps import COOKIE, context, identify, origin, token_of
from orchestrator.api.rest import ChangeId, as_user, detail
from orchestrator.app import audit, changes, environments, rollouts, services, users, wave_confirm
from orchestrator.app.errors import NotFound, status_of
from orchestrator.errors import FullbarsError

router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
templates.env.globals["rate_bars"] = rate_chart.bars
EVENTS = {"approve": changes.approve, "withdraw": changes.withdraw, "pause": rollouts.pause,
          "resume": rollouts.resume, "abort": rollouts.abort, "confirm": wave_confirm.confirm,
          "reject": wave_confirm.reject}
MAX_FORM = 1 << 20  # bytes of a posted form (an intent file is far smaller)


class FormTooLarge(FullbarsError):
    status = 413


async def _form(request: Request) -> dict[str, str]:
    raw = await request.body()
    if len(raw) > MAX_FORM:
        raise FormTooLarge(f"the form is over {MAX_FORM // 2**20} MiB", path="body", fix=f"at most {MAX_FORM} bytes")
    return {k: v[0] for k, v in parse_qs(raw.decode("utf-8", "replace"), keep_blank_values=True).items()}


def _page(request: Request, name: str, who, **data) -> HTMLResponse:
    return templates.TemplateResponse(request, name, {"who": who, "may": (lambda a: users.may(who, a)) if who else
                                                      (lambda a: False), **data})


def _signed_in(request: Request):
    return identify(request)


def _to_login(request: Request) -> RedirectResponse:
    return RedirectResponse(f"/login?next={quote(request.url.path)}", status_code=303)


def _error_page(request: Request, who, e: FullbarsError, status: int) -> HTMLResponse:
    r = _page(request, "error.html", who, error=e)
    r.status_code = status
    return r


def for_api(path: str) -> bool:
    return path == "/api" or path.startswith(("/api/", "/openapi.json", "/docs", "/redoc"))


def refusal(request: Request, e: FullbarsError, status: int, headers: dict | None = None):
    """A refusal in the asker's language: problem details for the API, the error page for a
    person's browser (a form posted from the page must not land on raw JSON)."""
    if for_api(request.url.path):
        return problems.response(e, status, headers)
    r = _error_page(request, None, e, status)
    r.headers.update(headers or {})
    return r


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, next: str = "/"):
    return _page(request, "login.html", None, next=next if next.startswith("/") else "/", failed=False)


@router.post("/login")
async def login_form(request: Request):
    form = await _form(request)
    nxt = form.get("next", "/")
    nxt = nxt if nxt.startswith("/") and not nxt.startswith("//") else "/"
    ctx = context(request)
    try:
        token = await run_in_threadpool(login_limit.login, ctx.logins, ctx.store, form.get("name", ""),
                                        form.get("password", ""), origin(request))
    except TooManyAttempts as e:
        r = _page(request, "login.html", None, next=nxt, failed=False, wait=e.retry_after)
        r.status_code = 429
        r.headers["Retry-After"] = str(e.retry_after)
        return r
    except FullbarsError:
        r = _page(request, "login.html", None, next=nxt, failed=True)
        r.status_code = 401
        return r
    r = RedirectResponse(nxt, status_code=303)
    r.set_cookie(COOKIE, token, httponly=True, samesite="strict", max_age=users.SESSION_HOURS * 3600,
                 secure=request.url.scheme == "https")  # behind a trusted TLS proxy: never sent in clear
    return r


@router.post("/logout")
def logout(request: Request):
    token = token_of(request)
    if token:
        users.logout(context(request).store, token)
    r = RedirectResponse("/login", status_code=303)
    r.delete_cookie(COOKIE)
    return r


@router.get("/", response_class=HTMLResponse)
def overview(request: Request):
    who = _signed_in(request)
    if who is None:
        return _to_login(request)
    ctx = context(request)
    with acting(who):
        data = {"services": services.status(ctx.store)["services"],
                "changes": changes.listing(ctx.store),
                "environments": [environments.describe(ctx.store, e) for e in environments.known(ctx.store)],
                "suspensions": environments.suspensions(ctx.store)}
    return _page(request, "index.html", who, **data)


@router.post("/changes")
async def submit_form(request: Request):
    who = _signed_in(request)
    if who is None:
        return _to_login(request)
    ctx, form = context(request), await _form(request)
    name = form.get("file", "").strip() or "intent.yaml"
    try:
        c = await run_in_threadpool(as_user, who, changes.submit, ctx.store, ctx.workdir, form.get("title", ""),
                                    {name: form.get("intent", "")}, form.get("target", ""), ctx.network_file)
    except FullbarsError as e:
        return _error_page(request, who, e, status_of(e))
    return RedirectResponse(f"/changes/{c['id']}", status_code=303)


def _change_view(request: Request, change_id: int, template: str):
    who = _signed_in(request)
    if who is None:
        return _to_login(request)
    try:
        d = detail(context(request), who, change_id)
    except FullbarsError as e:
        return _error_page(request, who, e, status_of(e))
    return _page(request, template, who, c=d, r=d["rollout"])


@router.get("/changes/{change_id}", response_class=HTMLResponse)
def change_page(request: Request, change_id: ChangeId):
    return _change_view(request, change_id, "change.html")


@router.post("/changes/{change_id}/{event}")
async def change_event(request: Request, change_id: ChangeId, event: str):
    """A button: the event, by the signed-in user, through the same function the API calls."""
    who = _signed_in(request)
    if who is None:
        return _to_login(request)
    ctx = context(request)
    try:
        if event in EVENTS:
            await run_in_threadpool(as_user, who, EVENTS[event], ctx.store, change_id)
        elif event == "rollout":
            each = (await _form(request)).get("confirm_each_wave") == "on"
            await run_in_threadpool(as_user, who, rollouts.start, ctx.store, change_id, ctx.network, ctx.launch,
                                    confirm_waves=each)
            return RedirectResponse(f"/changes/{change_id}/live", status_code=303)
        elif event == "rollback":
            await run_in_threadpool(as_user, who, rollouts.roll_back, ctx.store, change_id, ctx.network)
        else:
            raise NotFound(f"no such action {event!r}")
    except FullbarsError as e:
        return _error_page(request, who, e, status_of(e))
    return RedirectResponse(f"/changes/{change_id}", status_code=303)


@router.get("/changes/{change_id}/live", response_class=HTMLResponse)
def live_page(request: Request, change_id: ChangeId):
    """Per wave and device the rollout's state; it updates itself (server-sent events) with JavaScript."""
    return _change_view(request, change_id, "live.html")


@router.get("/environments/{name:path}/drift", response_class=HTMLResponse)
def drift_page(request: Request, name: str):
    who = _signed_in(request)
    if who is None:
        return _to_login(request)
    ctx = context(request)
    try:
        label = name if name.startswith(("env:", "lab:")) else f"env:{name}"
        with acting(who):
            found = environments.drift(ctx.store, label, ctx.network)
    except FullbarsError as e:
        return _error_page(request, who, e, status_of(e))
    return _page(request, "drift.html", who, environment=label, devices=found)


@router.get("/audit", response_class=HTMLResponse)
def audit_page(request: Request, actor: str = "", action: str = "", subject: str = "", since: str = ""):
    who = _signed_in(request)
    if who is None:
        return _to_login(request)
    try:
        with acting(who):
            rows = audit.listing(context(request).store, actor or None, action or None, subject or None, since or None)
    except FullbarsError as e:  # a bad `since`: the page says so, as the page does every refusal
        return _error_page(request, who, e, status_of(e))
    return _page(request, "audit.html", who, rows=rows, f={"actor": actor, "action": action, "subject": subject,
                                                            "since": since})
