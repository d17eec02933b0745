"""Where devices are: a lab that fullbars runs (addresses and login from its state), or an
environment described by the network file (management addresses, credentials by reference)."""

from __future__ import annotations

from pathlib import Path

from orchestrator.errors import FullbarsError
from orchestrator.lab.endpoints import lab_endpoints
from orchestrator.netconf import hostkeys
from orchestrator.netconf.credentials import resolve
from orchestrator.netconf.session import Endpoint


class Target:
    def __init__(self, label: str, endpoints: dict[str, Endpoint], lab_state: dict | None = None):
        self.label, self.endpoints, self.lab_state = label, endpoints, lab_state

    def endpoint(self, device: str) -> Endpoint:
        try:
            return self.endpoints[device]
        except KeyError:
            raise FullbarsError(f"{self.label} has no device {device}",
                                fix="bring up a lab generated from this plan, or add the device's "
                                    "management address to the network description") from None


def lab_target(lab_file: str | Path) -> Target:
    from orchestrator.lab.runtime import open_lab

    lab = open_lab(lab_file)
    st = lab.load_state()
    if st is None:
        raise FullbarsError(f"lab {lab.topo.name} is not up", fix=f"fullbars lab up {lab_file}")
    return Target(f"lab:{Path(lab_file).resolve()}", lab_endpoints(st, lab.state_file), st)


def network_target(env: str, network) -> Target:
    creds = resolve(network.username, network.secret_ref)
    if network.known_hosts:
        path = Path(network.file).parent / network.known_hosts
        known, where = hostkeys.read_known_hosts(path), f"the known hosts {path}"
    else:  # nothing known: every device is refused, naming the key it presents
        known, where = None, f"a known_hosts file that {network.file} names in spec.credentials.known-hosts"
    eps = {}
    for name, d in network.devices.items():
        if d.address:
            eps[name] = Endpoint(name, d.address, d.port, creds,
                                 hostkeys=hostkeys.known_lines(known, d.address, d.port) if known else (),
                                 hostkeys_from=where)
    return Target(f"env:{env}", eps)


def from_label(label: str, network=None) -> Target:
    """The target a journal row recorded, for recover and rollback."""
    kind, _, rest = label.partition(":")
    if kind == "lab":
        return lab_target(rest)
    if network is None:
        raise FullbarsError(f"target {label} needs the network description", fix="pass --network FILE")
    return network_target(rest, network)
