"""ArrearsGrace: lines a policy covers stay in service through a window although their
customers are in arrears; `fullbars suspend --reason arrears` on such a line is held until the
window ends (rollout/suspension.py). The policy renders nothing on any device."""

from __future__ import annotations

from orchestrator import clock
from orchestrator.errors import Problem
from orchestrator.services.base import Placement, Service
from orchestrator.services.selector import covers, describe, unmatched


class ArrearsGrace(Service):
    kind = "ArrearsGrace"
    template = None
    module = "fullbars-arrears-grace"
    top = "arrears-grace"
    overlay = True

    def identity(self, spec: dict) -> dict:
        return {"selector": describe(spec.get("selector", {}))}

    def check(self, intent, ctx) -> list[Problem]:
        spec, out = intent.spec, []
        a = spec["arrears"]
        if a["from"] > a["to"]:
            out.append(Problem(f"arrears from {a['from']} to {a['to']} is an empty window",
                               **intent.where("spec.arrears.to"), fix=f"make `to` {a['from']} or later"))
        if spec["keep-in-service-until"][:7] < a["to"]:
            out.append(Problem(f"keep-in-service-until {spec['keep-in-service-until']} ends before the last month "
                               f"of arrears it covers ({a['to']})", **intent.where("spec.keep-in-service-until"),
                               fix=f"keep lines in service at least to the end of {a['to']}"))
        return out

    @staticmethod
    def covering(spec: dict, line, ctx_olt: str | None) -> bool:
        return covers(spec.get("selector", {}), line.name, line.spec, ctx_olt)

    def place(self, intent, ctx) -> Placement:
        from orchestrator.services.business_broadband import BusinessBroadband

        bb = BusinessBroadband()
        lines = {name: it for name, it in ctx.intents.items() if it.kind == bb.kind}
        covered = sorted(name for name, it in lines.items() if self.covering(intent.spec, it, bb.olt_of(name, ctx)))
        until = intent.spec["keep-in-service-until"]
        resources = {
            "selector": describe(intent.spec.get("selector", {})), "lines": covered,
            "arrears": f"{intent.spec['arrears']['from']} to {intent.spec['arrears']['to']}",
            "in-service-until": until,
            "repay-by": clock.add_months(until, intent.spec.get("repay-months", 3))}
        return Placement(devices={}, resources=resources,
                         warnings=unmatched(intent, covered, {n: it.spec for n, it in lines.items()}))
