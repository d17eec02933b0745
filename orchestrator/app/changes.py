"""Change requests: an engineer submits intents, the server plans them into a bundle, CI attaches
a lab verification of it, a NOC operator other than the submitter approves, and the bundle rolls
out in waves, each a network-wide confirmed commit that undoes itself when it fails.

Every move is one row of TRANSITIONS; anything else is refused (Conflict). `run_rollout` is the one
function that carries a rollout: a face starts it through `launch` (inline for the CLI, a thread in
the server), and a durable engine can take its place there without either face changing."""

from __future__ import annotations

import json
import re
import secrets
import shutil
import time
from pathlib import Path

from sqlalchemy import select

from orchestrator.acting import acting, current
from orchestrator.app.errors import Conflict, NotAllowed, NotFound
from orchestrator.app.users import may, require
from orchestrator.errors import FullbarsError, Problem
from orchestrator.resources.store import (ChangeDeviceRow, ChangeRow, Store, TransactionRow, TxDeviceRow,
                                          VerificationRow, _now)

# (state, event) → next state: the whole life of a change request.
TRANSITIONS: dict[tuple[str, str], str] = {
    ("planned", "attach-passing"): "verified",
    ("planned", "attach-failing"): "lab-failed",
    ("lab-failed", "attach-passing"): "verified",
    ("lab-failed", "attach-failing"): "lab-failed",
    ("verified", "approve"): "approved",
    ("approved", "start"): "rolling-out",
    ("rolling-out", "pause"): "paused",
    ("paused", "resume"): "rolling-out",
    ("rolling-out", "abort"): "aborted",
    ("paused", "abort"): "aborted",
    ("rolling-out", "finish"): "done",
    ("rolling-out", "fail"): "failed",
    ("paused", "fail"): "failed",
    ("done", "roll-back"): "rolled-back",
    ("failed", "roll-back"): "rolled-back",
    ("aborted", "roll-back"): "rolled-back",
    ("planned", "withdraw"): "withdrawn",
    ("lab-failed", "withdraw"): "withdrawn",
    ("verified", "withdraw"): "withdrawn",
    ("approved", "withdraw"): "withdrawn",
}
STATES = sorted({s for s, _ in TRANSITIONS} | set(TRANSITIONS.values()))
# what each event needs of the acting user (the API asks the same table: one authority)
EVENT_PERMISSION = {"attach-passing": "changes.evidence", "attach-failing": "changes.evidence",
                    "approve": "changes.approve", "start": "changes.rollout", "pause": "changes.rollout",
                    "resume": "changes.rollout", "abort": "changes.rollout", "roll-back": "changes.rollout",
                    "withdraw": "changes.withdraw"}
FILE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}\.ya?ml$")
ENV_NAME = re.compile(r"^[a-z][a-z0-9-]{0,63}$")
WAIT_STEP = 0.5  # seconds a paused rollout sleeps between looks at its state


def allowed(row: ChangeRow, event: str, actor=None) -> bool:
    """May this actor cause this event now? (the state machine, their role, and four-eyes)"""
    actor = actor or current()
    if event not in EVENT_PERMISSION:  # the rollout's own moves (finish, fail): no one causes them
        return False
    if (row.state, event) not in TRANSITIONS or not may(actor, EVENT_PERMISSION[event]):
        return False
    if event == "approve" and actor.name == row.submitter:
        return False
    if event == "withdraw" and actor.name != row.submitter:
        return False
    return True


def _move(s, row: ChangeRow, event: str, detail: dict | None = None) -> None:
    """Apply one transition (refused unless the table has it), and audit it."""
    nxt = TRANSITIONS.get((row.state, event))
    if nxt is None:
        can = sorted(e for (st, e) in TRANSITIONS if st == row.state)
        raise Conflict(f"change {row.id} is {row.state}: it cannot {event}", path="state",
                       fix=f"in state {row.state} it can: {', '.join(can) or 'nothing more'}")
    was, row.state, row.updated_at = row.state, nxt, _now()
    Store.audit(s, f"change-{event}", f"change:{row.id}",
                {"from": was, "to": nxt, "bundle": row.bundle_id, "target": row.target, **(detail or {})})


def _get(s, change_id: int) -> ChangeRow:
    row = s.get(ChangeRow, change_id)
    if row is None:
        raise NotFound(f"no change request {change_id}", path="id", fix="see the list of change requests")
    return row


def _act(store, change_id: int, event: str, check=None, detail: dict | None = None) -> dict:
    """One event by the acting user, authorised, in one store transaction."""
    require(EVENT_PERMISSION[event])
    with store.transaction() as s:
        row = _get(s, change_id)
        if event == "approve" and current().name == row.submitter:
            raise NotAllowed(f"{row.submitter} submitted change {row.id}: someone else must approve it (four-eyes)",
                             path="approver", fix="ask another NOC operator to approve it")
        if event == "withdraw" and current().name != row.submitter:
            raise NotAllowed(f"only {row.submitter}, who submitted change {row.id}, may withdraw it", path="submitter")
        extra = check(s, row) if check else None
        _move(s, row, event, {**(detail or {}), **(extra or {})})
        return view(s, row)


def view(s, row: ChangeRow) -> dict:
    return {"id": row.id, "title": row.title, "submitter": row.submitter, "target": row.target, "state": row.state,
            "bundle_id": row.bundle_id, "bundle_dir": row.bundle_dir, "intents": sorted(json.loads(row.intents)),
            "verification_id": row.verification_id, "approver": row.approver, "error": row.error,
            "created_at": row.created_at, "updated_at": row.updated_at}


def listing(store) -> list[dict]:
    require("read")
    with store.transaction(write=False) as s:
        return [view(s, r) for r in s.scalars(select(ChangeRow).order_by(ChangeRow.id.desc()))]


def show(store, change_id: int) -> dict:
    """The change with its plan per device (diff, edit), its evidence and its rollout."""
    from orchestrator.plan.bundle import load

    require("read")
    with store.transaction(write=False) as s:
        row = _get(s, change_id)
        out = view(s, row)
        ver = s.get(VerificationRow, row.verification_id) if row.verification_id else None
    bundle = load(Path(row.bundle_dir))
    out["devices"] = [{"device": dev, "kind": d["kind"], "services": d.get("services", []),
                       "diff": _read(bundle.path / f"{dev}.diff"), "edit": _read(bundle.path / f"{dev}.edit.xml")}
                      for dev, d in sorted(bundle.devices.items())]
    out["services"] = sorted(bundle.manifest.get("services", {}))
    out["evidence"] = None if ver is None else {
        "id": ver.id, "ok": bool(ver.ok), "at": ver.at, "by": ver.by, "environment": ver.environment,
        "checks": json.loads(ver.checks)}
    out["rollout"] = progress(store, change_id)
    return out


def _read(p: Path) -> str:
    try:
        return p.read_text(encoding="utf-8")
    except OSError:
        return ""


def submit(store, workdir: Path, title: str, intents: dict[str, str], target: str,
           network_file: str | None = None) -> dict:
    """Plan the intents (file name → YAML text) for environment `target` into a bundle of the
    change's own; the store keeps the plan as `fullbars plan` would. Bad input: refused with the
    file, line, path and fix, naming the file as submitted, and no change request is made."""
    from orchestrator.plan.artifacts import write
    from orchestrator.plan.pipeline import plan

    require("changes.submit")
    problems = []
    if not intents:
        problems.append(Problem("no intent given", path="intents", fix="give one or more intent YAML documents"))
    for name in intents:
        if not FILE_NAME.match(name):
            problems.append(Problem(f"intent file name {name!r} is not allowed", path="intents",
                                    fix="a plain name ending in .yaml: letters, digits, '.', '_', '-'"))
    if not ENV_NAME.match(target or ""):
        problems.append(Problem(f"target environment {target!r} is not an environment name", path="target",
                                fix="the name of an environment the network description addresses, e.g. production"))
    if not (title or "").strip() or len(title) > 256:
        problems.append(Problem("the title must have 1 to 256 characters", path="title"))
    if problems:
        raise FullbarsError(problems)
    folder = Path(workdir) / "changes" / secrets.token_hex(8)
    src = folder / "intents"
    src.mkdir(parents=True)
    try:
        for name, text in sorted(intents.items()):
            (src / name).write_text(text, encoding="utf-8")
        try:
            result = plan(store, network_file, [str(src / n) for n in sorted(intents)], environment=f"env:{target}")
        except FullbarsError as e:  # name the file as the submitter named it, not our copy
            for p in e.problems:
                if p.file and p.file.startswith(str(src) + "/"):
                    p.file = p.file[len(str(src)) + 1:]
            raise FullbarsError(e.problems) from None
        write(result, folder / "bundle")
        from orchestrator.plan.bundle import load

        bundle = load(folder / "bundle")
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    with store.transaction() as s:
        row = ChangeRow(title=title.strip(), submitter=current().name, target=target, state="planned",
                        bundle_dir=str(bundle.path), bundle_id=bundle.id, intents=json.dumps(intents, sort_keys=True))
        s.add(row)
        s.flush()
        for dev, wave in waves(bundle).items():
            s.add(ChangeDeviceRow(change_id=row.id, device=dev, wave=wave, tx=""))
        Store.audit(s, "change-submit", f"change:{row.id}",
                    {"to": "planned", "bundle": bundle.id, "target": target, "intents": sorted(intents),
                     "devices": sorted(bundle.devices), "services": sorted(bundle.manifest.get("services", {}))})
        return view(s, row)


def waves(bundle) -> dict[str, int]:
    """device → wave. Devices that share a service go together (a line's OLT and BNG change as
    one); the first such group is the canary (wave 1), the others follow as wave 2."""
    parent = {dev: dev for dev in bundle.devices}

    def root(d):
        while parent[d] != d:
            parent[d] = parent[parent[d]]
            d = parent[d]
        return d

    for svc in bundle.manifest.get("services", {}).values():
        devs = [d for d in svc.get("devices", []) if d in parent]
        for d in devs[1:]:
            parent[root(d)] = root(devs[0])
    groups = sorted({tuple(sorted(d for d in parent if root(d) == r)) for r in {root(d) for d in parent}})
    return {dev: 1 if i == 0 else 2 for i, g in enumerate(groups) for dev in g}


def attach_evidence(store, change_id: int, verification_id: int) -> dict:
    """CI attaches a lab verification (`fullbars lab verify` of the change's bundle): it must pin
    exactly the bundle's intended configs. A failing one is attached too, and the change says so."""
    from orchestrator.lab import evidence
    from orchestrator.plan.bundle import load

    require("changes.evidence")
    with store.transaction(write=False) as s:
        row = _get(s, change_id)
        ver = s.get(VerificationRow, verification_id)
        bundle_dir = row.bundle_dir
    if ver is None:
        raise NotFound(f"no lab verification {verification_id}", path="verification_id",
                       fix="run fullbars lab verify BUNDLE_DIR LAB.clab.yml against this store; it prints the id")
    want = evidence.pin(evidence.configs(load(Path(bundle_dir))))
    if ver.pinned != want:
        raise Conflict(f"lab verification {verification_id} is of other configs than change {change_id}'s bundle "
                       f"(pinned {ver.pinned[:12]}…, the bundle's {want[:12]}…)", path="verification_id",
                       fix="verify this change's bundle (its bundle_dir) in a lab and attach that verification")

    def attach(s, r):
        r.verification_id = verification_id
        return {"verification": verification_id, "ok": bool(ver.ok), "lab": ver.environment}
    return _act(store, change_id, "attach-passing" if ver.ok else "attach-failing", attach)


def approve(store, change_id: int) -> dict:
    def who(s, r):
        r.approver = current().name
        return {"submitter": r.submitter}
    return _act(store, change_id, "approve", who)


def withdraw(store, change_id: int) -> dict:
    return _act(store, change_id, "withdraw")


def pause(store, change_id: int) -> dict:
    return _act(store, change_id, "pause")


def resume(store, change_id: int) -> dict:
    return _act(store, change_id, "resume")


def abort(store, change_id: int) -> dict:
    return _act(store, change_id, "abort")


def start(store, change_id: int, network, launch=None, confirm_timeout: int = 120) -> dict:
    """Start the rollout of an approved change. network: callable giving the network description.
    launch(fn): how run_rollout is carried: by default at once, here; the server passes a
    background runner (this is where a durable engine takes over)."""
    view_now = _act(store, change_id, "start")
    actor = current()

    def job():
        with acting(actor):
            run_rollout(store, change_id, network, confirm_timeout)
    (launch or (lambda fn: fn()))(job)
    return view_now


def _sub_bundle(bundle, devices: set[str]):
    from orchestrator.plan.bundle import Bundle

    m = dict(bundle.manifest)
    m["devices"] = {d: v for d, v in bundle.devices.items() if d in devices}
    m["services"] = {n: v for n, v in bundle.manifest.get("services", {}).items()
                     if set(v.get("devices", [])) & devices}
    return Bundle(bundle.path, bundle.id, m)


def _target(label_or_name: str, network):
    from orchestrator.rollout.targets import lab_target, network_target

    if label_or_name.startswith("lab:"):
        return lab_target(label_or_name[4:])
    return network_target(label_or_name, network())


def run_rollout(store, change_id: int, network, confirm_timeout: int = 120) -> str:
    """Carry a started rollout to its end, wave by wave: each wave's devices in one network-wide
    confirmed commit (the bundle's exact configs, pinned to the lab evidence where the environment
    requires it). Between waves it honours pause and abort; a wave that fails rolls back by
    itself and the rollout stops. Returns the change's final state."""
    from orchestrator.plan.bundle import check_base, load
    from orchestrator.rollout.apply import apply_bundle
    from orchestrator.rollout.promote import required_pins
    from orchestrator.rollout.transaction import new_id

    with store.transaction(write=False) as s:
        row = _get(s, change_id)
        plan_waves: dict[int, set[str]] = {}
        for d in s.scalars(select(ChangeDeviceRow).where(ChangeDeviceRow.change_id == change_id)):
            plan_waves.setdefault(d.wave, set()).add(d.device)
        bundle_dir, target_name = row.bundle_dir, row.target

    def state() -> str:
        with store.transaction(write=False) as s:
            return _get(s, change_id).state

    def end(event: str, detail: dict) -> str:
        with store.transaction() as s:
            r = _get(s, change_id)
            if event == "fail":
                r.error = detail.get("error", "")
            _move(s, r, event, detail)
            return r.state

    try:
        bundle = load(Path(bundle_dir))
        target = _target(target_name, network)
        for wave in sorted(plan_waves):
            while state() == "paused":
                time.sleep(WAIT_STEP)
            if state() != "rolling-out":  # aborted: the waves done stay done
                return state()
            part = _sub_bundle(bundle, plan_waves[wave])
            with store.transaction(write=False) as s:
                check_base(s, part, target.label)
            pins, seen = required_pins(store, target.label, {dev: (d["kind"], part.intended(dev))
                                                             for dev, d in part.devices.items()},
                                       f"change {change_id}'s bundle")
            tx = new_id()
            with store.transaction() as s:
                for dev in part.devices:
                    s.get(ChangeDeviceRow, (change_id, dev)).tx = tx
            rep = apply_bundle(store, part, target, confirm_timeout, True, None, pins, tx=tx)
            with store.transaction() as s:
                Store.audit(s, "change-wave", f"change:{change_id}",
                            {"wave": wave, "tx": tx, "devices": sorted(part.devices), "outcome": rep["outcome"],
                             "bundle": bundle.id, "verification": seen})
            if rep["outcome"] != "committed":
                return end("fail", {"wave": wave, "tx": tx, "error": rep["summary"]})
        while state() == "paused":
            time.sleep(WAIT_STEP)
        if state() != "rolling-out":
            return state()
        return end("finish", {"waves": len(plan_waves)})
    except Exception as e:  # the rollout must end in a state an operator sees, whatever stopped it
        said = e.render() if isinstance(e, FullbarsError) else f"{type(e).__name__}: {e}"
        if not isinstance(e, FullbarsError):
            import traceback

            traceback.print_exc()  # a bug: the details go to the log
        if state() in ("rolling-out", "paused"):
            end("fail", {"error": said})
        return state()


def progress(store, change_id: int) -> dict:
    """The rollout as it stands: per wave, per device its transaction's state, error, seconds."""
    require("read")
    with store.transaction(write=False) as s:
        row = _get(s, change_id)
        devs = list(s.scalars(select(ChangeDeviceRow).where(ChangeDeviceRow.change_id == change_id)
                              .order_by(ChangeDeviceRow.wave, ChangeDeviceRow.device)))
        txs = {d.tx for d in devs if d.tx}
        tx_rows = {t.id: t for t in s.scalars(select(TransactionRow).where(TransactionRow.id.in_(txs)))}
        dev_rows = {(t.tx, t.device): t for t in s.scalars(select(TxDeviceRow).where(TxDeviceRow.tx.in_(txs)))}
    waves_out: dict[int, dict] = {}
    for d in devs:
        w = waves_out.setdefault(d.wave, {"wave": d.wave, "tx": d.tx, "state": "waiting", "devices": []})
        t = tx_rows.get(d.tx)
        if t is not None:
            w["state"] = t.state
            w["tx"] = d.tx
        r = dev_rows.get((d.tx, d.device))
        w["devices"].append({"device": d.device, "state": r.state if r else "waiting",
                             "error": r.error if r else "", "strategy": r.strategy if r else ""})
        seconds = json.loads(t.report).get("devices", {}).get(d.device, {}).get("seconds") if t else None
        w["devices"][-1]["seconds"] = seconds
    return {"change": change_id, "state": row.state, "error": row.error, "waves": list(waves_out.values())}


def roll_back(store, change_id: int, network, confirm_timeout: int = 120) -> dict:
    """Undo a change's committed waves, newest first (each as a rollback transaction)."""
    from orchestrator.app.environments import rollback

    require("changes.rollout")
    with store.transaction(write=False) as s:
        row = _get(s, change_id)
        if (row.state, "roll-back") not in TRANSITIONS:
            _move(s, row, "roll-back")  # raises: refused by the state machine
        txs = [t for t in dict.fromkeys(d.tx for d in s.scalars(
            select(ChangeDeviceRow).where(ChangeDeviceRow.change_id == change_id)
            .order_by(ChangeDeviceRow.wave.desc())) if d.tx)]
        committed = [t for t in txs if (tr := s.get(TransactionRow, t)) is not None and tr.state == "committed"]
    reports = [rollback(store, tx, network, confirm_timeout)["report"] for tx in committed]
    failed = [r["tx"] for r in reports if r["outcome"] != "committed"]
    if failed:
        raise FullbarsError(f"rolling back change {change_id} failed in {', '.join(failed)}",
                            fix="see fullbars history; fullbars recover")
    return _act(store, change_id, "roll-back", detail={"rolled_back": committed,
                                                        "by": [r["tx"] for r in reports]})
