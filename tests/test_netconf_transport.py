"""fullbars' NETCONF sessions send each rpc from the caller's thread: an rpc does not wait for
ncclient's session thread to look at its queue (every TICK), and a device that went away is an
unanswered rpc (TransportError), as ncclient's thread reports it. Against a real devsim over SSH."""

from __future__ import annotations

import os
import signal
import threading

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


@pytest.fixture
def agent(tmp_path):
    a = DevsimAgent(tmp_path / "state").start()
    try:
        yield a
    finally:
        a.stop()


def _connect(a: DevsimAgent, timeout: float):
    known = (hostkeys.openssh_line(hostkeys.scan(a.host, a.port)),)
    return hostkeys.connect("bng-1", a.host, a.port, known, "the test", timeout, username=a.username,
                            password=a.password)


def test_an_rpc_leaves_without_waiting_for_the_session_thread(agent, monkeypatch):
    # ncclient's thread would send a queued rpc only after its select returned: never, here,
    # before the rpc's timeout (nothing else arrives)
    monkeypatch.setattr(ncclient.transport.session, "TICK", 3600)
    m = _connect(agent, timeout=20)
    try:
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


def test_a_device_that_went_away_is_unanswered(agent):
    m = _connect(agent, timeout=5)
    assert m.get_config(source="running").ok
    agent.kill()
    with pytest.raises(UNANSWERED):
        for _ in range(50):  # the session's thread notices the closed channel within a few tries
            m.get_config(source="running")


def test_a_device_that_stops_reading_is_unanswered_not_waited_for(agent):
    """A frozen device leaves the SSH window full: the send gives up after the session's timeout
    instead of holding the caller (and its transaction) for ever."""
    m = _connect(agent, timeout=3)
    big = (f'<config xmlns="{NC_NS}"><interfaces xmlns="{IF_NS}"><interface><name>eth7</name>'
           f'<description>{"x" * 8_000_000}</description>{ETH_TYPE}</interface></interfaces></config>')
    outcome: list = []

    def edit():
        try:
            m.edit_config(target="candidate", config=big)
            outcome.append("answered")
        except Exception as e:  # noqa: BLE001 - judged below
            outcome.append(e)

    os.kill(agent.proc.pid, signal.SIGSTOP)
    try:
        t = threading.Thread(target=edit, daemon=True)
        t.start()
        t.join(60)
        assert not t.is_alive(), "the edit still waits for a device that reads nothing"
    finally:
        os.kill(agent.proc.pid, signal.SIGCONT)
    assert len(outcome) == 1 and isinstance(outcome[0], UNANSWERED), outcome
    assert not m.connected  # part of the message may have left: the session is not used again
