"""Lab up and down: 10 and 50 NETCONF nodes (OLTs on devsim, every fifth a BNG on netconfd,
linked in a ring), time until every node answers a NETCONF hello, time to tear down, RSS per
node, and a check that nothing is left behind. Figures go to bench/results/lab.json.
Usage: python bench/lab.py [N ...]   (default 10 50)
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


def topology(n: int, name: str) -> dict:
    nodes, links = {}, []
    for i in range(n):
        kind = "bng-ietf" if i % 5 == 4 else "olt-bbf"
        nodes[f"n{i}"] = {"kind": "linux", "image": f"fullbars/{kind}", "labels": {"fullbars.kind": kind}}
    for i in range(n):
        links.append({"endpoints": [f"n{i}:r{i}", f"n{(i + 1) % n}:l{(i + 1) % n}"]})
    return {"name": name, "topology": {"nodes": nodes, "links": links}}


def mem_kib(pids: list[int], field: str) -> int:
    """Sum of Rss: or Pss: (shared pages split among their users) over the processes."""
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith(field + ":"):
                    total += int(line.split()[1])
        except (FileNotFoundError, ProcessLookupError):
            pass
    return total


def one(n: int) -> dict:
    from orchestrator.lab import netns
    from orchestrator.lab.runtime import open_lab

    with tempfile.TemporaryDirectory() as tmp:
        os.environ["FULLBARS_LAB_DIR"] = f"{tmp}/labs"
        f = Path(tmp) / "bench.clab.yml"
        f.write_text(yaml.safe_dump(topology(n, f"bench{n}")))
        lab = open_lab(f)
        t0 = time.perf_counter()
        st = lab.up(timeout=300)
        up = time.perf_counter() - t0
        running = sum(r["state"] == "running" for r in lab.status())
        pids = [p for nd in st["nodes"].values() for p in nd["pids"]]
        for nd in st["nodes"].values():
            pids += netns.netns_pids(nd["netns"])
        rss = mem_kib(sorted(set(pids)), "Rss")
        pss = mem_kib(sorted(set(pids)), "Pss")
        t0 = time.perf_counter()
        lab.down()
        down = time.perf_counter() - t0
        left = [nd["netns"] for nd in st["nodes"].values() if netns.netns_exists(nd["netns"])]
        left += [p for p in pids if Path(f"/proc/{p}").exists()
                 and Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()[0] not in "ZX"]
    return {"nodes": n, "up_s": round(up, 2), "down_s": round(down, 2), "answering": running,
            "rss_mib_per_node": round(rss / 1024 / n, 1), "pss_mib_per_node": round(pss / 1024 / n, 1),
            "left_behind": len(left)}


def main(argv: list[str]) -> None:
    rows = []
    for n in [int(a) for a in argv] or [10, 50]:
        r = one(n)
        rows.append(r)
        print(f"{r['nodes']:>3} nodes: all answering NETCONF after {r['up_s']} s ({r['answering']} running), "
              f"down in {r['down_s']} s, {r['rss_mib_per_node']} MiB RSS ({r['pss_mib_per_node']} MiB PSS) per node, "
              f"{r['left_behind']} things left behind", flush=True)
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "lab.json").write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main(sys.argv[1:])
