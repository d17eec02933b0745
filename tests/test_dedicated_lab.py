"""Dedicated lines in the lab (as root): the planned configs are taken by real NETCONF agents (OLTs
and pe-vpn PEs on devsim, which validates every edit with the standard models); the data plane
the PEs make of their running L2NM/L3NM configs joins each enterprise's sites at their CIR and
never another enterprise's, overlapping prefixes and all; an Order for a bundle rolls out as one
transaction, verified in the lab, and its deletion leaves nothing of it on any device or in the
store. Each lab has its own name (s4d...) and management subnet, so it runs beside other labs."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import yaml

from conftest import REPO, cli, manifest_validate, read_running, snapshot

from test_lab import _require_lab_tools

NETWORK = str(REPO / "examples/networks/enterprise.yaml")
DEDICATED = sorted(str(p) for p in (REPO / "examples/dedicated").glob("*.yaml"))
ORDER = str(REPO / "examples/orders/corvid-freight.yaml")


def _plan(tmp_path, intents: list[str], out: str = "plan", network: str = NETWORK):
    from orchestrator.plan.artifacts import write
    from orchestrator.plan.pipeline import plan
    from orchestrator.resources.store import Store

    write(plan(Store(f"sqlite:///{tmp_path}/s.db"), network, intents), tmp_path / out)
    return tmp_path / out


def _lab(tmp_path, plan_dir, name: str, subnet: str):
    """A lab of the plan under its own name and management subnet."""
    from orchestrator.lab.generate import from_plan
    from orchestrator.lab.runtime import open_lab

    os.environ["FULLBARS_LAB_DIR"] = str(tmp_path / "labs")
    doc = yaml.safe_load(from_plan(plan_dir, name))
    doc["mgmt"] = {"ipv4-subnet": subnet}
    topo = tmp_path / f"{name}.clab.yml"
    topo.write_text(yaml.safe_dump(doc, sort_keys=False))
    return topo, open_lab(topo)


def test_planned_configs_are_taken_by_the_lab_agents(tmp_path):
    _require_lab_tools()
    from orchestrator.lab.push import push
    from orchestrator.netconf.compare import missing
    from orchestrator.rollout.targets import lab_target

    # with a business line beside them: the OLTs carry both kinds of PON line
    plan_dir = _plan(tmp_path, DEDICATED + [str(REPO / "examples/cloud/north-shop.yaml")])
    topo, lab = _lab(tmp_path, plan_dir, "s4d-agents", "198.18.232.0/24")
    st = lab.up(timeout=90)
    try:
        rows = push(plan_dir, st)
        assert all(r["ok"] for r in rows), rows
        target = lab_target(topo)
        for dev in ("olt-1", "olt-2", "pe-1", "pe-2", "pe-3", "bng-1"):
            intended = (plan_dir / f"{dev}.xml").read_text()
            assert missing(intended, read_running(target.endpoint(dev))) == [], dev
    finally:
        lab.down()


def test_two_enterprises_reach_their_own_sites_at_their_cir_and_never_each_other(tmp_path):
    """The issue's must-show: ACME (layer 2 EVPN, CIR 200M) and Bolt (layer 3 VPN, CIR 100M), each
    with one site over PON and two over direct fibre, their prefixes overlapping (10.1.1.1 is a
    site of both). The OLTs' links to their PEs have names longer than a Linux interface's 15
    characters: the lab wires them, and the planes find them, under one shorter name."""
    _require_lab_tools()
    from orchestrator.lab.push import push
    from orchestrator.lab.verify import table, verify

    network = tmp_path / "enterprise.yaml"
    text = Path(NETWORK).read_text()
    for olt in ("olt-1", "olt-2"):
        assert f"olt-interface: to-pe-{olt[-1]}," in text
        text = text.replace(f"olt-interface: to-pe-{olt[-1]},", f"olt-interface: to-pe-frankfurt-main-0{olt[-1]},")
    network.write_text(text)
    plan_dir = _plan(tmp_path, DEDICATED, network=str(network))
    m = json.loads((plan_dir / "manifest.json").read_text())
    for dev in m["devices"]:  # every config passes yanglint, as its manifest says to run it
        r = manifest_validate(plan_dir, dev)
        assert r.returncode == 0, (dev, r.stderr)
    topo, lab = _lab(tmp_path, plan_dir, "s4d-enterprises", "198.18.233.0/24")
    st = lab.up(timeout=90)
    try:
        assert all(r["ok"] and r["dataplane"] == "applied" for r in push(plan_dir, st))
        rep = verify(plan_dir, st)
        print(table(rep))
        (tmp_path / "verify.json").write_text(json.dumps(rep, indent=2))
    finally:
        lab.down()
    rows = {r["service"]: r for r in rep["services"]}
    sites = {"acme-wan": ["depot", "hq", "yard"], "bolt-net": ["lab", "office", "store"]}
    assert set(rows) == {f"{svc}/{s}" for svc, ss in sites.items() for s in ss}
    assert rep["ok"], table(rep)
    for svc, ss in sites.items():
        for s in ss:
            row = rows[f"{svc}/{s}"]
            assert row["reach"] == {o: True for o in ss if o != s}, row
            assert row["isolation"] == [], row
            cir = m["services"][svc]["resources"]["cir-bps"]
            for key in ("measured_down_bps", "measured_up_bps"):
                assert 0.85 * cir <= row[key] <= cir, (row["service"], key, row[key])
    # the prefixes overlap: the isolation checks probed addresses the other enterprise also has
    assert rows["acme-wan/depot"]["address"] == rows["bolt-net/office"]["address"] == "10.1.1.1"


def test_an_order_rolls_out_as_one_change_verified_in_the_lab_and_its_deletion_removes_it_all(tmp_path):
    """The issue's must-show for bundles: the Order expands to a layer 2 point-to-point line (a
    VPWS, office over PON, depot over fibre) and a business line; one apply gives every device its
    part in one transaction, checked in the lab before confirming (with a fault in it, the checks
    refuse it and nothing of it stays); lab verify passes (the line at
    its CIR, the business line at its rates); deleting the Order and applying takes every part off
    every device (read back from their running configs) and out of the store."""
    _require_lab_tools()
    db = f"sqlite:///{tmp_path}/order.db"
    r = cli("plan", ORDER, "--network", NETWORK, "--out", str(tmp_path / "plan"), db=db)
    assert r.exit_code == 0, r.stderr
    m = json.loads((tmp_path / "plan" / "manifest.json").read_text())
    devices = sorted(m["devices"])
    assert devices == ["bng-1", "olt-1", "pe-1", "pe-2"]
    topo, lab = _lab(tmp_path, tmp_path / "plan", "s4d-order", "198.18.234.0/24")
    lab.up(timeout=90)
    try:
        from lxml import etree

        from orchestrator.plan.config_faults import ENV
        from orchestrator.rollout.targets import lab_target

        target = lab_target(topo)

        def traces() -> list[tuple[str, str]]:
            out = []
            for dev in devices:
                running = etree.tostring(read_running(target.endpoint(dev)), encoding="unicode")
                out += [(dev, t) for t in ("corvid-freight", "Corvid Freight", "CRVD0000D001", "CRVD00000001")
                        if t in running]
            return out

        # A depot PE signalling another VC id (a broken template) passes every plan check; the
        # lab's checks before the confirming commit find the office cut off, and the whole
        # bundle goes back on every device.
        fault = tmp_path / "fault.json"
        fault.write_text(json.dumps([{"device": "pe-2", "value": "99", "xpath":
                                      "/l2vpn-ntw/vpn-services/vpn-service[vpn-id='corvid-freight-link']/vpn-nodes/"
                                      "vpn-node[vpn-node-id='pe-2']/signaling-option/ldp-or-l2tp/pw-peer-list/vc-id"}]))
        os.environ[ENV] = str(fault)
        try:
            r = cli("apply", ORDER, "--target", "lab", "--lab", str(topo), "--json", db=db)
        finally:
            del os.environ[ENV]
        assert r.exit_code == 1, r.stdout + r.stderr
        refused = json.loads(r.stdout)
        assert refused["outcome"] != "committed" and "cannot reach site" in r.stdout, refused
        assert traces() == []

        started = time.monotonic()
        r = cli("apply", ORDER, "--target", "lab", "--lab", str(topo), "--json", db=db)
        applied = time.monotonic() - started
        assert r.exit_code == 0, r.stdout + r.stderr
        tx = json.loads(r.stdout)
        assert tx["outcome"] == "committed" and sorted(tx["devices"]) == devices, tx  # one change for all
        hist = json.loads(cli("history", "--format", "json", db=db).stdout)
        assert hist["transactions"][0]["id"] == tx["tx"], hist

        r = cli("lab", "verify", str(tmp_path / "plan"), str(topo), "--report", str(tmp_path / "v.json"), db=db)
        assert r.exit_code == 0, r.stdout + r.stderr
        rep = json.loads((tmp_path / "v.json").read_text())
        assert {x["service"] for x in rep["services"]} == {
            "corvid-freight-internet", "corvid-freight-link/office", "corvid-freight-link/depot"}
        print(r.stdout)

        r = cli("delete", "corvid-freight", "--out", str(tmp_path / "gone"), db=db)
        assert r.exit_code == 0, r.stderr
        started = time.monotonic()
        r = cli("apply", "--target", "lab", "--lab", str(topo), db=db)
        removed = time.monotonic() - started
        assert r.exit_code == 0, r.stdout + r.stderr
        assert traces() == []
        # and in the lab: the office no longer reaches the depot, the business line is gone
        r = cli("lab", "verify", str(tmp_path / "gone"), str(topo), "--report", str(tmp_path / "g.json"), db=db)
        gone = json.loads((tmp_path / "g.json").read_text())
        assert all(x.get("serving") is False and not x["reachable"] for x in gone["services"]), gone
    finally:
        lab.down()
    s = snapshot(db)
    assert s["intents"] == [] and s["allocations"] == [], (s["intents"], s["allocations"])
    print(f"apply {applied:.1f} s, removal {removed:.1f} s")
