"""Operational state a simulated device reports in <get>, from its config and its physical
surroundings. An OLT reports which ONUs are present on each channel termination (BBF
bbf-xpon-onu-state) and the oper-status of each v-ANI; the lab tells it which ONU serials are
plugged into it (<state>/physical.json, written by `fullbars lab up`)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from xml.sax.saxutils import escape

from lxml import etree

IF = "urn:ietf:params:xml:ns:yang:ietf-interfaces"
XPON = "urn:bbf:yang:bbf-xpon"
VANI = "urn:bbf:yang:bbf-xponvani"
ONU_STATE = "urn:bbf:yang:bbf-xpon-onu-state"
ONU_TYPES = "urn:bbf:yang:bbf-xpon-onu-types"
IFTYPE = "urn:bbf:yang:bbf-xpon-if-type"
NS = {"if": IF, "xpon": XPON, "vani": VANI}
STARTED = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def present_onus(state_dir: Path) -> dict[str, str]:
    """ONU serial → the port it hangs on, as the lab wired it (empty when nothing is plugged)."""
    try:
        return json.loads((Path(state_dir) / "physical.json").read_text()).get("onus", {})
    except (FileNotFoundError, json.JSONDecodeError):
        return {}


def _itf(name: str, kind: str, up: bool, inner: str = "") -> str:
    return (f"<interface><name>{escape(name)}</name><type xmlns:x=\"{IFTYPE}\">x:{kind}</type>"
            f"<oper-status>{'up' if up else 'down'}</oper-status>"
            f"<statistics><discontinuity-time>{STARTED}</discontinuity-time></statistics>{inner}</interface>")


def _enabled(itf) -> bool:
    """ietf-interfaces `enabled` (default true): a disabled interface is down whatever its medium says."""
    return (itf.findtext(f"{{{IF}}}enabled") or "true").strip() != "false"


def olt_state(running, state_dir: Path) -> str:
    onus = present_onus(state_dir)
    cts, vanis = {}, {}
    for i in running.iterfind(f".//{{{IF}}}interfaces/{{{IF}}}interface"):
        name = i.findtext(f"{{{IF}}}name")
        ct = i.find(f"{{{XPON}}}channel-termination")
        if ct is not None:
            cts[name] = ct.findtext(f"{{{XPON}}}channel-pair-ref")
        va = i.find(f"{{{VANI}}}v-ani")
        if va is not None:
            vanis[name] = (va.findtext(f"{{{VANI}}}expected-serial-number"), va.findtext(f"{{{VANI}}}onu-id"),
                           va.findtext(f"{{{VANI}}}preferred-channel-pair"), _enabled(i))
    out = []
    for ct, pair in sorted(cts.items()):
        entries = []
        for vani, (serial, onu_id, vpair, _) in sorted(vanis.items()):
            if serial in onus and vpair == pair:
                entries.append(
                    f"<onu><detected-serial-number>{escape(serial)}</detected-serial-number>"
                    f"<onu-presence-state xmlns:t=\"{ONU_TYPES}\">t:onu-present-and-on-intended-channel-termination"
                    f"</onu-presence-state>" + (f"<onu-id>{onu_id}</onu-id>" if onu_id else "")
                    + f"<v-ani-ref>{escape(vani)}</v-ani-ref><onu-detected-datetime>{STARTED}</onu-detected-datetime>"
                    f"<onu-state-last-change>{STARTED}</onu-state-last-change></onu>")
        inner = (f"<channel-termination xmlns=\"{XPON}\"><onus-present-on-local-channel-termination "
                 f"xmlns=\"{ONU_STATE}\">{''.join(entries)}</onus-present-on-local-channel-termination>"
                 "</channel-termination>")
        out.append(_itf(ct, "channel-termination", True, inner))
    for vani, (serial, _, _, enabled) in sorted(vanis.items()):
        out.append(_itf(vani, "v-ani", enabled and serial in onus))
    return f'<interfaces-state xmlns="{IF}">{"".join(out)}</interfaces-state>' if out else ""


PROVIDERS = {"olt": olt_state}


def state_xml(device) -> str:
    provider = PROVIDERS.get(device.kind.role)
    return provider(device.ds["running"], device.dir) if provider else ""


SUBIF = "urn:bbf:yang:bbf-sub-interfaces"


def _kernel_names(root, onus: dict[str, str] | None) -> dict[str, str]:
    """Configured interface → the lab interface that carries it. A user sub-interface, its
    olt-v-enet and v-ANI are the PON leg their ONU hangs on (physical.json); other interfaces
    keep their names (an uplink is a kernel interface of that name)."""
    itfs = {i.findtext(f"{{{IF}}}name"): i for i in root.iterfind(f"{{{IF}}}interfaces/{{{IF}}}interface")}
    out = {n: n for n in itfs}
    if not onus:
        return out
    leg_of_vani = {n: onus.get(i.findtext(f"{{{VANI}}}v-ani/{{{VANI}}}expected-serial-number") or "")
                   for n, i in itfs.items() if i.find(f"{{{VANI}}}v-ani") is not None}
    for n, i in itfs.items():
        venet = i.findtext(f"{{{VANI}}}olt-v-enet/{{{VANI}}}lower-layer-interface")
        if venet in leg_of_vani:
            out[n] = leg_of_vani[venet]
    for n, i in itfs.items():
        lower = i.findtext(f"{{{SUBIF}}}subif-lower-layer/{{{SUBIF}}}interface")
        if lower in itfs and out.get(lower) != lower:
            out[n] = out[lower]
    out.update({k: v for k, v in leg_of_vani.items() if v})
    return out


def _counters(dev: str | None) -> tuple[str, str] | None:
    """(in-octets, out-octets) of a kernel interface in this process's namespace, if it exists.
    Seen from the device, rx is what came in on it."""
    if not dev:
        return None
    try:  # /proc/self/net follows this process's network namespace (/sys would need a remount)
        lines = Path("/proc/self/net/dev").read_text().splitlines()[2:]
    except OSError:
        return None
    for line in lines:
        name, _, rest = line.partition(":")
        if name.strip() == dev:
            f = rest.split()
            return f[0], f[8]
    return None


def add_interface_state(root, device) -> None:
    """NMDA: every configured interface also reports its oper-status and statistics (state
    leaves of ietf-interfaces 2018 that a <get> must carry), with the octet counters of the lab
    interface that carries it. An interface is down when disabled; a v-ANI also when its ONU is
    not there."""
    onus = present_onus(device.dir) if device.kind.role == "olt" else None
    carriers = _kernel_names(root, onus)
    for i in root.iterfind(f"{{{IF}}}interfaces/{{{IF}}}interface"):
        if i.find(f"{{{IF}}}oper-status") is not None:
            continue
        up = _enabled(i)
        va = i.find(f"{{{VANI}}}v-ani")
        if va is not None and onus is not None:
            up = up and va.findtext(f"{{{VANI}}}expected-serial-number") in onus
        etree.SubElement(i, f"{{{IF}}}oper-status").text = "up" if up else "down"
        st = etree.SubElement(i, f"{{{IF}}}statistics")
        etree.SubElement(st, f"{{{IF}}}discontinuity-time").text = STARTED
        octets = _counters(carriers.get(i.findtext(f"{{{IF}}}name")))
        if octets:
            etree.SubElement(st, f"{{{IF}}}in-octets").text = octets[0]
            etree.SubElement(st, f"{{{IF}}}out-octets").text = octets[1]


def operational_root(device):
    """The operational datastore: running config with the device's state beside it (interfaces,
    yang-library, netconf-monitoring, the kind's own state)."""
    import copy

    from orchestrator.devsim import state, yanglib

    root = copy.deepcopy(device.ds["running"])
    add_interface_state(root, device)
    # a copy of the sessions: they come and go on the event loop while this runs in a thread
    for text in (yanglib.yang_library(device.models), state.monitoring(device, list(device.sessions.values())),
                 state_xml(device)):
        for c in etree.fromstring(f"<x>{text}</x>"):
            root.append(c)
    return root
