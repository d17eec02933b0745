"""Campus5G's part of the lab: transport links, a UE per slice and an enterprise LAN
(topology.py); the gNB's, UPF's and PE's data planes (plane.py); the slice checks (checks.py)."""

from __future__ import annotations

from orchestrator.lab.kinds.base import LabKind
from orchestrator.lab.kinds.campus import checks, topology
from orchestrator.lab.kinds.campus.plane import CampusPlane

KIND = "Campus5G"


class _Node:
    """A campus node's plane as the generic personality drives it: CampusPlane by the node's role."""

    def __init__(self, lab: dict, node: str):
        self.role = lab["nodes"][node]["role"]
        self.plane = CampusPlane(lab["nodes"][node]["netns"])

    def apply(self, root):
        report, failures = self.plane.apply(self.role, root)
        return report, failures, {}


class CampusLab(LabKind):
    kind = KIND
    host_roles = ("ue", "enterprise")
    router_roles = ("gnb", "upf", "pe")
    planes = {"gnb": _Node, "upf": _Node, "pe": _Node}
    checked_hosts = ("ue",)  # apply checks each slice's UE (attach from running configs) before confirming

    def add(self, manifest: dict, nodes: dict, links: list, hosts: bool) -> None:
        topology.add(manifest, nodes, links)

    def check(self, manifest, st, only, rates, port0, progress=None):
        # it checks services in service only
        serving = {k: v for k, v in manifest["services"].items() if v.get("serving", True)}
        return checks.verify({**manifest, "services": serving}, st, rates=rates, only=only, port0=port0)
