"""Campus5G planning: two tenants with two slices each on one site, validated a second time with
the yanglint command-line tool; allocations that must not collide; delete gives a tenant's
resources back and takes its slices off every device."""

from __future__ import annotations

import json

import netaddr

from conftest import REPO, cli, manifest_validate, record_applied, yanglint_device

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
    for dev in m["devices"]:
        r = manifest_validate(out, dev)
        assert r.returncode == 0, f"{dev}: {r.stderr}"


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



def _site_with_gnbs(tmp_path, count: int, max_cells: int | None = None):
    """The example network with `count` gNBs (gnb-1 ...) at its site."""
    room = f"      max-cells: {max_cells}\n" if max_cells else ""
    text = (REPO / NETWORK).read_text().replace(
        "    - name: gnb-1\n      gnb-id: 1\n",
        "".join(f"    - name: gnb-{i}\n      gnb-id: {i}\n{room}" for i in range(1, count + 1)))
    assert f"gnb-{count}" in text
    net = tmp_path / f"net{count}.yaml"
    net.write_text(text)
    return net


def test_cells_spread_over_the_least_loaded_gnbs(tmp_path, db, yanglint):
    """Two gNBs of two cells: three cells go gnb-1, gnb-2, gnb-1 (least loaded first, the site's
    order breaking ties); the UPF gets an N3 port and end point per gNB; every config still
    validates; five cells do not fit and the message says so."""
    net = _site_with_gnbs(tmp_path, 2, max_cells=2)
    intent = tmp_path / "three.yaml"
    intent.write_text((REPO / TENANTS[0]).read_text().replace("count: 2", "count: 3"))
    out = tmp_path / "o"
    r = cli("plan", str(intent), "--network", str(net), "--out", str(out), db=db)
    assert r.exit_code == 0, r.stderr
    m = json.loads((out / "manifest.json").read_text())
    cells = m["services"]["acme-robotics"]["resources"]["cells"]
    assert [(cells[c]["gnb"], cells[c]["cell-local-id"]) for c in ("cell-1", "cell-2", "cell-3")] == [
        ("gnb-1", 1), ("gnb-2", 1), ("gnb-1", 2)]
    upf = (out / "upf-1.xml").read_text()
    assert "<name>n3-1</name>" in upf and "<name>n3-2</name>" in upf and "<id>N3-2</id>" in upf
    for dev in m["devices"]:
        res = yanglint_device(yanglint, out, dev)
        assert res.returncode == 0, f"{dev}: {res.stderr}"
    intent.write_text((REPO / TENANTS[0]).read_text().replace("count: 2", "count: 5"))
    r = cli("plan", str(intent), "--network", str(net), db=db)
    assert r.exit_code == 2
    assert "the gNBs of site factory-park have no room for cell cell-5 (4 cells in all)" in r.stderr


def test_two_tenants_on_four_gnbs_each_cell_on_its_own(tmp_path, db):
    """The issue's site of four gNBs: the four cells of two tenants land on four gNBs, each slice
    is served by a gNB carrying its tenant's cells, the UPF routes each UE pool to that gNB's N3
    end, planning again (all, or one tenant alone) places alike and changes nothing."""
    from lxml import etree

    from orchestrator.services.campus5g_checks import static_routes

    net = _site_with_gnbs(tmp_path, 4)
    out = tmp_path / "a"
    r = cli("plan", *TENANTS, "--network", str(net), "--out", str(out), db=db)
    assert r.exit_code == 0, r.stderr
    m = json.loads((out / "manifest.json").read_text())
    res = {n: m["services"][n]["resources"] for n in ("acme-robotics", "harbour-hospital")}
    placed = {c: i["gnb"] for r_ in res.values() for c, i in r_["cells"].items()}
    assert placed == {"cell-1": "gnb-1", "cell-2": "gnb-2", "ward-a": "gnb-3", "ward-b": "gnb-4"}
    assert sorted(m["devices"]) == ["core-1", "gnb-1", "gnb-2", "gnb-3", "gnb-4", "pe-1", "upf-1"]
    assert "gnb gnb-2, cell-local-id 1" in r.stdout  # the plan says where each cell went
    n3 = {f"gnb-{i}": f"10.250.0.{4 * i + 1}" for i in range(1, 5)}
    routes = static_routes(etree.fromstring((out / "upf-1.xml").read_bytes()))
    for r_ in res.values():
        for sl, info in r_["slices"].items():
            assert info["gnb"] in r_["gnbs"], sl
            assert routes[info["ue-pool"]] == n3[info["gnb"]], sl
    assert {r_["slices"][s]["gnb"] for r_ in res.values() for s in r_["slices"]} == set(n3)  # spread too
    r = cli("plan", *TENANTS, "--out", str(tmp_path / "b"), db=db)
    assert r.exit_code == 0, r.stderr
    assert json.loads((tmp_path / "b" / "manifest.json").read_text())["services"]["acme-robotics"]["resources"] == \
        res["acme-robotics"]
    for dev in m["devices"]:
        assert (out / f"{dev}.xml").read_bytes() == (tmp_path / "b" / f"{dev}.xml").read_bytes(), dev
    r = cli("plan", TENANTS[0], "--out", str(tmp_path / "c"), db=db)  # the other tenant's gNBs unrendered
    assert r.exit_code == 0, r.stderr


def test_a_cell_goes_on_the_gnb_the_intent_names(tmp_path, db):
    """`gnb:` on a cell places it there, also moving a placed cell (the gNB it left loses it);
    a gNB the site lacks, or one without room, is refused at the cell's line."""
    net = _site_with_gnbs(tmp_path, 4, max_cells=2)
    r = cli("plan", *TENANTS, "--network", str(net), "--out", str(tmp_path / "first"), db=db)
    assert r.exit_code == 0, r.stderr
    record_applied(db, tmp_path / "first")  # acme in service keeps its cell on gnb-1
    text = (REPO / TENANTS[1]).read_text()
    assert "      pci: 300\n" in text
    moved = tmp_path / "harbour-hospital.yaml"
    moved.write_text(text.replace("      pci: 300\n", "      pci: 300\n      gnb: gnb-1\n"))
    out = tmp_path / "m"
    r = cli("plan", str(moved), "--out", str(out), db=db)
    assert r.exit_code == 0, r.stderr
    m = json.loads((out / "manifest.json").read_text())
    cells = m["services"]["harbour-hospital"]["resources"]["cells"]
    assert cells["ward-b"]["gnb"] == "gnb-1" and cells["ward-a"]["gnb"] == "gnb-3"
    assert (out / "gnb-1.xml").read_text().count("<NRCellDU") == 2  # acme's cell-1 and ward-b
    assert "NRCellDU" not in (out / "gnb-4.xml").read_text()  # ward-b left it; nobody else is there
    line = text[:text.index("      pci: 300")].count("\n") + 2
    moved.write_text(text.replace("      pci: 300\n", "      pci: 300\n      gnb: gnb-9\n"))
    r = cli("plan", str(moved), db=db)
    assert r.exit_code == 2
    assert f"{moved}:{line}: cell ward-b names gNB 'gnb-9', which site factory-park does not have" in r.stderr
    assert "at: spec.cells.cell[1].gnb" in r.stderr and "fix: gNBs of the site: gnb-1, gnb-2, gnb-3, gnb-4" in r.stderr
    full = tmp_path / "full.yaml"  # gnb-1 holds cell-1 and ward-b: no room for two more
    full.write_text((REPO / TENANTS[0]).read_text().replace("count: 2", "cell: [{name: c1}, {name: c2, gnb: gnb-1}]")
                    .replace("name: acme-robotics", "name: acme-two").replace("ACME Robotics GmbH", "ACME Two")
                    .replace("dnn: acme-", "dnn: two-").replace("dnn: [acme-", "dnn: [two-")
                    .replace("10.21.", "10.22."))
    r = cli("plan", str(full), db=db)
    assert r.exit_code == 2, r.stdout
    assert "gNB gnb-1 of site factory-park has no room for cell c2 (all its 2 cells are held)" in r.stderr
    assert "at: spec.cells.cell[1].gnb" in r.stderr


def test_an_l3nm_pe_gets_one_vpn_per_tenant_with_the_same_routes(tmp_path, yanglint):
    """The PE as RFC 9182 L3VPN (pe-l3nm): each tenant's VPN carries its route distinguisher and
    target, the config passes yanglint, and it routes exactly what the IETF-only PE routes."""
    from lxml import etree

    from orchestrator.services.campus5g_checks import static_routes

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


def test_status_shows_campus_allocations_as_the_plan_does(db):
    """A route distinguisher as AS:number, an SD in hex, an IMSI block as its first and last IMSI
    (status showed the indexes kept: rd=1, imsi=0)."""
    r = cli("plan", "examples/campus/acme-robotics.yaml", "--network", NETWORK, "--format", "json", db=db)
    assert r.exit_code == 0, r.stderr
    res = json.loads(r.stdout)["services"][0]["resources"]
    st = json.loads(cli("status", "--format", "json", db=db).stdout)["services"][0]
    held = dict(h.split("=", 1) for h in st["held"])
    assert held["rd"] == res["route-distinguisher"], (held, res)
    assert all(len(v) == 6 and v == v.upper() for k, v in held.items() if k.startswith("sd:")), held
    blocks = {k: v for k, v in held.items() if k.startswith("imsi:")}
    assert blocks, held
    for group, given in res["device-groups"].items():
        first, last = blocks[f"imsi:{group}"].split("-")
        shown_first, shown_last = given["imsi"].split("-")
        assert first <= shown_first <= shown_last <= last, (blocks, given)
    for cell, given in res["cells"].items():  # a local id with its gNB (each gNB counts from 1)
        assert held[f"cell:{cell}"] == f"{given['gnb']}/{given['cell-local-id']}", held


def test_a_site_s_as_number_is_not_changed_under_its_tenants(tmp_path, db):
    """Their route distinguishers are numbers of the site's AS: another AS renumbered them and
    handed each tenant's to another, by the order they were placed again."""
    assert cli("plan", *TENANTS, "--network", NETWORK, db=db).exit_code == 0
    changed = tmp_path / "network.yaml"
    changed.write_text((REPO / NETWORK).read_text().replace("    asn: 65010", "    asn: 65020"))
    r = cli("plan", TENANTS[0], "--network", str(changed), db=db)
    assert r.exit_code == 2, r.output
    assert ("campus site factory-park: asn 65020 (was 65010) would give 2 service(s) other route distinguishers: "
            "acme-robotics, harbour-hospital") in " ".join(r.stderr.split()), r.stderr
    at = next(i for i, ln in enumerate(changed.read_text().splitlines(), 1) if "    asn: 65020" in ln)
    assert f"{changed}:{at}: campus site factory-park" in r.stderr, r.stderr
