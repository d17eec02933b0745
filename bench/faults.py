"""Transactions under faults. One lab (2 OLTs on devsim, a BNG on yuma123 netconfd); each run
flips two lines' downstream rates (one line per OLT, so all 3 devices change) with
`fullbars apply` in a child process, under one fault:

  kill-fullbars            SIGKILL of fullbars: at each journalled step, after all confirms,
                           or after a random delay
  kill-agent-before-commit SIGKILL of one device's agent (devsim or netconfd) after the edits
  kill-agent-during-commit ... as soon as the journal says `committing`
  kill-agent-after-commit  ... after the confirmed commits, before confirming; then a second
                           apply while the agent is still down (it must refuse or fail cleanly),
                           and a third one as soon as `lab up` has restarted it
  kill-agent-after-confirm ... after the transaction committed
  refuse                   one device refuses its edit (a value its models reject)
  check-fails              every device takes the edit, a service check before confirming fails

Right after each failed transaction, its report is held against the devices: a device said to be
rolled back must run the old config, one said to be unreachable or in doubt must not answer.

After each run: the dead agents come back (`lab up`), `recover` runs until nothing is
unfinished, and the run settles past the confirm timeout (a re-armed commit would fire by then).
Then a run is a partial state unless every device runs the old config or every device the new
one (read back and compared canonically), the newest committed transaction in the journal says
what they run, the store's record of each device says the same, no transaction is unfinished,
and `drift` finds every device in sync.

Usage: python bench/faults.py [--runs N] [--seed S] [--confirm-timeout T]; figures go to
bench/results/faults.json. Needs root (network namespaces). tests/test_faults.py runs the same
code with fewer runs.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
LINES = {"dock-office": ("olt-1", "1/1/1"), "ship-repair": ("olt-2", "1/1/1")}  # one line per OLT
RATES = {"A": "200M", "B": "400M"}
FAULTS = ["kill-fullbars", "kill-agent-after-commit", "check-fails", "kill-agent-before-commit",
          "kill-agent-during-commit", "refuse", "kill-agent-after-confirm"]
KILL_POINTS = ["committed", "random", "confirming", "verifying", "committing", "editing"]  # each in turn
VICTIMS = ["olt-1", "bng-east", "olt-2"]  # whose agent is killed, in turn: devsim, netconfd, devsim
PREVIOUS = {"editing": "started", "committing": "editing", "verifying": "committing",
            "confirming": "verifying", "committed": "confirming"}


class FaultLab:
    """The lab, its store and the two configs (A and B) every device can be in."""

    def __init__(self, work: Path, name: str, confirm_timeout: int = 5):
        self.work, self.name, self.timeout = Path(work), name, confirm_timeout
        self.db = f"sqlite:///{self.work}/store.db"
        self.env = dict(os.environ, FULLBARS_DB=self.db, FULLBARS_LAB_DIR=str(self.work / "labs"))
        os.environ["FULLBARS_LAB_DIR"] = self.env["FULLBARS_LAB_DIR"]
        self.lab = None
        self.current = "A"
        self.count: dict[str, int] = {}  # runs of each fault class so far

    # --- set-up ------------------------------------------------------------------------
    def _intents(self, which: str) -> Path:
        d = self.work / f"intents-{which}"
        d.mkdir(parents=True, exist_ok=True)
        for f in sorted((REPO / "examples/lab").glob("*.yaml")):
            doc = yaml.safe_load(f.read_text())
            if doc["metadata"]["name"] in LINES:
                doc["spec"].setdefault("rates", {})["downstream"] = RATES[which]
            (d / f.name).write_text(yaml.safe_dump(doc, sort_keys=False))
        return d

    def files(self, which: str) -> list[str]:
        return sorted(str(p) for p in (self.work / f"intents-{which}").glob("*.yaml"))

    def up(self) -> None:
        from orchestrator.lab.generate import from_plan
        from orchestrator.lab.runtime import open_lab
        from orchestrator.plan.artifacts import write
        from orchestrator.plan.pipeline import plan
        from orchestrator.resources.store import Store
        from orchestrator.rollout.apply import apply
        from orchestrator.rollout.targets import lab_target

        self.store = Store(self.db)
        self.configs = {}
        for which in ("B", "A"):  # A last: the store's intents say A, which is applied first
            self._intents(which)
            result = plan(self.store, str(REPO / "examples/network.yaml") if which == "B" else None, self.files(which))
            self.configs[which] = {d.device: (d.kind, d.intended) for d in result.devices}
        assert set(self.configs["A"]) == set(self.configs["B"]) == {"olt-1", "olt-2", "bng-east"}, self.configs["A"].keys()
        assert all(self.configs["A"][d][1] != self.configs["B"][d][1] for d in self.configs["A"]), "a device does not change"
        write(result, self.work / "plan")
        self.topo = self.work / f"{self.name}.clab.yml"
        self.topo.write_text(from_plan(self.work / "plan", self.name, cpes=False))
        self.lab = open_lab(self.topo)
        self.lab.up(timeout=60)
        self.target = lab_target(self.topo)
        rep = apply(self.store, result, self.target, confirm_timeout=self.timeout, checks=False)
        if rep["outcome"] != "committed":
            raise RuntimeError(rep["summary"])

    def down(self) -> None:
        if self.lab is not None:
            self.lab.down()
            self.lab = None

    # --- faults ------------------------------------------------------------------------
    def _apply(self, which: str, pause: str | None = None, timeout: int | None = None) -> subprocess.Popen:
        env = dict(self.env)
        if pause:
            env["FULLBARS_FAULT_PAUSE"] = pause
        return subprocess.Popen([sys.executable, "-m", "orchestrator", "apply", *self.files(which), "--target", "lab",
                                 "--lab", str(self.topo), "--confirm-timeout", str(timeout or self.timeout), "--no-checks"],
                                cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def _newest(self):
        from orchestrator.rollout.transaction import history

        rows = history(self.store, 1)
        return rows[0] if rows else None

    def _wait_state(self, before_id, states, proc, limit: float = 60) -> bool:
        """Until a transaction newer than before_id is journalled in one of states."""
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            t = self._newest()
            if t is not None and t.id != before_id and t.state in states:
                return True
            if proc.poll() is not None:
                return False
            time.sleep(0.02)
        return False

    def _agent_pid(self, device: str) -> int:
        return self.lab.load_state()["nodes"][device]["pids"][0]  # devsim, or netconfd (sshd comes second)

    @staticmethod
    def _kill(pid: int) -> None:
        """SIGKILL, and wait until it is gone: `lab up` restarts only agents it sees dead."""
        from orchestrator.lab.netns import pid_alive

        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.01)

    def run(self, fault: str, rng: random.Random) -> dict:
        new = "B" if self.current == "A" else "A"
        t0 = time.monotonic()
        before = self._newest().id
        nth = self.count.get(fault, 0)
        self.count[fault] = nth + 1
        note: dict = {"fault": fault, "from": self.current, "to": new}
        problems: list[str] = []
        if fault == "kill-fullbars":
            point = KILL_POINTS[nth % len(KILL_POINTS)]
            note["point"] = point
            if point == "random":
                proc = self._apply(new)
                delay = rng.uniform(0.3, 4.0)
                note["after_s"] = round(delay, 2)
                try:
                    proc.wait(delay)
                except subprocess.TimeoutExpired:
                    pass
            else:
                proc = self._apply(new, pause=f"{point}:60")
                self._wait_state(before, (PREVIOUS[point],), proc)
                time.sleep(1.0)  # the step before the pause is done (each takes well under a second here)
            proc.send_signal(signal.SIGKILL)
            proc.communicate()
        elif fault.startswith("kill-agent"):
            victim = VICTIMS[nth % len(VICTIMS)]  # devsim and netconfd in turn
            note["agent"] = victim
            when = fault.removeprefix("kill-agent-")
            pause = {"before-commit": "committing:3", "after-commit": "confirming:3"}.get(when)
            # after the commit: a confirm window long enough for the agent to be back inside it
            window = 4 * self.timeout if when == "after-commit" else self.timeout
            proc = self._apply(new, pause=pause, timeout=window)
            if when == "before-commit":
                ok = self._wait_state(before, ("editing",), proc)
                time.sleep(1.0)
            elif when == "during-commit":
                ok = self._wait_state(before, ("committing",), proc)
            elif when == "after-commit":
                ok = self._wait_state(before, ("verifying",), proc)
                time.sleep(1.0)
            else:
                proc.communicate()
                ok = True
            if ok:
                self._kill(self._agent_pid(victim))
            proc.communicate()
            note["rc"] = proc.returncode
            problems += self._report_truth(before)
            if when == "after-commit":
                # a new transaction while the device is down: it must not go ahead around it
                again = self._apply(new)
                o2, e2 = again.communicate()
                note["second_rc"] = again.returncode
                note["second_names_device"] = victim in (o2 + e2)
                # the agent comes back (with whatever it kept) and the next apply starts at once,
                # inside the old confirm window
                self.lab.up(timeout=60)
                third = self._apply(new)
                third.communicate()
                note["third_rc"] = third.returncode
        elif fault == "refuse":
            note["device"] = self._refuse(new, rng)
            problems += self._report_truth(before)
        elif fault == "check-fails":
            note["check_s"] = 0 if nth % 2 == 0 else self.timeout + 1  # every other one outlasts the confirm timeout
            self._check_fails(new, note["check_s"])
            problems += self._report_truth(before)
        window = 4 * self.timeout if fault == "kill-agent-after-commit" else self.timeout
        self.settle(t0 + window - self.timeout)
        problems += self.check()
        note["problems"] = problems
        note["seconds"] = round(time.monotonic() - t0, 1)
        if problems:  # put the lab back into a known state so later runs mean something
            self._repair()
        return note

    def _report_truth(self, before_id) -> list[str]:
        """Right after a failed transaction, before any recover: does its report say what the
        devices really did? Rolled back means it runs the old config; in doubt means unreachable."""
        from orchestrator.netconf.session import Session

        t = self._newest()
        if t is None or t.id == before_id or t.state == "committed":
            return []
        rep = json.loads(t.report or "{}")
        old = self.current
        out = []
        for dev, d in rep.get("devices", {}).items():
            kind = self.configs[old][dev][0]
            try:
                s = Session(self.target.endpoint(dev), kind)
                live = s.running_xml()
                s.close()
            except Exception:
                live = None
            if live is None:
                if d["state"] in ("rolled-back",) and d.get("how", "").startswith("reverted"):
                    out.append(f"report: {dev} said {d['how']!r} but does not answer")
                continue
            runs_old = not self._differs(kind, live, self.configs[old][dev][1])
            if d["state"] != "rolled-back" and d["state"] != "unchanged":
                out.append(f"report: {dev} said {d['state']} ({d['error'][:120]}) but it answers and runs the "
                           f"{'old' if runs_old else 'new or another'} config")
            elif not runs_old:
                out.append(f"report: {dev} said {d['state']} but does not run the old config")
        return out

    @staticmethod
    def _differs(kind: str, live: str, want: str) -> bool:
        """Canonically different, as drift compares."""
        from orchestrator.devices.registry import KINDS
        from orchestrator.models.schema_index import schema_index
        from orchestrator.plan.diff import edits

        return edits(schema_index(KINDS.get(kind).models), live, want)[2]

    def _changes(self, which: str) -> list:
        from orchestrator.rollout.transaction import Change

        return [Change(dev, kind, self.target.endpoint(dev), intended)
                for dev, (kind, intended) in sorted(self.configs[which].items())]

    def _refuse(self, new: str, rng: random.Random) -> str:
        """One device gets a config with a value its models reject; the others the new config."""
        from orchestrator.rollout.transaction import Transaction

        victim = rng.choice(sorted(self.configs[new]))
        changes = self._changes(new)
        for c in changes:
            if c.device == victim:  # an interface type that no module defines: refused by devsim and netconfd
                bad = c.intended.replace("ianaift:ethernetCsmacd", "ianaift:no-such-type", 1)
                assert bad != c.intended, f"{c.device}: no interface type to spoil"
                c.intended = bad
        Transaction(self.store, changes, self.target.label, confirm_timeout=self.timeout).run()
        return victim

    def _check_fails(self, new: str, seconds: float) -> None:
        """Every device takes the new config, then a service check before confirming fails after
        `seconds` (a lab's DHCP, ping and personality waits can outlast the confirm timeout)."""
        from orchestrator.rollout.transaction import Transaction

        def check():
            time.sleep(seconds)
            return ["a line does not reach its server (the bench says so)"]

        Transaction(self.store, self._changes(new), self.target.label, confirm_timeout=self.timeout,
                    checks=check).run()

    # --- after each run ----------------------------------------------------------------
    def settle(self, t0: float) -> None:
        from orchestrator.rollout.recover import recover, unfinished

        self.lab.up(timeout=60)  # restarts dead agents with their datastores
        deadline = time.monotonic() + 60
        while unfinished(self.store) and time.monotonic() < deadline:
            recover(self.store)
            if unfinished(self.store):
                time.sleep(1)
        rest = t0 + self.timeout + 2 - time.monotonic()
        if rest > 0:  # any confirmed commit still armed somewhere fires before the check
            time.sleep(rest)

    def check(self) -> list[str]:
        """Problems: [] when devices, journal and store agree on one of the two configs."""
        from orchestrator.netconf.session import Session
        from orchestrator.resources.store import DeviceConfigRow, TransactionRow, TxDeviceRow
        from orchestrator.rollout.drift import check as drift
        from orchestrator.rollout.recover import unfinished
        from sqlalchemy import select

        differs = self._differs

        problems = []
        runs = {}
        for dev, (kind, _) in self.configs["A"].items():
            for attempt in range(5):  # an agent `lab up` just restarted may still be settling
                try:
                    s = Session(self.target.endpoint(dev), kind)
                    live = s.running_xml()
                    s.close()
                    break
                except Exception as e:
                    print(f"  ({dev}: cannot read it yet: {type(e).__name__}: {e})", flush=True)
                    live = None
                    time.sleep(1)
            if live is None:
                problems.append(f"unreadable: {dev}")
                runs[dev] = ["neither"]
                continue
            runs[dev] = [w for w in ("A", "B") if not differs(kind, live, self.configs[w][dev][1])] or ["neither"]
        seen = {r[0] for r in runs.values()}
        if len(seen) != 1 or "neither" in seen:
            problems.append(f"partial: devices run {runs}")
        if unfinished(self.store):
            problems.append(f"unfinished: {[t.id for t in unfinished(self.store)]}")
        with self.store.transaction() as s:
            last = s.scalars(select(TransactionRow).where(TransactionRow.state == "committed")
                             .order_by(TransactionRow.created_at.desc()).limit(1)).first()
            journal = {r.device: r.intended for r in s.scalars(select(TxDeviceRow).where(TxDeviceRow.tx == last.id))}
            stored = {d: s.get(DeviceConfigRow, (self.target.label, d)).config for d in runs}
        for dev, (kind, _) in self.configs["A"].items():
            which = runs[dev][0]
            want = self.configs[which][dev][1] if which != "neither" else None
            if dev in journal and (want is None or differs(kind, journal[dev], want)):
                problems.append(f"journal: {dev} last committed by {last.id} is not what it runs ({which})")
            if want is None or differs(kind, stored[dev], want):
                problems.append(f"store: {dev}'s record is not what it runs ({which})")
        for d in drift(self.store, self.target):
            if d.get("error") or not d["in_sync"]:
                problems.append(f"drift: {d['device']}: {d.get('error') or d['differences'][:2]}")
        if not problems:
            self.current = seen.pop()
        return problems

    def _repair(self) -> None:
        from orchestrator.rollout.transaction import Transaction

        changes = self._changes(self.current)
        Transaction(self.store, changes, self.target.label, kind="reconcile", confirm_timeout=self.timeout).run()


def runs(lab: FaultLab, n: int, seed: int, say=print, faults=FAULTS) -> dict:
    """n runs, every fault class in turn (so any n >= 6 has each), random points and victims."""
    rng = random.Random(seed)
    per: dict[str, dict] = {f: {"runs": 0, "partial": 0} for f in faults}
    notes = []
    for i in range(n):
        fault = faults[i % len(faults)]
        note = lab.run(fault, rng)
        notes.append(note)
        per[fault]["runs"] += 1
        per[fault]["partial"] += bool(note["problems"])
        say(f"run {i + 1:3}/{n} {fault:26} {json.dumps({k: v for k, v in note.items() if k not in ('fault',)})}")
    return {"runs": n, "seed": seed, "confirm_timeout": lab.timeout, "per_fault": per,
            "partial": sum(p["partial"] for p in per.values()), "notes": notes}


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=100)
    ap.add_argument("--seed", type=int, default=19)
    ap.add_argument("--confirm-timeout", type=int, default=5)
    ap.add_argument("--fault", action="append", choices=FAULTS, help="only these fault classes (default: all)")
    ap.add_argument("--keep", type=Path, help="work in this folder and leave it (logs, store) for a look")
    a = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="fullbars-faults-") as tmp:
        lab = FaultLab(a.keep or Path(tmp), "wflt-bench", a.confirm_timeout)
        try:
            lab.up()
            t0 = time.monotonic()
            res = runs(lab, a.runs, a.seed, faults=a.fault or FAULTS)
            res["seconds"] = round(time.monotonic() - t0, 1)
        finally:
            lab.down()
    for f, p in res["per_fault"].items():
        print(f"{f:26} {p['runs']:4} runs  {p['partial']} partial state(s)")
    print(f"{res['runs']} runs in {res['seconds']} s: {res['partial']} partial state(s)")
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "faults.json").write_text(json.dumps(res, indent=2, sort_keys=True) + "\n")
    return 1 if res["partial"] else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
