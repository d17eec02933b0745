"""A saved plan (bundle): the folder `fullbars plan --out DIR` writes, taken as it is.

Its manifest holds the sha256 of every file; the bundle id is the sha256 of the manifest, so it
names the whole content. Before anything reads a bundle's configs to send them (apply, lab push,
ansible-apply), the files are checked against the manifest, and each device's base (what the
target environment had given the device when the bundle was planned) against what that
environment's record says now: a difference means the bundle is stale and must be planned again.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from orchestrator.errors import FullbarsError, Problem
from orchestrator.plan.assemble import _wrap
from orchestrator.resources.store import Store, config_sha

EMPTY_SHA = config_sha(_wrap(""))  # a device the environment never gave anything


@dataclass
class Bundle:
    path: Path
    id: str  # sha256 of manifest.json
    manifest: dict

    @property
    def devices(self) -> dict[str, dict]:
        return self.manifest["devices"]

    def intended(self, device: str) -> str:
        """The device's whole intended config (checked against the manifest when loaded)."""
        return (self.path / f"{device}.xml").read_text(encoding="utf-8")

    def owners(self, device: str) -> str | None:
        """The ownership its plan recorded for the intended config, as JSON (None: a bundle
        written before bundles held it)."""
        name = f"{device}.owners.json"
        if name not in self.devices[device].get("files", {}):
            return None
        return (self.path / name).read_text(encoding="utf-8").strip()


def _sha(p: Path) -> str | None:
    try:
        return hashlib.sha256(p.read_bytes()).hexdigest()
    except OSError:
        return None


def load(plan_dir: Path) -> Bundle:
    """The bundle in plan_dir, every file matching its manifest; refused, naming device and file,
    when one does not."""
    path = Path(plan_dir)
    raw = path / "manifest.json"
    try:
        text = raw.read_bytes()
        manifest = json.loads(text)
        devices = manifest["devices"]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise FullbarsError(f"{path} holds no readable plan bundle ({raw.name}: {e})",
                            fix="fullbars plan INTENT... --out DIR") from None
    problems = []
    for dev, d in sorted(devices.items()):
        for name, want in sorted(d.get("files", {}).items()):
            got = _sha(path / name)
            if got != want:
                problems.append(Problem(f"device {dev}: file {name} does not match the bundle's manifest "
                                        f"({'missing' if got is None else f'sha256 {got[:12]}…'}, manifest "
                                        f"{want[:12]}…)", file=str(path / name),
                                        fix="do not edit a bundle by hand: plan again (fullbars plan ... --out DIR)"))
        if f"{dev}.xml" not in d.get("files", {}):
            problems.append(Problem(f"device {dev}: the manifest lists no {dev}.xml", file=str(raw),
                                    fix="plan again (fullbars plan ... --out DIR)"))
    for name, want in sorted(manifest.get("own_models", {}).items()):
        got = _sha(path / name)
        if got != want:
            problems.append(Problem(f"model file {name} does not match the bundle's manifest", file=str(path / name),
                                    fix="do not edit a bundle by hand: plan again (fullbars plan ... --out DIR)"))
    if problems:
        raise FullbarsError(problems)
    return Bundle(path, hashlib.sha256(text).hexdigest(), manifest)


def check_base(s, bundle: Bundle, environment: str, edits: bool = False) -> None:
    """Refuse a bundle that is stale for this environment: a device whose record there is no
    longer what it was when the bundle was planned. edits=True (the bundle's edit files are
    shipped as they are): the edits must also have been computed from that same record."""
    now = {d: config_sha(r.config) for d, r in Store.device_configs(s, environment).items()}
    problems = []
    for dev, d in sorted(bundle.devices.items()):
        have = now.get(dev, EMPTY_SHA)
        was = d.get("bases", {}).get(environment, EMPTY_SHA)
        if have != was:
            problems.append(Problem(
                f"device {dev}: the bundle is stale for {environment}: it was planned when the device had been "
                f"given config {was[:12]}… there, and it has been given {have[:12]}… since",
                file=str(bundle.path / f"{dev}.xml"), fix="re-plan: fullbars plan ... --out DIR, then apply that"))
        elif edits and d.get("base") != have:
            problems.append(Problem(
                f"device {dev}: the bundle's edit starts from config {str(d.get('base'))[:12]}…, but {environment} "
                f"gave the device {have[:12]}…", file=str(bundle.path / f"{dev}.edit.xml"),
                fix=f"re-plan against that environment: fullbars plan ... --target ... --out DIR"))
    if problems:
        raise FullbarsError(problems)


def checked(store, plan_dir: Path, environment: str, edits: bool = False) -> Bundle:
    """The bundle, its files and its bases checked for this environment (a read of the store)."""
    bundle = load(plan_dir)
    with store.transaction(write=False) as s:
        check_base(s, bundle, environment, edits)
    return bundle
