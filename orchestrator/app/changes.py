"""Change requests: an engineer submits intents, the server plans them into a bundle of the
change's own, CI attaches a lab verification of it, a NOC operator other than the submitter
approves; then it rolls out (rollouts.py). The states and moves: change_states.py."""

from __future__ import annotations

import json
import re
import secrets
import shutil
from pathlib import Path

from sqlalchemy import select

from orchestrator.acting import current
from orchestrator.app import rollouts
from orchestrator.app.change_states import OPEN, act, get, view
from orchestrator.app.errors import Conflict, NotFound
from orchestrator.app.users import require
from orchestrator.errors import FullbarsError, Problem, one_line
from orchestrator.resources.store import ChangeDeviceRow, ChangeRow, Store, VerificationRow
from orchestrator.rollout.environments import refuse_typo

FILE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}\.ya?ml$")
# Read by an intent beside it, not planned: a coverage fill's measurements.
DATA_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}\.(csv|geojson)$")
ENV_NAME = re.compile(r"^[a-z][a-z0-9-]{0,63}$")

def listing(store) -> list[dict]:
    require("read")
    with store.transaction(write=False) as s:
        return [view(s, r) for r in s.scalars(select(ChangeRow).order_by(ChangeRow.id.desc()))]


def show(store, change_id: int) -> dict:
    """The change with its plan per device (diff, edit), its evidence and its rollout."""
    from orchestrator.plan.bundle import load

    require("read")
    with store.transaction(write=False) as s:
        row = get(s, change_id)
        out = view(s, row)
        ver = s.get(VerificationRow, row.verification_id) if row.verification_id else None
    bundle = load(Path(row.bundle_dir))
    out["devices"] = [{"device": dev, "kind": d["kind"], "services": d.get("services", []),
                       "diff": _read(bundle.path / f"{dev}.diff"), "edit": _read(bundle.path / f"{dev}.edit.xml")}
                      for dev, d in sorted(bundle.devices.items())]
    out["services"] = sorted(bundle.manifest.get("services", {}))
    out["held_back"] = bundle.manifest.get("held_back", {})
    out["evidence"] = None if ver is None else {
        "id": ver.id, "ok": bool(ver.ok), "at": ver.at, "by": ver.by, "environment": ver.environment,
        "checks": json.loads(ver.checks)}
    out["rollout"] = rollouts.progress(store, change_id)
    return out


def _read(p: Path) -> str:
    try:
        return p.read_text(encoding="utf-8")
    except OSError:
        return ""


_CHANGE_FILE = re.compile(r"(?P<dir>/\S*?/changes/[0-9a-f]{16}/intents/)(?P<name>[^\s,;)]+)")


def _without_server_paths(message: str, workdir: Path) -> str:
    """A message naming a file of another change (a service it keeps, by where it came from)
    names it as submitted, not where the server keeps it: users of the API see no server paths."""
    root = str(workdir.resolve())
    return _CHANGE_FILE.sub(lambda m: m["name"] if m["dir"].startswith((root, str(workdir))) else m[0], message)


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
        if not FILE_NAME.match(name) and not DATA_NAME.match(name):
            problems.append(Problem(f"intent file name {name!r} is not allowed", path="intents",
                                    fix="a plain name ending in .yaml (an intent) or .csv or .geojson (data an "
                                        "intent reads, such as a fill's measurements): letters, digits, '.', '_', "
                                        "'-'"))
    if intents and not any(FILE_NAME.match(n) for n in intents) and not problems:
        problems.append(Problem("no intent given, only data files", path="intents",
                                fix="give the intent YAML that reads them too"))
    if not ENV_NAME.match(target or ""):
        problems.append(Problem(f"target environment {target!r} is not an environment name", path="target",
                                fix="the name of an environment the network description addresses, e.g. production"))
    if not (title or "").strip() or len(title) > 256:
        problems.append(Problem("the title must have 1 to 256 characters", path="title"))
    elif bad := one_line(title, "title", "title"):
        problems.append(bad)
    if problems:
        raise FullbarsError(problems)
    with store.transaction(write=False) as s:
        refuse_typo(s, f"env:{target}")
    folder = Path(workdir) / "changes" / secrets.token_hex(8)
    src = folder / "intents"
    src.mkdir(parents=True)
    try:
        for name, text in sorted(intents.items()):
            (src / name).write_text(text, encoding="utf-8")
        before = _services_before(store, intents)
        try:
            result = plan(store, network_file, [str(src / n) for n in sorted(intents) if FILE_NAME.match(n)],
                          environment=f"env:{target}")
        except FullbarsError as e:  # name the file as the submitter named it, not our copy
            for p in e.problems:
                if p.file and p.file.startswith(str(src) + "/"):
                    p.file = p.file[len(str(src)) + 1:]
                p.message = _without_server_paths(p.message, Path(workdir))
            raise FullbarsError(e.problems) from None
        write(result, folder / "bundle")
        _keep_undo(store, folder, before)
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
        for dev, wave in rollouts.waves(bundle).items():
            s.add(ChangeDeviceRow(change_id=row.id, device=dev, wave=wave, tx=""))
        Store.audit(s, "change-submit", f"change:{row.id}",
                    {"to": "planned", "bundle": bundle.id, "target": target, "intents": sorted(intents),
                     "devices": sorted(bundle.devices), "services": sorted(bundle.manifest.get("services", {}))})
        return view(s, row) | {"held_back": result.held_back}


def attach_evidence(store, change_id: int, verification_id: int) -> dict:
    """CI attaches a lab verification (`fullbars lab verify` of the change's bundle): it must pin
    exactly the bundle's intended configs. A failing one is attached too, and the change says so."""
    from orchestrator.lab import evidence
    from orchestrator.plan.bundle import load

    require("changes.evidence")
    with store.transaction(write=False) as s:
        row = get(s, change_id)
        ver = s.get(VerificationRow, verification_id)
        bundle_dir = row.bundle_dir
    if ver is None:
        raise NotFound(f"no lab verification {verification_id}", path="verification_id",
                       fix="run fullbars lab verify BUNDLE_DIR LAB.clab.yml against this store; it prints the id")
    only = json.loads(ver.checks or "{}").get("only")
    if only:
        raise FullbarsError(f"lab verification {verification_id} checked only {', '.join(only)} (--service): "
                            f"it is not evidence of the change", path="verification_id",
                            fix="run fullbars lab verify on the change's bundle without --service, and attach that")
    want = evidence.pin(evidence.configs(load(Path(bundle_dir))))
    if ver.pinned != want:
        raise Conflict(f"lab verification {verification_id} is of other configs than change {change_id}'s bundle "
                       f"(pinned {ver.pinned[:12]}…, the bundle's {want[:12]}…)", path="verification_id",
                       fix="verify this change's bundle (its bundle_dir) in a lab and attach that verification")

    def attach(s, r):
        r.verification_id = verification_id
        return {"verification": verification_id, "ok": bool(ver.ok), "lab": ver.environment}
    return act(store, change_id, "attach-passing" if ver.ok else "attach-failing", attach)


def approve(store, change_id: int) -> dict:
    def who(s, r):
        r.approver = current().name
        return {"submitter": r.submitter}
    return act(store, change_id, "approve", who)


def withdraw(store, change_id: int) -> dict:
    """The change goes, and so does what its plan did to the store: each service it planned is
    put back as it was before (a new one is gone, with what it held), so no later change's plan
    carries it along. One that something else has changed or applied since is left as it is."""
    return act(store, change_id, "withdraw", check=_undo_plan)


UNDO_FILE = "undo.json"


def _services_before(store, intents: dict[str, str]) -> dict[str, dict | None]:
    """Each service the intents name, as the store has it before they are planned. The YAML is
    composed as the plan reads it (nodes, aliases not expanded: a hostile file stays small)."""
    import yaml

    from orchestrator.documents.yamlsrc import read_documents
    from orchestrator.resources import service_versions

    def value(node, key: str):
        if isinstance(node, yaml.MappingNode):
            return next((v for k, v in node.value if isinstance(k, yaml.ScalarNode) and k.value == key), None)
        return None

    names = set()
    for file, text in intents.items():
        if not FILE_NAME.match(file):
            continue  # data an intent reads
        try:
            docs = read_documents(file, text)
        except FullbarsError:
            continue  # the plan refuses it, with its line
        for doc in docs:
            name = value(value(doc, "metadata"), "name")
            if isinstance(name, yaml.ScalarNode) and name.value:
                names.add(name.value)
    with store.transaction(write=False) as s:
        return {n: service_versions.snapshot(s, n) for n in sorted(names)}


def _keep_undo(store, folder: Path, before: dict[str, dict | None]) -> None:
    """Beside the bundle: each service's state before the plan and the intent digest it planned."""
    from orchestrator.resources.store import IntentRow

    with store.transaction(write=False) as s:
        planned = {n: getattr(s.get(IntentRow, n), "digest", None) for n in before}
    path = folder / UNDO_FILE
    path.touch(mode=0o600)
    path.write_text(json.dumps({"before": before, "planned": planned}, sort_keys=True))


KEPT_BY_OLD_RELEASE = "?"  # a change submitted without an undo record: what it planned is unknown


def _planned_by(row: ChangeRow) -> dict[str, str | None]:
    """Each service a change planned → the intent digest it planned (KEPT_BY_OLD_RELEASE when
    only its manifest says which services)."""
    try:
        return json.loads((Path(row.bundle_dir).parent / UNDO_FILE).read_text())["planned"]
    except (OSError, ValueError, KeyError):
        return dict.fromkeys(_services_of(row), KEPT_BY_OLD_RELEASE)


def _services_of(row: ChangeRow) -> set[str]:
    """The services a change planned, from its undo record, else its bundle's manifest."""
    folder = Path(row.bundle_dir).parent
    for path, key in ((folder / UNDO_FILE, "before"), (Path(row.bundle_dir) / "manifest.json", "services")):
        try:
            return set(json.loads(path.read_text()).get(key, {}))
        except (OSError, ValueError):
            continue
    return set()


def _hand_on(others: list[ChangeRow], name: str, began_from, before: dict | None) -> None:
    """A service kept for other open changes: one whose plan began from this change's version
    (began_from(its before) says) takes this change's `before` as its own, so withdrawing that one
    later undoes both."""
    for r in others:
        path = Path(r.bundle_dir).parent / UNDO_FILE
        try:
            undo = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if name in undo.get("before", {}) and began_from(undo["before"][name]):
            undo["before"][name] = before
            path.write_text(json.dumps(undo, sort_keys=True))


def _digest_of(snap: dict | None) -> str | None:
    return (snap or {}).get("intent", {}).get("digest")


def _undo_plan(s, row: ChangeRow) -> dict:
    from orchestrator.resources import service_versions
    from orchestrator.resources.store import IntentRow

    path = Path(row.bundle_dir).parent / UNDO_FILE
    if not path.exists():
        return {"undone": []}  # submitted by a release that kept no undo
    undo = json.loads(path.read_text())
    undone = []
    others = list(s.scalars(select(ChangeRow).where(ChangeRow.id != row.id, ChangeRow.state.in_(OPEN))))
    wanted = [_planned_by(r) for r in others]
    for name, before in sorted(undo["before"].items()):
        planned = undo["planned"].get(name)
        now = s.get(IntentRow, name)
        if getattr(now, "digest", None) != planned:
            # Changed since by another plan: an open change whose plan began from this one's
            # version would give it back when withdrawn; it gives back what this one began from.
            _hand_on(others, name, lambda theirs: planned is not None and _digest_of(theirs) == planned, before)
            continue
        if before == service_versions.snapshot(s, name):
            continue  # as it was
        # An open change that planned it as this one did needs it as it is (its bundle gives it);
        # one that planned another version gets `before` back below, the version its plan began from.
        if any(name in w and w[name] in (planned, KEPT_BY_OLD_RELEASE) for w in wanted):
            now_snap = service_versions.snapshot(s, name)
            _hand_on(others, name, lambda theirs: theirs == now_snap, before)
            continue
        if planned and service_versions.applied_digest(s, name) == planned:
            continue  # another change applied it as this one planned it: it is on the devices
        service_versions.restore(s, name, before)
        undone.append(name)
    return {"undone": undone}  # said in the withdrawal's audit entry
