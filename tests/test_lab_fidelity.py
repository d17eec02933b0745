"""What the lab's data planes and station make of a device's running config, without a lab:
each function on the configs a real plan renders, then on those configs with one fault. The OLT
forwards a line only when its whole chain agrees, the BNG serves only enabled subscribers with
their rates, and a room's station associates only with the SSIDs, security and passphrases the
intent gives, over an enabled radio. (The lab tests and tests/test_mutations.py push the same
faults into running labs.)"""

from __future__ import annotations

import copy
import os

import pytest
from lxml import etree

from conftest import EXAMPLES, cli
from test_lab import _require_lab_tools
from orchestrator.lab.kinds.broadband.plane import NS as BB_NS, bng_lines, olt_lines
from orchestrator.lab.kinds.fttr.wifi import association, overlaps

NS = dict(BB_NS, tag="urn:bbf:yang:bbf-sub-interface-tagging", fttr="urn:fullbars:yang:fullbars-fttr")


def _plan(tmp_path_factory, name: str, intents: str):
    tmp = tmp_path_factory.mktemp(name)
    r = cli("plan", *map(str, sorted((EXAMPLES / intents).glob("*.yaml"))), "--network", str(EXAMPLES / "network.yaml"),
            "--out", str(tmp / "plan"), db=f"sqlite:///{tmp}/store.db")
    assert r.exit_code == 0, r.output
    return tmp / "plan"


@pytest.fixture(scope="module")
def harbour(tmp_path_factory):
    return _plan(tmp_path_factory, "harbour", "lab")


@pytest.fixture(scope="module")
def studio(tmp_path_factory):
    return _plan(tmp_path_factory, "studio", "fttr")


def _root(plan, device):
    return etree.parse(str(plan / f"{device}.xml")).getroot()


def _one(root, xpath):
    [el] = root.xpath(xpath, namespaces=NS)
    return el


def test_every_planned_line_forwards_and_a_disabled_vani_holds_it_naming_the_vani(harbour):
    root = _root(harbour, "olt-1")
    lines, held = olt_lines(root)
    assert lines and held == {}
    victim = lines[0].serial
    vani = _one(root, f"//vani:v-ani[vani:expected-serial-number='{victim}']/..")
    etree.SubElement(vani, f"{{{NS['if']}}}enabled").text = "false"
    lines2, held = olt_lines(root)
    assert victim not in {x.serial for x in lines2} and len(lines2) == len(lines) - 1
    assert held[victim] == f"v-ANI {vani.findtext('if:name', namespaces=NS)} is disabled (enabled false)"


@pytest.mark.parametrize("fault, why", [
    ("gem", "no GEM port on olt-v-enet olt-venet-{s}"),
    ("tcont", "no T-CONT on v-ANI vani-{s}"),
    ("match", "network-side sub-interface {net} matches S{bad}/C{c}, but user sub-interface user-{s} pushes S{sv}/C{c}"),
    ("network-disabled", "network-side sub-interface {net} is disabled"),
    ("forwarder", "no forwarder joins user sub-interface user-{s}"),
    ("shaper", "olt-v-enet olt-venet-{s} names shaper profile"),
])
def test_a_broken_olt_chain_is_held_and_named(harbour, fault, why):
    root = _root(harbour, "olt-1")
    lines, _ = olt_lines(root)
    line = lines[0]
    s = _one(root, f"//vani:v-ani[vani:expected-serial-number='{line.serial}']/../if:name").text.removeprefix("vani-")
    fwd = _one(root, f"//fwd:forwarder[fwd:name='fwd-{s}']")
    net = fwd.findtext("fwd:ports/fwd:port[fwd:name='network']/fwd:sub-interface", namespaces=NS)
    if fault == "gem":
        g = _one(root, f"//gt:gemport[gt:interface='olt-venet-{s}']")
        g.getparent().remove(g)
    elif fault == "tcont":
        t = _one(root, f"//gt:tcont[gt:interface-reference='vani-{s}']")
        t.getparent().remove(t)
    elif fault == "match":
        vid = _one(root, f"//if:interface[if:name='{net}']//tag:match-criteria/tag:tag[tag:index='0']//tag:vlan-id")
        vid.text = str(line.s + 1)
    elif fault == "network-disabled":
        etree.SubElement(_one(root, f"//if:interface[if:name='{net}']"), f"{{{NS['if']}}}enabled").text = "false"
    elif fault == "forwarder":
        fwd.getparent().remove(fwd)
    elif fault == "shaper":
        _one(root, f"//if:interface[if:name='olt-venet-{s}']//shp:shaper-name").text = "down-nowhere"
    lines2, held = olt_lines(root)
    assert line.serial not in {x.serial for x in lines2}
    assert held[line.serial].startswith(why.format(s=s, net=net, bad=line.s + 1, c=line.c, sv=line.s)), held


def test_the_bng_serves_enabled_subscribers_with_their_rates_and_holds_a_disabled_one(harbour):
    root = _root(harbour, "bng-east")
    lines, held = bng_lines(root)
    assert held == {} and all(x.down_bps > 0 and x.up_bps > 0 and x.service_id for x in lines)
    victim = lines[0]
    itf = _one(root, f"//if:interface[if:name='{victim.ifname}']")
    itf.find("if:enabled", NS).text = "false"
    lines2, held = bng_lines(root)
    assert victim.service_id not in {x.service_id for x in lines2}
    assert held == {victim.service_id: f"sub-interface {victim.ifname} is disabled (enabled false)"}


@pytest.fixture
def unit(studio, monkeypatch):
    """The main unit's config as the device holds it: the passphrases themselves, not references."""
    monkeypatch.setenv("FULLBARS_PSK_STUDIO", "correct horse battery")
    monkeypatch.setenv("FULLBARS_PSK_STUDIO_GUEST", "guest passphrase 1")
    text = (studio / "fttr-studio.xml").read_text()
    text = text.replace(">env:FULLBARS_PSK_STUDIO_GUEST<", ">guest passphrase 1<")
    text = text.replace(">env:FULLBARS_PSK_STUDIO<", ">correct horse battery<")
    import json

    r = json.loads((studio / "manifest.json").read_text())["services"]["studio-wifi"]["resources"]
    return etree.fromstring(text.encode()), r




def test_every_room_station_associates_with_the_planned_unit(unit):
    root, r = unit
    for room in r["rooms"].values():
        assert association(root, "fttr-studio", room["serial"], r["ssids"]) == []


@pytest.mark.parametrize("fault, why", [
    ("open", "SSID 'Studio' has opmode OPEN, the station expects WPA3_SAE (security wpa3)"),
    ("passphrase", "SSID 'Studio': its wpa3-psk is not the passphrase env:FULLBARS_PSK_STUDIO holds"),
    ("radios", "room unit room-office has no enabled radio on a band SSID 'Studio' is offered on"),
    ("ssid-disabled", "SSID 'Studio-Guest' is disabled (enabled false)"),
    ("room-disabled", "room unit room-office is disabled (enabled false)"),
])
def test_a_room_whose_unit_does_not_match_the_station_profile_does_not_associate(unit, fault, why):
    root, r = unit
    root = copy.deepcopy(root)
    if fault == "open":
        _one(root, "//fttr:ssid[fttr:name='Studio']/fttr:opmode").text = "OPEN"
    elif fault == "passphrase":
        _one(root, "//fttr:ssid[fttr:name='Studio']/fttr:wpa3-psk").text = "another passphrase"
    elif fault == "radios":
        for e in root.xpath("//if:interface[if:name='room-office']//fttr:radio/fttr:enabled", namespaces=NS):
            e.text = "false"
    elif fault == "ssid-disabled":
        _one(root, "//fttr:ssid[fttr:name='Studio-Guest']/fttr:enabled").text = "false"
    elif fault == "room-disabled":
        _one(root, "//if:interface[if:name='room-office']/if:enabled").text = "false"
    office = r["rooms"]["office"]["serial"]
    got = association(root, "fttr-studio", office, r["ssids"])
    assert any(g.startswith(why) for g in got), got
    others = [x["serial"] for k, x in r["rooms"].items() if k != "office"]
    if fault in ("radios", "room-disabled"):  # one room's fault leaves the other rooms alone
        assert all(association(root, "fttr-studio", s, r["ssids"]) == [] for s in others)


def test_co_channel_overlap_with_the_main_unit_is_reported(unit):
    root, r = unit
    office = r["rooms"]["office"]["serial"]
    before = [o for o in overlaps(root, office) if "5GHz" in o]
    assert before == []  # the plan gives the office 5GHz 52, the main unit 36 (80 MHz each)
    _one(root, "//if:interface[if:name='room-office']//fttr:radio[fttr:id='2']/fttr:channel").text = "40"
    [warning] = [o for o in overlaps(root, office) if "5GHz" in o]
    assert warning.startswith("co-channel: room-office radio 2 (5GHz channel 40, 80 MHz) overlaps the main unit's radio 2")


def test_the_cameras_chain_forwards_on_its_own_uni_and_t_cont_beside_the_line(tmp_path):
    """A line's ONU with cameras: two chains, each on the onu-v-enet the link table joins to its
    olt-v-enet (the lab gives each its leg) and on a T-CONT of its own; the cameras' chain has no
    downstream shaper and still forwards. Put on the line's T-CONT, both chains name the same one."""
    r = cli("plan", str(EXAMPLES / "cloud/north-shop-cameras.yaml"), str(EXAMPLES / "cloud/north-shop.yaml"),
            "--network", str(EXAMPLES / "networks/enterprise.yaml"), "--out", str(tmp_path / "plan"),
            db=f"sqlite:///{tmp_path}/store.db")
    assert r.exit_code == 0, r.output
    root = _root(tmp_path / "plan", "olt-1")
    lines, held = olt_lines(root)
    assert held == {}
    by_pair = {(x.s, x.c): x for x in lines}
    cams, line = by_pair[(2001, 2)], by_pair[(1001, 2)]
    assert (cams.uni, cams.tcont, cams.up_bps, cams.down_bps) == ("onu-venet-north-shop-cameras",
                                                                  "tcont-north-shop-cameras", 32_000_000, 0)
    assert (line.uni, line.tcont, line.up_bps) == ("onu-venet-north-shop", "tcont-north-shop", 300_000_000)
    _one(root, "//gt:gemport[gt:name='gem-north-shop-cameras']/gt:tcont-ref").text = "tcont-north-shop"
    lines, _ = olt_lines(root)
    assert {x.tcont for x in lines} == {"tcont-north-shop"} and len(lines) == 2


def test_two_olts_on_one_bng_may_use_the_same_vlan_pair(tmp_path):
    """A generated network gives every OLT's uplink the same S-VLAN range, so the first line of
    each OLT gets the same S/C pair; the BNG tells them apart by the link they come in on (its
    plane keyed them by the pair alone, and one of the two lines got no subscriber there)."""
    _require_lab_tools()
    import yaml

    from orchestrator.lab.generate import from_plan
    from orchestrator.lab.push import push
    from orchestrator.lab.runtime import open_lab
    from orchestrator.lab.verify import table, verify
    from orchestrator.network.generate import generate
    from orchestrator.plan.artifacts import write
    from orchestrator.plan.pipeline import plan
    from orchestrator.resources.store import Store

    os.environ["FULLBARS_LAB_DIR"] = str(tmp_path / "labs")
    (tmp_path / "network.yaml").write_text(generate(2, 1, 1, sites=1, name="s4b-shared-pairs"))
    intents = []
    for i in (1, 2):
        f = tmp_path / f"line-{i}.yaml"
        f.write_text(f"apiVersion: fullbars.io/v1\nkind: BusinessBroadband\nmetadata:\n  name: pair-{i}\nspec:\n"
                     f"  customer: Customer {i}\n  site: site-1\n  onu:\n    serial: PAIR{i:08X}\n"
                     f"  rates:\n    downstream: 100M\n    upstream: 50M\n  tenure-years: 1\n"
                     f"  addressing:\n    mode: {'dhcp' if i == 1 else 'static'}\n  placement:\n    olt: olt-{i}\n")
        intents.append(str(f))
    result = plan(Store(f"sqlite:///{tmp_path}/s.db"), str(tmp_path / "network.yaml"), intents)
    write(result, tmp_path / "plan")
    pairs = {sp.name: (sp.resources["s-vlan"], sp.resources["c-vlan"]) for sp in result.services}
    assert pairs["pair-1"] == pairs["pair-2"], pairs  # the case itself
    doc = yaml.safe_load(from_plan(tmp_path / "plan", f"s4b-pairs{os.getpid() % 1000}"))
    doc["mgmt"] = {"ipv4-subnet": "198.18.237.0/24"}
    topo = tmp_path / "pairs.clab.yml"
    topo.write_text(yaml.safe_dump(doc, sort_keys=False))
    # pushed again with olt-2's lines on other S-VLANs: the BNG keeps none of the first push's
    # subscribers (yuma123 took default-operation replace as merge and kept them)
    (tmp_path / "network2.yaml").write_text((tmp_path / "network.yaml").read_text().replace(
        "bng-interface: eth-olt-2\n", "bng-interface: eth-olt-2\n      s-vlan: {first: 1500, last: 1599}\n"))
    write(plan(Store(f"sqlite:///{tmp_path}/s2.db"), str(tmp_path / "network2.yaml"), intents), tmp_path / "plan2")
    st = open_lab(topo).up(timeout=90)
    try:
        reports = []
        for bundle in ("plan", "plan2"):
            rows = push(tmp_path / bundle, st)
            assert all(r["ok"] and r["dataplane"] == "applied" for r in rows), [r["dataplane"] for r in rows]
            reports.append(verify(tmp_path / bundle, st))
    finally:
        open_lab(topo).down()
    for rep in reports:
        assert rep["ok"], table(rep)
        assert sorted(r["service"] for r in rep["services"]) == ["pair-1", "pair-2"], table(rep)
