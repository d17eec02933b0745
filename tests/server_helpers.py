"""A real `fullbars server` for a test: started as the command a user runs (a subprocess, its own
store and work folder, any free port), with users of every role made through the API as an admin
would. Stopped, and its children with it, when the `with` ends."""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import subprocess
import sys
import time
from pathlib import Path

from conftest import REPO

ROLES = ("engineer", "ci", "noc", "admin")


@contextlib.contextmanager
def running_server(tmp: Path, *extra: str, env: dict | None = None, started: list | None = None):
    """(base URL, admin password, store URL). started: a list the server's process is appended to
    (for a test that kills it)."""
    db = f"sqlite:///{tmp}/server.db"
    password = secrets.token_urlsafe(18)
    log = tmp / "server.log"  # a file, not a pipe: a pipe nobody reads would stop the server when full
    with open(log, "w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "orchestrator", "server", "--db", db, "--port", "0",
                                 "--admin", "admin", "--workdir", str(tmp / "work"), *extra],
                                cwd=tmp, text=True, stdout=out, stderr=subprocess.STDOUT,
                                env={**os.environ, **(env or {}), "FULLBARS_ADMIN_PASSWORD": password,
                                     "PYTHONPATH": str(REPO)})
    if started is not None:
        started.append(proc)
    try:
        deadline = time.monotonic() + 120
        while not (m := re.search(r"^fullbars server: (http://\S+/) ", log.read_text(), re.M)):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError("the server did not start:\n" + log.read_text())
            time.sleep(0.1)
        print(f"server log: {log}")
        yield m.group(1), password, db
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def login(client, url: str, name: str, password: str) -> str:
    r = client.post(url + "api/login", json={"name": name, "password": password})
    assert r.status_code == 200, r.text
    return r.json()["token"]


def make_users(client, url: str, admin_password: str, people: dict[str, list[str]],
               machines: dict[str, list[str]]) -> dict[str, str]:
    """name → bearer token: people get a password (and sign in), machines an API token."""
    admin = {"Authorization": f"Bearer {login(client, url, 'admin', admin_password)}"}
    tokens = {"admin": admin["Authorization"][7:]}
    for name, roles in people.items():
        pw = f"{name}-{secrets.token_urlsafe(12)}"
        r = client.post(url + "api/users", json={"name": name, "roles": roles, "password": pw}, headers=admin)
        assert r.status_code == 201, r.text
        tokens[name] = login(client, url, name, pw)
        tokens[f"{name}:password"] = pw
    for name, roles in machines.items():
        r = client.post(url + "api/users", json={"name": name, "roles": roles}, headers=admin)
        assert r.status_code == 201, r.text
        r = client.post(url + f"api/users/{name}/tokens", json={"label": "test"}, headers=admin)
        assert r.status_code == 201, r.text
        tokens[name] = r.json()["token"]
    return tokens


def callers(client, url: str, admin_pw: str):
    """eve (engineer), nick (noc) and ci-bot (ci) made, environment production's evidence made
    optional; call(who, method, path, ...) as any of them (or admin), by bearer token."""
    tokens = make_users(client, url, admin_pw, people={"eve": ["engineer"], "nick": ["noc"]},
                        machines={"ci-bot": ["ci"]})

    def call(who, method, path, **kw):
        client.cookies.clear()
        return client.request(method, path, headers={"Authorization": f"Bearer {tokens[who]}"}, **kw)
    r = call("admin", "PUT", "api/environments/production", json={"evidence": "optional"})
    assert r.status_code == 200 and r.json()["evidence"] == "optional", r.text
    call.tokens = tokens
    return call


@contextlib.contextmanager
def production_lab(tmp: Path, intents: list[Path], lab_name: str, subnet: str, secret_env: str, devices: tuple,
                   agent: str | None = None):
    """A namespaced lab of the intents' devices (no CPEs; lab name and management subnet the
    caller's own; agent: every node's, else each kind's default), described as environment
    production. Yields the lab's state (st) and the description (net)."""
    import pytest
    import yaml

    from conftest import EXAMPLES
    from lab_environment import as_environment
    from orchestrator.lab.generate import from_plan
    from orchestrator.lab.runtime import open_lab
    from orchestrator.plan.artifacts import write
    from orchestrator.plan.pipeline import plan
    from orchestrator.resources.store import Store
    from test_lab import _require_lab_tools

    _require_lab_tools()
    network = EXAMPLES / "network.yaml"
    mp = pytest.MonkeyPatch()
    mp.setenv("FULLBARS_LAB_DIR", str(tmp / "labs"))
    write(plan(Store(f"sqlite:///{tmp}/scratch.db"), str(network), [str(p) for p in intents]), tmp / "scratch-plan")
    doc = yaml.safe_load(from_plan(tmp / "scratch-plan", lab_name, cpes=False))
    doc["mgmt"] = {"ipv4-subnet": subnet}
    for node in doc["topology"]["nodes"].values() if agent else ():
        node["labels"]["fullbars.agent"] = agent
    topo = tmp / "prod.clab.yml"
    topo.write_text(yaml.safe_dump(doc, sort_keys=False))
    lab = open_lab(topo)
    try:
        lab.up(timeout=90)
        st = lab.load_state()
        yield st, as_environment(network, tmp, st, secret_env, devices)
    finally:
        lab.down()
        mp.undo()


@contextlib.contextmanager
def production(tmp: Path, intents: list[Path], lab_name: str, subnet: str, secret_env: str, devices: tuple):
    """production_lab() and a server over it with eve (engineer), nick (noc) and ci-bot (ci).
    Yields call(who, method, path, ...), the server's store URL (db) and URL (url), the lab's state
    (st) and the description (net)."""
    import httpx

    with production_lab(tmp, intents, lab_name, subnet, secret_env, devices) as (st, net):
        with running_server(tmp, "--network", str(net), env={secret_env: st["password"]}) as (url, admin_pw, db):
            with httpx.Client(base_url=url, timeout=60) as client:
                yield {"call": callers(client, url, admin_pw), "db": db, "st": st, "net": net, "url": url}
