"""FttrWifi: a main FTTR unit at the customer's ONU, room units fed by fibre, SSIDs and a channel
plan. The OLT and BNG side is the gigabit BusinessBroadband line the intent names."""

from __future__ import annotations

import math

import netaddr

from orchestrator.errors import FullbarsError, Problem
from orchestrator.netconf import customer_secrets
from orchestrator.network.model import bps, rate_text
from orchestrator.services.base import Placement, Service
from orchestrator.services.business_broadband import BusinessBroadband

GIGABIT = 10**9
BAND_ID = {"2.4GHz": 1, "5GHz": 2, "6GHz": 3}  # radio id per band, the same on every unit
DEFAULT_WIDTH = {"2.4GHz": 20, "5GHz": 80, "6GHz": 160}
# Channels a band has anywhere (regulatory domains narrow these further on the unit).
CHANNELS = {"2.4GHz": set(range(1, 15)),
            "5GHz": {36, 40, 44, 48, 52, 56, 60, 64, 100, 104, 108, 112, 116, 120, 124, 128, 132, 136,
                     140, 144, 149, 153, 157, 161, 165, 169, 173, 177},
            "6GHz": set(range(1, 234, 4))}
WIDTHS = {"2.4GHz": (20, 40), "5GHz": (20, 40, 80, 160), "6GHz": (20, 40, 80, 160, 320)}


def _blocks(first_channels, width: int) -> set[int]:
    """The 20 MHz channels inside the wider channels starting at first_channels (5 MHz apart)."""
    return {f + 4 * i for f in first_channels for i in range(width // 20)}


# The 20 MHz channels a wider channel can be built on (IEEE 802.11-2020 Annex E). At 5 GHz the
# U-NII-4 channels (165-177) are 20 MHz only: few regulators allow them wider.
BLOCK_STARTS = {("5GHz", 40): (36, 44, 52, 60, 100, 108, 116, 124, 132, 140, 149, 157),
                ("5GHz", 80): (36, 52, 100, 116, 132, 149),
                ("5GHz", 160): (36, 100),
                ("6GHz", 40): tuple(range(1, 226, 8)),
                ("6GHz", 80): tuple(range(1, 210, 16)),
                ("6GHz", 160): tuple(range(1, 194, 32)),
                ("6GHz", 320): tuple(range(1, 162, 32))}  # 320-1 and 320-2 channels, 160 MHz apart
WIDE = {("2.4GHz", 40): set(range(1, 14)),  # HT40 with the second channel above (1-9) or below (5-13)
        **{k: _blocks(v, k[1]) for k, v in BLOCK_STARTS.items()}}
CHANNEL_0_MHZ = {"2.4GHz": 2407, "5GHz": 5000, "6GHz": 5950}  # channel n is centred at this + 5n MHz


def span_mhz(band: str, channel: int, width: int) -> tuple[int, int]:
    """The frequencies (low, high MHz) a radio on this primary channel and width occupies: the
    aligned block holding the channel; a 2.4 GHz channel is 22 MHz wide, HT40 takes the channel
    four above (below from channel 10 on)."""
    centre = CHANNEL_0_MHZ[band] + 5 * channel
    if band == "2.4GHz":
        if width == 40:
            return (centre - 10, centre + 30) if channel <= 9 else (centre - 30, centre + 10)
        return centre - 11, centre + 11
    start = max((s for s in BLOCK_STARTS.get((band, width), ()) if s <= channel), default=channel)
    low = CHANNEL_0_MHZ[band] + 5 * start - 10
    return low, low + width
SSID_OCTETS = 32  # IEEE 802.11: an SSID is at most 32 octets, however many characters that is
# openconfig-wifi-types identities for the set of bands an SSID is offered on.
FREQUENCY = {("2.4GHz",): "FREQ_2GHZ", ("5GHz",): "FREQ_5GHZ", ("6GHz",): "FREQ_6GHZ",
             ("2.4GHz", "5GHz"): "FREQ_2_5_GHZ", ("5GHz", "6GHz"): "FREQ_5_6_GHZ",
             ("2.4GHz", "6GHz"): "FREQ_2_6_GHZ", ("2.4GHz", "5GHz", "6GHz"): "FREQ_2_5_6_GHZ"}
PSK_LENGTH = (8, 63)  # openconfig-wifi-mac wpa2-psk and wpa3-psk: length "8..63"
# security → (openconfig-wifi-mac opmode, the passphrase leaf, management frame protection)
SECURITY = {"wpa3": ("WPA3_SAE", "wpa3-psk", True), "wpa3-wpa2": ("WPA3_2_SAE_TRANSITION", "wpa3-psk", True),
            "wpa2": ("WPA2_PERSONAL", "wpa2-psk", False)}


def _bands(names) -> tuple[str, ...]:
    return tuple(b for b in BAND_ID if b in set(names))


class FttrWifi(Service):
    kind = "FttrWifi"
    template = "fttr-wifi"
    module = "fullbars-fttr-wifi"
    top = "fttr-wifi"

    def identity(self, spec: dict) -> dict:
        return {"main unit": spec["main-unit"]["device"], "main unit serial": spec["main-unit"]["serial"]}

    # --- rules -------------------------------------------------------------------------
    def check(self, intent, ctx) -> list[Problem]:
        out = self._check_line(intent, ctx)
        out += self._check_unit(intent, ctx)
        out += self._check_rooms(intent, ctx)
        out += self._check_wifi(intent)
        out += self._check_passphrase_refs(intent, ctx)
        return out

    def _line(self, intent, ctx):
        it = ctx.intents.get(intent.spec["line"])
        return it if it is not None and it.kind == "BusinessBroadband" else None

    def _check_line(self, intent, ctx) -> list[Problem]:
        name = intent.spec["line"]
        line = self._line(intent, ctx)
        if line is None and name in ctx.unreadable:
            return []  # the line's own problems are reported; "unknown line" would mislead
        if line is None:
            known = sorted(n for n, it in ctx.intents.items() if it.kind == "BusinessBroadband")
            return [Problem(f"unknown BusinessBroadband line {name!r}", **intent.where("spec.line"),
                            fix="name a line planned before or with this intent; lines: " +
                                (", ".join(known[:8]) or "none"))]
        out = self._gigabit(intent, line, ctx)
        for other in ctx.intents.values():
            if other.kind == self.kind and other.name != intent.name and other.spec["line"] == name:
                out.append(Problem(f"line {name} already feeds FTTR service {other.name} ({other.file})",
                                   **intent.where("spec.line"), fix="one main FTTR unit per line"))
        return out

    @staticmethod
    def _gigabit(intent, line, ctx, again: bool = False) -> list[Problem]:
        """again: placed again because its line changed (not asked about itself)."""
        down, _ = BusinessBroadband.rates(line, ctx.network)
        if down >= GIGABIT:
            return []
        fix = f"raise {line.name}'s rates.downstream to 1000M ({line.file}), or name a gigabit line"
        return [Problem(f"line {line.name} is {rate_text(down)} downstream; FTTR WiFi needs a gigabit line "
                        f"(1000M downstream)", **intent.where("spec.line"),
                        fix=fix + (f"; or delete this FTTR service ({intent.name}) with the change" if again else ""))]

    def _check_unit(self, intent, ctx) -> list[Problem]:
        dev_name = intent.spec["main-unit"]["device"]
        dev = ctx.network.devices.get(dev_name)
        units = sorted(d.name for d in ctx.network.devices.values() if d.role == "fttr")
        if dev is None or dev.role != "fttr":
            return [Problem(f"{dev_name!r} is not a main FTTR unit of the network description",
                            **intent.where("spec.main-unit.device"),
                            fix="add it under spec.fttr in the network description; FTTR units there: " +
                                (", ".join(units) or "none"))]
        for other in ctx.intents.values():
            if other.kind == self.kind and other.name != intent.name and \
                    other.spec["main-unit"]["device"] == dev_name:
                return [Problem(f"main FTTR unit {dev_name} already serves {other.name} ({other.file})",
                                **intent.where("spec.main-unit.device"), fix="one FttrWifi service per main unit")]
        return []

    def _check_rooms(self, intent, ctx) -> list[Problem]:
        spec, out = intent.spec, []
        line = self._line(intent, ctx)
        line_rates = BusinessBroadband.rates(line, ctx.network) if line else None
        # keyed upper-case: the hex digits name one unit in either case
        serials = {spec["main-unit"]["serial"].upper(): "spec.main-unit.serial"}
        for other in ctx.intents.values():
            if other.kind == self.kind and other.name != intent.name:
                for s in [other.spec["main-unit"]["serial"]] + [r["serial"] for r in other.spec["room"]]:
                    serials.setdefault(s.upper(), f"service {other.name} ({other.file})")
        for i, room in enumerate(spec["room"]):
            where = f"spec.room[{i}]"
            if room["serial"].upper() in serials:
                out.append(Problem(f"room unit serial {room['serial']} is already used by "
                                   f"{serials[room['serial'].upper()]}",
                                   **intent.where(f"{where}.serial"), fix="check the serial on the room unit's label"))
            serials[room["serial"].upper()] = where
            for j, what in enumerate(("downstream", "upstream")):
                asked = room.get("rates", {}).get(what)
                if line_rates and asked and bps(asked) > line_rates[j]:
                    out.append(Problem(f"room {room['name']} asks for {asked} {what}, more than the line's "
                                       f"{rate_text(line_rates[j])}", **intent.where(f"{where}.rates.{what}"),
                                       fix=f"ask for at most {rate_text(line_rates[j])}, or leave it out "
                                           "(a room gets the line's rate)"))
        return out

    def _check_wifi(self, intent) -> list[Problem]:
        spec, out = intent.spec, []
        planned = {r["band"] for r in spec["radio"]}
        for i, r in enumerate(spec["radio"]):
            where = f"spec.radio[{i}]"
            bad = [c for c in r["channels"] if c not in CHANNELS[r["band"]]]
            if bad:
                out.append(Problem(f"channel(s) {', '.join(map(str, bad))} are not {r['band']} channels",
                                   **intent.where(f"{where}.channels"),
                                   fix=f"{r['band']} channels: {_ranges(CHANNELS[r['band']])}"))
            width = int(r.get("width", DEFAULT_WIDTH[r["band"]]))
            if width not in WIDTHS[r["band"]]:
                out.append(Problem(f"{width} MHz channels do not exist at {r['band']}", **intent.where(f"{where}.width"),
                                   fix="widths there: " + ", ".join(map(str, WIDTHS[r["band"]]))))
            elif width > 20 and not bad:
                narrow = [c for c in r["channels"] if c not in WIDE[r["band"], width]]
                if narrow:
                    out.append(Problem(
                        f"channel(s) {', '.join(map(str, narrow))} at {r['band']} have no {width} MHz channel"
                        + ("" if "width" in r else " (the band's default width)"),
                        **intent.where(f"{where}.channels"),
                        fix=f"{width} MHz at {r['band']} is built on channels {_runs(WIDE[r['band'], width])}; "
                            f"or give a narrower width"))
        for i, s in enumerate(spec["ssid"]):
            where = f"spec.ssid[{i}]"
            octets = len(s["name"].encode())
            if octets > SSID_OCTETS:
                out.append(Problem(f"SSID {s['name']!r} is {octets} octets in UTF-8, over the {SSID_OCTETS} "
                                   f"an SSID can hold", **intent.where(f"{where}.name"),
                                   fix="shorten it (letters beyond ASCII take 2 to 4 octets each)"))
            bands = s.get("band") or sorted(planned)
            missing = [b for b in bands if b not in planned]
            if missing:
                out.append(Problem(f"SSID {s['name']} is offered on {', '.join(missing)}, which the radio plan "
                                   f"does not have", **intent.where(f"{where}.band"),
                                   fix="add a radio for that band, or leave it out of the SSID's bands"))
            if "6GHz" in bands and s.get("security", "wpa3") != "wpa3":
                out.append(Problem(f"SSID {s['name']} is offered on 6GHz, which allows WPA3 only",
                                   **intent.where(f"{where}.security"),
                                   fix="use security: wpa3, or leave 6GHz out of the SSID's bands"))
            out += self._check_passphrase(intent, s, where)
        return out

    @staticmethod
    def _check_passphrase(intent, ssid: dict, where: str) -> list[Problem]:
        """A passphrase already set where the reference points is checked now, not by the device
        at apply time (which would refuse it mid-transaction). Its value is never shown, and it is
        read only through the operator's customer-secret sources."""
        ref = ssid["passphrase-ref"]
        try:
            value = customer_secrets.value(ref)
        except FullbarsError:
            return []  # not set yet, or a reference _check_passphrase_refs refuses
        if PSK_LENGTH[0] <= len(value) <= PSK_LENGTH[1]:
            return []
        at = ref.partition(":")[2]
        return [Problem(f"the passphrase in {ref} for SSID {ssid['name']} has {len(value)} characters; a WPA "
                        f"passphrase has {PSK_LENGTH[0]} to {PSK_LENGTH[1]}", **intent.where(f"{where}.passphrase-ref"),
                        fix=f"set {at} to a passphrase of {PSK_LENGTH[0]} to {PSK_LENGTH[1]} characters")]

    def _check_passphrase_refs(self, intent, ctx) -> list[Problem]:
        out = []
        for i, s in enumerate(intent.spec["ssid"]):
            why = customer_secrets.refusal(s["passphrase-ref"], ctx.network.secret_ref)
            if why:
                out.append(Problem(why[0], **intent.where(f"spec.ssid[{i}].passphrase-ref"), fix=why[1]))
        return out

    # --- allocation --------------------------------------------------------------------
    def place(self, intent, ctx):
        from orchestrator.services.registry import SERVICES  # it imports this module

        spec, name = intent.spec, intent.name
        line = self._line(intent, ctx)
        if line is None:  # its line is being deleted without it
            raise FullbarsError(Problem(f"unknown BusinessBroadband line {spec['line']!r}",
                                        **intent.where("spec.line"), fix="delete this FTTR service with its line"))
        # Placed again without being asked when its line changes: what check() says of the line
        # and the main unit may have changed under it since (a line lowered, a unit taken out).
        unit = ctx.network.devices.get(spec["main-unit"]["device"])
        problems = self._gigabit(intent, line, ctx, again=True) + \
            ([] if unit is not None and unit.role == "fttr" else self._check_unit(intent, ctx))
        if problems:
            raise FullbarsError(problems)
        # The line's own placement is idempotent: the same answer it gets in this plan.
        fed = SERVICES.by_kind(line.kind).place(line, ctx).resources
        addresses = self._room_addresses(intent, line, fed, ctx)
        plan = self._channel_plan(spec)
        rooms = []
        for i, room in enumerate(spec["room"], start=1):
            rates = room.get("rates", {})
            rooms.append({"name": room["name"], "ifname": f"room-{room['name']}", "serial": room["serial"],
                          "down_bps": bps(rates["downstream"]) if "downstream" in rates else fed["downstream-bps"],
                          "up_bps": bps(rates["upstream"]) if "upstream" in rates else fed["upstream-bps"],
                          "radios": plan(i), "address": addresses[i - 1]})
        ssids = []
        for s in spec["ssid"]:
            opmode, leaf, mfp = SECURITY[s.get("security", "wpa3")]
            bands = _bands(s.get("band") or [r["band"] for r in spec["radio"]])
            ssids.append({"name": s["name"], "opmode": opmode, "psk_leaf": leaf, "mfp": mfp,
                          "passphrase_ref": s["passphrase-ref"], "frequency": FREQUENCY[bands],
                          "hidden": s.get("hidden", False)})
        unit = spec["main-unit"]["device"]
        variables = {"service": name, "customer": line.spec["customer"], "line": line.name,
                     "main_serial": spec["main-unit"]["serial"], "main_radios": plan(0), "rooms": rooms,
                     "ssids": ssids}
        resources = {
            "line": line.name, "main-unit": unit, "main-unit-serial": spec["main-unit"]["serial"],
            "onu-serial": fed["onu-serial"], "olt": fed["olt"], "bng": fed["bng"],
            "address-block": fed["address-block"],
            "rooms": {r["name"]: {"serial": r["serial"], "interface": r["ifname"], "downstream-bps": r["down_bps"],
                                  "upstream-bps": r["up_bps"],
                                  "channels": ", ".join(f"{c['band']} {c['channel']}" for c in r["radios"]),
                                  **({"address": r["address"]} if r["address"] else {})}
                      for r in rooms},
            "ssids": {s["name"]: {"security": s.get("security", "wpa3"), "passphrase-ref": s["passphrase-ref"]}
                      for s in spec["ssid"]},
            "line-downstream-bps": fed["downstream-bps"], "line-upstream-bps": fed["upstream-bps"]}
        return Placement(devices={unit: variables}, resources=resources)

    @staticmethod
    def _room_addresses(intent, line, fed: dict, ctx) -> list[str | None]:
        """Per room (in the intent's order) its address in the line's static block: the main unit
        bridges the rooms onto the line, the gateway and the line's CPE hold the block's first two
        host addresses, the rooms take the next ones. A DHCP line's rooms get theirs from the BNG."""
        if "customer-addresses" not in fed:
            return [None] * len(intent.spec["room"])
        block = netaddr.IPNetwork(fed["address-block"])
        free = list(block.iter_hosts())[2:]
        rooms = intent.spec["room"]
        if len(rooms) <= len(free):
            return [f"{a}/{block.prefixlen}" for a in free[:len(rooms)]]
        need = 32 - math.ceil(math.log2(len(rooms) + 4))  # + network, broadcast, gateway, CPE
        bng = fed["bng"]
        big = [p.name for p in ctx.network.pools.values() if p.type == "public-static"
               and p.block_length <= need and (not p.bngs or bng in p.bngs)]
        pools = (f"such as {', '.join(big)}" if big else
                 f"(none yet for {bng}: add one to the network description {ctx.network.file})")
        raise FullbarsError(Problem(
            f"line {line.name}'s block {block} has addresses for {len(free)} room(s) after its gateway and "
            f"CPE; this intent has {len(rooms)} rooms", **intent.where(f"spec.room[{len(free)}]"),
            fix=f"give line {line.name} a bigger block: in {line.file} name a public-static pool with "
                f"block-length {need} or less under spec.addressing.pool {pools}; or give it DHCP "
                f"addressing (mode: dhcp); or plan at most {len(free)} rooms"))

    @staticmethod
    def _channel_plan(spec):
        """unit index (0: main unit, 1..: rooms) → its radios, channels taken in turn per band."""
        radios = sorted(spec["radio"], key=lambda r: BAND_ID[r["band"]])

        def of(i: int) -> list[dict]:
            return [{"id": BAND_ID[r["band"]], "band": r["band"], "frequency": FREQUENCY[(r["band"],)],
                     "channel": r["channels"][i % len(r["channels"])],
                     "width": int(r.get("width", DEFAULT_WIDTH[r["band"]]))} for r in radios]
        return of


def _runs(channels) -> str:
    """36..64, 100..144: runs of channels no more than 20 MHz apart."""
    runs: list[list[int]] = []
    for c in sorted(channels):
        if runs and c - runs[-1][1] <= 4:
            runs[-1][1] = c
        else:
            runs.append([c, c])
    return ", ".join(f"{a}..{b}" if a != b else str(a) for a, b in runs)


def _ranges(values) -> str:
    vals = sorted(values)
    if vals == list(range(vals[0], vals[-1] + 1)):
        return f"{vals[0]}..{vals[-1]}"
    return ", ".join(map(str, vals[:12])) + (" ..." if len(vals) > 12 else "")
