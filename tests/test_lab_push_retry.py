"""lab push of one node (the session's work replaced): a push whose reply never came, or whose
transport broke, is pushed again on a new session (it replaces the whole candidate, so a second
push is the same push); a device that keeps failing raises the last error; a refusal by the
device is never retried."""

from __future__ import annotations

import pytest
from lxml import etree
from ncclient.operations.errors import TimeoutExpiredError
from ncclient.operations.rpc import RPCError
from ncclient.transport.errors import TransportError

from orchestrator.lab import push as mod

OK = {"node": "pe-1", "ok": True, "missing": []}


def _pushes(monkeypatch, outcomes):
    calls = []

    def fake(node, host, user, password, config_xml, kind, known):
        calls.append(node)
        out = outcomes[len(calls) - 1]
        if isinstance(out, Exception):
            raise out
        return out
    monkeypatch.setattr(mod, "_push_once", fake)
    monkeypatch.setattr(mod.time, "sleep", lambda s: None)
    return calls


@pytest.mark.parametrize("fault", [TimeoutExpiredError("no reply"), TransportError("Not connected")])
def test_a_push_that_got_no_reply_is_pushed_again_on_a_new_session(monkeypatch, fault):
    calls = _pushes(monkeypatch, [fault, OK])
    assert mod.push_one("pe-1", "198.18.0.9", "u", "p", "<config/>") == OK
    assert calls == ["pe-1", "pe-1"]


def test_a_node_that_never_answers_raises_after_the_last_attempt(monkeypatch):
    calls = _pushes(monkeypatch, [TimeoutExpiredError("a"), TimeoutExpiredError("b")])
    with pytest.raises(TimeoutExpiredError, match="b"):
        mod.push_one("pe-1", "198.18.0.9", "u", "p", "<config/>")
    assert len(calls) == 2


def test_a_refusal_by_the_device_is_not_pushed_again(monkeypatch):
    err = RPCError(etree.fromstring(
        '<rpc-error xmlns="urn:ietf:params:xml:ns:netconf:base:1.0"><error-type>application</error-type>'
        "<error-tag>invalid-value</error-tag><error-severity>error</error-severity></rpc-error>"))
    calls = _pushes(monkeypatch, [err, OK])
    with pytest.raises(RPCError):
        mod.push_one("pe-1", "198.18.0.9", "u", "p", "<config/>")
    assert len(calls) == 1
