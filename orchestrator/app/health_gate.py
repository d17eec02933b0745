"""The health gate between a change's waves: before the next wave starts (and before the change
is done), every device of the waves already confirmed must still run what the bundle intended,
read back from the device and compared as `fullbars drift` compares (canonically, node by node).
A wave not yet confirmed is checked inside its own transaction (read back, lab checks) and rolls
back by itself; a confirmed one cannot, so a failed gate pauses the change with the reason
(its error, the live view, the audit) until a NOC operator puts it right and resumes, or aborts."""

from __future__ import annotations

from orchestrator.netconf.session import read_running, rpc_error_text
from orchestrator.rollout.drift import differences

MAX_SHOWN = 3  # differences named per device; the audit row has them all


def problems(bundle, target, devices: list[str]) -> list[dict]:
    """Per unhealthy device: its differences from the bundle's intended config, or why it could
    not be read."""
    out = []
    for dev in sorted(devices):
        kind, intended = bundle.devices[dev]["kind"], bundle.intended(dev)
        try:
            live = read_running(target.endpoint(dev), kind, intended)
        except Exception as e:  # noqa: BLE001 - a device that does not answer is not healthy
            out.append({"device": dev, "error": f"cannot read running: {rpc_error_text(e)}", "differences": []})
            continue
        changed, diffs = differences(kind, live, intended, None)
        if changed:
            out.append({"device": dev, "error": "", "differences": [{"path": d["path"], "what": d["what"]}
                                                                     for d in diffs]})
    return out


def said(found: list[dict]) -> str:
    """One line for the change's error and the live view."""
    parts = []
    for f in found:
        if f["error"]:
            parts.append(f"{f['device']}: {f['error']}")
            continue
        shown = "; ".join(f"{d['path']} ({d['what']})" for d in f["differences"][:MAX_SHOWN])
        more = len(f["differences"]) - MAX_SHOWN
        parts.append(f"{f['device']} does not run the planned config: {shown}" + (f"; {more} more" if more > 0 else ""))
    return "health gate: " + " | ".join(parts) + \
        " (fix the device, e.g. fullbars drift --reconcile, then resume; or abort and roll back)"
