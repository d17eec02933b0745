"""The registry of intent types; adding one is one line here."""

from __future__ import annotations

from orchestrator.errors import FullbarsError
from orchestrator.services.base import CrossCheck, Service
from orchestrator.services.arrears_grace import ArrearsGrace
from orchestrator.services.business_broadband import BusinessBroadband
from orchestrator.services.campus5g import Campus5G
from orchestrator.services.coverage_fill import CoverageFill
from orchestrator.services.cloud_video import CloudVideo
from orchestrator.services.dedicated_line import DedicatedLine
from orchestrator.services.fttr_wifi import FttrWifi
from orchestrator.services.order import Order
from orchestrator.services.sentinel_fleet import SentinelFleet
from orchestrator.services.speed_upgrade import SpeedUpgrade


class ServiceRegistry:
    def __init__(self):
        self._by_kind: dict[str, Service] = {}

    def register(self, svc: Service) -> None:
        if svc.kind in self._by_kind:
            raise FullbarsError(f"intent kind {svc.kind!r} is registered twice")
        self._by_kind[svc.kind] = svc

    def by_kind(self, kind: str) -> Service:
        return self._by_kind[kind]

    def kinds(self) -> list[str]:
        return sorted(self._by_kind)

    def cross_checks(self) -> list[CrossCheck]:
        """Each kind's checks across devices, once (kinds may share one), by name."""
        out: dict[str, CrossCheck] = {}
        for svc in self._by_kind.values():
            c = svc.cross_check
            if c is not None and out.setdefault(c.name, c) is not c:
                raise FullbarsError(f"two cross-checks keep their facts under {c.name!r}")
        return [out[n] for n in sorted(out)]


SERVICES = ServiceRegistry()
SERVICES.register(BusinessBroadband())
SERVICES.register(FttrWifi())
SERVICES.register(SpeedUpgrade())
SERVICES.register(ArrearsGrace())
SERVICES.register(Campus5G())
SERVICES.register(CoverageFill())
SERVICES.register(DedicatedLine())
SERVICES.register(CloudVideo())
SERVICES.register(SentinelFleet())
SERVICES.register(Order())
