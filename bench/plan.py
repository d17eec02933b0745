"""Plan throughput: N BusinessBroadband intents on a generated network sized to fit.

Prints and writes (bench/results/plan.json) intents per second and peak RSS per size. Each size
runs in a fresh process and a fresh SQLite store, so RSS is that size's own peak.
Usage: python bench/plan.py [N ...]   (default 1000 10000 100000)
"""

from __future__ import annotations

import json
import math
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
PORTS_PER_OLT = 32
LINES_PER_PORT = 30  # 30 × 300M assured fits a 9.953G XGS-PON upstream


def write_inputs(n: int, folder: Path) -> tuple[Path, list[Path]]:
    from orchestrator.network.generate import generate

    ports = math.ceil(n / LINES_PER_PORT)
    olts = math.ceil(ports / PORTS_PER_OLT)
    bngs = max(1, math.ceil(olts / 16))
    net = folder / "network.yaml"
    net.write_text(generate(olts, PORTS_PER_OLT, bngs, sites=olts, name=f"bench-{n}"))
    files, chunk = [], 5000
    for start in range(0, n, chunk):
        docs = []
        for i in range(start, min(n, start + chunk)):
            olt = i // (PORTS_PER_OLT * LINES_PER_PORT)
            mode = "static" if i % 4 == 0 else "dhcp"
            docs.append(
                f"apiVersion: fullbars.io/v1\nkind: BusinessBroadband\nmetadata:\n  name: line-{i:06d}\n"
                f"spec:\n  customer: Customer {i}\n  site: site-{olt + 1}\n  onu:\n    serial: BNCH{i:08X}\n"
                f"  rates:\n    downstream: 500M\n    upstream: 300M\n  tenure-years: {i % 7}\n"
                f"  addressing:\n    mode: {mode}\n")
        f = folder / f"intents-{start // chunk:03d}.yaml"
        f.write_text("---\n".join(docs))
        files.append(f)
    return net, files


def one(n: int) -> dict:
    from orchestrator.plan.artifacts import write
    from orchestrator.plan.pipeline import plan
    from orchestrator.resources.store import Store

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        net, files = write_inputs(n, tmp)
        store = Store(f"sqlite:///{tmp}/store.db")
        t0 = time.perf_counter()
        result = plan(store, str(net), [str(f) for f in files])
        t1 = time.perf_counter()
        write(result, tmp / "out")
        t2 = time.perf_counter()
        devices = len(result.devices)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"intents": n, "devices": devices, "plan_s": round(t1 - t0, 2), "write_s": round(t2 - t1, 2),
            "intents_per_s": round(n / (t1 - t0)), "peak_rss_mib": round(rss)}


def main(argv: list[str]) -> None:
    if argv and argv[0] == "--one":
        print(json.dumps(one(int(argv[1]))))
        return
    sizes = [int(a) for a in argv] or [1000, 10000, 100000]
    rows = []
    for n in sizes:
        r = subprocess.run([sys.executable, __file__, "--one", str(n)], capture_output=True, text=True,
                           env=dict(os.environ))
        if r.returncode:
            sys.exit(f"size {n} failed:\n{r.stderr}")
        row = json.loads(r.stdout.strip().splitlines()[-1])
        rows.append(row)
        print(f"{row['intents']:>7} intents on {row['devices']:>4} devices: plan {row['plan_s']:>7.2f} s "
              f"({row['intents_per_s']:>6} intents/s), artifacts {row['write_s']:.2f} s, "
              f"peak RSS {row['peak_rss_mib']} MiB", flush=True)
    (HERE / "results").mkdir(exist_ok=True)
    path = HERE / "results" / "plan.json"
    kept = {r["intents"]: r for r in (json.loads(path.read_text()) if path.exists() else [])}
    kept.update({r["intents"]: r for r in rows})  # a run of some sizes keeps the others' figures
    path.write_text(json.dumps([kept[k] for k in sorted(kept)], indent=2) + "\n")


if __name__ == "__main__":
    main(sys.argv[1:])
