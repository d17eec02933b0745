"""A campus UE in the lab: its registration and PDU session are played (orchestrator/services/
campus5g_attach.py) from the running configs read over NETCONF from the lab's devices; only a UE
the network lets on gets the address the SMF's pool gives, a default route to its gNB, and the
gNB a route of that address down the UE's radio leg (what the gNB learns at PDU session resource
set-up). A refused UE keeps no address, so nothing behind it answers."""

from __future__ import annotations

from lxml import etree

from orchestrator.lab import netns
from orchestrator.services.campus5g_attach import UE, Attach, Attached, Refusal, Site


def _run(ns: str, argv: list[str]):
    return netns.netns_exec(ns, argv, capture_output=True, text=True, timeout=30)


class RunningConfigs:
    """Lab devices' running configs over NETCONF, each read once (None: it could not be read)."""

    def __init__(self, st: dict):
        self.st = st
        self.roots: dict[str, object] = {}
        self.errors: dict[str, str] = {}

    def get(self, device: str):
        if device not in self.roots:
            self.roots[device] = self._read(device)
        return self.roots[device]

    def _read(self, device: str):
        from orchestrator.netconf.session import Session, rpc_error_text
        from orchestrator.lab.endpoints import lab_endpoints

        n = self.st["nodes"].get(device)
        if n is None or not n.get("agent"):
            self.errors[device] = "no such device in the lab"
            return None
        try:
            s = Session(lab_endpoints(self.st)[device], n.get("kind"))
        except Exception as e:
            self.errors[device] = rpc_error_text(e)
            return None
        try:
            return etree.fromstring(etree.tostring(s.running()))
        except Exception as e:
            self.errors[device] = rpc_error_text(e)
            return None
        finally:
            s.close()

    def of(self, *devices: str) -> dict:
        return {d: self.get(d) for d in devices}


def radio_leg(st: dict, ue_node: str) -> tuple[str, str, str, str] | None:
    """(gNB node, its radio port, its address there, the UE's address there) of a UE's one link."""
    for ln in st["links"]:
        for me, other in ((ln["a"], ln["b"]), (ln["b"], ln["a"])):
            if me[0] == ue_node:
                addr = ln.get("addr", {})
                return other[0], other[1], addr.get(other[0], "/").split("/")[0], addr.get(ue_node, "/").split("/")[0]
    return None


def attach(st: dict, ue_node: str, plmn: str, snssai: str, dnn: str, site: Site,
           configs: RunningConfigs) -> tuple[Attached | Refusal | None, str]:
    """Play the UE's attach on the gNB it hangs on; set up what an accepted one gets.
    Returns (the outcome, a line for the report)."""
    leg = radio_leg(st, ue_node)
    if leg is None:
        return None, "the UE has no radio link"
    gnb, port, gnb_ip, _ = leg
    ns, gns = st["nodes"][ue_node]["netns"], st["nodes"][gnb]["netns"]
    # whatever an earlier attach gave goes first: a UE refused now must not keep its old address
    for line in _run(ns, ["ip", "-4", "-o", "addr", "show", "dev", "eth1"]).stdout.splitlines():
        cidr = line.split()[3]
        if cidr.endswith("/32"):  # a UE address; the radio leg's own /30 stays
            _run(ns, ["ip", "addr", "del", cidr, "dev", "eth1"])
    _run(ns, ["ip", "route", "flush", "default"])
    _run(gns, ["ip", "route", "flush", "dev", port, "proto", "boot"])
    got = configs.of(gnb, site.core, site.upf)
    out = Attach(got, site).run(UE(plmn, snssai, dnn, gnb))
    if isinstance(out, Refusal):
        why = configs.errors.get(out.device)
        return out, f"attach refused: {out}" + (f" ({why})" if why else "")
    ip = out.address
    p1 = _run(ns, ["ip", "addr", "replace", f"{ip}/32", "dev", "eth1"])
    p2 = _run(ns, ["ip", "route", "replace", "default", "via", gnb_ip, "src", ip])
    p3 = _run(gns, ["ip", "route", "replace", f"{ip}/32", "dev", port, "via", leg[3]])
    bad = next((p for p in (p1, p2, p3) if p.returncode != 0), None)
    return out, "attached" if bad is None else f"attach failed in the lab: {bad.stderr.strip()}"
