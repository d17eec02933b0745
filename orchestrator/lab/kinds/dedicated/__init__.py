"""DedicatedLine's part of the lab: the PE backbone, the OLT-PE links and a CE per site
(topology.py); the pe-vpn PEs' data plane: accesses, VPN cores, bridges and VPN tables from
their running L2NM/L3NM configs (plane.py); the site checks: reach inside a line, isolation
from every other line, the CIR measured (checks.py). A PON site's ONU leg and its S/C pair
towards the PE are the OLT's plane (the business line's chain)."""

from __future__ import annotations

from orchestrator.lab.kinds.base import LabKind
from orchestrator.lab.kinds.dedicated import checks, topology
from orchestrator.lab.kinds.dedicated.plane import PePlane


class DedicatedLab(LabKind):
    kind = topology.KIND
    host_roles = (topology.CE_PON, topology.CE_FIBRE)
    access_roles = (topology.CE_PON,)  # behind the ONU: the customer's own frames, no underlay address
    planes = {"pe-vpn": PePlane}  # the device kind: other PEs' plane is the campus one (role pe)
    checked_hosts = (topology.CE_PON, topology.CE_FIBRE)  # apply checks reach and isolation before confirming

    def add(self, manifest: dict, nodes: dict, links: list, hosts: bool) -> None:
        topology.add(manifest, nodes, links, hosts)

    def check(self, manifest, st, only, rates, port0, progress=None):
        return checks.lines(manifest, st, only, rates, port0, progress)
