"""Network namespaces and veth pairs for the lab, created and removed strictly by name.

Rules (docs LAB-FACTS.md, "Lab safety"): every lab address lies in the benchmarking range
198.18.0.0/15; nothing here adds a default route, enables forwarding or touches the host's
uplink; cleanup deletes exactly the names it is given (or that `NetnsLink` created), never a
pattern. Needs root and iproute2's `ip`.

Naming: the caller picks a prefix unique to its lab (for example a short lab name plus a
counter); `veth_names(prefix)` derives the two interface names from it. Linux interface names
are at most 15 characters, so a prefix is at most 13.
"""

from __future__ import annotations

import functools
import ipaddress
import json
import os
import re
import shutil
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

LAB_NETWORK = ipaddress.ip_network("198.18.0.0/15")
IFNAME_MAX = 15  # IFNAMSIZ - 1
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


class LabError(RuntimeError):
    """A lab resource could not be created, used or removed."""


def ip_binary() -> str:
    path = shutil.which("ip")
    if not path:
        raise LabError("`ip` is not installed: apt-get install -y iproute2")
    return path


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run([ip_binary(), *args], capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise LabError(f"ip {' '.join(args)}: {proc.stderr.strip() or f'exit {proc.returncode}'}")
    return proc


def check_name(name: str, max_len: int | None = None) -> str:
    if not _NAME_RE.match(name or "") or (max_len is not None and len(name) > max_len):
        limit = f", at most {max_len} characters" if max_len is not None else ""
        raise ValueError(f"bad lab name {name!r}: letters, digits, '_', '.', '-'{limit}")
    return name


def veth_names(prefix: str) -> tuple[str, str]:
    """(root-side, namespace-side) interface names for a prefix of at most 13 characters."""
    check_name(prefix, IFNAME_MAX - 2)
    return f"{prefix}-r", f"{prefix}-n"


def lab_interface(address: str, prefix_len: int) -> ipaddress.IPv4Interface:
    """address/prefix_len, refused unless the whole subnet lies in 198.18.0.0/15."""
    iface = ipaddress.ip_interface(f"{address}/{prefix_len}")
    if not isinstance(iface, ipaddress.IPv4Interface) or not iface.network.subnet_of(LAB_NETWORK):
        raise ValueError(f"{iface} is outside the lab range {LAB_NETWORK}")
    if iface.ip in (iface.network.network_address, iface.network.broadcast_address) and prefix_len < 31:
        raise ValueError(f"{iface} is the network or broadcast address of its subnet")
    return iface


# --- queries ---------------------------------------------------------------------------------

def netns_exists(name: str) -> bool:
    return os.path.exists(f"/run/netns/{name}")


def link_exists(name: str, netns: str | None = None) -> bool:
    ns = ["-n", netns] if netns else []
    return _ip(*ns, "link", "show", "dev", name, check=False).returncode == 0


def netns_pids(name: str) -> list[int]:
    """Pids of the processes living in namespace `name` (empty if it does not exist)."""
    if not netns_exists(name):
        return []
    out = _ip("netns", "pids", name, check=False).stdout
    return [int(p) for p in out.split() if p.isdigit()]


def _root_conflicts(subnet: ipaddress.IPv4Network, addresses: Sequence[ipaddress.IPv4Address]) -> list[str]:
    """Root-namespace addresses or routes that would collide with a new lab subnet."""
    return [what for net, ip, what in root_networks() if ip in addresses or net.overlaps(subnet)]


def root_networks() -> list[tuple[ipaddress.IPv4Network, ipaddress.IPv4Address | None, str]]:
    """Each IPv4 network the root namespace has an address on or a route to: (network, own address, says)."""
    used = []
    for link in json.loads(_ip("-j", "-4", "addr", "show").stdout or "[]"):
        for info in link.get("addr_info", []):
            have = ipaddress.ip_interface(f"{info['local']}/{info['prefixlen']}")
            used.append((have.network, have.ip, f"{have} on {link['ifname']}"))
    for route in json.loads(_ip("-j", "-4", "route", "show", "table", "main").stdout or "[]"):
        dst = route.get("dst", "default")
        if dst != "default":
            used.append((ipaddress.ip_network(dst, strict=False), None, f"route {dst} via {route.get('dev', '?')}"))
    return used


# --- create / delete by name -----------------------------------------------------------------

def add_netns(name: str) -> None:
    """Create namespace `name` with its loopback up; fails if it already exists."""
    check_name(name)
    if netns_exists(name):
        raise LabError(f"network namespace {name} already exists (another lab, or a leftover)")
    _ip("netns", "add", name)
    try:
        _ip("-n", name, "link", "set", "lo", "up")
    except LabError:
        delete_netns(name)
        raise


def delete_netns(name: str) -> None:
    """Delete namespace `name` if it exists. Its interfaces (and their veth peers) go with it
    once no process remains inside."""
    if netns_exists(name):
        _ip("netns", "delete", name)


def add_veth(root_if: str, ns_if: str, netns: str, root_address: str, ns_address: str,
             prefix_len: int) -> None:
    """veth pair root_if (root namespace, root_address) <-> ns_if (in netns, ns_address).

    Both ends are up; the only route added is the connected one for their subnet. Refused if
    either name exists or the subnet collides with an address or route of the root namespace.
    """
    for n in (root_if, ns_if):
        check_name(n, IFNAME_MAX)
    root_i, ns_i = lab_interface(root_address, prefix_len), lab_interface(ns_address, prefix_len)
    if root_i.ip == ns_i.ip:
        raise ValueError(f"both veth ends would get {root_i.ip}")
    if not netns_exists(netns):
        raise LabError(f"network namespace {netns} does not exist")
    if link_exists(root_if) or link_exists(ns_if, netns):
        raise LabError(f"interface {root_if} or {ns_if} already exists")
    conflicts = _root_conflicts(root_i.network, [root_i.ip, ns_i.ip])
    if conflicts:
        raise LabError(f"lab subnet {root_i.network} collides with {', '.join(conflicts)}")
    _ip("link", "add", root_if, "type", "veth", "peer", "name", ns_if, "netns", netns)
    try:
        _ip("-n", netns, "addr", "add", str(ns_i), "dev", ns_if)
        _ip("-n", netns, "link", "set", ns_if, "up")
        _ip("addr", "add", str(root_i), "dev", root_if)
        _ip("link", "set", root_if, "up")
    except LabError:
        delete_link(root_if)
        raise


def delete_link(name: str, netns: str | None = None) -> None:
    """Delete interface `name` (a veth takes its peer with it) if it exists."""
    if link_exists(name, netns):
        ns = ["-n", netns] if netns else []
        _ip(*ns, "link", "delete", "dev", name)


# --- running commands inside -----------------------------------------------------------------

def exec_argv(netns: str, argv: Sequence[str]) -> list[str]:
    """argv wrapped in `ip netns exec` (ip exec()s the command: its pid is the command's pid)."""
    return [ip_binary(), "netns", "exec", netns, *argv]


def netns_exec(netns: str, argv: Sequence[str], **kwargs) -> subprocess.CompletedProcess:
    """subprocess.run of argv inside netns; kwargs go to subprocess.run."""
    return subprocess.run(exec_argv(netns, argv), **kwargs)


def listening(netns: str, port: int, udp: bool = False, server: subprocess.Popen | None = None,
              tries: int = 50, pause: float = 0.05) -> bool:
    """Wait until a socket in netns holds `port` (TCP listening, or UDP bound); False if it
    never did within tries x pause, or `server` exited first (its own log says why). A client
    started before the bind is refused, or its datagram dropped, and the failure would be
    blamed on the config under test."""
    argv = ["ss", "-Huln" if udp else "-Hltn", f"sport = :{port}"]
    for _ in range(tries):
        if server is not None and server.poll() is not None:
            return False
        if netns_exec(netns, argv, capture_output=True, text=True).stdout.strip():
            return True
        time.sleep(pause)
    return False


@dataclass
class NetnsLink:
    """One namespace joined to the root namespace by one veth; delete() removes exactly what
    create() made, and may be called any number of times."""

    netns: str
    prefix: str
    address: str  # namespace side
    peer_address: str  # root side
    prefix_len: int
    created: list[tuple[str, str]] = field(default_factory=list)  # ("netns"|"link", name)

    @property
    def root_if(self) -> str:
        return veth_names(self.prefix)[0]

    @property
    def ns_if(self) -> str:
        return veth_names(self.prefix)[1]

    def create(self) -> None:
        root_if, ns_if = veth_names(self.prefix)
        lab_interface(self.address, self.prefix_len)
        lab_interface(self.peer_address, self.prefix_len)
        add_netns(self.netns)
        self.created.append(("netns", self.netns))
        try:
            add_veth(root_if, ns_if, self.netns, self.peer_address, self.address, self.prefix_len)
            self.created.append(("link", root_if))
        except BaseException:
            self.delete()
            raise

    def delete(self) -> None:
        errors, failed = [], []
        for kind, name in reversed(self.created):
            try:
                delete_link(name) if kind == "link" else delete_netns(name)
            except LabError as e:
                errors.append(str(e))
                failed.insert(0, (kind, name))
        self.created[:] = failed  # a later delete() retries only what is still there
        if errors:
            raise LabError("; ".join(errors))


# --- processes -------------------------------------------------------------------------------

def pid_alive(pid: int | None) -> bool:
    """True while the process exists and is not a zombie."""
    if not pid:
        return False
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except (FileNotFoundError, ProcessLookupError):
        return False


@functools.cache
def _boot_id() -> str:
    with open("/proc/sys/kernel/random/boot_id") as f:
        return f.read().strip()


def started(pid: int | None) -> str | None:
    """Which process `pid` is: the boot and the clock tick it started at (/proc/PID/stat field
    22), or None when none runs. A pid recorded before a reboot, or freed and given to another
    process since, names another process, and shows it by this."""
    if not pid_alive(pid):
        return None
    try:
        with open(f"/proc/{pid}/stat") as f:
            tick = f.read().rsplit(")", 1)[1].split()[19]
        return f"{_boot_id()} {tick}"
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return None


def kill_pids(pids: Sequence[int], grace: float = 1.0) -> None:
    """SIGTERM, wait up to `grace` seconds, then SIGKILL what is left (by pid, nothing broader)."""
    import signal

    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 2.0)):
        alive = [p for p in pids if pid_alive(p)]
        for pid in alive:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        end = time.monotonic() + wait
        while alive and time.monotonic() < end:
            time.sleep(0.01)
            alive = [p for p in alive if pid_alive(p)]
        if not alive:
            return
