"""What a plan says each service will do once applied (carry traffic or not), and which other
services share its devices: what the lab's checks before confirming read."""

from __future__ import annotations

import json

from conftest import EXAMPLES, record_applied

LINES = sorted(str(p) for p in (EXAMPLES / "lab").glob("*.yaml"))


def _store(db):
    from orchestrator.plan.pipeline import plan
    from orchestrator.resources.store import Store

    store = Store(db)
    record_applied(db, plan(store, str(EXAMPLES / "network.yaml"), LINES))  # the lines in service
    return store


def test_a_suspended_line_is_planned_out_of_service_and_its_neighbours_are_listed(db, tmp_path):
    from orchestrator.plan.artifacts import write
    from orchestrator.plan.pipeline import plan
    from orchestrator.resources.store import SuspensionRow

    store = _store(db)
    whole = write(plan(store, None, LINES), tmp_path / "all")
    assert not any("serving" in s for s in whole["services"].values())  # in service: the manifest is as it was
    with store.transaction() as s:
        s.add(SuspensionRow(line="harbour-cafe", reason="request", state="active", asked_at="t", done_at="t"))
    result = plan(store, None, stored=["harbour-cafe"])
    [svc] = result.services
    assert (svc.name, svc.serving) == ("harbour-cafe", False)
    # harbour-cafe is on olt-1 (with dock-office) and bng-east (with every line)
    assert {o.name: o.serving for o in result.others} == {"dock-office": True, "port-authority": True,
                                                          "ship-repair": True}
    m = write(result, tmp_path / "suspended")
    assert m["services"]["harbour-cafe"]["serving"] is False
    assert json.loads((tmp_path / "suspended" / "manifest.json").read_text())["services"]["harbour-cafe"]["serving"] is False


def test_a_deleted_line_is_planned_out_of_service_with_what_it_held(db):
    from orchestrator.plan.pipeline import plan

    store = _store(db)
    held = {s.name: s.resources for s in plan(store, None, LINES).services}["ship-repair"]
    result = plan(store, None, delete=["ship-repair"])
    [svc] = result.services
    assert (svc.kind, svc.action, svc.serving) == ("BusinessBroadband", "delete", False)
    assert svc.resources == held and svc.devices == ["bng-east", "olt-2"]
    assert sorted(o.name for o in result.others) == ["dock-office", "harbour-cafe", "port-authority"]
