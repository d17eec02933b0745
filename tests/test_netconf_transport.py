"""fullbars' NETCONF sessions send an rpc from the caller's thread once the device has answered
one: it does not wait for ncclient's session thread to look at its queue (every TICK). The first
rpc still goes through that queue (netconfd loses an rpc read with the hello). A device that went
away is an unanswered rpc (TransportError), as ncclient's thread reports it. Against a real devsim
and a real yuma123 netconfd over SSH."""

from __future__ import annotations

import threading
import time

import ncclient.transport.session
import pytest
from ncclient.transport.session import NetconfBase

from conformance.agents import ETH_TYPE, IF_NS, NC_NS, DevsimAgent
from orchestrator.netconf import hostkeys
from orchestrator.netconf.session import UNANSWERED
from orchestrator.netconf.transport import frame


def test_frames_as_rfc_6242_says():
    assert frame("<rpc/>", NetconfBase.BASE_10) == b"<rpc/>]]>]]>"
    assert frame("<rpc/>", NetconfBase.BASE_11) == b"\n#6\n<rpc/>\n##\n"
    assert frame("<x>é</x>", NetconfBase.BASE_11).startswith(b"\n#9\n")  # the chunk counts octets, not characters


@pytest.fixture(params=["devsim", "netconfd"])
def agent(request, tmp_path):
    if request.param == "devsim":
        a = DevsimAgent(tmp_path / "state").start()
    else:
        from conformance.netconfd_agent import start_netconfd

        a = start_netconfd(tmp_path / "state")
    try:
        yield a
    finally:
        a.stop()


def _connect(a, timeout: float):
    known = (hostkeys.openssh_line(hostkeys.scan(a.host, a.port)),)
    return hostkeys.connect("dev-1", a.host, a.port, known, "the test", timeout, username=a.username,
                            password=a.password)


def test_after_the_first_reply_an_rpc_leaves_without_waiting_for_the_session_thread(agent, monkeypatch):
    m = _connect(agent, timeout=20)
    try:
        assert not m._session.direct
        assert m.get_config(source="running").ok  # the first rpc, through ncclient's queue
        assert m._session.direct
        # ncclient's thread would send a queued rpc only after its select returned: never, here,
        # before the rpc's timeout (nothing else arrives)
        monkeypatch.setattr(ncclient.transport.session, "TICK", 3600)
        cfg = (f'<config xmlns="{NC_NS}"><interfaces xmlns="{IF_NS}"><interface><name>eth7</name>{ETH_TYPE}'
               "</interface></interfaces></config>")
        m.lock("candidate")
        m.edit_config(target="candidate", config=cfg)
        m.commit()
        m.unlock("candidate")
        assert "eth7" in m.get_config(source="running").data_xml

        # callers on several threads share a session: their messages do not interleave on the channel
        got, errors = [], []

        def ask():
            try:
                for _ in range(5):
                    got.append("eth7" in m.get_config(source="running").data_xml)
            except Exception as e:  # noqa: BLE001 - reported below
                errors.append(e)

        threads = [threading.Thread(target=ask) for _ in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors and got == [True] * 30, errors
    finally:
        m.close_session()


def test_the_first_rpc_waits_for_the_session_thread(agent, monkeypatch):
    # A busy machine may not yet have ended the select the thread began with the earlier TICK, and
    # then sends the rpc at once: asked again on a new session, after a longer wait.
    for settle in (0.1, 0.5, 2.0):
        m = _connect(agent, timeout=3)
        try:
            monkeypatch.setattr(ncclient.transport.session, "TICK", 3600)
            time.sleep(settle)
            # queued, the rpc waits for the thread's select to return: for data that never comes
            try:
                m.get_config(source="running")
            except UNANSWERED:
                assert not m._session.direct
                return
        finally:
            monkeypatch.setattr(ncclient.transport.session, "TICK", 0.01)
            m._session.close()
    pytest.fail("the first rpc was answered each time: it did not wait for ncclient's session thread")


def test_a_device_that_went_away_is_unanswered(tmp_path):
    agent = DevsimAgent(tmp_path / "state").start()
    try:
        m = _connect(agent, timeout=5)
        assert m.get_config(source="running").ok
        assert m._session.direct
        agent.kill()
        with pytest.raises(UNANSWERED):
            for _ in range(50):  # the session's thread notices the closed channel within a few tries
                m.get_config(source="running")
    finally:
        agent.stop()


def test_a_device_that_sends_no_ssh_banner_is_reported_once_without_a_traceback():
    """Something listens at the device's port but speaks no SSH (it closes at once): the session
    fails with our message. paramiko logged each attempt at ERROR with a traceback, on stderr and
    the server's log (16 of them for one apply). Run as a command runs, in a process of its own."""
    import subprocess
    import sys

    from conftest import REPO

    probe = (
        "import socket, threading\n"
        "from orchestrator.netconf.credentials import Credentials\n"
        "from orchestrator.netconf.session import Endpoint, Session\n"
        "l = socket.socket(); l.bind(('127.0.0.1', 0)); l.listen(8)\n"
        "def refuse():\n"
        "    while True:\n"
        "        c, _ = l.accept(); c.close()\n"
        "threading.Thread(target=refuse, daemon=True).start()\n"
        "try:\n"
        "    Session(Endpoint('olt-x', '127.0.0.1', l.getsockname()[1], Credentials('u', 'p'), timeout=5),\n"
        "            'olt-bbf', '<config/>', '')\n"
        "except Exception as e:\n"
        "    print('failed:', e)\n"
        "import time; time.sleep(0.5)  # the transport thread's log, if any, is written by now\n")
    r = subprocess.run([sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert r.stdout.startswith("failed: "), r.stdout + r.stderr
    assert "Traceback" not in r.stderr and "Exception (client)" not in r.stderr, r.stderr
