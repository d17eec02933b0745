"""The BNG's DHCP server answers by the time the watcher records a commit as applied: the plane
returns from a commit only once dnsmasq holds the DHCP port (CI once saw a line's 5 discovers go
unanswered right after a commit). Real dnsmasq in a namespace of its own."""

from __future__ import annotations

import os

import pytest

from orchestrator.lab import netns
from orchestrator.lab.kinds.broadband.plane import BngLine, BngPlane


@pytest.fixture
def bng_ns(tmp_path):
    name = f"fbdhcp{os.getpid() % 100000}"
    netns.add_netns(name)
    try:
        netns._ip("-n", name, "link", "add", "vx100.10", "type", "veth", "peer", "name", "cpe0")
        netns._ip("-n", name, "addr", "add", "10.9.0.1/24", "dev", "vx100.10")
        for dev in ("vx100.10", "cpe0"):
            netns._ip("-n", name, "link", "set", dev, "up")
        yield {"name": "dhcp", "links": [],
               "nodes": {"bng": {"netns": name, "state_dir": str(tmp_path), "labels": {}}}}
    finally:
        for pid in netns._ip("netns", "pids", name, check=False).stdout.split():
            os.kill(int(pid), 9)  # a server a failed test left running
        netns.delete_netns(name)


def _listening(ns: str) -> str:
    return netns.netns_exec(ns, ["ss", "-Huln", "sport = :67"], capture_output=True, text=True).stdout


@pytest.mark.parametrize("round_", range(5))
def test_the_dhcp_server_listens_when_a_commit_is_settled(bng_ns, round_):
    plane = BngPlane(bng_ns, "bng")
    line = BngLine(ifname="sub-1", parent="eth1", s=100, c=10, address="10.9.0.1/24",
                   dhcp_client="10.9.0.5", down_bps=10**6, up_bps=10**6)
    try:
        for _ in range(2):  # the first commit, then one that restarts the server
            plane.settle({"100.10": line})
            assert plane.dnsmasq.poll() is None, (bng_ns["nodes"]["bng"]["state_dir"] + "/dnsmasq.log")
            assert _listening(plane.ns), "settle returned before dnsmasq bound the DHCP port"
    finally:
        plane.settle({})  # no DHCP line: the server goes
    assert plane.dnsmasq is None and not _listening(plane.ns)
