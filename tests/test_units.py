"""Single functions: pools, registries, the edit computation, cross-checks against broken templates."""

from __future__ import annotations

import shutil

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import EXAMPLES, REPO
from orchestrator.errors import FullbarsError
from orchestrator.resources.pools import Allocator, PoolExhausted
from orchestrator.resources.store import Store


def test_int_pool_idempotent_exhausted_and_reused(tmp_path):
    store = Store(f"sqlite:///{tmp_path}/s.db")
    with store.transaction() as s:
        a = Allocator(s)
        assert a.take_int("x", "onu-id", "p", 1, 2) == 1
        assert a.take_int("x", "onu-id", "p", 1, 2) == 1  # same owner, same answer
        assert a.take_int("y", "onu-id", "p", 1, 2) == 2
        with pytest.raises(PoolExhausted, match="pool p is exhausted: all 2 values"):
            a.take_int("z", "onu-id", "p", 1, 2)
        a.flush()
    with store.transaction() as s:
        a = Allocator(s)  # what the store kept
        assert a.held("y", "onu-id") == ("p", "2")
        a.release("x")
        assert a.take_int("z", "onu-id", "p", 1, 2) == 1  # freed value is handed out again
        a.flush()
    with store.transaction() as s:
        assert sorted((o, v) for _, v, o, _ in Store.allocations(s)) == [("y", "2"), ("z", "1")]


def _state(a: Allocator, owners, pools) -> tuple:
    return ({o: a.of(o) for o in owners}, {p: sorted(a.used(p)) for p in pools},
            {p: sorted(a.owners(p)) for p in pools})


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.sampled_from(["take", "value", "release", "read"]), st.sampled_from("abcdef"),
                          st.sampled_from(["p", "q"]), st.integers(1, 6)), max_size=25))
def test_a_lazy_allocator_answers_as_one_that_read_every_row(tmp_path_factory, ops):
    """Reading an owner's or a pool's rows when first asked must give what reading them all at the
    start gives, whatever was taken or given back in between, and keep the same rows."""
    tmp = tmp_path_factory.mktemp("lazy")
    store = Store(f"sqlite:///{tmp}/s.db")
    with store.transaction() as s:  # a store with some of everything
        a = Allocator(s)
        for i, o in enumerate("abcd"):
            a.take_int(o, "onu-id", "p", 1, 6)
            a.take_int(o, "vlan", "q", 1, 6) if i % 2 else a.take_value(o, "vlan", "q", 6 - i)
        a.flush()
    outcomes = []
    for lazy in (False, True):
        with store.transaction(False) as s:
            a = Allocator(s, lazy=lazy)
            seen = []
            for op, owner, pool, n in ops:
                purpose = "onu-id" if pool == "p" else "vlan"
                try:
                    if op == "take":
                        seen.append(a.take_int(owner, purpose, pool, 1, 6))
                    elif op == "value":
                        seen.append(a.take_value(owner, purpose, pool, n))
                    elif op == "release":
                        a.release(owner, [purpose] if n % 2 else None)
                    else:
                        seen.append(_state(a, [owner], [pool]))
                except PoolExhausted:
                    seen.append("exhausted")
            seen.append(_state(a, "abcdef", ["p", "q"]))
            a.flush()
            seen.append(sorted(Store.allocations(s)))
            outcomes.append(seen)
    assert outcomes[0] == outcomes[1]


def test_block_pool_hands_out_aligned_blocks(tmp_path):
    with Store(f"sqlite:///{tmp_path}/s.db").transaction() as s:
        a = Allocator(s)
        assert str(a.take_block("a", "address", "pub", "198.51.100.0/28", 29)) == "198.51.100.0/29"
        assert str(a.take_block("b", "address", "pub", "198.51.100.0/28", 29)) == "198.51.100.8/29"
        with pytest.raises(PoolExhausted, match="all 2 blocks /29 of 198.51.100.0/28"):
            a.take_block("c", "address", "pub", "198.51.100.0/28", 29)


def test_a_pool_whose_block_length_changed_hands_out_no_block_overlapping_one_held(tmp_path):
    """Lines keep the blocks they hold when the pool's block-length changes; a new line's block
    must miss them, whether they are larger or smaller than the new length."""
    with Store(f"sqlite:///{tmp_path}/s.db").transaction() as s:
        a = Allocator(s)
        assert str(a.take_block("a", "address", "pub", "198.51.100.0/25", 29)) == "198.51.100.0/29"
        assert str(a.take_block("b", "address", "pub", "198.51.100.0/25", 28)) == "198.51.100.16/28"
        assert str(a.take_block("c", "address", "pub", "198.51.100.0/25", 29)) == "198.51.100.8/29"
        assert str(a.take_block("d", "address", "pub", "198.51.100.0/25", 29)) == "198.51.100.32/29"
        a.flush()
    with Store(f"sqlite:///{tmp_path}/s.db").transaction() as s:
        a = Allocator(s, lazy=True)  # the lengths held are read with the pool
        assert str(a.take_block("e", "address", "pub", "198.51.100.0/25", 27)) == "198.51.100.64/27"
        assert str(a.take_block("f", "address", "pub", "198.51.100.0/25", 30)) == "198.51.100.40/30"


def test_kind_registry_refuses_duplicates():
    from orchestrator.devices.registry import KINDS, KindRegistry

    reg = KindRegistry()
    reg.register(KINDS.get("olt-bbf"))
    with pytest.raises(FullbarsError, match="defined twice"):
        reg.register(KINDS.get("olt-bbf"))
    with pytest.raises(FullbarsError, match="unknown device kind 'olt-x'"):
        KINDS.get("olt-x")


def test_service_registry_refuses_duplicates():
    from orchestrator.services.business_broadband import BusinessBroadband
    from orchestrator.services.registry import ServiceRegistry

    reg = ServiceRegistry()
    reg.register(BusinessBroadband())
    with pytest.raises(FullbarsError, match="registered twice"):
        reg.register(BusinessBroadband())


def test_service_registry_gives_each_cross_check_once_and_refuses_two_of_one_name():
    """Kinds may share a cross-check (a cloud video rides dedicated accesses): it runs once. Two
    different ones keeping their facts under one name would overwrite each other's facts."""
    from orchestrator.services.base import CrossCheck
    from orchestrator.services.cloud_video import CloudVideo
    from orchestrator.services.dedicated_line import DedicatedLine
    from orchestrator.services.fttr_wifi import FttrWifi
    from orchestrator.services.registry import ServiceRegistry

    reg = ServiceRegistry()
    for svc in (DedicatedLine(), CloudVideo(), FttrWifi()):
        reg.register(svc)
    assert [c.name for c in reg.cross_checks()] == ["dedicated"]

    class Other(FttrWifi):
        kind = "Other"
        cross_check = CrossCheck("dedicated", lambda role, tree: {}, lambda network, facts: [])

    reg.register(Other())
    with pytest.raises(FullbarsError, match="two cross-checks keep their facts under 'dedicated'"):
        reg.cross_checks()


def test_edit_deletes_removed_list_entry_by_key_only():
    from orchestrator.devices.registry import KINDS
    from orchestrator.models.schema_index import schema_index
    from orchestrator.plan.diff import edits

    idx = schema_index(KINDS.get("bng-ietf").models)
    nc = 'xmlns="urn:ietf:params:xml:ns:netconf:base:1.0"'
    itf = ('<interface><name>{n}</name><type xmlns:ianaift="urn:ietf:params:xml:ns:yang:iana-if-type">'
           'ianaift:l2vlan</type><description>{d}</description></interface>')
    ifs = '<interfaces xmlns="urn:ietf:params:xml:ns:yang:ietf-interfaces">{}</interfaces>'
    cur = f"<config {nc}>{ifs.format(itf.format(n='a', d='x') + itf.format(n='b', d='y'))}</config>"
    new = f"<config {nc}>{ifs.format(itf.format(n='a', d='z'))}</config>"
    edit, reverse, changed = edits(idx, cur, new)
    assert changed
    assert "<description>z</description>" in edit and "<name>a</name>" in edit
    assert 'operation="delete"' in edit and "<name>b</name>" in edit
    assert "<description>y</description>" not in edit  # a delete names the key, nothing else
    assert "<description>y</description>" in reverse  # the reverse puts b back whole
    assert edits(idx, new, new)[2] is False


@pytest.fixture
def break_template(tmp_path, monkeypatch):
    """Point the renderer at a copy of templates/ and return a function that edits one of them;
    each edit must find its text, so a changed template cannot make a test pass vacuously."""
    from orchestrator import settings
    from orchestrator.render import engine

    copy = tmp_path / "templates"
    shutil.copytree(REPO / "templates", copy)
    monkeypatch.setattr(settings, "TEMPLATES", copy)
    engine.environment.cache_clear()
    engine.template.cache_clear()

    def edit(kind: str, *replacements: tuple[str, str]) -> None:
        t = copy / kind / "business-broadband.xml.j2"
        text = t.read_text()
        for old, new in replacements:
            assert old in text, f"{old!r} is no longer in {t.name}"
            text = text.replace(old, new)
        t.write_text(text)

    yield edit
    engine.environment.cache_clear()
    engine.template.cache_clear()


def _plan_error(tmp_path) -> str:
    with pytest.raises(FullbarsError) as e:
        _plan(tmp_path)
    return e.value.render()


def _plan(tmp_path):
    from orchestrator.plan.pipeline import plan

    return plan(Store(f"sqlite:///{tmp_path}/s.db"), str(EXAMPLES / "network.yaml"),
                [str(EXAMPLES / "intents/acme-hq.yaml")])


def test_vlan_mismatch_from_a_broken_template_is_caught(tmp_path, break_template):
    break_template("bng-ietf", ("<inner-vlan>{{ c_vlan }}</inner-vlan>", "<inner-vlan>{{ c_vlan + 1 }}</inner-vlan>"))
    text = _plan_error(tmp_path)
    assert "VLAN S1100/C2 is carried by olt-1 uplink-1.1100.2 but bng-east to-olt-1 has no sub-interface" in text
    assert "VLAN S1100/C3 is terminated by bng-east to-olt-1.1100.2 but olt-1 uplink-1 does not carry it" in text


def test_duplicate_address_from_a_broken_template_is_caught(tmp_path, break_template):
    break_template("bng-ietf", ("<client-address>{{ client }}</client-address>",
                                "<client-address>{{ gateway }}</client-address>"),
                   ('{% if mode == "dhcp" %}', "{% if true %}"))
    assert "address 203.0.113.1 is used twice" in _plan_error(tmp_path)


def test_template_producing_invalid_yang_names_device_and_path(tmp_path, break_template):
    break_template("olt-bbf", ("<onu-id>{{ onu_id }}</onu-id>", "<onu-id>{{ onu_id + 5000 }}</onu-id>"))
    text = _plan_error(tmp_path)
    assert "olt-1" in text and "onu-id" in text and "5001" in text


def test_pon_capacity_check_reads_the_rendered_tconts(tmp_path, break_template):
    break_template("olt-bbf", ("<assured-bandwidth>{{ up_bps }}</assured-bandwidth>",
                               "<assured-bandwidth>{{ up_bps * 40 }}</assured-bandwidth>"),
                   ("<maximum-bandwidth>{{ up_bps }}</maximum-bandwidth>",
                    "<maximum-bandwidth>{{ up_bps * 40 }}</maximum-bandwidth>"))
    assert "olt-1 PON 1/1/1: T-CONTs assure 12G upstream, over the line rate 9953M" in _plan_error(tmp_path)


def test_secret_reference_not_secret_value_in_artifacts(tmp_path, monkeypatch):
    from orchestrator.plan.artifacts import write

    monkeypatch.setenv("FULLBARS_NETCONF_PASSWORD", "s3cr3t-Value")
    write(_plan(tmp_path), tmp_path / "out")
    for f in (tmp_path / "out").rglob("*"):
        if f.is_file():
            assert "s3cr3t-Value" not in f.read_text()


def test_waves_split_a_canary_then_even_waves():
    from orchestrator.rollout.waves import split

    olts = [f"olt-{i}" for i in range(1, 9)]
    assert split(olts, 1, 2) == [["olt-1"], olts[1:5], olts[5:]]
    assert split(olts, 2, 3) == [olts[:2], olts[2:4], olts[4:6], olts[6:]]
    assert split(olts[:2], 1, 5) == [["olt-1"], ["olt-2"]]  # never an empty wave
    assert split([], 1, 2) == []


def test_selector_every_criterion_must_hold():
    from orchestrator.services.selector import covers

    spec = {"customer": "Acme", "site": "harbour-park", "customer-class": "sme", "tenure-years": 4,
            "rates": {"downstream": "300M"}}
    assert covers({}, "l1", spec, "olt-1")
    assert covers({"site": "harbour-park", "olt": ["olt-1"], "downstream": "300M", "min-tenure-years": 4},
                  "l1", spec, "olt-1")
    assert not covers({"site": "harbour-park", "olt": ["olt-2"]}, "l1", spec, "olt-1")
    assert not covers({"min-tenure-years": 5}, "l1", spec, "olt-1")
    assert not covers({"max-tenure-years": 3}, "l1", spec, "olt-1")
    assert not covers({"downstream": "300M"}, "l1", spec, "olt-1", downstream_bps=500_000_000)
    assert not covers({"customer-class": "retail"}, "l1", spec, "olt-1")
    assert covers({"line": ["l1"]}, "l1", spec, None) and not covers({"line": ["l2"]}, "l1", spec, None)


def test_clock_is_injected_and_months_clamp_to_the_month_end(monkeypatch):
    from orchestrator import clock
    from orchestrator.errors import FullbarsError

    monkeypatch.setenv("FULLBARS_NOW", "2026-07-01")
    assert clock.now().isoformat() == "2026-07-01T00:00:00+00:00"
    assert clock.now() > clock.end_of_day("2026-06-30") > clock.now().replace(day=1, month=6)
    assert clock.add_months("2026-06-30", 3) == "2026-09-30"
    assert clock.add_months("2026-11-30", 3) == "2027-02-28"
    monkeypatch.setenv("FULLBARS_NOW", "next tuesday")
    with pytest.raises(FullbarsError) as e:
        clock.now()
    assert "FULLBARS_NOW" in e.value.problems[0].message


def test_long_config_diffs_match_difflib():
    import difflib

    from orchestrator.plan.diff import _unified

    a = [f"  <leaf>{i}</leaf>" if i % 7 else "  </interface>" for i in range(3000)]
    b = [x.replace("0</leaf>", "0 changed</leaf>") for x in a[:2000]] + a[2100:] + ["  <new/>"]
    ours = _unified(a, b, "x (current)", "x (intended)", 3)
    ref = list(difflib.unified_diff(a, b, "x (current)", "x (intended)", n=3, lineterm=""))
    changed = lambda d: sorted(line for line in d if line[:1] in "+-" and line[:3] not in ("+++", "---"))  # noqa: E731
    assert ours[:2] == ["--- x (current)", "+++ x (intended)"]
    assert changed(ours) == changed(ref) and len(changed(ours)) > 300


def test_devsim_keeps_the_meaning_of_an_identity_whose_prefix_repeats_the_default_namespace():
    """<type xmlns:rt="X">rt:static</type> under a default namespace X: lxml drops the repeated
    declaration when the element moves into the datastore; the stored value must still mean
    ietf-routing's identity 'static' for libyang (and nothing else may change)."""
    from lxml import etree

    from orchestrator.devices.registry import KINDS
    from orchestrator.devsim.edit import Editor
    from orchestrator.models.tree import Tree
    from orchestrator.models.schema_index import schema_index

    kind = KINDS.get("pe-ietf")
    edit = etree.fromstring(
        '<config xmlns="urn:ietf:params:xml:ns:netconf:base:1.0"><routing xmlns="urn:ietf:params:xml:ns:yang:'
        'ietf-routing"><control-plane-protocols><control-plane-protocol><type xmlns:rt="urn:ietf:params:xml:ns:'
        'yang:ietf-routing">rt:static</type><name>s</name><description>a:b</description></control-plane-protocol>'
        '</control-plane-protocols></routing></config>')
    store = etree.Element("{urn:ietf:params:xml:ns:netconf:base:1.0}data")
    index = schema_index(kind.models)
    Editor(index).apply(Tree(index, store), edit, "merge")
    text = "".join(etree.tostring(c, encoding="unicode") for c in store)
    assert "<description>a:b</description>" in text  # not an identity: untouched
    tree = kind.models.parse(text)  # raises if the identity lost its meaning
    assert '"ietf-routing:static"' in tree.print_mem("json", with_siblings=True)
    tree.free()


def test_a_waves_estimate_is_paced_by_its_slowest_kind():
    from orchestrator.rollout.waves import estimate

    kinds = {"olt-1": "olt-bbf", "olt-2": "olt-bbf", "olt-3": "olt-bbf", "bng-1": "bng-ietf"}
    per = {"olt-bbf": 3.0, "bng-ietf": 20.0}
    assert estimate([["olt-1", "bng-1"], ["olt-2", "olt-3"]], kinds, per, 0.0, 32) == 20.0 + 3.0
    assert estimate([["olt-1", "olt-2", "olt-3"]], kinds, per, 0.0, 2) == 6.0  # two rounds of at most 2
    assert estimate([["olt-1"], ["olt-2"]], kinds, per, 60.0, 32) == 3.0 + 60.0 + 3.0
    assert estimate([["olt-1", "bng-1"]], kinds, {"olt-bbf": 3.0}, 0.0, 32) is None  # a BNG never measured


def _planned(tmp_path, network: str, intents: list[str]):
    """A real plan into a real store: (devices by name, the store)."""
    from orchestrator.plan.pipeline import plan

    store = Store(f"sqlite:///{tmp_path}/s.db")
    result = plan(store, str(EXAMPLES / network), [str(EXAMPLES / i) for i in intents])
    return {d.device: d for d in result.devices}, store


def _drift(store, dev, live: str) -> list[dict]:
    """drift's differences of a device running `live`, with the ownership the store recorded."""
    from orchestrator.rollout.drift import differences

    with store.transaction() as s:
        owned = Store.owners(s, dev.device, dev.intended)
    assert owned is not None, f"the plan recorded no ownership for {dev.device}"
    changed, diffs = differences(dev.kind, live, dev.intended, owned)
    assert changed and diffs, f"{dev.device}: a changed device must show differences"
    return diffs


def _remove(dev, owned_by: str) -> str:
    """The device's intended config with every subtree that only `owned_by` holds taken out (as if
    someone removed the service's config by hand on the device)."""
    from lxml import etree

    from orchestrator.devices.registry import KINDS
    from orchestrator.models.schema_index import schema_index
    from orchestrator.plan.diff import parse
    from orchestrator.plan.ownership import step

    index = schema_index(KINDS.get(dev.kind).models)
    root = parse(dev.intended)
    removed = []

    def walk(el, path, spath, ns):
        p, sp, cns, _ = step(index, path, spath, ns, el)
        if dev.owners.get(p) == [owned_by]:
            el.getparent().remove(el)
            removed.append(p)
            return
        for c in [c for c in el if isinstance(c.tag, str)]:
            walk(c, p, sp, cns)

    for top in list(root):
        walk(top, "", "", None)
    # every path recorded for the service names a node of the config (the same path spelling)
    assert sorted(removed) == sorted(p for p, o in dev.owners.items() if o == [owned_by]), dev.device
    return etree.tostring(root, encoding="unicode")


@pytest.mark.parametrize("network,intents,devices", [
    ("network.yaml", ["lab/dock-office.yaml", "lab/harbour-cafe.yaml", "fttr/studio-line.yaml",
                      "fttr/studio-wifi.yaml"], ["bng-east", "olt-1", "fttr-studio"]),
    ("networks/campus.yaml", ["campus/acme-robotics.yaml", "campus/harbour-hospital.yaml"],
     ["upf-1", "pe-1", "core-1", "gnb-1"]),
])
def test_drift_names_the_service_that_owns_each_difference(tmp_path, network, intents, devices):
    """Each service's own config removed from a device (BNG, OLT, FTTR unit, UPF, PE, core, gNB):
    every difference names that service and no other, from the ownership the plan recorded."""
    planned, store = _planned(tmp_path, network, intents)
    for name in devices:
        dev = planned[name]
        own = sorted({o for owners in dev.owners.values() if len(owners) == 1 for o in owners} - {"device base"})
        assert own, f"{name}: no service owns anything on it"
        for svc in own:
            diffs = _drift(store, dev, _remove(dev, svc))
            assert {d["service"] for d in diffs} == {svc}, (name, svc, diffs)


def test_drift_reports_a_removed_key_only_entry_with_its_owner(tmp_path):
    """A list entry made only of its keys (an S-NSSAI on the UPF) missing on the device is a
    difference, named by its keys, owned by the slice's service."""
    import re

    planned, store = _planned(tmp_path, "networks/campus.yaml", ["campus/acme-robotics.yaml",
                                                                "campus/harbour-hospital.yaml"])
    upf = planned["upf-1"]
    entry = re.compile(r"<sNSSAIList>\s*<sd>001001</sd>\s*<sst>1</sst>\s*</sNSSAIList>")  # keys only
    assert len(entry.findall(upf.intended)) == 1
    diffs = _drift(store, upf, entry.sub("", upf.intended))
    assert diffs == [{"path": "/ManagedElement[id='upf-1']/UPFFunction[id='UPF-1']/attributes/"
                              "sNSSAIList[sd='001001'][sst='1']",
                      "what": "intended, missing on the device", "services": ["acme-robotics"],
                      "service": "acme-robotics"}]


def test_drift_gives_what_the_device_runs_beside_what_was_intended(tmp_path):
    """A leaf changed by hand shows both values; one taken away says it is not set; one added
    says what it holds (drift gave the intended value alone)."""
    import re

    planned, store = _planned(tmp_path, "network.yaml", ["lab/dock-office.yaml"])
    bng = planned["bng-east"]
    live = bng.intended.replace("<description>Harbour customer 1 (dock-office)</description>",
                                "<description>changed by hand</description>", 1)
    live, gone = re.subn(r"<enabled>true</enabled>", "", live, count=1)
    assert live != bng.intended and gone == 1
    said = {d["what"] for d in _drift(store, bng, live)}
    assert "intended 'Harbour customer 1 (dock-office)', running 'changed by hand'" in said, said
    assert "intended 'true', not set on the device" in said, said


def test_an_edit_names_the_out_of_band_changes_it_puts_back(tmp_path):
    """A device changed by hand after fullbars gave it its config: the edit to a new config puts
    the hand changes back, and each is named with what the device ran and what fullbars had
    given. A hand change the new config agrees with is not named; a device in sync names none."""
    import re

    from orchestrator.models.schema_index import schema_index
    from orchestrator.devices.registry import KINDS
    from orchestrator.plan.diff import edits
    from orchestrator.rollout.drift import overwritten

    planned, _ = _planned(tmp_path, "network.yaml", ["lab/dock-office.yaml"])
    bng = planned["bng-east"]
    given = bng.intended
    live = given.replace("<description>Harbour customer 1 (dock-office)</description>",
                         "<description>changed by hand</description>", 1)
    live, gone = re.subn(r"<enabled>true</enabled>", "", live, count=1)
    assert live != given and gone == 1
    index = schema_index(KINDS.get(bng.kind).models)
    new = given.replace("Harbour customer 1 (dock-office)", "Harbour customer 1 (dock-office, moved)", 1)
    edit, _, changed = edits(index, live, new)
    assert changed
    said = overwritten(bng.kind, live, given, edit)
    paths = {o["path"]: o for o in said}
    desc = [o for p, o in paths.items() if p.endswith("/description")]
    assert len(desc) == 1 and desc[0]["ran"] == "changed by hand" \
        and desc[0]["given"] == "Harbour customer 1 (dock-office)", said
    enabled = [o for p, o in paths.items() if p.endswith("/enabled")]
    assert len(enabled) == 1 and enabled[0]["given"] == "true", said
    assert len(said) == 2, said
    # a new config that takes the hand-made description as it is puts back only the other change
    same = given.replace("<description>Harbour customer 1 (dock-office)</description>",
                         "<description>changed by hand</description>", 1)
    edit, _, _ = edits(index, live, same)
    assert [o["path"] for o in overwritten(bng.kind, live, given, edit)] == list(p for p in paths if p.endswith("/enabled"))
    # an entry added by hand is taken off whole: named once, at the entry, as fullbars never set it
    extra = ('<interface><name>by-hand</name><type xmlns:ianaift="urn:ietf:params:xml:ns:yang:iana-if-type">'
             "ianaift:ethernetCsmacd</type><description>added by hand</description></interface>")
    added = live.replace("</interfaces>", extra + "</interfaces>", 1)
    assert added != live
    edit, _, _ = edits(index, added, new)
    by_hand = [o for o in overwritten(bng.kind, added, given, edit) if "by-hand" in o["path"]]
    assert by_hand == [{"path": "/interfaces/interface[name='by-hand']", "ran": "(present)", "given": None}], by_hand
    edit, _, _ = edits(index, given, new)
    assert overwritten(bng.kind, given, given, edit) == []
    assert overwritten(bng.kind, live, "", edit) == []


@pytest.mark.parametrize("network,intents", [
    ("network.yaml", ["lab/dock-office.yaml", "lab/harbour-cafe.yaml", "lab/port-authority.yaml",
                      "fttr/studio-line.yaml", "fttr/studio-wifi.yaml", "intents/acme-hq.yaml"]),
    ("networks/campus.yaml", ["campus/acme-robotics.yaml", "campus/harbour-hospital.yaml"]),
    ("networks/campus-l3nm.yaml", ["campus/acme-robotics.yaml"]),
    ("networks/enterprise.yaml", ["dedicated/acme-wan.yaml", "dedicated/bolt-net.yaml", "cloud/north-shop.yaml",
                                  "cloud/north-shop-cameras.yaml"]),
])
def test_fragment_nodes_by_shape_equal_the_walk(tmp_path, network, intents):
    """Every fragment the examples render, of every device kind, gives the same ownership nodes
    from its shape's kept program as from walking its parsed XML; and the programs are used (the
    fragments of one template share a shape)."""
    from orchestrator.devices.registry import KINDS
    from orchestrator.plan import fragcache
    from orchestrator.models.schema_index import schema_index
    from orchestrator.plan.ownership import nodes, walk_nodes

    planned, store = _planned(tmp_path, network, intents)
    with store.transaction() as s:
        frags, _ = Store.plan_cache(s, planned)
    checked = 0
    for dev, pieces in frags.items():
        index = schema_index(KINDS.get(planned[dev].kind).models)
        for owner, (_, data) in pieces.items():
            text, kept = fragcache.unpack_piece(data)
            assert nodes(index, text) == walk_nodes(index, text) == kept, (dev, owner)
            checked += bool(text.strip())
        assert any(index.__dict__.get("_node_programs", {}).values()), f"{dev}: no fragment went by its shape"
    assert checked >= len(planned)


_NS = 'xmlns="urn:ietf:params:xml:ns:yang:ietf-interfaces"'
_IANA = "urn:ietf:params:xml:ns:yang:iana-if-type"


@pytest.mark.parametrize("fragment", [
    f"<interfaces {_NS}><interface><name>a</name><enabled>true</enabled></interface></interfaces>",
    f"<interfaces {_NS}><interface><name> spaced </name></interface><interface><name>b</name></interface></interfaces>",
    f"<interfaces {_NS}><interface><name>x&amp;y</name></interface></interfaces>",  # an entity
    f"<interfaces {_NS}><!-- a comment --><interface><name>c</name></interface></interfaces>",
    f"<interfaces {_NS}><interface><name>gt>lt</name></interface></interfaces>",  # '>' in a text
    f'<interfaces {_NS}><interface a="1>2"><name>d</name></interface></interfaces>',  # '>' in an attribute
    f"<interfaces {_NS}><interface><name/></interface></interfaces>",  # an empty key
    f"<interfaces {_NS}><interface><name>ia:e</name></interface></interfaces>",  # a prefix not declared
    f'<interfaces {_NS} xmlns:ia="{_IANA}"><interface><name>ia:f</name></interface></interfaces>',
    f'<interfaces {_NS} xmlns:ia="urn:ietf:params:xml:ns:yang:ietf-interfaces"><interface>'
    f"<name>ia:g</name></interface></interfaces>",  # the default namespace's prefix
    f"<interfaces {_NS}><interface><name>{{urn:x}}h</name></interface></interfaces>",
    f"<interfaces {_NS}>\n  <interface>\n    <name>i</name>\n  </interface>\n</interfaces>\n",
    f"<interfaces {_NS}><interface><name>k\r\nl</name></interface></interfaces>",  # XML reads CR LF as LF
])
def test_fragment_nodes_by_shape_edge_cases(fragment):
    """Texts the shape split must not mistake (entities, comments, '>' in a text or an
    attribute, empty keys, identity prefixes declared or not, CR LF): nodes() equals the walk, twice
    (the second time from the kept program)."""
    from orchestrator.devices.registry import KINDS
    from orchestrator.models.schema_index import schema_index
    from orchestrator.plan.ownership import nodes, walk_nodes

    index = schema_index(KINDS.get("bng-ietf").models)
    want = walk_nodes(index, fragment)
    assert want and nodes(index, fragment) == want and nodes(index, fragment) == want
    other = fragment.replace(">a<", ">z<").replace(">i<", ">j<")  # same shape, another key
    assert nodes(index, other) == walk_nodes(index, other)


def test_drift_names_every_line_that_uses_a_shared_profile(tmp_path):
    """Two 500M lines share the OLT's shaper profile: its difference names both, not a guess."""
    planned, store = _planned(tmp_path, "network.yaml", ["lab/dock-office.yaml", "lab/harbour-cafe.yaml",
                                                         "lab/port-authority.yaml"])
    olt = planned["olt-1"]
    assert olt.intended.count("<pir>500000</pir>") == 1  # one profile for both lines
    diffs = _drift(store, olt, olt.intended.replace("<pir>500000</pir>", "<pir>250000</pir>"))
    assert [(d["path"].rsplit("/", 3)[-3:], d["services"]) for d in diffs] == [
        (["shaper-profile[name='down-500M']", "single-token-bucket", "pir"], ["dock-office", "harbour-cafe"])]


def test_devsim_reports_a_disabled_vani_down_with_its_onu_present(tmp_path):
    """devsim's OLT state: a v-ANI is up only when enabled and its ONU is plugged in (both the
    NMDA oper-status and interfaces-state)."""
    import json
    from types import SimpleNamespace

    from lxml import etree

    from orchestrator.devsim.operational import IF, add_interface_state, olt_state

    (tmp_path / "physical.json").write_text(json.dumps({"onus": {"SN000001": "pon1", "SN000002": "pon2"}}))

    def vani(name, serial, enabled):
        return (f"<interface><name>{name}</name>" + ("" if enabled is None else f"<enabled>{enabled}</enabled>")
                + f'<v-ani xmlns="urn:bbf:yang:bbf-xponvani"><expected-serial-number>{serial}'
                "</expected-serial-number></v-ani></interface>")

    running = etree.fromstring(f'<data><interfaces xmlns="{IF}">{vani("v-on", "SN000001", None)}'
                               f'{vani("v-off", "SN000002", "false")}{vani("v-gone", "SN000009", "true")}'
                               "</interfaces></data>")
    legacy = etree.fromstring(olt_state(running, tmp_path))
    add_interface_state(running, SimpleNamespace(kind=SimpleNamespace(role="olt"), dir=tmp_path))
    for tree, where in ((running, "interfaces"), (legacy, None)):
        items = tree.iterfind(f"{{{IF}}}{where}/{{{IF}}}interface") if where else tree.iterfind(f"{{{IF}}}interface")
        oper = {i.findtext(f"{{{IF}}}name"): i.findtext(f"{{{IF}}}oper-status") for i in items}
        assert oper == {"v-on": "up", "v-off": "down", "v-gone": "down"}, (where, oper)


def test_a_device_given_nothing_lacks_nothing():
    """Rolling a device back to the empty config it had (<data/>) must not read as a lost commit:
    the document element is no leaf, whatever the agent names it."""
    from lxml import etree

    from orchestrator.netconf.compare import missing

    nc = "urn:ietf:params:xml:ns:netconf:base:1.0"
    assert missing(f'<data xmlns="{nc}"/>', etree.fromstring(f'<data xmlns="{nc}"/>')) == []
    assert missing(f'<data xmlns="{nc}"/>', etree.fromstring(f'<config xmlns="{nc}"/>')) == []
    lost = f'<data xmlns="{nc}"><system xmlns="urn:x"><name>a</name></system></data>'
    assert missing(lost, etree.fromstring(f'<data xmlns="{nc}"/>')) == ["system/name"]


def test_exact_packing_gives_back_tuples_sets_and_tuple_keys():
    """The build cache keeps a device's cross-check facts: what comes back must be equal, type for
    type (a VLAN pair is looked up as a tuple key), and a value with no exact form is refused."""
    from collections import defaultdict

    from orchestrator.plan import fragcache

    facts = {"vlans": {"uplink-1": {(1100, 2): "uplink-1.1100.2"}},
             "addresses": [("to-olt-1.1100.2", "203.0.113.1", "29"), ("x (DHCP)", "203.0.113.2", None)],
             "campus": {"snssai": {("1", "000001")}, "list": [1, 2.5, True, None]},
             "nested": defaultdict(list, {"a": [(None, "c1")]}), "\0t": "a key that looks like a tag"}
    back = fragcache.unpack_exact(fragcache.pack([fragcache.exact(facts)]))[0]
    assert back == facts
    assert type(next(iter(back["vlans"]["uplink-1"]))) is tuple and type(back["addresses"][0]) is tuple
    assert type(next(iter(back["campus"]["snssai"]))) is tuple and type(back["nested"]["a"][0]) is tuple
    with pytest.raises(TypeError, match="no exact form for object"):
        fragcache.exact({"x": object()})


def test_address_checks_find_duplicates_and_overlaps_and_allow_a_link_between_two_devices():
    from orchestrator.plan.crosscheck import _addresses

    def f(*addresses):
        return {"addresses": list(addresses)}

    assert _addresses({"pe-1": f(("to-a", "10.0.0.1", "30")), "a": f(("up", "10.0.0.2", "30"))}) == []
    [dup] = _addresses({"a": f(("x", "192.0.2.1", "24")), "b": f(("y (DHCP)", "192.0.2.1", None))})
    assert dup.message == "address 192.0.2.1 is used twice: on a x and on b y (DHCP)"
    [over] = _addresses({"a": f(("x", "192.0.2.1", "24")), "b": f(("y", "192.0.2.130", "25"))})
    assert over.message == "subnet 192.0.2.128/25 on b y overlaps 192.0.2.0/24 on a x"
    three = _addresses({"a": f(("x", "10.0.0.1", "30")), "b": f(("y", "10.0.0.2", "30")),
                        "c": f(("z", "10.0.0.3", "30"))})
    assert [p.message for p in three] == ["subnet 10.0.0.0/30 on b y overlaps 10.0.0.0/30 on a x",
                                          "subnet 10.0.0.0/30 on c z overlaps 10.0.0.0/30 on b y"]


def test_a_plans_diff_lines_read_as_the_list_they_stand_for():
    """plan.diff.Lines: a new device's diff is its config, each line after a "+", kept as a
    reference to that config (also through the build cache); a changed device's is the unified diff."""
    from orchestrator.plan.diff import Lines, _unified, plan_diff

    config = "<config>\n  <a>1</a>\n  <b>2</b>\n</config>\n"
    new = plan_diff("d", "<config/>\n", config)
    assert list(new) == ["--- d (current: nothing applied yet)", "+++ d (intended)", "+  <a>1</a>", "+  <b>2</b>"]
    assert len(new) == 4 and new[2] == "+  <a>1</a>" and new == list(new)
    assert new.kept(config)[1] is None and Lines.from_kept(new.kept(config), config) == new
    changed = config.replace("2", "3")
    want = _unified(config.splitlines(), changed.splitlines(), "d (current)", "d (intended)", 3)
    edit = plan_diff("d", config, changed)
    assert list(edit) == want and len(edit) == len(want) and "-  <b>2</b>" in edit
    for lines in ([], [""], ["a", "", "b"]):
        again = Lines.from_kept(Lines.of(lines).kept("x"), "x")
        assert list(again) == lines and len(again) == len(lines) and again.text() == "\n".join(lines)
    for config in ("<config>\n  <a>x\u2028y</a>\n</config>\n", "<config>\n</config>\n", "<config/>\n", config,
                   "<config>\n  <a>x\r\ny</a>\n</config>\n"):
        made = plan_diff("d", "", config)
        assert made.text() == "\n".join(made) == "\n".join(list(made))


def test_planned_configs_read_back_the_same_once_compressed():
    """plan.texts.Texts: what a device's configs read as is the same before and after pack; a new
    device's edit (its config) is compressed once, and its diff reads the config through them."""
    from orchestrator.plan.diff import plan_diff
    from orchestrator.plan.texts import Texts

    config = "<config>\n" + "".join(f"  <a>{i}</a>\n" for i in range(2000)) + "</config>\n"
    texts = Texts(config, config, "<config>\n  <a operation=\"delete\"/>\n</config>\n")
    diff = plan_diff("d", "<config/>\n", config)
    before = (texts.intended, texts.edit, texts.reverse, list(diff))
    diff = diff.over(texts)
    texts.pack()
    assert (texts.intended, texts.edit, texts.reverse, list(diff)) == before and len(diff) == 2002
    assert texts._parts[1] == 0 and isinstance(texts._parts[0], bytes) and len(texts._parts[0]) < len(config) / 5
    assert plan_diff("d", "<config/>\n", config).over(Texts("<config/>\n", "", "")).over(texts)._text == config
    other = Texts(config.replace("<a>", "<b>"), "<config/>\n", "<config/>\n")
    other.pack()
    for _ in range(2):  # read back in turn, each is its own (the last read is kept, by device and part)
        assert (texts.intended, other.intended, texts.reverse, other.edit) == (config, config.replace("<a>", "<b>"),
                                                                             before[2], "<config/>\n")


def test_an_identity_of_its_elements_own_module_is_written_without_prefix():
    """assemble._own_identities_unprefixed: rt:static inside ietf-routing loses its prefix; an
    identity of another module (ianaift inside ietf-interfaces) keeps it, and a body with only
    those comes back as the very same string."""
    from orchestrator.plan.assemble import _own_identities_unprefixed

    rt, ift, ianaift = ("urn:ietf:params:xml:ns:yang:ietf-routing", "urn:ietf:params:xml:ns:yang:ietf-interfaces",
                        "urn:ietf:params:xml:ns:yang:iana-if-type")
    foreign = (f'<interfaces xmlns="{ift}">\n  <interface>\n    <name>e</name>\n'
               f'    <type xmlns:ianaift="{ianaift}">ianaift:l2vlan</type>\n  </interface>\n</interfaces>\n')
    assert _own_identities_unprefixed(foreign) is foreign
    own = (f'<routing xmlns="{rt}">\n  <control-plane-protocols>\n    <control-plane-protocol>\n'
           f'      <type xmlns:rt="{rt}">rt:static</type>\n      <name>s</name>\n'
           f'    </control-plane-protocol>\n  </control-plane-protocols>\n</routing>\n')
    assert _own_identities_unprefixed(foreign + own) == foreign + own.replace(f' xmlns:rt="{rt}">rt:static', ">static")


def _mutable_ids(value, seen: set[int]) -> set[int]:
    """The ids of every dict, list and object reachable from `value` (objects by their attributes)."""
    import dataclasses

    if id(value) in seen or isinstance(value, (str, bytes, int, float, bool, type(None))):
        return seen
    seen.add(id(value))
    if isinstance(value, dict):
        for v in value.values():
            _mutable_ids(v, seen)
    elif isinstance(value, (list, tuple, set, frozenset)):
        for v in value:
            _mutable_ids(v, seen)
    elif hasattr(value, "__dict__"):
        for v in vars(value).values():
            _mutable_ids(v, seen)
    elif dataclasses.is_dataclass(value):  # one with slots
        for f in dataclasses.fields(value):
            _mutable_ids(getattr(value, f.name), seen)
    return seen


@pytest.mark.parametrize("path", ["examples/network.yaml", *sorted(
    str(p.relative_to(REPO)) for p in (REPO / "examples/networks").glob("*.yaml"))])
def test_a_network_shares_nothing_mutable_with_the_kept_validated_description(path):
    """load_network hands out Networks made from the spec a process keeps per description (not a
    copy of it): no Network may hold a dict or list of that spec, and making one changes nothing
    of it, so the next plan reads the description as validated."""
    import copy

    from orchestrator.network.model import _validated, load_network

    file = str(REPO / path)
    text = (REPO / path).read_text()
    kept = _validated(file, text)[1]
    before = copy.deepcopy(kept)
    net = load_network(file, text)
    assert net.devices and _validated(file, text)[1] is kept
    assert kept == before
    spec_ids = _mutable_ids(kept, set())
    shared = spec_ids & _mutable_ids(net, set())
    assert not shared, "a Network holds part of the kept spec"


def test_ownership_combine_keeps_only_nodes_whose_owners_differ_from_their_parents():
    """combine: a node several pieces hold names them all, sorted; a node whose owners are its
    parent's is left out (it inherits them); one whose owners differ is kept, at any depth."""
    from orchestrator.plan.ownership import combine

    top, prof, a_itf, b_itf = "/t", "/t/profile[name='p']", "/t/itf[name='a']", "/t/itf[name='b']"
    pieces = [("base", [(top, None)]),
              ("line-b", [(top, None), (prof, top), (b_itf, top), (b_itf + "/sub", b_itf)]),
              ("line-a", [(top, None), (prof, top), (a_itf, top)]),
              ("line-c", [(top, None), (prof, top)])]
    assert combine(pieces) == {top: ["base", "line-a", "line-b", "line-c"],
                               prof: ["line-a", "line-b", "line-c"], b_itf: ["line-b"], a_itf: ["line-a"]}
    assert combine([("x", [(top, None), (a_itf, top)])]) == {top: ["x"]}  # the child inherits x
    assert combine([]) == {}


def test_a_diff_from_a_read_back_config_shows_what_changes_not_the_whole_config():
    """A rollback records what a device ran as its <data> reply, on one line; the next plan's
    diff of it showed the whole intended config as new ("nothing applied yet")."""
    from orchestrator.plan.diff import plan_diff

    ran = ('<data xmlns="urn:ietf:params:xml:ns:netconf:base:1.0"><interfaces xmlns="urn:ietf:params:xml:ns:yang:'
           'ietf-interfaces"><interface><name>a</name><enabled>true</enabled></interface></interfaces></data>')
    intended = ('<config xmlns="urn:ietf:params:xml:ns:netconf:base:1.0">\n'
                '  <interfaces xmlns="urn:ietf:params:xml:ns:yang:ietf-interfaces">\n    <interface>\n'
                '      <name>a</name>\n      <enabled>false</enabled>\n    </interface>\n  </interfaces>\n</config>\n')
    lines = list(plan_diff("olt-1", ran, intended))
    assert lines[0] == "--- olt-1 (current)"
    assert [x for x in lines if x[:1] in "+-" and x[:3] not in ("---", "+++")] == \
        ["-      <enabled>true</enabled>", "+      <enabled>false</enabled>"], lines
    assert list(plan_diff("olt-1", "<data/>", intended))[0] == "--- olt-1 (current: nothing applied yet)"
