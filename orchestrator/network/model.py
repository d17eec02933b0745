"""The network description read from YAML (`kind: Network`), validated with fullbars-network.yang."""

from __future__ import annotations

import functools
import hashlib
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path

import cachetools
import netaddr

from orchestrator.devices.registry import KINDS
from orchestrator.documents.envelope import read_envelope
from orchestrator.documents.yamlsrc import read_documents, read_text
from orchestrator.errors import FullbarsError, Problem
from orchestrator.models.instance import Located, to_tree
from orchestrator.models.service_models import service_models
from orchestrator.netconf import NETCONF_PORT
from orchestrator.network.edge import EnterpriseEdge, build_edge
from orchestrator.network.radio import RadioNetwork, load_radio

LINE_RATES = {"gpon": ("2488M", "1244M"), "xgs-pon": ("9953M", "9953M")}
DEFAULT_TENURE_RULE = ((0, "300M"), (3, "500M"), (5, "1000M"))
_UNIT = {"k": 10**3, "M": 10**6, "G": 10**9}


def bps(rate: str) -> int:
    """'500M' → 500000000."""
    return int(rate[:-1]) * _UNIT[rate[-1]]


def route_distinguisher(asn: int, number: int) -> str:
    """RFC 8294's text of a route distinguisher (and of the route target of the same value):
    type 0 (2-byte AS, 4-byte number) where the AS fits two bytes, else type 2 (4-byte AS, 2-byte
    number; the numbers fullbars assigns stay at most 65535)."""
    return f"{0 if asn <= 0xFFFF else 2}:{asn}:{number}"


def rate_text(b: int) -> str:
    for u, f in (("G", 10**9), ("M", 10**6), ("k", 10**3)):
        if b % f == 0:
            return f"{b // f}{u}"
    return str(b)


@dataclass
class PonPort:
    olt: str
    name: str
    type: str
    ct: str
    cpair: str
    cpart: str
    cg: str
    down_bps: int
    up_bps: int
    onu_id: tuple[int, int]
    alloc_id: tuple[int, int]
    gemport: tuple[int, int]
    index: int  # 1-based position on the OLT, used as the xgs-pon-id


@dataclass
class Uplink:
    olt: str
    name: str
    bng: str
    bng_interface: str
    s_vlan: tuple[int, int]


@dataclass
class Device:
    name: str
    kind: str
    role: str
    address: str | None
    port: int
    site: str | None = None
    pon_ports: dict[str, PonPort] = field(default_factory=dict)
    uplinks: dict[str, Uplink] = field(default_factory=dict)


@dataclass
class Pool:
    name: str
    type: str
    prefix: str
    block_length: int
    bngs: tuple[str, ...]


@dataclass
class CampusSite:
    """A site where campus 5G networks are built (network description's campus-site)."""

    name: str
    mcc: str
    mnc: str
    gnbs: list[dict]  # name, gnb-id, max-cells, in order
    core: str
    upf: str
    pe: str
    transport: str
    enterprise_links: str
    ue_pool: str
    ue_block_length: int
    tac: tuple[int, int]
    pci: tuple[int, int]
    sd: tuple[int, int]
    imsi_block: int
    asn: int


@dataclass
class Network:
    name: str
    file: str
    text: str
    digest: str
    devices: dict[str, Device]
    pools: dict[str, Pool]
    tenure_rule: tuple[tuple[int, str], ...]
    username: str
    secret_ref: str | None
    campus: dict[str, CampusSite] = field(default_factory=dict)
    radio: RadioNetwork = field(default_factory=RadioNetwork)
    known_hosts: str | None = None  # as written; relative to the file's directory
    edge: EnterpriseEdge = field(default_factory=lambda: EnterpriseEdge(64512, None, 30))

    def located(self, problems: list[Problem]) -> list[Problem]:
        """Problems about places of this description (data paths) given the lines they are written
        at. A Network keeps no line map: the text is read again (the last few are cached), which
        only a refusal needs (a changed description refused for what its services hold)."""
        mine = [p for p in problems if p.file == self.file and p.line is None]
        if mine:
            _, spec, lines = _validated(self.file, self.text)
            for p in mine:
                _with_line(p, spec, lines)
        return problems

    def olts_at(self, site: str) -> list[Device]:
        return [d for d in self.devices.values() if d.role == "olt" and d.site == site]

    def add_made(self, name: str, kind: str) -> None:
        """A device a service makes, not the network description (a coverage fill's new site):
        known to the plans that place that service, and to those that take it off again."""
        if name not in self.devices:
            self.devices[name] = Device(name, kind, KINDS.get(kind).role, None, NETCONF_PORT)

    def olt_sites(self) -> list[str]:
        """The sites some OLT serves (a PE's or a gNB's site is none of a line's)."""
        return sorted({d.site for d in self.devices.values() if d.role == "olt" and d.site})

    def max_upstream(self, years: int) -> str:
        best = None
        for min_years, rate in self.tenure_rule:
            if years >= min_years:
                best = rate
        return best or self.tenure_rule[0][1]

    def links(self):
        """Every OLT uplink with the BNG port at its other end."""
        for d in self.devices.values():
            yield from d.uplinks.values()


def load_network(path: Path | str, text: str | None = None) -> Network:
    file = str(path)
    if text is None:  # as Path.read_text gives it (universal newlines), with a Problem if it cannot
        text = read_text(path, "network").replace("\r\n", "\n").replace("\r", "\n")
    # The spec is the one _validated keeps for the next call: it is only read here (a Network is
    # made of new objects from its values), never copied (a copy took 24 ms of each plan at 112 devices).
    name, spec, lines = _validated(file, text)
    _check_credentials_namespace(spec, file, lines)
    return _build(name, file, text, spec, lines)


@cachetools.cached(cachetools.LRUCache(maxsize=4), condition=threading.Condition())
def _validated(file: str, text: str) -> tuple[str, dict, dict[str, int]]:
    """(name, spec with its defaults, data path → line) of a description that passes its model;
    a process keeps the last few, so each plan of a server or worker does not parse and validate
    the same text again (a description that fails raises, and is not kept)."""
    docs = read_documents(file, text, "network")
    if len(docs) != 1:
        raise FullbarsError("a network description is one YAML document", file=file,
                            line=docs[1].start_mark.line + 1, fix="keep one document in the file")
    doc = read_envelope(docs[0], file, ["Network"])
    loc = Located(file, "spec")
    tree, problems = to_tree(service_models(), "fullbars-network", "network", doc.spec_node, file, "spec", loc)
    if problems:
        raise FullbarsError(problems)
    spec = tree.print_dict(include_implicit_defaults=True)["network"]
    tree.free()
    lines = {loc.names[k]: v for k, v in loc.lines.items()}
    problems = _written_problems(spec, lines, file)
    if problems:
        raise FullbarsError(problems)
    return doc.name, spec, lines


# Not ranges a network hands out to lines, links or UEs: "this network", loopback, link-local,
# multicast and the limited broadcast. The reserved 240.0.0.0/4 is left to the operator: never
# routed on the Internet, it is what generated networks (network/generate.py) take public pools from.
NOT_UNICAST = tuple(netaddr.IPNetwork(p) for p in ("0.0.0.0/8", "127.0.0.0/8", "169.254.0.0/16", "224.0.0.0/4",
                                                     "255.255.255.255/32"))
# The IDs each PON technology carries, as the BBF models' descriptions give them (ITU-T G.984.3,
# G.9807.1): bbf-xponani's onu-id, bbf-xpongemtcont's alloc-id and gemport-id.
PON_IDS = {"gpon": {"onu-id": (0, 253), "alloc-id": (256, 4095), "gemport": (0, 4095)},
           "xgs-pon": {"onu-id": (0, 1020), "alloc-id": (1024, 16383), "gemport": (1021, 65534)}}
VLAN_IDS = (1, 4094)  # IEEE 802.1Q: 0 and 4095 are reserved


@functools.cache
def _checked_leaves() -> tuple[tuple[tuple[str, ...], str], ...]:
    """(the steps to it from the top, what it is) of each leaf of the description that is
    checked beyond its type: address ranges (ietf-inet-types takes 192.0.2.5/28 and 224.0.0.0/28
    alike), VLAN and PON ID ranges and PON line rates (uint32s and rates to the model). Read
    from the model once, so that a range added to it is checked too."""
    out = []

    def walk(snode, steps):
        name = snode.name()
        here = steps + (name,)
        if snode.keyword() == "leaf":
            parent = steps[-1] if steps else ""
            if snode.type().name().endswith("ipv4-prefix"):
                out.append((here, "prefix"))
            elif name in ("first", "last") and parent in ("vlan", "s-vlan"):
                out.append((here, "vlan"))
            elif name in ("first", "last") and steps[-2:-1] == ("pon-port",) and parent in PON_IDS["gpon"]:
                out.append((here, "pon-id"))
            elif name in ("downstream", "upstream") and steps[-2:] == ("pon-port", "line-rate"):
                out.append((here, "line-rate"))
            return
        if snode.keyword() in ("container", "list"):
            for child in snode.children():
                if not child.config_false():
                    walk(child, here)

    top = next(service_models().ctx.find_path("/fullbars-network:network"))
    for child in top.children():
        walk(child, ())
    return tuple(out)


_STEP = re.compile(r"([^.\[\]]+)(?:\[(\d+)\])?")


def _at(spec: dict, ypath: str, entries: dict) -> tuple[object, tuple]:
    """The value at a YAML path of the description ("spec.olt[0].uplink[1].s-vlan.first") and
    the mappings above it, nearest first. entries: id of a list → its entries in the file's
    order (libyang's keyed lists are not indexed), kept between calls."""
    up, here = (), {"spec": spec}
    for name, index in _STEP.findall(ypath):
        up = (here,) + up
        here = here[name]
        if index:
            if id(here) not in entries:
                entries[id(here)] = list(here)
            here = entries[id(here)][int(index)]
    return here, up[:-1]


def _written_problems(spec: dict, lines: dict[str, int], file: str) -> list[Problem]:
    """What the model's types let through and no device takes, in the values the file writes
    (a default is the model's own): address ranges that are not a unicast range's first
    address, VLAN IDs outside 1..4094, PON IDs outside their technology's, a PON line rate above
    its technology's. They reached the templates, which were blamed, or the lines' configs."""
    out, entries = [], {}
    checked = {"spec." + ".".join(steps): (steps, what) for steps, what in _checked_leaves()}
    last = {steps[-1] for steps, _ in _checked_leaves()}
    # Read from what the file writes (the lines it was read from), not from every instance the
    # model's defaults fill in: 16,000 PON ports written as a name and a type cost nothing here.
    for ypath, line in lines.items():
        if ypath.rpartition(".")[2] not in last:
            continue
        steps, what = checked.get(re.sub(r"\[\d+\]", "", ypath), ((), None))
        if what is None:
            continue
        value, up = _at(spec, ypath, entries)
        at = {"file": file, "line": line, "path": ypath}
        name = steps[-1]
        if what == "prefix":
            net = netaddr.IPNetwork(value)
            if net.ip != net.network:
                out.append(Problem(f"{name} {value} has host bits set", **at,
                                   fix=f"did you mean {net.cidr}? A range names its first address"))
            elif any(net.first <= bad.last and bad.first <= net.last for bad in NOT_UNICAST):
                out.append(Problem(f"{name} {value} is not a unicast range", **at,
                                   fix="give a range of unicast addresses (private ones such as 10.0.0.0/8 "
                                       "and 100.64.0.0/10 are fine); 0/8, 127/8, 169.254/16 and 224/4 are not"))
        elif what == "line-rate":
            kind = up[1]["type"]  # line-rate, then its pon-port
            most = LINE_RATES[kind][0 if name == "downstream" else 1]
            if bps(value) > bps(most):
                out.append(Problem(f"line-rate {name} {value} is above the {most} a {kind} port carries", **at,
                                   fix=f"write {most} or less, or leave line-rate out for {most}"))
        else:
            kind = up[1]["type"] if what == "pon-id" else "VLAN"
            lo, hi = PON_IDS[kind][steps[-2]] if what == "pon-id" else VLAN_IDS
            if not lo <= int(value) <= hi:
                out.append(Problem(f"{steps[-2]} {name} {value} is outside {lo}..{hi}, the {kind} range", **at,
                                   fix=f"use {lo} to {hi}"))
    return out


def _check_credentials_namespace(spec: dict, file: str, lines: dict[str, int]) -> None:
    """Device credentials and customer secrets live in separate namespaces: a device login an
    intent could also name would hand it to whoever writes intents."""
    from orchestrator.netconf.customer_secrets import sources

    ref = spec.get("credentials", {}).get("secret-ref")
    allowed = sources()
    if ref and allowed.covers(ref):
        raise FullbarsError(f"the NETCONF credential {ref} lies among the customer-secret sources "
                            f"({allowed.describe()}), where any intent could name it", file=file,
                            line=lines.get("spec.credentials.secret-ref"), path="spec.credentials.secret-ref",
                            fix="keep device credentials outside the customer-secret sources: another "
                                "variable or file for the NETCONF password, or a narrower allow-list")


def _build(name: str, file: str, text: str, spec: dict, lines: dict[str, int]) -> Network:
    from orchestrator.devices.registry import KINDS

    problems: list[Problem] = []
    devices: dict[str, Device] = {}

    def kind_role(devname, kind, want):
        try:
            k = KINDS.get(kind)
        except FullbarsError as e:
            problems.append(Problem(f"device {devname}: {e.problems[0].message}", file=file,
                                    path=f"spec.{want}[{devname}].kind", fix=e.problems[0].fix))
            return want
        if k.role != want:
            problems.append(Problem(f"device {devname} has kind {kind}, which is a {k.role}, not a {want}",
                                    file=file, path=f"spec.{want}[{devname}].kind"))
        return k.role

    for b in spec.get("bng", []):
        devices[b["name"]] = Device(b["name"], b["kind"], kind_role(b["name"], b["kind"], "bng"), *_management(b))
    bng_ports: dict[tuple[str, str], str] = {}  # (BNG, its port) → the OLT uplink on it
    for i, o in enumerate(spec.get("olt", [])):
        if o["name"] in devices:
            problems.append(Problem(f"device name {o['name']} is used by a BNG and an OLT", file=file,
                                    path=f"spec.olt[{o['name']}]", fix="give every device its own name"))
            continue
        m = o.get("management", {})
        dev = Device(o["name"], o["kind"], kind_role(o["name"], o["kind"], "olt"), m.get("address"),
                     m.get("port", NETCONF_PORT), site=o["site"])
        for number, p in enumerate(o.get("pon-port", []), start=1):
            n = p["name"]
            down_default, up_default = LINE_RATES[p["type"]]
            lr = p.get("line-rate", {})
            # A value written is within its technology's IDs (_written_problems); the model's defaults
            # are XGS-PON's, and a G-PON port keeps the part of them G-PON carries.
            ranges = {k: (max(p[k]["first"], lo), min(p[k]["last"], hi)) for k, (lo, hi) in PON_IDS[p["type"]].items()}
            for k, (lo, hi) in ranges.items():
                if hi < lo:
                    problems.append(Problem(f"{k} range {lo}..{hi} is empty", file=file,
                                            path=f"spec.olt[{o['name']}].pon-port[{n}].{k}",
                                            fix="make last at least first"))
            dev.pon_ports[n] = PonPort(
                olt=o["name"], name=n, type=p["type"],
                ct=p.get("channel-termination", f"ct-{n}"), cpair=p.get("channel-pair", f"cpair-{n}"),
                cpart=p.get("channel-partition", f"cpart-{n}"), cg=p.get("channel-group", f"cg-{n}"),
                down_bps=bps(lr.get("downstream", down_default)), up_bps=bps(lr.get("upstream", up_default)),
                onu_id=ranges["onu-id"], alloc_id=ranges["alloc-id"], gemport=ranges["gemport"], index=number)
        for j, u in enumerate(o.get("uplink", [])):
            held = bng_ports.setdefault((u["bng"], u["bng-interface"]), f"{o['name']} {u['name']}")
            if held != f"{o['name']} {u['name']}":
                where = f"spec.olt[{i}].uplink[{j}].bng-interface"
                problems.append(Problem(f"{u['bng']} port {u['bng-interface']} is already the uplink of {held}; "
                                        f"a BNG port faces one OLT uplink", file=file, line=lines.get(where),
                                        path=where, fix=f"give this uplink another port of {u['bng']}"))
            sv = u.get("s-vlan", {})
            dev.uplinks[u["name"]] = Uplink(o["name"], u["name"], u["bng"], u["bng-interface"],
                                            (sv.get("first", 1001), sv.get("last", 1999)))
        devices[o["name"]] = dev

    for f in spec.get("fttr", []):
        if f["name"] in devices:
            problems.append(Problem(f"device name {f['name']} is used twice", file=file,
                                    path=f"spec.fttr[{f['name']}]", fix="give every device its own name"))
        else:
            devices[f["name"]] = Device(f["name"], f["kind"], kind_role(f["name"], f["kind"], "fttr"),
                                        *_management(f))
    campus = _campus_sites(spec, file, devices, kind_role, problems)
    radio = load_radio(spec.get("radio"), file, devices, problems)
    for g in radio.gnbs.values():
        devices[g.name] = Device(g.name, g.kind, kind_role(g.name, g.kind, "gnb"), g.address, g.port)
    edge = build_edge(spec, file, devices, kind_role, problems, Device, bps)
    for pe in edge.pes.values():
        for link in pe.olt_links.values():
            olt = devices.get(link.olt)
            if olt is not None and link.olt_interface in olt.uplinks:
                problems.append(Problem(
                    f"PE {pe.name}: the link to OLT {link.olt} is on {link.olt_interface}, which is the OLT's uplink "
                    f"to {olt.uplinks[link.olt_interface].bng}", file=file,
                    path=f"spec.enterprise-edge.pe[{pe.name}].olt-link[{link.olt}].olt-interface",
                    fix="give the OLT's link to the PE a port of its own (one port carries one link)"))
        if any(netaddr.IPAddress(pe.router_id) in bad for bad in NOT_UNICAST):
            problems.append(Problem(f"PE {pe.name}: router-id {pe.router_id} is not a unicast address", file=file,
                                    path=f"spec.enterprise-edge.pe[{pe.name}].router-id",
                                    fix="a router-id is the PE's own loopback address: a unicast address such as "
                                        "10.255.0.1 (not 0/8, 127/8, 169.254/16, 224/4 or 255.255.255.255)"))
    if edge.asn in RESERVED_ASNS:
        problems.append(Problem(f"enterprise-edge asn {edge.asn} is reserved ({RESERVED_ASNS[edge.asn]})", file=file,
                                path="spec.enterprise-edge.asn",
                                fix="give the carrier's AS number (a private one: 64512..65534 or "
                                    "4200000000..4294967294)"))
    problems += _management_addresses(devices, spec, file)
    problems += _shared_management(devices, spec, file)

    pools = {}
    for p in spec.get("pool", []):
        length = p.get("block-length") or (29 if p["type"] == "public-static" else 30)
        plen = int(p["prefix"].split("/")[1])
        if length < plen:
            problems.append(Problem(f"pool {p['name']}: block-length /{length} is larger than the prefix "
                                    f"{p['prefix']}", file=file, path=f"spec.pool[{p['name']}].block-length",
                                    fix=f"use a block-length of at least {plen}"))
        pools[p["name"]] = Pool(p["name"], p["type"], p["prefix"], length, tuple(p.get("bng", ())))
    _check_pool_overlap(pools, file, problems)
    _check_range_overlap(pools, campus, edge, file, problems)

    rule = tuple(sorted((r["min-years"], r["max-upstream"])
                        for r in spec.get("policies", {}).get("upstream-by-tenure", []))) or DEFAULT_TENURE_RULE
    if rule[0][0] != 0:
        problems.append(Problem("the upstream-by-tenure rule must start at min-years 0", file=file,
                                path="spec.policies.upstream-by-tenure", fix="add a row with min-years: 0"))
    if problems:
        raise FullbarsError([_with_line(p, spec, lines) for p in problems])
    creds = spec.get("credentials", {})
    return Network(name=name, file=file, text=text, digest=hashlib.sha256(text.encode()).hexdigest(),
                   devices=devices, pools=pools, tenure_rule=rule,
                   username=creds.get("username", "fullbars"), secret_ref=creds.get("secret-ref"),
                   campus=campus, radio=radio, known_hosts=creds.get("known-hosts"), edge=edge)


_KEYED_STEP = re.compile(r"([^.\[\]]+)(?:\[([^\]]*)\])?")


def _with_line(p: Problem, spec: dict, lines: dict[str, int]) -> Problem:
    """A problem that names its place by data path (`spec.enterprise-edge.pe[pe-2].router-id`,
    list entries by key) given the line of that place, or of the nearest place above it the file
    writes (lines are kept by position: `pe[1]`)."""
    if p.line is not None or not p.path or not p.path.startswith("spec"):
        return p
    here, at, best = {"spec": spec}, "", None
    for name, key in _KEYED_STEP.findall(p.path):
        here = here.get(name) if isinstance(here, dict) else None
        if here is None:
            break
        at = f"{at}.{name}" if at else name
        if key:
            entries = list(here) if isinstance(here, list) else []
            i = int(key) if key.isdigit() and int(key) < len(entries) else next(
                (i for i, e in enumerate(entries) if isinstance(e, dict) and e.get("name") == key), None)
            if i is None:
                i = next((i for i, e in enumerate(entries) if isinstance(e, dict) and key in map(str, e.values())), None)
            if i is None:
                break
            here, at = entries[i], f"{at}[{i}]"
        best = lines.get(at, best)
    if best is not None:
        p.line = best
    return p


RESERVED_ASNS = {0: "RFC 7607", 23456: "AS_TRANS, RFC 6793", 65535: "RFC 7300", 4294967295: "RFC 7300"}
_DOTTED = re.compile(r"\d+(\.\d+){3}")


def _written_at(spec: dict, name: str) -> str:
    """The data path of the entry that describes device NAME (`spec.olt[olt-1]`), whichever list
    of the network file holds it; `spec` for one it does not (a site imported from a CSV file)."""
    lists = [("spec.bng", spec.get("bng")), ("spec.olt", spec.get("olt")), ("spec.fttr", spec.get("fttr")),
             ("spec.enterprise-edge.pe", (spec.get("enterprise-edge") or {}).get("pe")),
             ("spec.radio.gnb", (spec.get("radio") or {}).get("gnb"))]
    for c in spec.get("campus-site") or []:
        lists.append((f"spec.campus-site[{c.get('name')}].gnb", c.get("gnb")))
        for role in ("core", "upf", "pe"):
            if isinstance(c.get(role), dict) and c[role].get("name") == name:
                return f"spec.campus-site[{c.get('name')}].{role}"
    for at, entries in lists:
        if any(isinstance(e, dict) and e.get("name") == name for e in entries or []):
            return f"{at}[{name}]"
    return "spec"


# No device answers at these; loopback is fine (a devsim on this machine: 127.0.0.1:8300).
NO_MANAGEMENT = tuple(netaddr.IPNetwork(p) for p in ("0.0.0.0/8", "224.0.0.0/4", "255.255.255.255/32"))


def _management_addresses(devices: dict[str, Device], spec: dict, file: str) -> list[Problem]:
    """A management address written as an IPv4 address must be one (300.1.1.1 is none, though a
    host name may look like it) and one a device can answer at (not 239.1.1.1)."""
    out = []
    for d in devices.values():
        a = d.address
        if a is None or not _DOTTED.fullmatch(a):
            continue
        try:
            bad = any(netaddr.IPAddress(a, flags=netaddr.INET_PTON) in r for r in NO_MANAGEMENT)
            why = "is not a unicast address"
        except (netaddr.AddrFormatError, ValueError):
            bad, why = True, "is not an IPv4 address"
        if bad:
            out.append(Problem(f"device {d.name}: management address {a} {why}", file=file,
                               path=f"{_written_at(spec, d.name)}.management.address",
                               fix="give the address the device's NETCONF server listens on"))
    return out


def _shared_management(devices: dict[str, Device], spec: dict, file: str) -> list[Problem]:
    """Two devices at one management address and port: fullbars would give both configs to one."""
    out, seen = [], {}
    for d in devices.values():
        if d.address is None:
            continue
        other = seen.setdefault((d.address, d.port), d.name)
        if other != d.name:
            out.append(Problem(f"devices {other} and {d.name} have the same management address {d.address} "
                               f"(port {d.port})", file=file, path=f"{_written_at(spec, d.name)}.management.address",
                               fix="give every device its own management address (or NETCONF port)"))
    return out


def _campus_sites(spec: dict, file: str, devices: dict, kind_role, problems: list[Problem]) -> dict:
    import netaddr

    sites = {}
    for c in spec.get("campus-site", []):
        where = f"spec.campus-site[{c['name']}]"
        members = [("gnb", g) for g in c.get("gnb", [])] + \
            [(r, c[r]) for r in ("core", "upf", "pe") if r in c]
        for role, d in members:
            if d["name"] in devices:
                problems.append(Problem(f"device name {d['name']} is used twice", file=file,
                                        path=f"{where}.{role}", fix="give every device its own name"))
                continue
            m = d.get("management", {})
            devices[d["name"]] = Device(d["name"], d["kind"], kind_role(d["name"], d["kind"], role),
                                        m.get("address"), m.get("port", NETCONF_PORT), site=c["name"])
        for r in ("core", "upf", "pe"):
            if r not in c:
                problems.append(Problem(f"campus site {c['name']} has no {r}", file=file, path=where,
                                        fix=f"add {r}: {{name: ...}}"))
        transport = netaddr.IPNetwork(c["transport"])
        need = 1 + len(c.get("gnb", []))
        if transport.size // 4 < need:
            problems.append(Problem(f"transport {c['transport']} holds {transport.size // 4} /30 links; the site "
                                    f"needs {need} (N6 and one N3 per gNB)", file=file,
                                    path=f"{where}.transport", fix="give a larger prefix"))
        ranges = {k: (c[k]["first"], c[k]["last"]) for k in ("tac", "pci", "sd")}
        ue = c["ue-pool"]
        if ue["block-length"] < int(ue["prefix"].split("/")[1]):
            problems.append(Problem(f"ue-pool block-length /{ue['block-length']} is larger than the prefix "
                                    f"{ue['prefix']}", file=file, path=f"{where}.ue-pool.block-length",
                                    fix="use a longer block-length"))
        sites[c["name"]] = CampusSite(
            c["name"], c["plmn"]["mcc"], c["plmn"]["mnc"],
            [{"name": g["name"], "gnb-id": g["gnb-id"], "max-cells": g["max-cells"]} for g in c.get("gnb", [])],
            c.get("core", {}).get("name", ""), c.get("upf", {}).get("name", ""), c.get("pe", {}).get("name", ""),
            c["transport"], c["enterprise-links"], ue["prefix"], ue["block-length"],
            ranges["tac"], ranges["pci"], ranges["sd"], c["imsi-block"], c["asn"])
        shared = [("transport", c["transport"]), ("enterprise-links", c["enterprise-links"]),
                  ("ue-pool", ue["prefix"])]
        for i, (na, pa) in enumerate(shared):
            for nb, pb in shared[i + 1:]:
                if netaddr.IPNetwork(pa).first <= netaddr.IPNetwork(pb).last and \
                        netaddr.IPNetwork(pb).first <= netaddr.IPNetwork(pa).last:
                    problems.append(Problem(f"campus site {c['name']}: {na} {pa} overlaps {nb} {pb}", file=file,
                                            path=f"{where}.{nb}", fix="give each range its own addresses"))
    return sites


def _management(entry: dict) -> tuple[str | None, int]:
    m = entry.get("management", {})
    return m.get("address"), m.get("port", NETCONF_PORT)


def _check_range_overlap(pools: dict[str, Pool], campus: dict, edge, file: str, problems: list[Problem]) -> None:
    """The carrier's address ranges of different uses may not overlap either: a PE-CE link and a
    subscriber's block (or a campus site's UE pool) would be given one address twice. Within one
    use the checks above say it (pools, a campus site's own ranges)."""
    ranges = [("pools", f"pool {p.name}", p.prefix, f"spec.pool[{p.name}].prefix") for p in pools.values()]
    if edge.pe_ce_links:
        ranges.append(("edge", "enterprise-edge pe-ce-links", edge.pe_ce_links, "spec.enterprise-edge.pe-ce-links"))
    for c in campus.values():
        for what, prefix in (("transport", c.transport), ("enterprise-links", c.enterprise_links),
                             ("ue-pool", c.ue_pool)):
            path = f"spec.campus-site[{c.name}].{what}" + (".prefix" if what == "ue-pool" else "")
            ranges.append((f"campus:{c.name}", f"campus site {c.name} {what}", prefix, path))
    nets = [(use, label, netaddr.IPNetwork(prefix), prefix, path) for use, label, prefix, path in ranges]
    for i, (ua, la, na, pa, _) in enumerate(nets):
        for ub, lb, nb, pb, path in nets[i + 1:]:
            if ua != ub and na.first <= nb.last and nb.first <= na.last:
                problems.append(Problem(f"{lb} {pb} overlaps {la} {pa}", file=file, path=path,
                                        fix="give each use of addresses a range of its own"))


def _check_pool_overlap(pools: dict[str, Pool], file: str, problems: list[Problem]) -> None:
    import netaddr

    items = sorted(pools.values(), key=lambda p: netaddr.IPNetwork(p.prefix).first)
    for a, b in zip(items, items[1:]):
        na, nb = netaddr.IPNetwork(a.prefix), netaddr.IPNetwork(b.prefix)
        if nb.first <= na.last:
            problems.append(Problem(f"pools {a.name} ({a.prefix}) and {b.name} ({b.prefix}) overlap",
                                    file=file, path=f"spec.pool[{b.name}].prefix",
                                    fix="give every pool its own address range"))
