"""Confirm each wave by hand, and the health gate between waves, through the server, against a namespaced 'production' of four
devices (two lines on disjoint OLT/BNG pairs: two waves). Started with confirm_each_wave, wave 1
is committed and then waits in awaiting-confirm (the API's rollout view says which wave, until
when), with wave 2 not begun; a NOC operator confirms it, wave 2 waits in turn, confirmed, the
change is done and every device runs its intended config. A rejected wave 2 rolls back only its
own devices (read back from the devices: wave 1's keep the change); that one is started from the
page, its "confirm each wave" box ticked, and the live page offers the confirm. A wave nobody confirms is
taken back by the devices themselves at the confirmed commit's timeout, and the change says so.
A device of a confirmed wave edited by hand before the next wave (ncclient, as an engineer at the
device would) is caught by the health gate: the change pauses, naming the device and the path,
wave 2 does not begin; put back and resumed, the rollout goes on. A server SIGKILLed while a
wave awaits its confirm is started again on its store: the recovered workflow undoes the wave
and applies it again, which asks for its confirm again; confirmed, the change is done. From the
command line: `fullbars change rollout N --confirm-each-wave` on the store waits for the confirms,
given by `fullbars change confirm N` through the server (a NOC token) and on the store.

The lab is this file's own (name s5nc..., management subnet 198.18.236.0/24)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import EXAMPLES, REPO, read_running
from server_helpers import callers, production, running_server
from test_server_rollout import _approved as approved
from test_server_rollout import _settled, _until

INTENTS = [EXAMPLES / "intents/acme-hq.yaml", EXAMPLES / "intents/clinic-west.yaml"]
DEVICES = ("olt-1", "bng-east", "olt-3", "bng-west")
SECRET = "FULLBARS_TEST_S5N_CONFIRM_PASSWORD"


@pytest.fixture(scope="module")
def prod(tmp_path_factory):
    with production(tmp_path_factory.mktemp("confirm-waves"), INTENTS, f"s5nc{os.getpid() % 100000}",
                    "198.18.236.0/24", SECRET, DEVICES) as p:
        yield p


def _approved(p, title: str) -> dict:
    """A change of both lines, verified and approved (as test_server_rollout makes it)."""
    return p["call"]("nick", "GET", f"api/changes/{approved(p, title)}").json()


def _runs(p, c: dict) -> dict[str, bool]:
    """device → whether it runs the change's intended config, read back from the device."""
    from orchestrator.netconf.compare import missing
    from orchestrator.plan.bundle import load
    from orchestrator.lab.endpoints import lab_endpoints

    bundle, eps = load(Path(c["bundle_dir"])), lab_endpoints(p["st"])
    return {dev: not missing(bundle.intended(dev), read_running(eps[dev])) for dev in DEVICES}


def _awaits(wave: int):
    return lambda r: r["state"] != "rolling-out" and (r["state"] != "awaiting-confirm" or r["awaiting"]["wave"] == wave)


def test_each_wave_waits_for_its_confirm(prod):
    call = prod["call"]
    c = _approved(prod, "two lines, confirmed by hand")
    n = c["id"]
    r = call("nick", "POST", f"api/changes/{n}/rollout", json={"confirm_each_wave": True})
    assert r.status_code == 202, r.text
    r = _until(prod, n, _awaits(1))
    assert r["state"] == "awaiting-confirm" and r["awaiting"]["wave"] == 1, r
    w1, w2 = r["waves"]
    assert w1["state"] == "awaiting-confirm" and [d["state"] for d in w1["devices"]] == ["committed"] * 2, r
    assert w2["state"] == "waiting", r
    assert call("nick", "GET", f"api/changes/{n}").json()["allowed"] == ["abort", "confirm", "reject"]
    assert call("eve", "POST", f"api/changes/{n}/confirm").status_code == 403  # an engineer may not
    runs = _runs(prod, c)
    assert runs == {"olt-1": True, "bng-east": True, "olt-3": False, "bng-west": False}, runs

    assert call("nick", "POST", f"api/changes/{n}/confirm").json()["state"] == "rolling-out"
    r = _until(prod, n, _awaits(2))
    assert r["state"] == "awaiting-confirm" and r["awaiting"]["wave"] == 2, r
    assert [d["state"] for d in r["waves"][0]["devices"]] == ["confirmed"] * 2, r
    assert call("nick", "POST", f"api/changes/{n}/confirm").status_code == 200
    r = _until(prod, n, lambda r: r["state"] not in ("rolling-out", "awaiting-confirm"))
    assert r["state"] == "done" and r["awaiting"] is None, r
    assert [d["state"] for w in r["waves"] for d in w["devices"]] == ["confirmed"] * 4, r
    assert all(_runs(prod, c).values())
    steps = [a["action"] for a in reversed(call("nick", "GET", "api/audit", params={"subject": f"change:{n}"}).json())]
    assert steps[3:] == ["change-start", "change-await-confirm", "change-confirm", "change-wave",
                         "change-await-confirm", "change-confirm", "change-wave", "change-finish"], steps
    assert call("nick", "POST", f"api/changes/{n}/rollback").json()["state"] == "rolled-back"
    assert not any(_runs(prod, c).values())


def test_a_wave_confirmed_then_aborted_at_once_stays_and_the_next_does_not_begin(prod):
    """Abort stops the waves after the confirmed one: given right after the confirm (before the
    wave's hold looks again), it had rolled the confirmed wave back, the operator told it was
    confirmed."""
    call = prod["call"]
    c = _approved(prod, "two lines, confirmed then aborted")
    n = c["id"]
    assert call("nick", "POST", f"api/changes/{n}/rollout", json={"confirm_each_wave": True}).status_code == 202
    assert _until(prod, n, _awaits(1))["state"] == "awaiting-confirm"
    assert call("nick", "POST", f"api/changes/{n}/confirm").json()["state"] == "rolling-out"
    assert call("nick", "POST", f"api/changes/{n}/abort").json()["state"] == "aborted"
    r = _until(prod, n, lambda r: _settled(r) and r["waves"][0]["state"] not in ("awaiting-confirm", "verifying"))
    assert r["state"] == "aborted", r
    assert [d["state"] for d in r["waves"][0]["devices"]] == ["confirmed"] * 2, r
    assert r["waves"][1]["state"] == "waiting", r
    assert _runs(prod, c) == {"olt-1": True, "bng-east": True, "olt-3": False, "bng-west": False}
    assert call("nick", "POST", f"api/changes/{n}/rollback").json()["state"] == "rolled-back"


def test_a_rejected_wave_rolls_back_only_its_devices(prod):
    call = prod["call"]
    c = _approved(prod, "two lines, wave 2 rejected")
    n = c["id"]
    assert 'name="confirm_each_wave"' in call("nick", "GET", f"changes/{n}").text  # the page's checkbox, ticked:
    r = call("nick", "POST", f"changes/{n}/rollout", data={"confirm_each_wave": "on"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == f"/changes/{n}/live", r.text
    assert _until(prod, n, _awaits(1))["state"] == "awaiting-confirm"
    live = call("nick", "GET", f"changes/{n}/live").text
    assert "Wave 1 awaits your confirm until" in live and 'id="do-confirm"' in live and 'id="do-reject"' in live
    assert call("nick", "POST", f"api/changes/{n}/confirm").status_code == 200
    r = _until(prod, n, _awaits(2))
    assert r["state"] == "awaiting-confirm", r
    assert _runs(prod, c) == dict.fromkeys(DEVICES, True)  # wave 2 committed, not yet confirmed
    r = call("nick", "POST", f"api/changes/{n}/reject")
    assert r.status_code == 200 and r.json()["state"] == "failed", r.text
    r = _until(prod, n, lambda r: r["waves"][1]["state"] not in ("awaiting-confirm", "verifying"))
    assert r["state"] == "failed" and "wave 2 was rejected by nick" in r["error"], r
    assert [d["state"] for d in r["waves"][0]["devices"]] == ["confirmed"] * 2, r
    assert [d["state"] for d in r["waves"][1]["devices"]] == ["rolled-back"] * 2, r
    runs = _runs(prod, c)
    assert runs == {"olt-1": True, "bng-east": True, "olt-3": False, "bng-west": False}, runs
    assert call("nick", "POST", f"api/changes/{n}/rollback").json()["state"] == "rolled-back"


def test_a_wave_nobody_confirms_reverts_by_itself(prod):
    call = prod["call"]
    c = _approved(prod, "two lines, nobody confirms")
    n = c["id"]
    r = call("nick", "POST", f"api/changes/{n}/rollout", json={"confirm_each_wave": True, "confirm_timeout": 10})
    assert r.status_code == 202, r.text
    # the live view's stream: the change fails before its devices revert; the stream's last word
    # must be the reverted state, which GET .../rollout says from then on
    r = _last_event(prod, n)
    assert r == call("nick", "GET", f"api/changes/{n}/rollout").json()
    assert r["state"] == "failed", r
    assert "nobody confirmed wave 1 within its confirmed commit's 10 s: its devices reverted by themselves" \
        in r["error"], r
    assert [d["state"] for d in r["waves"][0]["devices"]] == ["rolled-back"] * 2, r
    assert r["waves"][1]["state"] == "waiting", r
    wave = call("nick", "GET", "api/audit", params={"subject": f"change:{n}", "action": "change-wave"}).json()[0]
    assert all(h.startswith("already old (reverted by its confirm timeout") for h in wave["detail"]["devices_ended"].values()), wave["detail"]
    assert not any(_runs(prod, c).values())


def test_the_live_view_ends_with_the_reverted_wave_and_the_buttons_its_end_allows(prod, tmp_path):
    """In Chromium, the live view open while nobody confirms: it ends showing the devices the
    confirm timeout reverted (not the commit they had when the change failed) and the roll-back
    button the failed change allows, which, pressed, rolls it back."""
    from selenium.common.exceptions import StaleElementReferenceException, TimeoutException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    from test_server_browser import live_view

    call = prod["call"]
    n = _approved(prod, "two lines, watched while nobody confirms")["id"]
    try:
        with live_view(prod["url"], "nick", call.tokens["nick:password"], n, tmp_path / "chromium") as driver:
            r = call("nick", "POST", f"api/changes/{n}/rollout", json={"confirm_each_wave": True, "confirm_timeout": 10})
            assert r.status_code == 202, r.text

            def cells(d):
                return [e.text for e in d.find_elements(By.CSS_SELECTOR, "#rollout .device-state")]
            try:  # (the page reloads itself once the stream ends: an element read meanwhile is gone)
                WebDriverWait(driver, 150, 0.5, ignored_exceptions=(StaleElementReferenceException,)).until(
                    lambda d: cells(d)[:2] == ["rolled-back"] * 2 and d.find_elements(By.ID, "do-roll-back"))
            except TimeoutException:
                raise AssertionError(f"the page shows {cells(driver)}") from None
            assert driver.find_element(By.ID, "rollout-state").text == "failed"
            assert call("nick", "GET", f"api/changes/{n}/rollout").json()["waves"][0]["state"] == "rolled-back"
            driver.find_element(By.ID, "do-roll-back").click()  # a form the page posts: its Origin is its own
            WebDriverWait(driver, 60).until(lambda d: d.current_url.endswith(f"/changes/{n}"))
        assert call("nick", "GET", f"api/changes/{n}").json()["state"] == "rolled-back"
    finally:  # the wave's transaction gone, its devices unlocked, before the next test rolls out
        _until(prod, n, lambda r: _settled(r) and r["state"] not in ("rolling-out", "awaiting-confirm"))


def _last_event(p, n: int) -> dict:
    """The last `progress` event of the change's stream, read until its `end`."""
    import json

    import httpx

    last, event = None, None
    with httpx.stream("GET", p["url"] + f"api/changes/{n}/events", timeout=180,
                      headers={"Authorization": f"Bearer {p['call'].tokens['nick']}"}) as stream:
        for line in stream.iter_lines():
            if line.startswith("event:"):
                event = line[6:].strip()
            elif line.startswith("data:") and event == "progress":
                last = json.loads(line[5:])
            elif event == "end":
                return last
    raise AssertionError(f"the stream ended without its end event; last: {last}")


def _by_hand(p, dev: str, interface: str, description: str | None) -> None:
    """Set (None: remove) an interface's description on the device, as a person at it would."""
    from ncclient import manager

    nc, ietf = "urn:ietf:params:xml:ns:netconf:base:1.0", "urn:ietf:params:xml:ns:yang:ietf-interfaces"
    leaf = f"<description>{description}</description>" if description else \
        f'<description xmlns:nc="{nc}" nc:operation="remove"/>'
    n, st = p["st"]["nodes"][dev], p["st"]
    with manager.connect(host=n["mgmt_ip"], port=830, username=st["user"], password=st["password"],
                         hostkey_verify=False, look_for_keys=False, allow_agent=False) as m:
        m.edit_config(target="candidate", config=f'<config xmlns="{nc}"><interfaces xmlns="{ietf}"><interface>'
                                                 f'<name>{interface}</name>{leaf}</interface></interfaces></config>')
        m.commit()


def test_the_health_gate_catches_a_device_edited_between_waves(prod):
    from lxml import etree

    from orchestrator.plan.bundle import load

    call = prod["call"]
    c = _approved(prod, "two lines, olt-1 edited by hand")
    n = c["id"]
    intended = etree.fromstring(load(Path(c["bundle_dir"])).intended("olt-1").encode())
    entry = intended.find(".//{urn:ietf:params:xml:ns:yang:ietf-interfaces}interface")
    interface = entry.findtext("{urn:ietf:params:xml:ns:yang:ietf-interfaces}name")
    planned = entry.findtext("{urn:ietf:params:xml:ns:yang:ietf-interfaces}description")
    assert call("nick", "POST", f"api/changes/{n}/rollout", json={"confirm_each_wave": True}).status_code == 202
    assert _until(prod, n, _awaits(1))["state"] == "awaiting-confirm"
    assert call("nick", "POST", f"api/changes/{n}/confirm").status_code == 200
    assert call("nick", "POST", f"api/changes/{n}/pause").json()["state"] == "paused"  # before wave 2 begins
    r = _until(prod, n, lambda r: _settled(r) and r["waves"][0]["state"] == "committed")
    assert r["state"] == "paused" and r["waves"][1]["state"] == "waiting", r

    _by_hand(prod, "olt-1", interface, "edited by hand")
    assert call("nick", "POST", f"api/changes/{n}/resume").json()["state"] == "rolling-out"
    r = _until(prod, n, lambda r: r["state"] != "rolling-out")
    assert r["state"] == "paused" and r["waves"][1]["state"] == "waiting", r
    assert r["error"].startswith("health gate: olt-1 does not run the planned config:") and interface in r["error"], r
    gate = call("nick", "GET", "api/audit", params={"subject": f"change:{n}", "action": "change-gate-fail"}).json()
    assert [p["device"] for p in gate[0]["detail"]["problems"]] == ["olt-1"], gate
    time.sleep(1)
    assert _until(prod, n, _settled, 0)["waves"][1]["state"] == "waiting"  # still held

    _by_hand(prod, "olt-1", interface, planned)  # put back as planned
    assert call("nick", "POST", f"api/changes/{n}/resume").status_code == 200
    r = _until(prod, n, _awaits(2))
    assert r["state"] == "awaiting-confirm" and r["error"] == "", r["error"]
    assert call("nick", "POST", f"api/changes/{n}/confirm").status_code == 200
    r = _until(prod, n, lambda r: r["state"] not in ("rolling-out", "awaiting-confirm"))
    assert r["state"] == "done", r
    assert all(_runs(prod, c).values())
    assert call("nick", "POST", f"api/changes/{n}/rollback").json()["state"] == "rolled-back"


def test_a_wave_awaiting_its_confirm_survives_the_death_of_the_server(prod, tmp_path):
    import httpx

    from test_server_api import _verification

    env, started = {SECRET: prod["st"]["password"]}, []
    with running_server(tmp_path, "--network", str(prod["net"]), started=started, env=env) as (url, admin_pw, db):
        with httpx.Client(base_url=url, timeout=60) as client:
            call = callers(client, url, admin_pw)
            tokens = call.tokens
            c = call("eve", "POST", "api/changes", json={"title": "two lines, server killed", "target": "production",
                                                         "intents": {f.name: f.read_text() for f in INTENTS}}).json()
            n = c["id"]
            call("ci-bot", "POST", f"api/changes/{n}/evidence",
                 json={"verification_id": _verification(db, c["bundle_dir"], ok=True)})
            assert call("nick", "POST", f"api/changes/{n}/approve").json()["state"] == "approved"
            assert call("nick", "POST", f"api/changes/{n}/rollout", json={"confirm_each_wave": True}).status_code == 202
            first = _until({"call": call}, n, _awaits(1))
            assert first["state"] == "awaiting-confirm", first
            started[0].send_signal(signal.SIGKILL)  # while wave 1 awaits its confirm
            started[0].wait()
    with running_server(tmp_path, "--network", str(prod["net"]), started=started, env=env) as (url, _, db):
        with httpx.Client(base_url=url, timeout=60) as client:
            def again(who, method, path, **kw):
                return client.request(method, path, headers={"Authorization": f"Bearer {tokens[who]}"}, **kw)
            p = {"call": again}
            r = _until(p, n, lambda r: r["awaiting"] and r["awaiting"]["tx"] != first["awaiting"]["tx"])
            assert r["state"] == "awaiting-confirm" and r["awaiting"]["wave"] == 1, r  # applied again, asks again
            assert again("nick", "POST", f"api/changes/{n}/confirm").status_code == 200
            assert _until(p, n, _awaits(2))["state"] == "awaiting-confirm"
            assert again("nick", "POST", f"api/changes/{n}/confirm").status_code == 200
            r = _until(p, n, lambda r: r["state"] not in ("rolling-out", "awaiting-confirm"))
            assert r["state"] == "done", r
            assert all(_runs(prod, c).values())
            assert again("nick", "POST", f"api/changes/{n}/rollback").json()["state"] == "rolled-back"


def test_the_cli_rolls_out_confirming_each_wave(prod):
    c = _approved(prod, "two lines, from the command line")
    n = c["id"]
    env = {**os.environ, SECRET: prod["st"]["password"], "PYTHONPATH": str(REPO)}
    env.pop("FULLBARS_SERVER", None)
    fullbars = [sys.executable, "-m", "orchestrator", "change"]
    roll = subprocess.Popen([*fullbars, "rollout", str(n), "--confirm-each-wave", "--network", str(prod["net"]),
                             "--db", prod["db"]], env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        r = _until(prod, n, lambda r: (r["state"] != "approved" and _awaits(1)(r)) or roll.poll() is not None)
        assert r["state"] == "awaiting-confirm", (r, roll.poll() is not None and roll.communicate())
        r = subprocess.run([*fullbars, "confirm", str(n)], capture_output=True, text=True, timeout=120,
                           env={**env, "FULLBARS_SERVER": prod["url"], "FULLBARS_TOKEN": prod["call"].tokens["nick"]})
        assert r.returncode == 0 and f"change {n}: rolling-out" in r.stdout, r.stdout + r.stderr
        assert _until(prod, n, _awaits(2))["state"] == "awaiting-confirm"
        r = subprocess.run([*fullbars, "confirm", str(n), "--db", prod["db"]], capture_output=True, text=True,
                           timeout=120, env=env)
        assert r.returncode == 0, r.stdout + r.stderr
        out, errs = roll.communicate(timeout=240)
    finally:
        if roll.poll() is None:
            roll.kill()
            roll.wait()
    assert roll.returncode == 0 and f"change {n}: done" in out, out + errs
    assert all(_runs(prod, c).values())
    steps = [(a["action"], a["actor"]) for a in reversed(prod["call"]("nick", "GET", "api/audit", params={
        "subject": f"change:{n}", "action": "change-confirm"}).json())]
    assert [s[1] for s in steps][0] == "nick" and len(steps) == 2, steps  # the second: the local user
    assert prod["call"]("nick", "POST", f"api/changes/{n}/rollback").json()["state"] == "rolled-back"
