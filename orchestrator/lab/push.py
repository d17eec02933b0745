"""Give lab nodes the configs of a plan over NETCONF: lock, replace the candidate, commit, unlock,
then read running back and check every intended leaf is there (an agent may answer <ok/> and
commit nothing: LAB-FACTS)."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from lxml import etree

from orchestrator.errors import FullbarsError
from orchestrator.netconf import NETCONF_PORT
from orchestrator.netconf.compare import leaves

NC = "urn:ietf:params:xml:ns:netconf:base:1.0"


def push_one(node: str, host: str, user: str, password: str, config_xml: str, kind: str | None = None,
             known: tuple[str, ...] = (), attempts: int = 2) -> dict:
    """Push on a session of its own; a push that timed out or lost its transport is pushed again on
    a new session. That is safe because a push replaces the whole candidate: on a loaded 2-core
    machine a lab netconfd was seen leaving one rpc unanswered for 60 s while the next session was
    served at once (the same reason as netconf.session.read_running)."""
    from orchestrator.netconf.session import UNANSWERED

    for attempt in range(1, attempts + 1):
        try:
            return _push_once(node, host, user, password, config_xml, kind, known)
        except UNANSWERED:
            if attempt == attempts:
                raise
            time.sleep(attempt)
    raise AssertionError("unreachable")


def _push_once(node: str, host: str, user: str, password: str, config_xml: str, kind: str | None,
               known: tuple[str, ...]) -> dict:
    import ncclient.transport.session

    from ncclient.operations.rpc import RPCError

    from orchestrator.netconf.hostkeys import connect
    from orchestrator.netconf.secrets import Secrets
    from orchestrator.netconf.session import rpc_error_text

    ncclient.transport.session.TICK = 0.002
    want = etree.fromstring(config_xml.encode())
    secrets = Secrets.for_kind(kind, config_xml)
    with connect(node, host, NETCONF_PORT, known, "the lab's record", 60, username=user, password=password) as m:
        m.lock("candidate")
        try:
            m.edit_config(target="candidate", config=_replacing(secrets.fill(config_xml) if secrets else config_xml),
                          default_operation="replace")
            m.commit()
        except RPCError as e:
            if secrets is None:
                raise
            raise RuntimeError(f"{node}: " + secrets.scrub(rpc_error_text(e))) from None
        finally:
            m.unlock("candidate")
        got = m.get_config(source="running").data_ele
    if secrets:
        secrets.mask(got)
    missing = leaves(want) - leaves(got)
    return {"node": node, "ok": not missing, "missing": sorted(p for p, _ in missing)[:5]}


def _replacing(config_xml: str) -> str:
    """The config with operation="replace" on each top node: yuma123's netconfd takes
    default-operation replace as merge, and a second push kept the first one's entries."""
    root = etree.fromstring(config_xml.encode())
    for top in root:
        if isinstance(top.tag, str):
            top.set(f"{{{NC}}}operation", "replace")
    return etree.tostring(root, encoding="unicode")


def push(plan_dir: Path, lab_state: dict, progress=None) -> list[dict]:
    m = json.loads((Path(plan_dir) / "manifest.json").read_text())
    jobs = []
    for dev in sorted(m["devices"]):
        n = lab_state["nodes"].get(dev)
        if n is None:
            raise FullbarsError(f"the lab has no node {dev}", fix="generate the lab from this plan (fullbars lab generate)")
        jobs.append((dev, n["mgmt_ip"], (Path(plan_dir) / f"{dev}.xml").read_text(), m["devices"][dev]["kind"],
                     tuple(lab_state.get("hostkeys", {}).get(dev, ()))))
    from orchestrator.netconf.hostkeys import check

    with ThreadPoolExecutor(max_workers=8) as pool:  # every key checked before any node is given anything
        list(pool.map(lambda j: check(j[0], j[1], NETCONF_PORT, j[4], "the lab's record"), jobs))
    results = []
    with ThreadPoolExecutor(max_workers=8) as pool:
        futs = [pool.submit(push_one, d, ip, lab_state["user"], lab_state["password"], x, k, h)
                for d, ip, x, k, h in jobs]
        for i, f in enumerate(futs, 1):
            results.append(f.result())
            if progress:
                progress("push", i, len(futs))
    from orchestrator.lab.personality import wait_applied

    done = wait_applied(lab_state, [r["node"] for r in results])
    for r in results:
        failed = [f"{f['tried']}: {f['error']}" for f in done.failures if f["node"] == r["node"]]
        r["dataplane"] = ("not applied in time" if r["node"] in done.late else
                          "failed: " + "; ".join(failed) if failed else "applied")
    return results
