"""check-sync: does each device run what fullbars last gave it? Differences are reported with
device, path and the service that owns the path; reconcile gives the intended config back."""

from __future__ import annotations

from lxml import etree

from orchestrator.devices.registry import KINDS
from orchestrator.models.schema_index import schema_index
from orchestrator.netconf.hostkeys import HostKeyError
from orchestrator.netconf.session import read_running, rpc_error_text
from orchestrator.plan.diff import NC, edits
from orchestrator.plan.ownership import step
from orchestrator.resources.store import Store

OP = f"{NC}operation"


NOT_INTENDED = "none (not in the intended config)"
UNRECORDED = "unknown (no ownership recorded for the config this device was given: plan and apply it again)"


def _nodes(edit_xml: str, index):
    """(element, path, parent's path, key elements, children) of every node of an edit, parents
    first; what a delete holds is not walked (its keys name it)."""
    def walk(el, path, spath, ns):
        p, sp, cns, key_els = step(index, path, spath, ns, el)
        kids = [] if el.get(OP) == "delete" else [c for c in el if isinstance(c.tag, str) and c not in key_els]
        yield el, p, path, key_els, kids
        for c in kids:
            yield from walk(c, p, sp, cns)

    for top in etree.fromstring(edit_xml.encode()):
        if isinstance(top.tag, str):
            yield from walk(top, "", "", None)


def _changes(edit_xml: str, index, owned: dict | None, running: dict[str, str]) -> list[tuple[str, str, list[str]]]:
    """(path, what, owning services) for every leaf the edit sets, every entry it adds and every
    node it deletes; list entries are named by their keys, from the device kind's schema.
    running: path → the value the device runs, of the leaves the edit changes (_leaves)."""
    out = []
    owners_of: dict[str, list[str]] = {"": []}
    for el, p, parent, key_els, kids in _nodes(edit_xml, index):
        owners = owners_of.get(parent, [])
        mine = owners_of[p] = owned.get(p, owners) if owned is not None else [UNRECORDED]
        if el.get(OP) == "delete":
            # a leaf belongs to the entry it sits in; a whole entry the plan lacks belongs to no one
            what = f"present on the device ({running[p]!r}), not intended" if p in running else \
                "present on the device, not intended"
            out.append((p, what, [NOT_INTENDED] if key_els or not parent else owners))
        elif not kids and key_els:  # an entry of keys only, missing on the device (an edit's shells have children)
            out.append((p, "intended, missing on the device", mine))
        elif not kids:
            now = f"running {running[p]!r}" if p in running else "not set on the device"
            out.append((p, f"intended {(el.text or '').strip()!r}, {now}", mine))
    return out


def _leaves(edit_xml: str, index) -> dict[str, str]:
    """path → value of every leaf an edit sets (the reverse edit's: what the device runs)."""
    return {p: (el.text or "").strip() for el, p, _, key_els, kids in _nodes(edit_xml, index)
            if el.get(OP) != "delete" and not kids and not key_els}


def differences(kind: str, live: str, intended: str, owned: dict | None) -> tuple[bool, list[dict]]:
    """(changed, differences) of a device's running config against its intended one; `owned`
    is the ownership the plan of the intended config recorded (None when there is none)."""
    index = schema_index(KINDS.get(kind).models)
    edit, reverse, changed = edits(index, live, intended)
    if not changed:
        return False, []
    return True, [{"path": p, "what": w, "services": who, "service": ", ".join(who)}
                  for p, w, who in _changes(edit, index, owned, _leaves(reverse, index))]


def overwritten(kind: str, live: str, given: str, edit: str) -> list[dict]:
    """What an edit taken from the device's running config puts back that someone changed there
    after fullbars last gave it `given` (out-of-band changes): path, what the device ran, and
    what fullbars had given. Drift the edit leaves alone (the new config agrees with it) is not
    named."""
    if not given:
        return []
    index = schema_index(KINDS.get(kind).models)
    drift, back, changed = edits(index, given, live)
    if not changed:
        return []
    sends = {p: el.get(OP) for el, p, _, _, _ in _nodes(edit, index)}  # path → the edit's operation there
    ran, had = _leaves(drift, index), _leaves(back, index)
    out, taken_off = [], []
    for el, p, _, _, kids in _nodes(drift, index):
        if p not in sends or any(p.startswith(t + "/") for t in taken_off):
            continue  # nothing the edit touches again, or inside what it takes off whole
        if el.get(OP) == "delete":  # removed by hand: the edit gives it back
            out.append({"path": p, "ran": None, "given": had.get(p, "(present)")})
        elif sends[p] == "delete":  # added or set by hand where fullbars set nothing: the edit takes it off
            out.append({"path": p, "ran": ran.get(p, "(present)"), "given": None})
            taken_off.append(p)
        elif not kids:  # a leaf (or an entry of keys only) changed by hand: the edit sets it again
            out.append({"path": p, "ran": ran.get(p, "(present)"), "given": had.get(p)})
    return out


def check(store: Store, target) -> list[dict]:
    from orchestrator.resources.service_versions import pending_removals

    with store.transaction() as s:
        rows = Store.device_configs(s, target.label)
        owned = {dev: Store.owners(s, dev, row.config) for dev, row in rows.items()}
        pending = pending_removals(s)
    out = []
    for dev, row in sorted(rows.items()):
        if dev not in target.endpoints:
            continue
        try:
            live = read_running(target.endpoint(dev), row.kind, row.config)
        except HostKeyError:
            raise  # refused, not a difference: the device may not be the one we configured
        except Exception as e:
            out.append({"device": dev, "error": f"cannot read running: {rpc_error_text(e)}", "differences": []})
            continue
        changed, diffs = differences(row.kind, live, row.config, owned[dev])
        out.append({"device": dev, "kind": row.kind, "in_sync": not changed, "differences": diffs,
                    "intended": row.config,
                    # planned for removal, not applied: the device still carries it, as recorded
                    "pending_removal": sorted(n for n, devs in pending.items() if dev in devs)})
    return out
