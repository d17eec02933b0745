"""`fullbars server`: the FastAPI application (OpenAPI 3.1 at /openapi.json, docs at /docs, the
web page at /), served by uvicorn. `serve` runs the durable engine (orchestrator/engine/) in this
process: a change's rollout is a workflow (engine/change_rollout.py), which the server, started
again, or a `fullbars worker` recovers if this process dies. create_app alone (no engine) carries
rollouts in a thread pool."""

from __future__ import annotations

import errno
import socket
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from orchestrator.api import deps, problems
from orchestrator.api.body_limit import BodyLimit
from orchestrator.api.deps import Context
from orchestrator.api.login_limit import TooManyAttempts
from orchestrator.api.same_origin import SameOrigin
from orchestrator.errors import FullbarsError, Problem

ROLLOUTS_AT_ONCE = 4


def _needs_sign_in(dependant) -> bool:
    return any(d.call is deps.actor or _needs_sign_in(d) for d in dependant.dependencies)


def create_app(store, workdir: Path, network_file: str | None = None, launch=None, logins=None) -> FastAPI:
    from importlib.metadata import version

    from orchestrator.api import rest, web

    app = FastAPI(title="fullbars", version=version("fullbars"),
                  description="Intent-based orchestration: change requests from intents to a lab-verified, "
                              "approved, network-wide rollout. Sign in with POST /api/login (a session cookie) or "
                              "send an API token as `Authorization: Bearer ...`. Errors are RFC 9457 problem details.")
    ctx = Context(store, Path(workdir), network_file, launch)
    if logins is not None:
        ctx.logins = logins
    if launch is None:
        from orchestrator.app.rollouts import run_job

        pool = ThreadPoolExecutor(ROLLOUTS_AT_ONCE, thread_name_prefix="rollout")
        ctx.launch = lambda job: pool.submit(run_job, store, job, ctx.network)
    app.state.ctx = ctx
    app.add_middleware(BodyLimit)
    app.add_middleware(SameOrigin)

    @app.exception_handler(FullbarsError)
    async def _problem(request: Request, e: FullbarsError):
        status = problems.status_of(e)
        headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
        if isinstance(e, TooManyAttempts):
            headers = {"Retry-After": str(e.retry_after)}
        return web.refusal(request, e, status, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, e: RequestValidationError):
        # FastAPI reads the body before it runs the route's dependencies: an anonymous caller
        # must hear that it is not signed in, not what is wrong with its body.
        route = request.scope.get("route")
        if route is not None and _needs_sign_in(route.dependant) and deps.identify(request) is None:
            try:
                deps.actor(request)
            except FullbarsError as refused:
                return await _problem(request, refused)
        errs = [Problem(str(x.get("msg", "invalid")), path=".".join(str(p) for p in x.get("loc", ())),
                        fix="see the schema at /openapi.json") for x in e.errors()]
        return web.refusal(request, FullbarsError(errs or [Problem("invalid request")]), 422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, e: StarletteHTTPException):  # unknown path, wrong method
        return web.refusal(request, FullbarsError(str(e.detail)), e.status_code)

    @app.exception_handler(Exception)
    async def _bug(request: Request, e: Exception):
        """A bug: its traceback to the server's log, a problem detail without internals to the client."""
        import traceback

        traceback.print_exception(e, file=sys.stderr)
        return problems.response(FullbarsError("the server failed on this request (a bug: its log has the details)",
                                               fix="report it with the time and the request"), 500)

    @app.get("/api/health", tags=["identity"])
    def health() -> dict:
        """Whether the server answers (no sign-in needed; it tells nothing else)."""
        return {"ok": True}

    app.include_router(rest.router)
    described = app.openapi

    def openapi() -> dict:
        spec = described()
        for item in spec["paths"].values():  # BodyLimit answers any body before its route runs
            for method in ("post", "put", "patch"):
                if method in item:
                    item[method]["responses"].setdefault("413", {
                        "description": problems.TITLES[413],
                        "content": {problems.MEDIA: {"schema": {"$ref": "#/components/schemas/Problem"}}}})
        return spec
    app.openapi = openapi
    app.include_router(web.router)
    app.mount("/static", StaticFiles(directory=str(Path(__file__).parent / "static")), name="static")
    return app


def serve(store, workdir: Path, host: str, port: int, network_file: str | None = None, say=print,
          run_for: float | None = None, trust_proxy: list[str] = ()) -> None:
    """Serve until interrupted (or for run_for seconds); say the URL once it answers.
    trust_proxy: the addresses of reverse proxies whose X-Forwarded-For and X-Forwarded-Proto
    name the client and the scheme (the sign-in throttle's address, the audit's, the origin a
    button must come from). None by default: any local process could otherwise claim any address."""
    import os
    import urllib.request

    import uvicorn

    from orchestrator.engine import api as engine
    from orchestrator.engine import runtime

    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as e:
        if isinstance(e, socket.gaierror) or e.errno == errno.EADDRNOTAVAIL:
            raise FullbarsError(f"cannot listen on {host}:{port}: {e.strerror}",
                                fix="--host an address of this machine (127.0.0.1, 0.0.0.0, or one `ip -br addr` "
                                    "lists)") from None
        raise FullbarsError(f"cannot listen on {host}:{port}: {e.strerror}", fix="choose another --port (0: any free one)")
    bound = sock.getsockname()[1]

    def fenced():  # others took this server for dead and run its rollouts: stop at once
        say("fullbars server: other executors took it for dead; stopping so no wave runs twice")
        os._exit(75)

    # watch: a server started again recovers the rollouts of the one that died (as a worker would)
    runtime.launch(store.url, role="server", watch=True, fenced=fenced)
    app = create_app(store, workdir, network_file,
                     launch=lambda job: engine.start_change(store.url, {**job, "network_file": network_file}))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False,
                                           proxy_headers=bool(trust_proxy),
                                           forwarded_allow_ips=list(trust_proxy) or None))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    url = f"http://{host if ':' not in host else f'[{host}]'}:{bound}/"
    for _ in range(200):  # until it answers its own health check
        try:
            with urllib.request.urlopen(url + "api/health", timeout=1) as r:
                if r.status == 200:
                    break
        except OSError:
            thread.join(0.05)
    else:
        server.should_exit = True
        thread.join(10)
        runtime.shutdown()
        raise FullbarsError(f"the server did not answer at {url}api/health", fix="see the messages above")
    say(f"fullbars server: {url} (API docs {url}docs; OpenAPI {url}openapi.json)")
    try:
        thread.join(run_for)
    except KeyboardInterrupt:
        pass
    server.should_exit = True
    thread.join(10)
    runtime.shutdown()
