"""The WiFi between a room unit and the host in its room, played from the main unit's running
config: the room's station holds the profile the intent gives (each SSID's name, security and
passphrase) and associates only when the unit offers every one of them with that security mode
and passphrase, enabled, on a band where the room unit has an enabled radio. Co-channel overlap
between the main unit's radios and a room unit's is reported (a plan can give two units
channels in one wide block, so it warns rather than fails)."""

from __future__ import annotations

from orchestrator.errors import FullbarsError
from orchestrator.netconf import customer_secrets
from orchestrator.services.fttr_wifi import SECURITY, span_mhz
from orchestrator.lab.kinds.fttr.plane import NS, _t

BAND = {"2": "2.4GHz", "5": "5GHz", "6": "6GHz"}  # digits of an openconfig-wifi-types FREQ_ identity


def _bands(identity: str | None) -> set[str]:
    """FREQ_2_5_6_GHZ → {2.4GHz, 5GHz, 6GHz}."""
    name = (identity or "").split(":")[-1]
    return {BAND[d] for d in name.removeprefix("FREQ_").removesuffix("GHZ").split("_") if d in BAND}


def _radios(el) -> list[dict]:
    out = []
    for r in el.iterfind("fttr:radio", NS):
        band = next(iter(_bands(_t(r, "fttr:operating-frequency"))), None)
        out.append({"id": _t(r, "fttr:id"), "band": band, "enabled": _t(r, "fttr:enabled") != "false",
                    "channel": int(_t(r, "fttr:channel") or 0), "width": int(_t(r, "fttr:channel-bandwidth") or 20)})
    return out


def room_unit(root, serial: str):
    for i in root.iterfind(".//if:interfaces/if:interface", NS):
        if _t(i, "fttr:room-unit/fttr:expected-serial-number") == serial:
            return i
    return None


def association(root, unit: str, serial: str, ssids: dict) -> list[str]:
    """Why the room's station does not associate with room unit `serial` ([] when it does)."""
    itf = room_unit(root, serial)
    if itf is None:
        return [f"{unit}'s running config has no room unit with expected-serial-number {serial}"]
    name = _t(itf, "if:name")
    if _t(itf, "if:enabled") == "false":
        return [f"room unit {name} is disabled (enabled false)"]
    on = {r["band"] for r in _radios(itf.find("fttr:room-unit", NS)) if r["enabled"]}
    offered = {_t(s, "fttr:name"): s for s in root.iterfind(".//fttr:fttr/fttr:ssid", NS)}
    out = []
    for ssid, prof in sorted(ssids.items()):
        opmode, leaf, _ = SECURITY[prof["security"]]
        s = offered.get(ssid)
        if s is None:
            out.append(f"{unit} offers no SSID {ssid!r}")
            continue
        if _t(s, "fttr:enabled") == "false":
            out.append(f"SSID {ssid!r} is disabled (enabled false)")
        if _t(s, "fttr:opmode") != opmode:
            out.append(f"SSID {ssid!r} has opmode {_t(s, 'fttr:opmode')}, the station expects {opmode} "
                       f"(security {prof['security']})")
        elif _t(s, f"fttr:{leaf}") != _passphrase(prof["passphrase-ref"], out, ssid):
            out.append(f"SSID {ssid!r}: its {leaf} is not the passphrase {prof['passphrase-ref']} holds")
        if not on & _bands(_t(s, "fttr:operating-frequency")):
            out.append(f"room unit {name} has no enabled radio on a band SSID {ssid!r} is offered on "
                       f"(radio enabled false)")
    return list(dict.fromkeys(out))


def _passphrase(ref: str, out: list[str], ssid: str) -> str | None:
    try:
        return customer_secrets.value(ref)
    except FullbarsError as e:
        out.append(f"SSID {ssid!r}: the station's passphrase cannot be read: {e.problems[0].message}")
        return None


def overlaps(root, serial: str) -> list[str]:
    """Co-channel overlap of the room unit's enabled radios with the main unit's."""
    itf = room_unit(root, serial)
    main = root.find(".//fttr:fttr/fttr:main-unit", NS)
    if itf is None or main is None:
        return []
    out = []
    for r in _radios(itf.find("fttr:room-unit", NS)):
        for m in _radios(main):
            if not (r["enabled"] and m["enabled"] and r["band"] and r["band"] == m["band"]):
                continue
            lo, hi = span_mhz(r["band"], r["channel"], r["width"])
            mlo, mhi = span_mhz(m["band"], m["channel"], m["width"])
            if lo < mhi and mlo < hi:
                out.append(f"co-channel: {_t(itf, 'if:name')} radio {r['id']} ({r['band']} channel {r['channel']}, "
                           f"{r['width']} MHz) overlaps the main unit's radio {m['id']} (channel {m['channel']}, "
                           f"{m['width']} MHz)")
    return out
