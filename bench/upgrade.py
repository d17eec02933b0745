"""Bulk speed upgrade: N lines on 8 OLTs (2 BNGs) from 300M to 500M downstream.

Measures the plan of the upgrade (goal: 2,000 lines in under 10 s), and with --lab also gives
the lines to a lab (8 OLTs on devsim, 2 BNGs on netconfd, no CPEs), then rolls the upgrade out
as a canary plus two waves, printing each wave's time beside the rollout's own estimate. In
that first rollout olt-7 refuses (another session holds its candidate lock): wave 2 must stop
and roll back, naming olt-7; a second rollout then carries the upgrade to olt-6..olt-8.
--bng-devsim serves the BNGs with devsim instead of their kind's agent (yuma123 netconfd), to
tell the orchestrator's time from the reference agent's. Figures go to bench/results/upgrade.json.
Usage: python bench/upgrade.py [--lab [--bng-devsim]] [LINES]
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
OLTS, BNGS = 8, 2
UPGRADE = ("apiVersion: fullbars.io/v1\nkind: SpeedUpgrade\nmetadata:\n  name: to-500m\nspec:\n"
           "  selector:\n    downstream: 300M\n  rates:\n    downstream: 500M\n"
           "  rollout:\n    canary: 1\n    waves: 2\n")


def main(argv: list[str]) -> None:
    from orchestrator.network.generate import generate, lines
    from orchestrator.plan.pipeline import plan
    from orchestrator.resources.store import Store
    from orchestrator.rollout import waves

    lab = "--lab" in argv
    args = [a for a in argv if not a.startswith("--")]
    n = int(args[0]) if args else 2000
    per_olt = n // OLTS
    row: dict = {"lines": per_olt * OLTS, "olts": OLTS, "bngs": BNGS}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        os.environ["FULLBARS_LAB_DIR"] = str(tmp / "labs")
        net = tmp / "network.yaml"
        net.write_text(generate(OLTS, 16, BNGS, sites=2, name="upgrade-bench"))
        (tmp / "lines.yaml").write_text(lines(per_olt, OLTS, 2))
        (tmp / "upgrade.yaml").write_text(UPGRADE)
        store = Store(f"sqlite:///{tmp}/store.db")
        t0 = time.perf_counter()
        base = plan(store, str(net), [str(tmp / "lines.yaml")])
        row["plan_lines_s"] = round(time.perf_counter() - t0, 2)
        print(f"plan {row['lines']} lines: {row['plan_lines_s']} s", flush=True)
        if not lab:
            t0 = time.perf_counter()
            up = plan(store, None, [str(tmp / "upgrade.yaml")])
            row["plan_upgrade_s"] = round(time.perf_counter() - t0, 2)
            print(f"plan the upgrade of {len(up.services[0].resources['changed-lines'])} lines on "
                  f"{len(up.devices)} devices: {row['plan_upgrade_s']} s", flush=True)
        else:
            from orchestrator.lab.generate import from_plan
            from orchestrator.lab.runtime import open_lab
            from orchestrator.plan.artifacts import write
            from orchestrator.rollout.apply import apply
            from orchestrator.rollout.targets import lab_target

            write(base, tmp / "plan")
            topo = tmp / "bench.clab.yml"
            doc = yaml.safe_load(from_plan(tmp / "plan", f"up{os.getpid() % 100000}", cpes=False))
            if "--bng-devsim" in argv:
                for node in doc["topology"]["nodes"].values():
                    if node["labels"].get("fullbars.kind", "").startswith("bng"):
                        node["labels"]["fullbars.agent"] = "devsim"
            row["bng_agent"] = "devsim" if "--bng-devsim" in argv else "netconfd"
            topo.write_text(yaml.safe_dump(doc, sort_keys=False))
            lb = open_lab(topo)
            t0 = time.perf_counter()
            lb.up(timeout=300)
            row["lab_up_s"] = round(time.perf_counter() - t0, 2)
            try:
                target = lab_target(topo)
                t0 = time.perf_counter()
                rep = apply(store, base, target, confirm_timeout=600)
                row["apply_lines_s"] = round(time.perf_counter() - t0, 2)
                assert rep["outcome"] == "committed", rep["summary"]
                print(f"apply {row['lines']} lines to {len(base.devices)} devices: {row['apply_lines_s']} s", flush=True)
                t0 = time.perf_counter()
                up = plan(store, None, [str(tmp / "upgrade.yaml")])
                row["plan_upgrade_s"] = round(time.perf_counter() - t0, 2)
                print(f"plan the upgrade: {row['plan_upgrade_s']} s", flush=True)
                wp = waves.wave_plan(store, up.services[0], up.network)
                row["estimate_s"] = wp["estimate_s"]
                # First run: another manager holds olt-7's candidate, so wave 2 must stop and roll back.
                from orchestrator.engine import api
                from orchestrator.netconf.session import Session

                blocker = Session(target.endpoint("olt-7"))
                blocker.lock()
                t0 = time.perf_counter()
                try:
                    rep = api.run_rollout(store, str(tmp / "upgrade.yaml"), target, confirm_timeout=600)
                finally:
                    blocker.unlock()
                    blocker.close()
                row["first_run_s"] = round(time.perf_counter() - t0, 2)
                assert rep["outcome"] == "stopped" and rep["waves"][-1]["failed"] == ["olt-7"], rep
                row["first_run"] = [{k: w.get(k) for k in ("name", "olts", "outcome", "seconds", "failed", "summary")}
                                    for w in rep["waves"]]
                print(f"first run stopped at {rep['waves'][-1]['name']}: {rep['waves'][-1]['summary']}", flush=True)
                t0 = time.perf_counter()
                rep2 = api.run_rollout(store, str(tmp / "upgrade.yaml"), target, confirm_timeout=600)
                row["second_run_s"] = round(time.perf_counter() - t0, 2)
                assert rep2["outcome"] == "committed" and len(rep2["reached"]) == OLTS, rep2
                row["waves"] = [{k: w.get(k) for k in ("name", "olts", "devices", "lines", "outcome", "seconds", "plan_s",
                                                       "steps_s", "device_s")} for w in rep["waves"] + rep2["waves"]]
            finally:
                lb.down()
    print(json.dumps(row, indent=2))
    out = HERE / "results" / "upgrade.json"
    out.parent.mkdir(exist_ok=True)
    old = json.loads(out.read_text()) if out.exists() else {}
    old[f"lab-bng-{row['bng_agent']}" if lab else "plan"] = row
    out.write_text(json.dumps(old, indent=2) + "\n")


if __name__ == "__main__":
    import signal

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))  # so `finally` takes the lab down
    main(sys.argv[1:])
