"""RFC 6243 with-defaults on devsim: all four modes on get-config, get and copy-config."""

from __future__ import annotations

import pytest
from ncclient.operations.rpc import RPCError

from conformance.agents import ETH_TYPE as TYPE
from conformance.agents import IF_NS as IF
from conformance.agents import NC_NS as NC
from conformance.agents import bng_session

TAG = "{urn:ietf:params:xml:ns:netconf:default:1.0}default"


@pytest.fixture(scope="module")
def m(tmp_path_factory):
    # e1 sets enabled to its default value, e2 leaves it out, e3 sets the other value
    yield from bng_session(tmp_path_factory.mktemp("wd"), f"<interface><name>e1</name>{TYPE}<enabled>true</enabled>"
                           f"</interface><interface><name>e2</name>{TYPE}</interface>"
                           f"<interface><name>e3</name>{TYPE}<enabled>false</enabled></interface>")


def _enabled(reply) -> dict:
    """{interface: (enabled text or None, tagged as default)} under interfaces."""
    out = {}
    for i in reply.data_ele.iter(f"{{{IF}}}interface"):
        if i.getparent().tag != f"{{{IF}}}interfaces":
            continue
        e = i.find(f"{{{IF}}}enabled")
        out[i.findtext(f"{{{IF}}}name")] = (None, False) if e is None else (e.text, e.get(TAG) == "true")
    return out


FLT = ("subtree", f'<interfaces xmlns="{IF}"/>')


def test_capability_names_the_basic_mode_and_the_others(m):
    cap = next(c for c in m.server_capabilities if c.startswith("urn:ietf:params:netconf:capability:with-defaults"))
    assert "basic-mode=explicit" in cap
    assert set(cap.split("also-supported=")[1].split("&")[0].split(",")) == {"report-all", "report-all-tagged", "trim"}


@pytest.mark.parametrize("mode,expect", [
    (None, {"e1": ("true", False), "e2": (None, False), "e3": ("false", False)}),
    ("explicit", {"e1": ("true", False), "e2": (None, False), "e3": ("false", False)}),
    ("report-all", {"e1": ("true", False), "e2": ("true", False), "e3": ("false", False)}),
    ("report-all-tagged", {"e1": ("true", True), "e2": ("true", True), "e3": ("false", False)}),
    ("trim", {"e1": (None, False), "e2": (None, False), "e3": ("false", False)}),
])
def test_get_config_in_each_mode(m, mode, expect):
    kw = {"with_defaults": mode} if mode else {}
    assert _enabled(m.get_config(source="running", filter=FLT, **kw)) == expect


def test_get_reports_defaults_too(m):
    assert _enabled(m.get(filter=FLT, with_defaults="report-all"))["e2"] == ("true", False)
    assert _enabled(m.get(filter=FLT))["e2"] == (None, False)


def test_copy_config_report_all_stores_the_defaults(m):
    from ncclient.xml_ import to_ele

    m.dispatch(to_ele(f'<copy-config xmlns="{NC}"><target><startup/></target><source><running/></source>'
                      '<with-defaults xmlns="urn:ietf:params:xml:ns:yang:ietf-netconf-with-defaults">report-all'
                      "</with-defaults></copy-config>"))
    assert _enabled(m.get_config(source="startup", filter=FLT))["e2"] == ("true", False)


def test_unknown_mode_is_refused(m):
    from ncclient.xml_ import to_ele

    with pytest.raises(RPCError) as e:
        m.dispatch(to_ele(f'<get-config xmlns="{NC}"><source><running/></source><with-defaults '
                          'xmlns="urn:ietf:params:xml:ns:yang:ietf-netconf-with-defaults">all</with-defaults>'
                          "</get-config>"))
    assert e.value.tag == "invalid-value" and "<bad-element>with-defaults</bad-element>" in e.value.info
