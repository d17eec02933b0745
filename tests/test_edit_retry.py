"""A device that leaves a reply of the edit step unanswered is asked again, once, on a new
session (nothing is committed yet; the candidate reaches nothing running); a device that answers
with an error, or edits running directly, is not. Unit tests of Transaction._prepare and
Session.lock with stand-in sessions."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from lxml import etree
from ncclient.operations.errors import TimeoutExpiredError
from ncclient.operations.rpc import RPCError
from ncclient.transport.errors import SessionCloseError

from orchestrator.netconf import session as session_mod
from orchestrator.netconf.credentials import Credentials
from orchestrator.netconf.session import CONFIRMED, RUNNING, Endpoint, Session
from orchestrator.rollout import transaction as tx_mod
from orchestrator.rollout.transaction import Change, Transaction

INTENDED = ('<config xmlns="urn:ietf:params:xml:ns:netconf:base:1.0"><interfaces '
            'xmlns="urn:ietf:params:xml:ns:yang:ietf-interfaces"><interface><name>eth9</name>'
            '<type xmlns:ianaift="urn:ietf:params:xml:ns:yang:iana-if-type">ianaift:ethernetCsmacd</type>'
            '</interface></interfaces></config>')
EMPTY = '<data xmlns="urn:ietf:params:xml:ns:netconf:base:1.0"/>'


def _rpc_error(tag: str) -> RPCError:
    raw = etree.fromstring(
        '<rpc-error xmlns="urn:ietf:params:xml:ns:netconf:base:1.0"><error-type>protocol</error-type>'
        f'<error-tag>{tag}</error-tag><error-severity>error</error-severity></rpc-error>')
    return RPCError(raw)


class StandIn:
    """A session whose edit fails as told, and which records what was asked of it."""

    made: list["StandIn"] = []

    def __init__(self, strategy=CONFIRMED, edit_fails=None):
        self.strategy, self.edit_fails = strategy, edit_fails
        self.calls: list = []
        StandIn.made.append(self)

    def lock(self, wait=0.0):
        self.calls.append(("lock", wait))

    def running_xml(self):
        return EMPTY

    def edit(self, xml):
        self.calls.append(("edit",))
        if self.edit_fails is not None:
            raise self.edit_fails

    def drop(self):
        self.calls.append(("drop",))


def _tx(monkeypatch, first: StandIn, second: StandIn | None = None) -> Transaction:
    StandIn.made = [first]
    monkeypatch.setattr(tx_mod, "Session", lambda *a, **k: second or StandIn())
    ep = Endpoint("bng-1", "192.0.2.1", 830, Credentials("u", "p"), timeout=7.0)
    t = Transaction(store=None, changes=[Change("bng-1", "bng-ietf", ep, INTENDED)], target="lab:x")
    t.opened["bng-1"] = first
    t.sessions = None
    return t


@pytest.mark.parametrize("lost", [TimeoutExpiredError("ncclient timed out while waiting for an rpc reply."),
                                  SessionCloseError("", "")])
def test_an_unanswered_edit_is_asked_again_on_a_new_session(monkeypatch, lost):
    first, second = StandIn(edit_fails=lost), StandIn()
    t = _tx(monkeypatch, first, second)
    t._prepare("bng-1")
    r = t.results["bng-1"]
    assert first.calls == [("lock", 0.0), ("edit",), ("drop",)]
    assert second.calls == [("lock", 7.0), ("edit",)]  # waits for the device to let go of the dropped lock
    assert r.session is second and r.state == "edited"
    assert "asked again on a new session" in r.retried
    assert t.report("committed", [])["devices"]["bng-1"]["retried"] == r.retried


def test_an_edit_left_unanswered_twice_fails_the_step(monkeypatch):
    lost = TimeoutExpiredError("ncclient timed out while waiting for an rpc reply.")
    t = _tx(monkeypatch, StandIn(edit_fails=lost), StandIn(edit_fails=lost))
    with pytest.raises(TimeoutExpiredError):
        t._prepare("bng-1")


def test_a_refused_edit_is_not_asked_again(monkeypatch):
    first = StandIn(edit_fails=_rpc_error("invalid-value"))
    t = _tx(monkeypatch, first)
    with pytest.raises(RPCError):
        t._prepare("bng-1")
    assert ("drop",) not in first.calls and len(StandIn.made) == 1


def test_an_unanswered_edit_of_running_is_not_asked_again(monkeypatch):
    first = StandIn(strategy=RUNNING, edit_fails=TimeoutExpiredError("no reply"))
    t = _tx(monkeypatch, first)
    with pytest.raises(TimeoutExpiredError):
        t._prepare("bng-1")
    assert ("drop",) not in first.calls and len(StandIn.made) == 1


class Manager:
    """ncclient's manager as Session.lock uses it: the lock is held elsewhere `busy` times."""

    def __init__(self, busy: int, tag: str = "lock-denied"):
        self.busy, self.tag, self.asked = busy, tag, []

    def discard_changes(self):
        self.asked.append("discard")

    def lock(self, target):
        self.asked.append("lock")
        if self.busy:
            self.busy -= 1
            raise _rpc_error(self.tag)


def _session(m: Manager, edited: bool = False) -> Session:
    s = Session.__new__(Session)
    s.m, s.target, s.edited = m, "candidate", edited
    s.ep = SimpleNamespace(name="bng-1")
    return s


def test_lock_waits_while_the_device_holds_it_for_another_session(monkeypatch):
    monkeypatch.setattr(session_mod.time, "sleep", lambda s: None)
    m = Manager(busy=2)
    _session(m).lock(wait=5.0)
    assert m.asked == ["lock"] * 3
    with pytest.raises(RPCError):
        _session(Manager(busy=1)).lock()  # no wait: the first refusal stands
    m = Manager(busy=1, tag="access-denied")
    with pytest.raises(RPCError):
        _session(m).lock(wait=5.0)  # not a lock held elsewhere: not asked again
    assert m.asked == ["lock"]


def test_lock_discards_only_the_session_s_own_edits_and_refuses_another_s(monkeypatch):
    """A session that edited the candidate (an earlier change it served) discards its own edits
    before locking; one that did not leaves a candidate another session changed as it is, and
    the refusal says so, naming the device."""
    monkeypatch.setattr(session_mod.time, "sleep", lambda s: None)
    m = Manager(busy=0)
    mine = _session(m, edited=True)
    mine.lock()
    assert m.asked == ["discard", "lock"] and not mine.edited
    m = Manager(busy=1, tag="resource-denied")
    with pytest.raises(RuntimeError, match="candidate of bng-1 holds changes another session made") as e:
        _session(m).lock(wait=5.0)
    assert "discard-changes" in str(e.value)
    assert m.asked == ["lock"]  # not discarded, not asked again
