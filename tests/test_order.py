"""Orders: a product of a catalogue expands to its intents, planned together as one change,
recorded as the order's, and deleted with it; an order planned again without an intent of its
product takes that intent away; a parameter's value cannot add to the spec it goes into."""

from __future__ import annotations

import json
import shutil

from conftest import REPO, cli, planned, snapshot, yanglint_device

NETWORK = "examples/networks/enterprise.yaml"
ORDER = "examples/orders/north-bakery.yaml"


def _parents(db: str) -> dict:
    from sqlalchemy import create_engine, text

    engine = create_engine(db)
    with engine.connect() as c:
        out = dict(c.execute(text("SELECT name, parent FROM intents")).all())
    engine.dispose()
    return out


def test_an_order_expands_plans_as_one_change_and_is_deleted_whole(tmp_path, db, yanglint):
    out, m = planned(tmp_path, db, NETWORK, ORDER)
    assert m["services"]["north-bakery"]["resources"] == {
        "product": "shop-500m-cameras", "intents": ["north-bakery-cameras", "north-bakery-line"]}
    line = m["services"]["north-bakery-line"]["resources"]
    cams = m["services"]["north-bakery-cameras"]["resources"]
    assert line["onu-serial"] == "BAKE00000001" and cams["cameras"] == 4 and cams["line"] == "north-bakery-line"
    for dev in m["devices"]:
        assert yanglint_device(yanglint, out, dev).returncode == 0, dev
    assert _parents(db) == {"north-bakery": None, "north-bakery-cameras": "north-bakery",
                            "north-bakery-line": "north-bakery"}
    r = cli("delete", "north-bakery", "--out", str(tmp_path / "del"), db=db)
    assert r.exit_code == 0, r.stderr
    s = snapshot(db)
    assert s["intents"] == [] and s["allocations"] == []
    assert not list((tmp_path / "del").glob("*.xml"))  # never applied: nothing to take off any device


def test_a_product_left_off_a_shared_device_is_carried_by_planning_its_order(tmp_path, db):
    """The order never applied; a line on another OLT of its BNG planned alone leaves the order's
    line off the BNG, and says to plan the order (its product has no file of its own)."""
    planned(tmp_path, db, NETWORK, ORDER)
    south = tmp_path / "south.yaml"
    south.write_text("apiVersion: fullbars.io/v1\nkind: BusinessBroadband\nmetadata:\n  name: south-shop\nspec:\n"
                     "  customer: South shop\n  site: south-park\n  onu:\n    serial: STHS00000001\n  rates:\n"
                     "    downstream: 500M\n    upstream: 300M\n  tenure-years: 0\n  addressing:\n    mode: dhcp\n")
    r = cli("plan", str(south), "--format", "json", db=db)
    assert r.exit_code == 0, r.stderr
    back = json.loads(r.stdout)["held_back"]
    assert back["north-bakery-line"]["plan"] == "north-bakery" and back["north-bakery-line"]["waits_for"], back
    r = cli("plan", str(south), db=db)
    assert "plan north-bakery with this change" in " ".join(r.stderr.split()), r.stderr
    r = cli("plan", str(south), ORDER, "--format", "json", db=db)
    assert r.exit_code == 0 and json.loads(r.stdout)["held_back"] == {}, r.stdout + r.stderr


def test_an_order_planned_again_without_an_intent_takes_it_away(tmp_path, db):
    shutil.copy(REPO / ORDER, tmp_path / "order.yaml")
    text = (REPO / "examples/orders/catalogue.yaml").read_text()
    (tmp_path / "catalogue.yaml").write_text(text)
    planned(tmp_path, db, NETWORK, str(tmp_path / "order.yaml"), out="a")
    (tmp_path / "catalogue.yaml").write_text(text[:text.index("    - name: cameras")])
    r = cli("plan", str(tmp_path / "order.yaml"), "--format", "json", db=db)
    assert r.exit_code == 0, r.stderr
    assert json.loads(r.stdout)["summary"]["dropped"] == 1  # the cameras, deleted before any apply
    out, m = planned(tmp_path, db, NETWORK, str(tmp_path / "order.yaml"), out="b")
    assert _parents(db) == {"north-bakery": None, "north-bakery-line": "north-bakery"}
    # pe-1 held only the cameras, never applied: it is given nothing (no config of theirs to take off)
    assert "pe-1" in json.loads((tmp_path / "a" / "manifest.json").read_text())["devices"] and "pe-1" not in m["devices"]


def test_a_parameter_cannot_add_keys_to_a_spec(tmp_path, db):
    shutil.copy(REPO / "examples/orders/catalogue.yaml", tmp_path / "catalogue.yaml")
    order = tmp_path / "order.yaml"
    injected = r'North Bakery\", rates: {downstream: 10G}, x: \"'  # YAML's escaped quotes: the value's own
    order.write_text((REPO / ORDER).read_text().replace("value: North Bakery}", f'value: "{injected}"}}'))
    r = cli("plan", str(order), "--network", NETWORK, db=db)
    assert r.exit_code == 0, r.stderr  # the whole value is the customer's name, nothing more
    spec = json.loads(next(row for row in snapshot(db)["intents"] if row[0] == "north-bakery-line")[2])
    assert spec["customer"] == 'North Bakery", rates: {downstream: 10G}, x: "' and spec["rates"]["downstream"] == "500M"
    # On a line of its own the rest is no key either: a customer's name is one line.
    order.write_text((REPO / ORDER).read_text().replace(
        "value: North Bakery}", 'value: "North Bakery\\nrates: {downstream: 10G}"}'))
    before = snapshot(db)
    r = cli("plan", str(order), "--network", NETWORK, db=db)
    assert r.exit_code == 2 and "a name here is one line" in r.stderr and "spec.customer" in r.stderr, r.stderr
    assert snapshot(db) == before


def test_an_order_reads_no_file_outside_its_folder(tmp_path, db):
    for where in ("/etc/passwd", "../../etc/passwd"):
        order = tmp_path / "order.yaml"
        order.write_text((REPO / ORDER).read_text().replace("catalogue: catalogue.yaml", f"catalogue: {where}"))
        r = cli("plan", str(order), "--network", NETWORK, db=db)
        assert r.exit_code == 2 and f"catalogue {where} is outside the order's folder" in r.stderr
        assert "root:" not in r.stderr


def test_a_product_is_not_deleted_without_its_order_and_the_order_is_in_service_with_its_products(db):
    """Deleting one product alone would leave the order naming it (and making it again when the
    order is planned): refused, naming the order, nothing changed. The order, which has no devices
    of its own, is `not applied` until its products are applied, then `in service`."""
    from orchestrator.plan.pipeline import plan
    from orchestrator.resources import service_versions
    from orchestrator.resources.store import Store
    from orchestrator.rollout.transaction import Change, Journal, new_id

    store = Store(db)
    first = plan(store, str(REPO / NETWORK), [str(REPO / ORDER)])
    before = snapshot(db)
    r = cli("delete", "north-bakery-cameras", db=db)
    assert r.exit_code == 2 and "north-bakery-cameras is a product of north-bakery" in r.stderr, r.stderr
    assert "fix: delete north-bakery (its products go with it)" in r.stderr and snapshot(db) == before

    def states() -> dict[str, str]:
        return {s["name"]: s["state"] for s in json.loads(cli("status", "--format", "json", db=db).stdout)["services"]}

    assert set(states().values()) == {"not applied"}
    changes = [Change(d.device, d.kind, None, d.intended) for d in first.devices]
    j = Journal(store, new_id())
    j.start("env:production", "apply", changes)
    j.state("committed", summary="test", remember=changes,
            also=service_versions.committed(first, service_versions.befores(store, first)))
    assert states() == {"north-bakery": "in service", "north-bakery-cameras": "in service",
                        "north-bakery-line": "in service"}
    assert cli("delete", "north-bakery", db=db).exit_code == 0  # the order, with its products


def test_an_order_does_not_take_over_a_service_of_its_own_nor_gives_one_away(tmp_path, db):
    """A line planned on its own, then an order whose product has the line's name (and identity):
    refused; it took the line over (re-rated it, and deleting the order deleted the customer's own
    line). The other way round, a product planned alone is refused too."""
    shutil.copy(REPO / "examples/orders/catalogue.yaml", tmp_path / "catalogue.yaml")
    order = (REPO / ORDER).read_text()
    (tmp_path / "order.yaml").write_text(order)
    own = tmp_path / "own-line.yaml"
    own.write_text("apiVersion: fullbars.io/v1\nkind: BusinessBroadband\nmetadata: {name: north-bakery-line}\n"
                   "spec:\n  customer: North Bakery\n  site: north-park\n  onu: {serial: BAKE00000001}\n"
                   "  rates: {downstream: 300M, upstream: 300M}\n")
    assert cli("plan", str(own), "--network", NETWORK, db=db).exit_code == 0
    before = snapshot(db)
    r = cli("plan", str(tmp_path / "order.yaml"), db=db)
    assert r.exit_code == 2 and "north-bakery-line, a product of order north-bakery, is already a service of its " \
        "own" in " ".join(r.stderr.split()), r.stderr
    assert snapshot(db) == before and _parents(db) == {"north-bakery-line": None}
    assert cli("delete", "north-bakery-line", db=db).exit_code == 0
    assert cli("plan", str(tmp_path / "order.yaml"), db=db).exit_code == 0
    before = snapshot(db)
    r = cli("plan", str(own), db=db)
    assert r.exit_code == 2 and "north-bakery-line is a product of order north-bakery: planned alone, it would " \
        "leave the order" in " ".join(r.stderr.split()), r.stderr
    assert snapshot(db) == before
