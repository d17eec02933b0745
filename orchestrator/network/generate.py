"""Generate a network description of a given size (examples, labs and benchmarks)."""

from __future__ import annotations

import ipaddress
import itertools

import yaml

# Subscriber /30s: the shared address space first, then private space once a network outgrows it
# (33 BNGs of 16 OLTs, 500,000 lines, need 33 /14s; 100.64.0.0/10 holds 16).
SUBSCRIBER_SPACE = ("100.64.0.0/10", "10.0.0.0/8")


def generate(olts: int, ports: int, bngs: int, sites: int | None = None, pon_type: str = "xgs-pon",
             name: str = "generated") -> str:
    """OLTs spread over sites and BNGs round-robin; pools sized for every possible ONU.

    Public /29 blocks come from the reserved 240.0.0.0/4 (never routed anywhere, so a generated
    network can be as large as a benchmark needs); subscriber /30s from the shared address
    space 100.64.0.0/10, then from 10.0.0.0/8 when there are more BNGs than the shared space holds.
    """
    _check(olts, ports, bngs, sites, pon_type)
    sites = sites or max(1, bngs)
    bng_names = [f"bng-{i + 1}" for i in range(bngs)]
    spec: dict = {
        "credentials": {"username": "fullbars", "secret-ref": "env:FULLBARS_NETCONF_PASSWORD"},
        "olt": [],
        "bng": [{"name": b, "management": {"address": f"198.18.1.{i + 1}"}} for i, b in enumerate(bng_names)],
        "pool": [],
        "policies": {"upstream-by-tenure": [
            {"min-years": 0, "max-upstream": "300M"},
            {"min-years": 3, "max-upstream": "500M"},
            {"min-years": 5, "max-upstream": "1000M"}]},
    }
    for i in range(olts):
        site = f"site-{(i % sites) + 1}"
        bng = bng_names[(i % sites) % bngs]
        spec["olt"].append({
            "name": f"olt-{i + 1}",
            "site": site,
            "management": {"address": str(ipaddress.ip_address("198.18.2.1") + i)},
            "uplink": [{"name": "uplink-1", "bng": bng, "bng-interface": f"eth-olt-{i + 1}"}],
            "pon-port": [{"name": f"1/1/{p + 1}", "type": pon_type} for p in range(ports)],
        })
    # Enough addresses for a full network: 128 ONUs a port, split evenly over the BNGs.
    per_bng = max(1, olts * ports * 128 // bngs + 1)
    public_bits = max(29 - (per_bng - 1).bit_length(), 4)
    sub_bits = max(30 - (per_bng - 1).bit_length(), 8)
    public = ipaddress.ip_network("240.0.0.0/4")
    pub_nets = public.subnets(new_prefix=public_bits) if public_bits > 4 else iter([public])
    sub_nets = itertools.chain.from_iterable(
        space.subnets(new_prefix=sub_bits) for space in map(ipaddress.ip_network, SUBSCRIBER_SPACE)
        if space.prefixlen <= sub_bits)
    public_per_bng = _take(pub_nets, bngs, "public /29s", "240.0.0.0/4", per_bng)
    sub_per_bng = _take(sub_nets, bngs, "subscriber /30s", " and ".join(SUBSCRIBER_SPACE), per_bng)
    for b, pub_net, sub_net in zip(bng_names, public_per_bng, sub_per_bng):
        spec["pool"].append({"name": f"public-{b}", "type": "public-static", "prefix": str(pub_net), "bng": [b]})
        spec["pool"].append({"name": f"subscribers-{b}", "type": "subscriber", "prefix": str(sub_net), "bng": [b]})
    doc = {"apiVersion": "fullbars.io/v1", "kind": "Network", "metadata": {"name": name}, "spec": spec}
    return yaml.safe_dump(doc, sort_keys=False, width=120)


def _check(olts: int, ports: int, bngs: int, sites: int | None, pon_type: str) -> None:
    from orchestrator.errors import FullbarsError, Problem
    from orchestrator.network.model import LINE_RATES

    counts = {"--olts": olts, "--ports": ports, "--bngs": bngs, "--sites": 1 if sites is None else sites}
    problems = [Problem(f"{opt} {n} is not a count", fix=f"give {opt} a whole number from 1")
                for opt, n in counts.items() if n < 1]
    if pon_type not in LINE_RATES:
        problems.append(Problem(f"--type {pon_type!r} is not a PON type",
                                fix=f"give --type {' or --type '.join(sorted(LINE_RATES))}"))
    if problems:
        raise FullbarsError(problems)


def _take(nets, bngs: int, what: str, space: str, per_bng: int) -> list:
    from orchestrator.errors import FullbarsError

    taken = list(itertools.islice(nets, bngs))
    if len(taken) < bngs:
        raise FullbarsError(f"{bngs} BNGs with room for {per_bng} lines each need more {what} than {space} holds",
                            fix="generate fewer OLTs or ports per BNG (the pools are sized for 128 ONUs a port), "
                                "or split the network in two")
    return taken


def lines(per_olt: int, olts: int, sites: int, downstream: str = "300M", upstream: str = "300M",
          prefix: str = "line") -> str:
    """BusinessBroadband intents for a generated network: per_olt lines pinned to each OLT, for
    bulk-change labs and benchmarks. Tenure cycles 0..6 years, every tenth customer is retail."""
    docs = []
    for o in range(olts):
        for k in range(per_olt):
            i = o * per_olt + k
            docs.append(
                f"apiVersion: fullbars.io/v1\nkind: BusinessBroadband\nmetadata:\n  name: {prefix}-{i:05d}\n"
                f"spec:\n  customer: Customer {i}\n  site: site-{(o % sites) + 1}\n"
                f"  customer-class: {'retail' if i % 10 == 9 else 'sme'}\n  onu:\n    serial: GNRT{i:08X}\n"
                f"  rates:\n    downstream: {downstream}\n    upstream: {upstream}\n  tenure-years: {i % 7}\n"
                f"  placement:\n    olt: olt-{o + 1}\n")
    return "---\n".join(docs)
