"""fullbars' transaction engine against Ansible (ansible.netcommon.netconf_config, forks 10,
through ansible-runner and playbooks/apply.yml) on the same lab devices with the same payloads,
in one run. 50 devices by default: OLTs on devsim with the shared BBF chain example, and every
fifth a BNG on netconfd with an IETF interface. Each engine starts from freshly started devices.
fullbars' clock includes compiling the device models (the bench process has not compiled them;
`fullbars apply` would have, while planning), and the bench counts the compilations: one per kind.
Prints the ratio, where fullbars' time went per step (connect, lock, read, diff, edit, commit,
read-back, confirm, close), and the load average, since other work on the machine slows both
engines. It also prints how busy the machine's cores were while each engine ran (from /proc/stat):
the agents, their SSH servers and the engine share the cores, so a run that kept every core busy
is at the limit of this machine, not of the engine's waiting. Figures go to
bench/results/apply.json. Usage: python bench/apply.py [N]
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import sys
import tempfile
import time
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from lab import topology  # noqa: E402

NC = "urn:ietf:params:xml:ns:netconf:base:1.0"
BNG = (f'<config xmlns="{NC}"><interfaces xmlns="urn:ietf:params:xml:ns:yang:ietf-interfaces">'
       '<interface><name>eth9</name><description>bench</description>'
       '<type xmlns:ianaift="urn:ietf:params:xml:ns:yang:iana-if-type">ianaift:ethernetCsmacd</type>'
       "</interface></interfaces></config>")


def payloads() -> dict[str, str]:
    from orchestrator.settings import yang_path

    chain = (yang_path()[0] / "examples" / "bbf-xpon-olt-onu-chain.xml").read_text()
    chain = re.sub(r"<!--.*?-->", "", re.sub(r"<\?xml[^>]*>", "", chain), flags=re.S).strip()
    return {"olt-bbf": f'<config xmlns="{NC}">{chain}</config>', "bng-ietf": BNG}


def cpu_seconds() -> tuple[float, float]:
    """(busy, all) CPU seconds of every core since boot, from /proc/stat's first line."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle, iowait
    tick = os.sysconf("SC_CLK_TCK")
    return (sum(fields) - idle) / tick, sum(fields) / tick


class Busy:
    """How much of the machine's cores was busy between start and stop."""

    def __enter__(self):
        self.before = cpu_seconds()
        return self

    def __exit__(self, *exc):
        after = cpu_seconds()
        self.busy_s = after[0] - self.before[0]
        self.share = self.busy_s / max(after[1] - self.before[1], 1e-9)

    def describe(self, own_cpu_s: float | None = None) -> str:
        text = f"the machine's {os.cpu_count()} cores {self.share:.0%} busy ({self.busy_s:.2f} CPU-s"
        if own_cpu_s is not None:
            text += f": the engine's process {own_cpu_s:.2f}, the agents, SSH servers and the rest " \
                    f"{self.busy_s - own_cpu_s:.2f}"
        return text + ")"


def main(argv: list[str]) -> None:
    from orchestrator.lab.runtime import open_lab
    from orchestrator.resources.store import Store
    from orchestrator.models.context import model_set
    from orchestrator.rollout.ansible import run as ansible_run
    from orchestrator.rollout.timing import describe
    from orchestrator.rollout.targets import lab_target
    from orchestrator.rollout.transaction import Change, Transaction

    n = int(argv[0]) if argv else 50
    body = payloads()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        os.environ["FULLBARS_LAB_DIR"] = str(tmp / "labs")
        topo = tmp / "bench.clab.yml"
        topo.write_text(yaml.safe_dump(topology(n, f"apply{n}")))
        lab = open_lab(topo)
        plan_dir = tmp / "plan"
        plan_dir.mkdir()
        manifest = {"devices": {}}
        for name, node in lab.topo.nodes.items():
            manifest["devices"][name] = {"kind": node.kind}
            (plan_dir / f"{name}.edit.xml").write_text(body[node.kind])
        (plan_dir / "manifest.json").write_text(json.dumps(manifest))
        try:
            lab.up(timeout=300)
            target = lab_target(topo)
            changes = [Change(d, nd.kind, target.endpoint(d), body[nd.kind]) for d, nd in sorted(lab.topo.nodes.items())]
            compiled = len(model_set.cache)
            load = [os.getloadavg()]
            t0 = time.perf_counter()
            with Busy() as ours_busy:
                rep = Transaction(Store(f"sqlite:///{tmp}/store.db"), changes, target.label,
                                  confirm_timeout=120).run()
            ours = time.perf_counter() - t0
            compiled = len(model_set.cache) - compiled
            assert rep["outcome"] == "committed", rep["summary"]
            print(f"fullbars: {ours:.2f} s; phases (wall): {rep['seconds']}", flush=True)
            for line in describe(rep):
                print(line, flush=True)
            print(f"during fullbars' transaction: {ours_busy.describe(rep['cpu_s'])}", flush=True)
            lab.down()
            lab.up(timeout=300)  # the same fresh devices for Ansible
            target = lab_target(topo)
            t0 = time.perf_counter()
            with Busy() as theirs_busy:
                res = ansible_run(plan_dir, target, forks=10)
            theirs = time.perf_counter() - t0
            print(f"during Ansible's run: {theirs_busy.describe()}", flush=True)
            load.append(os.getloadavg())
            assert res["rc"] == 0 and not res["failed"], res
        finally:
            lab.down()
    row = {"date": dt.date.today().isoformat(), "devices": n, "fullbars_s": round(ours, 2),
           "ansible_forks10_s": round(theirs, 2), "ratio": round(theirs / ours, 1),
           "model_compilations": compiled, "fullbars_cpu_s": rep["cpu_s"],
           "phases_s": rep["seconds"], "breakdown": rep["breakdown"],
           "machine_busy": {"cores": os.cpu_count(),
                            "fullbars": {"share": round(ours_busy.share, 3), "cpu_s": round(ours_busy.busy_s, 2)},
                            "ansible": {"share": round(theirs_busy.share, 3), "cpu_s": round(theirs_busy.busy_s, 2)}},
           "load_average_1_5_15": {"fullbars_start": [round(x, 2) for x in load[0]],
                                   "ansible_end": [round(x, 2) for x in load[1]]}}
    print(f"{n} devices, one change each: fullbars transaction {row['fullbars_s']} s "
          f"(confirmed commit, read back), Ansible netconf_config forks=10 {row['ansible_forks10_s']} s: "
          f"fullbars {row['ratio']}x faster ({compiled} model compilations; "
          f"load average at the start {load[0][0]:.2f}, at the end {load[1][0]:.2f})")
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "apply.json").write_text(json.dumps(row, indent=2) + "\n")


if __name__ == "__main__":
    main(sys.argv[1:])
