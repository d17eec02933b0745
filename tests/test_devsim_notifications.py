"""RFC 5277 create-subscription and RFC 6470 netconf-config-change on devsim: one session
subscribes, others change the device, the subscriber hears what changed and who did it."""

from __future__ import annotations

import pytest
from lxml import etree
from ncclient.operations.rpc import RPCError

from conformance.agents import ETH_TYPE, IF_NS, NC_NS, DevsimAgent

NCN = "urn:ietf:params:xml:ns:yang:ietf-netconf-notifications"


@pytest.fixture
def device(tmp_path):
    a = DevsimAgent(tmp_path / "d", kind="bng-ietf").start()
    yield a
    a.stop()


def _iface(name: str) -> str:
    return f'<config xmlns="{NC_NS}"><interfaces xmlns="{IF_NS}"><interface><name>{name}</name>{ETH_TYPE}</interface></interfaces></config>'


def _event(sub, timeout: float = 10):
    n = sub.take_notification(block=True, timeout=timeout)
    if n is None:
        return None
    ev = etree.fromstring(n.notification_xml.encode()).find(f"{{{NCN}}}netconf-config-change")
    assert ev is not None, n.notification_xml
    return ev


def _valid(ev) -> None:
    """The event is an ietf-netconf-notifications notification libyang accepts (instance-identifier
    targets included, which must name existing-schema nodes with bound prefixes)."""
    from libyang import DataType

    from orchestrator.models.context import model_set

    ctx = model_set((("ietf-netconf-notifications", ()), ("ietf-interfaces", ()))).ctx
    tree = ctx.parse_op_mem("xml", etree.tostring(ev, encoding="unicode"), dtype=DataType.NOTIF_YANG)
    tree.free()


def _edits(ev) -> list[tuple[str, str]]:
    """(target with its prefixes resolved to `ns:` URIs, operation) of each edit."""
    out = []
    for e in ev.iter(f"{{{NCN}}}edit"):
        t = e.find(f"{{{NCN}}}target")
        text = t.text
        for p, u in t.nsmap.items():
            if p:
                text = text.replace(f"{p}:", f"{{{u}}}")
        out.append((text, e.findtext(f"{{{NCN}}}operation")))
    return out


def test_commit_by_one_session_is_told_to_the_subscriber(device):
    sub, editor = device.connect(), device.connect()
    assert "urn:ietf:params:netconf:capability:notification:1.0" in sub.server_capabilities
    editor.edit_config(target="candidate", config=_iface("n0"))  # interfaces exists before the subscription
    editor.commit()
    sub.create_subscription()
    editor.edit_config(target="candidate", config=_iface("n1"))
    editor.commit()
    ev = _event(sub)
    assert ev.findtext(f"{{{NCN}}}datastore") == "running"
    assert ev.findtext(f"{{{NCN}}}changed-by/{{{NCN}}}session-id") == str(editor.session_id)
    assert ev.findtext(f"{{{NCN}}}changed-by/{{{NCN}}}username") == device.username
    assert _edits(ev) == [(f"/{{{IF_NS}}}interfaces/{{{IF_NS}}}interface[{{{IF_NS}}}name='n1']", "create")]
    _valid(ev)
    editor.edit_config(target="candidate", config=f'<config xmlns="{NC_NS}"><interfaces xmlns="{IF_NS}"><interface '
                       f'xmlns:nc="{NC_NS}" nc:operation="delete"><name>n1</name></interface></interfaces></config>')
    editor.commit()
    assert _edits(_event(sub)) == [(f"/{{{IF_NS}}}interfaces/{{{IF_NS}}}interface[{{{IF_NS}}}name='n1']", "delete")]
    editor.close_session()
    sub.close_session()


def test_a_confirmed_commit_that_times_out_is_told_as_the_servers_doing(device):
    sub, editor = device.connect(), device.connect()
    sub.create_subscription()
    editor.edit_config(target="candidate", config=_iface("n2"))
    editor.commit(confirmed=True, timeout="1")
    assert _edits(_event(sub))[0][1] == "create"
    back = _event(sub, timeout=30)  # the revert
    assert back is not None and back.find(f"{{{NCN}}}changed-by/{{{NCN}}}server") is not None
    assert _edits(back)[0][1] == "delete"
    editor.close_session()
    sub.close_session()


def test_subtree_filter_selects_events(device):
    sub, editor = device.connect(), device.connect()
    sub.create_subscription(filter=("subtree", f'<netconf-config-change xmlns="{NCN}"><datastore>startup</datastore>'
                                               "</netconf-config-change>"))
    editor.edit_config(target="candidate", config=_iface("n3"))
    editor.commit()
    editor.copy_config(source="running", target="startup")
    ev = _event(sub)
    assert ev.findtext(f"{{{NCN}}}datastore") == "startup"  # the running change was filtered out
    editor.close_session()
    sub.close_session()


def test_one_subscription_per_session_and_no_replay(device):
    m = device.connect()
    with pytest.raises(RPCError) as e:
        m.create_subscription(start_time="2026-01-01T00:00:00Z")
    assert e.value.tag == "operation-failed"
    m.create_subscription()
    with pytest.raises(RPCError) as e:
        m.create_subscription()
    assert e.value.tag == "in-use"
    m.close_session()
