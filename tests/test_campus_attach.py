"""The campus UE attach played from device configs (orchestrator/services/campus5g_attach.py), the config
faults as data that tests push (orchestrator/plan/config_faults.py) and the cross-device checks
on running configs (orchestrator/plan/running_checks.py), on the configs a real plan of the two
example tenants renders. Each fault is a config the device's own models accept (libyang, as
devsim validates), so it is one a device would take; the lab tests in test_campus_lab.py push
the same faults into running devices."""

from __future__ import annotations

import json

import pytest
from lxml import etree

from conftest import REPO

NETWORK = "examples/networks/campus.yaml"
TENANTS = ["examples/campus/acme-robotics.yaml", "examples/campus/harbour-hospital.yaml"]
ME = {d: f"/ManagedElement[id='{d}']" for d in ("gnb-1", "core-1", "upf-1")}
UPF = ME["upf-1"] + "/UPFFunction[id='UPF-1']"
SMF = ME["core-1"] + "/SMFFunction[id='SMF-1']"
CELLS = ME["gnb-1"] + "/GNBDUFunction[id='DU-1']/NRCellDU"

# (fault, the refusing device, the leaf it names, the slice that must be refused)
FAULTS = {
    "wrong S-NSSAI on the UPF only": (
        {"device": "upf-1", "xpath": UPF + "/attributes/sNSSAIList[sd='001000'][sst='2']/sd", "value": "00100F"},
        "upf-1", UPF + "/attributes/sNSSAIList", "acme-robotics/agv"),
    "wrong S-NSSAI on the UPF's DNN only": (
        {"device": "upf-1", "xpath": UPF + "/dnn[name='acme-agv']/s-nssai/sd", "value": "00100F"},
        "upf-1", UPF + "/dnn[name='acme-agv']/s-nssai", "acme-robotics/agv"),
    "no cell of the gNB broadcasts the slice": (
        {"device": "gnb-1", "xpath": CELLS + "/attributes/pLMNInfoList[sd='001001'][sst='1']/sd", "value": "00100F"},
        "gnb-1", CELLS + "/attributes/pLMNInfoList", "acme-robotics/video"),
    "the SMF gives the slice another UE pool": (
        {"device": "core-1", "xpath": SMF + "/dnn[name='hospital-staff']/ue-pool", "value": "10.200.9.0/24"},
        "upf-1", UPF + "/dnn[name='hospital-staff']/ue-pool", "harbour-hospital/staff"),
    "the AMF lacks the slice": (
        {"device": "core-1", "xpath": ME["core-1"] + "/AMFFunction[id='AMF-1']/attributes/sNSSAIList[sd='00BEEF']",
         "delete": True},
        "core-1", ME["core-1"] + "/AMFFunction[id='AMF-1']/attributes/sNSSAIList", "harbour-hospital/medical-iot"),
    "the SMF serves the DNN on another S-NSSAI": (
        {"device": "core-1", "xpath": SMF + "/dnn[name='acme-video']/s-nssai/sst", "value": "3"},
        "core-1", SMF + "/dnn[name='acme-video']/s-nssai", "acme-robotics/video"),
    "the UPF routes the pool to no gNB of the UE": (
        {"device": "upf-1", "xpath": "/routing/control-plane-protocols/control-plane-protocol/static-routes/ipv4/"
         "route[destination-prefix='10.200.2.0/24']/next-hop/next-hop-address", "value": "10.250.0.9"},
        "upf-1", "/routing/control-plane-protocols/control-plane-protocol/static-routes/ipv4/"
        "route[destination-prefix='10.200.2.0/24']/next-hop/next-hop-address", "harbour-hospital/medical-iot"),
}


@pytest.fixture(scope="module")
def planned(tmp_path_factory):
    """The example plan's configs (device → XML text) and manifest."""
    from orchestrator.plan.artifacts import write
    from orchestrator.plan.pipeline import plan
    from orchestrator.resources.store import Store

    tmp = tmp_path_factory.mktemp("attach")
    result = plan(Store(f"sqlite:///{tmp}/s.db"), str(REPO / NETWORK), [str(REPO / t) for t in TENANTS])
    write(result, tmp / "plan")
    m = json.loads((tmp / "plan" / "manifest.json").read_text())
    return {d: (tmp / "plan" / f"{d}.xml").read_text() for d in m["devices"]}, m, result


def _attach_all(configs: dict, m: dict) -> dict:
    from orchestrator.services.campus5g_attach import UE, Attach, Site

    roots = {d: etree.fromstring(x.encode()) for d, x in configs.items()}
    out = {}
    for svc, s in m["services"].items():
        r = s["resources"]
        for sl, info in r["slices"].items():
            out[f"{svc}/{sl}"] = Attach(roots, Site(r["core"], r["upf"])).run(
                UE(r["plmn"], info["s-nssai"], info["dnn"], info["gnb"]))
    return out


def _faulted(configs: dict, *items: dict) -> dict:
    from orchestrator.plan.config_faults import apply_xml, parse

    faults = parse(list(items))
    return {d: apply_xml(x, [f for f in faults if f.device == d]) for d, x in configs.items()}


def test_every_slice_attaches_with_the_first_address_of_the_smfs_pool(planned):
    from orchestrator.services.campus5g_attach import Attached

    configs, m, _ = planned
    got = _attach_all(configs, m)
    assert sorted(got) == ["acme-robotics/agv", "acme-robotics/video", "harbour-hospital/medical-iot",
                           "harbour-hospital/staff"]
    for name, a in got.items():
        assert isinstance(a, Attached), (name, a)
        svc, sl = name.split("/")
        assert a.pool == m["services"][svc]["resources"]["slices"][sl]["ue-pool"]
        assert (a.gnb_n3, a.upf_n3) == ("10.250.0.5", "10.250.0.6")
    assert got["harbour-hospital/staff"].address == "10.200.3.1"


def test_the_address_comes_from_the_configs_not_the_plan(planned):
    """SMF and UPF both moved to another pool (and the UPF's route with them): the UE is given an
    address of the pool the devices hold, which the plan never named."""
    configs, m, _ = planned
    route = ("/routing/control-plane-protocols/control-plane-protocol/static-routes/ipv4/"
             "route[destination-prefix='10.200.3.0/24']/destination-prefix")
    moved = _faulted(configs,
                     {"device": "core-1", "xpath": SMF + "/dnn[name='hospital-staff']/ue-pool", "value": "10.200.7.0/24"},
                     {"device": "upf-1", "xpath": UPF + "/dnn[name='hospital-staff']/ue-pool", "value": "10.200.7.0/24"},
                     {"device": "upf-1", "xpath": route, "value": "10.200.7.0/24"})
    a = _attach_all(moved, m)["harbour-hospital/staff"]
    assert (a.address, a.pool) == ("10.200.7.1", "10.200.7.0/24")


@pytest.mark.parametrize("name", list(FAULTS))
def test_a_fault_is_refused_naming_device_and_leaf(planned, name):
    from orchestrator.services.campus5g_attach import Attached, Refusal

    configs, m, _ = planned
    fault, device, leaf, refused = FAULTS[name]
    got = _attach_all(_faulted(configs, fault), m)
    r = got[refused]
    assert isinstance(r, Refusal), (name, r)
    assert (r.device, r.leaf) == (device, leaf), str(r)
    assert device in str(r) and leaf in str(r)
    # the fault breaks only the slices it touches: the other tenant's slices still attach
    other = "harbour-hospital" if refused.startswith("acme") else "acme-robotics"
    assert all(isinstance(a, Attached) for n, a in got.items() if n.startswith(other)), got


@pytest.mark.parametrize("name", list(FAULTS))
def test_each_fault_is_a_config_the_device_accepts(planned, name):
    """devsim validates every edit with the kind's models: a fault it would refuse proves nothing."""
    from orchestrator.devices.registry import KINDS

    configs, m, _ = planned
    fault = FAULTS[name][0]
    dev = fault["device"]
    text = _faulted(configs, fault)[dev]
    assert text != configs[dev]
    root = etree.fromstring(text.encode())
    data = "".join(etree.tostring(c, encoding="unicode") for c in root)
    KINDS.get(m["devices"][dev]["kind"]).models.parse(data)


def test_locked_cells_broadcast_nothing(planned):
    from orchestrator.services.campus5g_attach import Refusal

    configs, m, _ = planned
    got = _attach_all(_faulted(configs, {"device": "gnb-1", "xpath": CELLS + "/attributes/administrativeState",
                                         "value": "LOCKED"}), m)
    assert all(isinstance(r, Refusal) and r.step == "cell selection" and r.device == "gnb-1" for r in got.values()), got


def test_the_smfs_other_pool_names_both_leaves(planned):
    configs, m, _ = planned
    r = _attach_all(_faulted(configs, FAULTS["the SMF gives the slice another UE pool"][0]), m)["harbour-hospital/staff"]
    assert "10.200.9.1 from 10.200.9.0/24" in r.reason and f"core-1 {SMF}/dnn[name='hospital-staff']/ue-pool" in r.reason


def test_running_checks_find_a_broken_snssai_on_the_upf(planned):
    """The plan's cross-device checks and each service's own (a campus slice's UE attach) on
    running configs: nothing on the planned ones; the UPF named, with the leaf, on a broken one."""
    from orchestrator.plan.running_checks import check

    configs, m, result = planned
    net, services = result.network, result.services
    roots = {d: etree.fromstring(x.encode()) for d, x in configs.items()}
    assert check(net, roots, services) == []
    bad = _faulted(configs, FAULTS["wrong S-NSSAI on the UPF only"][0])
    problems = check(net, {d: etree.fromstring(x.encode()) for d, x in bad.items()}, services)
    assert "running configs: S-NSSAI 2-001000 is in core-1 AMF AMF-1 but not in upf-1 UPF UPF-1 (at upf-1)" in problems
    assert ("running configs: acme-robotics/agv: the UE's attach is refused: N4 session establishment refused by "
            f"upf-1 at {UPF}/attributes/sNSSAIList: S-NSSAI 2-001000 is not among 1-001001, 1-001002, 2-00100F, "
            "3-00BEEF") in problems, problems
    bad = _faulted(configs, FAULTS["the SMF gives the slice another UE pool"][0])
    problems = check(net, {d: etree.fromstring(x.encode()) for d, x in bad.items()}, services)
    assert any("DNN hospital-staff" in p and "UE pool 10.200.9.0/24" in p for p in problems), problems
    assert any(p.startswith("running configs: harbour-hospital/staff: the UE's attach is refused") for p in problems)
    # a device the change does not hold is no refusal: nothing to play the attach against
    assert check(net, {d: r for d, r in roots.items() if d != "gnb-1"}, services) == []


def test_fault_paths_are_checked():
    from orchestrator.errors import FullbarsError
    from orchestrator.plan.config_faults import Fault, apply_xml, parse, to_lxml

    doc = ('<config xmlns="urn:ietf:params:xml:ns:netconf:base:1.0"><interfaces xmlns="urn:x">'
           '<interface><name>a</name><enabled>true</enabled></interface>'
           '<interface><name>b</name><enabled>true</enabled></interface></interfaces></config>')
    assert "<enabled>false</enabled><" in apply_xml(doc, [Fault("d", "/if:interfaces/interface[name='a']/enabled", "false")])
    both = apply_xml(doc, [Fault("d", "/interfaces/interface/enabled", "false")])
    assert both.count("<enabled>false</enabled>") == 2
    gone = apply_xml(doc, [Fault("d", "/interfaces/interface[name=\"b\"]")])
    assert "<name>b</name>" not in gone and "<name>a</name>" in gone
    with pytest.raises(FullbarsError, match="selects nothing"):
        apply_xml(doc, [Fault("d", "/interfaces/interface[name='c']/enabled", "false")])
    for bad in ("interfaces", "/interfaces/interface[name='a'", "/interfaces//interface"):
        with pytest.raises(FullbarsError):
            to_lxml(bad)
    with pytest.raises(FullbarsError, match="either value or delete"):
        parse([{"device": "d", "xpath": "/x"}])
