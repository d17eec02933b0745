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
