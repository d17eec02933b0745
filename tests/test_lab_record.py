"""A lab whose topology file is gone (a run killed before it cleaned up, its scratch directory
removed) is still found and removed by its record: `lab list` names it, and `lab status`,
`lab inspect` and `lab down` take its name."""

from __future__ import annotations

import json

from conftest import REPO, cli
from orchestrator.lab import netns
from planned_lab import planned_lab


def test_a_lab_whose_file_is_gone_is_listed_and_taken_down_by_its_name(tmp_path):
    with planned_lab(tmp_path, [str(REPO / "examples/intents/acme-hq.yaml")], "rec") as (topo, _, lab):
        name = lab.topo.name
        spaces = [n["netns"] for n in lab.load_state()["nodes"].values()]
        topo.unlink()

        listed = cli("lab", "list", "--format", "json", db=None)
        assert listed.exit_code == 0, listed.stdout + listed.stderr
        [row] = [r for r in json.loads(listed.stdout)["labs"] if r["name"] == name]
        assert row["file"] == str(topo) and not row["file_exists"]
        assert row["namespaces"] == row["nodes"] == len(spaces) and row["watcher"]
        text = cli("lab", "list", db=None)
        assert name in text.stdout and "(gone)" in text.stdout

        status = cli("lab", "status", name, db=None)
        assert status.exit_code == 0, status.stdout + status.stderr
        assert json.loads(cli("lab", "inspect", name, db=None).stdout)["name"] == name

        down = cli("lab", "down", name, db=None)
        assert down.exit_code == 0, down.stdout + down.stderr
        assert not any(netns.netns_exists(ns) for ns in spaces)
        assert name not in cli("lab", "list", db=None).stdout
        assert "no lab is recorded" in cli("lab", "list", db=None).stdout


def test_a_name_that_is_neither_a_file_nor_a_recorded_lab_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("FULLBARS_LAB_DIR", str(tmp_path / "labs"))
    r = cli("lab", "down", "no-such-lab", db=None)
    assert r.exit_code == 2
    assert "no recorded lab has that name" in r.stderr and "fullbars lab list" in r.stderr


def test_down_signals_only_the_processes_the_lab_started(tmp_path, monkeypatch):
    """A record outlives its processes (a reboot, a killed run): a pid it names may since be
    another process's. `down` ends a recorded pid only while it is still the process the lab
    started, and `list` counts only those as running."""
    import subprocess

    from orchestrator.lab.runtime import record_started

    monkeypatch.setenv("FULLBARS_LAB_DIR", str(tmp_path / "labs"))
    mine, stranger = (subprocess.Popen(["sleep", "60"]) for _ in range(2))
    try:
        st = {"name": "stale", "file": str(tmp_path / "stale.clab.yml"), "links": [], "made": [],
              "watcher": stranger.pid,
              "nodes": {"a": {"netns": "fbstale-a", "kind": "olt-bbf", "agent": "devsim", "labels": {},
                              "pids": [mine.pid], "mgmt_ip": "198.18.250.9"}}}
        record_started(st, [mine.pid, stranger.pid])
        st["started"][str(stranger.pid)] = "another-boot 12345"  # the pid the watcher had, given to another
        (tmp_path / "labs" / "stale").mkdir(parents=True)
        (tmp_path / "labs" / "stale" / "lab.json").write_text(json.dumps(st))

        [row] = json.loads(cli("lab", "list", "--format", "json", db=None).stdout)["labs"]
        assert row["name"] == "stale" and not row["watcher"]
        down = cli("lab", "down", "stale", db=None)
        assert down.exit_code == 0, down.stdout + down.stderr
        assert mine.wait(timeout=10) is not None  # the lab's own agent: ended
        assert stranger.poll() is None, "down signalled a process the lab did not start"
        assert not (tmp_path / "labs" / "stale").exists()
    finally:
        for p in (mine, stranger):
            p.kill()
            p.wait()
