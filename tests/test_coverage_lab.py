"""A coverage fill in the lab: the gNBs it touches come up on devsim (serving the 3GPP NRM models),
take the fill as one network-wide confirmed commit, and `lab verify` re-runs the PCI and neighbour
rules on what they run; a PCI changed by hand on one gNB (a raw NETCONF edit-config, not through
fullbars) is named by `lab verify` (device, cell, rule) and by `drift` (device, leaf).

Needs root and the lab tools. The lab is this file's own (its name starts with s4c, its
management subnet is pinned), so it runs beside other labs without the lab lock."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys

import pytest
import yaml
from lxml import etree

from conftest import REPO
from test_lab import _require_lab_tools

MGMT = "198.18.228.0/24"
MGMT_WAVES = "198.18.229.0/24"
NC = "urn:ietf:params:xml:ns:netconf:base:1.0"


def _fb(env: dict, *args: str, cwd=REPO) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "orchestrator", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=300)


def _edit_by_hand(st: dict, node: str, config: str) -> None:
    from ncclient import manager

    n = st["nodes"][node]
    with manager.connect(host=n["mgmt_ip"], port=830, username=st["user"], password=st["password"],
                         hostkey_verify=False, look_for_keys=False, allow_agent=False) as m:
        m.edit_config(target="candidate", config=f'<config xmlns="{NC}">{config}</config>')
        m.commit()


def _pci_edit(gnb: str, cell: str, pci: int) -> str:
    return ('<ManagedElement xmlns="urn:3gpp:sa5:_3gpp-common-managed-element">'
            f'<id>{gnb}</id><GNBDUFunction xmlns="urn:3gpp:sa5:_3gpp-nr-nrm-gnbdufunction"><id>DU-1</id>'
            f'<NRCellDU xmlns="urn:3gpp:sa5:_3gpp-nr-nrm-nrcelldu"><id>{cell}</id>'
            f'<attributes><nRPCI>{pci}</nRPCI></attributes></NRCellDU></GNBDUFunction></ManagedElement>')


@pytest.fixture
def area(tmp_path):
    """A small generated area (12 cells on 4 gNBs, 200 weak points) whose fill adds 2 sites:
    6 gNBs to configure."""
    from orchestrator.network.generate_radio import generate

    generate(tmp_path / "area", n_cells=12, n_points=200, seed=1)
    env = {k: v for k, v in os.environ.items() if not k.startswith("FULLBARS_")}
    env.update(FULLBARS_DB=f"sqlite:///{tmp_path}/store.db", FULLBARS_LAB_DIR=str(tmp_path / "labs"),
               FULLBARS_YANG_PATH=os.environ.get("FULLBARS_YANG_PATH", str(REPO.parent / "shared" / "yang")))
    return tmp_path, env


@contextlib.contextmanager
def _fill_lab(tmp, env, name: str, subnet: str):
    """The fill planned into tmp/fill, and a lab of its gNBs (its own name and subnet) up for the
    length of the `with`: (manifest, gNBs, new sites, topology file, lab state)."""
    from orchestrator.lab.runtime import open_lab

    _require_lab_tools()
    a = tmp / "area"
    r = _fb(env, "plan", str(a / "fill.yaml"), "--network", str(a / "network.yaml"), "--out", str(tmp / "fill"))
    assert r.returncode == 0, r.stderr
    m = json.loads((tmp / "fill" / "manifest.json").read_text())
    gnbs = sorted(m["devices"])
    new = m["services"]["weak-spots"]["resources"]["new-sites"]
    assert len(gnbs) == 6 and set(new) < set(gnbs), gnbs
    r = _fb(env, "lab", "generate", str(tmp / "fill"), "--name", f"{name}{os.getpid() % 100000}",
            "-o", str(tmp / "cov.clab.yml"))
    assert r.returncode == 0, r.stderr
    doc = yaml.safe_load((tmp / "cov.clab.yml").read_text())
    assert {n: v["labels"]["fullbars.kind"] for n, v in doc["topology"]["nodes"].items()} == \
        {g: "gnb-3gpp" for g in gnbs}  # the fill's gNBs, nothing else
    doc["mgmt"] = {"ipv4-subnet": subnet}
    topo = tmp / "cov.clab.yml"
    topo.write_text(yaml.safe_dump(doc, sort_keys=False))
    os.environ["FULLBARS_LAB_DIR"] = env["FULLBARS_LAB_DIR"]
    lab = open_lab(topo)
    st = lab.up(timeout=90)
    try:
        assert {st["nodes"][g]["agent"] for g in gnbs} == {"devsim"}
        yield m, gnbs, new, topo, st
    finally:
        lab.down()


def _planned(tmp, gnbs) -> dict:
    from orchestrator.services import coverage_checks

    return {g: coverage_checks.facts("gnb", etree.parse(str(tmp / "fill" / f"{g}.xml"))) for g in gnbs}


def _running(st, gnb) -> dict:
    """The fill's facts of what a gNB runs (empty: nothing of a fill)."""
    from conftest import read_running
    from orchestrator.services import coverage_checks
    from orchestrator.lab.endpoints import lab_endpoints

    return coverage_checks.facts("gnb", read_running(lab_endpoints(st)[gnb]).getroottree())


def test_fill_in_the_lab_one_transaction_verify_rechecks_running_and_a_hand_edit_is_caught(area):
    tmp, env = area
    a = tmp / "area"
    with _fill_lab(tmp, env, "s4c-cov", MGMT) as (m, gnbs, new, topo, st):
        r = _fb(env, "apply", str(a / "fill.yaml"), "--network", str(a / "network.yaml"), "--target", "lab",
                "--lab", str(topo), "--json")
        assert r.returncode == 0, r.stderr + r.stdout
        rep = json.loads(r.stdout)
        # one network-wide transaction: every gNB of the fill confirmed in it
        assert rep["outcome"] == "committed"
        assert {d: v["state"] for d, v in rep["devices"].items()} == {g: "confirmed" for g in gnbs}

        r = _fb(env, "lab", "verify", str(tmp / "fill"), str(topo), "--report", str(tmp / "verify.json"))
        assert r.returncode == 0, r.stdout + r.stderr
        row = next(x for x in json.loads((tmp / "verify.json").read_text())["services"]
                   if x["service"] == "weak-spots")
        planned = _planned(tmp, gnbs)
        # what verify read from the devices is every planned cell with its PCI and NR cell identity
        assert row["ok"] and sorted(row["gnbs"]) == gnbs
        assert {g: {c: (v["pci"], v["nci"]) for c, v in row["gnbs"][g]["cells"].items()} for g in gnbs} == \
            {g: {c: (pci, planned[g]["ncis"][c]) for c, (pci, _) in planned[g]["cells"].items()} for g in gnbs}
        assert row["relations"] == sum(len(v) for f in planned.values() for v in f["relations"].values()) > 0

        # By hand, on a new site's cell: the PCI of one of its neighbours on another gNB (a collision).
        site = new[0]
        cell, rels = sorted(planned[site]["relations"].items())[0]
        other, target = next((g, t) for g, t in rels if g is not None)
        old, pci = planned[site]["cells"][cell][0], planned[other]["cells"][target][0]
        _edit_by_hand(st, site, _pci_edit(site, cell, pci))

        r = _fb(env, "lab", "verify", str(tmp / "fill"), str(topo), "--report", str(tmp / "verify.json"))
        assert r.returncode == 1, r.stdout + r.stderr
        row = next(x for x in json.loads((tmp / "verify.json").read_text())["services"]
                   if x["service"] == "weak-spots")
        assert not row["ok"]
        assert f"{site} cell {cell}: PCI {pci} on the device, {old} planned (rule: PCI as planned)" in row["problems"]
        assert any(p.startswith(f"PCI collision: {site} cell {cell} and its neighbour ") and f"PCI {pci}" in p
                   for p in row["problems"]), row["problems"]
        # every gNB that knows the cell as a neighbour now holds the wrong PCI for it
        assert f"{other}: ExternalNRCellCU {site} {cell} says PCI {old}; {site} gives that cell PCI {pci}" \
            in row["problems"]
        assert f"FAIL: {site} cell {cell}" in r.stdout

        r = _fb(env, "drift", "--target", "lab", "--lab", str(topo))
        assert r.returncode == 1, r.stdout + r.stderr
        assert f"{site}: 1 difference(s)" in r.stdout
        assert (f"/ManagedElement[id='{site}']/GNBDUFunction[id='DU-1']/NRCellDU[id='{cell}']/attributes/nRPCI: "
                f"intended '{old}', running '{pci}'  (service: weak-spots)") in r.stdout
        assert all(f"{g}: in sync" in r.stdout for g in gnbs if g != site)

        r = _fb(env, "drift", "--target", "lab", "--lab", str(topo), "--reconcile")
        assert r.returncode == 0, r.stdout + r.stderr
        r = _fb(env, "lab", "verify", str(tmp / "fill"), str(topo))
        assert r.returncode == 0, r.stdout + r.stderr  # the PCI given back, every rule holds again

        # By hand, on a gNB on air: a PCI no cell has, but equal mod 3 to a co-sited cell's.
        gnb = next(g for g in gnbs if g not in new and len(planned[g]["cells"]) >= 2)
        (c1, (p1, _)), (c2, (p2, _)) = sorted(planned[gnb]["cells"].items())[:2]
        taken = {pci for f in planned.values() for pci, _ in f["cells"].values()} | \
            {pci for f in planned.values() for pci in f["externals"].values()}
        clash = next(x for x in range(p2 % 3, 1008, 3) if x not in taken)
        _edit_by_hand(st, gnb, _pci_edit(gnb, c1, clash))
        r = _fb(env, "lab", "verify", str(tmp / "fill"), str(topo), "--report", str(tmp / "verify.json"))
        assert r.returncode == 1, r.stdout + r.stderr
        problems = next(x for x in json.loads((tmp / "verify.json").read_text())["services"]
                        if x["service"] == "weak-spots")["problems"]
        assert any(p.startswith(f"{gnb}: cells on ARFCN ") and "share a PCI or a PCI mod 3" in p
                   and f"{c1} {clash}" in p and f"{c2} {p2}" in p for p in problems), problems
        assert not any(p.startswith("PCI collision") or p.startswith("PCI confusion") for p in problems), problems


def test_fill_rolled_out_in_waves_new_sites_first_a_failing_wave_rolls_back_alone(area):
    """3 waves over the 6 gNBs (a new site as canary); a gNB of the last wave refuses (another
    manager holds its candidate): that wave rolls back, the earlier two stay confirmed, and
    `rollout` run again carries on with the gNBs left."""
    from ncclient import manager

    tmp, env = area
    a = tmp / "area"
    with _fill_lab(tmp, env, "s4c-wav", MGMT_WAVES) as (m, gnbs, new, topo, st):
        r = _fb(env, "rollout", str(a / "fill.yaml"), "--target", "lab", "--lab", str(topo), "--dry-run")
        assert r.returncode == 0, r.stderr
        assert "weak-spots: 6 device(s) to change in 3 wave(s)" in r.stdout
        assert f"canary   1 device(s): {sorted(new)[0]}" in r.stdout, r.stdout
        planned = _planned(tmp, gnbs)
        assert all(_running(st, g) == {} for g in gnbs)  # a dry run changes nothing

        r = _fb(env, "rollout", str(a / "fill.yaml"), "--target", "lab", "--lab", str(topo), "--dry-run")
        waves = [line.split(": ", 1)[1].split(", ") for line in r.stdout.splitlines() if " device(s): " in line]
        assert len(waves) == 3 and sorted(d for w in waves for d in w) == gnbs
        assert waves[0] + waves[1][:len(new) - 1] == sorted(new)  # the new sites go first
        last = waves[2][-1]
        n = st["nodes"][last]
        blocker = manager.connect(host=n["mgmt_ip"], port=830, username=st["user"], password=st["password"],
                                  hostkey_verify=False, look_for_keys=False, allow_agent=False)
        blocker.lock("candidate")
        try:
            r = _fb(env, "rollout", str(a / "fill.yaml"), "--target", "lab", "--lab", str(topo), "--json")
        finally:
            blocker.unlock("candidate")
            blocker.close_session()
        assert r.returncode == 1, r.stdout + r.stderr
        rep = json.loads(r.stdout)
        assert [w["outcome"] for w in rep["waves"]] == ["committed", "committed", "rolled-back"]
        assert [w["devices"] for w in rep["waves"]] == waves
        assert rep["waves"][2]["failed"] == [last] and last in rep["waves"][2]["summary"]
        assert rep["reached"] == sorted(waves[0] + waves[1])
        for g in gnbs:  # the first two waves run the fill; the failed wave's gNBs run none of it
            assert _running(st, g) == (planned[g] if g in waves[0] + waves[1] else {}), g

        r = _fb(env, "rollout", str(a / "fill.yaml"), "--target", "lab", "--lab", str(topo), "--json")
        assert r.returncode == 0, r.stdout + r.stderr
        rep = json.loads(r.stdout)
        assert sorted(d for w in rep["waves"] for d in w["devices"]) == sorted(waves[2])  # only what was left
        assert rep["reached"] == gnbs
        assert all(_running(st, g) == planned[g] for g in gnbs)
        r = _fb(env, "lab", "verify", str(tmp / "fill"), str(topo))
        assert r.returncode == 0, r.stdout + r.stderr
        r = _fb(env, "drift", "--target", "lab", "--lab", str(topo))
        assert r.returncode == 0, r.stdout + r.stderr  # the store remembers what every wave gave


def test_verify_compares_what_a_gnb_holds_with_the_plan_also_for_cells_outside_the_lab(area):
    """The comparison with the bundle (one function, no lab): a neighbour cell of a gNB that is
    not in the lab, known only as an ExternalNRCellCU, whose PCI or NR cell identity differs from
    the plan's; a relation gone, or with handover no longer allowed; a cell the plan does not have."""
    import copy

    from orchestrator.lab.kinds.coverage.checks import _against_plan

    tmp, env = area
    a = tmp / "area"
    r = _fb(env, "plan", str(a / "fill.yaml"), "--network", str(a / "network.yaml"), "--out", str(tmp / "fill"))
    assert r.returncode == 0, r.stderr
    planned = _planned(tmp, sorted(json.loads((tmp / "fill" / "manifest.json").read_text())["devices"]))
    dev, f = next((d, f) for d, f in sorted(planned.items()) if f["externals"])
    assert _against_plan(dev, f, f) == []
    (g, c), pci = sorted(f["externals"].items())[0]
    live = copy.deepcopy(f)
    live["externals"][(g, c)] = pci + 1
    live["external_ncis"][(g, c)] += 1
    cell, rels = next((k, v) for k, v in sorted(live["relations"].items()) if v)
    gone = rels.pop()
    kept = (cell, *rels[0])
    live["rel_flags"][kept] = ("false", live["rel_flags"][kept][1])
    live["cells"]["CELL-9"] = (7, "632628")
    assert _against_plan(dev, live, f) == [
        f"{dev}: ExternalNRCellCU {g} {c}: PCI {pci + 1} on the device, {pci} planned (rule: PCI as planned)",
        f"{dev}: ExternalNRCellCU {g} {c}: NR cell identity {f['external_ncis'][(g, c)] + 1} on the device, "
        f"{f['external_ncis'][(g, c)]} planned (rule: NR cell identity as planned)",
        f"{dev} cell CELL-9 is on the device, not in the plan",
        f"{dev} cell {cell}: the NRCellRelation to {gone[0] or dev} {gone[1]} is planned, not on the device",
        f"{dev} cell {cell}: the NRCellRelation to {kept[1] or dev} {kept[2]} has isHOAllowed false, true planned "
        f"(rule: relation flags as planned)"]


def test_the_shipped_small_area_is_the_generators(tmp_path):
    """tests/fixtures/coverage-small-area (the mutation suite's area) is what `fullbars network
    radio-area --cells 12 --points 200 --seed 1` writes, not a hand-edited copy."""
    from orchestrator.network.generate_radio import generate

    generate(tmp_path, n_cells=12, n_points=200, seed=1)
    shipped = REPO / "tests" / "fixtures" / "coverage-small-area"
    assert sorted(p.name for p in shipped.iterdir()) == sorted(p.name for p in tmp_path.iterdir())
    for p in tmp_path.iterdir():
        assert (shipped / p.name).read_bytes() == p.read_bytes(), p.name


def test_rollout_waves_count_what_the_target_itself_was_given(tmp_path):
    """Another environment (prod) was given the two new sites last: a rollout to the lab still
    has all 6 gNBs to do, and one to prod only the other 4 (no lab needed: --dry-run)."""
    from conftest import cli
    from orchestrator.plan.pipeline import plan
    from orchestrator.resources.store import Store
    from orchestrator.rollout.journal import remember_configs
    from orchestrator.rollout.transaction import Journal

    db = f"sqlite:///{tmp_path}/store.db"
    area = REPO / "tests" / "fixtures" / "coverage-small-area"
    store = Store(db)
    result = plan(store, str(area / "network.yaml"), [str(area / "fill.yaml")])
    new = result.services[0].resources["new-sites"]
    tx = "tx-20261203-000000-bbbbbb"
    Journal(store, tx).start("env:prod", "apply", [])
    with store.transaction() as s:
        remember_configs(s, tx, "apply", "env:prod", [(d.device, d.kind, d.intended) for d in result.devices
                                                      if d.device in new])
    Journal(store, tx).state("committed", summary=f"{tx}: committed on {len(new)} device(s)")
    fill = str(area / "fill.yaml")
    r = cli("rollout", fill, "--target", "lab", "--lab", str(tmp_path / "lab.clab.yml"), "--dry-run", db=db)
    assert r.exit_code == 0, r.stdout + r.stderr
    assert "weak-spots: 6 device(s) to change in 3 wave(s)" in r.stdout
    assert f"canary   1 device(s): {sorted(new)[0]}" in r.stdout
    r = cli("rollout", fill, "--target", "prod", "--dry-run", db=db)
    assert r.exit_code == 0, r.stdout + r.stderr
    assert f"weak-spots: 4 device(s) to change in 3 wave(s); already given their configs: {', '.join(sorted(new))}" \
        in r.stdout
    assert all(g not in line for line in r.stdout.splitlines() if " device(s): " in line for g in new)


def test_wave_order_new_sites_then_gnbs_given_cells_then_those_given_relations():
    from orchestrator.services.coverage_fill import CoverageFill

    res = {"new-sites": ["pole-2", "pole-1"],
           "new-cells": {"pole-2-1": {"gnb": "pole-2"}, "pole-1-1": {"gnb": "pole-1"}, "gnb-7-4": {"gnb": "gnb-7"}}}
    assert CoverageFill().wave_order(res, ["gnb-1", "gnb-3", "gnb-7", "pole-1", "pole-2"]) == \
        ["pole-2", "pole-1", "gnb-7", "gnb-1", "gnb-3"]
