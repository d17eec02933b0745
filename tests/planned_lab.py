"""A lab of exactly the devices some intents need (no CPEs), up for the length of a `with`."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from conftest import REPO
from test_lab import _require_lab_tools


@contextlib.contextmanager
def planned_lab(tmp: Path, intents: list[str], name: str):
    """(topology file, plan dir, Lab); the plan is made in a scratch store of its own, so the
    test's store starts empty. Names carry the pid: several users share the machine."""
    _require_lab_tools()
    from orchestrator.lab.generate import from_plan
    from orchestrator.lab.runtime import open_lab
    from orchestrator.plan.artifacts import write
    from orchestrator.plan.pipeline import plan
    from orchestrator.resources.store import Store

    os.environ["FULLBARS_LAB_DIR"] = str(tmp / "labs")
    write(plan(Store(f"sqlite:///{tmp}/scratch.db"), str(REPO / "examples/network.yaml"), intents), tmp / "plan")
    topo = tmp / f"{name}.clab.yml"
    topo.write_text(from_plan(tmp / "plan", f"{name}{os.getpid() % 100000}", cpes=False))
    lab = open_lab(topo)
    lab.up(timeout=90)
    try:
        yield topo, tmp / "plan", lab
    finally:
        lab.down()
