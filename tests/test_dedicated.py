"""DedicatedLine planning: two enterprises with three sites each (one over PON, two over direct
fibre; one at layer 2, one at layer 3; overlapping private prefixes), every planned config
checked a second time by the yanglint command-line tool; VPWS ends that agree; PON capacity
shared with business lines; planning again is identical and delete gives everything back."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from conftest import REPO, cli, manifest_validate, planned, record_applied, snapshot, yanglint_device

NETWORK = "examples/networks/enterprise.yaml"
LINES = ["examples/dedicated/acme-wan.yaml", "examples/dedicated/bolt-net.yaml"]
L2 = "{urn:ietf:params:xml:ns:yang:ietf-l2vpn-ntw}"
L3 = "{urn:ietf:params:xml:ns:yang:ietf-l3vpn-ntw}"


def _plan(tmp_path, db, *intents, out="dl"):
    return planned(tmp_path, db, NETWORK, *intents, out=out)


def _write(tmp_path, name: str, text: str) -> str:
    p = tmp_path / name
    p.write_text(text)
    return str(p)


def test_two_enterprises_every_config_passes_yanglint(tmp_path, db, yanglint):
    out, m = _plan(tmp_path, db, *LINES)
    assert {d: i["kind"] for d, i in m["devices"].items()} == {
        "olt-1": "olt-bbf", "olt-2": "olt-bbf", "pe-1": "pe-vpn", "pe-2": "pe-vpn", "pe-3": "pe-vpn"}
    for dev in m["devices"]:
        res = yanglint_device(yanglint, out, dev)
        assert res.returncode == 0, f"{dev}: {res.stderr}"
    # the manifest's own command, as a user would paste it, passes too (no own model is used here)
    for dev in m["devices"]:
        r = manifest_validate(out, dev)
        assert r.returncode == 0, f"{dev}: {r.stderr}"
    acme, bolt = (m["services"][n]["resources"] for n in ("acme-wan", "bolt-net"))
    assert acme["route-distinguisher"] != bolt["route-distinguisher"]
    assert acme["sites"]["hq"]["access"] == "pon" and bolt["sites"]["office"]["access"] == "pon"
    # pe-1 holds ACME's layer 2 VPN (the yard's backup, the headquarters over olt-1) and Bolt's L3VPN
    pe1 = ET.parse(out / "pe-1.xml").getroot()
    l2 = {a.findtext(f"{L2}id"): a for a in pe1.iter(f"{L2}vpn-network-access")}
    assert set(l2) == {"hq", "yard-backup"}
    assert l2["hq"].findtext(f".//{L2}svlan-id") == str(acme["sites"]["hq"]["s-vlan"])
    assert l2["yard-backup"].findtext(f".//{L2}precedence") == "secondary"
    assert [e.text for e in pe1.iter(f"{L3}lan")] == ["10.1.2.0/24", "10.1.20.0/24"]
    # the OLT carries the headquarters' S/C pair on its link to pe-1 and assures the CIR upstream
    olt1 = (out / "olt-1.xml").read_text()
    assert "<name>to-pe-1.{}.{}</name>".format(acme["sites"]["hq"]["s-vlan"], acme["sites"]["hq"]["c-vlan"]) in olt1
    assert "<assured-bandwidth>200000000</assured-bandwidth>" in olt1


def test_another_enterprise_may_use_the_same_prefixes(tmp_path, db, yanglint):
    """Overlap across enterprises is allowed (separate VRFs); inside one VPN it is refused."""
    text = (REPO / LINES[1]).read_text().replace("name: bolt-net", "name: volt-net").replace(
        "Bolt Networks GmbH", "Volt Energy AG").replace("BOLT0000D001", "VOLT0000D001").replace(
        "ge-0/0/2", "xe-0/1/0", 1).replace("    vlan: 120\n", "")
    volt = _write(tmp_path, "volt.yaml", text)
    out, m = _plan(tmp_path, db, *LINES, volt)
    for dev in m["devices"]:
        assert yanglint_device(yanglint, out, dev).returncode == 0
    assert m["services"]["volt-net"]["resources"]["sites"]["office"]["prefixes"] == "10.1.1.0/24"
    bad = _write(tmp_path, "bad.yaml", text.replace("10.1.3.0/24", "10.1.2.128/25"))
    r = cli("plan", bad, "--network", NETWORK, db=db)
    assert r.exit_code == 2 and "overlaps 10.1.2.0/24 of site lab" in r.stderr


def test_a_vpws_joins_two_pes_with_one_vc_id_and_one_vlan(tmp_path, db, yanglint):
    line = _write(tmp_path, "p2p.yaml", """\
apiVersion: fullbars.io/v1
kind: DedicatedLine
metadata: {name: mill-p2p}
spec:
  enterprise: Mill Works
  layer: l2
  topology: point-to-point
  rates: {cir: 50M}
  site:
  - {name: north, fibre: {pe: pe-1, port: ge-0/0/2}, vlan: 300}
  - {name: south, fibre: {pe: pe-2, port: ge-0/0/2}}
""")
    out, m = _plan(tmp_path, db, line)
    res = m["services"]["mill-p2p"]["resources"]
    routers = {"pe-1": "192.0.2.1", "pe-2": "192.0.2.2"}
    for pe, other in (("pe-1", "pe-2"), ("pe-2", "pe-1")):
        assert yanglint_device(yanglint, out, pe).returncode == 0
        root = ET.parse(out / f"{pe}.xml").getroot()
        peers = [(p.findtext(f"{L2}peer-addr"), p.findtext(f"{L2}vc-id")) for p in root.iter(f"{L2}pw-peer-list")]
        assert peers == [(routers[other], str(res["vc-id"]))]
        assert [v.text for v in root.iter(f"{L2}cvlan-id")] == ["300"]  # the VLAN one site gave, at both ends
        assert root.findtext(f".//{L2}vpn-type").endswith("vpws")


def test_pon_capacity_is_shared_with_business_lines(tmp_path, db):
    """A business line's assured upstream and a dedicated line's CIR share the PON port."""
    bb = _write(tmp_path, "bb.yaml", """\
apiVersion: fullbars.io/v1
kind: BusinessBroadband
metadata: {name: north-shop}
spec:
  customer: North Shop
  site: north-park
  onu: {serial: NRTH00000001}
  rates: {downstream: 1G, upstream: 1G}
  tenure-years: 5
  placement: {olt: olt-1, pon-port: 1/1/2}
""")
    _plan(tmp_path, db, bb)
    dl = _write(tmp_path, "dl.yaml", (REPO / LINES[0]).read_text().replace(
        "pon: {olt: olt-1, onu-serial: ACME0000D001}", "pon: {olt: olt-1, pon-port: 1/1/2, onu-serial: ACME0000D001}")
        .replace("rates: {cir: 200M, pir: 300M}", "rates: {cir: 250M}"))  # 1G + 250M > 1244M (GPON)
    before = snapshot(db)
    r = cli("plan", dl, "--network", NETWORK, db=db)
    assert r.exit_code == 2, r.stdout
    assert "PON port olt-1 1/1/2 has no room for site hq: 1G of assured upstream is in use" in r.stderr
    assert snapshot(db) == before
    # without the pin, the headquarters go on the port with room
    _, m = _plan(tmp_path, db, LINES[0])
    assert m["services"]["acme-wan"]["resources"]["sites"]["hq"]["pon-port"] == "1/1/1"


def test_plan_again_is_identical_and_delete_gives_everything_back(tmp_path, db):
    out1, m1 = _plan(tmp_path, db, *LINES, out="a")
    out2, m2 = _plan(tmp_path, db, *LINES, out="b")
    assert m1["services"] == m2["services"]
    for dev in m1["devices"]:
        assert (out1 / f"{dev}.xml").read_text() == (out2 / f"{dev}.xml").read_text()
    r = cli("delete", "acme-wan", db=db)  # never applied: it leaves the store at once, with what it held
    assert r.exit_code == 0, r.stderr
    rows = snapshot(db)["allocations"]
    assert not any("acme-wan" in row for row in rows) and any("bolt-net" in row for row in rows)
    out3, _ = _plan(tmp_path, db, *LINES, out="c")
    record_applied(db, out3)  # in service: bolt-net stands on pe-1 when acme-wan leaves it
    r = cli("delete", "acme-wan", "--out", str(tmp_path / "del"), db=db)
    assert r.exit_code == 0, r.stderr
    pe3 = (tmp_path / "del" / "pe-3.xml").read_text()
    assert "acme-wan" not in pe3 and "acme-wan" not in (tmp_path / "del" / "pe-1.xml").read_text()
    assert "bolt-net" in (tmp_path / "del" / "pe-1.xml").read_text()
    rows = snapshot(db)["allocations"]  # held until a transaction takes it off the devices
    assert any("acme-wan" in row for row in rows) and any("bolt-net" in row for row in rows)


def test_a_site_moved_to_another_pe_leaves_the_pe_it_was_on(tmp_path):
    """The PE a site moves off is rebuilt in the same plan when the environment's record of it
    holds the line: its edit takes the line off (it was left there, and drift said in sync, when
    only the devices the line is on now were built). Never given the line, it is left alone."""
    from orchestrator.plan.pipeline import plan
    from orchestrator.resources.store import DeviceConfigRow, Store

    moved = _write(tmp_path, "bolt.yaml", (REPO / LINES[1]).read_text().replace(
        "fibre: {pe: pe-1, port: ge-0/0/2}", "fibre: {pe: pe-3, port: ge-0/0/2}"))
    for applied in (False, True):
        store = Store(f"sqlite:///{tmp_path}/{applied}.db")
        first = plan(store, str(REPO / NETWORK), [str(REPO / LINES[1])])
        if applied:
            with store.transaction() as s:  # as a committed transaction records it
                for d in first.devices:
                    s.add(DeviceConfigRow(environment="env:production", device=d.device, kind=d.kind,
                                          config=d.intended, digest=""))
        second = plan(store, None, [moved], environment="env:production" if applied else None)
        [line] = second.services
        assert line.devices == ["olt-2", "pe-2", "pe-3"]
        pe1 = next((d for d in second.devices if d.device == "pe-1"), None)
        if not applied:
            assert pe1 is None
            continue
        assert pe1 is not None, [d.device for d in second.devices]
        assert "10.1.20.0/24" in pe1.current and "10.1.20.0/24" not in pe1.intended and pe1.changed
        # planned again, changed once more and still not applied: pe-1's record still holds the
        # line, though the last plan placed it elsewhere, so pe-1 is rebuilt again
        faster = _write(tmp_path, "faster.yaml", Path(moved).read_text().replace("rates: {cir: 100M}",
                                                                                 "rates: {cir: 150M}"))
        third = plan(store, None, [faster], environment="env:production")
        pe1 = next((d for d in third.devices if d.device == "pe-1"), None)
        assert pe1 is not None and pe1.changed, [d.device for d in third.devices]
        assert "10.1.20.0/24" in pe1.current and "10.1.20.0/24" not in pe1.intended


def test_a_move_applied_in_the_lab_still_leaves_production_s_pe(tmp_path):
    """A site moved, planned and applied in the lab: production's plan of the same file (the
    plan the lab had, recalled) still rebuilds pe-1, which production's record has the line on."""
    from orchestrator.plan.pipeline import plan
    from orchestrator.resources.store import DeviceConfigRow, Store

    moved = _write(tmp_path, "bolt.yaml", (REPO / LINES[1]).read_text().replace(
        "fibre: {pe: pe-1, port: ge-0/0/2}", "fibre: {pe: pe-3, port: ge-0/0/2}"))
    store = Store(f"sqlite:///{tmp_path}/store.db")
    lab, prod = "lab:/labs/a.clab.yml", "env:production"

    def given(env, result):  # as a committed transaction records it
        with store.transaction() as s:
            for d in result.devices:
                s.merge(DeviceConfigRow(environment=env, device=d.device, kind=d.kind, config=d.intended, digest=""))

    first = plan(store, str(REPO / NETWORK), [str(REPO / LINES[1])], environment=lab)
    given(lab, first)
    given(prod, first)
    in_lab = plan(store, None, [moved], environment=lab)
    assert "pe-1" in [d.device for d in in_lab.devices if d.changed]
    given(lab, in_lab)
    in_prod = plan(store, None, [moved], environment=prod)
    pe1 = next((d for d in in_prod.devices if d.device == "pe-1"), None)
    assert pe1 is not None and pe1.changed, [d.device for d in in_prod.devices]
    assert "10.1.20.0/24" in pe1.current and "10.1.20.0/24" not in pe1.intended
    given(prod, in_prod)  # now no record holds the line on pe-1: later plans leave pe-1 alone
    again = plan(store, None, [moved], environment=prod)
    assert "pe-1" not in [d.device for d in again.devices if d.changed]


def test_a_four_byte_as_gives_type_2_route_distinguishers(tmp_path, db):
    """A 4-byte AS (the model takes a uint32) fits no type 0 route distinguisher (2-byte AS):
    the lines get RFC 8294 type 2 ones, which the PE model accepts (it refused "0:4200000001:1",
    blaming the template)."""
    network = _write(tmp_path, "network.yaml", (REPO / NETWORK).read_text().replace(
        "enterprise-edge:\n    asn: 64512\n", "enterprise-edge:\n    asn: 4200000001\n"))
    out, m = planned(tmp_path, db, network, *LINES)
    rds = sorted(m["services"][n]["resources"]["route-distinguisher"] for n in ("acme-wan", "bolt-net"))
    assert all(rd.startswith("4200000001:") for rd in rds), rds
    assert "<rd>2:4200000001:" in (out / "pe-1.xml").read_text()


def test_a_slow_line_gets_a_burst_of_at_least_two_full_frames(tmp_path, db):
    """10 ms of the rate is the OLT shaper's burst, but never less than two 1518-byte frames (at
    400 kbit/s it was 500 bytes: every full-size frame would be dropped)."""
    slow = _write(tmp_path, "acme.yaml", (REPO / LINES[0]).read_text().replace(
        "rates: {cir: 200M, pir: 300M}", "rates: {cir: 300k, pir: 400k}"))
    out, _ = _plan(tmp_path, db, slow)
    olt = ET.parse(out / "olt-1.xml").getroot()
    ns = "{urn:bbf:yang:bbf-qos-shaping}"
    buckets = {b.findtext(f"{ns}pir"): b.findtext(f"{ns}pbs") for b in olt.iter(f"{ns}single-token-bucket")}
    assert buckets == {"400": "3036"}, buckets


def test_a_site_vlan_outside_its_ports_vlans_is_refused(tmp_path, db):
    """A VLAN given at a site must be one its port offers (it was taken as given; allocation kept
    to the range)."""
    text = (REPO / NETWORK).read_text()
    at = text.index("- name: pe-2")
    at = text.index("{name: ge-0/0/2, rate: 1G}", at)
    network = _write(tmp_path, "network.yaml", text[:at] + "{name: ge-0/0/2, rate: 1G, vlan: {first: 3000, last: 3001}}"
                     + text[at + len("{name: ge-0/0/2, rate: 1G}"):])
    r = cli("plan", str(REPO / LINES[1]), "--network", network, db=db)
    assert r.exit_code == 2, r.output
    assert "VLAN 120 is outside the VLANs of PE pe-2 port ge-0/0/2 (3000..3001)" in r.stderr, r.stderr
    assert "at: spec.site[2].vlan" in r.stderr and "fix: give a VLAN from 3000 to 3001" in r.stderr, r.stderr


def test_a_port_whose_vlans_were_narrowed_past_a_held_vlan_is_refused_naming_the_line(tmp_path, db):
    """bolt-net's lab site holds an allocated VLAN on pe-1 ge-0/0/2; the network then gives that
    port other VLANs: the plan is refused, naming the VLAN the line holds and how to move it (it
    kept the VLAN outside the range, or told to leave out a vlan it did not give)."""
    _plan(tmp_path, db, *LINES)
    text = (REPO / NETWORK).read_text()
    at = text.index("{name: ge-0/0/2, rate: 1G}", text.index("- name: pe-1"))
    net = _write(tmp_path, "net.yaml", text[:at] + "{name: ge-0/0/2, rate: 1G, vlan: {first: 3000, last: 3001}}"
                 + text[at + len("{name: ge-0/0/2, rate: 1G}"):])
    before = snapshot(db)
    r = cli("plan", LINES[1], "--network", net, db=db)
    assert r.exit_code == 2, r.output
    assert "which bolt-net holds on PE pe-1 port ge-0/0/2, is outside the port's VLANs (3000..3001)" in r.stderr, \
        r.stderr
    assert "give site lab a vlan from 3000 to 3001 to move the line there" in r.stderr, r.stderr
    assert snapshot(db) == before


def test_a_network_that_loses_a_pe_is_refused_naming_the_line(tmp_path, db):
    _plan(tmp_path, db, *LINES)
    text = (REPO / NETWORK).read_text()
    net = _write(tmp_path, "net.yaml", text[:text.index("    - name: pe-3")])
    before = snapshot(db)
    r = cli("plan", LINES[1], "--network", net, db=db)
    assert r.exit_code == 2 and "Traceback" not in r.stderr
    assert "DedicatedLine acme-wan uses PE pe-3 port ge-0/0/1, which the network description" in r.stderr
    assert "at: spec.site[2].fibre" in r.stderr
    assert snapshot(db) == before


def test_a_business_line_counts_a_dedicated_line_on_the_pon_port(tmp_path, db):
    """With the GPON port first on olt-1, a dedicated site's 1G CIR there leaves no room for a
    300M business line, which goes to the next port (it was put there and the plan refused)."""
    text = (REPO / NETWORK).read_text()
    net = _write(tmp_path, "net.yaml", text.replace("    - {name: 1/1/1, type: xgs-pon}\n    - {name: 1/1/2, type: gpon}",
                                                    "    - {name: 1/1/2, type: gpon}\n    - {name: 1/1/1, type: xgs-pon}"))
    dl = _write(tmp_path, "dl.yaml", """\
apiVersion: fullbars.io/v1
kind: DedicatedLine
metadata: {name: big-link}
spec:
  enterprise: Big Data Ltd
  layer: l2
  topology: point-to-point
  rates: {cir: 1G}
  site:
  - {name: a, pon: {olt: olt-1, pon-port: 1/1/2, onu-serial: BIGD00000001}}
  - {name: b, fibre: {pe: pe-1, port: xe-0/1/0}}
""")
    r = cli("plan", dl, "--network", net, db=db)
    assert r.exit_code == 0, r.stderr
    for first in (True, False):  # the line planned alone, and planned together with the dedicated line
        bb = _write(tmp_path, "bb.yaml", f"""\
apiVersion: fullbars.io/v1
kind: BusinessBroadband
metadata: {{name: north-shop}}
spec:
  customer: North Shop
  site: north-park
  onu: {{serial: NRTH00000001}}
  rates: {{downstream: 500M, upstream: 300M}}
""")
        args = [bb] if first else [bb, dl]
        out, m = planned(tmp_path, db, str(net), *args, out=f"o{first}")
        assert m["services"]["north-shop"]["resources"]["pon-port"] == "1/1/1"


def test_a_site_taken_off_a_line_gives_its_resources_back(tmp_path, db):
    _plan(tmp_path, db, LINES[1])
    text = (REPO / LINES[1]).read_text()
    fewer = _write(tmp_path, "bolt.yaml", text[:text.index("  - name: store")])
    _, m = _plan(tmp_path, db, fewer, out="fewer")
    assert set(m["services"]["bolt-net"]["resources"]["sites"]) == {"office", "lab"}
    held = {(r[1], r[4]) for r in snapshot(db)["allocations"] if "bolt-net" in r}
    assert not any("store" in purpose for _, purpose in held), held
    # the store's VLAN 120 on pe-2 ge-0/0/2 is free for another line
    other = _write(tmp_path, "other.yaml", text.replace("name: bolt-net", "name: volt-net").replace(
        "Bolt Networks GmbH", "Volt Energy AG").replace("BOLT0000D001", "VOLT0000D001").replace(
        "pe: pe-1, port: ge-0/0/2", "pe: pe-1, port: xe-0/1/0"))
    _plan(tmp_path, db, other, out="other")


def test_the_lab_wires_a_layer_2_protection_fibre_to_the_sites_ce(tmp_path, db):
    """ACME's yard (layer 2) is on pe-3 and protected by pe-1: its CE gets both uplinks in the
    generated lab; Bolt (layer 3) has no protection wired."""
    import yaml

    from orchestrator.lab.generate import from_plan

    out = tmp_path / "plan"
    assert cli("plan", *LINES, "--network", NETWORK, "--out", str(out), db=db).exit_code == 0
    topo = yaml.safe_load(from_plan(out, "s5d-gen"))["topology"]
    links = {tuple(sorted(ln["endpoints"])) for ln in topo["links"]}
    assert ("ce-acme-wan-yard:eth1", "pe-3:ge-0-0-1") in links
    assert ("ce-acme-wan-yard:eth2", "pe-1:ge-0-0-1") in links
    assert not [ln for ln in links if any(e.startswith("ce-bolt-net") and e.endswith(":eth2") for e in ln)]


def test_a_protection_fibre_never_takes_the_port_of_another_sites_ce(tmp_path, db):
    """Crane's office is on pe-1 ge-0/0/1, the port ACME's yard names for its protection: the site's
    CE keeps its only uplink (the protection is wired only to a port no site uses), and every CE
    in the lab has its uplink."""
    import yaml

    from orchestrator.lab.generate import from_plan

    out = tmp_path / "plan"
    crane = str(REPO / "tests/mutations/intents/crane-net.yaml")
    assert cli("plan", *LINES, crane, "--network", NETWORK, "--out", str(out), db=db).exit_code == 0
    topo = yaml.safe_load(from_plan(out, "s5d-gen2"))["topology"]
    ends = {e for ln in topo["links"] for e in ln["endpoints"]}
    assert "ce-crane-net-office:eth1" in ends
    assert not [e for e in ends if e.startswith("ce-acme-wan-yard:eth2")]
    assert all(f"{n}:eth1" in ends for n in topo["nodes"] if n.startswith("ce-")), sorted(ends)


def test_a_standby_access_joins_its_vpn_only_while_no_pe_says_the_primary_is_up(tmp_path, monkeypatch):
    """The protection PE's side of a group, one tick at a time (the kernel's part recorded, not
    run): the standby stays out while the primary's PE says its port is up, joins after two ticks
    of hearing it down, leaves at once when it is up again; the cores forget learned MACs when a
    group changes hands."""
    from orchestrator.lab.kinds.dedicated import plane as pe_plane

    done: list[tuple] = []
    monkeypatch.setattr(pe_plane.netns, "netns_exec", lambda ns, argv, **kw: done.append(tuple(argv)))
    monkeypatch.setattr(pe_plane, "ip", lambda ns, *args, check=True: done.append(("ip", *args)))
    lab = {"nodes": {n: {"netns": f"ns-{n}", "kind": "pe-vpn", "role": "pe", "labels": {},
                         "state_dir": str(tmp_path / n)} for n in ("pe-1", "pe-3")}, "links": []}
    for n in lab["nodes"]:
        (tmp_path / n).mkdir()
    port = {"up": True}
    primary, backup = pe_plane.PePlane(lab, "pe-3"), pe_plane.PePlane(lab, "pe-1")
    monkeypatch.setattr(primary, "_port_up", lambda ifname: port["up"])
    acc = dict(id="yard", interface="ge-0/0/1", lab_if="ge-0-0-1", encap="dot1q", vni=2, dstport=20000,
               out_bps=1, in_bps=1, group="yard")
    primary.applied = {"acme": pe_plane.Vpn("acme", "l2", "evpn", 7, (), (pe_plane.Access(**acc),))}
    backup.applied = {"acme": pe_plane.Vpn("acme", "l2", "evpn", 7, (), (pe_plane.Access(**dict(
        acc, id="yard-backup", standby=True)),))}
    dev = f"a{pe_plane._short('acme')}00"

    def tick() -> bool | None:
        primary.tick()
        backup.tick()
        return backup.active.get(dev)

    assert [tick(), tick(), tick()] == [False, False, False]
    port["up"] = False
    done.clear()
    assert [tick(), tick()] == [False, True]
    assert ("ip", "link", "set", dev, "master", f"b{pe_plane._short('acme')}") in done
    assert ("bridge", "fdb", "flush", "dev", f"c{pe_plane._short('acme')}", "self", "dynamic") in done
    port["up"] = True
    assert tick() is False
    primary.applied = {}  # the primary gone from its PE's config: nobody says it is up
    assert [tick(), tick()] == [False, True]


def test_an_onu_serial_a_dedicated_line_s_site_expects_is_no_business_line_s(tmp_path, db):
    """The store's index holds business lines' serials; a dedicated line's PON sites are read by
    kind: a business line planned after it with the same serial was accepted (the OLT's config
    then expected one ONU on two v-ANIs)."""
    assert cli("plan", LINES[0], "--network", NETWORK, db=db).exit_code == 0
    line = tmp_path / "shop.yaml"
    line.write_text((REPO / "examples/cloud/north-shop.yaml").read_text().replace("NRTH00000001", "ACME0000d001"))
    before = snapshot(db)
    for args in (("plan", str(line)), ("validate", str(line))):
        r = cli(*args, db=db)
        assert r.exit_code == 2, r.output
        assert (f"{line}:9: ONU serial ACME0000d001 is already used by service acme-wan "
                f"({LINES[0]}:15)") in r.stderr, r.stderr
    assert snapshot(db) == before
    r = cli("plan", LINES[0], db=db)  # the dedicated line itself planned again: its own serial
    assert r.exit_code == 0, r.output


@pytest.mark.parametrize("old, new, said, path", [
    ("    asn: 64512", "    asn: 64600", "enterprise-edge asn 64600 (was 64512) would give 2 service(s) other route "
     "distinguishers and targets: acme-wan, bolt-net", "spec.enterprise-edge.asn"),
    ("    pe-ce-links: 100.64.0.0/22", "    pe-ce-links: 100.66.0.0/22", "enterprise-edge pe-ce-links 100.66.0.0/22 "
     "(was 100.64.0.0/22) would give 1 service(s) other link addresses: bolt-net", "spec.enterprise-edge.pe-ce-links"),
    ("olt-interface: to-pe-1, pe-interface: to-olt-1}", "olt-interface: to-pe-1, pe-interface: to-olt-1, "
     "s-vlan: {first: 3001, last: 3010}}", "OLT olt-1's link to the PE: S-VLANs 3001..3010 on to-pe-1 (were "
     "2001..2999 on to-pe-1) would give", "spec.enterprise-edge.pe[pe-1].olt-link[olt-1].s-vlan"),
])
def test_an_edge_range_the_lines_hold_values_of_is_not_renumbered_under_them(tmp_path, db, old, new, said, path):
    """The AS of their route distinguishers, the PE-CE link range, an OLT link's S-VLANs (a pair is
    an index into them): another would give the lines other values, none of them asked."""
    assert cli("plan", *LINES, "--network", NETWORK, db=db).exit_code == 0
    changed = tmp_path / "network.yaml"
    text = (REPO / NETWORK).read_text()
    assert old in text
    changed.write_text(text.replace(old, new))
    before = snapshot(db)
    r = cli("plan", LINES[1], "--network", str(changed), db=db)
    assert r.exit_code == 2, r.output
    assert said in " ".join(r.stderr.split()) and f"at: {path}" in r.stderr, r.stderr
    at = next(i for i, ln in enumerate(changed.read_text().splitlines(), 1) if new in ln)
    assert f"{changed}:{at}: " in r.stderr, r.stderr  # the changed key's line (there was none)
    assert snapshot(db) == before


def test_a_site_added_where_the_layer_2_line_s_vlan_is_taken_says_what_can_be_done(tmp_path, db):
    """A layer 2 line carries one VLAN at every site, allocated when no site names one. A site
    added on a port where another line uses it: the fix is not "leave vlan out" (it was left out)
    but one VLAN free at every site, or another port."""
    def mill(*extra: str) -> str:
        return _write(tmp_path, "mill.yaml", "apiVersion: fullbars.io/v1\nkind: DedicatedLine\n"
                      "metadata: {name: mill}\nspec:\n  enterprise: Mill\n  layer: l2\n  rates: {cir: 10M}\n"
                      "  site:\n  - {name: north, fibre: {pe: pe-1, port: ge-0/0/1}}\n"
                      "  - {name: south, fibre: {pe: pe-2, port: ge-0/0/2}}\n" + "".join(extra))

    out, m = _plan(tmp_path, db, mill())
    vlan = m["services"]["mill"]["resources"]["sites"]["north"]["vlan"]
    other = _write(tmp_path, "other.yaml", f"""\
apiVersion: fullbars.io/v1
kind: DedicatedLine
metadata: {{name: other}}
spec:
  enterprise: Other
  layer: l2
  rates: {{cir: 10M}}
  site:
  - {{name: a, fibre: {{pe: pe-3, port: ge-0/0/1}}, vlan: {vlan}}}
  - {{name: b, fibre: {{pe: pe-2, port: ge-0/0/1}}}}
""")
    assert cli("plan", other, db=db).exit_code == 0
    before = snapshot(db)
    r = cli("plan", mill("  - {name: store, fibre: {pe: pe-3, port: ge-0/0/1}}\n"), db=db)
    assert r.exit_code == 2, r.output
    assert (f"site store would carry the line's VLAN {vlan} (allocated for its other sites) on PE pe-3 port "
            f"ge-0/0/1, where other (its site a) uses it") in r.stderr, r.stderr
    assert "leave vlan out" not in r.stderr and "at: spec.site[2]" in r.stderr, r.stderr
    assert snapshot(db) == before
