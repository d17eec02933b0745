"""Campus5G planning: two tenants with two slices each on one site, validated a second time with
the yanglint command-line tool; allocations that must not collide; delete gives a tenant's
resources back and takes its slices off every device."""

from __future__ import annotations

import json
import subprocess

import netaddr

from conftest import REPO, cli, yanglint_device

NETWORK = "examples/networks/campus.yaml"
TENANTS = ["examples/campus/acme-robotics.yaml", "examples/campus/harbour-hospital.yaml"]


def _plan(tmp_path, db, *intents, out="campus"):
    d = tmp_path / out
    r = cli("plan", *intents, "--network", NETWORK, "--out", str(d), db=db)
    assert r.exit_code == 0, r.stderr
    return d, json.loads((d / "manifest.json").read_text())


def test_two_tenants_validate_with_yanglint(tmp_path, db, yanglint):
    out, m = _plan(tmp_path, db, *TENANTS)
    assert sorted(m["devices"]) == ["core-1", "gnb-1", "pe-1", "upf-1"]
    assert {d: i["kind"] for d, i in m["devices"].items()} == {
        "core-1": "core-3gpp", "gnb-1": "gnb-3gpp", "pe-1": "pe-ietf", "upf-1": "upf-3gpp"}
    for dev in m["devices"]:
        res = yanglint_device(yanglint, out, dev)
        assert res.returncode == 0, f"{dev}: {res.stderr}"
    # the manifest's own command, as a user would paste it, passes too
    for dev, info in m["devices"].items():
        r = subprocess.run(["bash", "-c", info["validate"]], cwd=out, capture_output=True, text=True,
                           env={"PATH": "/usr/bin:/bin", "FULLBARS_YANG_PATH": _yang_path()})
        assert r.returncode == 0, f"{dev}: {r.stderr}"


def _yang_path() -> str:
    from orchestrator import settings

    return ":".join(str(p) for p in settings.yang_path())


def test_yanglint_rejects_a_campus_config_with_a_bad_sst(tmp_path, db, yanglint):
    out, _ = _plan(tmp_path, db, *TENANTS)
    p = out / "core-1.xml"
    p.write_text(p.read_text().replace("<sst>2</sst>", "<sst>256</sst>", 1))
    res = yanglint_device(yanglint, out, "core-1")
    assert res.returncode != 0 and "256" in res.stderr


def test_allocations_do_not_collide(tmp_path, db):
    _, m = _plan(tmp_path, db, *TENANTS)
    acme, hosp = (m["services"][n]["resources"] for n in ("acme-robotics", "harbour-hospital"))
    slices = list(acme["slices"].values()) + list(hosp["slices"].values())
    assert len({s["s-nssai"] for s in slices}) == 4
    assert hosp["slices"]["medical-iot"]["s-nssai"] == "3-00BEEF"  # the intent's own SD is kept
    pools = [netaddr.IPNetwork(s["ue-pool"]) for s in slices]
    assert all(p in netaddr.IPNetwork("10.200.0.0/16") and p.prefixlen == 24 for p in pools)
    assert all(not (x.first <= y.last and y.first <= x.last) for i, x in enumerate(pools) for y in pools[i + 1:])
    cells = list(acme["cells"].values()) + list(hosp["cells"].values())
    assert len({c["pci"] for c in cells}) == 4 and hosp["cells"]["ward-b"]["pci"] == 300
    assert len({(c["gnb"], c["cell-local-id"]) for c in cells}) == 4
    assert acme["tac"] != hosp["tac"] and acme["route-distinguisher"] != hosp["route-distinguisher"]
    imsi = [g["imsi"] for r in (acme, hosp) for g in r["device-groups"].values()]
    ranges = sorted(tuple(int(x) for x in i.split("-")) for i in imsi)
    assert all(a[1] < b[0] for a, b in zip(ranges, ranges[1:]))
    assert acme["device-groups"]["agv-fleet"]["imsi"] == "001010000000000-001010000000039"
    assert hosp["device-groups"]["phones"]["imsi"] == "001010000500000-001010000500119"  # its own range
    # the application subnets go where their DNNs are, and nowhere else
    upf = (tmp_path / "campus" / "upf-1.xml").read_text()
    agv = upf.split("<name>acme-agv</name>")[1].split("</dnn>")[0]
    assert "<application>10.21.1.0/24</application>" in agv and "10.21.2.0/24" not in agv


def test_plan_again_is_identical_and_delete_takes_a_tenant_away(tmp_path, db):
    a, _ = _plan(tmp_path, db, *TENANTS, out="a")
    b, _ = _plan(tmp_path, db, *TENANTS, out="b")
    for f in ("core-1.xml", "gnb-1.xml", "pe-1.xml", "upf-1.xml"):
        assert (a / f).read_bytes() == (b / f).read_bytes()
    r = cli("delete", "harbour-hospital", "--out", str(tmp_path / "d"), db=db)
    assert r.exit_code == 0, r.stderr
    core = (tmp_path / "d" / "core-1.xml").read_text()
    assert "00BEEF" not in core and "hospital-staff" not in core and "acme-video" in core
    assert "10.31.1.0/24" not in (tmp_path / "d" / "pe-1.xml").read_text()
    # its SD, PCI and pool are free again: the same intent gets them back
    _, m = _plan(tmp_path, db, TENANTS[1], out="c")
    assert m["services"]["harbour-hospital"]["resources"]["slices"]["staff"]["ue-pool"] == "10.200.3.0/24"



def test_cells_spill_over_to_the_next_gnb(tmp_path, db, yanglint):
    """With room for two cells per gNB, a third cell goes to the second gNB; the UPF gets an N3
    port and end point per gNB; every config still validates and the checks pass."""
    net = (tmp_path / "net.yaml")
    text = (REPO / NETWORK).read_text().replace(
        "    - name: gnb-1\n      gnb-id: 1\n",
        "    - name: gnb-1\n      gnb-id: 1\n      max-cells: 2\n    - name: gnb-2\n      gnb-id: 2\n      max-cells: 2\n")
    assert "gnb-2" in text
    net.write_text(text)
    intent = tmp_path / "three.yaml"
    intent.write_text((REPO / TENANTS[0]).read_text().replace("count: 2", "count: 3"))
    out = tmp_path / "o"
    r = cli("plan", str(intent), "--network", str(net), "--out", str(out), db=db)
    assert r.exit_code == 0, r.stderr
    m = json.loads((out / "manifest.json").read_text())
    cells = m["services"]["acme-robotics"]["resources"]["cells"]
    assert [cells[c]["gnb"] for c in ("cell-1", "cell-2", "cell-3")] == ["gnb-1", "gnb-1", "gnb-2"]
    assert cells["cell-3"]["cell-local-id"] == 1
    upf = (out / "upf-1.xml").read_text()
    assert "<name>n3-1</name>" in upf and "<name>n3-2</name>" in upf and "<id>N3-2</id>" in upf
    for dev in m["devices"]:
        res = yanglint_device(yanglint, out, dev)
        assert res.returncode == 0, f"{dev}: {res.stderr}"
    # five cells do not fit on two gNBs of two; the message says so
    intent.write_text((REPO / TENANTS[0]).read_text().replace("count: 2", "count: 5"))
    r = cli("plan", str(intent), "--network", str(net), db=db)
    assert r.exit_code == 2
    assert "the gNBs of site factory-park have no room for cell cell-5 (4 cells in all)" in r.stderr


def test_an_l3nm_pe_gets_one_vpn_per_tenant_with_the_same_routes(tmp_path, yanglint):
    """The PE as RFC 9182 L3VPN (pe-l3nm): each tenant's VPN carries its route distinguisher and
    target, the config passes yanglint, and it routes exactly what the IETF-only PE routes."""
    from lxml import etree

    from orchestrator.plan.campus_checks import static_routes

    net = "examples/networks/campus-l3nm.yaml"
    out = tmp_path / "l3nm"
    r = cli("plan", *TENANTS, "--network", net, "--out", str(out), db=f"sqlite:///{tmp_path}/a.db")
    assert r.exit_code == 0, r.stderr
    m = json.loads((out / "manifest.json").read_text())
    assert m["devices"]["pe-1"]["kind"] == "pe-l3nm"
    for dev in m["devices"]:
        res = yanglint_device(yanglint, out, dev)
        assert res.returncode == 0, f"{dev}: {res.stderr}"
    pe = etree.fromstring((out / "pe-1.xml").read_text().encode())
    ns = {"n": "urn:ietf:params:xml:ns:yang:ietf-l3vpn-ntw"}
    vpns = {v.findtext("n:vpn-id", namespaces=ns): (
        v.findtext(".//n:vpn-instance-profile/n:rd", namespaces=ns),
        v.findtext(".//n:route-targets/n:route-target", namespaces=ns)) for v in pe.iterfind(".//n:vpn-service", ns)}
    res = {n: m["services"][n]["resources"] for n in ("acme-robotics", "harbour-hospital")}
    assert vpns == {n: ("0:" + r["route-distinguisher"], "0:" + r["route-target"].removeprefix("target:"))
                    for n, r in res.items()}
    assert len({v[0] for v in vpns.values()}) == 2
    ietf_out, _ = _plan(tmp_path, f"sqlite:///{tmp_path}/b.db", *TENANTS, out="ietf")
    ietf_pe = etree.fromstring((ietf_out / "pe-1.xml").read_text().encode())
    want = sum(len(r["slices"]) + len(r["applications"]) for r in res.values())  # UE pools + applications
    assert static_routes(pe) == static_routes(ietf_pe) and len(static_routes(pe)) == want
