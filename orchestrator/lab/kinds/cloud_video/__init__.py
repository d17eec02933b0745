"""CloudVideo's part of the lab: a camera host on its own UNI of the line's ONU and a host for
the video platform on the PE (topology.py); the check (checks.py) runs the cameras as UDP
streams at their reserved rate to the platform over the customer's L3VPN while the line's CPE
loads the line upstream, and judges both rates. The data plane is the OLT's (broadband) and the
pe-vpn PE's (dedicated): this part claims no plane."""

from __future__ import annotations

from orchestrator.lab.kinds.base import LabKind
from orchestrator.lab.kinds.cloud_video import checks, topology


class CloudVideoLab(LabKind):
    kind = topology.KIND
    host_roles = (topology.CAMERA, topology.PLATFORM)
    access_roles = (topology.CAMERA,)  # behind the ONU: the customer's own frames, no underlay address
    checked_hosts = (topology.CAMERA,)

    def add(self, manifest: dict, nodes: dict, links: list, hosts: bool) -> None:
        topology.add(manifest, nodes, links, hosts)

    def check(self, manifest, st, only, rates, port0, progress=None):
        return checks.cameras(manifest, st, only, rates, port0, progress)
