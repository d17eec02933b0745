"""The road from intent to validated configs, checked as a user and an independent tool would."""

from __future__ import annotations

import json

from conftest import EXAMPLES, cli, snapshot, yanglint_device


def _files(d):
    return {p.name: p.read_bytes() for p in d.iterdir() if p.is_file()}


def test_acme_plan_shows_resources_diff_and_edit(tmp_path, db):
    out = tmp_path / "acme"
    r = cli("plan", "examples/intents/acme-hq.yaml", "--network", "examples/network.yaml", "--out", str(out), db=db)
    assert r.exit_code == 0, r.stderr
    assert "create    BusinessBroadband acme-hq" in r.stdout
    assert "onu-id             1" in r.stdout and "s-vlan             1100" in r.stdout
    assert "address-block      203.0.113.0/29" in r.stdout
    assert "+        <ip>203.0.113.1</ip>" in r.stdout  # the diff for the BNG
    assert "NETCONF edit-config payload" in r.stdout
    m = json.loads((out / "manifest.json").read_text())
    assert sorted(m["devices"]) == ["bng-east", "olt-1"]
    assert m["services"]["acme-hq"]["resources"]["pon-port"] == "1/1/1"
    olt = (out / "olt-1.xml").read_text()
    assert olt.startswith('<config xmlns="urn:ietf:params:xml:ns:netconf:base:1.0">')
    for needle in ("<expected-serial-number>ACME0000A001</expected-serial-number>", "<onu-id>1</onu-id>",
                   "<assured-bandwidth>300000000</assured-bandwidth>", "<pir>500000</pir>",
                   "<alloc-id>1024</alloc-id>", "<gemport-id>1024</gemport-id>"):
        assert needle in olt
    import hashlib
    for dev, info in m["devices"].items():
        for f, sha in info["files"].items():
            assert hashlib.sha256((out / f).read_bytes()).hexdigest() == sha


def test_hundred_intents_validate_with_yanglint(tmp_path, db, yanglint):
    out = tmp_path / "hundred"
    r = cli("plan", "examples/bulk/hundred-shops.yaml", "--network", "examples/network.yaml", "--out", str(out),
            db=db)
    assert r.exit_code == 0, r.stderr
    m = json.loads((out / "manifest.json").read_text())
    assert len(m["services"]) == 100
    assert sum(len(d["services"]) for d in m["devices"].values()) == 200  # each line: one OLT, one BNG
    for dev in m["devices"]:
        res = yanglint_device(yanglint, out, dev)
        assert res.returncode == 0, f"{dev}: {res.stderr}"


def test_yanglint_rejects_a_tampered_config(tmp_path, db, yanglint):
    """The yanglint check above can fail: a dangling T-CONT profile reference is caught."""
    out = tmp_path / "t"
    assert cli("plan", "examples/intents/acme-hq.yaml", "--network", "examples/network.yaml", "--out", str(out),
               db=db).exit_code == 0
    p = out / "olt-1.xml"
    p.write_text(p.read_text().replace("<traffic-descriptor-profile-ref>up-300M<",
                                       "<traffic-descriptor-profile-ref>up-999M<"))
    res = yanglint_device(yanglint, out, "olt-1")
    assert res.returncode != 0 and "up-999M" in res.stderr


def test_plan_twice_is_byte_identical(tmp_path, db):
    a, b = tmp_path / "a", tmp_path / "b"
    args = ("plan", "examples/bulk/hundred-shops.yaml", "examples/intents/acme-hq.yaml", "--network",
            "examples/network.yaml")
    assert cli(*args, "--out", str(a), db=db).exit_code == 0
    before = snapshot(db)
    assert cli(*args, "--out", str(b), db=db).exit_code == 0
    assert _files(a) == _files(b)
    assert snapshot(db)["allocations"] == before["allocations"]


def test_add_one_changes_only_its_devices_and_delete_restores(tmp_path, db):
    base, plus, after = tmp_path / "base", tmp_path / "plus", tmp_path / "after"
    net = ("--network", "examples/network.yaml")
    assert cli("plan", "examples/bulk/hundred-shops.yaml", *net, "--out", str(base), db=db).exit_code == 0
    r = cli("plan", "examples/bulk/hundred-shops.yaml", "examples/intents/clinic-west.yaml", *net,
            "--out", str(plus), db=db)
    assert r.exit_code == 0, r.stderr
    m = json.loads((plus / "manifest.json").read_text())
    assert m["services"]["clinic-west"]["devices"] == ["bng-west", "olt-3"]
    b, p = _files(base), _files(plus)
    changed = {f.split(".")[0] for f in set(b) | set(p) if b.get(f) != p.get(f) and f != "manifest.json"}
    assert changed == {"bng-west", "olt-3"}
    r = cli("delete", "clinic-west", "clinic-west", "--out", str(tmp_path / "del"), db=db)  # twice: one removal
    assert r.exit_code == 0, r.stderr
    assert "delete" in r.stdout
    assert cli("plan", "examples/bulk/hundred-shops.yaml", *net, "--out", str(after), db=db).exit_code == 0
    assert _files(base) == _files(after)
    assert "clinic-west" not in snapshot(db)["allocations"].__repr__()


def test_update_changes_only_the_rate(tmp_path, db):
    """A changed rate re-renders the line; the edit against an applied config touches only that."""
    from orchestrator.plan.pipeline import plan
    from orchestrator.resources.store import DeviceConfigRow, Store

    store = Store(db)
    first = plan(store, str(EXAMPLES / "network.yaml"), [str(EXAMPLES / "intents/acme-hq.yaml")])
    with store.transaction() as s:  # as if applied
        for d in first.devices:
            s.add(DeviceConfigRow(environment="env:production", device=d.device, kind=d.kind, config=d.intended,
                                  digest=""))
    changed = tmp_path / "acme.yaml"
    changed.write_text((EXAMPLES / "intents/acme-hq.yaml").read_text().replace("downstream: 500M", "downstream: 1G"))
    second = plan(store, None, [str(changed)], environment="env:production")
    assert [s.action for s in second.services] == ["update"]
    olt = next(d for d in second.devices if d.device == "olt-1")
    assert "<pir>1000000</pir>" in olt.edit and "<shaper-name" in olt.edit
    assert "channel-termination" not in olt.edit  # the PON chain did not change
    assert 'operation="delete"' in olt.edit  # the 500M shaper profile is no longer used
    assert second.services[0].resources["onu-id"] == first.services[0].resources["onu-id"]
    # the edit is data a device can parse: every identity prefix is still declared
    from orchestrator.devices.registry import KINDS
    edit = olt.edit.replace(' nc:operation="delete"', "").splitlines()
    KINDS.get("olt-bbf").models.parse_fragment("\n".join(edit[1:-1]))


def test_store_url_other_than_default(tmp_path):
    db = f"sqlite:///{tmp_path}/elsewhere/x.db"
    r = cli("plan", "examples/intents/acme-hq.yaml", "--network", "examples/network.yaml", db=db)
    assert r.exit_code == 0
    r = cli("status", db=db)
    assert "acme-hq" in r.stdout and "onu-id=1" in r.stdout
    line = next(x for x in r.stdout.splitlines() if "acme-hq" in x)
    assert line.split()[2:4] == ["not", "applied"], line  # planned, never applied


def test_a_line_moved_to_another_olt_leaves_the_old_one_however_often_it_is_planned(tmp_path):
    """A line moved (placement: its OLT) is taken off the OLT the environment's record has it on
    by every plan until one is applied: planned again with the same file (recalled), planned as
    part of everything, and deleted before any move was applied."""
    from orchestrator.plan.pipeline import plan
    from orchestrator.resources.store import DeviceConfigRow, Store

    store = Store(f"sqlite:///{tmp_path}/store.db")
    first = plan(store, str(EXAMPLES / "network.yaml"), [str(EXAMPLES / "intents/acme-hq.yaml")],
                 environment="env:production")
    [was] = [d.device for d in first.devices if d.kind == "olt-bbf"]
    with store.transaction() as s:  # as a committed transaction records it
        for d in first.devices:
            s.add(DeviceConfigRow(environment="env:production", device=d.device, kind=d.kind, config=d.intended,
                                  digest=""))
    other = next(o for o in ("olt-1", "olt-2") if o != was)
    moved = tmp_path / "acme-hq.yaml"
    moved.write_text((EXAMPLES / "intents/acme-hq.yaml").read_text() + f"  placement:\n    olt: {other}\n")
    for attempt in ("moved", "same file again", "again"):
        result = plan(store, None, [str(moved)], environment="env:production")
        old = next((d for d in result.devices if d.device == was), None)
        assert old is not None and old.changed and "ACME0000A001" not in old.intended, (attempt, was)
        assert "ACME0000A001" in next(d for d in result.devices if d.device == other).intended
    gone = plan(store, None, delete=["acme-hq"], environment="env:production")
    # off the OLT the record has it on; the other was never given anything, so it is given nothing
    assert was in {d.device for d in gone.devices} and other not in {d.device for d in gone.devices}, \
        [d.device for d in gone.devices]


def test_a_site_no_olt_serves_is_told_with_the_sites_olts_serve(tmp_path, db):
    """The fix lists the sites a line may use: those OLTs serve, not every device's site."""
    from orchestrator.network.model import load_network

    net = load_network(str(EXAMPLES / "networks/enterprise.yaml"))
    olt_sites = sorted({d.site for d in net.devices.values() if d.role == "olt"})
    assert {d.site for d in net.devices.values() if d.site} - set(olt_sites)  # other devices have sites too
    odd = tmp_path / "odd.yaml"
    odd.write_text((EXAMPLES / "intents/acme-hq.yaml").read_text().replace("site: harbour-park", "site: nowhere"))
    r = cli("plan", str(odd), "--network", str(EXAMPLES / "networks/enterprise.yaml"), db=db)
    assert r.exit_code == 2, r.output
    assert f"no OLT serves site 'nowhere'" in r.stderr and f"fix: sites OLTs serve: {', '.join(olt_sites)}" in r.stderr


def test_a_pool_renumbered_under_the_lines_that_hold_it_is_refused(tmp_path, db):
    """A network whose pool no longer holds the blocks lines hold (renumbered) is refused, naming
    the lines, and nothing is kept: the lines kept their old blocks, outside every pool."""
    r = cli("plan", str(EXAMPLES / "intents/acme-hq.yaml"), "--network", str(EXAMPLES / "network.yaml"), db=db)
    assert r.exit_code == 0, r.output
    moved = tmp_path / "network.yaml"
    moved.write_text((EXAMPLES / "network.yaml").read_text().replace("prefix: 203.0.113.0/24", "prefix: 192.0.2.0/24"))
    before = snapshot(db)
    r = cli("plan", str(EXAMPLES / "intents/clinic-west.yaml"), "--network", str(moved), db=db)
    assert r.exit_code == 2, r.output
    assert "pool public-east is now 192.0.2.0/24, but 1 line(s) hold blocks of it outside that: acme-hq (203.0.113." \
        in r.stderr and "at: spec.pool[public-east].prefix" in r.stderr, r.stderr
    at = next(i for i, ln in enumerate(moved.read_text().splitlines(), 1) if "prefix: 192.0.2.0/24" in ln)
    assert f"{moved}:{at}: pool public-east" in r.stderr, r.stderr
    assert snapshot(db) == before


def test_an_s_vlan_range_moved_under_the_lines_that_hold_pairs_in_it_is_refused_and_may_grow(tmp_path, db):
    """A line holds its S/C-VLAN pair as an index into its OLT uplink's S-VLAN range: a range
    that starts elsewhere would give the OLT's lines other VLANs, unasked (they moved silently at
    their next plan). Refused, naming the lines and their pairs, with nothing kept; a range that
    only grows at its end keeps every pair."""
    lines = [str(p) for p in sorted((EXAMPLES / "lab").glob("*.yaml"))]
    r = cli("plan", *lines, "--network", str(EXAMPLES / "network.yaml"), "--format", "json", db=db)
    assert r.exit_code == 0, r.output
    pairs = {s["name"]: (s["resources"]["s-vlan"], s["resources"]["c-vlan"]) for s in json.loads(r.stdout)["services"]}
    text = (EXAMPLES / "network.yaml").read_text()
    assert "      s-vlan:\n        first: 1200\n        last: 1299\n" in text
    moved = tmp_path / "moved.yaml"
    moved.write_text(text.replace("first: 1200\n        last: 1299", "first: 3000\n        last: 3100"))
    before = snapshot(db)
    r = cli("plan", lines[0], "--network", str(moved), db=db)
    assert r.exit_code == 2, r.output
    said = " ".join(r.stderr.split())
    assert "olt-2 uplink uplink-1: S-VLANs 3000..3100 (were uplink-1 1200..1299) would give 2 line(s) other VLANs: " \
           f"port-authority (S-VLAN {pairs['port-authority'][0]}, C-VLAN {pairs['port-authority'][1]})" in said, said
    assert "at: spec.olt[olt-2].uplink[uplink-1].s-vlan" in said and snapshot(db) == before
    grown = tmp_path / "grown.yaml"
    grown.write_text(text.replace("first: 1200\n        last: 1299", "first: 1200\n        last: 1350"))
    r = cli("plan", *lines, "--network", str(grown), "--format", "json", db=db)
    assert r.exit_code == 0, r.output
    assert {s["name"]: (s["resources"]["s-vlan"], s["resources"]["c-vlan"])
            for s in json.loads(r.stdout)["services"]} == pairs


def test_a_pon_port_turned_gpon_under_a_line_whose_ids_it_cannot_carry_is_refused(tmp_path, db):
    """XGS-PON alloc-ids start at 1024; GPON's end at 4095 and its GEM ports too, but a line holding
    ids past GPON's ranges kept them (yanglint took the config; the OLT would not)."""
    line = str(EXAMPLES / "intents/acme-hq.yaml")
    text = (EXAMPLES / "network.yaml").read_text()
    first = tmp_path / "high.yaml"
    first.write_text(text.replace("    - name: 1/1/1\n      type: xgs-pon\n",
                                  "    - name: 1/1/1\n      type: xgs-pon\n      onu-id: {first: 300, last: 400}\n", 1))
    r = cli("plan", line, "--network", str(first), "--format", "json", db=db)
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["services"][0]["resources"]["onu-id"] == 300
    gpon = tmp_path / "gpon.yaml"
    gpon.write_text(text.replace("    - name: 1/1/1\n      type: xgs-pon\n",
                                 "    - name: 1/1/1\n      type: gpon\n", 1))
    before = snapshot(db)
    r = cli("plan", line, "--network", str(gpon), db=db)
    assert r.exit_code == 2, r.output
    said = " ".join(r.stderr.split())
    assert "acme-hq holds onu-id 300 of pool onu-id:olt-1/1/1/1, outside 1..128, the range the network " \
           "description now gives" in said, said
    assert snapshot(db) == before
    r = cli("plan", line, "--network", str(first), db=db)  # as it was: nothing moved
    assert r.exit_code == 0, r.output


def test_a_pool_whose_block_length_grew_gives_new_lines_blocks_apart_from_the_old(tmp_path, db):
    """Lines keep their /29 when the pool's block-length becomes /28; a new line's /28 must not
    hold one of them (it did: the BNG got one address twice, blamed on the templates)."""
    r = cli("plan", str(EXAMPLES / "intents/acme-hq.yaml"), "--network", str(EXAMPLES / "network.yaml"), db=db)
    assert r.exit_code == 0, r.output
    grown = tmp_path / "network.yaml"
    grown.write_text((EXAMPLES / "network.yaml").read_text().replace(
        "prefix: 203.0.113.0/24\n", "prefix: 203.0.113.0/24\n    block-length: 28\n", 1))
    second = tmp_path / "acme-two.yaml"
    second.write_text((EXAMPLES / "intents/acme-hq.yaml").read_text().replace("acme-hq", "acme-two")
                      .replace("ACME0000A001", "ACME0000A002"))
    r = cli("plan", str(second), "--network", str(grown), db=db)
    assert r.exit_code == 0, r.output
    r = cli("status", "--format", "json", db=db)
    blocks = {s["name"]: [h for h in s["held"] if h.startswith("address=")] for s in json.loads(r.stdout)["services"]}
    assert blocks == {"acme-hq": ["address=203.0.113.0/29"], "acme-two": ["address=203.0.113.16/28"]}, blocks


def test_a_device_on_this_machine_may_be_managed_at_loopback(tmp_path, db):
    """A devsim on this machine (README: --listen 127.0.0.1:8300) is described at 127.0.0.1; a
    multicast management address is refused."""
    local = tmp_path / "network.yaml"
    text = (EXAMPLES / "network.yaml").read_text()
    first = text.index("management:")
    address = text.index("address:", first)
    end = text.index("\n", address)
    local.write_text(text[:address] + "address: 127.0.0.1\n      port: 8300" + text[end:])
    r = cli("plan", str(EXAMPLES / "intents/acme-hq.yaml"), "--network", str(local), db=db)
    assert r.exit_code == 0, r.output
    local.write_text(text[:address] + "address: 239.1.1.1" + text[end:])
    r = cli("plan", str(EXAMPLES / "intents/acme-hq.yaml"), "--network", str(local), db=db)
    assert r.exit_code == 2 and "management address 239.1.1.1 is not a unicast address" in r.stderr, r.output
