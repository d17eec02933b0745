"""The watcher's record of what became of a committed config: a personality that breaks off is
recorded with the node, what it tried and why, and whoever waits for the lab (apply, lab push)
learns that cause at once instead of timing out. No namespace is needed: the config breaks the
personality before it runs any command."""

from __future__ import annotations

import time

from orchestrator.lab.personality import NodePersonality, realize, recorded_failures, wait_applied


def _lab(tmp_path, role: str, kind: str) -> dict:
    state = tmp_path / "labs" / "x" / "nodes" / "n1"
    state.mkdir(parents=True)
    return {"name": "x", "nodes": {"n1": {"role": role, "kind": kind, "agent": "devsim", "netns": "fbnone-n1",
                                          "state_dir": str(state), "labels": {}}}, "links": []}


def test_a_personality_that_breaks_off_is_reported_with_its_cause_at_once(tmp_path):
    from orchestrator.lab.personality import _digest

    lab = _lab(tmp_path, "olt", "olt-bbf")
    running = b"<config><interfaces"  # what a broken agent could hand over: not XML
    (tmp_path / "labs" / "x" / "nodes" / "n1" / "running.xml").write_bytes(running)
    summary = realize(NodePersonality(lab, "n1"), running, _digest(running))
    assert summary["failures"] and summary["failures"][0]["node"] == "n1"
    started = time.monotonic()
    done = wait_applied(lab, ["n1"], timeout=10)
    assert time.monotonic() - started < 5  # it did not wait for the timeout
    assert done.late == []
    [problem] = done.problems(lab)
    assert problem.startswith("n1: the lab could not apply the committed config: apply the committed config: "
                              "XMLSyntaxError")
    assert [f["node"] for f in recorded_failures(lab)] == ["n1"]


def test_a_node_the_watcher_has_not_caught_up_with_is_late_and_says_where_the_log_is(tmp_path):
    lab = _lab(tmp_path, "upf", "upf-3gpp")
    (tmp_path / "labs" / "x" / "nodes" / "n1" / "running.xml").write_bytes(b"<config/>")
    done = wait_applied(lab, ["n1"], timeout=0.3)
    assert done.late == ["n1"] and done.failures == []
    assert done.problems(lab) == [f"n1: the lab did not apply the commit in time (see {tmp_path}/labs/x/watcher.log)"]
