"""Deletes and rollbacks are whole, on a real SQLite store (the devices' side is the store's record
of them, written as a committed transaction writes it; tests/test_whole_lab.py does it on devices):
a removal holds its values until applied, a plan carrying changes planned earlier names them,
and a rollback returns the services so the next plan is a no-op."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from conftest import REPO, snapshot

NET = str(REPO / "examples/network.yaml")
CAFE = str(REPO / "examples/lab/harbour-cafe.yaml")
ACME = str(REPO / "examples/intents/acme-hq.yaml")
ENV = "env:production"  # the environment these commits stand for (plans follow the one applied last)


def _commit(store, result, tx: str, configs=None):
    """What a committed transaction writes with its outcome: each device's config (default: the
    plan's intended ones) and each service's before and after."""
    from orchestrator.resources import service_versions
    from orchestrator.rollout.journal import remember_configs
    from orchestrator.rollout.transaction import Journal

    hook = service_versions.committed(result, service_versions.befores(store, result))
    j = Journal(store, tx)
    j.start(ENV, "apply", [])
    with store.transaction() as s:
        remember_configs(s, tx, "apply", ENV, configs or [(d.device, d.kind, d.intended) for d in result.devices])
        hook(s, tx)
    j.state("committed", summary=f"{tx}: committed")


def _held(db, name: str) -> list:
    return [row for row in snapshot(db)["allocations"] if name in row]


def test_a_removal_holds_its_values_until_applied_then_frees_them(tmp_path):
    from orchestrator.plan.pipeline import plan
    from orchestrator.resources.store import Store

    db = f"sqlite:///{tmp_path}/s.db"
    store = Store(db)
    _commit(store, plan(store, NET, [CAFE, ACME]), "tx-1")
    held = _held(db, "acme-hq")
    assert held
    deleting = plan(store, None, delete=["acme-hq"])
    assert [(s.name, s.action, s.earlier) for s in deleting.services] == [("acme-hq", "delete", False)]
    assert _held(db, "acme-hq") == held  # planned, not applied: nothing else may take them
    # A later plan of another service carries the removal along, and says so.
    again = plan(store, None, [CAFE])
    assert [(s.name, s.action, s.earlier) for s in again.services] == [("harbour-cafe", "unchanged", False),
                                                                      ("acme-hq", "delete", True)]
    assert sorted(d.device for d in again.devices if d.changed) == ["bng-east", "olt-1"]
    _commit(store, again, "tx-2")
    assert _held(db, "acme-hq") == [] and "acme-hq" not in str(snapshot(db)["intents"])


def test_a_plan_names_the_services_planned_earlier_whose_changes_it_carries(tmp_path):
    from orchestrator.plan.pipeline import plan
    from orchestrator.resources.store import Store

    store = Store(f"sqlite:///{tmp_path}/s.db")
    _commit(store, plan(store, NET, [CAFE]), "tx-1")
    plan(store, None, [ACME])  # planned, not applied
    faster = tmp_path / "harbour-cafe.yaml"
    faster.write_text(open(CAFE).read().replace("downstream: 500M", "downstream: 1000M"))
    result = plan(store, None, [str(faster)])
    assert [(s.name, s.earlier) for s in result.carried] == [("acme-hq", True)]


@pytest.mark.parametrize("rebuilt", [False, True], ids=["in-process", "rebuilt-by-recover"])
def test_rollback_returns_the_services_so_the_next_plan_changes_nothing(tmp_path, rebuilt):
    """rebuilt: the hook made again from the JSON the journal keeps, as recover does for a
    rollback a dead process left confirmed on the devices."""
    import json

    from orchestrator.plan.pipeline import plan
    from orchestrator.resources import service_versions
    from orchestrator.resources.store import Store

    db = f"sqlite:///{tmp_path}/s.db"
    store = Store(db)
    _commit(store, plan(store, NET, [CAFE]), "tx-1")
    before = snapshot(db)
    added = plan(store, None, [ACME])
    _commit(store, added, "tx-2")
    # rollback tx-2: the devices get their configs before it back, the services theirs
    notes, hook = service_versions.rollback_hook(store, "tx-2")
    assert notes == []
    if rebuilt:
        hook = service_versions.committed_from(json.loads(json.dumps(hook.pending)))
    from orchestrator.rollout.journal import remember_configs
    with store.transaction() as s:
        remember_configs(s, "tx-3", "rollback", ENV, [(d.device, d.kind, d.current) for d in added.devices])
        hook(s, "tx-3")
    after = snapshot(db)
    for table in ("intents", "allocations", "rollout_reach", "pending_removals"):
        assert after[table] == before[table], table
    result = plan(store, None, [CAFE])
    assert not any(d.changed for d in result.devices) and result.carried == []


def test_lines_an_upgrade_re_rates_are_not_taken_for_changes_planned_earlier(tmp_path):
    """An overlay changes its lines' configs through the lines' own fragments: that is the change
    asked for, not one of theirs carried along."""
    from orchestrator.plan.pipeline import plan
    from orchestrator.resources.store import Store

    store = Store(f"sqlite:///{tmp_path}/s.db")
    lines = sorted(str(p) for p in (REPO / "examples/lab").glob("*.yaml"))
    _commit(store, plan(store, NET, lines), "tx-1")
    result = plan(store, None, [str(REPO / "examples/upgrade/to-500m.yaml")])
    assert [d.device for d in result.devices if d.changed] and result.carried == []


def test_a_rollback_that_would_give_back_values_another_service_took_is_refused_first(tmp_path):
    import pytest

    from orchestrator.errors import FullbarsError
    from orchestrator.plan.pipeline import plan
    from orchestrator.resources import service_versions
    from orchestrator.resources.store import Store

    store = Store(f"sqlite:///{tmp_path}/s.db")
    _commit(store, plan(store, NET, [CAFE, ACME]), "tx-1")
    plan(store, None, delete=["acme-hq"])
    _commit(store, plan(store, None, [CAFE]), "tx-2")  # carries the removal: acme-hq's values are free
    twin = tmp_path / "acme-twin.yaml"
    twin.write_text(open(ACME).read().replace("name: acme-hq", "name: acme-twin"))
    plan(store, None, [str(twin)])  # the same ONU, the same free values
    with pytest.raises(FullbarsError) as e:
        service_versions.rollback_hook(store, "tx-2")
    assert "would give acme-hq back" in str(e.value) and "which acme-twin holds now" in str(e.value)


def test_transactions_begun_within_one_second_are_listed_newest_first(tmp_path):
    """`rollback $(history --limit 1)` must undo the last apply, even when the one before it began
    in the same second (fast applies on a small lab do)."""
    from orchestrator.resources.store import Store
    from orchestrator.rollout.transaction import Journal, history

    store = Store(f"sqlite:///{tmp_path}/store.db")
    names = [f"tx-{i:02}" for i in range(20)]  # ids out of order with time would not help either
    for tx in reversed(names):
        Journal(store, tx).start(ENV, "apply", [])
    assert [t.id for t in history(store, 20)] == names


def test_a_transaction_whose_devices_a_later_one_changed_is_rolled_back_only_after_it(tmp_path):
    """Rolling back an older transaction gives its devices the configs from before it, which
    would undo a later one too (a line the later one deleted came back on the devices, while
    the store had freed its values for others). It is refused, naming the later one; newest
    first, each rollback finds its devices as it left them."""
    from orchestrator.app.environments import _refuse_if_changed_since, rollback
    from orchestrator.errors import FullbarsError
    from orchestrator.network.model import load_network
    from orchestrator.plan.pipeline import plan
    from orchestrator.resources.store import Store, TransactionRow
    from orchestrator.rollout.journal import remember_configs
    from orchestrator.rollout.transaction import Change, Journal

    store = Store(f"sqlite:///{tmp_path}/s.db")

    def commit(result, tx):  # as _commit, with the devices the transaction gave their configs
        from orchestrator.resources import service_versions

        hook = service_versions.committed(result, service_versions.befores(store, result))
        j = Journal(store, tx)
        j.start(ENV, "apply", [Change(d.device, d.kind, None, d.intended) for d in result.devices if d.changed])
        with store.transaction() as s:
            remember_configs(s, tx, "apply", ENV, [(d.device, d.kind, d.intended) for d in result.devices])
            hook(s, tx)
        j.state("committed", summary=f"{tx}: committed")

    commit(plan(store, NET, [CAFE, ACME]), "tx-1")
    slower = tmp_path / "harbour-cafe.yaml"
    slower.write_text(open(CAFE).read().replace("downstream: 500M", "downstream: 300M"))
    commit(plan(store, None, [str(slower)]), "tx-2")
    plan(store, None, delete=["acme-hq"])
    commit(plan(store, None, [str(slower)]), "tx-3")  # carries the removal: acme-hq leaves the devices

    with pytest.raises(FullbarsError) as e:
        rollback(store, "tx-2", lambda: load_network(NET))
    said = str(e.value)
    assert "changed after tx-2 (by tx-3)" in said and "roll back tx-3 first" in said, said
    with store.transaction() as s:
        newest = s.get(TransactionRow, "tx-3")
        s.expunge(newest)
    _refuse_if_changed_since(store, newest)  # the newest finds its devices as it left them

    # Undone once (tx-4 gives tx-3's devices their configs from before it), it is not undone again.
    from orchestrator.resources.store import TxDeviceRow

    with store.transaction() as s:
        rows = list(s.scalars(select(TxDeviceRow).where(TxDeviceRow.tx == "tx-3")))
        for r in rows:  # what running held when tx-3 locked the devices: tx-2's configs
            r.before = s.scalars(select(TxDeviceRow.intended).where(TxDeviceRow.tx == "tx-2",
                                                                     TxDeviceRow.device == r.device)).first() or ""
        back = [(r.device, r.kind, r.before) for r in rows]
    j = Journal(store, "tx-4")
    j.start(ENV, "rollback", [Change(d, k, None, c) for d, k, c in back])
    with store.transaction() as s:
        remember_configs(s, "tx-4", "rollback", ENV, back)
    j.state("committed", summary="tx-4: committed")
    with pytest.raises(FullbarsError, match="tx-3 is undone already: its devices have the configs from before it "
                                            r"again \(since tx-4\)"):
        rollback(store, "tx-3", lambda: load_network(NET))


def test_a_transaction_is_not_rolled_back_under_later_ones_that_left_its_devices_as_it_did(tmp_path):
    """500M (tx-1), 300M (tx-2), 500M again (tx-3): the devices run what tx-1 gave them, but
    rolling tx-1 back would take the café off them while tx-2 and tx-3 stood done in the store.
    It is refused, naming both; once they are undone (rollbacks giving their devices the configs
    they found), it is not."""
    from orchestrator.app.environments import _standing_since, rollback
    from orchestrator.errors import FullbarsError
    from orchestrator.network.model import load_network
    from orchestrator.plan.pipeline import plan
    from orchestrator.resources.store import Store, TransactionRow, TxDeviceRow
    from orchestrator.rollout.journal import remember_configs
    from orchestrator.rollout.transaction import Change, Journal

    store = Store(f"sqlite:///{tmp_path}/s.db")
    gave: dict[str, dict[str, str]] = {}

    def commit(changes: list[tuple[str, str, str]], tx: str, kind: str = "apply"):
        j = Journal(store, tx)
        j.start(ENV, kind, [Change(d, k, None, c) for d, k, c in changes])
        with store.transaction() as s:
            for r in s.scalars(select(TxDeviceRow).where(TxDeviceRow.tx == tx)):
                r.before = next((g[r.device] for g in reversed(gave.values()) if r.device in g), "")
            remember_configs(s, tx, kind, ENV, changes)
        j.state("committed", summary=f"{tx}: committed")
        gave[tx] = {d: c for d, _, c in changes}

    def planned(result):
        return [(d.device, d.kind, d.intended) for d in result.devices]

    commit(planned(plan(store, NET, [CAFE])), "tx-1")
    slower = tmp_path / "harbour-cafe.yaml"
    slower.write_text(open(CAFE).read().replace("downstream: 500M", "downstream: 300M"))
    commit(planned(plan(store, None, [str(slower)])), "tx-2")
    commit(planned(plan(store, None, [CAFE])), "tx-3")
    assert gave["tx-3"] == gave["tx-1"]

    with pytest.raises(FullbarsError, match=r"changed after tx-1 \(by tx-3, tx-2\)") as e:
        rollback(store, "tx-1", lambda: load_network(NET))
    assert "roll back tx-3 first" in str(e.value)

    def undo(tx: str, by: str):  # as environments.rollback gives it: the configs the transaction found
        with store.transaction(write=False) as s:
            back = [(r.device, r.kind, r.before) for r in s.scalars(select(TxDeviceRow).where(TxDeviceRow.tx == tx))]
        commit(back, by, "rollback")

    def standing(tx: str) -> list[str]:
        with store.transaction(write=False) as s:
            return list(_standing_since(s, s.get(TransactionRow, tx), set(gave[tx])))

    undo("tx-3", "tx-4")
    assert standing("tx-1") == ["tx-2"]
    undo("tx-2", "tx-5")
    assert standing("tx-1") == []


def test_a_commit_records_the_service_as_its_plan_left_it_not_as_a_later_plan_has_it(tmp_path):
    """Two users: B plans the café at 400M and applies; while B's transaction runs, A plans it at
    200M. B's commit gave the devices 400M, so that is what the store records as applied: A's
    plan stays a change planned and not applied (it was recorded as applied, and a later plan
    said nothing changes while the devices would go to 200M)."""
    from orchestrator.plan.pipeline import plan
    from orchestrator.resources import service_versions
    from orchestrator.resources.store import Store
    from orchestrator.rollout.journal import remember_configs
    from orchestrator.rollout.transaction import Journal

    store = Store(f"sqlite:///{tmp_path}/store.db")
    _commit(store, plan(store, NET, [CAFE]), "tx-1")
    text = (REPO / "examples/lab/harbour-cafe.yaml").read_text()
    assert "downstream: 500M" in text
    fast, slow = tmp_path / "fast.yaml", tmp_path / "slow.yaml"
    fast.write_text(text.replace("downstream: 500M", "downstream: 400M"))
    slow.write_text(text.replace("downstream: 500M", "downstream: 200M"))
    b = plan(store, None, [str(fast)])
    with store.transaction(write=False) as s:
        b_digest = Store.intent_meta(s, ["harbour-cafe"])["harbour-cafe"][1]
    afters: dict = {}
    hook = service_versions.committed(b, service_versions.befores(store, b, afters), afters)  # B's apply begins
    plan(store, None, [str(slow)])  # A plans meanwhile
    j = Journal(store, "tx-b")
    j.start(ENV, "apply", [])
    with store.transaction() as s:  # B commits: the devices run 400M
        remember_configs(s, "tx-b", "apply", ENV, [(d.device, d.kind, d.intended) for d in b.devices])
        hook(s, "tx-b")
    j.state("committed", summary="tx-b: committed")
    with store.transaction(write=False) as s:
        assert service_versions.applied_digest(s, "harbour-cafe") == b_digest
    again = plan(store, None, [str(slow)])
    [cafe] = [sp for sp in again.services if sp.name == "harbour-cafe"]
    assert (cafe.device_change, cafe.earlier) == ("update", True)
    assert any(d.changed for d in again.devices)


def test_a_change_planned_earlier_lands_on_all_its_devices_with_the_plan_that_carries_it(tmp_path):
    """The ship repair line is planned at 200M and not applied; then the café, which shares its
    BNG, is planned. That plan carries the ship repair's change, and so builds every device of it
    (it built only the BNG, and applying it half-applied the ship repair: new rate on the BNG, old
    shaper on its OLT)."""
    from orchestrator.plan.pipeline import plan
    from orchestrator.resources.store import Store

    ship = REPO / "examples/lab/ship-repair.yaml"
    store = Store(f"sqlite:///{tmp_path}/store.db")
    first = plan(store, NET, [CAFE, str(ship)])
    _commit(store, first, "tx-1")
    [cafe, repair] = [next(sp for sp in first.services if sp.name == n) for n in ("harbour-cafe", "ship-repair")]
    assert set(cafe.devices) & set(repair.devices) and set(repair.devices) - set(cafe.devices)
    slow = tmp_path / "ship.yaml"
    slow.write_text(ship.read_text().replace("downstream: 300M", "downstream: 200M"))
    plan(store, None, [str(slow)])  # planned, not applied
    faster = tmp_path / "cafe.yaml"
    faster.write_text((REPO / "examples/lab/harbour-cafe.yaml").read_text().replace("downstream: 500M",
                                                                                     "downstream: 450M"))
    result = plan(store, None, [str(faster)])
    changed = {d.device for d in result.devices if d.changed}
    assert set(repair.devices) <= changed, (sorted(changed), repair.devices)
    [carried] = [sp for sp in result.services if sp.name == "ship-repair"]
    assert carried.earlier and carried.device_change == "update"
    # planned again, as `apply` plans what it is given: not recalled as the café's plan alone
    again = plan(store, None, [str(faster)])
    assert {d.device for d in again.devices if d.changed} == changed


def test_a_move_rolled_back_then_planned_again_takes_the_line_off_its_old_olt(tmp_path):
    """A line moved to another OLT and applied; the move rolled back (the old OLT holds the line
    again); the move planned again must take it off the old OLT. It left the old OLT out: the
    placement record said the line was on the new OLT only, and the old OLT kept the line's 20
    nodes while its values were given to other lines."""
    from orchestrator.plan.pipeline import plan
    from orchestrator.resources import service_versions
    from orchestrator.resources.store import Store
    from orchestrator.rollout.journal import remember_configs
    from orchestrator.rollout.transaction import Change, Journal

    store = Store(f"sqlite:///{tmp_path}/store.db")
    acme = REPO / "examples/intents/acme-hq.yaml"
    first = plan(store, NET, [str(acme)], environment=ENV)
    _commit(store, first, "tx-1")
    [was] = [d.device for d in first.devices if d.kind == "olt-bbf"]
    other = next(o for o in ("olt-1", "olt-2") if o != was)
    moved = tmp_path / "acme-hq.yaml"
    moved.write_text(acme.read_text() + f"  placement:\n    olt: {other}\n")
    move = plan(store, None, [str(moved)], environment=ENV)
    _commit(store, move, "tx-2")
    plan(store, None, [str(moved)], environment=ENV)  # nothing to do: the old OLT holds the line no more
    # tx-2 rolled back, as `fullbars rollback` records it: the devices' configs from before it, as
    # they answered get-config (whose ownership no plan recorded)
    before = {d.device: (d.kind, d.intended.replace("<config ", "<data ").replace("</config>", "</data>"))
              for d in first.devices}
    back = [(d.device, d.kind, before.get(d.device, (d.kind, "<data/>"))[1]) for d in move.devices]
    _, hook = service_versions.rollback_hook(store, "tx-2")
    j = Journal(store, "tx-3")
    j.start(ENV, "rollback", [Change(dev, kind, None, config) for dev, kind, config in back])
    with store.transaction() as s:
        remember_configs(s, "tx-3", "rollback", ENV, back)
        hook(s, "tx-3")
    j.state("committed", summary="tx-3: committed")
    again = {d.device: d for d in plan(store, None, [str(moved)], environment=ENV).devices}
    assert was in again and again[was].changed and "ACME0000A001" not in again[was].intended, sorted(again)


def test_an_update_planned_and_not_applied_is_what_apply_with_no_intent_carries(tmp_path):
    """`fullbars apply --target T` with no intent applies what is planned and pending: an update
    planned since the service was last applied is one (only removals were: it said "nothing to
    apply" with the update pending)."""
    from orchestrator.plan.pipeline import plan
    from orchestrator.resources.service_versions import planned_since_applied
    from orchestrator.resources.store import Store

    ship = REPO / "examples/lab/ship-repair.yaml"
    store = Store(f"sqlite:///{tmp_path}/store.db")
    _commit(store, plan(store, NET, [CAFE, str(ship)], environment=ENV), "tx-1")
    with store.transaction(write=False) as s:
        assert planned_since_applied(s) == []
    slow = tmp_path / "ship.yaml"
    slow.write_text(ship.read_text().replace("downstream: 300M", "downstream: 200M"))
    plan(store, None, [str(slow)], environment=ENV)
    with store.transaction(write=False) as s:
        pending = planned_since_applied(s)
    assert pending == ["ship-repair"]
    carried = plan(store, None, stored=pending, environment=ENV)
    assert [sp.name for sp in carried.services] == ["ship-repair"] and any(d.changed for d in carried.devices)
