"""Lab evidence: `fullbars lab verify` records what it proved (bundle id, lab topology hash,
every check with its figures, the time, who ran it) in the store and in the bundle. What is
pinned is the whole intended config of each device, canonicalised (plan/canonical.py), so a
bundle planned again against another environment's base, with other edits, still matches the
verification of the same intended configs. A verification passes only when every service check
passed and every lab device ran, read back canonically, the bundle's intended config."""

from __future__ import annotations

import hashlib
import json
import socket
from pathlib import Path

from sqlalchemy import select

from orchestrator.acting import local_user
from orchestrator.errors import FullbarsError
from orchestrator.plan import canonical
from orchestrator.resources.store import VerificationRow, _now

IN_BUNDLE = "verifications.json"  # not in the manifest: evidence about the bundle, kept beside it


def configs(bundle) -> dict[str, str]:
    """device → canonical sha256 of the bundle's intended config for it."""
    return shas({dev: (d["kind"], bundle.intended(dev)) for dev, d in bundle.devices.items()})


def shas(intended: dict[str, tuple[str, str]]) -> dict[str, str]:
    """device → canonical sha256 of its (kind, whole intended config)."""
    return {dev: canonical.sha(kind, xml) for dev, (kind, xml) in sorted(intended.items())}


def pin(shas: dict[str, str]) -> str:
    return hashlib.sha256(json.dumps(shas, sort_keys=True).encode()).hexdigest()


def running_checks(bundle, target, want: dict[str, str]) -> list[dict]:
    """Per lab device: does it run the bundle's intended config (canonical sha256 read back)?"""
    from orchestrator.netconf.session import Session, rpc_error_text

    out = []
    for dev, d in sorted(bundle.devices.items()):
        row = {"check": "running config", "device": dev, "intended_sha256": want[dev]}
        try:
            sess = Session(target.endpoint(dev), d["kind"], bundle.intended(dev))
            try:
                row["running_sha256"] = canonical.sha(d["kind"], sess.running_xml())
            finally:
                sess.close()
        except Exception as e:
            row["error"] = rpc_error_text(e)
        row["ok"] = row.get("running_sha256") == want[dev]
        out.append(row)
    return out


def record(store, bundle, lab_file: Path, target, report: dict, only: list[str] | None) -> dict:
    """Store the verification and append it to the bundle's verifications.json."""
    want = configs(bundle)
    devices = running_checks(bundle, target, want)
    ok = bool(report["ok"]) and all(r["ok"] for r in devices) and not only
    checks = {"services": report, "devices": devices, "only": only or []}
    row = VerificationRow(bundle_id=bundle.id, pinned=pin(want), configs=json.dumps(want, sort_keys=True),
                          environment=target.label, topology_sha=hashlib.sha256(Path(lab_file).read_bytes()).hexdigest(),
                          ok=int(ok), checks=json.dumps(checks, sort_keys=True), at=_now(),
                          by=f"{local_user()}@{socket.gethostname()}")
    with store.transaction() as s:
        s.add(row)
        s.flush()
        rec = {"id": row.id, "bundle_id": row.bundle_id, "pinned": row.pinned, "configs": want,
               "environment": row.environment, "topology_sha256": row.topology_sha, "ok": ok, "checks": checks,
               "at": row.at, "by": row.by}
    kept = bundle.path / IN_BUNDLE
    try:
        earlier = json.loads(kept.read_text())
    except (OSError, ValueError):
        earlier = []
    tmp = kept.with_suffix(".tmp")
    tmp.write_text(json.dumps(earlier + [rec], indent=2, sort_keys=True) + "\n")
    tmp.replace(kept)
    return rec


def pinned(s, intended: dict[str, tuple[str, str]], environment: str, what: str) -> tuple[dict[str, str], int]:
    """(device → pinned canonical sha256, the verification's id) of the newest passing lab
    verification of these intended configs ({device: (kind, config)}); refused when there is none.
    what: how the message names them (a bundle, intents)."""
    want = shas(intended)
    rows = list(s.scalars(select(VerificationRow).where(VerificationRow.pinned == pin(want))
                          .order_by(VerificationRow.id.desc())))
    good = next((r for r in rows if r.ok), None)
    if good is None:
        seen = f" ({len(rows)} verification(s) of them failed, the last {rows[0].at})" if rows else ""
        raise FullbarsError(f"{environment} requires lab evidence: no passing lab verification of the intended "
                            f"configs of {what} (pinned {pin(want)[:12]}…){seen}",
                            fix="plan them with --out DIR, apply DIR to a lab and run fullbars lab verify DIR "
                                "LAB.clab.yml; "
                                f"or, if this environment needs none: fullbars environment "
                                f"{environment.partition(':')[2]} --evidence optional")
    return json.loads(good.configs), good.id
