"""Building blocks of the lab's data plane, for the per-kind planes (orchestrator/lab/kinds/):
commands in a node's namespace, htb shaping, VXLANs over the lab's links, the node's legs, and
a plane made of independent entries (a line, a room) that a change re-makes one by one."""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from dataclasses import asdict, is_dataclass
from pathlib import Path

from orchestrator.lab import netns
from orchestrator.lab.ifnames import port_if

RECORD = "personality.json"  # in a node's state dir: what the watcher made of its running config


def failure(node: str, tried: str, error: str) -> dict:
    """A config the personality could not realize: the node, what it tried, the command's error."""
    return {"node": node, "tried": tried, "error": error}


def recorded(lab: dict, node: str) -> dict:
    """The watcher's last summary of a node ({} before its first)."""
    try:
        return json.loads((Path(lab["nodes"][node]["state_dir"]) / RECORD).read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return {}


def ip(ns: str, *args: str, check: bool = True):
    return netns._ip("-n", ns, *args, check=check)


def tc(ns: str, *args: str):
    r = netns.netns_exec(ns, ["tc", *args], capture_output=True, text=True)
    if r.returncode != 0:  # the command and tc's own words: what the operator needs to see
        raise netns.LabError(f"tc {' '.join(args)}: {r.stderr.strip() or f'exit {r.returncode}'}")


def shape(ns: str, dev: str, bps: int) -> None:
    """htb at `bps` on dev's egress; burst of 10 ms (at least 32 kB) keeps TCP at the rate. An htb
    root cannot be replaced in place ("Change operation not supported"), so a new rate on a
    shaped device takes its root away first."""
    burst = max(bps // 800, 32000)
    netns.netns_exec(ns, ["tc", "qdisc", "del", "dev", dev, "root"], capture_output=True)
    tc(ns, "qdisc", "add", "dev", dev, "root", "handle", "1:", "htb", "default", "1")
    tc(ns, "class", "add", "dev", dev, "parent", "1:", "classid", "1:1", "htb", "rate", f"{bps}bit",
       "ceil", f"{bps}bit", "burst", str(burst), "cburst", str(burst))


def shape_ingress(ns: str, dev: str, ifb: str, bps: int) -> None:
    """htb at `bps` on what dev receives: redirected through an ifb whose egress is shaped."""
    ip(ns, "link", "del", ifb, check=False)
    ip(ns, "link", "add", ifb, "type", "ifb")
    ip(ns, "link", "set", ifb, "up")
    netns.netns_exec(ns, ["tc", "qdisc", "del", "dev", dev, "ingress"], capture_output=True)
    tc(ns, "qdisc", "add", "dev", dev, "handle", "ffff:", "ingress")
    tc(ns, "filter", "add", "dev", dev, "parent", "ffff:", "protocol", "all", "u32", "match", "u32", "0", "0",
       "action", "mirred", "egress", "redirect", "dev", ifb)
    shape(ns, ifb, bps)


def unshape(ns: str, dev: str, ifb: str | None = None) -> None:
    netns.netns_exec(ns, ["tc", "qdisc", "del", "dev", dev, "root"], capture_output=True)
    if ifb:
        netns.netns_exec(ns, ["tc", "qdisc", "del", "dev", dev, "ingress"], capture_output=True)
        ip(ns, "link", "del", ifb, check=False)


LINK_PORT0 = 30000  # the UDP port of a device-device link's VXLANs: LINK_PORT0 + the link's index


def vni(s: int, c: int) -> int:
    return (s << 12) | c


class NodePlane(ABC):
    """One node's data plane: what it knows of the lab around it."""

    def __init__(self, lab: dict, node: str):
        self.lab, self.node = lab, node
        self.n = lab["nodes"][node]
        self.ns = self.n["netns"]

    def legs(self):
        """(this end, other end) of every link of this node."""
        for ln in self.lab["links"]:
            for me, other in ((ln["a"], ln["b"]), (ln["b"], ln["a"])):
                if me[0] == self.node:
                    yield me, other

    def leg_to(self, label: str, value: str) -> str | None:
        """This node's port whose far end carries label=value (an ONU's serial, a room's serial)."""
        for me, other in self.legs():
            if self.lab["nodes"][other[0]]["labels"].get(label) == value:
                return me[1]
        return None

    def underlay(self, ifname: str) -> tuple[str, str] | None:
        """(own address, peer address) of a device-device link; ifname as the config names it."""
        found = self._underlay(ifname)
        return found[1:] if found else None

    def _underlay(self, ifname: str) -> tuple[int, str, str] | None:
        ifname = port_if(ifname)
        for i, ln in enumerate(self.lab["links"]):
            ends = {tuple(ln["a"]), tuple(ln["b"])}
            if (self.node, ifname) in ends and ln.get("addr"):
                peer = next(e for e in ends if e != (self.node, ifname))
                return i, ln["addr"][self.node].split("/")[0], ln["addr"][peer[0]].split("/")[0]
        return None

    def vxlan(self, name: str, vid: int, dev: str, dstport: int | None = None) -> str:
        """A VXLAN with id vid to the far end of lab link dev; dev as the config names it. The
        kernel takes an id once per UDP port, so by default each link has a port of its own
        (LINK_PORT0 + its index: both ends find the same): a BNG may then carry the same S/C
        pair from two OLTs."""
        dev = port_if(dev)
        under = self._underlay(dev)
        if under is None:
            raise netns.LabError(f"{self.node}: {dev} is not a lab link between devices")
        index, local, remote = under
        dstport = LINK_PORT0 + index if dstport is None else dstport
        ip(self.ns, "link", "del", name, check=False)
        ip(self.ns, "link", "add", name, "type", "vxlan", "id", str(vid), "local", local, "remote", remote,
           "dev", dev, "dstport", str(dstport))
        ip(self.ns, "link", "set", name, "mtu", "1500", "up")
        return name

    @abstractmethod
    def apply(self, root) -> tuple[dict, list[tuple[str, str]], dict]:
        """The config (an lxml root) into the data plane: (report, failures as (tried, error),
        facts to record beside them)."""

    def tick(self) -> None:
        """Called by the watcher between commits: what the plane follows by itself (a link's
        state, what other nodes said), as a device's control plane would."""


class EntryPlane(NodePlane):
    """A plane of independent entries keyed by name: an entry that changed is removed and made
    again, the others are left alone (a bulk change must not tear down a thousand lines)."""

    what = "entry"

    def __init__(self, lab: dict, node: str):
        super().__init__(lab, node)
        self.applied: dict[str, object] = {}
        self.held: dict[str, str] = {}  # entries the config holds but that do not work: why, naming the leaf

    @abstractmethod
    def wanted(self, root) -> dict[str, object]:
        """The entries the config asks for (and self.held: those it holds that cannot work)."""

    @abstractmethod
    def make(self, key: str, entry) -> str:
        """Build the entry in the data plane: a report of what was made."""

    @abstractmethod
    def remove(self, key: str, entry) -> None:
        """Tear down what make built for the entry."""

    def update(self, key: str, old, new) -> str | None:
        """Change an entry in place when only what this returns a report for differs; None: re-make it."""
        return None

    def settle(self, want: dict[str, object]) -> None:
        """After the entries: whatever serves them all (a DHCP server)."""

    def facts(self, key: str, entry) -> dict:
        return asdict(entry) if is_dataclass(entry) else {}

    def apply(self, root) -> tuple[dict, list[tuple[str, str]], dict]:
        want = self.wanted(root)
        report, failures = {}, []
        for key in [k for k in self.applied if self.applied[k] != want.get(k)]:
            old, new = self.applied[key], want.get(key)
            if new is not None:
                try:
                    done = self.update(key, old, new)
                except netns.LabError as e:
                    done = None
                    failures.append((f"{self.what} {key}", str(e)))
                if done is not None:
                    self.applied[key] = new
                    report[key] = done
                    continue
            self.remove(key, self.applied.pop(key))
        for key, entry in sorted(want.items()):
            if key in report:
                continue
            if self.applied.get(key) == entry:
                self.applied[key] = entry  # equal for the data plane; keep the new facts
                report[key] = "unchanged"
                continue
            try:
                report[key] = self.make(key, entry)
                self.applied[key] = entry
            except netns.LabError as e:
                report[key] = f"failed: {e}"
                failures.append((f"{self.what} {key}", str(e)))
        self.settle(want)
        return report, failures, {"config": {k: self.facts(k, v) for k, v in self.applied.items()},
                                  "held": dict(sorted(self.held.items()))}
