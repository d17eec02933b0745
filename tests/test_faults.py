"""Transactions under faults, at a reduced count: the code of bench/faults.py (SIGKILL of
fullbars at each step and at random, SIGKILL of a devsim or netconfd agent before, during and
after the commit, a device refusing its edit) against one lab of 2 devsim OLTs and a netconfd
BNG. After recover and settle, no run may leave a partial state: every device old or every
device new, as the journal and the store say, drift in sync."""

from __future__ import annotations

import os
import sys

from conftest import REPO
from test_lab import _require_lab_tools

sys.path.insert(0, str(REPO / "bench"))

import faults  # noqa: E402


def test_no_partial_state_under_faults(tmp_path):
    _require_lab_tools()
    lab = faults.FaultLab(tmp_path, f"wflt{os.getpid() % 100000}", confirm_timeout=5)
    try:
        lab.up()
        res = faults.runs(lab, int(os.environ.get("FULLBARS_FAULT_RUNS", "14")), seed=11)
    finally:
        lab.down()
    assert all(p["runs"] >= 2 for p in res["per_fault"].values()), res["per_fault"]
    bad = [n for n in res["notes"] if n["problems"]]
    assert bad == [], bad
    # an apply meeting a device left in doubt (its agent down) refuses, naming it, with nothing sent;
    # the next one, once the agent is back, recovers the device first and commits
    second = [n for n in res["notes"] if "second_rc" in n]
    assert second and all(n["second_rc"] == 2 and n["second_names_device"] and n["third_rc"] == 0
                          for n in second), second
