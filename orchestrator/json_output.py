"""The JSON that `--format json` prints: one object per run on stdout, for scripts. Its shape is
stable and documented in the README (section "JSON output"): every object names its `command`
and says `ok`; an error is {"command", "ok": false, "exit_code", "changed": false, "errors": [...]}
with each problem's message, file, line, path, document and fix."""

from __future__ import annotations

import json
import sys

from orchestrator.errors import FullbarsError

VERSION = 1  # bumped when a field changes meaning or goes away; new fields may appear


def emit(command: str, ok: bool, **fields) -> None:
    sys.stdout.write(json.dumps({"command": command, "format_version": VERSION, "ok": ok, **fields},
                                indent=2, sort_keys=True, default=str) + "\n")


def error(command: str, e: FullbarsError, exit_code: int) -> None:
    emit(command, False, exit_code=exit_code, changed=False,
         errors=[p.as_dict() for p in e.problems])


def drift(target: str, found: list[dict]) -> dict:
    devices = []
    for d in found:
        devices.append({"device": d["device"], "in_sync": bool(d.get("in_sync")) and not d.get("error"),
                        "error": d.get("error"), "pending_removal": d.get("pending_removal", []),
                        "differences": [{"path": x["path"], "what": x["what"], "services": x["services"]}
                                        for x in d.get("differences", [])]})
    return {"target": target, "devices": devices}


def history(rows) -> dict:
    return {"transactions": [{"id": t.id, "created_at": t.created_at, "updated_at": t.updated_at,
                              "kind": t.kind, "state": t.state, "target": t.target,
                              "summary": " ".join(t.summary.split())} for t in rows]}
