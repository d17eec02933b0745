"""The lab: containerlab files realized with namespaces and real agents, configs pushed over
NETCONF, services measured. Needs root, iproute2, netconfd, sshd, iperf3, dnsmasq, udhcpc
(scripts/setup.sh installs them); a missing one fails the test with the package to install."""

from __future__ import annotations

import ipaddress
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from conftest import REPO
from orchestrator.errors import FullbarsError
from orchestrator.lab import netns
from orchestrator.lab.topology import schema_problems

NEEDS = {"ip": "iproute2", "netconfd": "netconfd", "sshd": "openssh-server", "iperf3": "iperf3",
         "dnsmasq": "dnsmasq-base", "udhcpc": "udhcpc", "ping": "iputils-ping", "tc": "iproute2",
         "sysctl": "procps"}


def _require_lab_tools():
    path = os.environ.get("PATH", "") + ":/usr/sbin:/sbin"
    missing = sorted({pkg for tool, pkg in NEEDS.items() if not shutil.which(tool, path=path)})
    if missing:
        pytest.fail(f"the lab needs Debian packages: apt-get install -y {' '.join(missing)}")
    if os.geteuid() != 0:
        pytest.fail("the lab makes network namespaces: run the tests as root")


def test_lab_files_are_valid_containerlab_topologies():
    files = sorted((REPO / "labs").glob("*.clab.yml"))
    assert files
    for f in files:
        assert schema_problems(yaml.safe_load(f.read_text()), str(f)) == [], f
    for f in sorted((REPO.parent / "shared" / "containerlab" / "examples").rglob("*.clab.yml")):
        assert schema_problems(yaml.safe_load(f.read_text()), str(f)) == [], f  # the schema check is containerlab's


def test_schema_check_can_fail():
    bad = {"name": "x", "topology": {"nodes": {"a": {"kind": "linux", "mgmt-ipv4": "10.0.0.300"}}}}
    assert schema_problems(bad, "x.yml")


def test_topology_errors_name_node_and_fix(tmp_path):
    from orchestrator.lab.topology import load

    f = tmp_path / "t.clab.yml"
    f.write_text(yaml.safe_dump({"name": "t", "topology": {
        "nodes": {"a": {"kind": "linux"}, "b": {"kind": "linux", "labels": {"fullbars.kind": "olt-xx"}}},
        "links": [{"endpoints": ["a:eth1", "c:eth1"]}, {"endpoints": ["b:averyveryverylongname", "a:eth2"]}]}}))
    with pytest.raises(FullbarsError) as e:
        load(f)
    text = e.value.render()
    assert "node a has no label fullbars.kind" in text
    assert "unknown device kind 'olt-xx'" in text
    assert "names an unknown node" in text and "cannot be used in the lab" in text


@pytest.fixture(scope="module")
def harbour(tmp_path_factory):
    """The example lab: plan the four lab intents, generate the lab, bring it up, push."""
    _require_lab_tools()
    from orchestrator.lab.generate import from_plan
    from orchestrator.lab.push import push
    from orchestrator.lab.runtime import open_lab
    from orchestrator.plan.artifacts import write
    from orchestrator.plan.pipeline import plan
    from orchestrator.resources.store import Store

    tmp = tmp_path_factory.mktemp("harbour")
    os.environ["FULLBARS_LAB_DIR"] = str(tmp / "labs")
    result = plan(Store(f"sqlite:///{tmp}/s.db"), str(REPO / "examples/network.yaml"),
                  sorted(str(p) for p in (REPO / "examples/lab").glob("*.yaml")))
    write(result, tmp / "plan")
    topo = tmp / "lab.clab.yml"
    topo.write_text(from_plan(tmp / "plan", f"t{os.getpid() % 100000}"))
    lab = open_lab(topo)
    st = lab.up(timeout=60)
    try:
        assert all(r["ok"] for r in push(tmp / "plan", st)), "push failed"
        yield lab, tmp
    finally:
        lab.down()


def test_lab_verify_measures_every_service(harbour):
    from orchestrator.lab.verify import verify

    lab, tmp = harbour
    rep = verify(tmp / "plan", lab.load_state())
    assert rep["ok"], json.dumps(rep, indent=2)
    for row in rep["services"]:
        assert row["reachable"]
        assert 0.93 <= row["measured_down_bps"] / row["expected_down_bps"] <= 1.0
        assert 0.93 <= row["measured_up_bps"] / row["expected_up_bps"] <= 1.0
    assert {r["addressing"] for r in rep["services"]} == {"dhcp", "static"}


def _push_variant(lab, tmp, name, change):
    """The plan's configs with one file changed by hand, pushed to the lab."""
    from orchestrator.lab.push import push

    d = tmp / name
    shutil.rmtree(d, ignore_errors=True)
    shutil.copytree(tmp / "plan", d)
    dev, old, new = change
    text = (d / f"{dev}.xml").read_text()
    assert old in text
    (d / f"{dev}.xml").write_text(text.replace(old, new, 1))
    push(d, lab.load_state())
    return d


def test_wrong_rate_fails_naming_subscriber_expected_and_measured(harbour):
    from orchestrator.lab.verify import verify

    lab, tmp = harbour
    # the downstream shaper of the line that uses down-500M on olt-1, halved (a template slip)
    d = _push_variant(lab, tmp, "wrong-rate", ("olt-1", "<pir>500000</pir>", "<pir>250000</pir>"))
    try:
        rep = verify(d, lab.load_state(), only=["dock-office"])
        row = rep["services"][0]
        assert not row["ok"]
        msg = "; ".join(row["problems"])
        assert "downstream: expected 500 Mbit/s, measured" in msg and row["service"] == "dock-office"
        assert row["measured_down_bps"] < 0.6 * 500e6
    finally:
        _push_variant(lab, tmp, "restore", ("olt-1", "", ""))


def test_wrong_vlan_breaks_reachability(harbour):
    from orchestrator.lab.verify import verify

    lab, tmp = harbour
    d = _push_variant(lab, tmp, "wrong-vlan", ("bng-east", "<inner-vlan>2</inner-vlan>", "<inner-vlan>99</inner-vlan>"))
    try:
        rep = verify(d, lab.load_state(), only=["dock-office"])
        row = rep["services"][0]
        assert not row["ok"] and not row.get("reachable")
    finally:
        _push_variant(lab, tmp, "restore", ("olt-1", "", ""))


def test_a_dhcp_server_slow_to_answer_does_not_fail_a_good_line(harbour):
    """A busy machine: the BNG's DHCP server answers nothing for 7 s (stopped, then resumed).
    The check asks again, for longer, because the BNG's running config serves the lease."""
    import signal
    import threading

    from orchestrator.lab.verify import verify

    lab, tmp = harbour
    confs = [Path(n["state_dir"]) / "dnsmasq.conf" for n in lab.load_state()["nodes"].values() if n.get("state_dir")]
    pids = [pid for c in confs if c.exists()
            for pid in subprocess.run(["pgrep", "-f", f"dnsmasq -k --conf-file={c}"], capture_output=True, text=True).stdout.split()]
    assert pids, "no dnsmasq serves the lab's BNGs"
    for pid in pids:
        os.kill(int(pid), signal.SIGSTOP)
    resume = threading.Timer(7, lambda: [os.kill(int(pid), signal.SIGCONT) for pid in pids])
    resume.start()
    try:
        rep = verify(tmp / "plan", lab.load_state(), only=["dock-office", "ship-repair"])
    finally:
        resume.join()
    assert {r["addressing"] for r in rep["services"]} == {"dhcp"}
    assert rep["ok"], json.dumps(rep, indent=2)


def test_echoes_lost_on_a_busy_machine_do_not_fail_a_good_line(harbour):
    """The first echoes the servers get are lost (redirected to an ifb that is down, until the
    first ping's 3 are gone): the check pings again, for longer, before it says the CPE cannot
    reach its server. (The lab's kernel has no netem to delay them, nor gact to drop them.)"""
    import re
    import threading

    from orchestrator.lab.verify import verify

    lab, tmp = harbour
    st = lab.load_state()

    def tc(ns, *args):
        return netns.netns_exec(ns, ["tc", *args], capture_output=True, text=True)

    legs = [(n["netns"], dev) for n in st["nodes"].values() if n["role"] == "server"
            for dev in netns.netns_exec(n["netns"], ["ls", "/sys/class/net"], capture_output=True,
                                        text=True).stdout.split() if dev.startswith("eth")]
    assert legs, "no server in the lab"
    lost, done, made = [0], threading.Event(), []

    def restore_after_three():
        while not done.wait(0.02):
            lost[0] = sum(int(n) for ns, dev in legs
                          for n in re.findall(r"(\d+) pkt", tc(ns, "-s", "filter", "show", "dev", dev, "ingress").stdout))
            if lost[0] >= 3:
                break
        for ns, dev in legs:
            tc(ns, "qdisc", "del", "dev", dev, "ingress")
        for ns in {ns for ns, _ in legs}:
            netns.netns_exec(ns, ["ip", "link", "del", "lost"])

    watch = threading.Thread(target=restore_after_three)
    try:
        for ns in {ns for ns, _ in legs}:
            netns.netns_exec(ns, ["ip", "link", "add", "lost", "type", "ifb"], check=True)  # left down
        for ns, dev in legs:
            made.append(tc(ns, "qdisc", "add", "dev", dev, "ingress"))
            made.append(tc(ns, "filter", "add", "dev", dev, "parent", "ffff:", "protocol", "ip", "u32", "match",
                           "ip", "protocol", "1", "0xff", "action", "mirred", "egress", "redirect", "dev", "lost"))
        assert all(p.returncode == 0 for p in made), [p.stderr for p in made if p.returncode]
        watch.start()
        rep = verify(tmp / "plan", st, only=["harbour-cafe"], rates=False)
    finally:
        done.set()
        if watch.ident is not None:
            watch.join()
        else:  # set up only in part: undone here
            restore_after_three()
    assert lost[0] >= 3, "the first ping's echoes were not lost: the test did not test the second"
    assert rep["services"] and all(r["reachable"] for r in rep["services"]), json.dumps(rep, indent=2)
    assert rep["ok"], json.dumps(rep, indent=2)


def test_killed_agent_shows_down_and_up_restores_its_datastore(harbour):
    from ncclient import manager

    lab, _ = harbour
    st = lab.load_state()
    os.kill(st["nodes"]["olt-2"]["pids"][0], 9)
    import time
    time.sleep(0.3)
    assert {r["name"]: r["state"] for r in lab.status()}["olt-2"] == "down"
    st = lab.up()
    assert st["restarted"] == ["olt-2"]
    assert all(r["state"] == "running" for r in lab.status())
    n = st["nodes"]["olt-2"]
    with manager.connect(host=n["mgmt_ip"], port=830, username=st["user"], password=st["password"],
                         hostkey_verify=False, look_for_keys=False, allow_agent=False, timeout=10) as m:
        assert "fwd-ship-repair" in m.get_config(source="running").data_xml


def test_a_bng_restarted_by_up_serves_its_dhcp_lines_again(harbour):
    """`lab up` restarting a dead BNG agent kills what ran in its namespace, the watcher's
    dnsmasq too; the watcher sees the new agent and applies the BNG's config again (every DHCP
    line of the lab failed until `lab down` and `up`)."""
    import time

    from orchestrator.lab.verify import verify

    lab, tmp = harbour
    st = lab.load_state()
    os.kill(st["nodes"]["bng-east"]["pids"][0], 9)
    time.sleep(0.3)
    st = lab.up()
    assert st["restarted"] == ["bng-east"]
    rep = verify(tmp / "plan", st, only=["dock-office"], rates=False)
    assert rep["services"] and rep["ok"], json.dumps(rep, indent=2)


def test_up_of_a_lab_running_from_another_topology_is_refused_not_repaired(harbour, tmp_path):
    """The topology generated again (here: one CPE fewer) under the lab's name while the lab
    runs: `up` says so and changes nothing. It said the old nodes were running, and `lab verify`
    then failed every service with "cannot reach"."""
    from orchestrator.errors import FullbarsError
    from orchestrator.lab.runtime import open_lab

    lab, _ = harbour
    doc = yaml.safe_load(Path(lab.topo.file).read_text())
    gone = next(n for n, v in doc["topology"]["nodes"].items() if v.get("labels", {}).get("fullbars.role") == "cpe")
    del doc["topology"]["nodes"][gone]
    doc["topology"]["links"] = [ln for ln in doc["topology"]["links"]
                                if not any(e.split(":")[0] == gone for e in ln["endpoints"])]
    other = tmp_path / "again.clab.yml"
    other.write_text(yaml.safe_dump(doc))
    with pytest.raises(FullbarsError) as e:
        open_lab(other).up(timeout=60)
    said = e.value.render()
    assert "is up from another topology" in said and gone in said and "lab down" in said, said
    assert all(r["state"] == "running" for r in lab.status())


def test_two_labs_side_by_side_and_down_leaves_nothing(harbour, tmp_path):
    from orchestrator.lab.generate import from_plan
    from orchestrator.lab.runtime import open_lab

    lab, tmp = harbour
    topo = tmp_path / "second.clab.yml"
    topo.write_text(from_plan(tmp / "plan", f"u{os.getpid() % 100000}"))
    second = open_lab(topo)
    st = second.up(timeout=60)
    try:
        assert all(r["state"] == "running" for r in second.status())
        assert all(r["state"] == "running" for r in lab.status())  # the first lab is untouched
        info = second.inspect()
        assert {c["name"] for c in info["containers"]} >= {f"clab-{st['name']}-olt-1"}
    finally:
        second.down()
    pids = [p for n in st["nodes"].values() for p in n["pids"]] + [st["watcher"]]
    assert not any(Path(f"/proc/{p}").exists() and "Z" not in Path(f"/proc/{p}/stat").read_text().split(")")[1][:3]
                   for p in pids)
    assert not any(netns.netns_exists(n["netns"]) for n in st["nodes"].values())
    assert not netns.link_exists(st["bridge"])
    assert not second.dir.exists()
    assert [n["socket"] for n in st["nodes"].values() if n.get("socket") and Path(n["socket"]).parent.exists()] == []
    assert subprocess.run(["id", st["user"]], capture_output=True).returncode != 0


def test_failed_up_removes_what_it_made(tmp_path, monkeypatch):
    _require_lab_tools()
    from orchestrator.lab.runtime import open_lab

    monkeypatch.setenv("FULLBARS_LAB_DIR", str(tmp_path / "labs"))
    topo = tmp_path / "f.clab.yml"
    topo.write_text(yaml.safe_dump({"name": f"f{os.getpid() % 100000}", "topology": {
        "nodes": {"o": {"kind": "linux", "labels": {"fullbars.kind": "olt-bbf"}},
                  "b": {"kind": "linux", "labels": {"fullbars.kind": "bng-ietf"}}},
        "links": [{"endpoints": ["o:uplink-1", "b:to-o"]}]}}))
    lab = open_lab(topo)
    plan = lab._plan()
    with pytest.raises(Exception) as e:
        lab.up(timeout=0.001)  # nothing can answer that fast: up fails after making everything
    assert "never became ready" in str(e.value) or "hello" in str(e.value)
    assert not any(netns.netns_exists(n["netns"]) for n in plan["nodes"].values())
    assert not netns.link_exists(plan["bridge"])
    assert not lab.dir.exists()


def test_a_lab_that_does_not_pin_its_subnet_takes_a_free_one():
    """The hashed /24 in use on this machine (another lab, a leftover): the lab takes the next free one."""
    _require_lab_tools()
    from orchestrator.lab.runtime import _free_subnet, key_of

    for i in range(200):  # a name whose hashed /24 is free to begin with
        key = key_of(f"taken{os.getpid()}-{i}")
        hashed = ipaddress.ip_network(f"198.18.{20 + int(key, 16) % 200}.0/24")
        if not netns._root_conflicts(hashed, []):
            break
    holder = f"fbt{key}"
    subprocess.run(["ip", "link", "add", holder, "type", "bridge"], check=True)  # no dummy module in every kernel
    try:
        subprocess.run(["ip", "addr", "add", f"{hashed[1]}/24", "dev", holder], check=True)
        chosen = ipaddress.ip_network(_free_subnet(key))
        assert chosen != hashed and chosen.subnet_of(ipaddress.ip_network("198.18.0.0/15"))
        assert not netns._root_conflicts(chosen, [])
    finally:
        subprocess.run(["ip", "link", "del", holder], check=True)
    assert _free_subnet(key) == str(hashed)  # free again: the hashed one, so a lab keeps its subnet


def test_olt_reports_present_onus_as_bbf_state(harbour):
    """devsim's <get> on an OLT: ONU presence per channel termination and v-ANI oper-status,
    valid against bbf-xpon-onu-state."""
    from lxml import etree
    from ncclient import manager

    from orchestrator.devices.registry import KINDS

    lab, _ = harbour
    st = lab.load_state()
    n = st["nodes"]["olt-1"]
    with manager.connect(host=n["mgmt_ip"], port=830, username=st["user"], password=st["password"],
                         hostkey_verify=False, look_for_keys=False, allow_agent=False, timeout=10) as m:
        data = m.get().data_ele
    ns = {"if": "urn:ietf:params:xml:ns:yang:ietf-interfaces", "os": "urn:bbf:yang:bbf-xpon-onu-state"}
    onus = {o.findtext("os:detected-serial-number", namespaces=ns): o.findtext("os:v-ani-ref", namespaces=ns)
            for o in data.iterfind(".//os:onu", ns)}
    assert onus == {"HRBR00000001": "vani-dock-office", "HRBR00000002": "vani-harbour-cafe"}
    oper = {i.findtext("if:name", namespaces=ns): i.findtext("if:oper-status", namespaces=ns)
            for i in data.iterfind("if:interfaces-state/if:interface", ns)}
    assert oper["vani-dock-office"] == "up"
    body = "".join(etree.tostring(c, encoding="unicode") for c in data
                   if etree.QName(c).namespace != "urn:ietf:params:xml:ns:yang:ietf-yang-library"
                   and etree.QName(c).localname != "netconf-state")
    tree = KINDS.get("olt-bbf").models.ctx.parse_data_mem(body, "xml", strict=True, validate_present=True)
    assert tree is not None


def test_network_check_of_a_line(harbour):
    """fullbars check: ONU present and up, counters of the line, the BNG side, read from the devices."""
    from orchestrator.resources.store import Store
    from orchestrator.rollout.check import check
    from orchestrator.rollout.targets import lab_target

    lab, tmp = harbour
    rep = check(Store(f"sqlite:///{tmp}/s.db"), lab_target(tmp / "lab.clab.yml"), "ship-repair", measure=False)
    by = {c["check"]: c for c in rep["checks"]}
    assert rep["ok"], rep
    assert "HRBR00000003 on olt-2 1/1/1" in by["ONU present"]["detail"]
    assert by["v-ANI oper-status"]["detail"].endswith(": up")
    assert "in " in by["sub-interface counters"]["detail"] and "octets" in by["sub-interface counters"]["detail"]
    assert "S1200/C3" in by["BNG sub-interface"]["detail"]


def test_network_check_says_the_rates_the_bng_carries_not_a_plan_not_applied(harbour, tmp_path):
    """A line planned faster and not applied (or an apply that died and was undone) runs at the
    device's rates: check showed the plan's, as if the line had them."""
    from orchestrator.plan.pipeline import plan
    from orchestrator.resources.store import Store
    from orchestrator.rollout.check import check
    from orchestrator.rollout.targets import lab_target

    lab, tmp = harbour
    shutil.copy(tmp / "s.db", tmp_path / "s.db")  # the lab's store stays as applied
    faster = tmp_path / "ship-repair.yaml"
    faster.write_text((REPO / "examples/lab/ship-repair.yaml").read_text().replace("downstream: 300M", "downstream: 500M"))
    store = Store(f"sqlite:///{tmp_path}/s.db")
    network = str(REPO / "examples/network.yaml")
    plan(store, network, [str(faster)])
    rep = check(store, lab_target(tmp / "lab.clab.yml"), "ship-repair", network, measure=False)
    by = {c["check"]: c for c in rep["checks"]}
    assert rep["resources"]["rates"] == "300M down / 300M up", rep["resources"]
    assert not rep["ok"] and not by["rates as planned"]["ok"], rep
    assert "500M down / 300M up is not on it" in by["rates as planned"]["detail"], by["rates as planned"]


def _disable(st, node: str, interface: str) -> None:
    """An engineer's edit-config on a lab node: the interface's ietf-interfaces `enabled` to false."""
    from ncclient import manager

    n = st["nodes"][node]
    with manager.connect(host=n["mgmt_ip"], port=830, username=st["user"], password=st["password"],
                         hostkey_verify=False, look_for_keys=False, allow_agent=False, timeout=10) as m:
        m.edit_config(target="candidate", config=(
            '<config xmlns="urn:ietf:params:xml:ns:netconf:base:1.0"><interfaces '
            f'xmlns="urn:ietf:params:xml:ns:yang:ietf-interfaces"><interface><name>{interface}</name>'
            "<enabled>false</enabled></interface></interfaces></config>"))
        m.commit()


def test_network_check_reports_a_disabled_vani_down_and_a_disabled_bng_subinterface(harbour):
    """The v-ANI disabled by hand on the OLT (its ONU still plugged in) is down; the line's BNG
    sub-interface disabled by hand is reported disabled; both fail the check."""
    from orchestrator.resources.store import Store
    from orchestrator.rollout.check import check
    from orchestrator.rollout.targets import lab_target

    lab, tmp = harbour
    st = lab.load_state()
    try:
        _disable(st, "olt-2", "vani-ship-repair")
        _disable(st, "bng-east", "to-olt-2.1200.3")
        rep = check(Store(f"sqlite:///{tmp}/s.db"), lab_target(tmp / "lab.clab.yml"), "ship-repair", measure=False)
    finally:
        _push_variant(lab, tmp, "restore", ("olt-2", "", ""))
    by = {c["check"]: c for c in rep["checks"]}
    assert not rep["ok"]
    assert by["ONU present"]["ok"], by["ONU present"]  # the ONU is there: only the v-ANI is off
    assert not by["v-ANI oper-status"]["ok"]
    assert by["v-ANI oper-status"]["detail"].startswith("vani-ship-repair: down"), by["v-ANI oper-status"]
    assert not by["BNG sub-interface"]["ok"]
    assert "to-olt-2.1200.3: disabled, S1200/C3" in by["BNG sub-interface"]["detail"], by["BNG sub-interface"]
