"""The registry of lab parts per intent kind; adding one is its package under
orchestrator/lab/kinds/ and one line here."""

from __future__ import annotations

from orchestrator.errors import FullbarsError
from orchestrator.lab.kinds.base import LabKind
from orchestrator.lab.kinds.broadband import BroadbandLab
from orchestrator.lab.kinds.campus import CampusLab
from orchestrator.lab.kinds.cloud_video import CloudVideoLab
from orchestrator.lab.kinds.coverage import CoverageLab
from orchestrator.lab.kinds.dedicated import DedicatedLab
from orchestrator.lab.kinds.fttr import FttrLab


class LabKindRegistry:
    def __init__(self):
        self._by_kind: dict[str, LabKind] = {}
        self._plane_of: dict[str, LabKind] = {}
        self._host_of: dict[str, LabKind] = {}

    def register(self, part: LabKind) -> None:
        if part.kind in self._by_kind:
            raise FullbarsError(f"lab part of intent kind {part.kind!r} is registered twice")
        for role in part.planes:  # a role or a device kind
            if role in self._plane_of:
                raise FullbarsError(f"the data plane of role {role!r} is claimed by the lab parts of "
                                    f"{self._plane_of[role].kind} and {part.kind}")
        for role in part.host_roles:
            if role in self._host_of:
                raise FullbarsError(f"host role {role!r} is claimed by the lab parts of "
                                    f"{self._host_of[role].kind} and {part.kind}")
        self._by_kind[part.kind] = part
        self._plane_of.update({role: part for role in part.planes})
        self._host_of.update({role: part for role in part.host_roles})

    def parts(self) -> list[LabKind]:
        """In registration order: a later part may build on the nodes an earlier one added."""
        return list(self._by_kind.values())

    def plane(self, role: str, kind: str = ""):
        """The plane factory of a node: its device kind's, else its role's, or None (a node
        without a data plane). A kind may claim one device kind of a role another kind plays
        (pe-vpn of the PEs)."""
        key = kind if kind in self._plane_of else role
        part = self._plane_of.get(key)
        return part.planes[key] if part else None

    def has_plane(self, node: dict) -> bool:
        """Whether a lab node (lab.json's entry: role and kind) has a data plane."""
        return self.plane(node["role"], node["kind"]) is not None

    def host_roles(self) -> tuple[str, ...]:
        return tuple(self._host_of)

    def access_roles(self) -> set[str]:
        return {r for p in self._by_kind.values() for r in p.access_roles}

    def router_roles(self) -> set[str]:
        return {r for p in self._by_kind.values() for r in p.router_roles}

    def checked_hosts(self) -> set[str]:
        return {r for p in self._by_kind.values() for r in p.checked_hosts}


LAB_KINDS = LabKindRegistry()
LAB_KINDS.register(BroadbandLab())  # first: FTTR units sit between its ONUs and CPEs
LAB_KINDS.register(FttrLab())
LAB_KINDS.register(CampusLab())
LAB_KINDS.register(DedicatedLab())  # after broadband: its PON sites ride the OLT's plane
LAB_KINDS.register(CoverageLab())
LAB_KINDS.register(CloudVideoLab())  # after broadband and dedicated: its hosts ride their OLT and PE planes
