"""BusinessBroadband: an ONU on a PON port, an S/C-VLAN pair to the BNG, an address, two rates."""

from __future__ import annotations

import datetime as dt

from orchestrator import clock
from orchestrator.errors import FullbarsError, Problem
from orchestrator.network.model import bps, rate_text
from orchestrator.resources.pools import PoolExhausted
from orchestrator.services.base import Placement, Service
from orchestrator.services.selector import covers

C_VLANS = 4093  # C-VLAN 2..4094 under each S-VLAN; 1 is left to the default VLAN


def whole_years(since: dt.date, today: dt.date) -> int:
    """Full years from `since` to `today` (a customer who joined on 29 February has another year
    on 1 March of a common year); 0 before the first anniversary and for a day still to come."""
    years = today.year - since.year - ((today.month, today.day) < (since.month, since.day))
    return max(0, years)


def _since_problems(intent) -> list[Problem]:
    since = intent.spec.get("customer-since")
    if not since:
        return []
    if "spec.tenure-years" in intent.lines:
        return [Problem("give tenure-years or customer-since, not both: the tenure is counted from "
                        "customer-since", **intent.where("spec.tenure-years"),
                        fix="remove tenure-years (or customer-since, to keep a fixed tenure)")]
    if dt.date.fromisoformat(since) > clock.now().date():  # a day of the calendar: the loader saw to it
        return [Problem(f"customer-since {since} is still to come", **intent.where("spec.customer-since"),
                        fix="write the day the customer joined, today or earlier")]
    return []


def vlan_pair(uplink, idx: int) -> tuple[int, int]:
    """The S/C-VLAN pair the uplink's pair pool hands out as index idx."""
    return uplink.s_vlan[0] + idx // C_VLANS, 2 + idx % C_VLANS


class BusinessBroadband(Service):
    kind = "BusinessBroadband"
    template = "business-broadband"
    neighbours = frozenset({"olt"})  # the PON load of its OLT's ports (port_shares); nothing of the BNG's
    module = "fullbars-business-broadband"
    top = "business-broadband"

    def network_changed(self, old, new, alloc) -> list[Problem]:
        """A line holds the index of its S/C-VLAN pair in its OLT uplink's S-VLAN range: a range
        that starts elsewhere, an uplink renamed, or a range too short for an index held would give
        the lines of that OLT other VLANs on the OLT and the BNG, none of them asked."""
        out = []
        for name, dev in sorted(new.devices.items()):
            was = old.devices.get(name)
            if not dev.uplinks or was is None or not was.uplinks:
                continue
            up, up_was = next(iter(dev.uplinks.values())), next(iter(was.uplinks.values()))
            room = (up.s_vlan[1] - up.s_vlan[0] + 1) * C_VLANS
            moved = []
            for line in sorted(alloc.owners(f"vlan:{name}/{up_was.name}")):
                idx = int(alloc.held(line, "vlan")[1])
                if (up.name, up.s_vlan[0]) != (up_was.name, up_was.s_vlan[0]) or idx >= room:
                    s_vlan, c_vlan = vlan_pair(up_was, idx)
                    moved.append(f"{line} (S-VLAN {s_vlan}, C-VLAN {c_vlan})")
            if moved:
                out.append(Problem(
                    f"{name} uplink {up.name}: S-VLANs {up.s_vlan[0]}..{up.s_vlan[1]} (were {up_was.name} "
                    f"{up_was.s_vlan[0]}..{up_was.s_vlan[1]}) would give {len(moved)} line(s) other VLANs: "
                    + ", ".join(moved[:5]) + (" ..." if len(moved) > 5 else ""), file=new.file,
                    path=f"spec.olt[{name}].uplink[{up.name}].s-vlan",
                    fix="keep the uplink's name and the range's first S-VLAN (the range may grow at its end) "
                        "until those lines are moved to another OLT or deleted"))
        return out

    def identity(self, spec: dict) -> dict:
        return {"customer": spec["customer"], "onu serial": spec["onu"]["serial"]}

    def as_of(self, spec: dict, today: dt.date) -> dict:
        since = spec.get("customer-since")
        if not since:
            return spec
        try:
            day = dt.date.fromisoformat(since)
        except ValueError:
            return spec  # no such day: check() says so
        return {**spec, "tenure-years": whole_years(day, today)}

    # --- rules -------------------------------------------------------------------------
    @staticmethod
    def rates(intent, net) -> tuple[int, int]:
        """The line's own rates, as its intent asks."""
        r = intent.spec.get("rates", {})
        up = r.get("upstream") or net.max_upstream(intent.spec.get("tenure-years", 0))
        return bps(r.get("downstream", "500M")), bps(up)

    def rates_at(self, intent, ctx, olt: str | None, applied: list | None = None) -> tuple[int, int]:
        """The rates the line gets on that OLT: its own, changed by every upgrade that covers it
        and has reached the OLT, oldest upgrade first (applied collects their names)."""
        down, up = self.rates(intent, ctx.network)
        for upg in ctx.overlays("SpeedUpgrade"):
            if covers(upg.spec.get("selector", {}), intent.name, intent.spec, olt, down):
                ctx.intents.note(upg.name)  # reached or not: a wave that reaches it places the line again
            else:
                continue
            if ctx.reaches(upg.name, olt):
                down, up = new_rates(upg.spec, intent.spec, ctx.network, down, up)
                if applied is not None:
                    applied.append(upg.name)
        return down, up

    def shown(self, purpose: str, pool: str, value: str, network) -> tuple[str, str]:
        if purpose == "vlan":  # the pool is vlan:<olt>/<uplink>, the value an index into its pairs
            olt, _, uplink = pool.split(":", 1)[1].partition("/")
            dev = network.devices.get(olt) if network else None
            if dev is not None and uplink in dev.uplinks:
                return "s/c-vlan", "{}/{}".format(*vlan_pair(dev.uplinks[uplink], int(value)))
            return "vlan-pair-index", value  # the network no longer has this uplink
        return purpose, value

    @staticmethod
    def olt_of(name: str, ctx) -> str | None:
        held = ctx.alloc.held(name, "onu-id")
        return held[0].split(":", 1)[1].split("/", 1)[0] if held else None

    def check(self, intent, ctx) -> list[Problem]:
        net, spec, out = ctx.network, intent.spec, []
        out += _since_problems(intent)
        years = spec.get("tenure-years", 0)
        allowed = net.max_upstream(years)
        _, up = self.rates(intent, net)
        if up > bps(allowed):
            rule = ", ".join(f"{y}+ y: {r}" for y, r in net.tenure_rule)
            out.append(Problem(
                f"upstream {spec['rates']['upstream']} is more than {years} year(s) of tenure allow "
                f"({allowed}; rule: {rule})", **intent.where("spec.rates.upstream"),
                fix=f"ask for at most {allowed}, or correct tenure-years"))
        site = spec["site"]
        olts = net.olts_at(site)
        pin = spec.get("placement", {})
        if pin.get("olt"):
            dev = net.devices.get(pin["olt"])
            if dev is None or dev.role != "olt":
                out.append(Problem(f"unknown OLT {pin['olt']!r}", **intent.where("spec.placement.olt"),
                                   fix="OLTs at site %s: %s" % (site, ", ".join(d.name for d in olts) or "none")))
            elif dev.site != site:
                out.append(Problem(f"OLT {dev.name} is at site {dev.site}, not {site}",
                                   **intent.where("spec.placement.olt"),
                                   fix=f"use an OLT at {site} or correct the site"))
            elif pin.get("pon-port") and pin["pon-port"] not in dev.pon_ports:
                out.append(Problem(f"OLT {dev.name} has no PON port {pin['pon-port']!r}",
                                   **intent.where("spec.placement.pon-port"),
                                   fix="ports: " + _short_list(dev.pon_ports)))
        elif not olts:
            out.append(Problem(f"no OLT serves site {site!r}", **intent.where("spec.site"),
                               fix=f"sites OLTs serve: {', '.join(net.olt_sites()) or 'none'}"))
        if not out:
            out += self._check_line_rate(intent, net, olts, pin)
        pool = spec.get("addressing", {}).get("pool")
        mode = spec.get("addressing", {}).get("mode", "dhcp")
        if pool:
            p = net.pools.get(pool)
            want = "public-static" if mode == "static" else "subscriber"
            if p is None:
                out.append(Problem(f"unknown pool {pool!r}", **intent.where("spec.addressing.pool"),
                                   fix="pools of type %s: %s" % (want, ", ".join(
                                       n for n, q in net.pools.items() if q.type == want) or "none")))
            elif p.type != want:
                out.append(Problem(f"pool {pool} is a {p.type} pool; {mode} addressing needs a {want} pool",
                                   **intent.where("spec.addressing.pool"), fix="name a pool of the right type"))
        return out

    def _check_line_rate(self, intent, net, olts, pin) -> list[Problem]:
        """A line cannot be faster than the PON port it may land on."""
        if pin.get("olt"):
            olts = [net.devices[pin["olt"]]]
        ports = [p for o in olts for p in o.pon_ports.values()
                 if not pin.get("pon-port") or p.name == pin["pon-port"]]
        if not ports:
            return []
        out = []
        where = f"PON port {ports[0].olt} {ports[0].name}" if len(ports) == 1 else \
            f"any PON port {'of ' + pin['olt'] if pin.get('olt') else 'at site ' + intent.spec['site']}"
        for j, what in enumerate(("downstream", "upstream")):
            asked = self.rates(intent, net)[j]
            fastest = max(p.down_bps if j == 0 else p.up_bps for p in ports)
            if asked > fastest:
                out.append(Problem(f"{what} {rate_text(asked)} is more than {where} carries "
                                   f"({rate_text(fastest)} line rate)", **intent.where(f"spec.rates.{what}"),
                                   fix=f"ask for at most {rate_text(fastest)}"))
        return out

    # --- allocation --------------------------------------------------------------------
    def place(self, intent, ctx) -> Placement:
        net, alloc, name, spec = ctx.network, ctx.alloc, intent.name, intent.spec
        load = ctx.scratch.get("pon-load")
        if load is None:
            load = ctx.scratch["pon-load"] = _PonLoad(lambda key: self.port_shares(ctx, key))
        port = self._choose_port(intent, ctx, load)
        down, up = self.rates_at(intent, ctx, port.olt)
        olt = net.devices[port.olt]
        key = f"{port.olt}/{port.name}"
        onu_id = alloc.take_int(name, "onu-id", f"onu-id:{key}", *port.onu_id, what=f"ONU-IDs on {key}")
        alloc_id = alloc.take_int(name, "alloc-id", f"alloc-id:{key}", *port.alloc_id, what=f"alloc-ids on {key}")
        gem = alloc.take_int(name, "gemport", f"gemport:{key}", *port.gemport, what=f"GEM ports on {key}")
        load.put(name, key, up)

        uplink = next(iter(olt.uplinks.values()))
        s_first, s_last = uplink.s_vlan
        idx = alloc.take_int(name, "vlan", f"vlan:{olt.name}/{uplink.name}", 0,
                             (s_last - s_first + 1) * C_VLANS - 1,
                             what=f"S/C-VLAN pairs on {olt.name} {uplink.name} (S-VLAN {s_first}..{s_last})")
        s_vlan, c_vlan = vlan_pair(uplink, idx)

        bng = net.devices[uplink.bng]
        addressing = spec.get("addressing", {})
        mode = addressing.get("mode", "dhcp")
        pool, block = self._address_block(intent, ctx, bng.name, mode, addressing.get("pool"))
        hosts = list(block.iter_hosts())
        gateway, first_client = hosts[0], hosts[1]
        profile_up, profile_down = f"up-{rate_text(up)}", f"down-{rate_text(down)}"
        common = dict(service=name, customer=spec["customer"], s_vlan=s_vlan, c_vlan=c_vlan,
                      down_bps=down, up_bps=up)
        olt_vars = dict(common, port=port, uplink=uplink, onu_id=onu_id, alloc_id=alloc_id, gemport=gem,
                        serial=spec["onu"]["serial"], tdp=profile_up, shaper=profile_down)
        suspended = name in ctx.suspended
        bng_vars = dict(common, parent=uplink.bng_interface, ifname=f"{uplink.bng_interface}.{s_vlan}.{c_vlan}",
                        mode=mode, gateway=str(gateway), prefix_length=block.prefixlen, client=str(first_client),
                        enabled=not suspended)
        resources = {
            "olt": olt.name, "pon-port": port.name, "onu-serial": spec["onu"]["serial"], "onu-id": onu_id, "alloc-id": alloc_id, "gemport": gem,
            "bng": bng.name, "s-vlan": s_vlan, "c-vlan": c_vlan, "address-pool": pool.name,
            "address-block": str(block.cidr),
            ("customer-addresses" if mode == "static" else "dhcp-address"):
                f"{hosts[1]}-{hosts[-1]}" if mode == "static" else str(first_client),
            "rates": f"{rate_text(down)} down / {rate_text(up)} up",
            "downstream-bps": down, "upstream-bps": up}
        if suspended:
            resources["state"] = "suspended"
        return Placement(devices={olt.name: olt_vars, bng.name: bng_vars}, resources=resources, serving=not suspended)

    def forget(self, intent, ctx) -> None:
        load = ctx.scratch.get("pon-load")
        if load is not None:
            load.drop(intent.name)

    def port_shares(self, ctx, key: str) -> dict[str, int]:
        """Assured upstream held on PON port `key` (olt/port) by the services placed there, as
        the store and this plan have them: line name → bps, and name#i → bps for a service of
        another kind. They are the owners of the port's ONU-IDs and alloc-ids: a share is always
        on a port the service holds one of those of."""
        out = {}
        olt = ctx.network.devices.get(key.split("/", 1)[0])
        ports = [f"{olt.name}/{p}" for p in olt.pon_ports] if olt is not None and olt.role == "olt" else [key]
        # the OLT's other ports are asked for next (a line's candidates): read them in one go
        ctx.alloc.read_owners(ctx.alloc.read_pools(f"{k}:{p}" for p in ports for k in ("onu-id", "alloc-id")))
        owners = ctx.alloc.owners(f"onu-id:{key}") | ctx.alloc.owners(f"alloc-id:{key}")
        ctx.intents.load(owners)
        for name in sorted(owners):
            it = ctx.intents.quiet(name)  # not a lookup of this placement's: no read is noted
            if it is None:  # a removal pending: it is no longer planned
                continue
            if it.kind == self.kind:
                held = ctx.alloc.held(name, "onu-id")
                if held and held[0] == f"onu-id:{key}":
                    out[name] = self.rates_at(it, ctx, key.split("/", 1)[0])[1]
            elif ctx.services is not None:
                for i, (k, bw) in enumerate(ctx.services.by_kind(it.kind).assured_upstream(it, ctx)):
                    if k == key:
                        out[f"{name}#{i}"] = bw
        return out

    def _choose_port(self, intent, ctx, load):
        net, spec, name = ctx.network, intent.spec, intent.name
        load.drop(name)  # its own earlier share must not count against it
        used = load.used
        pin = spec.get("placement", {})
        held = ctx.alloc.held(name, "onu-id")
        candidates = []
        if held:
            olt_name, port_name = held[0].split(":", 1)[1].split("/", 1)
            if (not pin.get("olt") or pin["olt"] == olt_name) and \
                    (not pin.get("pon-port") or pin["pon-port"] == port_name) and \
                    olt_name in net.devices and port_name in net.devices[olt_name].pon_ports:
                candidates = [net.devices[olt_name].pon_ports[port_name]]
        if not candidates:
            self._pin_exists(intent, net, pin)
            olts = [net.devices[pin["olt"]]] if pin.get("olt") else net.olts_at(spec["site"])
            for olt in olts:
                ports = [olt.pon_ports[pin["pon-port"]]] if pin.get("pon-port") else list(olt.pon_ports.values())
                candidates.extend(ports)
        rates_at = {}
        for port in candidates:
            if port.olt not in rates_at:
                rates_at[port.olt] = self.rates_at(intent, ctx, port.olt)
        up_at = {olt: r[1] for olt, r in rates_at.items()}
        refused: dict[str, list[str]] = {}  # why → the ports refused for it
        for port in candidates:
            key = f"{port.olt}/{port.name}"
            down, up = rates_at[port.olt]
            if down > port.down_bps or up > port.up_bps:
                refused.setdefault("a line rate below the line's rates", []).append(f"{port.olt} {port.name}")
                continue
            if used[key] + up > port.up_bps:
                refused.setdefault(f"no room for {rate_text(up)} more assured upstream", []).append(
                    f"{port.olt} {port.name}")
                continue
            if held is None or held[0] != f"onu-id:{key}":
                lo, hi = port.onu_id
                if len(ctx.alloc.used(f"onu-id:{key}")) >= hi - lo + 1:
                    refused.setdefault("no free ONU-ID", []).append(f"{port.olt} {port.name}")
                    continue
            return port
        if len(candidates) == 1:
            port = candidates[0]
            key, up = f"{port.olt}/{port.name}", up_at[port.olt]
            self._fits_line_rate(intent, ctx, port, rates_at[port.olt])
            if used[key] + up > port.up_bps:
                raised = self._raised_by(intent, ctx, port.olt)
                if raised and up > self.rates(intent, net)[1]:  # the upgrade is what does not fit
                    upg = ctx.intents[raised]
                    raise FullbarsError(Problem(
                        f"upgrading line {name} to {rate_text(up)} upstream oversubscribes PON port {port.olt} "
                        f"{port.name}: {rate_text(used[key])} of assured upstream is in use there, over the line "
                        f"rate {rate_text(port.up_bps)} with this line", **upg.where("spec.rates.upstream"),
                        fix=f"lower the upstream rate, or leave {port.olt} out of the selector until lines "
                            f"move off {port.name}"))
                self._upgrade_overfills(intent, ctx, load, port, up)
                raise FullbarsError(Problem(
                    f"PON port {port.olt} {port.name} is oversubscribed: {rate_text(used[key])} of assured "
                    f"upstream is in use and line {name} adds {rate_text(up)}, over the line rate "
                    f"{rate_text(port.up_bps)}", **intent.where("spec.placement"),
                    fix="place the line on another PON port, or lower its upstream rate"))
            raise FullbarsError(Problem(f"PON port {port.olt} {port.name} has no free ONU-ID",
                                        **intent.where("spec.placement"), fix="use another PON port"))
        where = f"OLT {pin['olt']}" if pin.get("olt") else f"site {spec['site']}"
        if not candidates:  # the network describes no OLT there (any more: one taken out of it)
            was = f" (it was on {held[0].split(':', 1)[1]}, which the network no longer describes)" if held else ""
            raise FullbarsError(Problem(
                f"the network description has no PON port at {where} for line {name}{was}",
                **intent.where("spec.placement.olt" if pin.get("olt") else "spec.site"),
                fix="describe an OLT at the site in the network (or give the line's site one that has), or "
                    "delete the line before taking its OLT out"))
        said = "; ".join(f"{why}: {', '.join(ports[:5])}" + (f" and {len(ports) - 5} more" if len(ports) > 5 else "")
                         for why, ports in refused.items())
        fix = "add PON ports or OLTs to the network description"
        if "no free ONU-ID" in refused:
            fix += ", or widen the ports' onu-id ranges"
        if len(refused) > ("no free ONU-ID" in refused):
            fix += ", or lower the line's rates"
        raise FullbarsError(Problem(
            f"no PON port at {where} can take line {name} ({len(candidates)} port(s) checked): {said}",
            **intent.where("spec.site"), fix=fix))

    def _upgrade_overfills(self, intent, ctx, load, port, up: int) -> None:
        """Raises when the line fits its port but for what an upgrade adds to the other lines on
        it: the upgrade is what does not fit (the line blamed was the one placed last)."""
        key, added = f"{port.olt}/{port.name}", {}
        for line, (k, bw) in list(load.by_line.items()):
            other = ctx.intents.get(line)
            if k != key or other is None or other.kind != intent.kind:
                continue
            own = self.rates(other, ctx.network)[1]
            if bw > own and (raised := self._raised_by(other, ctx, port.olt)):
                added.setdefault(raised, []).append((line, bw - own))
        if not added or load.used[key] - sum(b for raised in added.values() for _, b in raised) + up > port.up_bps:
            return
        name, raised = max(added.items(), key=lambda kv: sum(b for _, b in kv[1]))
        lines = ", ".join(f"{line} by {rate_text(b)}" for line, b in sorted(raised))
        raise FullbarsError(Problem(
            f"upgrade {name} oversubscribes PON port {port.olt} {port.name}: it raises {lines}, and with line "
            f"{intent.name}'s {rate_text(up)} that is {rate_text(load.used[key] + up)} of assured upstream, over "
            f"the line rate {rate_text(port.up_bps)}", **ctx.intents[name].where("spec.rates.upstream"),
            fix=f"lower the upstream rate, or leave {port.olt} out of the selector until lines move off {port.name}"))

    def _raised_by(self, intent, ctx, olt: str) -> str | None:
        """The last upgrade that raises the line's upstream on that OLT, if any."""
        applied: list[str] = []
        self.rates_at(intent, ctx, olt, applied)
        raised = [u for u in applied if ctx.intents[u].spec["rates"].get("upstream")]
        return raised[-1] if raised else None

    def _fits_line_rate(self, intent, ctx, port, rates: tuple[int, int]) -> None:
        """The one port a line may use must carry its rates; an upgrade that raised them past the
        port's line rate is what is wrong then."""
        applied: list[str] = []
        self.rates_at(intent, ctx, port.olt, applied)
        own = self.rates(intent, ctx.network)
        for j, what in enumerate(("downstream", "upstream")):
            line_rate = port.down_bps if j == 0 else port.up_bps
            if rates[j] <= line_rate:
                continue
            raised = [u for u in applied if ctx.intents[u].spec["rates"].get(what)]
            blame = ctx.intents[raised[-1]] if raised and rates[j] > own[j] else intent
            raise FullbarsError(Problem(
                f"line {intent.name} would get {rate_text(rates[j])} {what}, more than PON port {port.olt} "
                f"{port.name} carries ({rate_text(line_rate)} line rate)", **blame.where(f"spec.rates.{what}"),
                fix=f"ask for at most {rate_text(line_rate)}" + (
                    f", or leave {intent.name} out of the upgrade's selector" if blame is not intent else
                    ", or place the line on a faster PON port")))

    @staticmethod
    def _pin_exists(intent, net, pin: dict) -> None:
        """A stored line is not checked again; the network description may have lost its pin since."""
        olt = net.devices.get(pin.get("olt") or "")
        if pin.get("olt") and (olt is None or olt.role != "olt"):
            raise FullbarsError(Problem(
                f"line {intent.name} is pinned to OLT {pin['olt']}, which the network description "
                f"{net.file} does not have", **intent.where("spec.placement.olt"),
                fix=f"keep {pin['olt']} in the network description, or re-place the line (another OLT) or delete it"))
        if pin.get("pon-port") and pin["pon-port"] not in olt.pon_ports:
            raise FullbarsError(Problem(
                f"line {intent.name} is pinned to PON port {pin['pon-port']} of {olt.name}, which the network "
                f"description {net.file} does not have", **intent.where("spec.placement.pon-port"),
                fix="keep the port in the network description, or re-place or delete the line"))

    @staticmethod
    def _address_block(intent, ctx, bng: str, mode: str, named: str | None):
        """(pool, block): from the pool the intent names, else from the first pool of the right type
        that the BNG may use and that has a free block. The pool the line already holds a block of
        is tried first, so planning again keeps its address."""
        net, alloc = ctx.network, ctx.alloc
        want = "public-static" if mode == "static" else "subscriber"
        where = "spec.addressing.pool" if named else "spec.addressing"
        if named:
            p = net.pools[named]
            if p.bngs and bng not in p.bngs:
                raise FullbarsError(Problem(
                    f"pool {named} may be used by {', '.join(p.bngs)}, but this line is served by {bng}",
                    **intent.where(where), fix=f"name a {want} pool that {bng} may use, or leave pool out"))
            pools = [p]
        else:
            pools = [p for p in net.pools.values() if p.type == want and (not p.bngs or bng in p.bngs)]
        if not pools:
            raise FullbarsError(Problem(f"no {want} pool may be used by {bng}", **intent.where(where),
                                        fix=f"add a pool of type {want} for {bng} to the network description"))
        held = alloc.held(intent.name, "address")
        pools.sort(key=lambda p: held is None or p.name != held[0])  # stable: otherwise in the file's order
        for p in pools:
            try:
                return p, alloc.take_block(intent.name, "address", p.name, p.prefix, p.block_length)
            except PoolExhausted:
                continue
        tried = "; ".join(f"{p.name} ({p.prefix} in /{p.block_length} blocks)" for p in pools)
        raise FullbarsError(Problem(
            f"no free address block for line {intent.name}: " +
            (f"pool {tried} is full" if named else
             f"every {want} pool {bng} may use is full ({len(pools)} tried: {tried})"), **intent.where(where),
            fix=(f"name another {want} pool, or leave pool out to try every one; " if named else "")
            + f"add a {want} pool for {bng} or widen a prefix in the network description {net.file}, "
              "or delete lines that no longer need their block"))


def new_rates(upgrade: dict, line: dict, net, down: int, up: int) -> tuple[int, int]:
    """A line's rates under an upgrade: never slower than before, and the upstream within what
    the line's tenure allows."""
    r = upgrade["rates"]
    if r.get("upstream"):
        up = max(up, min(bps(r["upstream"]), bps(net.max_upstream(line.get("tenure-years", 0)))))
    return max(down, bps(r["downstream"])), up


class _PonLoad:
    """Assured upstream per PON port, kept as a running sum so placement stays O(ports). A port's
    sum is taken from the services on it the first time it is asked for; a share this plan puts
    or drops before that is settled, and the port's sum leaves it out."""

    def __init__(self, shares):
        self.by_line: dict[str, tuple[str, int]] = {}
        self.settled: set[str] = set()
        self.used = _Sums(self._fill)
        self._shares = shares  # key → {line: bps}

    def _fill(self, key: str) -> int:
        total = 0
        for line, bw in self._shares(key).items():
            if line not in self.settled:
                self.by_line[line] = (key, bw)
                total += bw
        return total

    def put(self, line: str, key: str, bw: int) -> None:
        self.drop(line)
        self.used[key] += bw
        self.by_line[line] = (key, bw)

    def drop(self, line: str) -> None:
        self.settled.add(line)
        old = self.by_line.pop(line, None)
        if old:
            self.used[old[0]] -= old[1]


class _Sums(dict):
    def __init__(self, fill):
        super().__init__()
        self._fill = fill

    def __missing__(self, key):
        value = self[key] = self._fill(key)
        return value


def _short_list(names, n: int = 8) -> str:
    names = list(names)
    return ", ".join(names[:n]) + (f" ... ({len(names)} in all)" if len(names) > n else "")
