"""devsim speed and size.

1. edit+commit latency of one new subscriber (the minimal edit fullbars plans) on an OLT that
   already holds 10, 1,000 and 10,000 subscribers; ncclient over SSH, session reused.
2. RSS of one devsim process serving 1 and 100 OLTs, and per device.
Figures go to bench/results/devsim.json. Usage: python bench/devsim.py [--quick | --rss-only]
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

from conformance.agents import DevsimAgent, free_ports  # noqa: E402
from olt_configs import olt_configs, seed_running  # noqa: E402

NC = "urn:ietf:params:xml:ns:netconf:base:1.0"


def latency(n: int, rounds: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        full, edit, reverse = olt_configs(n, tmp)
        state = tmp / "olt"
        seed_running(state, full)
        agent = DevsimAgent(state, kind="olt-bbf").start(timeout=120)
        try:
            m = agent.connect(timeout=600)
            times = []
            for _ in range(rounds):
                t = time.perf_counter()
                m.edit_config(target="candidate", config=edit)
                m.commit()
                times.append(time.perf_counter() - t)
                m.edit_config(target="candidate", config=reverse)  # out again, for the next round
                m.commit()
            m.close_session()
        finally:
            agent.stop()
    return {"subscribers": n, "edit_commit_ms_median": round(statistics.median(times) * 1000, 1),
            "edit_commit_ms_max": round(max(times) * 1000, 1), "rounds": rounds}


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def fleet_rss(count: int) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        ports = free_ports(count)
        lines = ["devices:"] + [f"  - {{name: olt-{i}, kind: olt-bbf, listen: '127.0.0.1:{p}', state: s{i}}}"
                                for i, p in enumerate(ports)]
        (tmp / "fleet.yaml").write_text("\n".join(lines) + "\n")
        proc = subprocess.Popen([sys.executable, "-m", "orchestrator", "devsim", "--fleet", str(tmp / "fleet.yaml"),
                                 "--password-env", "PW"], cwd=HERE.parent, env=dict(os.environ, PW="bench"),
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            line = b""
            deadline = time.time() + 120
            while line.count(b"listening") < count and time.time() < deadline:
                got = proc.stderr.readline()
                if not got:
                    raise RuntimeError(f"devsim fleet of {count} exited: {line.decode()[-500:]}")
                line += got
            agent = DevsimAgent(tmp, password="bench")
            agent.port = ports[-1]
            agent.connect().close_session()  # the last device answers: all are up
            return rss_kib(proc.pid)
        finally:
            proc.terminate()
            proc.wait()


def main() -> None:
    quick = "--quick" in sys.argv
    sizes = [] if "--rss-only" in sys.argv else [10, 1000] if quick else [10, 1000, 10000]
    path = HERE / "results" / "devsim.json"
    old = json.loads(path.read_text()) if path.exists() else {}
    rows = [] if sizes else old.get("latency", [])
    for n in sizes:
        r = latency(n, 3 if n >= 10000 else 5)
        rows.append(r)  # a run with --rss-only keeps the latency figures of the last full run
        print(f"OLT with {n:>6} subscribers: edit+commit of one more: median {r['edit_commit_ms_median']} ms, "
              f"max {r['edit_commit_ms_max']} ms", flush=True)
    one, hundred = fleet_rss(1), fleet_rss(100)
    per = (hundred - one) / 99
    print(f"devsim RSS: 1 OLT {one / 1024:.0f} MiB, 100 OLTs {hundred / 1024:.0f} MiB in one process, "
          f"{per:.0f} KiB per additional device")
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "devsim.json").write_text(json.dumps(
        {"latency": rows, "rss_kib": {"1": one, "100": hundred, "per_device": round(per)}}, indent=2) + "\n")


if __name__ == "__main__":
    main()
