"""Guessing passwords at the server: failed sign-ins make the account, and the address they come
from, wait before the next attempt (429 with Retry-After, right password or not), on the API and
on the page's form; the failure that starts a wait is in the audit. The app runs in-process with
a clock the test moves, so nothing here depends on how fast the machine is."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient

from orchestrator.api.login_limit import LoginLimit
from orchestrator.api.server import create_app
from orchestrator.app import users
from orchestrator.resources.store import Store


@pytest.fixture
def app(tmp_path):
    store = Store(f"sqlite:///{tmp_path}/server.db")
    users.ensure_admin(store, "admin", "admin-password-123456")
    users.create(store, "nick", ["noc"], "nick-password-123456", check=False)
    now = [1000.0]
    limit = LoginLimit(free={"user": 3, "client": 6}, clock=lambda: now[0])
    return create_app(store, tmp_path / "work", logins=limit), now, limit


def _login(client, name, password):
    return client.post("/api/login", json={"name": name, "password": password})


def test_failed_sign_ins_make_the_account_and_the_address_wait(app):
    app, now, _ = app
    attacker = TestClient(app, client=("192.0.2.7", 4000))
    for i in range(4):  # three free failures; the fourth starts a wait of 1 s
        assert _login(attacker, "nick", f"guess-{i}").status_code == 401
    r = _login(attacker, "nick", "nick-password-123456")  # the right one, too soon: not even checked
    assert r.status_code == 429 and r.headers["retry-after"] == "1", r.text
    assert r.json()["type"].endswith("/too-many-attempts") and "try again in 1 s" in r.json()["detail"], r.text
    elsewhere = TestClient(app, client=("198.51.100.9", 4000))  # the account waits, wherever asked from
    assert _login(elsewhere, "nick", "nick-password-123456").status_code == 429
    r = elsewhere.post("/login", data={"name": "nick", "password": "nick-password-123456", "next": "/"},
                       follow_redirects=False)
    assert r.status_code == 429 and r.headers["retry-after"] == "1" and 'id="login-wait"' in r.text, r.text
    now[0] += 1.5
    assert _login(attacker, "nick", "guess-4").status_code == 401  # the wait over, a failure doubles it
    r = _login(attacker, "nick", "nick-password-123456")
    assert r.status_code == 429 and r.headers["retry-after"] == "2", r.text
    now[0] += 2.5
    assert _login(elsewhere, "nick", "nick-password-123456").status_code == 200
    assert _login(elsewhere, "nick", "typo").status_code == 401  # a right password: the account starts afresh

    # the address: guesses spread over other names (5 of its 6 free failures spent above)
    assert _login(attacker, "nobody", "x").status_code == 401
    assert _login(attacker, "admin", "x").status_code == 401  # the seventh: the address waits
    r = _login(attacker, "admin", "admin-password-123456")
    assert r.status_code == 429 and r.headers["retry-after"] == "1", r.text
    r = _login(elsewhere, "admin", "admin-password-123456")  # admin's account itself is not held
    assert r.status_code == 200, r.text

    audit = elsewhere.get("/api/audit", params={"action": "login-locked"},
                          headers={"Authorization": f"Bearer {r.json()['token']}"}).json()
    got = sorted((a["subject"], a["origin"], a["detail"]["seconds"]) for a in audit)
    assert got == [("user:admin", "192.0.2.7", 1.0), ("user:nick", "192.0.2.7", 1.0),
                   ("user:nick", "192.0.2.7", 2.0)], audit


def test_a_name_no_user_can_have_takes_no_more_memory_than_one_a_user_can(app):
    """The page's form takes up to 1 MiB: names guessed at it are kept for their backoff, cut to
    the 64 characters a user's name may have."""
    app, _, limit = app
    client = TestClient(app, client=("192.0.2.8", 4000))
    r = client.post("/login", data={"name": "n" * 500_000, "password": "x", "next": "/"}, follow_redirects=False)
    assert r.status_code == 401 and 'id="login-failed"' in r.text
    assert max(len(name) for _, name in limit.failures) == 64, [len(k[1]) for k in limit.failures]
