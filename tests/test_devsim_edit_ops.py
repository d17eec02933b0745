"""edit-config on devsim as RFC 6241 section 7.2 has it where data is new: an operation inside
new data acts where it stands (it was stored with the data, so a remove created config), one
list entry given twice is one entry, a list entry's key cannot be deleted, and `none` finds no
level to descend into. Through ncclient, a client fullbars did not write."""

from __future__ import annotations

import pytest
from lxml import etree
from ncclient.operations.rpc import RPCError

from conformance.agents import ETH_TYPE as TYPE
from conformance.agents import IF_NS as IF
from conformance.agents import NC_NS as NC
from conformance.agents import bng_session

IP = "urn:ietf:params:xml:ns:yang:ietf-ip"


@pytest.fixture(scope="module")
def m(tmp_path_factory):
    yield from bng_session(tmp_path_factory.mktemp("editops"), f"<interface><name>run-1</name>{TYPE}</interface>")


def _edit(m, inner: str, default: str | None = None):
    return m.edit_config(target="candidate", default_operation=default,
                         config=f'<config xmlns="{NC}" xmlns:nc="{NC}"><interfaces xmlns="{IF}">{inner}</interfaces>'
                                f"</config>")


def _candidate(m) -> etree._Element:
    return etree.fromstring(m.get_config(source="candidate").xml.encode())


def _entries(m, name: str) -> list:
    return [i for i in _candidate(m).iter(f"{{{IF}}}interface") if i.findtext(f"{{{IF}}}name") == name]


def test_an_operation_inside_new_data_acts_where_it_stands(m):
    m.discard_changes()
    with pytest.raises(RPCError) as e:  # delete of what the new entry does not have
        _edit(m, f'<interface><name>new-1</name>{TYPE}<description nc:operation="delete"/></interface>')
    assert e.value.tag == "data-missing"
    assert _entries(m, "new-1") == []  # nothing of the edit stays
    _edit(m, f'<interface><name>new-2</name>{TYPE}<description nc:operation="remove"/>'
             "<enabled>false</enabled></interface>")
    [entry] = _entries(m, "new-2")
    assert entry.find(f"{{{IF}}}description") is None and entry.findtext(f"{{{IF}}}enabled") == "false"
    _edit(m, f'<interface nc:operation="remove"><name>gone</name>{TYPE}</interface>')  # nothing to remove
    assert _entries(m, "gone") == []
    m.discard_changes()


def test_one_list_entry_given_twice_in_new_data_is_one_entry(m):
    m.discard_changes()
    _edit(m, f'<interface><name>dup-1</name>{TYPE}<ipv4 xmlns="{IP}">'
             "<address><ip>192.0.2.1</ip><prefix-length>24</prefix-length></address>"
             "<address><ip>192.0.2.1</ip><prefix-length>25</prefix-length></address></ipv4></interface>")
    [entry] = _entries(m, "dup-1")
    addresses = list(entry.iter(f"{{{IP}}}address"))
    assert len(addresses) == 1 and addresses[0].findtext(f"{{{IP}}}prefix-length") == "25"
    m.validate(source="candidate")
    m.discard_changes()


def test_a_list_entry_s_key_cannot_be_deleted(m):
    m.discard_changes()
    for op in ("delete", "remove"):
        with pytest.raises(RPCError) as e:
            _edit(m, f'<interface><name nc:operation="{op}">run-1</name></interface>')
        assert e.value.tag == "operation-not-supported" and "is a key" in e.value.message
    [entry] = _entries(m, "run-1")
    assert entry.findtext(f"{{{IF}}}name") == "run-1"


def test_default_operation_none_finds_no_level_for_new_data(m):
    m.discard_changes()
    with pytest.raises(RPCError) as e:
        _edit(m, "<interface><name>eth9</name><description>x</description></interface>", default="none")
    assert e.value.tag == "data-missing"
    with pytest.raises(RPCError) as e:  # the entry is there; its description is not
        _edit(m, "<interface><name>run-1</name><description>x</description></interface>", default="none")
    assert e.value.tag == "data-missing"
    _edit(m, '<interface><name>run-1</name><description nc:operation="merge">set</description></interface>',
          default="none")
    [entry] = _entries(m, "run-1")
    assert entry.findtext(f"{{{IF}}}description") == "set"
    m.discard_changes()


def test_running_as_a_target_is_an_operation_the_device_does_not_support(m):
    """No :writable-running: clients look for operation-not-supported to fall back to the candidate."""
    with pytest.raises(RPCError) as e:
        m.edit_config(target="running", config=f'<config xmlns="{NC}"><interfaces xmlns="{IF}"/></config>')
    assert e.value.tag == "operation-not-supported"


def test_get_schema_without_an_identifier_is_a_missing_element(m):
    from ncclient.xml_ import to_ele

    with pytest.raises(RPCError) as e:
        m.dispatch(to_ele('<get-schema xmlns="urn:ietf:params:xml:ns:yang:ietf-netconf-monitoring"/>'))
    assert e.value.tag == "missing-element" and e.value.info and "identifier" in e.value.info


def test_an_operation_attribute_without_the_netconf_namespace_is_an_unknown_attribute(m):
    with pytest.raises(RPCError) as e:
        _edit(m, '<interface operation="delete"><name>run-1</name></interface>')
    assert e.value.tag == "unknown-attribute" and e.value.type == "protocol", e.value
    xml = etree.tostring(e.value.xml).decode()
    assert "bad-attribute>operation</" in xml and "bad-element>interface</" in xml, xml
    assert _entries(m, "run-1")


def test_a_merge_of_an_identityref_of_another_module_keeps_its_namespace(tmp_path):
    """bbf-if-type's l2-termination merged to iana-if-type's ethernetCsmacd on an OLT: the stored
    value named a prefix its element did not declare (get-config returned it, the commit refused it)."""
    from conformance.agents import DevsimAgent

    agent = DevsimAgent(tmp_path, kind="olt-bbf").start()
    try:
        olt = agent.connect()
        _edit(olt, '<interface><name>t1</name><type xmlns:bbfift="urn:bbf:yang:bbf-if-type">bbfift:l2-termination'
                   "</type></interface>")
        olt.commit()
        _edit(olt, f"<interface><name>t1</name>{TYPE}</interface>")
        [entry] = _entries(olt, "t1")
        t = entry.find(f"{{{IF}}}type")
        prefix, _, name = t.text.partition(":")
        assert t.nsmap.get(prefix) == "urn:ietf:params:xml:ns:yang:iana-if-type" and name == "ethernetCsmacd", \
            etree.tostring(t)
        olt.commit()
        olt.close_session()
    finally:
        agent.stop()


def test_a_subtree_filter_s_reply_gives_an_entry_s_key_first_whatever_the_filter_s_order(m):
    reply = m.get_config(source="running", filter=("subtree", f'<interfaces xmlns="{IF}"><interface><type/><name/>'
                                                             "</interface></interfaces>"))
    entry = next(etree.fromstring(reply.xml.encode()).iter(f"{{{IF}}}interface"))
    assert [etree.QName(c).localname for c in entry] == ["name", "type"]


def test_the_request_s_own_declarations_are_not_stored_with_the_data(m):
    """xmlns:nc (declared for the operations) went into the datastore with the entry, and every
    get-config gave it back as if it were config; an identity's prefix stays declared."""
    m.discard_changes()
    _edit(m, f'<interface nc:operation="merge"><name>ns-1</name>{TYPE}<enabled>false</enabled></interface>')
    reply = m.get_config(source="candidate", filter=("subtree", f'<interfaces xmlns="{IF}"><interface>'
                                                                "<name>ns-1</name></interface></interfaces>")).xml
    entry = reply[reply.index("<interface>") if "<interface>" in reply else reply.index("<interface "):]
    assert NC not in entry.split("</interface>")[0], reply
    [got] = _entries(m, "ns-1")
    kind = got.find(f"{{{IF}}}type")
    prefix, _, name = kind.text.partition(":")
    assert (kind.nsmap.get(prefix), name) == ("urn:ietf:params:xml:ns:yang:iana-if-type", "ethernetCsmacd"), kind.text
    m.discard_changes()
