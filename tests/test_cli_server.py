"""The CLI as a client of a running `fullbars server` (--server URL, the API token from
$FULLBARS_TOKEN or a 0600 --token-file): the real `fullbars` command, run as a process, acts as
the token's user through the REST API. An engineer submits, a CI machine attaches evidence, the
engineer may not approve (exit 2, the role named), a NOC operator approves; bad input names the
file as given, exit 2, and makes no change request; a wrong token, a token file others may read,
no token, an unknown change and an unreachable server are refused with what to do. It prints what
the CLI prints on the embedded default (`change show` the same, from the server's store), and
the audit names the users; no token reaches the audit, the server's log or the command line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import EXAMPLES, REPO
from server_helpers import make_users, running_server
from test_server_api import _verification

ACME = EXAMPLES / "intents/acme-hq.yaml"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    import httpx

    tmp = tmp_path_factory.mktemp("cli-server")
    with running_server(tmp, "--network", str(EXAMPLES / "network.yaml")) as (url, admin_pw, db):
        with httpx.Client(timeout=60) as client:
            tokens = make_users(client, url, admin_pw, people={"eve": ["engineer"], "nick": ["noc"]},
                                machines={"ci-bot": ["ci"]})
        yield {"url": url, "db": db, "tokens": tokens, "tmp": tmp}


def fullbars(p, *args, token: str | None = None, env: dict | None = None) -> subprocess.CompletedProcess:
    """The `fullbars` command as a user runs it, against the server, the token in the environment."""
    argv = [sys.executable, "-m", "orchestrator", *args]
    assert not token or all(token not in a for a in argv)
    e = {k: v for k, v in os.environ.items() if not k.startswith("FULLBARS_TOKEN")}
    e.update({"PYTHONPATH": str(REPO), "FULLBARS_SERVER": p["url"], **(env or {})})
    if token:
        e["FULLBARS_TOKEN"] = token
    return subprocess.run(argv, cwd=p["tmp"], env=e, capture_output=True, text=True, timeout=120)


def test_the_cli_with_a_token_against_a_server(server):
    t = server["tokens"]
    r = fullbars(server, "change", "submit", str(ACME), "--target", "production", "--title", "acme line",
                 token=t["eve"])
    assert r.returncode == 0 and "change 1: planned  acme line  (target production, submitted by eve" in r.stdout, \
        r.stdout + r.stderr

    bad = server["tmp"] / "shop.yaml"
    bad.write_text(ACME.read_text().replace("downstream:", "downstrem:"))
    r = fullbars(server, "change", "submit", str(bad), "--target", "production", "--title", "typo", token=t["eve"])
    assert r.returncode == 2 and "error: shop.yaml:" in r.stderr and "downstrem" in r.stderr, r.stderr
    assert "fix: did you mean 'downstream'?" in r.stderr and "Traceback" not in r.stderr, r.stderr

    r = fullbars(server, "change", "evidence", "1", str(_verification(server["db"], _bundle(server), ok=True)),
                 token=t["ci-bot"])
    assert r.returncode == 0 and "change 1: verified" in r.stdout, r.stdout + r.stderr

    r = fullbars(server, "change", "approve", "1", token=t["eve"])  # wrong role
    assert r.returncode == 2 and "eve may not changes approve: that needs the role noc" in r.stderr, r.stderr
    assert "Traceback" not in r.stderr

    token_file = server["tmp"] / "nick.token"
    token_file.write_text(t["nick"] + "\n")
    token_file.chmod(0o644)
    r = fullbars(server, "change", "approve", "1", "--token-file", str(token_file))
    assert r.returncode == 2 and "may be read by others (mode 0644)" in r.stderr and "chmod 600" in r.stderr, r.stderr
    token_file.chmod(0o600)
    r = fullbars(server, "change", "approve", "1", "--token-file", str(token_file))
    assert r.returncode == 0 and "change 1: approved  acme line" in r.stdout and "approved by nick" in r.stdout, \
        r.stdout + r.stderr

    r = fullbars(server, "change", "confirm", "1", token=t["nick"])  # no wave awaits its confirm
    assert r.returncode == 2 and "change 1 is approved: it cannot confirm" in r.stderr, r.stderr
    r = fullbars(server, "change", "reject", "1", token=t["eve"])
    assert r.returncode == 2 and "eve may not changes rollout: that needs the role noc" in r.stderr, r.stderr

    r = fullbars(server, "change", "list", token="fb_not-a-token")
    assert r.returncode == 2 and "did not accept the token" in r.stderr and "FULLBARS_TOKEN" in r.stderr, r.stderr
    r = fullbars(server, "change", "list")
    assert r.returncode == 2 and "--server needs an API token" in r.stderr, r.stderr
    r = fullbars(server, "change", "show", "99", token=t["nick"])
    assert r.returncode == 2 and "no change request 99" in r.stderr, r.stderr
    r = fullbars(server, "change", "list", "--token", t["nick"])  # there is no way to put it on the command line
    assert r.returncode == 2 and "No such option" in r.stderr, r.stderr
    r = fullbars(server, "change", "list", token=t["nick"], env={"FULLBARS_SERVER": "http://127.0.0.1:9/"})
    assert r.returncode == 1 and "cannot reach the server at http://127.0.0.1:9/" in r.stderr, r.stderr

    # the same output as on the embedded default (here: the server's own store, read locally)
    remote = fullbars(server, "change", "show", "1", token=t["nick"])
    local = fullbars(server, "change", "show", "1", "--db", server["db"], env={"FULLBARS_SERVER": ""})
    assert remote.returncode == local.returncode == 0 and remote.stdout == local.stdout, (remote.stdout, local.stdout)

    r = fullbars(server, "audit", "--subject", "change:1", "--format", "json", token=t["nick"])
    assert r.returncode == 0, r.stderr
    rows = json.loads(r.stdout)["rows"]
    steps = [(a["action"], a["actor"], a["origin"]) for a in reversed(rows)]
    assert steps == [("change-submit", "eve", "127.0.0.1"), ("change-attach-passing", "ci-bot", "127.0.0.1"),
                     ("change-approve", "nick", "127.0.0.1")], steps
    everything = fullbars(server, "audit", "--limit", "1000", token=t["nick"]).stdout
    log = (server["tmp"] / "server.log").read_text()
    for name in ("eve", "nick", "ci-bot", "admin"):
        assert t[name] not in everything and t[name] not in log


def _bundle(server) -> str:
    from orchestrator.resources.store import ChangeRow, Store

    with Store(server["db"]).transaction(write=False) as s:
        return s.get(ChangeRow, 1).bundle_dir


def test_a_token_goes_over_plain_http_only_to_this_machine(monkeypatch):
    from orchestrator.api.client import INSECURE_ENV, Client
    from orchestrator.errors import FullbarsError

    monkeypatch.delenv(INSECURE_ENV, raising=False)
    for url in ("http://127.0.0.1:8080/", "http://localhost:8080", "http://[::1]:8080/", "https://noc.example:443/"):
        Client(url, "t")
    for url in ("http://noc.example:8080/", "http://10.1.2.3:8080/"):
        with pytest.raises(FullbarsError, match="unencrypted"):
            Client(url, "t")
    monkeypatch.setenv(INSECURE_ENV, "1")
    Client("http://10.1.2.3:8080/", "t")
