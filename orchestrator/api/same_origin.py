"""A browser sends the session cookie with a form posted from any page of the same site, and
SameSite=Strict does not tell one port of a host from another: a page served on another port
could press the page's buttons as the signed-in user. So a request that changes something and
is signed in by the cookie alone must come from a page of this server's own origin, as its
Origin header (or, without one, its Referer) says. A bearer token is never sent by a browser on
its own, so requests carrying one are left alone.

A sign-in posted from another origin is refused too (login CSRF: another site's page would sign
the browser in as that site's own account, and what the user then submits would be done under
it). A sign-in without Origin or Referer is a program's (curl, a script), not a page's: it
passes, as without the cookie."""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.requests import Request

from orchestrator.api.deps import COOKIE
from orchestrator.app.errors import NotAllowed

UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}
BY_PASSWORD = {"/login", "/api/login"}  # a cookie sent along does not sign these in
DEFAULT_PORTS = {"http": 80, "https": 443}


def _origin(url: str) -> tuple | None:
    try:
        u = urlsplit(url)
        scheme = u.scheme.lower()
        return scheme, (u.hostname or "").lower(), u.port or DEFAULT_PORTS.get(scheme)
    except ValueError:  # a port that is not a number
        return None


def refusal(request: Request) -> NotAllowed | None:
    """Why this request may not act by its cookie (None: it may)."""
    if request.method not in UNSAFE:
        return None
    own = _origin(f"{request.url.scheme}://{request.headers.get('host', '')}")
    said = request.headers.get("origin") or request.headers.get("referer")
    if request.url.path in BY_PASSWORD:
        if not said or _origin(said) == own:
            return None
        return NotAllowed(f"a sign-in came from {said}, not from this server's own sign-in page "
                          f"({request.url.scheme}://{request.headers.get('host', '')})", path="Origin",
                          fix="sign in on this server's own page, or from a program that sends no Origin")
    if COOKIE not in request.cookies or request.headers.get("authorization", "").lower().startswith("bearer "):
        return None
    if said and said != "null" and _origin(said) == own:
        return None
    return NotAllowed(f"a request signed in by the session cookie came from {said or 'a page that did not say'}, "
                      f"not from this server's own pages ({request.url.scheme}://{request.headers.get('host', '')})",
                      path="Origin",
                      fix="use the buttons on this server's own page (the browser then sends its Origin), or send "
                          "an API token as Authorization: Bearer ...")


class SameOrigin:
    """ASGI middleware: HTTP requests only."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http":
            request = Request(scope)
            if (refused := refusal(request)) is not None:
                from orchestrator.api.web import refusal as answer

                return await answer(request, refused, 403)(scope, receive, send)
        await self.app(scope, receive, send)
