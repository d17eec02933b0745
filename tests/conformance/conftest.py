from __future__ import annotations

import pytest

from conformance.agents import DevsimAgent


def _netconfd(tmp_path_factory):
    from conformance.netconfd_agent import start_netconfd

    return start_netconfd(tmp_path_factory.mktemp("netconfd"))


@pytest.fixture(scope="module", params=["devsim", "netconfd"])
def agent(request, tmp_path_factory):
    if request.param == "devsim":
        a = DevsimAgent(tmp_path_factory.mktemp("devsim")).start()
    else:
        a = _netconfd(tmp_path_factory)
    yield a
    a.stop()


@pytest.fixture
def m(agent):
    """A fresh session on a clean device: candidate and running emptied of test interfaces."""
    s = agent.connect()
    _clean(s)
    yield s
    try:
        _clean(s)
        s.close_session()
    except Exception:
        pass


IF_NS = "urn:ietf:params:xml:ns:yang:ietf-interfaces"


def _clean(s):
    s.discard_changes()
    running = s.get_config(source="running").data_xml
    if "zzif-" in running:
        names = [n.split("<")[0] for n in running.split("<name>")[1:] if n.startswith("zzif-")]
        if names:
            items = "".join(f'<interface nc:operation="remove"><name>{n}</name></interface>' for n in names)
            s.edit_config(target="candidate", config=f'<config xmlns="urn:ietf:params:xml:ns:netconf:base:1.0" '
                          f'xmlns:nc="urn:ietf:params:xml:ns:netconf:base:1.0"><interfaces xmlns="{IF_NS}">{items}'
                          "</interfaces></config>")
            s.commit()
