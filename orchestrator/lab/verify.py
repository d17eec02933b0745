"""Service checks in the lab: every intent kind's lab part checks its services (their hosts get
their addresses, reach their servers, measure their rates; one out of service is checked the
other way round), and every data-plane failure the watcher recorded is listed."""

from __future__ import annotations

import difflib
import json
from pathlib import Path

from orchestrator.errors import FullbarsError
from orchestrator.lab.kinds.registry import LAB_KINDS
from orchestrator.lab.personality import recorded_failures

PORT0 = 15200  # iperf3 ports: each kind's part its own range
PORTS_PER_KIND = 200


def manifest(plan_dir: Path, only: list[str] | None) -> dict:
    """The plan's manifest; every name in `only` must be one of its services (or service/member,
    e.g. an FTTR room or a campus slice): an unknown one would otherwise verify nothing and pass."""
    f = Path(plan_dir) / "manifest.json"
    if not f.is_file():
        raise FullbarsError(f"{plan_dir} holds no plan (no manifest.json)", fix="fullbars plan INTENT... --out DIR")
    m = json.loads(f.read_text())
    names = sorted(m["services"])
    for o in only or []:
        if o.split("/", 1)[0] not in m["services"]:
            close = difflib.get_close_matches(o, names, n=3)
            raise FullbarsError(f"--service {o}: no such service in the plan {plan_dir}",
                                fix=(f"did you mean {', '.join(close)}? " if close else "") +
                                f"services: {', '.join(names) or 'none'}")
    return m


def verify(plan_dir: Path, st: dict, progress=None, only: list[str] | None = None, rates: bool = True) -> dict:
    m = manifest(plan_dir, only)
    # "dir": a kind's check may compare what the devices run with the bundle's intended configs
    rows = check({**m, "dir": str(plan_dir)}, st, progress, only, rates)
    failed = recorded_failures(st)  # the cause behind a service that fails, in the operator's words
    return {"lab": st["name"], "plan": str(plan_dir), "ok": all(r["ok"] for r in rows) and not failed,
            "services": rows, "dataplane_failures": failed}


def check(m: dict, st: dict, progress=None, only: list[str] | None = None, rates: bool = True) -> list[dict]:
    """One row per service (or member: a room, a slice) of a manifest's services, with its
    problems: each intent kind's lab part checks its own."""
    rows = []
    for i, part in enumerate(LAB_KINDS.parts()):
        rows += part.check(m, st, only, rates, PORT0 + PORTS_PER_KIND * i, progress)
    return rows


def table(report: dict) -> str:
    rated = any("expected_down_bps" in r for r in report["services"])
    lines = [f"{'service':24} {'address':16} {'reach':5} {'down Mbit/s':>18} {'up Mbit/s':>18}  result" if rated
             else f"{'service':24} {'checked':60}  result"]
    for r in report["services"]:
        if "expected_down_bps" not in r:  # a service without rates says what it checked
            lines.append(f"{r['service']:24} {r.get('summary', ''):60}  " +
                         ("ok" if r["ok"] else "FAIL: " + "; ".join(r["problems"])))
            continue

        def rate(m, e):
            return f"{(m or 0) / 1e6:7.3g}/{e / 1e6:<7g}" + (f"{m / e:4.2f}" if m else "  - ")
        lines.append(f"{r['service']:24} {str(r.get('address') or '-'):16} {('yes' if r.get('reachable') else 'no'):5} "
                     f"{rate(r.get('measured_down_bps'), r['expected_down_bps']):>18} "
                     f"{rate(r.get('measured_up_bps'), r['expected_up_bps']):>18}  "
                     + ("ok" + (" (out of service, as planned)" if r.get("serving") is False else "") if r["ok"]
                        else "FAIL: " + "; ".join(r["problems"]))
                     + "".join(f"; warning: {w}" for w in r.get("warnings", []))
                     + "".join(f"\n{'':24} note: {n}" for n in r.get("notes", [])))
    lines += [f"data plane of {f['node']} FAILED: {f['tried']}: {f['error']}" for f in report.get("dataplane_failures", [])]
    return "\n".join(lines)
