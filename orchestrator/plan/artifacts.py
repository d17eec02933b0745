"""A plan on disk: per device its whole config, the edit, the reverse edit and the diff, plus a
manifest with the models each config was validated with and the sha256 of every file.
Nothing here depends on time or machine, so the same plan gives the same bytes."""

from __future__ import annotations

import ctypes
import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path

from orchestrator import settings
from orchestrator.devices.registry import KINDS


def _rel_model_path(file: str) -> str:
    """Where a module file is: our own models are copied to DIR/yang/, standard ones are
    named relative to the model path."""
    p = Path(file)
    if p.is_relative_to(settings.OWN_YANG):
        return f"yang/{p.name}"
    for root in settings.yang_path():
        try:
            return "$FULLBARS_YANG_PATH/" + str(p.relative_to(root))
        except ValueError:
            continue
    return p.name


def yanglint_command(kind_name: str, config_file: str) -> str:
    """How an independent tool checks the config: yanglint with exactly the device's models.
    Run in the artifact folder with FULLBARS_YANG_PATH set; yanglint wants the bare data, so
    the <config> wrapper (first and last line) is cut off first."""
    models = KINDS.get(kind_name).models
    feats = " ".join(f"-F {m.name}:{','.join(m.features)}" for m in models.modules)
    files = " ".join(f'"{_rel_model_path(m.file)}"' if "$" in _rel_model_path(m.file) else _rel_model_path(m.file)
                     for m in models.modules)
    # yanglint refuses a search path that does not exist, and yang/ is written only when some
    # device of the plan uses fullbars' own models.
    own = " -p yang" if any(Path(m.file).is_relative_to(settings.OWN_YANG) for m in models.modules) else ""
    # The bare data goes to a file of its own (mktemp: not a fixed name in /tmp, which another
    # user could take first), removed when the subshell ends; yanglint reads its format from .xml.
    return (f"(d=$(mktemp --suffix=.xml) && trap 'rm -f \"$d\"' EXIT && sed '1d;$d' {config_file} > \"$d\" && "
            f"yanglint -t config -p \"$FULLBARS_YANG_PATH\"{own} {feats} {files} \"$d\")")


def service_facts(services) -> dict:
    """The manifest's services: what lab checks read to know what to expect of each."""
    out = {}
    for s in services:
        # No "action" here: whether a run created or found a service is not part of the artifacts.
        out[s.name] = {"kind": s.kind, "devices": s.devices, "resources": s.resources}
        if not s.serving:  # written only when false, so plans of services in service keep their bytes
            out[s.name]["serving"] = False
    return out


def write(result, out: Path) -> dict:
    """The plan's folder, replaced whole or not at all: written to a temporary sibling, synced,
    then swapped in with one rename, so a process killed while writing leaves the old folder (or
    none) whole and matching its manifest. Files the last plan did not write (a verify report
    put there) are carried over."""
    out = Path(out).resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    for stale in out.parent.glob(f".{out.name}.writing-*"):  # left by a writer that was killed
        shutil.rmtree(stale, ignore_errors=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.writing-", dir=out.parent))
    try:
        umask = os.umask(0o022)
        os.umask(umask)
        os.chmod(tmp, out.stat().st_mode & 0o7777 if out.is_dir() else 0o777 & ~umask)  # mkdtemp makes it 0700
        if out.is_dir():
            _carry_over(out, tmp)
        manifest = _write(result, tmp)
        _sync_tree(tmp)
        if out.exists():
            _exchange(tmp, out)  # atomically: out is now the new plan, tmp the old one
        else:
            os.rename(tmp, out)
        _sync_dir(out.parent)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return manifest


def _carry_over(old: Path, new: Path) -> None:
    ours = {"manifest.json", "yang"}
    try:
        for dev in json.loads((old / "manifest.json").read_text()).get("devices", {}).values():
            ours.update(dev.get("files", {}))
    except (OSError, json.JSONDecodeError, AttributeError):
        pass
    for p in old.iterdir():
        if p.name in ours:
            continue
        if p.is_dir():
            shutil.copytree(p, new / p.name, copy_function=os.link)
        else:
            os.link(p, new / p.name)


def _sync_dir(d: Path) -> None:
    fd = os.open(d, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _sync_tree(root: Path) -> None:
    for d, _, files in os.walk(root):
        for f in files:
            fd = os.open(os.path.join(d, f), os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        _sync_dir(Path(d))


_RENAME_EXCHANGE = 2  # <linux/fs.h>


def _exchange(a: Path, b: Path) -> None:
    """Swap two directories in one step (renameat2 RENAME_EXCHANGE): a rename cannot replace a
    non-empty directory, and two renames would leave a moment with no folder at all."""
    libc = ctypes.CDLL(None, use_errno=True)
    AT_FDCWD = -100
    if libc.renameat2(AT_FDCWD, os.fsencode(a), AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"cannot swap {a} and {b}: {os.strerror(err)}")


def _write(result, out: Path) -> dict:
    manifest = {"network": result.network.name, "devices": {}, "services": {}, "own_models": {},
                "environment": result.environment}
    own = {m.file for d in result.devices for m in KINDS.get(d.kind).models.modules
           if Path(m.file).is_relative_to(settings.OWN_YANG)}
    (out / "yang").mkdir(exist_ok=True)  # the yanglint commands name it, even when no model of ours is used
    for f in sorted(own):
        text = Path(f).read_text(encoding="utf-8")
        (out / "yang" / Path(f).name).write_text(text, encoding="utf-8")
        manifest["own_models"][f"yang/{Path(f).name}"] = hashlib.sha256(text.encode()).hexdigest()
    for d in result.devices:
        files = {f"{d.device}.xml": d.intended, f"{d.device}.edit.xml": d.edit,
                 f"{d.device}.reverse.xml": d.reverse, f"{d.device}.diff": d.diff.text() + "\n",
                 # which services own each part: the store keeps it for the newest plan of a device
                 # only, and an older bundle applied later must still say whose its config is
                 f"{d.device}.owners.json": json.dumps(d.owners, sort_keys=True, separators=(",", ":")) + "\n"}
        shas = {}
        for name, text in files.items():
            (out / name).write_text(text, encoding="utf-8")
            shas[name] = hashlib.sha256(text.encode()).hexdigest()
        models = KINDS.get(d.kind).models
        manifest["devices"][d.device] = {
            "kind": d.kind,
            "modules": [{"name": m.name, "revision": m.revision, "features": list(m.features),
                         "file": _rel_model_path(m.file)} for m in models.modules],
            "features": [f"{m.name}:{f}" for m in models.modules for f in m.features],
            "services": d.services,
            "changed": d.changed,
            "files": shas,
            "validate": yanglint_command(d.kind, f"{d.device}.xml"),
            # what the edit starts from, and what each environment had given the device when planned
            "base": hashlib.sha256(d.current.encode()).hexdigest(),
            "bases": result.bases.get(d.device, {}),
        }
    manifest["services"] = service_facts(result.services)
    manifest["held_back"] = result.held_back  # planned earlier and left off these devices (plan/held_back.py)
    for s in result.services:  # a service's own files (a coverage map), in a folder of its name
        for fname, make in sorted(s.artifacts.items()):
            data = make()
            (out / s.name).mkdir(exist_ok=True)
            (out / s.name / fname).write_bytes(data)
            manifest["services"][s.name].setdefault("files", {})[f"{s.name}/{fname}"] = hashlib.sha256(data).hexdigest()
    # The links between planned devices, for a lab topology of this plan (fullbars lab generate).
    planned = set(manifest["devices"])
    manifest["links"] = [{"olt": u.olt, "uplink": u.name, "bng": u.bng, "bng-interface": u.bng_interface}
                         for u in result.network.links() if u.olt in planned and u.bng in planned]
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return manifest
