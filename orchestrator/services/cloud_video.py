"""CloudVideo: cameras at a business line's site. Their reserved upstream is a T-CONT of its own
on the line's ONU (so it adds to the assured upstream of the PON port), carried as an S/C pair
on the OLT's link to a PE, and routed in an L3VPN of the customer to the cloud video platform."""

from __future__ import annotations

import netaddr

from orchestrator.errors import FullbarsError, Problem
from orchestrator.network.model import bps, rate_text, route_distinguisher
from orchestrator.services import dedicated_access as access
from orchestrator.services.base import Placement, Service
from orchestrator.services.business_broadband import C_VLANS, BusinessBroadband, vlan_pair
from orchestrator.services.dedicated_line import ID_LAST, DedicatedLine

LINE_KIND = BusinessBroadband.kind


def reserved(spec: dict) -> int:
    """The cameras' upstream in bit/s."""
    return spec["cameras"]["count"] * bps(spec["cameras"]["upstream"])


class CloudVideo(Service):
    kind = "CloudVideo"
    template = "cloud-video"
    module = "fullbars-cloud-video"
    top = "cloud-video"
    cross_check = DedicatedLine.cross_check  # its cameras and platform ride dedicated accesses

    shown = DedicatedLine.shown  # its S/C pair on the OLT's link to the PE, as a line's

    def identity(self, spec: dict) -> dict:
        return {"line": spec["line"]}

    def assured_upstream(self, intent, ctx) -> list[tuple[str, int]]:
        held = ctx.alloc.held(intent.name, "alloc-id")  # a T-CONT of its own on the line's ONU
        return [(held[0].split(":", 1)[1], reserved(intent.spec))] if held else []

    def check(self, intent, ctx) -> list[Problem]:
        net, spec, out = ctx.network, intent.spec, []
        line = ctx.intents.get(spec["line"])
        if line is None or line.kind != LINE_KIND:
            lines = sorted(n for n, it in ctx.intents.items() if it.kind == LINE_KIND)
            out.append(Problem(f"no business line {spec['line']!r}", **intent.where("spec.line"),
                               fix="business lines: " + (", ".join(lines[:8]) or "none (plan the line first)")))
        if spec["platform"] not in net.edge.platforms:
            out.append(Problem(f"no platform {spec['platform']!r} in the network description",
                               **intent.where("spec.platform"),
                               fix="platforms: " + (", ".join(net.edge.platforms) or "none (add enterprise-edge "
                                                                                       "platform)")))
        if not net.edge.pe_ce_links:
            out.append(Problem("the enterprise edge has no pe-ce-links range for the VPN's links",
                               **intent.where("spec.platform"), fix="add pe-ce-links under enterprise-edge"))
        subnet = netaddr.IPNetwork(spec["cameras"]["subnet"])
        where = intent.where("spec.cameras.subnet")
        if subnet.ip != subnet.network:
            out.append(Problem(f"subnet {spec['cameras']['subnet']} has host bits set", **where,
                               fix=f"did you mean {subnet.cidr}?"))
        platform = net.edge.platforms.get(spec["platform"])
        if platform and access.overlap(subnet, netaddr.IPNetwork(platform.prefix)):
            out.append(Problem(f"the cameras' subnet {spec['cameras']['subnet']} overlaps the platform's range "
                               f"{platform.prefix}", **where, fix="give the cameras a LAN of their own"))
        if net.edge.pe_ce_links and access.overlap(subnet, netaddr.IPNetwork(net.edge.pe_ce_links)):
            out.append(Problem(f"the cameras' subnet {spec['cameras']['subnet']} overlaps the PE-CE links "
                               f"{net.edge.pe_ce_links}", **where,
                               fix="the cameras' LAN must not use the carrier's link range"))
        count, hosts = spec["cameras"]["count"], max(0, subnet.size - 2)  # less its network and broadcast
        if hosts < count + 1:
            fits = 32 - (count + 2).bit_length()  # count + 3 addresses: hosts, gateway, network, broadcast
            out.append(Problem(f"the cameras' subnet {spec['cameras']['subnet']} has {hosts} host address(es); "
                               f"{count} cameras and their gateway need {count + 1}", **where,
                               fix=f"give a /{fits} or larger, or fewer cameras"))
        if out:
            return out
        return self._fits_line(intent, line, ctx)

    def _fits_line(self, intent, line, ctx) -> list[Problem]:
        """Each set of cameras on a line reserves its own share of the line's upstream."""
        spec = intent.spec
        total, per = reserved(spec), bps(spec["cameras"]["upstream"])
        up = BusinessBroadband.rates(line, ctx.network)[1]
        others = [it for it in self._on_line(ctx, line.name) if it.name != intent.name]
        taken = sum(reserved(it.spec) for it in others)
        if total + taken <= up:
            return []
        beside = f"; with {', '.join(it.name for it in others)} ({rate_text(taken)}) that is " \
            f"{rate_text(total + taken)}" if others else ""
        room = max(0, up - taken) // per
        return [Problem(f"{spec['cameras']['count']} cameras of {rate_text(per)} reserve {rate_text(total)} "
                        f"upstream{beside}; line {line.name} carries {rate_text(up)}",
                        **intent.where("spec.cameras.count"),
                        fix=(f"at most {room} cameras of {rate_text(per)}" if room else "no more cameras")
                        + f", or more upstream on line {line.name}")]

    def _on_line(self, ctx, line: str) -> list:
        """The cameras of every CloudVideo intent on a line, grouped once per plan (kept beside the
        overlays' cache, so a delete forgets it with them)."""
        key = ("overlays", self.kind, "by-line")
        if key not in ctx.scratch:
            by_line: dict[str, list] = {}
            for it in ctx.overlays(self.kind):
                by_line.setdefault(it.spec["line"], []).append(it)
            ctx.scratch[key] = by_line
        return ctx.scratch[key].get(line, [])

    def place(self, intent, ctx) -> Placement:
        net, alloc, name, spec = ctx.network, ctx.alloc, intent.name, intent.spec
        edge, line = net.edge, ctx.intents.get(spec["line"])
        if line is None:  # a stored service whose line is being deleted
            raise FullbarsError(Problem(f"cameras {name} are on line {spec['line']}, which would no longer exist",
                                        **intent.where("spec.line"),
                                        fix=f"delete {name} with the line (fullbars delete {spec['line']} {name})"))
        platform = edge.platforms.get(spec["platform"])
        if platform is None:
            raise FullbarsError(Problem(f"cameras {name} send to platform {spec['platform']}, which the network "
                                        f"description {net.file} does not have", **intent.where("spec.platform"),
                                        fix="keep the platform in the network description, or delete the cameras"))
        # Placed again without being asked when its line changes: it may have been lowered since.
        if problems := self._fits_line(intent, line, ctx):
            raise FullbarsError(problems)
        # The line's own placement (idempotent): where it is in this plan, which may move it
        # (placed before it, the cameras took its old port and stayed on the OLT it left).
        BusinessBroadband().place(line, ctx)
        held = alloc.held(line.name, "onu-id")
        key = held[0].split(":", 1)[1]
        olt_name, port_name = key.split("/", 1)
        port = net.devices[olt_name].pon_ports[port_name]
        link = edge.olt_link(olt_name)
        if link is None:
            raise FullbarsError(Problem(f"line {line.name} is on OLT {olt_name}, which has no link to a PE",
                                        **intent.where("spec.line"),
                                        fix=f"add an olt-link for {olt_name} under a PE of the enterprise edge"))
        total = reserved(spec)
        load = access.pon_load(ctx, name, [key])
        if load[key] + total > port.up_bps:
            raise FullbarsError(Problem(
                f"PON port {olt_name} {port_name} of line {line.name} has no room for the cameras: "
                f"{rate_text(load[key])} of assured upstream is in use and they reserve {rate_text(total)}, over "
                f"the line rate {rate_text(port.up_bps)}", **intent.where("spec.cameras.count"),
                fix="fewer cameras, or move the line to another PON port"))
        alloc_id = alloc.take_int(name, "alloc-id", f"alloc-id:{key}", *port.alloc_id, what=f"alloc-ids on {key}")
        access.note_load(intent, ctx, [(key, total)])
        gem = alloc.take_int(name, "gemport", f"gemport:{key}", *port.gemport, what=f"GEM ports on {key}")
        first, last = link.s_vlan
        idx = alloc.take_int(name, "vlan", f"vlan:{olt_name}/{link.olt_interface}", 0, (last - first + 1) * C_VLANS - 1,
                             what=f"S/C-VLAN pairs on {olt_name} {link.olt_interface}")
        s_vlan, c_vlan = vlan_pair(link, idx)
        pport = edge.pes[platform.pe].ports[platform.port]
        vlan = alloc.take_int(name, "vlan:platform", f"vlan:{pport.pe}/{pport.name}", *pport.vlan,
                              what=f"VLANs on PE {pport.pe} port {pport.name}")
        number = alloc.take_int(name, "rd", f"rd:{edge.asn}", 1, ID_LAST, what=f"route distinguishers of AS {edge.asn}")
        cams = {"site": "cameras", "id": "cameras", "pe": link.pe, "interface": link.pe_interface, "encap": "qinq",
                "svlan": s_vlan, "cvlan": c_vlan, "prefixes": [spec["cameras"]["subnet"]]}
        plat = {"site": platform.name, "id": platform.name, "pe": platform.pe, "interface": platform.port,
                "encap": "dot1q", "vlan": vlan, "prefixes": [platform.prefix]}
        shown, sites = {}, {}
        for a in (cams, plat):
            net_ = alloc.take_block(name, f"pe-ce:{a['id']}", f"pe-ce:{edge.pe_ce_links}", edge.pe_ce_links,
                                    edge.pe_ce_length)
            hosts = [str(h) for h in net_.iter_hosts()] if net_.prefixlen < 31 else [str(net_[0]), str(net_[1])]
            a.update(pe_ip=hosts[0], ce_ip=hosts[1], plen=net_.prefixlen, precedence="primary", preference=10,
                     cir=total, pir=total)
            shown[a["id"]] = f"{a['pe']} {a['interface']} " + (f"S{s_vlan}/C{c_vlan}" if a is cams else f"VLAN {vlan}") \
                + f", {hosts[0]} (PE) - {hosts[1]} (CE) /{net_.prefixlen}"
            # what the lab sets up on each end, as a dedicated line's sites say it
            sites[a["id"]] = {"pe": a["pe"], "pe-interface": a["interface"], "pe-address": hosts[0],
                              "ce-address": f"{hosts[1]}/{net_.prefixlen}", "prefixes": ", ".join(a["prefixes"])}
        sites["cameras"].update(access="pon", olt=olt_name, **{"olt-interface": link.olt_interface,
                                "onu-serial": line.spec["onu"]["serial"], "onu-venet": f"onu-venet-{name}",
                                "s-vlan": s_vlan, "c-vlan": c_vlan})
        sites[platform.name].update(access="fibre", port=platform.port, vlan=vlan)
        rd = route_distinguisher(edge.asn, number)
        customer = line.spec["customer"]
        common = dict(service=name, what="Cloud video", enterprise=customer, layer="l3", p2p=False, rd=rd, rt=rd, vc=None, evi=None,
                      peers=[])
        devices = {}
        for pe in dict.fromkeys((cams["pe"], plat["pe"])):
            devices[pe] = dict(common, pe=pe, router_id=edge.pes[pe].router_id,
                               accesses=[a for a in (cams, plat) if a["pe"] == pe])
        devices[olt_name] = dict(service=name, customer=customer, line=line.name, link=link, alloc_id=alloc_id,
                                 gemport=gem, s_vlan=s_vlan, c_vlan=c_vlan, up_bps=total, tdp=f"up-{rate_text(total)}",
                                 onu_venet=sites["cameras"]["onu-venet"])
        resources = {"line": line.name, "olt": olt_name, "pon-port": port_name, "cameras": spec["cameras"]["count"],
                     "reserved-upstream": rate_text(total), "reserved-upstream-bps": total, "alloc-id": alloc_id,
                     "gemport": gem, "platform": f"{platform.name} {platform.prefix}",
                     "route-distinguisher": f"{edge.asn}:{number}", "accesses": shown,
                     "platform-site": platform.name, "sites": sites}
        return Placement(devices=devices, resources=resources)
