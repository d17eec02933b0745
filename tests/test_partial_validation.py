"""A plan validates a device it built before by what the changed pieces reach (plan/partial.py),
never passing what libyang's validation of the whole device refuses: random changes to units of
an OLT and a BNG as fullbars plans them, judged both ways; and a plan of one changed line takes
that road for both its devices and gives what a full plan gives."""

from __future__ import annotations

import copy
import random

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from lxml import etree

from orchestrator.devices.registry import KINDS
from orchestrator.models.schema_index import schema_index
from orchestrator.models.tree import Tree, body
from orchestrator.network.generate import generate
from orchestrator.plan import partial
from orchestrator.plan.diff import parse
from orchestrator.plan.pipeline import plan
from orchestrator.resources.store import Store


def _line(i: int, up: str = "300M") -> str:
    return (f"apiVersion: fullbars.io/v1\nkind: BusinessBroadband\nmetadata:\n  name: line-{i:02d}\nspec:\n"
            f"  customer: C{i}\n  site: site-1\n  onu:\n    serial: PART{i:08X}\n"
            f"  rates:\n    downstream: 1000M\n    upstream: {up}\n"
            f"  addressing:\n    mode: {'dhcp' if i % 2 else 'static'}\n")


@pytest.fixture(scope="module")
def planned(tmp_path_factory):
    """device → (kind, intended config) of a small network with ten lines."""
    tmp = tmp_path_factory.mktemp("partial")
    (tmp / "net.yaml").write_text(generate(1, 1, 1, sites=1))
    (tmp / "lines.yaml").write_text("---\n".join(_line(i, ("100M", "300M")[i % 2]) for i in range(10)))
    result = plan(Store(f"sqlite:///{tmp}/s.db"), str(tmp / "net.yaml"), [str(tmp / "lines.yaml")])
    return {d.device: (d.kind, d.intended) for d in result.devices if d.kind in ("olt-bbf", "bng-ietf")}


def _whole(models, root) -> bool:
    try:
        tree = models.ctx.parse_data_mem(body(root), "xml", strict=True, no_state=True)
    except Exception:
        return False
    if tree is not None:
        tree.free()
    return True


def _change(index, root, rnd: random.Random):
    """One random change to a unit of `root`, in place: (touched, present) as a plan gives them."""
    units = Tree(index, root).units()
    key, sp, el = units[rnd.randrange(len(units))]
    leaves = [x for _, _, u in units for x in u.iter() if isinstance(x.tag, str) and len(x) == 0]
    what = rnd.randrange(4)
    if what == 0:  # gone: whoever named it must be judged again
        el.getparent().remove(el)
        return {key: sp}, {}
    kept = [x for x in el.iter() if isinstance(x.tag, str) and len(x) == 0]
    if what == 1 and kept:  # a leaf takes a value another leaf of its tag has (a reference moves)
        leaf = rnd.choice(kept)
        others = [x.text for x in leaves if x.tag == leaf.tag and x.text != leaf.text]
        leaf.text = rnd.choice(others) if others else f"{leaf.text}-nowhere"
    elif what == 2 and len(kept) > 1:  # a node lost (a mandatory one too)
        victim = rnd.choice(kept[1:])
        victim.getparent().remove(victim)
    else:  # a copy under a new key: a second entry naming what the first names
        new = copy.deepcopy(el)
        new[0].text = f"{new[0].text}-copy"
        el.addnext(new)
        copy_key = (key[0], (key[1][0], (new[0].text,) + tuple(key[1][1][1:])))
        return {key: sp, copy_key: sp}, {key: sp, copy_key: sp}
    return {key: sp}, {key: sp}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2 ** 32 - 1), device=st.sampled_from(["olt-1", "bng-1"]))
def test_what_the_part_passes_the_whole_passes(planned, seed, device):
    kind, intended = planned[device]
    models = KINDS.get(kind).models
    index = schema_index(models)
    root = parse(intended)
    touched, present = _change(index, root, random.Random(seed))
    by_part = partial.valid(models, index, root, touched, present)
    by_whole = _whole(models, root)
    assert not by_part or by_whole, f"the part passed a config libyang refuses whole ({device}, seed {seed})"


def test_a_unit_still_named_elsewhere_is_not_lost_unjudged(planned):
    """The part holds the units that name a removed one (found by their leaves' values), so the
    dangling reference fails it as it fails the whole; an unnamed change passes both."""
    kind, intended = planned["olt-1"]
    models = KINDS.get(kind).models
    index = schema_index(models)
    for verdict, change in ((False, "remove"), (True, "describe")):
        root = parse(intended)
        units = Tree(index, root).units()
        key, sp, el = next(u for u in units if u[2].findtext(f"{{{etree.QName(u[2]).namespace}}}name", "")
                           .startswith("vani-line-03"))
        if change == "remove":
            el.getparent().remove(el)
            touched, present = {key: sp}, {}
        else:
            desc = el.find(f"{{{etree.QName(el).namespace}}}description")
            desc.text = "moved upstairs"
            touched, present = {key: sp}, {key: sp}
        assert _whole(models, root) is verdict
        assert partial.valid(models, index, root, touched, present) is verdict


def test_a_changed_line_is_validated_by_reach_and_planned_as_a_full_plan_plans_it(tmp_path, monkeypatch):
    """After a plan, a line whose rate changes rebuilds its OLT and BNG from the kept builds'
    pieces and validates them in part (the profile the line leaves and joins is as it was, so
    the hundreds of T-CONTs naming it are not judged again); the artifacts are those of a plan
    whose caches were emptied, which validates both devices whole. If the part fails, the whole
    decides and the plan is the same."""
    from orchestrator.resources.store import DERIVED_TABLES, Base
    from sqlalchemy import delete

    (tmp_path / "net.yaml").write_text(generate(1, 1, 1, sites=1))
    (tmp_path / "lines.yaml").write_text("---\n".join(_line(i, ("100M", "300M")[i % 2]) for i in range(10)))
    stores = {label: Store(f"sqlite:///{tmp_path}/{label}.db") for label in ("cached", "full", "fallback")}
    for store in stores.values():
        plan(store, str(tmp_path / "net.yaml"), [str(tmp_path / "lines.yaml")])
    (tmp_path / "one.yaml").write_text(_line(3, "100M"))

    seen = []
    real = partial.valid

    def spy(models, index, root, touched, present):
        seen.append((len(touched), real(models, index, root, touched, present)))
        return seen[-1][1]

    def forget(store):
        with store.transaction() as s:
            for table in DERIVED_TABLES:
                if table != "config_owners":
                    s.execute(delete(Base.metadata.tables[table]))

    monkeypatch.setattr(partial, "valid", spy)
    cached = plan(stores["cached"], None, [str(tmp_path / "one.yaml")])
    assert len(seen) == 2 and all(ok for _, ok in seen), seen  # the OLT and the BNG, each in part
    # The tcont, and nothing of the profile: a few units touched, not the line's whole OLT.
    assert all(0 < n <= 8 for n, _ in seen), seen
    forget(stores["full"])
    seen.clear()
    full = plan(stores["full"], None, [str(tmp_path / "one.yaml")])
    assert seen == []
    monkeypatch.setattr(partial, "valid", lambda *a: False)
    fallback = plan(stores["fallback"], None, [str(tmp_path / "one.yaml")])
    for result in (full, fallback):
        assert [(d.device, d.intended, d.edit, d.reverse, d.owners) for d in cached.devices] == \
            [(d.device, d.intended, d.edit, d.reverse, d.owners) for d in result.devices]
    assert any(d.changed for d in cached.devices)


def test_a_device_given_its_config_since_is_still_validated_by_reach(tmp_path, monkeypatch):
    """After an apply the edit starts from another config, so the kept build's key is not the one
    the new inputs would give it: the config it started from is read from the build itself, and
    the changed line's devices are still validated in part."""
    import uuid

    from orchestrator.resources.store import TransactionRow
    from orchestrator.rollout.journal import remember_configs

    (tmp_path / "net.yaml").write_text(generate(1, 1, 1, sites=1))
    (tmp_path / "lines.yaml").write_text("---\n".join(_line(i) for i in range(6)))
    store = Store(f"sqlite:///{tmp_path}/s.db")
    first = plan(store, str(tmp_path / "net.yaml"), [str(tmp_path / "lines.yaml")])
    tx = uuid.uuid4().hex
    with store.transaction() as s:
        s.add(TransactionRow(id=tx, target="env:p", kind="apply", state="committed"))
        remember_configs(s, tx, "apply", "env:p", [(d.device, d.kind, d.intended) for d in first.devices])
    seen = []
    real = partial.valid
    monkeypatch.setattr(partial, "valid", lambda *a: seen.append(real(*a)) or seen[-1])
    (tmp_path / "one.yaml").write_text(_line(2, "100M"))
    plan(store, None, [str(tmp_path / "one.yaml")])
    assert seen == [True, True]
