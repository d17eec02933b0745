"""The CLI's way to a server: the same use cases as orchestrator/app (one function per use case,
taking and returning the same plain data), carried over the REST API's routes with an API token.
Nothing is decided here: the server authorises and does the work; a refusal comes back as RFC 9457
problem details and is raised as the FullbarsError the app layer would have raised locally, so the
CLI prints it and exits as it does on the embedded default.

The token comes from $FULLBARS_TOKEN or a file only its owner may read (mode 0600): never from the
command line, which every local user can read in /proc."""

from __future__ import annotations

import os
import time
from pathlib import Path

from orchestrator.app.errors import Conflict, NotAllowed, NotFound, NotSignedIn
from orchestrator.errors import FullbarsError, Problem
from orchestrator.private_files import read_private

BY_STATUS = {401: NotSignedIn, 403: NotAllowed, 404: NotFound, 409: Conflict}
TOKEN_ENV = "FULLBARS_TOKEN"
WAIT_STEP = 0.5  # seconds between looks at a rollout the server carries


INSECURE_ENV = "FULLBARS_ALLOW_HTTP"


def cleartext_allowed(url: str) -> bool:
    """A bearer token may go over plain http only to this machine (loopback), unless the user says
    the network is trusted: anyone on the path could reuse it."""
    import ipaddress
    from urllib.parse import urlsplit

    if url.startswith("https://") or os.environ.get(INSECURE_ENV) == "1":
        return True
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class Unreachable(FullbarsError):
    """The server could not be asked, or failed (5xx): not the caller's input (exit 1)."""


def token(token_file: Path | None) -> str:
    """The API token: from token_file (which must be the user's own, mode 0600), else $FULLBARS_TOKEN."""
    if token_file is not None:
        text = read_private(token_file, "an API token",
                            "the file holds the token an admin made (POST /api/users/NAME/tokens)")
    else:
        text = os.environ.get(TOKEN_ENV, "").strip()
    if not text:
        raise FullbarsError("--server needs an API token, and none was given",
                            fix=f"export {TOKEN_ENV}=... or --token-file FILE (mode 0600); an admin makes one with "
                                "POST /api/users/NAME/tokens. Never put it on the command line")
    return text


class Client:
    """A signed-in caller of one server's /api."""

    def __init__(self, url: str, api_token: str):
        import httpx

        if not url.startswith(("http://", "https://")):
            raise FullbarsError(f"--server {url!r} is not an http(s) URL", path="--server",
                                fix="the URL fullbars server printed, e.g. http://127.0.0.1:8080/")
        if not cleartext_allowed(url):
            raise FullbarsError(f"--server {url!r}: the API token would cross the network unencrypted",
                                path="--server",
                                fix="use https:// (a TLS proxy in front of fullbars server) or an SSH tunnel to "
                                    f"127.0.0.1; {INSECURE_ENV}=1 allows plain http on a network you trust")
        self.url = url.rstrip("/") + "/"
        self.http = httpx.Client(base_url=self.url, timeout=120,
                                 headers={"Authorization": f"Bearer {api_token}"})

    def call(self, method: str, path: str, **kw):
        import httpx

        try:
            r = self.http.request(method, path, **kw)
        except httpx.HTTPError as e:
            raise Unreachable(f"cannot reach the server at {self.url}: {e}",
                              fix="check --server (or $FULLBARS_SERVER) and that fullbars server runs there") from None
        if r.status_code < 400:
            return r.json()
        raise self.problem(r)

    def problem(self, r) -> FullbarsError:
        try:
            body = r.json()
            items = [Problem(p.get("message") or body.get("detail", ""), file=p.get("file"), line=p.get("line"),
                             path=p.get("path"), document=p.get("document"), fix=p.get("fix"))
                     for p in body.get("errors") or []] or [Problem(str(body.get("detail", r.text)))]
        except ValueError:
            items = [Problem(f"the server answered {r.status_code}: {r.text[:200]}")]
        if r.status_code == 401:  # what the CLI's user must do differs from the page's sign-in
            items = [Problem(f"the server at {self.url} did not accept the token: {items[0].message}",
                             fix=f"use a valid API token in ${TOKEN_ENV} or --token-file (expired or revoked "
                                 "tokens are refused; an admin makes a new one)")]
        if r.status_code >= 500:
            return Unreachable(items)
        return BY_STATUS.get(r.status_code, FullbarsError)(items)

    # --- the use cases, as orchestrator/app names them -------------------------------------
    def listing(self) -> list[dict]:
        return self.call("GET", "api/changes")

    def show(self, change_id: int) -> dict:
        return self.call("GET", f"api/changes/{change_id}")

    def submit(self, title: str, intents: dict[str, str], target: str, **extra) -> dict:
        return self.call("POST", "api/changes", json={"title": title, "target": target, "intents": intents, **extra})

    def attach_evidence(self, change_id: int, verification_id: int) -> dict:
        return self.call("POST", f"api/changes/{change_id}/evidence", json={"verification_id": verification_id})

    def event(self, change_id: int, event: str, **body) -> dict:
        """approve, withdraw, pause, resume, abort, rollback: POST api/changes/N/EVENT."""
        return self.call("POST", f"api/changes/{change_id}/{event}", **({"json": body} if body else {}))

    def start(self, change_id: int, **body) -> dict:
        """Start the rollout and wait while the server carries it (as the CLI's own rollout runs to
        its end): the change as it was when started."""
        started = self.event(change_id, "rollout", **body)
        while self.call("GET", f"api/changes/{change_id}/rollout")["state"] == "rolling-out":
            time.sleep(WAIT_STEP)
        return started

    def audit(self, actor: str | None, action: str | None, subject: str | None, since: str | None,
              limit: int) -> list[dict]:
        params = {k: v for k, v in {"actor": actor, "action": action, "subject": subject, "since": since}.items() if v}
        return self.call("GET", "api/audit", params={**params, "limit": limit})
