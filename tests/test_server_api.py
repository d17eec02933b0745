"""The REST API against a running `fullbars server`: Schemathesis generates requests from its
OpenAPI document (no 5xx, every response as the schema says, problem details included), and
every operation refuses anonymous callers (401) and callers whose roles do not allow it (403),
as RFC 9457 problem details. A new operation must be entered in ALLOWED, so none slips through
unauthorised. Also: the audit table refuses updates and deletes; the CLI's `audit` filters."""

from __future__ import annotations

import json

import pytest

from conftest import EXAMPLES
from server_helpers import ROLES, make_users, running_server

ALL = set(ROLES)
# (method, path) → the roles that may call it; login and health need no sign-in
ALLOWED = {
    ("GET", "/api/me"): ALL, ("GET", "/api/services"): ALL, ("GET", "/api/changes"): ALL,
    ("POST", "/api/changes"): {"engineer"},
    ("GET", "/api/changes/{change_id}"): ALL,
    ("POST", "/api/changes/{change_id}/evidence"): {"ci"},
    ("POST", "/api/changes/{change_id}/approve"): {"noc"},
    ("POST", "/api/changes/{change_id}/withdraw"): {"engineer"},
    ("POST", "/api/changes/{change_id}/rollout"): {"noc"},
    ("POST", "/api/changes/{change_id}/pause"): {"noc"},
    ("POST", "/api/changes/{change_id}/resume"): {"noc"},
    ("POST", "/api/changes/{change_id}/abort"): {"noc"},
    ("POST", "/api/changes/{change_id}/rollback"): {"noc"},
    ("POST", "/api/changes/{change_id}/confirm"): {"noc"},
    ("POST", "/api/changes/{change_id}/reject"): {"noc"},
    ("GET", "/api/changes/{change_id}/rollout"): ALL,
    ("GET", "/api/changes/{change_id}/events"): ALL,
    ("GET", "/api/audit"): ALL,
    ("GET", "/api/environments"): ALL,
    ("PUT", "/api/environments/{name}"): {"admin"},
    ("GET", "/api/environments/{name}/drift"): ALL,
    ("GET", "/api/suspensions"): ALL,
    ("GET", "/api/users"): {"admin"},
    ("POST", "/api/users"): {"admin"},
    ("POST", "/api/users/{name}/tokens"): {"admin"},
}
PUBLIC = {("POST", "/api/login"), ("GET", "/api/health")}
BODIES = {  # valid bodies, so a refusal is about who asks, not what is sent
    ("POST", "/api/changes"): {"title": "t", "target": "production", "intents": {"a.yaml": "kind: X\n"}},
    ("POST", "/api/changes/{change_id}/evidence"): {"verification_id": 1},
    ("PUT", "/api/environments/{name}"): {"evidence": "optional"},
    ("POST", "/api/users"): {"name": "zed", "roles": ["engineer"]},
    ("POST", "/api/users/{name}/tokens"): {"label": "x"},
}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    import httpx

    tmp = tmp_path_factory.mktemp("server-api")
    with running_server(tmp, "--network", str(EXAMPLES / "network.yaml")) as (url, admin_pw, db):
        with httpx.Client(timeout=60) as client:
            tokens = make_users(client, url, admin_pw, people={"eve": ["engineer"], "nick": ["noc"],
                                                               "omni": list(ROLES)},
                                machines={"ci-bot": ["ci"]})
            yield {"url": url, "db": db, "tokens": tokens, "client": client,
                   "by_role": {"engineer": tokens["eve"], "noc": tokens["nick"], "ci": tokens["ci-bot"],
                               "admin": tokens["admin"]}}


def _call(client, url, method, path, token=None):
    concrete = path.replace("{change_id}", "1").replace("{name}", "production")
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    client.cookies.clear()  # the logins made the users' sessions: only the header speaks here
    return client.request(method, url.rstrip("/") + concrete, json=BODIES.get((method, path)), headers=headers)


def test_every_operation_refuses_anonymous_and_wrong_roles(server):
    client, url = server["client"], server["url"]
    spec = client.get(url + "openapi.json").json()
    assert spec["openapi"].startswith("3.1")
    ops = {(m.upper(), p) for p, item in spec["paths"].items() for m in item}
    assert ops == set(ALLOWED) | PUBLIC  # every operation has its decision here
    refused = 0
    for (method, path), roles in sorted(ALLOWED.items()):
        r = _call(client, url, method, path)
        assert r.status_code == 401, (method, path, r.text)
        assert r.headers["content-type"].startswith("application/problem+json") and r.json()["status"] == 401
        assert "sign in first" in r.json()["detail"], r.text
        r = _call(client, url, method, path, token="fb_not-a-real-token")
        assert r.status_code == 401 and "not accepted" in r.json()["detail"], (method, path, r.text)
        if method in ("POST", "PUT", "PATCH"):  # a body that is not JSON: still "sign in first"
            r = client.request(method, url.rstrip("/") + path.replace("{change_id}", "1").replace("{name}", "x"),
                               content=b"{not json", headers={"Content-Type": "application/json"})
            assert r.status_code == 401, (method, path, r.text)
        for role in sorted(ALL - roles):
            r = _call(client, url, method, path, server["by_role"][role])
            assert r.status_code == 403, (method, path, role, r.text)
            body = r.json()
            assert body["type"].endswith("/not-allowed") and " or ".join(sorted(roles)) in body["detail"], body
            refused += 1
    assert refused == 45  # the wrong-role calls the table implies (a dropped check would show here)


def test_the_right_role_gets_past_authorisation(server):
    """The same calls by a role that may: never 401/403 (what they get is about the request)."""
    client, url = server["client"], server["url"]
    for (method, path), roles in sorted(ALLOWED.items()):
        if path.endswith("/events"):
            continue  # no change 1 exists here: 404 before any stream (covered below)
        r = _call(client, url, method, path, server["by_role"][sorted(roles)[0]])
        assert r.status_code not in (401, 403, 500), (method, path, r.text)
    r = _call(client, url, "GET", "/api/changes/{change_id}/events", server["tokens"]["eve"])
    assert r.status_code == 404 and r.json()["errors"][0]["path"] == "id", r.text
    # an environment no change could target (submit takes ^[a-z][a-z0-9-]*$) is not made
    admin = server["by_role"]["admin"]
    for bad in ("Zzz..bad", "a%20b%3Cscript%3E"):
        r = client.put(url + f"api/environments/{bad}", json={"evidence": "optional"},
                       headers={"Authorization": f"Bearer {admin}"})
        assert r.status_code == 422 and "is not an environment name" in r.text, r.text
    r = client.put(url + "api/environments/lab", json={"evidence": "optional"},
                   headers={"Authorization": f"Bearer {admin}"})
    assert r.status_code == 422 and "'lab' is no environment's name" in r.text and "--lab" not in r.text, r.text
    listed = client.get(url + "api/environments", headers={"Authorization": f"Bearer {admin}"}).json()
    assert not any("Zzz" in e["environment"] or "script" in e["environment"] for e in listed), listed


def test_a_bad_intent_is_a_problem_detail_with_file_line_path_fix(server):
    client, url = server["client"], server["url"]
    intent = (EXAMPLES / "intents/acme-hq.yaml").read_text().replace("downstream:", "downstrem:")
    r = client.post(url + "api/changes", json={"title": "typo", "target": "production", "intents": {"shop.yaml": intent}},
                    headers={"Authorization": f"Bearer {server['tokens']['eve']}"})
    assert r.status_code == 422 and r.headers["content-type"].startswith("application/problem+json"), r.text
    e = r.json()["errors"][0]
    assert e["file"] == "shop.yaml" and e["line"] and e["path"].endswith("downstrem") and "downstream" in e["fix"], e
    assert client.get(url + "api/changes", headers={"Authorization": f"Bearer {server['tokens']['eve']}"}).json() == []


def test_a_body_over_the_limit_is_refused_declared_or_streamed(server):
    """413 before it is read whole: by its Content-Length, or counted as it arrives (chunked)."""
    from orchestrator.api.body_limit import MAX_BODY

    client, url = server["client"], server["url"]
    auth = {"Authorization": f"Bearer {server['tokens']['eve']}", "Content-Type": "application/json"}
    big = b'{"title": "big", "target": "production", "intents": {"a.yaml": "' + b"x" * MAX_BODY + b'"}}'
    r = client.post(url + "api/changes", content=big, headers=auth)
    assert r.status_code == 413 and r.headers["content-type"].startswith("application/problem+json"), r.text[:300]
    assert "over 20 MiB" in r.json()["detail"]

    def chunks():
        for i in range(0, len(big), 1 << 20):
            yield big[i:i + (1 << 20)]
    r = client.post(url + "api/changes", content=chunks(), headers=auth)
    assert "content-length" not in r.request.headers
    assert r.status_code == 413 and "over 20 MiB" in r.json()["detail"], r.text[:300]
    assert client.get(url + "api/changes", headers=auth).json() == []
    r = client.get(url + "api/health")
    assert r.status_code == 200
    import httpx

    with httpx.Client(base_url=url, timeout=60, headers={"Origin": url.rstrip("/")}) as browser:  # the page's form
        r = browser.post("/login", data={"name": "eve", "password": server["tokens"]["eve:password"]})
        assert r.status_code == 303, r.text
        for size, says in ((2 << 20, "over 1 MiB"), (MAX_BODY + 1, "over 20 MiB")):
            r = browser.post("/changes", data={"title": "big", "target": "production", "intent": "x" * size})
            assert r.status_code == 413 and r.headers["content-type"].startswith("text/html"), r.text[:300]
            assert says in r.text and "nothing was changed" in r.text, r.text[:2000]
    assert client.get(url + "api/changes", headers=auth).json() == []


def _verification(db: str, bundle_dir: str, ok: bool, other: bool = False, only: list[str] = ()) -> int:
    """A lab verification row as `fullbars lab verify` records it (here without a lab: the
    refusals below are about which verification is attached, not how it was made)."""
    import json as _json
    from pathlib import Path

    from orchestrator.lab import evidence
    from orchestrator.plan.bundle import load
    from orchestrator.resources.store import Store, VerificationRow

    want = evidence.configs(load(Path(bundle_dir)))
    if other:
        want = {d: "0" * 64 for d in want}
    with Store(db).transaction() as s:
        row = VerificationRow(bundle_id="x", pinned=evidence.pin(want), configs=_json.dumps(want), environment="lab:x",
                              topology_sha="0" * 64, ok=int(ok), checks=_json.dumps({"services": {}, "devices": [], "only": list(only)}),
                              by="test")
        s.add(row)
        s.flush()
        return row.id


def test_a_refusal_names_another_change_s_file_as_submitted_not_where_the_server_keeps_it(server):
    """A second change whose line takes the ONU serial a first change's line expects: the
    refusal names the first line's file as its engineer submitted it, not the server's path."""
    client, url, t = server["client"], server["url"], server["tokens"]

    def submit(name: str, title: str):
        text = (EXAMPLES / "intents/bakery-on-main.yaml").read_text().replace("bakery-on-main", name)
        client.cookies.clear()
        return client.post(url + "api/changes", headers={"Authorization": f"Bearer {t['eve']}"},
                           json={"title": title, "target": "production", "intents": {f"{name}.yaml": text}})

    assert submit("bakery-one", "first").status_code == 201
    r = submit("bakery-two", "second")
    assert r.status_code == 422 and "already used by service bakery-one (bakery-one.yaml:10)" in r.text, r.text
    assert "/changes/" not in r.text and "/intents/" not in r.text, r.text


def test_a_change_says_which_earlier_changes_its_plan_leaves_off_the_devices_they_share(server):
    """Two changes, never rolled out: a line on olt-1, then one on olt-2 of the same BNG. The
    second change's bundle leaves the first line off bng-east (its OLT is not in this change), and
    both its answer and its detail say so, naming what to plan to carry it."""
    client, url, t = server["client"], server["url"], server["tokens"]
    auth = {"Authorization": f"Bearer {t['eve']}"}
    ids = []
    for name in ("dock-office", "port-authority"):
        text = (EXAMPLES / "lab" / f"{name}.yaml").read_text().replace(name, f"{name}-api")
        client.cookies.clear()
        r = client.post(url + "api/changes", headers=auth,
                        json={"title": name, "target": "production", "intents": {f"{name}-api.yaml": text}})
        assert r.status_code == 201, r.text
        ids.append(r.json()["id"])
    want = {"dock-office-api": {"left_off": ["bng-east"], "waits_for": ["olt-1"], "plan": "dock-office-api"}}
    assert r.json()["held_back"] == want, r.text
    d = client.get(url + f"api/changes/{ids[1]}", headers=auth).json()
    assert d["held_back"] == want and "dock-office-api" not in next(x for x in d["devices"]
                                                                   if x["device"] == "bng-east")["edit"], d
    import httpx

    with httpx.Client(base_url=url, timeout=60) as browser:  # and the change's page
        r = browser.post("/login", data={"name": "eve", "password": t["eve:password"], "next": "/"})
        assert r.status_code == 303, r.text
        page = browser.get(f"/changes/{ids[1]}").text
        assert 'id="held-back"' in page and "<strong>dock-office-api</strong> kept off bng-east" in page, page
        assert 'id="held-back"' not in browser.get(f"/changes/{ids[0]}").text


def test_the_state_machine_refuses_what_its_table_lacks(server):
    client, url, t = server["client"], server["url"], server["tokens"]

    def call(who, method, path, **kw):
        client.cookies.clear()
        return client.request(method, url + path, headers={"Authorization": f"Bearer {t[who]}"}, **kw)

    r = call("eve", "POST", "api/changes", json={"title": "acme", "target": "production",
                                                  "intents": {"acme.yaml": (EXAMPLES / "intents/acme-hq.yaml").read_text()}})
    assert r.status_code == 201 and r.json()["state"] == "planned", r.text
    c = r.json()
    n = c["id"]
    r = call("nick", "POST", f"api/changes/{n}/approve")
    assert r.status_code == 409 and r.json()["type"].endswith("/state-conflict"), r.text
    assert r.json()["errors"][0]["fix"] == "in state planned it can: attach-failing, attach-passing, withdraw"
    assert call("nick", "POST", f"api/changes/{n}/rollout").status_code == 409
    assert call("ci-bot", "POST", f"api/changes/{n}/evidence", json={"verification_id": 999999}).status_code == 404
    r = call("ci-bot", "POST", f"api/changes/{n}/evidence",
             json={"verification_id": _verification(server["db"], c["bundle_dir"], ok=True, other=True)})
    assert r.status_code == 409 and "other configs" in r.json()["detail"], r.text
    r = call("ci-bot", "POST", f"api/changes/{n}/evidence",  # one service checked: no evidence either way
             json={"verification_id": _verification(server["db"], c["bundle_dir"], ok=False, only=["acme-hq"])})
    assert r.status_code == 422 and "not evidence" in r.json()["detail"], r.text
    assert call("ci-bot", "GET", f"api/changes/{n}").json()["state"] == "planned"
    r = call("ci-bot", "POST", f"api/changes/{n}/evidence",
             json={"verification_id": _verification(server["db"], c["bundle_dir"], ok=False)})
    assert r.status_code == 200 and r.json()["state"] == "lab-failed", r.text
    assert "approve" not in call("nick", "GET", f"api/changes/{n}").json()["allowed"]
    r = call("ci-bot", "POST", f"api/changes/{n}/evidence",
             json={"verification_id": _verification(server["db"], c["bundle_dir"], ok=True)})
    assert r.status_code == 200 and r.json()["state"] == "verified", r.text
    assert call("nick", "GET", f"api/changes/{n}").json()["allowed"] == ["approve"]
    assert call("eve", "GET", f"api/changes/{n}").json()["allowed"] == ["withdraw"]
    r = call("eve", "POST", f"api/changes/{n}/withdraw")
    assert r.status_code == 200 and r.json()["state"] == "withdrawn", r.text
    for who, event in (("nick", "approve"), ("eve", "withdraw"), ("nick", "rollback")):
        r = call(who, "POST", f"api/changes/{n}/{event}")
        assert r.status_code == 409 and r.json()["errors"][0]["fix"] == "in state withdrawn it can: nothing more", r.text
    steps = [(a["action"], a["actor"]) for a in reversed(call("nick", "GET", "api/audit",
                                                              params={"subject": f"change:{n}"}).json())]
    assert steps == [("change-submit", "eve"), ("change-attach-failing", "ci-bot"),
                     ("change-attach-passing", "ci-bot"), ("change-withdraw", "eve")], steps


def test_schemathesis_finds_no_server_error_and_no_schema_violation(server):
    import schemathesis
    from hypothesis import HealthCheck, given, settings
    from schemathesis.checks import (content_type_conformance, not_a_server_error, response_schema_conformance,
                                     status_code_conformance)

    schema = schemathesis.openapi.from_url(server["url"] + "openapi.json")
    checks = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
    failures = []
    ran = 0
    for who in ("omni", None):  # every role at once (reaches the use cases), and anonymous
        headers = {"Authorization": f"Bearer {server['tokens'][who]}"} if who else {}
        for result in schema.exclude(path_regex=r"/events$").get_all_operations():
            op = result.ok()

            @settings(max_examples=15, deadline=None, database=None,
                      suppress_health_check=list(HealthCheck))
            @given(case=op.as_strategy())
            def run(case):
                case.call_and_validate(base_url=server["url"].rstrip("/"), headers=headers, checks=checks)
            try:
                run()
                ran += 1
            except (Exception, BaseExceptionGroup) as e:  # collect all, then report all
                failures.append(f"{who} {op.method.upper()} {op.path}: {e}")
    assert not failures, "\n\n".join(failures)
    assert ran == 2 * (len(ALLOWED) - 1 + len(PUBLIC))


def test_audit_is_append_only_and_filtered(server):
    from sqlalchemy import create_engine, text
    from sqlalchemy.exc import DatabaseError

    from conftest import cli

    engine = create_engine(server["db"])
    try:
        for stmt in ("UPDATE audit SET actor = 'mallory'", "DELETE FROM audit"):
            with pytest.raises(DatabaseError, match="append-only"):
                with engine.begin() as c:
                    c.execute(text(stmt))
    finally:
        engine.dispose()
    r = cli("audit", "--user", "admin", "--action", "user-", "--format", "json", db=server["db"])
    assert r.exit_code == 0, r.output
    rows = json.loads(r.output)["rows"]
    assert {a["subject"] for a in rows} >= {"user:eve", "user:nick", "user:omni", "user:ci-bot"}, rows
    assert {(a["actor"], a["origin"]) for a in rows} == {("admin", "127.0.0.1")}, rows
    assert all(a["action"] == "user-create" for a in rows), rows  # the prefix filter: token-create is not user-
    assert "user:admin" not in {a["subject"] for a in rows}  # made by the server's command, as the local user


def test_the_page_wants_a_signed_in_user_and_reads_any_environment(server):
    """Pages send anonymous readers to the login; a wrong password is refused there; an
    environment's drift page takes a lab's label (with slashes), and only of an environment the
    store knows (a lab's label is a file on the server, which it must not read for anyone)."""
    import httpx

    url = server["url"]
    with httpx.Client(base_url=url, timeout=60) as browser:
        for page in ("/", "/audit", "/changes/1", "/environments/production/drift"):
            r = browser.get(page)
            assert r.status_code == 303 and r.headers["location"].startswith("/login?next="), (page, r.text)
        r = browser.post("/login", data={"name": "nick", "password": "wrong-password", "next": "/"})
        assert r.status_code == 401 and "login-failed" in r.text
        r = browser.post("/login", data={"name": "nick", "password": server["tokens"]["nick:password"], "next": "/audit"})
        assert r.status_code == 303 and r.headers["location"] == "/audit", r.text
        r = browser.get("/environments/lab:/tmp/s4s-no-such.clab.yml/drift")
        assert r.status_code == 404 and "no environment &#39;lab:/tmp/s4s-no-such.clab.yml&#39; is known" in r.text, r.text
        # a lab's label names a file on the server: one no transaction was ever given is not opened
        r = browser.get("/environments/lab:/etc/shadow/drift")
        assert r.status_code == 404 and "root:" not in r.text and "not valid for containerlab" not in r.text, r.text
        r = browser.get("/audit", params={"actor": "nick", "action": "login"})
        assert r.status_code == 200 and "login-failed" in r.text and "wrong-password" not in r.text
        r = browser.get("/audit", params={"since": "yesterday-ish"})  # the page's own refusal, not the API's JSON
        assert r.status_code == 422 and r.headers["content-type"].startswith("text/html") and "since" in r.text, r.text
    # a button's form posted by someone not allowed (from the page: a browser says its Origin)
    with httpx.Client(base_url=url, timeout=60, headers={"Origin": url.rstrip("/")}) as browser:
        r = browser.post("/login", data={"name": "eve", "password": server["tokens"]["eve:password"], "next": "/"})
        assert r.status_code == 303, r.text
        for event in ("approve", "rollout", "abort"):
            r = browser.post(f"/changes/1/{event}")
            assert r.status_code == 403 and "eve may not" in r.text and "nothing was changed" in r.text, r.text


def test_a_button_pressed_from_another_origin_of_the_same_host_is_refused(server):
    """A page on another port of this host (same site: the SameSite=Strict cookie goes along)
    posts the approve form: refused, the change stays verified. The same post from the server's
    own page approves it."""
    import httpx

    client, url, t = server["client"], server["url"], server["tokens"]
    client.cookies.clear()
    eve = {"Authorization": f"Bearer {t['eve']}"}
    r = client.post(url + "api/changes", headers=eve, json={
        "title": "csrf", "target": "production",
        "intents": {"acme.yaml": (EXAMPLES / "intents/acme-hq.yaml").read_text().replace("acme-hq", "acme-csrf")}})
    assert r.status_code == 201, r.text
    n, bundle_dir = r.json()["id"], r.json()["bundle_dir"]
    r = client.post(url + f"api/changes/{n}/evidence", headers={"Authorization": f"Bearer {t['ci-bot']}"},
                    json={"verification_id": _verification(server["db"], bundle_dir, ok=True)})
    assert r.status_code == 200 and r.json()["state"] == "verified", r.text
    own = url.rstrip("/")
    other = own.rsplit(":", 1)[0] + ":1"  # same host, another port
    with httpx.Client(base_url=url, timeout=60) as browser:
        r = browser.post("/login", data={"name": "nick", "password": t["nick:password"], "next": "/"},
                         headers={"Origin": own})
        assert r.status_code == 303, r.text
        for headers in ({"Origin": other}, {"Referer": other + "/index.html"}, {}, {"Origin": "null"}):
            r = browser.post(f"/changes/{n}/approve", headers=headers)
            assert r.status_code == 403 and r.headers["content-type"].startswith("text/html"), (headers, r.text)
            assert "not from this server&#39;s own pages" in r.text and "nothing was changed" in r.text, r.text
            r = browser.post(f"api/changes/{n}/approve", headers=headers)
            assert r.status_code == 403 and r.json()["errors"][0]["path"] == "Origin", (headers, r.text)
        assert client.get(url + f"api/changes/{n}", headers=eve).json()["state"] == "verified"
        r = browser.post(f"/changes/{n}/approve", headers={"Referer": own + f"/changes/{n}"})
        assert r.status_code == 303, r.text
        r = browser.post(f"/changes/{n}/withdraw", headers={"Origin": own})  # got through: the state machine answers
        assert r.status_code == 403 and "nick may not" in r.text, r.text
    c = client.get(url + f"api/changes/{n}", headers=eve).json()
    assert (c["state"], c["approver"]) == ("approved", "nick"), c


def test_a_sign_in_from_another_origin_is_refused_and_forwarded_addresses_count_only_from_a_trusted_proxy(
        server, tmp_path):
    """Login CSRF: another site's page posting the sign-in form would sign the browser in as the
    attacker's own account. And X-Forwarded-For from any local process is not the client's
    address (the sign-in throttle and the audit count by it) unless the server was told to trust
    that proxy (--trust-proxy), which then also gives the scheme a button's Origin is checked
    against."""
    import httpx

    url, t = server["url"], server["tokens"]
    own = url.rstrip("/")
    other = own.rsplit(":", 1)[0] + ":1"
    admin = {"Authorization": f"Bearer {t['admin']}"}
    with httpx.Client(base_url=url, timeout=60) as browser:
        for headers in ({"Origin": other}, {"Origin": "null"}, {"Referer": other + "/login"}):
            r = browser.post("/login", data={"name": "nick", "password": t["nick:password"], "next": "/"},
                             headers=headers)
            assert r.status_code == 403 and r.headers["content-type"].startswith("text/html"), (headers, r.text)
            assert "not from this server&#39;s own sign-in page" in r.text and not browser.cookies, r.text
            r = browser.post("/api/login", json={"name": "nick", "password": t["nick:password"]}, headers=headers)
            assert r.status_code == 403 and r.json()["errors"][0]["path"] == "Origin", (headers, r.text)
        r = browser.post("/api/login", json={"name": "nick", "password": t["nick:password"]})  # a program
        assert r.status_code == 200 and r.json()["token"], r.text
        r = browser.post("/login", data={"name": "nick", "password": t["nick:password"], "next": "/"},
                         headers={"Origin": own})
        assert r.status_code == 303 and browser.cookies, r.text
        r = browser.post("/api/login", json={"name": "xff-probe", "password": "wrong"},
                         headers={"X-Forwarded-For": "203.0.113.77"})
        assert r.status_code == 401, r.text
    audit = httpx.get(url + "api/audit", params={"action": "login-failed"}, headers=admin, timeout=60).json()
    probe = [a["origin"] for a in audit if a["subject"] == "user:(unknown)" and a["origin"] in ("127.0.0.1",
                                                                                               "203.0.113.77")]
    assert probe and "203.0.113.77" not in probe, audit

    with running_server(tmp_path, "--trust-proxy", "127.0.0.1") as (proxied, admin_pw, _):
        behind = "https://" + proxied.split("://", 1)[1].rstrip("/")  # as the proxy's TLS side is named
        with httpx.Client(base_url=proxied, timeout=60) as browser:
            r = browser.post("/api/login", json={"name": "admin", "password": "wrong"},
                             headers={"X-Forwarded-For": "203.0.113.78"})
            assert r.status_code == 401, r.text
            tls = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.79"}
            r = browser.post("/login", data={"name": "admin", "password": admin_pw, "next": "/"},
                             headers={**tls, "Origin": behind})
            assert r.status_code == 303 and "secure" in r.headers["set-cookie"].lower(), r.headers
            session = {"Cookie": r.headers["set-cookie"].split(";", 1)[0], **tls}
            browser.cookies.clear()  # (a Secure cookie: sent here by hand, as the proxy passes it on)
            r = browser.post("/logout", headers={**session, "Origin": proxied.rstrip("/")})  # plain http: not the page
            assert r.status_code == 403, r.text
            r = browser.post("/logout", headers={**session, "Origin": behind})
            assert r.status_code == 303, r.text
            token = browser.post("/api/login", json={"name": "admin", "password": admin_pw}).json()["token"]
            audit = browser.get("/api/audit", headers={"Authorization": f"Bearer {token}"}).json()
        got = {(a["action"], a["origin"]) for a in audit if a["action"] in ("login", "login-failed")}
        assert {("login-failed", "203.0.113.78"), ("login", "203.0.113.79")} <= got, audit


def test_text_that_is_no_unicode_and_ids_past_the_store_s_integers_are_refused_not_a_server_error(server):
    """JSON can escape a lone surrogate, which no UTF-8 file holds; SQLite's integers end at
    2^63-1. Both are the request's fault: 422 naming what, on the API and on the page."""
    import httpx

    client, url, t = server["client"], server["url"], server["tokens"]
    client.cookies.clear()
    eve = {"Authorization": f"Bearer {t['eve']}", "Content-Type": "application/json"}
    before = client.get(url + "api/changes", headers=eve).json()
    for body, path, says in (
            (b'{"title": "t", "target": "production", "intents": {"a.yaml": "x: \\ud800"}}', "a.yaml", "lone surrogate"),
            (b'{"title": "t", "target": "production", "intents": {"\\ud800.yaml": "x: 1"}}', "[key]", "lone surrogate"),
            (b'{"title": "t\\udfff", "target": "production", "intents": {"a.yaml": "x: 1"}}', "title", "unicode")):
        r = client.post(url + "api/changes", content=body, headers=eve)
        assert r.status_code == 422 and r.headers["content-type"].startswith("application/problem+json"), r.text
        e = r.json()["errors"][0]
        assert e["path"].endswith(path) and says in e["message"], r.text
    r = client.post(url + "api/login", content=b'{"name": "nick\\ud800", "password": "x"}',
                    headers={"Content-Type": "application/json"})
    assert r.status_code == 422 and r.json()["errors"][0]["path"] == "body.name", r.text
    assert client.get(url + "api/changes", headers=eve).json() == before
    huge = "99999999999999999999"
    with httpx.Client(base_url=url, timeout=60, headers={"Origin": url.rstrip("/")}) as browser:
        assert browser.post("/login", data={"name": "nick", "password": t["nick:password"]}).status_code == 303
        for method, page in (("GET", f"/changes/{huge}"), ("GET", f"/changes/{huge}/live"),
                             ("POST", f"/changes/{huge}/approve"), ("POST", f"/changes/{huge}/rollout"),
                             ("GET", "/changes/0")):
            r = browser.request(method, page)
            assert r.status_code == 422 and r.headers["content-type"].startswith("text/html"), (page, r.text)
            assert "change_id" in r.text and "nothing was changed" in r.text, (page, r.text)
        r = browser.get("/no-such-page")
        assert r.status_code == 404 and r.headers["content-type"].startswith("text/html"), r.text


def test_the_schema_says_how_to_sign_in_and_that_a_body_may_be_too_large(server):
    """/docs' Authorize button and generated clients learn the bearer token and the session
    cookie from the schema; every operation that takes a body may answer 413."""
    spec = server["client"].get(server["url"] + "openapi.json").json()
    schemes = spec["components"]["securitySchemes"]
    assert schemes["bearer"] == {**schemes["bearer"], "type": "http", "scheme": "bearer"}, schemes
    assert schemes["session"] == {**schemes["session"], "type": "apiKey", "in": "cookie", "name": "fullbars_session"}
    for (method, path) in ALLOWED:
        op = spec["paths"][path][method.lower()]
        assert op["security"] == [{"bearer": []}, {"session": []}], (method, path, op.get("security"))
    for (method, path) in PUBLIC:
        assert "security" not in spec["paths"][path][method.lower()], (method, path)
    bodies = [(m, p) for p, item in spec["paths"].items() for m in item if m in ("post", "put", "patch")]
    assert len(bodies) == 15
    for method, path in bodies:
        too_large = spec["paths"][path][method]["responses"]["413"]
        assert too_large["content"]["application/problem+json"]["schema"] == {"$ref": "#/components/schemas/Problem"}
    r = server["client"].get(server["url"] + "docs")
    assert r.status_code == 200 and "/openapi.json" in r.text


def test_a_lab_s_name_is_no_environment_the_server_sets_nor_a_file_its_page_opens(server):
    """Submit takes no lab target, so neither does setting an environment: `lab:FILE` names a file
    on the server, which the drift page would open relative to the server's folder (saying
    whether it exists). One the store holds anyway (as a store of before this refusal might) is
    not opened unless it is a path the CLI would have recorded (absolute)."""
    import httpx

    from orchestrator.resources.store import Store
    from orchestrator.rollout.environments import describe

    client, url, t = server["client"], server["url"], server["tokens"]
    client.cookies.clear()
    admin = {"Authorization": f"Bearer {t['admin']}"}
    for name in ("lab:admin.pw", "lab:x", "lab:server.log", "lab:.."):
        r = client.put(url + f"api/environments/{name}", json={"evidence": "optional"}, headers=admin)
        assert r.status_code == 422 and "is no environment's name here" in r.text, (name, r.text)
        assert "e.g. production" in r.json()["errors"][0]["fix"], r.text
    assert not any(e["environment"].startswith("lab:") for e in client.get(url + "api/environments",
                                                                            headers=admin).json())
    with Store(server["db"]).transaction() as s:
        describe(s, "lab:server.log", "optional", None)  # the server's log is in its working folder
    with httpx.Client(base_url=url, timeout=60) as browser:
        assert browser.post("/login", data={"name": "nick", "password": t["nick:password"]}).status_code == 303
        r = browser.get("/environments/lab:server.log/drift")
        assert r.status_code == 404 and "no environment &#39;lab:server.log&#39; is known" in r.text, r.text
