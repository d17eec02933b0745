"""SpeedUpgrade: new rates for every line a selector covers, as an overlay on the lines' own
intents. It renders nothing itself; its devices are those of the lines it changes, and
`fullbars rollout` takes them in waves of OLTs (the store keeps how far it got)."""

from __future__ import annotations

from collections import Counter

from orchestrator.errors import Problem
from orchestrator.network.model import bps, rate_text
from orchestrator.services.base import Placement, Service
from orchestrator.services.selector import describe, unmatched


class SpeedUpgrade(Service):
    kind = "SpeedUpgrade"
    template = None
    module = "fullbars-speed-upgrade"
    top = "speed-upgrade"
    overlay = True

    def identity(self, spec: dict) -> dict:
        return {"selector": describe(spec.get("selector", {}))}

    def check(self, intent, ctx) -> list[Problem]:
        net, sel, out = ctx.network, intent.spec.get("selector", {}), []
        for i, olt in enumerate(sel.get("olt", [])):
            if olt not in net.devices or net.devices[olt].role != "olt":
                out.append(Problem(f"unknown OLT {olt!r}", **intent.where(f"spec.selector.olt[{i}]"),
                                   fix="OLTs: " + ", ".join(sorted(d.name for d in net.devices.values()
                                                                   if d.role == "olt"))))
        if sel.get("site") and not net.olts_at(sel["site"]):
            out.append(Problem(f"no OLT serves site {sel['site']!r}", **intent.where("spec.selector.site"),
                               fix=f"sites OLTs serve: {', '.join(net.olt_sites()) or 'none'}"))
        r = intent.spec["rates"]
        out += self._check_line_rate(intent, net, sel, r)
        if sel.get("downstream") and bps(sel["downstream"]) >= bps(r["downstream"]) and not r.get("upstream"):
            out.append(Problem(f"lines at {sel['downstream']} would not get faster with {r['downstream']}",
                               **intent.where("spec.rates.downstream"),
                               fix="ask for a downstream rate above the selected lines' rate"))
        return out

    @staticmethod
    def _check_line_rate(intent, net, sel: dict, rates: dict) -> list[Problem]:
        """No line can be faster than the fastest PON port the selector may reach."""
        olts = [d for d in net.devices.values() if d.role == "olt" and
                (not sel.get("olt") or d.name in sel["olt"]) and (not sel.get("site") or d.site == sel["site"])]
        ports = [p for o in olts for p in o.pon_ports.values()]
        out = []
        for what, attr in (("downstream", "down_bps"), ("upstream", "up_bps")):
            if not rates.get(what) or not ports:
                continue
            fastest = max(getattr(p, attr) for p in ports)
            if bps(rates[what]) > fastest:
                out.append(Problem(f"{what} {rates[what]} is more than any PON port the selector reaches carries "
                                   f"({rate_text(fastest)} line rate)", **intent.where(f"spec.rates.{what}"),
                                   fix=f"ask for at most {rate_text(fastest)}"))
        return out

    def place(self, intent, ctx) -> Placement:
        from orchestrator.services.business_broadband import BusinessBroadband

        bb = BusinessBroadband()
        net = ctx.network
        covered, changed, capped = [], [], []
        changed_per_olt: Counter = Counter()
        for name, line in sorted(ctx.intents.items()):
            if line.kind != bb.kind:
                continue
            olt = bb.olt_of(name, ctx)
            applied: list[str] = []
            now = bb.rates_at(line, ctx, olt, applied)  # with every upgrade that reaches it
            if intent.name not in applied:
                continue
            covered.append(name)
            if now != bb.rates(line, net):
                changed_per_olt[olt] += 1
                changed.append(name)
            want_up = intent.spec["rates"].get("upstream")
            if want_up and now[1] < bps(want_up):  # held back by the tenure rule
                capped.append(name)
        devices: dict[str, dict] = {}
        for olt in sorted(changed_per_olt):
            devices[olt] = {}
            for up in net.devices[olt].uplinks.values():
                devices[up.bng] = {}
        r = intent.spec["rates"]
        resources = {
            "selector": describe(intent.spec.get("selector", {})),
            "rates": f"{r['downstream']} down" + (f" / {r['upstream']} up" if r.get("upstream") else ""),
            "lines": covered, "changed-lines": changed,
            "lines-per-olt": dict(sorted(changed_per_olt.items())),
            "olts": sorted(changed_per_olt), "bngs": sorted(d for d in devices if d not in changed_per_olt)}
        if capped:
            resources["upstream-capped-by-tenure"] = capped
        lines = {n: it.spec for n, it in ctx.intents.items() if it.kind == bb.kind}
        return Placement(devices=devices, resources=resources, warnings=unmatched(intent, covered, lines))


