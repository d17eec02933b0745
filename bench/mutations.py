"""The lab's mutation suite: config faults, as data (tests/mutations/<scenario>.yaml: device,
XPath, a new value or a deletion, the service to verify, a pattern the failure must name), each
pushed into a running lab of its scenario on one device; `fullbars lab verify` (the same code)
must fail naming the fault. The good config goes back between faults (and a last verify proves
it). Prints fault -> the check that caught it (or "refused by the device") and the catch ratio
per intent kind; figures go to bench/results/mutations.json.

A scenario file:

    kind: BusinessBroadband                 # the intent kind whose faults these are
    network: examples/network.yaml
    intents: [examples/lab/*.yaml]          # globs, from the repository root
    secrets: [FULLBARS_PSK_STUDIO]          # customer passphrases the run makes up (never written)
    lab: {name: s4d-mutations, mgmt-subnet: 198.18.235.0/24}   # optional: the lab's own name and subnet
    namespaces: {if: urn:ietf:params:xml:ns:yang:ietf-interfaces, ...}
    faults:
    - name: bng-downstream-rate
      device: bng-east
      xpath: //if:interface[fbs:subscriber/fbs:service-id='ship-repair']/fbs:subscriber/fbs:rates/fbs:downstream
      value: "200000000"                    # or `delete: true`; a leaf the config lacks is created
      service: ship-repair                  # what verify checks (a service, or service/member)
      measure: true                         # iperf3 too (default: addresses, reachability, configs)
      expect: bng-east polices downstream   # a regex verify's problems must match: the fault named
      ci: true                              # in the reduced set tests/test_mutations.py runs

Usage: python bench/mutations.py [--scenario NAME...] [--fault NAME...] [--ci] [--out FILE]
(as root: it makes network namespaces). Without --scenario every file in tests/mutations/.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import re
import secrets
import signal
import sys
import tempfile
import time
from pathlib import Path

import yaml
from lxml import etree
from ncclient.operations.rpc import RPCError

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # run as a script from anywhere

from orchestrator.netconf.secrets import is_ref, secret_value  # noqa: E402

HERE = REPO / "bench"
SCENARIOS = REPO / "tests" / "mutations"
CAUGHT, REFUSED, UNNAMED, MISSED = "caught", "refused by the device", "failed without naming the fault", "MISSED"


class MutationError(Exception):
    """A fault that does not fit the config it is meant for (its XPath matches nothing)."""


def load(name_or_path: str | Path) -> dict:
    p = Path(name_or_path)
    if not p.is_file():
        p = SCENARIOS / f"{name_or_path}.yaml"
    sc = yaml.safe_load(p.read_text())
    sc["name"] = p.stem
    return sc


def scenarios() -> list[str]:
    return sorted(p.stem for p in SCENARIOS.glob("*.yaml"))


def mutate(config_xml: str, fault: dict, namespaces: dict) -> str:
    """The config with the fault in it: every node the XPath selects gets the new value (or is
    deleted); a leaf that is not there is created under the node its parent path selects."""
    root = etree.fromstring(config_xml.encode())
    hits = root.xpath(fault["xpath"], namespaces=namespaces)
    if not hits and not fault.get("delete"):
        parent_path, _, leaf = fault["xpath"].rpartition("/")
        parents = root.xpath(parent_path, namespaces=namespaces) if parent_path else []
        prefix, _, local = leaf.rpartition(":")
        if not parents or "[" in leaf:
            raise MutationError(f"{fault['name']}: {fault['xpath']} selects nothing on {fault['device']}")
        hits = [etree.SubElement(p, f"{{{namespaces[prefix]}}}{local}" if prefix else local) for p in parents]
    if not hits:
        raise MutationError(f"{fault['name']}: {fault['xpath']} selects nothing on {fault['device']}")
    for el in hits:
        if fault.get("delete"):
            el.getparent().remove(el)
        else:
            el.text = str(fault["value"])
    return etree.tostring(root, encoding="unicode")


def took(fault: dict, good_xml: str, running_xml: bytes, namespaces: dict) -> bool:
    """Whether the device runs the fault: a deleted node is gone; a changed leaf holds the new
    value, or is gone where the good config had it (a list key renamed moves its entry)."""
    def hits(xml):
        return etree.fromstring(xml).xpath(fault["xpath"], namespaces=namespaces)
    now = hits(running_xml)
    if fault.get("delete"):
        return not now
    value = str(fault["value"])
    if is_ref(value):  # a secret leaf: the device holds the value the reference names
        value = secret_value(value)
    return any((el.text or "") == value for el in now) or (not now and bool(hits(good_xml.encode())))


def change_text(fault: dict) -> str:
    return "delete" if fault.get("delete") else f"= {fault['value']}"


def plan_scenario(sc: dict, work: Path):
    """Plan the scenario's intents into work/plan with a store of its own."""
    from orchestrator.plan.artifacts import write
    from orchestrator.plan.pipeline import plan
    from orchestrator.resources.store import Store

    intents = sorted(f for g in sc["intents"] for f in glob.glob(str(REPO / g)))
    result = plan(Store(f"sqlite:///{work}/store.db"), str(REPO / sc["network"]), intents)
    write(result, work / "plan")
    return work / "plan"


class Suite:
    """One scenario's lab, up with its plan pushed; faults run one at a time."""

    def __init__(self, sc: dict, work: Path, name: str):
        self.sc, self.work, self.name = sc, work, name
        self.lab = self.st = self.plan = None

    def up(self) -> None:
        from orchestrator.lab.generate import from_plan
        from orchestrator.lab.push import push
        from orchestrator.lab.runtime import open_lab

        for var in self.sc.get("secrets", []):  # made up for this run, held only in the environment
            os.environ.setdefault(var, secrets.token_urlsafe(18))
        os.environ["FULLBARS_LAB_DIR"] = str(self.work / "labs")
        self.plan = plan_scenario(self.sc, self.work)
        topo = self.work / "lab.clab.yml"
        lab = self.sc.get("lab", {})  # a scenario may give its lab a name and management subnet
        doc = yaml.safe_load(from_plan(self.plan, lab.get("name", self.name)))
        if lab.get("mgmt-subnet"):
            doc["mgmt"] = {"ipv4-subnet": lab["mgmt-subnet"]}
        topo.write_text(yaml.safe_dump(doc, sort_keys=False))
        self.lab = open_lab(topo)
        self.st = self.lab.up(timeout=90)
        pushed = push(self.plan, self.st)
        bad = [r for r in pushed if not r["ok"] or r["dataplane"] != "applied"]
        if bad:
            raise RuntimeError(f"the good configs did not take: {bad}")

    def down(self) -> None:
        if self.lab is not None:
            self.lab.down()

    def verify(self, only: list[str] | None, rates: bool) -> dict:
        from orchestrator.lab.verify import verify

        return verify(self.plan, self.st, only=only, rates=rates)

    def _push(self, device: str, config_xml: str) -> dict:
        """Replace the device's config and commit (an rpc-error raises); wait for the lab to apply
        it; r["running"]: what the device runs now, as its agent holds it."""
        from orchestrator.lab.personality import wait_applied
        from orchestrator.lab.push import push_one
        from orchestrator.lab.running import RunningSource

        m = json.loads((self.plan / "manifest.json").read_text())
        n = self.st["nodes"][device]
        r = push_one(device, n["mgmt_ip"], self.st["user"], self.st["password"], config_xml,
                     m["devices"][device]["kind"], known=tuple(self.st.get("hostkeys", {}).get(device, ())))
        r["late"] = wait_applied(self.st, [device]).late
        src = RunningSource(self.st, device)
        try:
            r["running"] = src.read()
        finally:
            src.close()
        return r

    def _discard(self, device: str) -> None:
        from ncclient import manager

        n = self.st["nodes"][device]
        with manager.connect(host=n["mgmt_ip"], port=830, username=self.st["user"], password=self.st["password"],
                             hostkey_verify=False, look_for_keys=False, allow_agent=False, timeout=30) as m:
            m.discard_changes()

    def run(self, fault: dict) -> dict:
        """Push the fault, verify its service, give the good config back."""
        good = (self.plan / f"{fault['device']}.xml").read_text()
        bad = mutate(good, fault, self.sc["namespaces"])
        row = {"scenario": self.sc["name"], "kind": self.sc["kind"], "fault": fault["name"],
               "device": fault["device"], "xpath": fault["xpath"], "change": change_text(fault)}
        started = time.monotonic()
        try:
            try:
                pushed = self._push(fault["device"], bad)
            except (RPCError, RuntimeError) as e:  # an rpc-error: the device will not run this config
                row.update(outcome=REFUSED, by=_one_line(e))
                self._discard(fault["device"])  # a refused commit leaves the edit in the candidate
                return row
            if pushed["running"] is None or not took(fault, good, pushed["running"], self.sc["namespaces"]):
                row.update(outcome=REFUSED, by="the device answered ok but does not run the change")
                return row
            rep = self.verify([fault["service"]], bool(fault.get("measure")))
            said = [p for r in rep["services"] for p in r["problems"]] + \
                [f"data plane of {f['node']} FAILED: {f['tried']}: {f['error']}" for f in rep["dataplane_failures"]]
            named = [p for p in said if re.search(fault["expect"], p)]
            if rep["ok"]:
                row.update(outcome=MISSED, by="verify passed")
            elif named:
                row.update(outcome=CAUGHT, by=named[0])
            else:
                row.update(outcome=UNNAMED, by="; ".join(said))
            return row
        finally:
            restored = self._push(fault["device"], good)
            row["restored"] = restored["ok"] and not restored["late"]
            row["seconds"] = round(time.monotonic() - started, 1)


def _one_line(e: Exception) -> str:
    return " ".join(str(e).split())[:300]


def caught(row: dict) -> bool:
    return row["outcome"] in (CAUGHT, REFUSED)


def summary(rows: list[dict]) -> dict:
    out = {}
    for kind in sorted({r["kind"] for r in rows}):
        mine = [r for r in rows if r["kind"] == kind]
        out[kind] = {"faults": len(mine), "caught": sum(caught(r) for r in mine),
                     "ratio": round(sum(caught(r) for r in mine) / len(mine), 3)}
    return out


def report(rows: list[dict]) -> str:
    lines = []
    for r in rows:
        lines.append(f"{r['kind']:18} {r['fault']:30} {r['device']:12} -> {r['outcome']}: {r['by']}")
    for kind, s in summary(rows).items():
        lines.append(f"{kind}: {s['caught']}/{s['faults']} caught ({s['ratio'] * 100:.0f}%)")
    return "\n".join(lines)


def run_scenario(name: str, work: Path, lab_name: str, only: list[str] | None = None, ci: bool = False,
                 echo=None) -> dict:
    """Every fault (or the ci ones, or those named) of one scenario against one lab of it."""
    sc = load(name)
    faults = [f for f in sc["faults"] if (not only or f["name"] in only) and (not ci or f.get("ci"))]
    suite = Suite(sc, work, lab_name)
    rows = []
    try:
        suite.up()
        base = suite.verify(None, False)
        if not base["ok"]:
            raise RuntimeError(f"{name}: the good configs fail verify: "
                               f"{[(r['service'], r['problems']) for r in base['services'] if not r['ok']]}")
        for f in faults:
            rows.append(suite.run(f))
            if echo:
                echo(report(rows[-1:]).splitlines()[0])
        after = suite.verify(None, False)
        return {"rows": rows, "restored": after["ok"] and all(r["restored"] for r in rows),
                "after": [(r["service"], r["problems"]) for r in after["services"] if not r["ok"]] +
                [f"data plane of {f['node']} FAILED: {f['tried']}: {f['error']}" for f in after["dataplane_failures"]]}
    finally:
        suite.down()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scenario", nargs="*", default=None, help="scenario names (default: all)")
    ap.add_argument("--fault", nargs="*", default=None, help="only these faults")
    ap.add_argument("--ci", action="store_true", help="only the faults marked ci")
    ap.add_argument("--out", default=str(HERE / "results" / "mutations.json"))
    a = ap.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # a timeout still takes the lab down
    rows, notes = [], {}
    with tempfile.TemporaryDirectory(prefix="fbf-mut-") as tmp:
        for i, name in enumerate(a.scenario or scenarios()):
            work = Path(tmp) / name
            work.mkdir()
            res = run_scenario(name, work, f"fbf{i}{os.getpid() % 10000}", a.fault, a.ci, echo=print)
            rows += res["rows"]
            notes[name] = {"restored": res["restored"], "after": res["after"]}
    print(report(rows))
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps({"date": time.strftime("%Y-%m-%d"), "summary": summary(rows),
                                       "scenarios": notes, "faults": rows}, indent=2) + "\n")
    return 0 if all(n["restored"] for n in notes.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
