"""Checks across devices, read from the rendered configs themselves (so a broken template is
caught, not just a wrong allocation): VLAN pairs agree on both ends of every OLT-BNG link of the
network, no address is used twice, and no PON port carries more assured upstream than its line
rate; then each intent kind's own (Service.cross_check)."""

from __future__ import annotations

import socket
from collections import defaultdict
from operator import itemgetter

from lxml import etree

from orchestrator.errors import Problem
from orchestrator.network.model import Network, rate_text
from orchestrator.services.registry import SERVICES

IF = "urn:ietf:params:xml:ns:yang:ietf-interfaces"
NS = {
    "if": IF,
    "ip": "urn:ietf:params:xml:ns:yang:ietf-ip",
    "subif": "urn:bbf:yang:bbf-sub-interfaces",
    "tag": "urn:bbf:yang:bbf-sub-interface-tagging",
    "xpon": "urn:bbf:yang:bbf-xpon",
    "vani": "urn:bbf:yang:bbf-xponvani",
    "gt": "urn:bbf:yang:bbf-xpongemtcont",
    "fbs": "urn:fullbars:yang:fullbars-bng-subscriber",
}


def _tags(path: str) -> tuple[str, ...]:
    """'if:interface/if:name' → its steps as lxml tags ({namespace}name)."""
    return tuple(f"{{{NS[p]}}}{local}" for p, local in (step.split(":") for step in path.split("/")))


def _each(el, tags: tuple[str, ...]):
    """The elements at this path of child steps under `el`, in document order (el.iterfind with
    prefixes, at a fraction of the cost: a device of 14,400 lines is read here in every plan)."""
    first, rest = tags[0], tags[1:]
    for c in el:
        if c.tag == first:
            if rest:
                yield from _each(c, rest)
            else:
                yield c


def _text(el, tags: tuple[str, ...]) -> str | None:
    """el.findtext(path): the first match's text ('' when it has none), None when nothing matches."""
    if len(tags) == 1:
        for c in el:
            if c.tag == tags[0]:
                return c.text or ""
        return None
    for found in _each(el, tags):
        return found.text or ""
    return None


def _entries(tree, tags: tuple[str, str]):
    """The elements at .//parent/child (tags: the two steps' tags) in document order."""
    parent, child = tags
    return (e for e in tree.iter(child) if e.getparent().tag == parent)


def _interfaces(tree):
    """The entries of ietf-interfaces' interface list (.//if:interfaces/if:interface)."""
    return _entries(tree, _INTERFACES)


_INTERFACES = _tags("if:interfaces/if:interface")
_NAME = _tags("if:name")
_LOWER = _tags("subif:subif-lower-layer/subif:interface")
_RULES = _tags("subif:inline-frame-processing/subif:ingress-rule/subif:rule")
_MATCH_TAGS = _tags("subif:flexible-match/tag:match-criteria/tag:tag")
_TAG_INDEX, _TAG_VLAN = _tags("tag:index"), _tags("tag:dot1q-tag/tag:vlan-id")
_OUTER, _INNER, _PARENT = _tags("fbs:outer-vlan"), _tags("fbs:inner-vlan"), _tags("fbs:parent-interface")
_IPV4_ADDRESS, _IP, _PREFIX_LENGTH = _tags("ip:ipv4/ip:address"), _tags("ip:ip"), _tags("ip:prefix-length")
_DHCP_CLIENT = _tags("fbs:subscriber/fbs:dhcp-server/fbs:client-address")
_CHANNEL_PAIR = _tags("vani:v-ani/vani:preferred-channel-pair")
_GT_PROFILES = _tags("gt:traffic-descriptor-profiles/gt:traffic-descriptor-profile")
_GT_TCONTS = _tags("gt:tconts/gt:tcont")
_GT_NAME, _GT_ASSURED = _tags("gt:name"), _tags("gt:assured-bandwidth")
_GT_INTERFACE, _GT_PROFILE_REF = _tags("gt:interface-reference"), _tags("gt:traffic-descriptor-profile-ref")
_CLIENT_ADDRESS = _DHCP_CLIENT[-1]
# Found by libxml2's XPath, in C: a BNG of 14,400 lines is read here in every plan that builds it.
_IFACE = "//if:interfaces/if:interface"
_SUB_INTERFACES = etree.XPath(f"{_IFACE}[subif:subif-lower-layer/subif:interface]", namespaces=NS)
_SUBSCRIBERS = etree.XPath(f"{_IFACE}/fbs:subscriber", namespaces=NS)
# (An XPath union of the two address paths is sorted into document order by libxml2 at 30 times
# the cost of the walk: _device_addresses walks instead.)
_ADDRESS_UP = (_IPV4_ADDRESS[0], _INTERFACES[1])
_CLIENT_UP = (_DHCP_CLIENT[1], _DHCP_CLIENT[0], _INTERFACES[1])


def _interface_of(el, up: tuple[str, ...]):
    """The interfaces/interface entry reached from `el` through parents of these tags (nearest
    first, the entry's last), or None when `el` lies elsewhere."""
    for tag in up:
        el = el.getparent()
        if el is None or el.tag != tag:
            return None
    parent = el.getparent()
    return el if parent is not None and parent.tag == _INTERFACES[0] else None


def olt_vlan_pairs(tree) -> dict[str, dict[tuple[int, int], str]]:
    """uplink → {(S, C): sub-interface} for double-tag matches on network-facing sub-interfaces."""
    out: dict[str, dict] = defaultdict(dict)
    for itf in _SUB_INTERFACES(tree):
        lower = _text(itf, _LOWER)
        for rule in _each(itf, _RULES):
            tags = {}
            for tag in _each(rule, _MATCH_TAGS):
                tags[int(_text(tag, _TAG_INDEX))] = _text(tag, _TAG_VLAN)
            if 0 in tags and 1 in tags:
                out[lower][(int(tags[0]), int(tags[1]))] = _text(itf, _NAME)
    return out


def bng_vlan_pairs(tree) -> dict[str, dict[tuple[int, int], str]]:
    out: dict[str, dict] = defaultdict(dict)
    for sub in _SUBSCRIBERS(tree):
        pair = (int(_text(sub, _OUTER)), int(_text(sub, _INNER)))
        out[_text(sub, _PARENT)][pair] = _text(sub.getparent(), _NAME)
    return out


READERS = {"olt": olt_vlan_pairs, "bng": bng_vlan_pairs}
_KINDS_CHECKS = SERVICES.cross_checks()


def facts(role: str, tree) -> dict:
    """What the network-wide checks need from one device's config (computed where it was built)."""
    return {"vlans": dict(READERS[role](tree)) if role in READERS else {},
            "addresses": _device_addresses(tree),
            "tconts": _tcont_load(tree) if role == "olt" else {},
            **{c.name: c.facts(role, tree) for c in _KINDS_CHECKS}}


def check(network: Network, device_facts: dict[str, dict]) -> list[Problem]:
    problems = _vlans(network, device_facts) + _addresses(device_facts) + _pon_capacity(network, device_facts)
    for c in _KINDS_CHECKS:
        problems += c.check(network, device_facts)
    return problems


def _vlans(network: Network, device_facts) -> list[Problem]:
    problems = []
    pairs = {d: f["vlans"] for d, f in device_facts.items()}
    for link in network.links():
        if link.olt not in pairs or link.bng not in pairs:
            continue  # the plan renders both ends of every link it touches
        a = pairs[link.olt].get(link.name, {})
        b = pairs[link.bng].get(link.bng_interface, {})
        for pair in sorted(set(a) - set(b)):
            problems.append(Problem(
                f"VLAN S{pair[0]}/C{pair[1]} is carried by {link.olt} {a[pair]} but {link.bng} "
                f"{link.bng_interface} has no sub-interface for it", path=f"{link.olt}:{link.name}",
                fix="the two templates disagree on the VLAN pair; correct the one that is wrong"))
        for pair in sorted(set(b) - set(a)):
            problems.append(Problem(
                f"VLAN S{pair[0]}/C{pair[1]} is terminated by {link.bng} {b[pair]} but {link.olt} "
                f"{link.name} does not carry it", path=f"{link.bng}:{link.bng_interface}",
                fix="the two templates disagree on the VLAN pair; correct the one that is wrong"))
    return problems


def _device_addresses(tree) -> list[tuple[str, str, str | None]]:
    """(interface, address, prefix length or None for a DHCP client address): interface by
    interface, its IPv4 addresses, then its DHCP client's."""
    out = []
    itf = client = None
    for el in tree.iter(_IPV4_ADDRESS[-1], _CLIENT_ADDRESS):  # in document order, in C
        here = _interface_of(el, _CLIENT_UP if el.tag == _CLIENT_ADDRESS else _ADDRESS_UP)
        if here is None:
            continue
        if here is not itf:  # an interface's leaves come one after another
            if client:
                out.append((f"{name} (DHCP)", client, None))
            itf, name, client = here, _text(here, _NAME), None
        if el.tag == _CLIENT_ADDRESS:
            client = client if client is not None else (el.text or "")
        else:
            out.append((name, _text(el, _IP), _text(el, _PREFIX_LENGTH)))
    if client:
        out.append((f"{name} (DHCP)", client, None))
    return out


def _addresses(device_facts) -> list[Problem]:
    problems = []
    seen: dict[int, tuple[str, str]] = {}
    nets: list[tuple[int, int, int, str, str]] = []  # (first, -last, prefix length, device, interface)
    aton = socket.inet_aton
    for dev, f in sorted(device_facts.items()):
        for name, ip, plen in f["addresses"]:
            # The configs passed YANG validation: every address is a dotted quad.
            value = int.from_bytes(aton(ip), "big")
            if value in seen:
                problems.append(Problem(f"address {ip} is used twice: on {' '.join(seen[value])} and on {dev} {name}",
                                        fix="each address belongs to one interface; check the pools and templates"))
            else:
                seen[value] = (dev, name)
            if plen:
                size = 1 << (32 - int(plen))
                first = value & ~(size - 1)
                nets.append((first, 1 - first - size, int(plen), dev, name))
    nets.sort(key=itemgetter(0, 1))  # stable: devices in name order, an interface's in document order
    for i in range(1, len(nets)):
        na, nb = nets[i - 1], nets[i]
        if nb[0] > -na[1]:
            continue  # the common case, checked first: blocks that do not overlap
        if na[:3] == nb[:3] and _link_ends(nets, i):
            continue  # the two ends of a point-to-point link between two devices
        problems.append(Problem(f"subnet {_cidr(nb)} on {nb[3]} {nb[4]} overlaps {_cidr(na)} on {na[3]} {na[4]}",
                                fix="each line needs its own block; check the pools and templates"))
    return problems


def _link_ends(nets: list, i: int) -> bool:
    """Whether the block nets[i] shares with nets[i - 1] is held by exactly those two, on two devices."""
    key = nets[i][:3]
    return (i < 2 or nets[i - 2][:3] != key) and (i + 1 >= len(nets) or nets[i + 1][:3] != key) \
        and nets[i - 1][3] != nets[i][3]


def _cidr(net: tuple) -> str:
    return f"{socket.inet_ntoa(net[0].to_bytes(4, 'big'))}/{net[2]}"


def _tcont_load(t) -> dict[str, int]:
    """Assured upstream of the T-CONTs, summed per channel pair of their v-ANI."""
    tdp = {_text(p, _GT_NAME): int(_text(p, _GT_ASSURED) or 0) for p in _entries(t, _GT_PROFILES)}
    vani_pair = {}
    for itf in _interfaces(t):
        pair = _text(itf, _CHANNEL_PAIR)
        if pair:
            vani_pair[_text(itf, _NAME)] = pair
    load: dict[str, int] = defaultdict(int)
    for tc in _entries(t, _GT_TCONTS):
        pair = vani_pair.get(_text(tc, _GT_INTERFACE))
        load[pair] += tdp.get(_text(tc, _GT_PROFILE_REF), 0)
    return dict(load)


def _pon_capacity(network: Network, device_facts) -> list[Problem]:
    problems = []
    for dev, f in device_facts.items():
        device = network.devices[dev]
        port_of_pair = {p.cpair: p.name for p in device.pon_ports.values()}
        load = {port_of_pair[pair]: bw for pair, bw in f["tconts"].items() if pair in port_of_pair}
        for name, used in sorted(load.items()):
            port = device.pon_ports[name]
            if used > port.up_bps:
                problems.append(Problem(
                    f"{dev} PON {name}: T-CONTs assure {rate_text(used)} upstream, over the line rate "
                    f"{rate_text(port.up_bps)}", fix="move lines to another PON port or lower their rates"))
    return problems
