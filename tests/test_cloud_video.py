"""CloudVideo planning: the cameras' reserved upstream is a T-CONT of its own on the business
line's ONU, counted with every other assured upstream of the PON port; an L3VPN of the customer
joins the cameras' LAN to the platform's range; the configs pass yanglint."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

from conftest import REPO, cli, snapshot, yanglint_device

NETWORK = "examples/networks/enterprise.yaml"
LINE, CAMERAS = "examples/cloud/north-shop.yaml", "examples/cloud/north-shop-cameras.yaml"
GT = "{urn:bbf:yang:bbf-xpongemtcont}"
L3 = "{urn:ietf:params:xml:ns:yang:ietf-l3vpn-ntw}"


def test_cameras_get_their_own_tcont_and_a_vpn_to_the_platform(tmp_path, db, yanglint):
    out = tmp_path / "cv"
    r = cli("plan", CAMERAS, LINE, "--network", NETWORK, "--out", str(out), db=db)  # cameras first: line placed too
    assert r.exit_code == 0, r.stderr
    m = json.loads((out / "manifest.json").read_text())
    for dev in ("olt-1", "pe-1"):
        res = yanglint_device(yanglint, out, dev)
        assert res.returncode == 0, f"{dev}: {res.stderr}"
    res = m["services"]["north-shop-cameras"]["resources"]
    assert res["reserved-upstream-bps"] == 8 * 4_000_000
    olt = ET.parse(out / "olt-1.xml").getroot()
    tconts = {t.findtext(f"{GT}name"): t for t in olt.iter(f"{GT}tcont")}
    assert tconts["tcont-north-shop-cameras"].findtext(f"{GT}interface-reference") == "vani-north-shop"
    assert tconts["tcont-north-shop-cameras"].findtext(f"{GT}alloc-id") != tconts["tcont-north-shop"].findtext(
        f"{GT}alloc-id")
    profiles = {p.findtext(f"{GT}name"): p.findtext(f"{GT}assured-bandwidth")
                for p in olt.iter(f"{GT}traffic-descriptor-profile")}
    assert profiles["up-32M"] == "32000000" and profiles["up-300M"] == "300000000"
    pe = ET.parse(out / "pe-1.xml").getroot()
    assert sorted(e.text for e in pe.iter(f"{L3}lan")) == ["192.168.50.0/24", "203.0.113.0/24"]


def test_cameras_count_with_everything_else_on_the_pon_port(tmp_path, db):
    """A 1G-upstream line and a dedicated line's 200M on a GPON port (1244M): 60 cameras of 1M
    fit the line, but not the port."""
    line = tmp_path / "line.yaml"
    line.write_text((REPO / LINE).read_text().replace("rates: {downstream: 500M, upstream: 300M}",
                                                      "rates: {downstream: 1G, upstream: 1G}\n  tenure-years: 5\n"
                                                      "  placement: {olt: olt-1, pon-port: 1/1/2}"))
    dl = tmp_path / "dl.yaml"
    dl.write_text((REPO / "examples/dedicated/acme-wan.yaml").read_text().replace(
        "pon: {olt: olt-1, onu-serial: ACME0000D001}", "pon: {olt: olt-1, pon-port: 1/1/2, onu-serial: ACME0000D001}")
        .replace("rates: {cir: 200M, pir: 300M}", "rates: {cir: 200M}"))
    assert cli("plan", str(line), str(dl), "--network", NETWORK, db=db).exit_code == 0
    cams = tmp_path / "cams.yaml"
    cams.write_text((REPO / CAMERAS).read_text().replace("count: 8", "count: 60").replace("upstream: 4M", "upstream: 1M"))
    before = snapshot(db)
    r = cli("plan", str(cams), "--network", NETWORK, db=db)
    assert r.exit_code == 2
    assert "PON port olt-1 1/1/2 of line north-shop has no room for the cameras: 1200M of assured upstream" in r.stderr
    assert snapshot(db) == before
    cams.write_text(cams.read_text().replace("count: 60", "count: 44"))  # 1244M exactly
    assert cli("plan", str(cams), "--network", NETWORK, db=db).exit_code == 0


def test_the_line_cannot_go_while_its_cameras_stay(tmp_path, db):
    assert cli("plan", LINE, CAMERAS, "--network", NETWORK, db=db).exit_code == 0
    r = cli("delete", "north-shop", db=db)
    assert r.exit_code == 2 and "delete north-shop-cameras with the line" in r.stderr
    r = cli("delete", "north-shop", "north-shop-cameras", db=db)
    assert r.exit_code == 0, r.stderr
    assert snapshot(db)["allocations"] == []


def test_the_lab_of_the_cameras_has_their_own_uni_and_the_platform(tmp_path, db):
    """The generated lab: a camera host on a UNI leg of the line's ONU of its own, labelled with
    the onu-v-enet the OLT config joins to the cameras' chain (the CPE keeps the ONU's main leg),
    the platform's host on the PE's platform port, and the OLT's link to the PE."""
    import yaml

    from orchestrator.lab.generate import from_plan

    out = tmp_path / "cv"
    assert cli("plan", CAMERAS, LINE, "--network", NETWORK, "--out", str(out), db=db).exit_code == 0
    topo = yaml.safe_load(from_plan(out, "s5d-gen"))["topology"]
    links = {tuple(sorted(ln["endpoints"])) for ln in topo["links"]}
    cam = topo["nodes"]["cam-north-shop-cameras"]["labels"]
    assert (cam["fullbars.role"], cam["fullbars.onu-serial"], cam["fullbars.onu-uni"]) == (
        "camera", "NRTH00000001", "onu-venet-north-shop-cameras")
    assert "fullbars.onu-uni" not in topo["nodes"]["cpe-north-shop"]["labels"]
    assert ("cam-north-shop-cameras:eth1", "olt-1:uni1") in links
    assert ("pe-1:xe-0-1-0", "vp-cloud-eye:eth1") in links
    assert ("olt-1:to-pe-1", "pe-1:to-olt-1") in links


def test_a_line_is_judged_by_its_own_chain_on_an_onu_that_also_carries_cameras():
    """The OLT's record of an ONU with the line's chain and the cameras' (one of them held): the
    line's check looks at the chain with its own S/C pair, whichever comes first."""
    from orchestrator.lab.kinds.broadband.checks import _path

    r = {"olt": "olt-1", "bng": "bng-1", "onu-serial": "NRTH00000001", "s-vlan": 3001, "c-vlan": 2}
    line = {"serial": "NRTH00000001", "s": 3001, "c": 2, "down_bps": 500_000_000, "up_bps": 300_000_000}
    cams = dict(line, s=2001, down_bps=0, up_bps=32_000_000)
    bng = {"config": {"3001.2": {"service_id": "north-shop", "s": 3001, "c": 2, "down_bps": 500_000_000,
                                 "up_bps": 300_000_000}}}
    row = {"expected_down_bps": 500_000_000, "expected_up_bps": 300_000_000}
    olt = {"config": {"2001.2": cams, "3001.2": line}}
    assert _path(r, "north-shop", olt, bng, True, row) == []
    held = {"config": {"3001.2": line}, "held": {"NRTH00000001": "no GEM port on olt-v-enet olt-venet-cams"}}
    assert _path(r, "north-shop", held, bng, True, row) == []
    gone = {"config": {"2001.2": cams}, "held": {"NRTH00000001": "user sub-interface user-north-shop is disabled"}}
    assert _path(r, "north-shop", gone, bng, True, row) == [
        "olt-1 does not forward ONU NRTH00000001: user sub-interface user-north-shop is disabled"]
    # the line's own chain alone, on another pair: named as before
    moved = {"config": {"3009.2": dict(line, s=3009)}}
    assert _path(r, "north-shop", moved, bng, True, row) == [
        "olt-1 carries ONU NRTH00000001 as S3009/C2, planned S3001/C2"]


def test_cameras_on_one_line_count_together_against_its_upstream(tmp_path, db):
    """Each set of cameras fits the line's 300M alone; together they would reserve more."""
    assert cli("plan", LINE, CAMERAS, "--network", NETWORK, db=db).exit_code == 0  # 32M
    more = tmp_path / "more.yaml"
    more.write_text((REPO / CAMERAS).read_text().replace("name: north-shop-cameras", "name: north-shop-yard")
                    .replace("count: 8", "count: 70").replace("192.168.50.0/24", "192.168.60.0/24"))  # 280M
    before = snapshot(db)
    r = cli("plan", str(more), "--network", NETWORK, db=db)
    assert r.exit_code == 2
    assert ("70 cameras of 4M reserve 280M upstream; with north-shop-cameras (32M) that is 312M; "
            "line north-shop carries 300M") in r.stderr
    assert "more.yaml:10" in r.stderr and "at most 67 cameras of 4M" in r.stderr
    assert snapshot(db) == before
    more.write_text(more.read_text().replace("count: 70", "count: 67"))  # 268M + 32M = 300M exactly
    r = cli("plan", str(more), "--network", NETWORK, db=db)
    assert r.exit_code == 0, r.stderr
    grown = tmp_path / "grown.yaml"  # the first set may not grow into what the second now holds
    grown.write_text((REPO / CAMERAS).read_text().replace("count: 8", "count: 9"))
    r = cli("plan", str(grown), "--network", NETWORK, db=db)
    assert r.exit_code == 2 and "with north-shop-yard (268M) that is 304M" in r.stderr and "at most 8 cameras" in r.stderr
    lowered = tmp_path / "lowered.yaml"  # nor may the line be lowered under what its cameras reserve
    lowered.write_text((REPO / LINE).read_text().replace("upstream: 300M", "upstream: 200M"))
    before = snapshot(db)
    r = cli("plan", str(lowered), "--network", NETWORK, db=db)
    assert r.exit_code == 2 and "line north-shop carries 200M" in r.stderr, r.stderr
    assert snapshot(db) == before


def test_cameras_follow_their_line_to_the_olt_it_moves_to(tmp_path, db):
    """A plan of the line alone places its cameras again (they looked it up): placed before the
    line, they took its old port and stayed on the OLT it left (olt-1 failed YANG validation,
    blamed on the cameras' template)."""
    assert cli("plan", LINE, CAMERAS, "--network", NETWORK, db=db).exit_code == 0
    moved = tmp_path / "north-shop.yaml"
    moved.write_text((REPO / LINE).read_text().replace("site: north-park", "site: south-park\n"
                                                       "  placement: {olt: olt-2, pon-port: 1/1/1}"))
    out = tmp_path / "moved"
    r = cli("plan", str(moved), "--out", str(out), db=db)
    assert r.exit_code == 0, r.stderr
    assert "tcont-north-shop-cameras" in (out / "olt-2.xml").read_text()
    assert not (out / "olt-1.xml").exists() or "north-shop-cameras" not in (out / "olt-1.xml").read_text()
