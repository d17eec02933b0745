"""Campus 5G in the lab: two tenants with two slices each on one site (gNB and UPF on devsim,
the PE on yuma123 netconfd), configs pushed over NETCONF, then per slice: the UE reaches its
applications, cannot reach any other, and iperf3 measures its AMBR both ways. A template-sized
mistake in the UPF's config (an application given to the wrong slice) breaks isolation, and a
wrong UE pool route on the PE breaks reachability; verify says so. Needs root and the lab tools
(scripts/setup.sh)."""

from __future__ import annotations

import os

import pytest

from conftest import REPO
from test_lab import _require_lab_tools

TENANTS = ["examples/campus/acme-robotics.yaml", "examples/campus/harbour-hospital.yaml"]


@pytest.fixture(scope="module")
def campus(tmp_path_factory):
    yield from _lab(tmp_path_factory, "examples/networks/campus.yaml", "c")


@pytest.fixture(scope="module")
def campus_l3nm(tmp_path_factory):
    yield from _lab(tmp_path_factory, "examples/networks/campus-l3nm.yaml", "v")


def _lab(tmp_path_factory, network: str, prefix: str):
    """prefix: the labs of this module may be up together, so each has its own name."""
    _require_lab_tools()
    from orchestrator.lab.generate import from_plan
    from orchestrator.lab.push import push
    from orchestrator.lab.runtime import open_lab
    from orchestrator.plan.artifacts import write
    from orchestrator.plan.pipeline import plan
    from orchestrator.resources.store import Store

    tmp = tmp_path_factory.mktemp("campus")
    os.environ["FULLBARS_LAB_DIR"] = str(tmp / "labs")
    result = plan(Store(f"sqlite:///{tmp}/s.db"), str(REPO / network),
                  [str(REPO / t) for t in TENANTS])
    write(result, tmp / "plan")
    topo = tmp / "campus.clab.yml"
    topo.write_text(from_plan(tmp / "plan", f"{prefix}{os.getpid() % 100000}"))
    lab = open_lab(topo)
    st = lab.up(timeout=60)
    try:
        pushed = push(tmp / "plan", st)
        assert all(r["ok"] and r["dataplane"] == "applied" for r in pushed), pushed
        yield st, tmp
    finally:
        lab.down()


def test_every_slice_reaches_its_applications_only_at_its_ambr(campus):
    _reaches_only_its_applications_at_its_ambr(*campus)


def test_with_an_l3vpn_pe_the_breakout_works_the_same(campus_l3nm):
    """The PE on devsim configured by RFC 9182 L3VPN: its network accesses and static LAN
    prefixes become the same data plane as the IETF-only PE's routes."""
    st, _ = campus_l3nm
    assert st["nodes"]["pe-1"]["kind"] == "pe-l3nm" and st["nodes"]["pe-1"]["agent"] == "devsim"
    _reaches_only_its_applications_at_its_ambr(*campus_l3nm)


def _reaches_only_its_applications_at_its_ambr(st, tmp):
    from orchestrator.lab.verify import HIGH, LOW, verify

    report = verify(tmp / "plan", st)
    rows = {r["service"]: r for r in report["services"]}
    assert sorted(rows) == ["acme-robotics/agv", "acme-robotics/video", "harbour-hospital/medical-iot",
                            "harbour-hospital/staff"]
    for name, r in rows.items():
        assert r["ok"], (name, r["problems"])
        assert r["reachable"] and r["isolated"]
        assert LOW <= r["measured_down_bps"] / r["expected_down_bps"] <= HIGH, name
        assert LOW <= r["measured_up_bps"] / r["expected_up_bps"] <= HIGH, name
    assert rows["harbour-hospital/staff"]["address"] == "10.200.3.1"


def _push_changed(st, tmp, device: str, old: str = "", new: str = "") -> None:
    """The plan's config of a device with one text replaced (none: as planned), committed and
    turned into data plane."""
    from orchestrator.lab.personality import wait_applied
    from orchestrator.lab.push import push_one

    text = (tmp / "plan" / f"{device}.xml").read_text()
    assert old in text
    n = st["nodes"][device]
    assert push_one(device, n["mgmt_ip"], st["user"], st["password"], text.replace(old, new))["ok"]
    assert wait_applied(st, [device]) == []


def test_wrong_configs_are_caught_in_the_data_plane(campus):
    from orchestrator.lab.verify import verify

    st, tmp = campus
    agv = "<application>10.21.1.0/24</application>"  # acme-agv's only application
    _push_changed(st, tmp, "upf-1", agv, agv + "\n      <application>10.31.2.0/24</application>")
    try:
        rows = {r["service"]: r for r in verify(tmp / "plan", st, rates=False)["services"]}
        assert not rows["acme-robotics/agv"]["isolated"]
        assert any("isolation broken" in p and "10.31.2.1" in p for p in rows["acme-robotics/agv"]["problems"])
        assert rows["acme-robotics/video"]["ok"]
    finally:
        _push_changed(st, tmp, "upf-1")
    route = "<destination-prefix>10.200.1.0/24</destination-prefix>"
    pe = (tmp / "plan" / "pe-1.xml").read_text()
    block = pe[pe.index(route):pe.index("</route>", pe.index(route))]
    _push_changed(st, tmp, "pe-1", block, block.replace("10.250.0.1", "10.250.1.2"))
    try:
        rows = {r["service"]: r for r in verify(tmp / "plan", st, rates=False)["services"]}
        assert not rows["acme-robotics/video"]["reachable"]
        assert rows["acme-robotics/agv"]["ok"] and rows["harbour-hospital/staff"]["ok"]
    finally:
        _push_changed(st, tmp, "pe-1")


def test_apply_as_one_transaction_then_every_device_is_in_sync(campus, tmp_path):
    """Through the transaction engine: the PE on netconfd hands back identities with a prefix
    (rt:static) where the artifacts have none; the edit, read-back and drift treat both alike."""
    import subprocess
    import sys

    st, tmp = campus
    env = dict(os.environ, FULLBARS_DB=f"sqlite:///{tmp_path}/a.db", FULLBARS_LAB_DIR=str(tmp / "labs"))
    topo = tmp / "campus.clab.yml"
    r = subprocess.run([sys.executable, "-m", "orchestrator", "apply", *TENANTS, "--network",
                        "examples/networks/campus.yaml", "--target", "lab", "--lab", str(topo)],
                       cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "committed on 4 device(s)" in r.stdout
    r = subprocess.run([sys.executable, "-m", "orchestrator", "drift", "--target", "lab", "--lab", str(topo)],
                       cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    assert sorted(line for line in r.stdout.splitlines() if line.endswith(": in sync")) == [
        "core-1: in sync", "gnb-1: in sync", "pe-1: in sync", "upf-1: in sync"]
