"""The rollout's hold between waves (rollouts._gate) decides on one read of the change's state: a
pause that lands just as a paused rollout is resumed holds it again instead of ending it (seen in
tests/test_server_rollout.py: the workflow ended 'paused', the change stuck in rolling-out)."""

from __future__ import annotations

import itertools

from orchestrator.app import rollouts


def test_a_pause_between_two_reads_holds_the_rollout(monkeypatch):
    seen = iter(["paused", "rolling-out", "paused", "paused", "rolling-out"])
    monkeypatch.setattr(rollouts, "_state", lambda store, change_id: next(seen))
    monkeypatch.setattr(rollouts, "WAIT_STEP", 0)
    assert rollouts._gate(None, 1) is True  # resumed at the read that decided


def test_an_aborted_rollout_does_not_go_on(monkeypatch):
    seen = itertools.chain(["paused"], itertools.repeat("aborted"))
    monkeypatch.setattr(rollouts, "_state", lambda store, change_id: next(seen))
    monkeypatch.setattr(rollouts, "WAIT_STEP", 0)
    assert rollouts._gate(None, 1) is False
