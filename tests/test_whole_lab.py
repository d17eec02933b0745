"""Deletes and rollbacks are whole, in a lab (an OLT on devsim, a BNG on netconfd): a removal
is pending until applied, then its config is gone from the devices (read back) and its values
are free; a rollback returns the services with the devices, so the next plan is a no-op."""

from __future__ import annotations

import json

import pytest
from lxml import etree

from conftest import REPO, cli
from orchestrator.plan.summary import NO_CHANGES
from planned_lab import planned_lab

CAFE = str(REPO / "examples/lab/harbour-cafe.yaml")  # olt-1 and bng-east, like acme-hq
ACME = str(REPO / "examples/intents/acme-hq.yaml")
ACME_SERIAL = "ACME0000A001"


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("whole")
    with planned_lab(tmp, [CAFE, ACME], "wh") as (topo, _, _):
        yield {"db": f"sqlite:///{tmp}/store.db", "topo": str(topo)}


def _run(lab, *args, code=0):
    r = cli(*args, db=lab["db"])
    assert r.exit_code == code, (args, r.exit_code, r.stdout + r.stderr)
    return r


def _on(lab, *args, code=0):
    return _run(lab, *args, "--target", "lab", "--lab", lab["topo"], code=code)


def _last_tx(lab) -> str:
    return _run(lab, "history", "--limit", "1").stdout.split()[0]


def _carries_acme(lab) -> dict[str, bool]:
    """Read back from the devices: does each still hold acme-hq's config?"""
    from orchestrator.netconf.session import Session
    from orchestrator.rollout.targets import lab_target

    out = {}
    for dev in ("olt-1", "bng-east"):
        s = Session(lab_target(lab["topo"]).endpoint(dev))
        try:
            text = etree.tostring(s.running(), encoding="unicode")
        finally:
            s.close()
        out[dev] = ACME_SERIAL in text or "acme-hq" in text
    return out


def _acme_gone(lab) -> None:
    """acme-hq's removal applied: off both devices (read back), out of the store, and drift clean."""
    assert _carries_acme(lab) == {"olt-1": False, "bng-east": False}
    assert "acme-hq" not in _run(lab, "status").stdout
    _on(lab, "drift")


def test_rollback_returns_the_service_so_the_next_plan_is_a_no_op(lab):
    _run(lab, "plan", CAFE, "--network", "examples/network.yaml")
    _on(lab, "apply", CAFE)
    cafe_tx = _last_tx(lab)
    _on(lab, "apply", ACME)
    assert _carries_acme(lab) == {"olt-1": True, "bng-east": True}
    _run(lab, "rollback", _last_tx(lab))
    assert _carries_acme(lab) == {"olt-1": False, "bng-east": False}
    assert "acme-hq" not in _run(lab, "status").stdout  # the intent and its values went with it
    r = _run(lab, "plan", CAFE)
    assert r.stdout.rstrip().splitlines()[-1] == NO_CHANGES, r.stdout
    _on(lab, "drift")
    # The record is the config the café's apply gave, as plans print it (not the device's reply
    # as read: one line, every later diff the whole config).
    from sqlalchemy import create_engine, text

    with create_engine(lab["db"]).connect() as c:
        gave = dict(c.execute(text("SELECT device, intended FROM transaction_devices WHERE tx = :t"), {"t": cafe_tx}).all())
        now = dict(c.execute(text("SELECT device, config FROM environment_configs")).all())
    assert gave and all(now[d] == gave[d] for d in gave), sorted(gave)


def test_a_delete_is_pending_until_applied_then_gone_from_the_devices_and_rollback_brings_it_back(lab):
    _run(lab, "plan", ACME, "--network", "examples/network.yaml")
    _on(lab, "apply", ACME)
    r = _run(lab, "delete", "acme-hq")
    assert "0 to create, 0 to change, 1 to delete on 2 devices" in r.stdout.splitlines()[-1]
    assert "PENDING-REMOVAL" in _run(lab, "status").stdout
    assert _carries_acme(lab) == {"olt-1": True, "bng-east": True}  # a plan changes no device
    r = _on(lab, "drift", code=1)
    assert "olt-1: acme-hq is pending removal" in r.stdout and "bng-east: acme-hq is pending removal" in r.stdout
    d = json.loads(_on(lab, "drift", "--format", "json", code=1).stdout)
    assert d["command"] == "drift" and d["ok"] is False and d["target"].startswith("lab:")
    assert {x["device"]: (x["in_sync"], x["pending_removal"]) for x in d["devices"]} == {
        "olt-1": (True, ["acme-hq"]), "bng-east": (True, ["acme-hq"])}

    r = _on(lab, "apply", "--format", "json")  # no intent: what is pending
    a = json.loads(r.stdout)
    assert a["command"] == "apply" and a["ok"] is True and a["outcome"] == "committed"
    assert sorted(a["devices"]) == ["bng-east", "olt-1"] and a["tx"].startswith("tx-")
    _acme_gone(lab)
    delete_tx = _last_tx(lab)

    _run(lab, "rollback", delete_tx)
    assert _carries_acme(lab) == {"olt-1": True, "bng-east": True}
    status = _run(lab, "status").stdout
    assert "acme-hq" in status and "PENDING-REMOVAL" not in status
    r = _run(lab, "plan", CAFE, ACME)
    assert r.stdout.rstrip().splitlines()[-1] == NO_CHANGES, r.stdout


def test_a_removal_applied_as_a_bundle_is_applied_in_the_store_too_and_rolls_back(lab, tmp_path):
    """The documented road to production is the bundle (`apply DIR`): its transaction gives the
    devices the configs as written, with no plan to say what it removes. A removal it carries
    still ends in the store: the service and its values go, drift is clean, and rolling the
    transaction back returns it."""
    _run(lab, "plan", ACME, "--network", "examples/network.yaml")
    _on(lab, "apply", ACME)
    bundle = tmp_path / "delete-acme"
    _run(lab, "delete", "acme-hq", "--out", str(bundle))
    assert "PENDING-REMOVAL" in _run(lab, "status").stdout
    _on(lab, "apply", str(bundle))
    _acme_gone(lab)
    r = _run(lab, "rollback", _last_tx(lab))
    assert "recorded no service changes" not in r.stdout + r.stderr, r.stdout + r.stderr
    assert _carries_acme(lab) == {"olt-1": True, "bng-east": True}
    status = _run(lab, "status").stdout
    assert "acme-hq" in status and "PENDING-REMOVAL" not in status
    r = _run(lab, "plan", CAFE, ACME)
    assert r.stdout.rstrip().splitlines()[-1] == NO_CHANGES, r.stdout


def test_apply_of_what_is_pending_carries_a_removal_planned_after_an_update_of_it(lab, tmp_path):
    """An update planned and not applied, then the service deleted: `apply` with no intents takes
    the service off the devices (it crashed looking up the intent the delete had dropped)."""
    _run(lab, "plan", ACME, "--network", "examples/network.yaml")
    _on(lab, "apply", ACME)
    slower = tmp_path / "acme-hq.yaml"
    text = open(ACME).read()
    assert "upstream: 300M" in text
    slower.write_text(text.replace("upstream: 300M", "upstream: 200M"))
    _run(lab, "plan", str(slower))
    _run(lab, "delete", "acme-hq")
    _on(lab, "apply", "--dry-run")
    _on(lab, "apply")
    _acme_gone(lab)
