"""What every route needs: the server's context (store, work folder, network description) and
who is asking, authenticated from a bearer token (CI, scripts) or the session cookie (the page)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from fastapi import Depends, Request
from fastapi.security import APIKeyCookie, HTTPBearer

from orchestrator.acting import Actor
from orchestrator.api.login_limit import LoginLimit
from orchestrator.app import users
from orchestrator.app.errors import NotSignedIn
from orchestrator.errors import FullbarsError

COOKIE = "fullbars_session"
# Declared for the OpenAPI document (and /docs' Authorize button); identify() does the checking.
BEARER = HTTPBearer(scheme_name="bearer", auto_error=False,
                    description="An API token (an admin makes one with POST /api/users/NAME/tokens) or the "
                                "session token POST /api/login answers with")
SESSION = APIKeyCookie(name=COOKIE, scheme_name="session", auto_error=False,
                       description="The HttpOnly session cookie POST /api/login sets (the web page's); a POST, PUT, "
                                   "PATCH or DELETE signed in by it must carry this server's own Origin")


@dataclass
class Context:
    store: object
    workdir: Path
    network_file: str | None  # None: the network description the store remembers
    launch: object  # launch(job): carries a started rollout on (the server: a durable workflow)
    logins: LoginLimit = field(default_factory=LoginLimit)  # failed password sign-ins, for their backoff

    def network(self):
        """The network description rollouts and drift address devices by."""
        from orchestrator.app.rollouts import stored_network

        return stored_network(self.store, self.network_file)


def context(request: Request) -> Context:
    return request.app.state.ctx


def token_of(request: Request) -> str | None:
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip()
    return request.cookies.get(COOKIE)


def origin(request: Request) -> str:
    return request.client.host if request.client else ""


def identify(request: Request) -> Actor | None:
    return users.authenticate(context(request).store, token_of(request), origin(request))


def actor(request: Request, _bearer=Depends(BEARER), _session=Depends(SESSION)) -> Actor:
    """Dependency: the signed-in user; anyone else is refused (401) before the route runs."""
    who = identify(request)
    if who is None and token_of(request):
        raise NotSignedIn("the token or session given is not accepted (unknown, revoked or expired)",
                          fix="POST /api/login with your name and password again, or ask an admin for a new API "
                              "token")
    if who is None:
        raise NotSignedIn("sign in first: a bearer token (Authorization: Bearer ...) or the session cookie "
                          "from POST /api/login", fix="POST /api/login with your name and password, or ask an "
                                                      "admin for an API token")
    return who
