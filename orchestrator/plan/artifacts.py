"""A plan on disk: per device its whole config, the edit, the reverse edit and the diff, plus a
manifest with the models each config was validated with and the sha256 of every file.
Nothing here depends on time or machine, so the same plan gives the same bytes."""

from __future__ import annotations

import hashlib
import json
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
    data = f"/tmp/{Path(config_file).name}.data.xml"
    return (f"sed '1d;$d' {config_file} > {data} && "
            f"yanglint -t config -p \"$FULLBARS_YANG_PATH\" -p yang {feats} {files} {data}")


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
    out.mkdir(parents=True, exist_ok=True)
    old = out / "manifest.json"
    if old.exists():
        try:
            for dev in json.loads(old.read_text()).get("devices", {}).values():
                for f in dev.get("files", {}):
                    (out / f).unlink(missing_ok=True)
        except (json.JSONDecodeError, AttributeError):
            pass
    manifest = {"network": result.network.name, "devices": {}, "services": {}, "own_models": {}}
    own = {m.file for d in result.devices for m in KINDS.get(d.kind).models.modules
           if Path(m.file).is_relative_to(settings.OWN_YANG)}
    if own:
        (out / "yang").mkdir(exist_ok=True)
    for f in sorted(own):
        text = Path(f).read_text(encoding="utf-8")
        (out / "yang" / Path(f).name).write_text(text, encoding="utf-8")
        manifest["own_models"][f"yang/{Path(f).name}"] = hashlib.sha256(text.encode()).hexdigest()
    for d in result.devices:
        files = {f"{d.device}.xml": d.intended, f"{d.device}.edit.xml": d.edit,
                 f"{d.device}.reverse.xml": d.reverse, f"{d.device}.diff": "\n".join(d.diff) + "\n"}
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
        }
    manifest["services"] = service_facts(result.services)
    # The links between planned devices, for a lab topology of this plan (fullbars lab generate).
    planned = set(manifest["devices"])
    manifest["links"] = [{"olt": u.olt, "uplink": u.name, "bng": u.bng, "bng-interface": u.bng_interface}
                         for u in result.network.links() if u.olt in planned and u.bng in planned]
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return manifest
