"""Where an apply's time goes: every device's steps in the report, `apply --json` and the store."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from conftest import REPO
from test_apply import changed_plan, five  # noqa: F401  (five: the lab fixture of 3 OLTs and 2 BNGs)

ROUND_TRIPS = ["connect", "lock", "read", "edit", "commit", "read-back", "confirm", "close"]


def test_apply_json_breaks_each_device_down_by_step(five):  # noqa: F811
    from orchestrator.rollout.transaction import history

    changed_plan(five, "timed", down="300M")  # writes the intents, every downstream at 300M
    files = sorted(str(p) for p in (five["tmp"] / "timed").glob("*.yaml"))
    env = dict(os.environ, FULLBARS_DB=five["db"])
    r = subprocess.run([sys.executable, "-m", "orchestrator", "apply", *files, "--target", "lab", "--lab",
                        str(five["topo"]), "--no-checks", "--json"], cwd=REPO, env=env, capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    rep = json.loads(r.stdout)
    assert rep["outcome"] == "committed"
    assert sorted(rep["devices"]) == ["bng-east", "bng-west", "olt-1", "olt-2", "olt-3"]
    for dev, d in rep["devices"].items():
        # all five take confirmed commits (devsim and netconfd): every round trip, and the diff made here
        assert d["strategy"] == "candidate-confirmed", dev
        assert sorted(d["steps"]) == sorted(ROUND_TRIPS + ["diff"]), dev
        during = sum(v for k, v in d["steps"].items() if k != "close")  # close runs after the device's clock stops
        assert during <= d["seconds"] + 0.005, (dev, d)
    assert sorted(rep["breakdown"]) == sorted(ROUND_TRIPS + ["diff"])  # (JSON keys come sorted)
    for step, b in rep["breakdown"].items():
        assert b["devices"] == 5, step
        assert b["median"] <= b["max"] <= b["sum"], step
    assert {"wall_s", "cpu_s"} <= set(rep)

    [row] = history(five["store"], 1)
    assert json.loads(row.report)["breakdown"] == rep["breakdown"]  # the journal keeps it for later


def test_apply_prints_the_breakdown(five):  # noqa: F811
    changed_plan(five, "timed-text", down="250M")
    files = sorted(str(p) for p in (five["tmp"] / "timed-text").glob("*.yaml"))
    env = dict(os.environ, FULLBARS_DB=five["db"])
    r = subprocess.run([sys.executable, "-m", "orchestrator", "apply", *files, "--target", "lab", "--lab",
                        str(five["topo"]), "--no-checks"], cwd=REPO, env=env, capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    lines = r.stdout.splitlines()
    steps = [ln.split()[0] for ln in lines if ln.startswith("  ") and len(ln.split()) == 4]
    assert steps == ["connect", "lock", "read", "diff", "edit", "commit", "read-back", "confirm", "close"]
    assert any(ln.strip().startswith("wall ") and "of CPU" in ln for ln in lines)
