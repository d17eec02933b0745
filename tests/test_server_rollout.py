"""A change request's rollout through the server, in waves, against a namespaced 'production' of
four devices: two lines on disjoint OLT/BNG pairs make two waves (canary, then the rest). Paused
at once, it holds before the next wave until resumed, then every device is confirmed; rolled
back, its waves are undone. Aborted, the waves not begun never run. A wave whose device is
unreachable fails, changes nothing there, and stops the rollout.

Lab evidence is not the subject here: production's description makes it optional, and the
verification CI would attach is written to the store as `fullbars lab verify` records it.
The lab is this file's own (name s4sw..., management subnet 198.18.250.0/24)."""

from __future__ import annotations

import os
import signal
import time

import pytest

from conftest import EXAMPLES
from server_helpers import production
from test_server_api import _verification

INTENTS = [EXAMPLES / "intents/acme-hq.yaml", EXAMPLES / "intents/clinic-west.yaml"]
DEVICES = ("olt-1", "bng-east", "olt-3", "bng-west")
SECRET = "FULLBARS_TEST_S4S_WAVES_PASSWORD"
IN_FLIGHT = {"started", "editing", "committing", "verifying", "confirming"}


@pytest.fixture(scope="module")
def prod(tmp_path_factory):
    with production(tmp_path_factory.mktemp("server-rollout"), INTENTS, f"s4sw{os.getpid() % 100000}",
                    "198.18.250.0/24", SECRET, DEVICES) as p:
        yield p


def _approved(p, title: str, intents: dict[str, str] | None = None) -> int:
    """A change (of both lines unless intents says otherwise), verified and approved; its number."""
    call = p["call"]
    r = call("eve", "POST", "api/changes", json={"title": title, "target": "production",
                                                 "intents": intents or {f.name: f.read_text() for f in INTENTS}})
    assert r.status_code == 201, r.text
    c = r.json()
    r = call("ci-bot", "POST", f"api/changes/{c['id']}/evidence",
             json={"verification_id": _verification(p["db"], c["bundle_dir"], ok=True)})
    assert r.status_code == 200 and r.json()["state"] == "verified", r.text
    r = call("nick", "POST", f"api/changes/{c['id']}/approve")
    assert r.status_code == 200 and r.json()["state"] == "approved", r.text
    return c["id"]


def _waves(p, n: int) -> dict[int, dict]:
    return {w["wave"]: w for w in p["call"]("nick", "GET", f"api/changes/{n}/rollout").json()["waves"]}


def _until(p, n: int, done, limit: float = 180) -> dict:
    deadline = time.monotonic() + limit
    while True:
        r = p["call"]("nick", "GET", f"api/changes/{n}/rollout").json()
        if done(r) or time.monotonic() > deadline:
            return r
        time.sleep(0.3)


def _settled(r) -> bool:
    return not any(w["state"] in IN_FLIGHT for w in r["waves"])


def test_waves_pause_resume_and_roll_back(prod):
    call = prod["call"]
    n = _approved(prod, "two lines")
    waves = _waves(prod, n)
    assert {w: sorted(d["device"] for d in x["devices"]) for w, x in waves.items()} == \
        {1: ["bng-east", "olt-1"], 2: ["bng-west", "olt-3"]}
    assert call("nick", "POST", f"api/changes/{n}/rollout").status_code == 202
    r = call("nick", "POST", f"api/changes/{n}/pause")
    assert r.status_code == 200 and r.json()["state"] == "paused", r.text
    held = _until(prod, n, _settled)
    assert held["state"] == "paused" and held["waves"][1]["state"] == "waiting", held  # wave 2 not begun
    assert [d["state"] for d in held["waves"][1]["devices"]] == ["waiting", "waiting"]
    time.sleep(2)
    assert _until(prod, n, _settled, 0)["waves"][1]["state"] == "waiting"  # still held
    assert call("nick", "POST", f"api/changes/{n}/resume").json()["state"] == "rolling-out"
    done = _until(prod, n, lambda r: r["state"] not in ("rolling-out", "paused"))
    assert done["state"] == "done", done
    assert [d["state"] for w in done["waves"] for d in w["devices"]] == ["confirmed"] * 4, done

    r = call("nick", "POST", f"api/changes/{n}/rollback")
    assert r.status_code == 200 and r.json()["state"] == "rolled-back", r.text
    steps = [(a["action"], a["actor"]) for a in reversed(call("nick", "GET", "api/audit",
                                                              params={"subject": f"change:{n}"}).json())]
    head = [("change-submit", "eve"), ("change-attach-passing", "ci-bot"), ("change-approve", "nick"),
            ("change-start", "nick")]
    tail = [("change-wave", "nick"), ("change-finish", "nick"), ("change-roll-back", "nick")]
    held = [("change-pause", "nick"), ("change-resume", "nick")]
    wave1 = [("change-wave", "nick")]
    # paused before wave 1 began, or while it ran: either way wave 2 waited for the resume
    assert steps in (head + held + wave1 + tail, head + held[:1] + wave1 + held[1:] + tail), steps
    rolled = call("nick", "GET", "api/audit", params={"subject": f"change:{n}", "action": "change-roll-back"}).json()
    assert len(rolled[0]["detail"]["rolled_back"]) == 2  # both waves' transactions undone
    view = call("nick", "GET", f"api/changes/{n}/rollout").json()  # and its view says so
    assert [w["state"] for w in view["waves"]] == ["rolled-back"] * 2, view
    assert [d["state"] for w in view["waves"] for d in w["devices"]] == ["rolled-back"] * 4, view


def test_the_api_reads_production_s_drift_from_its_devices(prod):
    """GET /api/environments/NAME/drift reads each device as `fullbars drift` does: after the
    rollout and its rollback, every device runs what fullbars last gave it."""
    call = prod["call"]
    r = call("nick", "GET", "api/environments/production/drift")
    assert r.status_code == 200, r.text
    found = {d["device"]: d for d in r.json()}
    assert set(found) == set(DEVICES), found
    assert all(d["in_sync"] is True and d["differences"] == [] and d["error"] is None for d in found.values()), found
    r = call("nick", "GET", "api/environments/nowhere/drift")
    assert r.status_code == 404 and r.json()["errors"][0]["path"] == "environment", r.text


def test_a_change_a_later_one_changed_the_devices_of_is_a_conflict_to_roll_back(prod):
    """Rolled back while a later change's configs are on its devices, a change is refused as a
    conflict with that change (409, naming it), not as invalid input; newest first, both go."""
    call = prod["call"]
    first = _approved(prod, "a line, then changed", {INTENTS[0].name: INTENTS[0].read_text()})
    assert call("nick", "POST", f"api/changes/{first}/rollout").status_code == 202
    assert _until(prod, first, lambda r: r["state"] != "rolling-out")["state"] == "done"
    acme = INTENTS[0].read_text()
    assert "upstream: 300M" in acme
    second = _approved(prod, "acme slower up", {INTENTS[0].name: acme.replace("upstream: 300M", "upstream: 100M")})
    assert call("nick", "POST", f"api/changes/{second}/rollout").status_code == 202
    assert _until(prod, second, lambda r: r["state"] != "rolling-out")["state"] == "done"
    r = call("nick", "POST", f"api/changes/{first}/rollback")
    assert r.status_code == 409 and r.json()["type"].endswith("/state-conflict"), r.text
    assert "changed after" in r.json()["detail"] and "roll back" in r.json()["errors"][0]["fix"], r.text
    assert call("nick", "GET", f"api/changes/{first}").json()["state"] == "done"
    for n in (second, first):
        r = call("nick", "POST", f"api/changes/{n}/rollback")
        assert r.status_code == 200 and r.json()["state"] == "rolled-back", r.text


def test_abort_leaves_the_waves_not_begun(prod):
    call = prod["call"]
    n = _approved(prod, "two lines, aborted")
    assert call("nick", "POST", f"api/changes/{n}/rollout").status_code == 202
    assert call("nick", "POST", f"api/changes/{n}/pause").status_code == 200
    _until(prod, n, _settled)
    r = call("nick", "POST", f"api/changes/{n}/abort")
    assert r.status_code == 200 and r.json()["state"] == "aborted", r.text
    time.sleep(1)
    r = _until(prod, n, _settled, 0)
    assert r["state"] == "aborted" and r["waves"][1]["state"] == "waiting", r
    assert call("nick", "POST", f"api/changes/{n}/resume").status_code == 409
    assert call("nick", "POST", f"api/changes/{n}/rollback").json()["state"] == "rolled-back"


def test_a_wave_that_fails_stops_the_rollout(prod, tmp_path):
    """... and the live view, open in Chromium as it fails, offers roll-back once it ends."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    from test_server_browser import live_view

    call = prod["call"]
    n = _approved(prod, "two lines, olt-3 down")
    os.kill(prod["st"]["nodes"]["olt-3"]["pids"][0], signal.SIGKILL)  # wave 2's OLT stops answering
    with live_view(prod["url"], "nick", call.tokens["nick:password"], n, tmp_path / "chromium") as driver:
        assert call("nick", "POST", f"api/changes/{n}/rollout").status_code == 202
        r = _until(prod, n, lambda r: r["state"] not in ("rolling-out", "paused"))
        WebDriverWait(driver, 60, 0.5).until(lambda d: d.find_elements(By.ID, "do-roll-back"))
        assert driver.find_element(By.ID, "rollout-state").text == "failed"
        assert not driver.find_elements(By.ID, "do-abort")
    assert r["state"] == "failed" and "olt-3" in r["error"], r
    w1, w2 = r["waves"]
    assert [d["state"] for d in w1["devices"]] == ["confirmed", "confirmed"], r
    assert all(d["state"] not in ("committed", "confirmed") for d in w2["devices"]), r
    c = call("nick", "GET", f"api/changes/{n}").json()
    assert c["allowed"] == ["roll-back"], c
