"""What an intent kind adds to the lab (a plug-in of orchestrator/lab/kinds/registry.py): the
nodes and links its services need, what its devices' configs mean for the data plane, and its
service checks. The generic lab (generate, runtime, personality, verify, apply's checks) asks
the registry and names no intent kind."""

from __future__ import annotations

from typing import Callable


class LabKind:
    kind = ""  # the intent kind, as services/registry.py knows it
    host_roles: tuple[str, ...] = ()  # fullbars.role of the hosts it adds (the lab file's labels)
    access_roles: tuple[str, ...] = ()  # roles whose links carry customer frames: no underlay address
    router_roles: tuple[str, ...] = ()  # device roles whose namespaces forward
    # device role (or device kind, which wins over its role) -> the plane that turns such a
    # node's committed config into its data plane
    planes: dict[str, Callable] = {}
    # hosts whose services apply checks before the confirming commit (their role)
    checked_hosts: tuple[str, ...] = ()

    def add(self, manifest: dict, nodes: dict, links: list, hosts: bool) -> None:
        """Add the nodes and links this kind's services need to a lab of the plan (hosts=False:
        leave the customers' hosts out, a lab for bulk changes)."""

    def check(self, manifest: dict, st: dict, only: list[str] | None, rates: bool, port0: int,
              progress=None) -> list[dict]:
        """One row per service (or member: a room, a slice) of this kind: its problems, its
        measurements. `only`: service names (or service/member) to check; iperf3 ports from port0."""
        return []
