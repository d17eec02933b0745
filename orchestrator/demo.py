"""The main job on the embedded default: the whole road for the example intents, in a lab of
network namespaces, with a SQLite store: plan → lab up → apply (one transaction) → verify the
services → report → lab down."""

from __future__ import annotations

import json
from pathlib import Path

from orchestrator import settings
from orchestrator.lab.generate import from_plan
from orchestrator.lab.runtime import open_lab
from orchestrator.lab.verify import table, verify
from orchestrator.plan.artifacts import write
from orchestrator.plan.pipeline import plan
from orchestrator.resources.store import Store
from orchestrator.rollout.apply import apply
from orchestrator.rollout.targets import lab_target


def run(out: Path, say, progress=None, keep: bool = False, name: str = "fullbars-demo", db: str | None = None) -> dict:
    """name: the lab's (two users on one machine give different names); db: the store's URL
    (default: one of its own in `out`, so the demo never mixes with the user's store)."""
    out.mkdir(parents=True, exist_ok=True)
    store = Store(db or f"sqlite:///{out / 'store.db'}")
    intents = sorted(str(p) for p in (settings.REPO / "examples" / "lab").glob("*.yaml"))
    say(f"1/5 plan: {len(intents)} intents from examples/lab against examples/network.yaml")
    result = plan(store, str(settings.REPO / "examples" / "network.yaml"), intents, progress=progress)
    write(result, out / "plan")
    for s in result.services:
        say(f"    {s.name}: {s.resources['olt']} {s.resources['pon-port']} onu-id {s.resources['onu-id']}, "
            f"S/C {s.resources['s-vlan']}/{s.resources['c-vlan']}, {s.resources['rates']}, {s.resources['address-block']}")
    topo = out / "demo.clab.yml"
    topo.write_text(from_plan(out / "plan", name))
    lab = open_lab(topo)
    lab.down()  # a lab left over from an interrupted run
    say(f"2/5 lab up: {topo} ({len(lab.topo.nodes)} nodes in network namespaces)")
    lab.up(timeout=60, progress=progress)
    try:
        say("3/5 apply: one network-wide transaction with confirmed commit")
        rep = apply(store, result, lab_target(topo), confirm_timeout=60, progress=progress)
        say(f"    {rep['summary']}")
        for dev, d in sorted(rep["devices"].items()):
            say(f"    {dev:12} {d['state']:10} {d['strategy']:20} {d['seconds']:.2f} s {d['error']}")
        report = {"plan": str(out / "plan"), "transaction": rep}
        if rep["outcome"] == "committed":
            say("4/5 verify: address, reachability and iperf3 rates per service")
            ver = verify(out / "plan", lab.load_state(), progress=progress)
            say(table(ver))
            report["verify"] = ver
        (out / "report.json").write_text(json.dumps(report, indent=2) + "\n")
        report["ok"] = rep["outcome"] == "committed" and report.get("verify", {}).get("ok", False)
        say(f"5/5 report: {out / 'report.json'}: " + ("all services verified" if report["ok"] else "FAILED"))
        return report
    finally:
        if not keep:
            lab.down()
            say("    lab down: nothing left behind")
