"""A containerlab topology realized with network namespaces, veths and real NETCONF agents.

Per node: a namespace, `eth0` on the lab's management bridge (fixed MAC, a /24 of
198.18.0.0/15), one veth per link, and its agent: devsim for kinds with standard models
netconfd cannot load, yuma123 netconfd behind sshd for IETF-only kinds (a third-party agent
is always in the loop). One watcher process per lab turns committed config into data-plane
effects (orchestrator/lab/personality.py). Everything made is recorded in lab.json by name
and pid, and `down` removes exactly that.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from orchestrator import settings
from orchestrator.devices.registry import KINDS
from orchestrator.errors import FullbarsError
from orchestrator.lab import netns
from orchestrator.lab.kinds.registry import LAB_KINDS
from orchestrator.lab.netconfd import remove_socket
from orchestrator.lab.topology import Topology, load
from orchestrator.netconf import NETCONF_PORT
from orchestrator.netconf.credentials import LAB_PASSWORD_ENV

DATA_MTU = 9000  # room for the VXLAN that carries each S/C-VLAN pair between OLT and BNG
# Links on the customer side of an ONU carry the customer's own frames: no underlay address.
ACCESS_ROLES = LAB_KINDS.access_roles()
ROUTERS = LAB_KINDS.router_roles()  # roles whose namespaces forward


def lab_root() -> Path:
    return Path(os.environ.get("FULLBARS_LAB_DIR", ".fullbars/labs")).resolve()


def key_of(name: str) -> str:
    return hashlib.sha1(name.encode()).hexdigest()[:6]


def _free_subnet(key: str) -> str:
    """A /24 of 198.18.20-219 nothing on this machine uses, the first from the one the key hashes to.

    200 hashed slots collide often among a few labs on one machine (5 labs: 1 in 20), and a lab
    whose file does not pin its subnet should not fail for that."""
    used = [net for net, _, _ in netns.root_networks()]
    start = int(key, 16) % 200
    for i in range(200):
        subnet = ipaddress.ip_network(f"198.18.{20 + (start + i) % 200}.0/24")
        if not any(net.overlaps(subnet) for net in used):
            return str(subnet)
    return f"198.18.{20 + start}.0/24"  # all taken: up says which address or route is in the way


def hello(host: str, port: int, user: str, password: str, known: tuple[str, ...], source: str,
          name: str = "", timeout: float = 5.0) -> bool:
    """The agent answers a NETCONF hello, having shown a known host key (else HostKeyError)."""
    from orchestrator.netconf.hostkeys import HostKeyError, connect

    try:
        with socket.create_connection((host, port), timeout=min(timeout, 1.0)):
            pass
        m = connect(name or host, host, port, known, source, timeout, username=user, password=password)
        m.close_session()
        return True
    except HostKeyError:
        raise
    except Exception:
        return False


def record_hostkey(st: dict, name: str) -> None:
    """The key an agent of this lab presents as it first comes up is the one it must keep: a
    restarted agent keeps its key in its state dir, so a later change is refused, not recorded."""
    from orchestrator.netconf.hostkeys import openssh_line, scan

    n = st["nodes"][name]
    if st.setdefault("hostkeys", {}).get(name):
        return
    try:
        st["hostkeys"][name] = [openssh_line(scan(n["mgmt_ip"], NETCONF_PORT, timeout=5))]
    except Exception:  # noqa: BLE001 - not listening yet; asked again in a moment
        pass


def record_started(st: dict, pids: list[int]) -> None:
    """Note which processes these pids are now (netns.started), so that the lab later signals
    only them: after a reboot, or once one has ended, its pid may be another's."""
    st.setdefault("started", {}).update((str(p), netns.started(p)) for p in pids)


def ours(st: dict, pids: list) -> list[int]:
    """Those of the recorded pids that still run the process the lab started (a record made
    before processes were noted: those that run at all)."""
    noted = st.get("started")
    if noted is None:
        return [p for p in pids if netns.pid_alive(p)]
    return [p for p in pids if p and noted.get(str(p)) is not None and noted.get(str(p)) == netns.started(p)]


class LabRecord:
    """A lab as `up` recorded it in lab.json: enough to look at it and to take it down, even
    when its topology file is gone (a run killed before it cleaned up)."""

    def __init__(self, name: str):
        self.dir = lab_root() / name
        self.state_file = self.dir / "lab.json"

    # --- state ---------------------------------------------------------------------------
    def load_state(self) -> dict | None:
        if self.state_file.exists():
            return json.loads(self.state_file.read_text())
        return None

    def save_state(self, st: dict) -> None:
        self.dir.mkdir(mode=0o700, parents=True, exist_ok=True)  # node state: datastores, host keys, logs
        os.chmod(self.dir, 0o700)
        tmp = self.state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(st, indent=2, sort_keys=True))
        os.chmod(tmp, 0o600)  # it holds the lab's NETCONF password
        os.replace(tmp, self.state_file)

    # --- down ----------------------------------------------------------------------------
    def down(self) -> list[str]:
        """Remove exactly what `up` made, by the names and pids it recorded."""
        st = self.load_state()
        if st is None:
            return []
        errors = []
        netns.kill_pids(ours(st, [st.get("watcher")]))
        pids = []
        for n in st["nodes"].values():
            pids += ours(st, n.get("pids", []))
            if netns.netns_exists(n["netns"]):
                pids += netns.netns_pids(n["netns"])
        netns.kill_pids(pids)
        for n in st["nodes"].values():
            if n.get("socket"):
                remove_socket(Path(n["socket"]))
        for kind, name in reversed(st["made"]):
            try:
                if kind == "netns":
                    netns.delete_netns(name)
                elif kind == "link":
                    netns.delete_link(name)
                elif kind == "user":
                    subprocess.run(["userdel", name], capture_output=True)
            except Exception as e:  # keep removing the rest; report at the end
                errors.append(f"{kind} {name}: {e}")
        shutil.rmtree(self.dir, ignore_errors=True)
        if errors:
            raise FullbarsError("lab down left something behind: " + "; ".join(errors))
        return [name for _, name in st["made"]]

    # --- looking -------------------------------------------------------------------------
    def status(self) -> list[dict]:
        st = self.load_state()
        if st is None:
            return []
        rows = []
        for name, n in st["nodes"].items():
            ns_ok = netns.netns_exists(n["netns"])
            if not n["agent"]:
                state = "running" if ns_ok else "down"
            else:
                alive = bool(n["pids"]) and len(ours(st, n["pids"])) == len(n["pids"])
                state = "running" if ns_ok and alive and _port_open(n["mgmt_ip"]) else "down"
            rows.append({"name": name, "kind": n["kind"], "agent": n["agent"] or "-", "mgmt": n["mgmt_ip"],
                         "state": state})
        return rows

    def inspect(self) -> dict:
        """The shape of containerlab's topology-data.json / `inspect --format json`."""
        st = self.load_state() or {}
        status = {r["name"]: r["state"] for r in self.status()}
        plen = (st.get("mgmt_subnet") or "/24").split("/")[1]
        containers = []
        for name, n in (st.get("nodes") or {}).items():
            containers.append({"lab_name": st["name"], "labPath": st["file"], "name": f"clab-{st['name']}-{name}",
                               "container_id": n["netns"], "image": f"fullbars/{n['kind']}", "kind": "linux",
                               "state": status.get(name, "down"), "ipv4_address": f"{n['mgmt_ip']}/{plen}",
                               "ipv6_address": "N/A", "labels": n["labels"]})
        return {"name": st.get("name"), "type": "clab", "clab": {"config": {"prefix": "clab",
                "mgmt": {"network": st.get("bridge"), "ipv4-subnet": st.get("mgmt_subnet")}}},
                "containers": containers}


class Lab(LabRecord):
    """A lab from its topology file: what `up` makes of it."""

    def __init__(self, topo: Topology):
        super().__init__(topo.name)
        self.topo = topo
        self.key = key_of(topo.name)

    def _plan(self) -> dict:
        """Names and addresses of everything `up` makes, fixed before anything is made."""
        k = self.key
        mgmt = ipaddress.ip_network(self.topo.mgmt_subnet or _free_subnet(k), strict=False)
        hosts = list(mgmt.hosts())
        underlay = ipaddress.ip_network(f"198.19.{int(k, 16) % 250}.0/24").subnets(new_prefix=30)
        nodes = {}
        for i, (name, node) in enumerate(sorted(self.topo.nodes.items())):
            ip = node.mgmt_ipv4 or str(hosts[9 + i])
            agent = "" if node.kind == "host" else _agent(name, node)
            nodes[name] = {"kind": node.kind, "role": node.role, "labels": node.labels, "netns": f"fb{k}-{name}",
                           "mgmt_if": f"fm{k}{i:03d}", "mgmt_ip": ip, "agent": agent,
                           "state_dir": str(self.dir / "nodes" / name), "short": f"fb{k}{i:03d}", "pids": []}
        links = []
        for i, ln in enumerate(self.topo.links):
            entry = {"a": list(ln.a), "b": list(ln.b), "tmp": [f"fl{k}{i:03d}a", f"fl{k}{i:03d}b"]}
            roles = {self.topo.nodes[ln.a[0]].role, self.topo.nodes[ln.b[0]].role}
            if not roles & ACCESS_ROLES:  # device-device and device-server links get a /30
                net = next(underlay)
                a, b = list(net.hosts())
                entry["addr"] = {ln.a[0]: f"{a}/30", ln.b[0]: f"{b}/30"}
            links.append(entry)
        return {"name": self.topo.name, "file": str(Path(self.topo.file).resolve()), "key": k,
                "bridge": f"fbm{k}", "mgmt_subnet": str(mgmt), "bridge_ip": f"{hosts[0]}/{mgmt.prefixlen}",
                "nodes": nodes, "links": links, "user": f"fbl{k}", "password": secrets.token_urlsafe(18),
                "watcher": None, "made": []}

    # --- up ------------------------------------------------------------------------------
    def up(self, timeout: float = 60.0, progress=None) -> dict:
        st = self.load_state()
        if st is not None:
            self._refuse_other_topology(st)
            return self._repair(st, timeout, progress)
        st = self._plan()
        self.save_state(st)
        try:
            self._make_network(st, progress)
            self._start_agents(st, list(st["nodes"]), timeout, progress)
            self._start_watcher(st)
        except BaseException:
            self.down()
            raise
        return st

    def _refuse_other_topology(self, st: dict) -> None:
        """A lab up under this name from another topology (the file generated again from another
        plan) is not repaired into this one: its nodes and wiring would stay the old ones."""
        def shape(s: dict):
            return ({n: v["kind"] for n, v in s["nodes"].items()},
                    sorted((tuple(ln["a"]), tuple(ln["b"])) for ln in s["links"]))

        (had, had_links), (want, want_links) = shape(st), shape(self._plan())
        if (had, had_links) == (want, want_links):
            return
        said = [f"{what}: {', '.join(sorted(names))}" for what, names in
                (("nodes it lacks", want.keys() - had.keys()), ("nodes it has that the file does not", had.keys() - want.keys()),
                 ("nodes of another kind", {n for n in want.keys() & had.keys() if want[n] != had[n]})) if names]
        if had_links != want_links:
            said.append("other links")
        raise FullbarsError(f"lab {self.topo.name} is up from another topology than {self.topo.file} "
                            f"({'; '.join(said)})",
                            fix=f"fullbars lab down {self.topo.file}, then up again; or give this lab another name")

    def _made(self, st: dict, kind: str, name: str) -> None:
        st["made"].append([kind, name])
        self.save_state(st)

    def _make_network(self, st: dict, progress) -> None:
        conflicts = netns._root_conflicts(ipaddress.ip_network(st["mgmt_subnet"]), [])
        if conflicts:
            raise FullbarsError(f"lab {st['name']}: management subnet {st['mgmt_subnet']} is already in use "
                                f"({', '.join(conflicts)})", fix="set mgmt.ipv4-subnet to a free /24 of 198.18.0.0/15")
        br = st["bridge"]
        mac = "02:fb:" + ":".join(st["key"][i:i + 2] for i in (0, 2, 4)) + ":00"
        netns._ip("link", "add", br, "type", "bridge")
        self._made(st, "link", br)
        # A bridge takes the lowest MAC of its ports unless given one (LAB-FACTS).
        netns._ip("link", "set", br, "address", mac)
        netns._ip("addr", "add", st["bridge_ip"], "dev", br)
        netns._ip("link", "set", br, "up")
        plen = st["mgmt_subnet"].split("/")[1]
        for i, (name, n) in enumerate(st["nodes"].items(), 1):
            netns.add_netns(n["netns"])
            self._made(st, "netns", n["netns"])
            netns._ip("link", "add", n["mgmt_if"], "type", "veth", "peer", "name", "eth0", "netns", n["netns"])
            self._made(st, "link", n["mgmt_if"])
            netns._ip("link", "set", n["mgmt_if"], "master", br, "up")
            netns._ip("-n", n["netns"], "addr", "add", f"{n['mgmt_ip']}/{plen}", "dev", "eth0")
            netns._ip("-n", n["netns"], "link", "set", "eth0", "up")
            if progress:
                progress("namespaces", i, len(st["nodes"]))
        for ln in st["links"]:
            (na, ia), (nb, ib) = ln["a"], ln["b"]
            ta, tb = ln["tmp"]
            nsa, nsb = st["nodes"][na]["netns"], st["nodes"][nb]["netns"]
            netns._ip("link", "add", ta, "mtu", str(DATA_MTU), "type", "veth", "peer", "name", tb, "mtu", str(DATA_MTU))
            netns._ip("link", "set", ta, "netns", nsa)
            netns._ip("link", "set", tb, "netns", nsb)
            netns._ip("-n", nsa, "link", "set", ta, "name", ia)
            netns._ip("-n", nsb, "link", "set", tb, "name", ib)
            for node, ifn, ns in ((na, ia, nsa), (nb, ib, nsb)):
                if ln.get("addr"):
                    netns._ip("-n", ns, "addr", "add", ln["addr"][node], "dev", ifn)
                netns._ip("-n", ns, "link", "set", ifn, "up")
        self._infrastructure(st)
        self._physical(st)

    def _physical(self, st: dict) -> None:
        """Tell each OLT's agent which ONUs are plugged into it (serial → its port)."""
        for name, n in st["nodes"].items():
            if n["role"] != "olt":
                continue
            onus = {}
            for ln in st["links"]:
                for me, other in ((ln["a"], ln["b"]), (ln["b"], ln["a"])):
                    serial = st["nodes"][other[0]]["labels"].get("fullbars.onu-serial")
                    if me[0] == name and serial:
                        onus[serial] = me[1]
            Path(n["state_dir"]).mkdir(parents=True, exist_ok=True)
            (Path(n["state_dir"]) / "physical.json").write_text(json.dumps({"onus": onus}, indent=2))

    def _infrastructure(self, st: dict) -> None:
        """Server namespaces route back through their BNG; the BNG forwards. (Not config: the
        lab's own plumbing, like the cable to the data center.)"""
        for name, n in st["nodes"].items():
            if n["role"] in ROUTERS:
                netns.netns_exec(n["netns"], ["sysctl", "-qw", "net.ipv4.ip_forward=1"], check=True)
            if n["role"] == "server":
                for ln in st["links"]:
                    ends = {ln["a"][0]: ln["a"][1], ln["b"][0]: ln["b"][1]}
                    if name in ends and ln.get("addr"):
                        peer = next(x for x in ends if x != name)
                        gw = ln["addr"][peer].split("/")[0]
                        netns._ip("-n", n["netns"], "route", "replace", "default", "via", gw)

    def _start_agents(self, st: dict, names: list[str], timeout: float, progress) -> None:
        env = dict(os.environ, **{LAB_PASSWORD_ENV: st["password"]})
        devsim = [nm for nm in names if st["nodes"][nm]["agent"] == "devsim"]
        if devsim:
            self._fork_devsim(st, devsim, env)
        netconfd = [nm for nm in names if st["nodes"][nm]["agent"] == "netconfd"]
        with ThreadPoolExecutor(max_workers=8) as pool:  # each waits ~0.3 s for its own hello
            list(pool.map(lambda nm: self._start_netconfd(st, nm, timeout), netconfd))
        if netconfd and not any(m == ["user", st["user"]] for m in st["made"]):
            st["made"].append(["user", st["user"]])
        self.save_state(st)
        self._wait_ready(st, names, timeout, progress)

    def _start_netconfd(self, st: dict, name: str, timeout: float) -> None:
        import atexit

        from orchestrator.lab.netconfd import YUMA_IETF, NetconfdAgent

        n = st["nodes"][name]
        Path(n["state_dir"]).mkdir(parents=True, exist_ok=True)
        kind = KINDS.get(n["kind"])
        own = [str(settings.OWN_YANG / "devices" / f"{m}.yang") for m, _ in kind.modules
               if (settings.OWN_YANG / "devices" / f"{m}.yang").exists()]
        # Standard modules netconfd loads from its own library (by file: see LAB-FACTS).
        own += [str(p) for m in kind.lab.get("netconfd-modules", []) for p in sorted(YUMA_IETF.glob(f"{m}@*.yang"))]
        agent = NetconfdAgent(n["short"], n["state_dir"], n["mgmt_ip"], int(st["mgmt_subnet"].split("/")[1]),
                              st["bridge_ip"].split("/")[0], username=st["user"], password=st["password"],
                              modules=own, netns=n["netns"], hello_timeout=timeout)
        agent.start()
        n["pids"] = list(agent.pids.values())
        record_started(st, n["pids"])
        n["socket"] = str(agent.socket_path)
        agent._procs.clear()  # the lab owns these pids now; the object must not stop them
        atexit.unregister(agent.stop)

    def _fork_devsim(self, st: dict, names: list[str], env: dict) -> None:
        """All devsim nodes from one command that compiles the models once and forks a process per
        node into the node's namespace; their pids come back in <state>/devsim.pid."""
        fleet = {"devices": [{"name": nm, "kind": st["nodes"][nm]["kind"], "netns": st["nodes"][nm]["netns"],
                              "listen": f"{st['nodes'][nm]['mgmt_ip']}:{NETCONF_PORT}",
                              "state": st["nodes"][nm]["state_dir"]} for nm in names]}
        f = self.dir / "devsim-fleet.json"
        f.write_text(json.dumps(fleet))
        for nm in names:
            (Path(st["nodes"][nm]["state_dir"]) / "devsim.pid").unlink(missing_ok=True)
        r = subprocess.run([sys.executable, "-m", "orchestrator", "devsim", "--fleet", str(f), "--fork",
                            "--user", st["user"], "--password-env", LAB_PASSWORD_ENV],
                           env=env, cwd=settings.REPO, capture_output=True, text=True, timeout=120)
        if r.returncode != 0:
            raise FullbarsError(f"lab {st['name']}: devsim could not start: {r.stderr.strip()[-500:]}")
        deadline = time.monotonic() + 30
        for nm in names:
            pidfile = Path(st["nodes"][nm]["state_dir"]) / "devsim.pid"
            while not pidfile.exists() and time.monotonic() < deadline:
                time.sleep(0.02)
            st["nodes"][nm]["pids"] = [int(pidfile.read_text())] if pidfile.exists() else []
            record_started(st, st["nodes"][nm]["pids"])
        self.save_state(st)

    def _wait_ready(self, st: dict, names: list[str], timeout: float, progress) -> None:
        from orchestrator.netconf.hostkeys import HostKeyError

        todo = [nm for nm in names if st["nodes"][nm]["agent"]]
        deadline = time.monotonic() + timeout
        done = 0

        def one(nm):
            n = st["nodes"][nm]
            while time.monotonic() < deadline:
                if not ours(st, n["pids"]):
                    return nm, "its agent is not running (see its log in " + n["state_dir"] + ")"
                record_hostkey(st, nm)
                try:
                    if st["hostkeys"].get(nm) and hello(n["mgmt_ip"], NETCONF_PORT, st["user"], st["password"],
                                                        tuple(st["hostkeys"][nm]), f"the lab's record ({self.state_file})",
                                                        nm, timeout=5):
                        return nm, None
                except HostKeyError as e:
                    return nm, e.problems[0].message
                time.sleep(0.1)
            return nm, f"no NETCONF hello within {timeout:.0f} s"

        failed = []
        with ThreadPoolExecutor(max_workers=16) as pool:
            for nm, why in pool.map(one, todo):
                done += 1
                if why:
                    failed.append(f"{nm}: {why}")
                if progress:
                    progress("agents answering NETCONF", done, len(todo))
        self.save_state(st)  # the host keys recorded
        if failed:
            raise FullbarsError(f"lab {st['name']}: node(s) never became ready: " + "; ".join(failed),
                                fix="look at the node's log under " + str(self.dir / "nodes"))

    def _start_watcher(self, st: dict) -> None:
        log = open(self.dir / "watcher.log", "ab")
        p = subprocess.Popen([sys.executable, "-m", "orchestrator", "lab", "watch", str(self.state_file)],
                             stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True,
                             cwd=settings.REPO)
        log.close()
        st["watcher"] = p.pid
        record_started(st, [p.pid])
        self.save_state(st)

    def _repair(self, st: dict, timeout: float, progress) -> dict:
        """`up` on a lab that is up: restart what died (agents keep their datastores)."""
        missing = [n["netns"] for n in st["nodes"].values() if not netns.netns_exists(n["netns"])]
        if missing:
            raise FullbarsError(f"lab {st['name']} is half there (namespaces {', '.join(missing)} are gone)",
                                fix=f"fullbars lab down {self.topo.file}, then up again")
        dead = [nm for nm, n in st["nodes"].items() if n["agent"] and len(ours(st, n["pids"])) != len(n["pids"])]
        for nm in dead:
            n = st["nodes"][nm]
            netns.kill_pids(ours(st, n["pids"]) + netns.netns_pids(n["netns"]))
            if n.get("socket"):
                remove_socket(Path(n["socket"]))
        if dead:
            self._start_agents(st, dead, timeout, progress)
        if not ours(st, [st.get("watcher")]):
            self._start_watcher(st)
        st["restarted"] = dead
        return st


def _port_open(host: str, port: int = NETCONF_PORT) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def _agent(name: str, node) -> str:
    """The kind's lab agent, or the node's `fullbars.agent` label: devsim serves every kind;
    netconfd only kinds that name it (it cannot load the BBF or 3GPP models)."""
    default = KINDS.get(node.kind).lab.get("agent", "devsim")
    want = node.labels.get("fullbars.agent", default)
    if want not in ("devsim", default):
        raise FullbarsError(f"node {name}: agent {want!r} cannot serve kind {node.kind}",
                            fix=f"use fullbars.agent: devsim or {default}, or drop the label")
    return want


def open_lab(file: str | Path) -> Lab:
    return Lab(load(file))


def open_record(file_or_name: str | Path) -> LabRecord:
    """The lab of a topology file, or else the recorded lab of that name (its file gone)."""
    if Path(file_or_name).exists():
        return open_lab(file_or_name)
    name = str(file_or_name)
    if "/" not in name and name not in (".", ".."):
        try:
            record = LabRecord(name)
            if record.load_state() is not None:
                return record
        except ValueError:
            pass  # half written by an `up` that was killed: `lab list` does not show it either
    raise FullbarsError("no such topology file, and no recorded lab has that name", file=str(file_or_name),
                        fix="give the lab's .clab.yml, or a name `fullbars lab list` shows")


def recorded_labs() -> list[dict]:
    """Every lab recorded under the lab root, with how much of it is still there: a lab whose
    run was killed before `down` shows here, and `lab down NAME` removes it."""
    out = []
    for state in sorted(lab_root().glob("*/lab.json")):
        try:
            st = json.loads(state.read_text())
            nodes = st["nodes"]
        except (OSError, ValueError, KeyError, TypeError):
            continue  # half written by an `up` that was killed: nothing it names was made yet
        file = st.get("file") or ""
        out.append({"name": state.parent.name, "file": file, "file_exists": bool(file) and Path(file).is_file(),
                    "nodes": len(nodes),
                    "namespaces": sum(netns.netns_exists(n["netns"]) for n in nodes.values()),
                    "watcher": bool(ours(st, [st.get("watcher")]))})
    return out
