"""devsim at the size of a real OLT (issue 14, items 7-9): commit-time validation of what an edit
reaches agrees with libyang's whole-datastore validation; commits are journalled and survive a
kill; big edits run off the event loop."""

from __future__ import annotations

import collections
import os
import shutil
import signal

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from lxml import etree

from conformance.agents import DevsimAgent
from devsim_edits import judge, random_edit
from olt_configs import IF_NS, NC, in_rpcs, in_thread, interfaces_edit, olt_configs, seed_running
from orchestrator.devices.registry import KINDS
from orchestrator.devsim.device import Device, body


@pytest.fixture(scope="module")
def olt_config(tmp_path_factory):
    """A planned OLT config of 12 subscribers, the edit adding a 13th and the one taking it out."""
    return olt_configs(12, tmp_path_factory.mktemp("plan"))


def _device(tmp_path, full, name="olt"):
    state = tmp_path / name
    seed_running(state, full)
    return Device("olt", KINDS.get("olt-bbf"), state)


def test_commit_validation_agrees_with_libyang_on_random_edits(olt_config, tmp_path):
    """Sequences of random valid and invalid edits (deleted entries others reference, leafrefs
    and interface types changed, nodes dropped, entries copied under new keys), the valid ones
    sometimes committed: the commit's verdict is libyang's on the whole datastore every time, and
    the part decided many accepted ones (else this would test nothing)."""
    template = _device(tmp_path, olt_config[0], "template")
    assert template.reach.why_whole is None, template.reach.why_whole
    template.journal.close()
    seen = collections.Counter()
    runs = iter(range(10**6))

    @settings(max_examples=int(os.environ.get("FULLBARS_DEVSIM_EDITS", "40")), deadline=None, database=None,
              derandomize=True, suppress_health_check=list(HealthCheck))
    @given(st.data())
    def check(data):
        state = tmp_path / f"run{next(runs)}"
        shutil.copytree(template.dir, state)
        dev = Device("olt", KINDS.get("olt-bbf"), state)
        pick = lambda n: data.draw(st.integers(0, n - 1))  # noqa: E731
        for _ in range(1 + pick(4)):
            config = random_edit(dev, pick)
            got = judge(dev, config, commit=pick(2) == 0)
            if got is None:
                seen["edit refused"] += 1
                continue
            whole, fast, how = got
            assert fast == whole, etree.tostring(config, pretty_print=True).decode()
            seen[("valid" if whole else "invalid", how)] += 1
            # discard and commit leave candidate and running equal
            assert body(dev.trees["candidate"].root) == body(dev.trees["running"].root)
        dev.journal.close()
        shutil.rmtree(state)

    check()
    assert seen[("valid", "part")] >= 10 and seen[("invalid", "whole")] >= 10, seen


def test_reach_of_the_olt_models(olt_config, tmp_path):
    """What reach.py reads from the BBF models: interfaces reference interfaces by key (a
    leafref, a must with [name = current()]), so the part of an edit holds what it names."""
    dev = _device(tmp_path, olt_config[0])
    r = dev.reach
    ifaces = "/ietf-interfaces:interfaces/interface"
    assert r.refs[f"{ifaces}/bbf-xponvani:olt-v-enet/lower-layer-interface"] == {ifaces}
    assert r.refs[f"{ifaces}/bbf-qos-traffic-mngt:tm-root/bbf-qos-shaping:shaper-name"] == {
        "/bbf-qos-traffic-mngt:tm-profiles/bbf-qos-shaping:shaper-profile"}
    assert ifaces in r.units and ifaces not in r.wide


def test_deleting_a_referenced_interface_is_refused_by_the_commit(olt_config, tmp_path):
    """The v-ANI that a T-CONT and an olt-v-enet name goes: the commit is refused with libyang's
    message for a referencing node, though the edit touched only the v-ANI."""
    from orchestrator.devsim.rpcerror import RpcError

    dev = _device(tmp_path, olt_config[0])
    vani = next(el.findtext(f"{{{IF_NS}}}name") for key, sp, el in dev.trees["running"].units()
                if (el.findtext(f"{{{IF_NS}}}name") or "").startswith("vani-"))
    dev.edit("candidate", 1, etree.fromstring(
        f'<config xmlns="{NC}"><interfaces xmlns="{IF_NS}"><interface xmlns:nc="{NC}" nc:operation="delete">'
        f"<name>{vani}</name></interface></interfaces></config>"), "merge", "", "stop-on-error")
    with pytest.raises(RpcError) as e:
        dev.commit(1, False, 600, None, None, None)
    assert "leafref" in e.value.message.lower() or "must" in e.value.message.lower(), e.value.message
    assert vani in body(dev.trees["running"].root)


def test_one_more_subscriber_is_validated_in_part(olt_config, tmp_path):
    dev = _device(tmp_path, olt_config[0])
    dev.edit("candidate", 1, etree.fromstring(olt_config[1]), "merge", "", "stop-on-error")
    assert dev.commit(1, False, 600, None, None, None) == "part"


def test_a_torn_journal_tail_is_the_commit_that_never_happened(olt_config, tmp_path):
    """A kill in the middle of a journal write leaves a partial record: at load it is cut off,
    and running is what the last complete commit made it."""
    dev = _device(tmp_path, olt_config[0])
    dev.edit("candidate", 1, etree.fromstring(olt_config[1]), "merge", "", "stop-on-error")
    dev.commit(1, False, 600, None, None, None)
    after_first = body(dev.trees["running"].root)
    journal = dev.dir / f"journal.{dev.journal.gen}"
    size = journal.stat().st_size
    dev.edit("candidate", 1, etree.fromstring(olt_config[2]), "merge", "", "stop-on-error")
    dev.commit(1, False, 600, None, None, None)
    dev.journal.close()
    assert body(dev.trees["running"].root) != after_first
    with open(journal, "r+b") as f:
        f.truncate(size + (journal.stat().st_size - size) // 2)
    again = Device("olt", KINDS.get("olt-bbf"), dev.dir)
    assert body(again.trees["running"].root) == after_first
    assert again.running_valid


# --- big edits off the event loop; SIGTERM; SIGKILL --------------------------------------------
def _start_big(m, config, *then):
    """edit-config of `config` (then each of `then`: commit) from m, in a thread (see in_thread:
    "value" once all went through)."""
    def run():
        m.edit_config(target="candidate", config=config)
        for step in then:
            step(m)
        return True

    return in_thread(run)


def _wait_rpcs(watcher, editor, n: int, out) -> None:
    """Until the device has taken the editor's n-th rpc (or the editor is done)."""
    while in_rpcs(watcher, editor.session_id) < n and not out["done"].is_set():
        pass


def test_another_session_is_answered_during_a_big_edit(tmp_path):
    """8,000 interfaces in one edit: while the device works on it, another session's get-config
    of running is answered (the edit is not done yet), and the edit then succeeds."""
    agent = DevsimAgent(tmp_path / "s", kind="bng-ietf").start()
    try:
        editor, other = agent.connect(timeout=120), agent.connect()
        out = _start_big(editor, interfaces_edit("big", 8000))
        _wait_rpcs(other, editor, 1, out)
        other.get_config(source="running")
        assert not out["done"].is_set(), "the get-config was answered only after the big edit"
        assert out["done"].wait(120) and out["error"] is None, out["error"]
        assert "big-7999" in other.get_config(source="candidate").data_xml
        # the prefix of each type is declared on <interfaces> only: it still means iana-if-type
        editor.commit()
        assert "big-7999" in other.get_config(source="running").data_xml
    finally:
        agent.stop()


def test_sigterm_during_a_big_edit_stops_the_device_at_once(tmp_path):
    """SIGTERM while an 8,000-entry edit runs: the process exits without finishing (or
    answering) the edit."""
    agent = DevsimAgent(tmp_path / "s", kind="bng-ietf").start()
    try:
        editor, other = agent.connect(timeout=120), agent.connect()
        out = _start_big(editor, interfaces_edit("big", 8000))
        _wait_rpcs(other, editor, 1, out)
        agent.proc.send_signal(signal.SIGTERM)
        agent.proc.wait(timeout=60)  # a hang detector only
        assert out["done"].wait(60)
        assert "value" not in out, "the edit was finished and answered before the device stopped"
    finally:
        if agent.proc.poll() is None:
            agent.stop()


def test_sigkill_during_commits_leaves_the_last_committed_datastore(tmp_path):
    """SIGKILL while a big commit is under way, several times: the restarted device runs what
    the last commit it answered made it, or the one under way entirely, never a part of it."""
    state = tmp_path / "s"
    for rnd in range(3):
        agent = DevsimAgent(state, kind="bng-ietf").start()
        m, watcher = agent.connect(timeout=120), agent.connect()
        before = m.get_config(source="running").data_xml.count("<interface>")
        out = _start_big(m, interfaces_edit(f"r{rnd}", 3000), lambda s: s.commit())
        _wait_rpcs(watcher, m, 2, out)  # the commit is being worked on
        agent.proc.send_signal(signal.SIGKILL)
        agent.proc.wait()
        out["done"].wait(60)
        agent = DevsimAgent(state, kind="bng-ietf").start()
        try:
            running = agent.connect().get_config(source="running").data_xml
        finally:
            agent.stop()
        count = running.count("<interface>")
        if "value" in out:
            assert count == before + 3000
        else:
            assert count in (before, before + 3000), count
        assert count == before or f"r{rnd}-2999" in running
    # the edit is one a device commits when left alone (else the rounds above proved nothing)
    agent = DevsimAgent(state, kind="bng-ietf").start()
    try:
        m = agent.connect(timeout=120)
        m.edit_config(target="candidate", config=interfaces_edit("calm", 3000))
        m.commit()
        assert "calm-2999" in m.get_config(source="running").data_xml
    finally:
        agent.stop()


def test_an_entry_written_with_prefixes_keeps_its_namespace(tmp_path):
    """A client that writes every element with a prefix under <config xmlns=NETCONF>: the stored
    entry stays in its own namespace (it once took the NETCONF default namespace with it, and the
    commit was refused: interface not found under interfaces)."""
    dev = Device("b", KINDS.get("bng-ietf"), tmp_path / "b")
    # what most clients write: a default namespace per module, so the datastore holds it that way
    dev.edit("candidate", 1, etree.fromstring(interfaces_edit("d", 1)), "merge", "", "stop-on-error")
    dev.commit(1, False, 600, None, None, None)
    dev.edit("candidate", 1, etree.fromstring(
        f'<config xmlns="{NC}"><if:interfaces xmlns:if="{IF_NS}"><if:interface><if:name>p1</if:name>'
        '<if:type xmlns:ianaift="urn:ietf:params:xml:ns:yang:iana-if-type">ianaift:ethernetCsmacd</if:type>'
        "</if:interface></if:interfaces></config>"), "merge", "", "stop-on-error")
    dev.commit(1, False, 600, None, None, None)
    assert "<name>p1</name>" in body(dev.trees["running"].root)


def test_a_filter_by_key_selects_exactly_the_entry(olt_config, tmp_path):
    """A subtree filter naming an interface by key, found through the datastore's key index (or
    narrowed by XPath without it): exactly that interface, never those whose names start the
    same; the key's value compared stripped; a name no entry has selects nothing."""
    from orchestrator.devsim import filters
    from orchestrator.devsim.device import empty

    dev = _device(tmp_path, olt_config[0])
    tree = dev.trees["running"]
    names = [el.findtext(f"{{{IF_NS}}}name") for _, _, el in tree.units() if el.tag == f"{{{IF_NS}}}interface"]
    short = min(names, key=lambda n: (sum(o != n and o.startswith(n) for o in names) == 0, len(n)))
    for asked, want in ((short, short), (f"  {short} ", short), (names[-1], names[-1]), ("no-such", None)):
        flt = etree.fromstring(f'<filter xmlns="{NC}"><interfaces xmlns="{IF_NS}"><interface><name>{asked}</name>'
                               "</interface></interfaces></filter>")
        for lookup in (filters.KeyLookup(tree, dev.index), None):
            out = empty()
            filters.subtree(tree.root, flt, out, lookup)
            got = [e.text for e in out.iter(f"{{{IF_NS}}}name") if e.getparent().tag == f"{{{IF_NS}}}interface"]
            assert got == ([] if want is None else [want]), (asked, lookup, got)


def test_an_entry_position_counted_from_either_end():
    """tree._index (counted from the end near it, else from the start) is lxml's index()."""
    from orchestrator.models.tree import _index

    parent = etree.Element("p")
    for i in range(300):
        etree.SubElement(parent, "c" if i % 7 else "d")
    for i in (0, 1, 100, 234, 235, 236, 237, 298, 299):
        assert _index(parent, parent[i]) == parent.index(parent[i]) == i
