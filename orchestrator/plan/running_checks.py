"""The cross-device checks (orchestrator/plan/crosscheck.py: VLAN pairs, addresses, PON capacity,
and per campus site the S-NSSAIs, DNNs and UE pools, N3 end points and routes) run a second
time on what the devices run: after the confirmed commit, before the confirming one. The plan
checked the configs it rendered; this checks what the devices took, which a device's own
defaults or refusals, a config merged with what was already there, or someone else's change can
make different. Each service's kind adds what its own configs must agree on (a campus slice's
UE attach, played from the running configs)."""

from __future__ import annotations

from orchestrator.network.model import Network
from orchestrator.plan import crosscheck
from orchestrator.services.registry import SERVICES


def check(network: Network, running: dict, services=()) -> list[str]:
    """running: device name → its running config (a parsed <data> or <config> element; None if it
    could not be read). services: the plan's services on these devices, each checked by its kind
    (Service.check_running). One line per problem, naming the devices as the plan's checks do."""
    facts = {}
    for dev, root in sorted(running.items()):
        device = network.devices.get(dev)
        if device is not None and root is not None:
            facts[dev] = crosscheck.facts(device.role, root)
    problems = [p.message + (f" (at {p.path})" if p.path else "") for p in crosscheck.check(network, facts)]
    for s in services:
        if s.serving:
            problems += SERVICES.by_kind(s.kind).check_running(s.name, s.resources, running)
    return [f"running configs: {p}" for p in problems]


def checker(network: Network, services=()):
    """The transaction's hook: called with the running configs of every device of the change."""
    return lambda running: check(network, running, services)
