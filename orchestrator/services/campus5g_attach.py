"""A UE's registration and PDU session set-up, played from the devices' running configs: a small
state machine standing in for the radio and NAS, since the lab has neither.

Each step is what the network function would check before it lets the UE on, read from what the
device runs, never from the plan:
  1. cell selection: a cell of the UE's gNB, not locked, broadcasts the UE's PLMN and S-NSSAI;
  2. registration: the AMF carries the S-NSSAI (it would answer Registration Reject without an
     allowed NSSAI), and the NRF carries it (the AMF finds the slice's SMF through the NRF);
  3. PDU session establishment: the SMF carries the S-NSSAI, serves the DNN with that S-NSSAI,
     gives the UE an address from the DNN's UE pool and selects a UPF the UPF device has;
  4. N4 session establishment: that UPF carries the S-NSSAI and serves the same DNN with the
     same S-NSSAI and UE pool;
  5. PDU session resource set-up: the UPF routes the UE pool to the N3 address of the UE's gNB
     (the downlink of the session; the lab has no GTP, so the UPF's route is the tunnel), and the
     gNB's EP_NgU sends uplink to an N3 end point of the UPF.
A refusal names the step, the device and the leaf (a data path, as `drift` prints them) that
refused, with the value found; where two devices disagree both leaves are named."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field, replace

from orchestrator.services.campus5g_checks import NS, static_routes


@dataclass(frozen=True)
class UE:
    """What the UE asks for: its subscription, from the intent (SIM data, not device config)."""

    plmn: str  # "MCC-MNC"
    snssai: str  # "SST-SD", SD upper-case hex
    dnn: str
    gnb: str  # the gNB whose radio the UE hears (its radio leg in the lab)


@dataclass(frozen=True)
class Site:
    core: str  # the device holding the AMF, SMF and NRF
    upf: str


@dataclass
class Refusal:
    step: str
    device: str
    leaf: str
    reason: str

    def __str__(self) -> str:
        return f"{self.step} refused by {self.device} at {self.leaf}: {self.reason}"


@dataclass
class Attached:
    address: str  # the UE's address, from the SMF's pool
    pool: str
    gnb_n3: str  # the gNB's N3 address the UPF routes the pool to
    upf_n3: str  # the UPF's N3 address the gNB sends uplink to
    steps: list[str] = field(default_factory=list)  # what each step found


def _t(el, path: str) -> str | None:
    return el.findtext(path, namespaces=NS) if el is not None else None


def _nssai(el) -> str:
    return f"{_t(el, '{*}sst')}-{(_t(el, '{*}sd') or '-').upper()}"


def _me(root, device: str):
    """The device's ManagedElement and its data path."""
    me = root.find("me:ManagedElement", NS) if root is not None else None
    return me, f"/ManagedElement[id='{_t(me, 'me:id') or device}']"


def _functions(root, device: str, tag: str, name: str):
    me, base = _me(root, device)
    if me is None:
        return []
    return [(fn, f"{base}/{name}[id='{_t(fn, '{*}id')}']") for fn in me.iterfind(tag, NS)]


def _carries(fn, snssai: str) -> bool:
    return snssai in {_nssai(s) for s in fn.iterfind("{*}attributes/{*}sNSSAIList")}


def _plmn_of(el) -> str:
    return f"{_t(el, '{*}mcc')}-{_t(el, '{*}mnc')}"


class Attach:
    """One UE's attach against the running configs (device name → parsed document root)."""

    def __init__(self, configs: dict, site: Site):
        self.configs, self.site = configs, site

    def run(self, ue: UE) -> Attached | Refusal:
        ue = replace(ue, snssai=ue.snssai.upper())  # SD is hex: 00a001 and 00A001 are one slice
        steps: list[str] = []
        for step in (self._cell, self._register, self._session, self._n4, self._resources):
            out = step(ue, steps)
            if isinstance(out, Refusal):
                return out
        return out

    def _config(self, device: str, step: str) -> Refusal | None:
        if self.configs.get(device) is None:
            return Refusal(step, device, "/", "its running config could not be read")
        return None

    # 1. the radio: a cell of the gNB broadcasts the UE's PLMN and S-NSSAI
    def _cell(self, ue: UE, steps: list[str]):
        step = "cell selection"
        if (r := self._config(ue.gnb, step)) is not None:
            return r
        heard = []
        cells = [(c, f"{p}/NRCellDU[id='{_t(c, '{*}id')}']")
                 for du, p in _functions(self.configs[ue.gnb], ue.gnb, "du:GNBDUFunction", "GNBDUFunction")
                 for c in du.iterfind("cell:NRCellDU", NS)]
        for c, path in cells:
            a = c.find("cell:attributes", NS)
            offered = sorted({f"{_plmn_of(p)}/{_nssai(p)}" for p in a.iterfind("cell:pLMNInfoList", NS)}) if a is not None else []
            heard.append(f"{path.rsplit('/', 1)[-1]}: {', '.join(offered) or 'nothing'}")
            if (_t(a, "cell:administrativeState") or "UNLOCKED") == "LOCKED":
                continue
            if f"{ue.plmn}/{ue.snssai}" in offered:
                steps.append(f"{ue.gnb} {path.rsplit('/', 1)[-1]} broadcasts {ue.plmn}/{ue.snssai}")
                return None
        where = (f"{cells[0][1].rsplit('/NRCellDU', 1)[0]}/NRCellDU/attributes/pLMNInfoList" if cells
                 else f"{_me(self.configs[ue.gnb], ue.gnb)[1]}/GNBDUFunction/NRCellDU")
        return Refusal(step, ue.gnb, where, f"no unlocked cell broadcasts PLMN {ue.plmn} S-NSSAI {ue.snssai} "
                                            f"(cells: {'; '.join(heard) or 'none'})")

    # 2. NAS registration: the AMF allows the S-NSSAI, the NRF knows it
    def _register(self, ue: UE, steps: list[str]):
        step = "registration"
        if (r := self._config(self.site.core, step)) is not None:
            return r
        root = self.configs[self.site.core]
        for tag, name in (("amf:AMFFunction", "AMFFunction"), ("nrf:NRFFunction", "NRFFunction")):
            fns = _functions(root, self.site.core, tag, name)
            if not fns:
                return Refusal(step, self.site.core, f"{_me(root, self.site.core)[1]}/{name}",
                               f"there is no {name}")
            if not any(_carries(fn, ue.snssai) for fn, _ in fns):
                fn, path = fns[0]
                has = sorted({_nssai(s) for s in fn.iterfind("{*}attributes/{*}sNSSAIList")})
                return Refusal(step, self.site.core, f"{path}/attributes/sNSSAIList",
                               f"S-NSSAI {ue.snssai} is not among {', '.join(has) or 'none'}")
            steps.append(f"{self.site.core} {name} carries {ue.snssai}")
        return None

    # 3. PDU session establishment at the SMF: DNN, S-NSSAI, an address from its pool, a UPF
    def _session(self, ue: UE, steps: list[str]):
        step = "PDU session establishment"
        root = self.configs[self.site.core]
        fns = _functions(root, self.site.core, "smf:SMFFunction", "SMFFunction")
        served = [(fn, p, d) for fn, p in fns for d in fn.iterfind("fbsd:dnn", NS) if _t(d, "fbsd:name") == ue.dnn]
        if not served:
            return Refusal(step, self.site.core, f"{fns[0][1] if fns else _me(root, self.site.core)[1] + '/SMFFunction'}"
                           f"/dnn[name='{ue.dnn}']", f"no SMF serves DNN {ue.dnn}")
        fn, path, d = served[0]
        if not _carries(fn, ue.snssai):
            has = sorted({_nssai(s) for s in fn.iterfind("{*}attributes/{*}sNSSAIList")})
            return Refusal(step, self.site.core, f"{path}/attributes/sNSSAIList",
                           f"S-NSSAI {ue.snssai} is not among {', '.join(has) or 'none'}")
        dpath = f"{path}/dnn[name='{ue.dnn}']"
        got = _nssai(d.find("fbsd:s-nssai", NS)) if d.find("fbsd:s-nssai", NS) is not None else "none"
        if got != ue.snssai:
            return Refusal(step, self.site.core, f"{dpath}/s-nssai",
                           f"DNN {ue.dnn} is served on S-NSSAI {got}, the UE asks for {ue.snssai}")
        try:
            pool = ipaddress.ip_network(_t(d, "fbsd:ue-pool") or "", strict=False)
            address = str(next(pool.hosts()))
        except (ValueError, StopIteration):
            return Refusal(step, self.site.core, f"{dpath}/ue-pool", f"no address to give from {_t(d, 'fbsd:ue-pool')!r}")
        self.smf = {"pool": str(pool), "pool_leaf": f"{dpath}/ue-pool", "upf": _t(d, "fbsd:upf") or "",
                    "upf_leaf": f"{dpath}/upf", "address": address}
        steps.append(f"{self.site.core} SMF gives {address} from {pool} ({dpath}/ue-pool)")
        return None

    # 4. N4 session establishment at the UPF the SMF selected
    def _n4(self, ue: UE, steps: list[str]):
        step = "N4 session establishment"
        if (r := self._config(self.site.upf, step)) is not None:
            return r
        root = self.configs[self.site.upf]
        me, base = _me(root, self.site.upf)
        fns = _functions(root, self.site.upf, "upf:UPFFunction", "UPFFunction")
        wanted = self.smf["upf"]  # "ManagedElement=upf-1,UPFFunction=UPF-1"
        by_dn = {f"ManagedElement={_t(me, 'me:id')},UPFFunction={_t(fn, '{*}id')}": (fn, p) for fn, p in fns}
        if wanted not in by_dn:
            return Refusal(step, self.site.core, self.smf["upf_leaf"],
                           f"the SMF selects {wanted or 'no UPF'}, which {self.site.upf} does not have "
                           f"(it has {', '.join(sorted(by_dn)) or 'none'})")
        fn, path = by_dn[wanted]
        if not _carries(fn, ue.snssai):
            has = sorted({_nssai(s) for s in fn.iterfind("{*}attributes/{*}sNSSAIList")})
            return Refusal(step, self.site.upf, f"{path}/attributes/sNSSAIList",
                           f"S-NSSAI {ue.snssai} is not among {', '.join(has) or 'none'}")
        d = next((d for d in fn.iterfind("fbu:dnn", NS) if _t(d, "fbu:name") == ue.dnn), None)
        dpath = f"{path}/dnn[name='{ue.dnn}']"
        if d is None:
            return Refusal(step, self.site.upf, dpath, f"the UPF serves no DNN {ue.dnn}")
        got = _nssai(d.find("fbu:s-nssai", NS)) if d.find("fbu:s-nssai", NS) is not None else "none"
        if got != ue.snssai:
            return Refusal(step, self.site.upf, f"{dpath}/s-nssai",
                           f"DNN {ue.dnn} is served on S-NSSAI {got}, the SMF set the session up on {ue.snssai}")
        pool = _t(d, "fbu:ue-pool")
        same = False
        try:
            same = ipaddress.ip_network(pool or "", strict=False) == ipaddress.ip_network(self.smf["pool"])
        except ValueError:
            pass
        if not same:
            return Refusal(step, self.site.upf, f"{dpath}/ue-pool",
                           f"the UPF's UE pool of DNN {ue.dnn} is {pool}, but the SMF gave the UE "
                           f"{self.smf['address']} from {self.smf['pool']} ({self.site.core} {self.smf['pool_leaf']})")
        steps.append(f"{self.site.upf} {path.rsplit('/', 1)[-1]} serves {ue.dnn} on {ue.snssai} with {pool}")
        self.upf_fn = fn
        return None

    # 5. the user plane: the UPF's downlink reaches the UE's gNB, the gNB's uplink reaches the UPF
    def _resources(self, ue: UE, steps: list[str]):
        step = "PDU session resource set-up"
        upf_root, gnb_root = self.configs[self.site.upf], self.configs[ue.gnb]
        ngu = [(ep, f"{p}/EP_NgU[id='{_t(ep, '{*}id')}']")
               for cu, p in _functions(gnb_root, ue.gnb, "cuup:GNBCUUPFunction", "GNBCUUPFunction")
               for ep in cu.iterfind("nrep:EP_NgU", NS)]
        if not ngu:
            return Refusal(step, ue.gnb, f"{_me(gnb_root, ue.gnb)[1]}/GNBCUUPFunction/EP_NgU", "the gNB has no EP_NgU")
        ep, ep_path = ngu[0]
        gnb_n3 = _t(ep, "{*}attributes/{*}localAddress/{*}ipAddress")
        upf_n3 = _t(ep, "{*}attributes/{*}remoteAddress")
        n3s = {_t(e, "{*}attributes/{*}localAddress/{*}ipAddress") for e in self.upf_fn.iterfind("cep:EP_N3", NS)}
        if upf_n3 not in n3s:
            return Refusal(step, ue.gnb, f"{ep_path}/attributes/remoteAddress",
                           f"the gNB sends the user plane to {upf_n3}, which is no N3 address of {self.site.upf} "
                           f"({', '.join(sorted(a for a in n3s if a)) or 'none'})")
        address = ipaddress.ip_address(self.smf["address"])
        routes = sorted(((ipaddress.ip_network(p, strict=False), p, nh) for p, nh in static_routes(upf_root).items()
                         if p and address in ipaddress.ip_network(p, strict=False)), key=lambda r: -r[0].prefixlen)
        leaf = "/routing/control-plane-protocols/control-plane-protocol/static-routes/ipv4/route"
        if not routes:
            return Refusal(step, self.site.upf, leaf, f"no route of the UPF reaches the UE's address {address} "
                                                      f"(pool {self.smf['pool']}): the downlink has nowhere to go")
        _, prefix, nh = routes[0]
        if nh != gnb_n3:
            return Refusal(step, self.site.upf, f"{leaf}[destination-prefix='{prefix}']/next-hop/next-hop-address",
                           f"the UPF sends the downlink of {address} to {nh}, but the UE's gNB {ue.gnb} has its N3 "
                           f"end at {gnb_n3} ({ep_path}/attributes/localAddress)")
        steps.append(f"{self.site.upf} routes {prefix} to {ue.gnb} ({gnb_n3}); {ue.gnb} sends uplink to {upf_n3}")
        return Attached(self.smf["address"], self.smf["pool"], gnb_n3, upf_n3, steps)
