"""SentinelFleet planning: kiosks ride an enterprise's slice in a data network of their own: the
core and UPF serve its DNN with the slice's S-NSSAI, a UE pool of its own, its AMBR and only the
sentinel platform as destination; the PE routes both; the configs pass yanglint; deleting the
fleet leaves the enterprise's own network as it was."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from conftest import REPO, cli, planned, record_applied, snapshot, yanglint_device

NETWORK = "examples/networks/campus.yaml"
TENANTS = ["examples/campus/acme-robotics.yaml", "examples/campus/harbour-hospital.yaml"]
FLEET = "examples/sentinel/acme-kiosks.yaml"
UPF = "{urn:fullbars:yang:fullbars-upf-dnn}"


def _plan(tmp_path, db, *intents, out="sf"):
    return planned(tmp_path, db, NETWORK, *intents, out=out)


def test_kiosks_get_a_data_network_of_their_own_on_the_slice(tmp_path, db, yanglint):
    out, m = _plan(tmp_path, db, FLEET, *TENANTS)  # the fleet first: its campus network is placed for it
    assert sorted(m["services"]["acme-kiosks"]["devices"]) == ["core-1", "pe-1", "upf-1"]
    for dev in m["devices"]:
        res = yanglint_device(yanglint, out, dev)
        assert res.returncode == 0, f"{dev}: {res.stderr}"
    fleet = m["services"]["acme-kiosks"]["resources"]
    agv = m["services"]["acme-robotics"]["resources"]["slices"]["agv"]
    assert fleet["s-nssai"] == agv["s-nssai"] and fleet["ue-pool"] != agv["ue-pool"]
    assert fleet["imsi"].startswith("00101") and fleet["imsi"].endswith("19")
    upf = ET.parse(out / "upf-1.xml").getroot()
    dnn = next(d for d in upf.iter(f"{UPF}dnn") if d.findtext(f"{UPF}name") == "acme-kiosk")
    assert [a.text for a in dnn.iter(f"{UPF}application")] == ["10.21.9.0/28"]
    assert dnn.findtext(f"{UPF}ue-pool") == fleet["ue-pool"]
    assert "2000000" in ET.tostring(dnn, encoding="unicode") and "1000000" in ET.tostring(dnn, encoding="unicode")
    pe = (out / "pe-1.xml").read_text()
    assert f"<destination-prefix>{fleet['ue-pool']}</destination-prefix>" in pe
    assert "<destination-prefix>10.21.9.0/28</destination-prefix>" in pe


def test_deleting_the_fleet_leaves_the_enterprise_as_it_was(tmp_path, db):
    before, _ = _plan(tmp_path, db, *TENANTS, out="before")
    record_applied(db, before)  # in service: they stand on the devices the fleet's removal rebuilds
    _plan(tmp_path, db, FLEET, out="with")
    r = cli("delete", "acme-kiosks", "--out", str(tmp_path / "after"), db=db)
    assert r.exit_code == 0, r.stderr
    for dev in ("core-1", "pe-1", "upf-1"):
        assert (tmp_path / "after" / f"{dev}.xml").read_text() == (before / f"{dev}.xml").read_text()
    assert not any("acme-kiosks" in row for row in snapshot(db)["allocations"])
    r = cli("delete", "acme-robotics", db=db)
    assert r.exit_code == 0, r.stderr


def test_two_destinations_of_one_fleet_that_overlap_are_refused(tmp_path, db):
    fleet = tmp_path / "fleet.yaml"
    fleet.write_text((REPO / FLEET).read_text().replace(
        "  - {name: sentinel-platform, subnet: 10.21.9.0/28}",
        "  - {name: sentinel-platform, subnet: 10.21.9.0/28}\n  - {name: sentinel-backup, subnet: 10.21.9.8/29}"))
    r = cli("plan", *TENANTS, str(fleet), "--network", NETWORK, db=db)
    assert r.exit_code == 2
    assert (f"{fleet}:15: destination sentinel-backup 10.21.9.8/29 overlaps destination sentinel-platform "
            "10.21.9.0/28 of the same fleet") in r.stderr, r.stderr
    fleet.write_text(fleet.read_text().replace("10.21.9.8/29", "10.21.9.16/29"))
    r = cli("plan", *TENANTS, str(fleet), "--network", NETWORK, db=db)
    assert r.exit_code == 0, r.stderr


def test_a_destination_another_tenant_s_fleet_routes_at_the_site_is_refused(tmp_path, db):
    """The PE holds the site's routes in one table: the hospital's kiosks sending to the range
    ACME's kiosks reach through ACME's router would take over that route (one route, two owners)."""
    theirs = tmp_path / "hospital-kiosks.yaml"
    theirs.write_text((REPO / FLEET).read_text().replace("name: acme-kiosks", "name: hospital-kiosks")
                      .replace("campus: acme-robotics", "campus: harbour-hospital")
                      .replace("slice: agv", "slice: medical-iot").replace("dnn: acme-kiosk", "dnn: hospital-kiosk")
                      .replace("ambr: {downlink: 2M, uplink: 1M}", "ambr: {downlink: 1M, uplink: 1M}")
                      .replace("10.21.9.0/28", "10.21.9.0/29"))
    assert cli("plan", *TENANTS, FLEET, "--network", NETWORK, db=db).exit_code == 0
    before = snapshot(db)
    r = cli("plan", str(theirs), db=db)
    assert r.exit_code == 2
    assert ("destination sentinel-platform 10.21.9.0/29 overlaps destination sentinel-platform of acme-kiosks "
            "(acme-robotics) 10.21.9.0/28") in r.stderr, r.stderr
    assert snapshot(db) == before
    theirs.write_text(theirs.read_text().replace("10.21.9.0/29", "10.21.9.64/29"))
    r = cli("plan", str(theirs), db=db)
    assert r.exit_code == 0, r.stderr
