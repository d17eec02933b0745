"""read_running (one function, the session replaced): a read that breaks or never answers is read
again on a new session; a device that keeps failing raises the last error; nothing else is retried."""

from __future__ import annotations

import pytest
from ncclient.operations.errors import TimeoutExpiredError
from ncclient.operations.rpc import RPCError
from lxml import etree

from orchestrator.netconf import session as mod
from orchestrator.netconf.credentials import Credentials

EP = mod.Endpoint("bng-east", "198.18.0.1", 830, Credentials("u", password="p"))


def _sessions(monkeypatch, outcomes):
    opened, closed = [], []

    class FakeSession:
        def __init__(self, ep, kind=None, *configs):
            opened.append(ep.name)
            self.outcome = outcomes[len(opened) - 1]

        def running_xml(self):
            if isinstance(self.outcome, Exception):
                raise self.outcome
            return self.outcome

        def close(self):
            closed.append(True)
    monkeypatch.setattr(mod, "Session", FakeSession)
    monkeypatch.setattr(mod.time, "sleep", lambda s: None)
    return opened, closed


def test_a_reply_that_never_came_is_read_again_on_a_new_session(monkeypatch):
    opened, closed = _sessions(monkeypatch, [TimeoutExpiredError("no reply"), "<data/>"])
    assert mod.read_running(EP) == "<data/>"
    assert opened == ["bng-east", "bng-east"] and len(closed) == 2


def test_a_device_that_never_answers_raises_after_the_last_attempt(monkeypatch):
    opened, closed = _sessions(monkeypatch, [TimeoutExpiredError("a"), TimeoutExpiredError("b")])
    with pytest.raises(TimeoutExpiredError, match="b"):
        mod.read_running(EP)
    assert len(opened) == 2 and len(closed) == 2


def test_a_refusal_by_the_device_is_not_retried(monkeypatch):
    err = RPCError(etree.fromstring(
        '<rpc-error xmlns="urn:ietf:params:xml:ns:netconf:base:1.0"><error-type>protocol</error-type>'
        "<error-tag>access-denied</error-tag><error-severity>error</error-severity></rpc-error>"))
    opened, _ = _sessions(monkeypatch, [err, "<data/>"])
    with pytest.raises(RPCError):
        mod.read_running(EP)
    assert len(opened) == 1
