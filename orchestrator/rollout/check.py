"""`fullbars check LINE`: the network check a support engineer hands a customer: is the ONU
there and up, what do the counters say, is the BNG side configured; in the lab, also the
measured throughput. Read over NETCONF from the devices themselves, not from the store."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from orchestrator.errors import FullbarsError
from orchestrator.netconf.session import Session, rpc_error_text

NS = {"if": "urn:ietf:params:xml:ns:yang:ietf-interfaces",
      "os": "urn:bbf:yang:bbf-xpon-onu-state",
      "vani": "urn:bbf:yang:bbf-xponvani",
      "fbs": "urn:fullbars:yang:fullbars-bng-subscriber",
      "ip": "urn:ietf:params:xml:ns:yang:ietf-ip"}


def _enabled(itf) -> bool:
    return (itf.findtext("if:enabled", namespaces=NS) or "true").strip() != "false"  # the YANG default is true


def _resources(store, network_file, line: str) -> tuple[dict, object]:
    from orchestrator.plan.pipeline import plan

    result = plan(store, network_file, [], stored=[line])
    svc = next((x for x in result.services if x.name == line), None)
    if svc is None:
        raise FullbarsError(f"service {line} could not be placed")
    if svc.kind != "BusinessBroadband":
        feed = svc.resources.get("line")
        raise FullbarsError(f"{line} is a {svc.kind} service; the network check is for a line",
                            fix=f"check the line that feeds it: fullbars check {feed}" if feed else
                            "name a BusinessBroadband service")
    return svc.resources, result


def check(store, target, line: str, network_file: str | None = None, measure: bool = True) -> dict:
    res, result = _resources(store, network_file, line)
    report = {"service": line, "resources": {k: res[k] for k in ("olt", "pon-port", "onu-serial", "onu-id", "bng",
                                                               "s-vlan", "c-vlan", "rates") if k in res},
              "checks": []}

    def add(name, ok, detail):
        report["checks"].append({"check": name, "ok": ok, "detail": detail})

    try:
        s = Session(target.endpoint(res["olt"]))
        data = s.m.get().data_ele
        s.close()
        onu = next((o for o in data.iterfind(".//os:onu", NS)
                    if o.findtext("os:detected-serial-number", namespaces=NS) == res["onu-serial"]), None)
        add("ONU present", onu is not None,
            f"{res['onu-serial']} on {res['olt']} {res['pon-port']}: "
            + (onu.findtext("os:onu-presence-state", namespaces=NS).split(":")[-1] if onu is not None else "not present"))
        vani = next((i for i in data.iterfind("if:interfaces/if:interface", NS)
                     if i.findtext("vani:v-ani/vani:expected-serial-number", namespaces=NS) == res["onu-serial"]), None)
        oper = vani.findtext("if:oper-status", namespaces=NS) if vani is not None else None
        enabled = vani is None or _enabled(vani)
        add("v-ANI oper-status", oper == "up" and enabled,
            f"{vani.findtext('if:name', namespaces=NS) if vani is not None else '?'}: {oper}"
            + ("" if enabled else " (disabled in the OLT's config)"))
        add("optical levels", True, "not in the models this OLT kind implements (no transceiver state): not reported")
        user = data.find(f"if:interfaces/if:interface[if:name='user-{line}']", NS)
        if user is not None and user.find("if:statistics/if:in-octets", NS) is not None:
            add("sub-interface counters", True,
                f"user-{line}: in {user.findtext('if:statistics/if:in-octets', namespaces=NS)} octets, "
                f"out {user.findtext('if:statistics/if:out-octets', namespaces=NS)} octets")
        else:
            add("sub-interface counters", False, f"user-{line}: no counters reported")
    except FullbarsError:
        raise
    except Exception as e:
        add("OLT reachable", False, f"{res['olt']}: {rpc_error_text(e)}")
    try:
        s = Session(target.endpoint(res["bng"]))
        data = s.running()
        s.close()
        sub = next((i for i in data.iterfind("if:interfaces/if:interface", NS)
                    if i.findtext("fbs:subscriber/fbs:service-id", namespaces=NS) == line), None)
        if sub is None:
            add("BNG sub-interface", False, f"{res['bng']}: no sub-interface for {line}")
        else:
            pair = (sub.findtext("fbs:subscriber/fbs:outer-vlan", namespaces=NS),
                    sub.findtext("fbs:subscriber/fbs:inner-vlan", namespaces=NS))
            enabled = _enabled(sub)
            ok = enabled and pair == (str(res["s-vlan"]), str(res["c-vlan"]))
            add("BNG sub-interface", ok, f"{res['bng']} {sub.findtext('if:name', namespaces=NS)}: "
                f"{'enabled' if enabled else 'disabled'}, S{pair[0]}/C{pair[1]}, "
                f"gateway {sub.findtext('ip:ipv4/ip:address/ip:ip', namespaces=NS)}")
            carried = _rates(sub)
            if carried is not None:
                # the rates the line runs at are the device's: a change planned (or an apply that
                # died and was undone) is not on it, and the store's plan would say it is
                report["resources"]["rates"] = carried
                if carried != res.get("rates"):
                    add("rates as planned", False, f"{res['bng']} carries {carried}; the plan's {res.get('rates')} "
                        "is not on it (fullbars apply gives it)")
    except FullbarsError:
        raise
    except Exception as e:
        add("BNG reachable", False, f"{res['bng']}: {rpc_error_text(e)}")
    if measure and target.lab_state:
        from orchestrator.lab.verify import verify
        from orchestrator.plan.artifacts import write

        with tempfile.TemporaryDirectory() as tmp:
            write(result, Path(tmp))
            rep = verify(Path(tmp), target.lab_state, only=[line])
        if rep["services"]:
            r = rep["services"][0]
            add("throughput (lab)", r["ok"], f"down {(r.get('measured_down_bps') or 0) / 1e6:.0f} of "
                f"{r['expected_down_bps'] / 1e6:.0f} Mbit/s, up {(r.get('measured_up_bps') or 0) / 1e6:.0f} of "
                f"{r['expected_up_bps'] / 1e6:.0f} Mbit/s" + ("" if r["ok"] else f" ({'; '.join(r['problems'])})"))
    report["ok"] = all(c["ok"] for c in report["checks"])
    return report


def _rates(sub) -> str | None:
    from orchestrator.network.model import rate_text

    down, up = (sub.findtext(f"fbs:subscriber/fbs:rates/fbs:{d}", namespaces=NS) for d in ("downstream", "upstream"))
    if not (down or "").isdigit() or not (up or "").isdigit():
        return None
    return f"{rate_text(int(down))} down / {rate_text(int(up))} up"


def text(report: dict) -> str:
    r = report["resources"]
    lines = [f"network check for {report['service']}: ONU {r.get('onu-serial')} on {r.get('olt')} {r.get('pon-port')}, "
             f"S/C {r.get('s-vlan')}/{r.get('c-vlan')} to {r.get('bng')}, {r.get('rates')}"]
    for c in report["checks"]:
        lines.append(f"  [{'ok' if c['ok'] else 'FAIL'}] {c['check']}: {c['detail']}")
    lines.append("result: " + ("all checks passed" if report["ok"] else "problems found"))
    return "\n".join(lines)
