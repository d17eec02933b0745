"""Device data for devsim's tests and bench/devsim.py: OLT configs as fullbars plans them (n
subscribers of BusinessBroadband on one OLT, and the minimal edit adding one more), big edits,
and what a device says it has taken from a session."""

from __future__ import annotations

import math
import threading
from pathlib import Path

NC = "urn:ietf:params:xml:ns:netconf:base:1.0"
IF_NS = "urn:ietf:params:xml:ns:yang:ietf-interfaces"
MON = "urn:ietf:params:xml:ns:yang:ietf-netconf-monitoring"


def olt_configs(n: int, tmp: Path) -> tuple[str, str, str]:
    """(config with n subscribers, minimal edit adding one more, its reverse) as fullbars plans them."""
    from orchestrator.devices.registry import KINDS
    from orchestrator.network.generate import generate
    from orchestrator.models.schema_index import schema_index
    from orchestrator.plan.diff import edits
    from orchestrator.plan.pipeline import plan
    from orchestrator.resources.store import Store

    net = tmp / "net.yaml"
    net.write_text(generate(1, max(1, math.ceil((n + 1) / 30)), 1, sites=1))
    docs = [f"apiVersion: fullbars.io/v1\nkind: BusinessBroadband\nmetadata:\n  name: sub-{i:05d}\nspec:\n"
            f"  customer: C{i}\n  site: site-1\n  onu:\n    serial: BNCH{i:08X}\n" for i in range(n + 1)]
    (tmp / "base.yaml").write_text("---\n".join(docs[:n]))
    (tmp / "one.yaml").write_text(docs[n])
    store = Store(f"sqlite:///{tmp}/s.db")
    base = next(d for d in plan(store, str(net), [str(tmp / "base.yaml")]).devices if d.device == "olt-1")
    more = next(d for d in plan(store, None, [str(tmp / "one.yaml")]).devices if d.device == "olt-1")
    edit, reverse, _ = edits(schema_index(KINDS.get("olt-bbf").models), base.intended, more.intended)
    return base.intended, edit, reverse


def seed_running(state: Path, config: str) -> None:
    """Give a devsim state dir `config` (a planned <config> document) as its running datastore."""
    data = "\n".join(config.splitlines()[1:-1])
    state.mkdir(parents=True, exist_ok=True)
    (state / "running.xml").write_text(f'<data xmlns="{NC}">{data}</data>')


def interfaces_edit(prefix: str, n: int) -> str:
    """An edit-config <config> of n ethernet interfaces PREFIX-0.. (their types' prefix declared
    once, on <interfaces>)."""
    rows = "".join(f"<interface><name>{prefix}-{i}</name><type>ianaift:ethernetCsmacd</type></interface>"
                   for i in range(n))
    return (f'<config xmlns="{NC}"><interfaces xmlns="{IF_NS}" '
            f'xmlns:ianaift="urn:ietf:params:xml:ns:yang:iana-if-type">{rows}</interfaces></config>')


def in_rpcs(m, session_id) -> int:
    """How many rpcs the device has taken from session `session_id` (netconf-monitoring)."""
    reply = m.get(filter=("subtree", f'<netconf-state xmlns="{MON}"><sessions/></netconf-state>'))
    for s in reply.data_ele.iter(f"{{{MON}}}session"):
        if s.findtext(f"{{{MON}}}session-id") == str(session_id):
            return int(s.findtext(f"{{{MON}}}in-rpcs"))
    raise AssertionError(f"session {session_id} is not on the device")


def in_thread(fn) -> dict:
    """fn() in a daemon thread: {"done": set when it ends, "error": what it raised or None,
    "value": what it returned, once it returned}."""
    out = {"done": threading.Event(), "error": None}

    def run():
        try:
            out["value"] = fn()
        except Exception as exc:  # noqa: BLE001 - the caller looks at it
            out["error"] = exc
        finally:
            out["done"].set()

    threading.Thread(target=run, daemon=True).start()
    return out
