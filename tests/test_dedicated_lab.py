"""The dedicated lines' configs pushed to real NETCONF agents: a lab of the plan (OLTs and
pe-vpn PEs on devsim, which validates every edit with the standard models) takes each config,
and every PE and OLT then runs every value it was given. Needs root and the lab tools; run under
the lab lock. (The data plane of dedicated lines, CE namespaces and iperf3, is not built yet.)"""

from __future__ import annotations

import os

from conftest import REPO, read_running

from test_lab import _require_lab_tools


def test_planned_configs_are_taken_by_the_lab_agents(tmp_path):
    _require_lab_tools()
    from orchestrator.lab.generate import from_plan
    from orchestrator.lab.push import push
    from orchestrator.lab.runtime import open_lab
    from orchestrator.netconf.compare import missing
    from orchestrator.plan.artifacts import write
    from orchestrator.plan.pipeline import plan
    from orchestrator.resources.store import Store
    from orchestrator.rollout.targets import lab_target

    os.environ["FULLBARS_LAB_DIR"] = str(tmp_path / "labs")
    # with a business line beside them: the lab generator wires hosts only for the kinds that
    # have a lab part, and a topology needs a link
    intents = sorted(str(p) for p in (REPO / "examples/dedicated").glob("*.yaml")) + [
        str(REPO / "examples/cloud/north-shop.yaml")]
    result = plan(Store(f"sqlite:///{tmp_path}/s.db"), str(REPO / "examples/networks/enterprise.yaml"), intents)
    write(result, tmp_path / "plan")
    topo = tmp_path / "lab.clab.yml"
    topo.write_text(from_plan(tmp_path / "plan", f"fbl{os.getpid() % 100000}"))
    lab = open_lab(topo)
    st = lab.up(timeout=90)
    try:
        rows = push(tmp_path / "plan", st)
        assert all(r["ok"] for r in rows), rows
        target = lab_target(topo)
        for dev in ("olt-1", "olt-2", "pe-1", "pe-2", "pe-3", "bng-1"):
            intended = (tmp_path / "plan" / f"{dev}.xml").read_text()
            assert missing(intended, read_running(target.endpoint(dev))) == [], dev
    finally:
        lab.down()
