"""RFC 8526 get-data and edit-data on devsim, read back and checked against get-config/get."""

from __future__ import annotations

import pytest
from lxml import etree
from ncclient.operations.rpc import RPCError
from ncclient.xml_ import to_ele

from conformance.agents import ETH_TYPE as TYPE
from conformance.agents import IF_NS as IF
from conformance.agents import NC_NS as NC
from conformance.agents import bng_session

NMDA = "urn:ietf:params:xml:ns:yang:ietf-netconf-nmda"


@pytest.fixture(scope="module")
def m(tmp_path_factory):
    yield from bng_session(tmp_path_factory.mktemp("nmda"), f"<interface><name>run-1</name>{TYPE}</interface>")


def get_data(m, ds: str, inner: str = "") -> etree._Element:
    reply = m.dispatch(to_ele(f'<get-data xmlns="{NMDA}" xmlns:ds="urn:ietf:params:xml:ns:yang:ietf-datastores">'
                              f"<datastore>ds:{ds}</datastore>{inner}</get-data>"))
    found = etree.fromstring(reply.xml.encode()).find(f"{{{NMDA}}}data")
    assert found is not None, reply.xml
    return found


def names(data) -> set[str]:
    return {i.findtext(f"{{{IF}}}name") for i in data.iter(f"{{{IF}}}interface")}


def edit_data(m, ds: str, inner: str, op: str = ""):
    return m.dispatch(to_ele(f'<edit-data xmlns="{NMDA}" xmlns:ds="urn:ietf:params:xml:ns:yang:ietf-datastores">'
                             f"<datastore>ds:{ds}</datastore>{op}<config>{inner}</config></edit-data>"))


def test_edit_data_on_candidate_shows_in_candidate_not_running_until_commit(m):
    edit_data(m, "candidate", f'<interfaces xmlns="{IF}"><interface><name>cand-1</name>{TYPE}</interface></interfaces>')
    assert "cand-1" in names(get_data(m, "candidate"))
    assert "cand-1" not in names(get_data(m, "running"))
    m.commit()
    assert {"run-1", "cand-1"} <= names(get_data(m, "running"))


def test_edit_data_with_an_operation_attribute(m):
    edit_data(m, "candidate", f'<interfaces xmlns="{IF}"><interface xmlns:nc="{NC}" nc:operation="delete">'
                              "<name>cand-1</name></interface></interfaces>")
    m.commit()
    assert "cand-1" not in names(get_data(m, "running"))


def test_operational_holds_config_and_state_and_config_filter_splits_them(m):
    op = get_data(m, "operational", f'<subtree-filter><interfaces xmlns="{IF}"/></subtree-filter>')
    run1 = next(i for i in op.iter(f"{{{IF}}}interface") if i.findtext(f"{{{IF}}}name") == "run-1")
    assert run1.find(f"{{{IF}}}type") is not None and run1.find(f"{{{IF}}}oper-status") is not None
    state = get_data(m, "operational", f'<subtree-filter><interfaces xmlns="{IF}"/></subtree-filter>'
                                       "<config-filter>false</config-filter>")
    s1 = next(i for i in state.iter(f"{{{IF}}}interface") if i.findtext(f"{{{IF}}}name") == "run-1")
    assert s1.find(f"{{{IF}}}oper-status") is not None and s1.find(f"{{{IF}}}type") is None
    config = get_data(m, "operational", f'<subtree-filter><interfaces xmlns="{IF}"/></subtree-filter>'
                                        "<config-filter>true</config-filter>")
    c1 = next(i for i in config.iter(f"{{{IF}}}interface") if i.findtext(f"{{{IF}}}name") == "run-1")
    assert c1.find(f"{{{IF}}}type") is not None and c1.find(f"{{{IF}}}oper-status") is None


def test_xpath_filter_max_depth_and_with_defaults(m):
    got = get_data(m, "running", f'<xpath-filter xmlns:if="{IF}">/if:interfaces/if:interface[if:name=\'run-1\']'
                                 "</xpath-filter>")
    assert names(got) == {"run-1"}
    shallow = get_data(m, "running", "<max-depth>1</max-depth>")
    assert shallow.find(f"{{{IF}}}interfaces") is not None and not len(shallow.find(f"{{{IF}}}interfaces"))
    full = get_data(m, "running", '<with-defaults xmlns="urn:ietf:params:xml:ns:yang:ietf-netconf-with-defaults">'
                                  "report-all</with-defaults>")
    assert full.find(f".//{{{IF}}}enabled") is not None


@pytest.mark.parametrize("call", [
    lambda m: edit_data(m, "running", f'<interfaces xmlns="{IF}"/>'),
    lambda m: edit_data(m, "operational", f'<interfaces xmlns="{IF}"/>'),
    lambda m: get_data(m, "intended"),
    lambda m: get_data(m, "operational", '<with-defaults xmlns="urn:ietf:params:xml:ns:yang:ietf-netconf-with-defaults">'
                                         "report-all</with-defaults>"),
    lambda m: get_data(m, "running", "<with-origin/>"),
], ids=["edit running", "edit operational", "intended", "with-defaults on operational", "with-origin (no origin feature)"])
def test_what_devsim_does_not_offer_is_refused(m, call):
    with pytest.raises(RPCError) as e:
        call(m)
    assert e.value.tag in ("invalid-value", "unknown-element")
