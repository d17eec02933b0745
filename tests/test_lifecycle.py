"""The broadband lifecycle on a lab of 8 OLTs (devsim) and 2 BNGs (netconfd): a bulk speed
upgrade in waves (a canary, then two waves; a wave with an OLT that refuses stops and rolls
back), and suspension under an arrears grace policy with time injected."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from lxml import etree

from conftest import REPO, cli, read_running
from test_lab import _require_lab_tools

OLTS, PER_OLT = 8, 4
FBS = "urn:fullbars:yang:fullbars-bng-subscriber"
SHP = "urn:bbf:yang:bbf-qos-shaping"


@pytest.fixture(scope="module")
def lab8(tmp_path_factory):
    _require_lab_tools()
    from orchestrator.lab.generate import from_plan
    from orchestrator.lab.runtime import open_lab
    from orchestrator.network.generate import generate, lines
    from orchestrator.plan.artifacts import write
    from orchestrator.plan.pipeline import plan
    from orchestrator.resources.store import Store

    tmp = tmp_path_factory.mktemp("lifecycle")
    os.environ["FULLBARS_LAB_DIR"] = str(tmp / "labs")
    net = tmp / "network.yaml"
    net.write_text(generate(OLTS, 2, 2, sites=2, name="lifecycle"))
    (tmp / "lines.yaml").write_text(lines(PER_OLT, OLTS, 2))
    db = f"sqlite:///{tmp}/store.db"
    result = plan(Store(db), str(net), [str(tmp / "lines.yaml")])
    write(result, tmp / "plan")
    topo = tmp / "lifecycle.clab.yml"
    topo.write_text(from_plan(tmp / "plan", f"lc{os.getpid() % 100000}", cpes=False))
    lab = open_lab(topo)
    lab.up(timeout=90)
    try:
        r = cli("apply", str(tmp / "lines.yaml"), "--target", "lab", "--lab", str(topo), db=db)
        assert r.exit_code == 0, r.stdout + r.stderr
        yield {"tmp": tmp, "db": db, "topo": topo, "net": net}
    finally:
        lab.down()


def _session(topo: Path, device: str):
    from orchestrator.netconf.session import Session
    from orchestrator.rollout.targets import lab_target

    return Session(lab_target(topo).endpoint(device))


def _running(topo: Path, device: str):
    from orchestrator.rollout.targets import lab_target

    return etree.tostring(read_running(lab_target(topo).endpoint(device)), encoding="unicode")


def _olt_shapers(topo: Path, olt: str) -> set[str]:
    """The downstream shaper profiles the OLT's lines point at."""
    root = etree.fromstring(_running(topo, olt).encode())
    return {e.text for e in root.iter(f"{{{SHP}}}shaper-name")}


def _bng_rates(topo: Path, bng: str) -> dict[str, int]:
    """Subscriber service → downstream bit/s on the BNG."""
    root = etree.fromstring(_running(topo, bng).encode())
    return {s.findtext(f"{{{FBS}}}service-id"): int(s.findtext(f"{{{FBS}}}rates/{{{FBS}}}downstream"))
            for s in root.iter(f"{{{FBS}}}subscriber")}


def _line_olt(i: int) -> str:
    return f"olt-{i // PER_OLT + 1}"


def test_upgrade_in_waves_stops_at_a_refusing_olt_then_carries_on(lab8):
    tmp, db, topo = lab8["tmp"], lab8["db"], lab8["topo"]
    up = tmp / "upgrade.yaml"
    up.write_text("apiVersion: fullbars.io/v1\nkind: SpeedUpgrade\nmetadata:\n  name: to-500m\nspec:\n"
                  "  selector:\n    downstream: 300M\n  rates:\n    downstream: 500M\n"
                  "  rollout:\n    canary: 1\n    waves: 2\n")
    r = cli("rollout", str(up), "--target", "lab", "--lab", str(topo), "--dry-run", db=db)
    assert r.exit_code == 0, r.stderr
    assert f"{OLTS * PER_OLT} line(s) on {OLTS} OLT(s) in 3 wave(s)" in r.stdout
    assert "canary   1 OLT(s)" in r.stdout and "olt-6, olt-7, olt-8" in r.stdout
    assert "estimated duration:" in r.stdout and "olt-bbf" in r.stdout and "bng-ietf" in r.stdout  # the fixture's apply measured it
    assert _olt_shapers(topo, "olt-1") == {"down-300M"}  # a dry run changes nothing

    blocker = _session(topo, "olt-7")  # another manager holds olt-7's candidate: it refuses the wave
    blocker.lock()
    try:
        r = cli("rollout", str(up), "--target", "lab", "--lab", str(topo), "--json", db=db)
    finally:
        blocker.unlock()
        blocker.close()
    assert r.exit_code == 1, r.stdout + r.stderr
    import json

    rep = json.loads(r.stdout)
    assert [w["outcome"] for w in rep["waves"]] == ["committed", "committed", "rolled-back"]
    assert rep["waves"][0]["olts"] == ["olt-1"]
    assert rep["waves"][2]["failed"] == ["olt-7"] and "olt-7" in rep["waves"][2]["summary"]
    assert rep["reached"] == [f"olt-{i}" for i in range(1, 6)]
    for i in range(1, OLTS + 1):
        assert _olt_shapers(topo, f"olt-{i}") == ({"down-500M"} if i <= 5 else {"down-300M"}), f"olt-{i}"
    rates = {**_bng_rates(topo, "bng-1"), **_bng_rates(topo, "bng-2")}
    assert len(rates) == OLTS * PER_OLT
    for i in range(OLTS * PER_OLT):
        want = 500_000_000 if int(_line_olt(i).split("-")[1]) <= 5 else 300_000_000
        assert rates[f"line-{i:05d}"] == want, f"line-{i:05d} on {_line_olt(i)}"

    r = cli("rollout", str(up), "--target", "lab", "--lab", str(topo), "--json", db=db)
    assert r.exit_code == 0, r.stdout + r.stderr
    rep = json.loads(r.stdout)
    assert [w["olts"] for w in rep["waves"]] == [["olt-6"], ["olt-7"], ["olt-8"]]
    assert all(_olt_shapers(topo, f"olt-{i}") == {"down-500M"} for i in range(1, OLTS + 1))
    rates = {**_bng_rates(topo, "bng-1"), **_bng_rates(topo, "bng-2")}
    assert set(rates.values()) == {500_000_000}
    r = cli("drift", "--target", "lab", "--lab", str(topo), db=db)
    assert r.exit_code == 0, r.stdout + r.stderr  # the store remembers what every wave gave


def _bng_of(topo, line: str) -> tuple[str, str]:
    for bng in ("bng-1", "bng-2"):
        text = _running(topo, bng)
        if f"<service-id>{line}</service-id>" in text:
            return bng, text
    raise AssertionError(f"{line} is on no BNG")


def test_suspension_is_held_by_a_grace_policy_then_carried_out_and_resumed_exactly(lab8, monkeypatch):
    tmp, db, topo = lab8["tmp"], lab8["db"], lab8["topo"]
    line, customer = "line-00009", "Customer 9"
    pol = tmp / "grace.yaml"
    pol.write_text("apiVersion: fullbars.io/v1\nkind: ArrearsGrace\nmetadata:\n  name: spring-arrears\nspec:\n"
                   f"  selector:\n    customer:\n    - {customer}\n  arrears:\n    from: 2026-03\n    to: 2026-05\n"
                   "  keep-in-service-until: 2026-06-30\n  repay-months: 3\n")
    r = cli("plan", str(pol), db=db)
    assert r.exit_code == 0, r.stderr
    assert "repay-by           2026-09-30" in r.stdout and "lines              1" in r.stdout
    bng, before = _bng_of(topo, line)

    monkeypatch.setenv("FULLBARS_NOW", "2026-06-30T22:00:00")
    r = cli("suspend", line, "--reason", "arrears", "--target", "lab", "--lab", str(topo), db=db)
    assert r.exit_code == 1
    assert "held" in r.stdout and "spring-arrears" in r.stdout and "2026-06-30" in r.stdout
    assert _running(topo, bng) == before
    r = cli("suspend", "line-00010", "--reason", "arrears", "--target", "lab", "--lab", str(topo), db=db)
    assert r.exit_code == 0 and "suspended" in r.stdout  # no policy covers Customer 10
    r = cli("resume", "line-00010", "--target", "lab", "--lab", str(topo), db=db)
    assert r.exit_code == 0, r.stdout + r.stderr
    r = cli("suspend", "--due", "--target", "lab", "--lab", str(topo), db=db)
    assert "no held suspension is due" in r.stdout
    assert _running(topo, bng) == before

    monkeypatch.setenv("FULLBARS_NOW", "2026-07-01T00:00:01")
    r = cli("suspend", "--due", "--target", "lab", "--lab", str(topo), db=db)
    assert r.exit_code == 0, r.stdout + r.stderr
    assert f"line {line} suspended (arrears)" in r.stdout
    root = etree.fromstring(_running(topo, bng).encode())
    itf = next(i for i in root.iter("{urn:ietf:params:xml:ns:yang:ietf-interfaces}interface")
               if i.findtext(f"{{{FBS}}}subscriber/{{{FBS}}}service-id") == line)
    assert itf.findtext("{urn:ietf:params:xml:ns:yang:ietf-interfaces}enabled") == "false"
    r = cli("suspensions", db=db)
    assert f"{line}" in r.stdout and "active" in r.stdout
    assert "carried-out" in r.stdout and "withdrawn" not in r.stdout, r.stdout  # the held one, done

    r = cli("resume", line, "--target", "lab", "--lab", str(topo), db=db)
    assert r.exit_code == 0, r.stdout + r.stderr
    assert _running(topo, bng) == before  # byte for byte

    from sqlalchemy import create_engine, text

    eng = create_engine(db)
    with eng.connect() as c:
        acts = [tuple(r) for r in c.execute(text("SELECT action, subject FROM audit WHERE subject = :l AND "
                                                 "(action LIKE 'suspend%' OR action = 'resume') ORDER BY id"),
                                            {"l": line})]
    eng.dispose()
    assert acts == [("suspend-held", line), ("suspend", line), ("resume", line)]

    # the resume rolled back: the line is out of service again, and the store says so (it said
    # ended while the device ran the line disabled)
    import json

    newest = json.loads(cli("history", "--format", "json", db=db).stdout)["transactions"][0]["id"]
    r = cli("rollback", newest, db=db)
    assert r.exit_code == 0, r.stdout + r.stderr
    assert _running(topo, bng) != before
    assert [s["state"] for s in json.loads(cli("suspensions", "--format", "json", db=db).stdout)["suspensions"]
            if s["line"] == line][-1] == "active"
    newest = json.loads(cli("history", "--format", "json", db=db).stdout)["transactions"][0]["id"]
    r = cli("rollback", newest, db=db)  # and that rollback rolled back: in service again, resumed
    assert r.exit_code == 0, r.stdout + r.stderr
    assert _running(topo, bng) == before
    assert [s["state"] for s in json.loads(cli("suspensions", "--format", "json", db=db).stdout)["suspensions"]
            if s["line"] == line][-1] == "ended"


# --- suspension in a lab whose lines have CPEs --------------------------------------------------

HARBOUR = sorted(str(p) for p in (REPO / "examples/lab").glob("*.yaml"))


@pytest.fixture(scope="module")
def harbour(tmp_path_factory):
    """The harbour example (2 OLTs, 1 BNG, a CPE per line, a server) with its four lines applied."""
    _require_lab_tools()
    from orchestrator.lab.generate import from_plan
    from orchestrator.lab.runtime import open_lab
    from orchestrator.plan.artifacts import write
    from orchestrator.plan.pipeline import plan
    from orchestrator.resources.store import Store

    tmp = tmp_path_factory.mktemp("suspend-cpe")
    os.environ["FULLBARS_LAB_DIR"] = str(tmp / "labs")
    db = f"sqlite:///{tmp}/store.db"
    store = Store(db)
    write(plan(store, str(REPO / "examples/network.yaml"), HARBOUR), tmp / "plan")
    topo = tmp / "harbour.clab.yml"
    topo.write_text(from_plan(tmp / "plan", f"sus{os.getpid() % 100000}"))
    lab = open_lab(topo)
    lab.up(timeout=90)
    try:
        r = cli("apply", *HARBOUR, "--target", "lab", "--lab", str(topo), db=db)
        assert r.exit_code == 0, r.stdout + r.stderr
        yield {"tmp": tmp, "db": db, "store": store, "topo": topo, "lab": lab}
    finally:
        lab.down()


def _service_rows(h, lines: list[str], rates: bool = False) -> dict[str, dict]:
    """Each line checked as the original plan has it (in service): address, reach, rates."""
    from orchestrator.lab.verify import verify

    rep = verify(h["tmp"] / "plan", h["lab"].load_state(), only=lines, rates=rates)
    return {r["service"]: r for r in rep["services"]}


def _lines():
    return [Path(f).stem for f in HARBOUR]


def test_a_change_that_should_suspend_a_line_but_leaves_it_in_service_fails_its_checks(harbour):
    """The pre-confirm checks, fed a plan in which port-authority is suspended while the lab still
    serves it, must name port-authority (it still gets service) and nothing else."""
    from orchestrator.plan.pipeline import plan
    from orchestrator.resources.store import SuspensionRow
    from orchestrator.rollout.apply import lab_checks
    from orchestrator.rollout.targets import lab_target

    store = harbour["store"]
    with store.transaction() as s:
        row = SuspensionRow(line="port-authority", reason="request", state="active", asked_at="x", done_at="x")
        s.add(row)
    try:
        result = plan(store, None, stored=["port-authority"])
    finally:
        with store.transaction() as s:
            s.delete(s.get(SuspensionRow, row.id))
    result.devices = [d for d in result.devices if d.changed]
    assert [d.device for d in result.devices] == ["bng-east"]  # only the BNG's sub-interface is disabled
    assert sorted(s.name for s in result.others) == ["dock-office", "harbour-cafe", "ship-repair"]
    problems = lab_checks(result, lab_target(harbour["topo"]))()
    assert len(problems) == 1, problems
    assert problems[0].startswith("port-authority (out of service): ")
    assert "still reaches the server" in problems[0]


def test_suspension_after_the_grace_window_takes_only_that_line_out_and_resume_restores_it(harbour, monkeypatch):
    db, topo = harbour["db"], harbour["topo"]
    line, others = "dock-office", [n for n in _lines() if n != "dock-office"]
    pol = harbour["tmp"] / "grace.yaml"
    pol.write_text("apiVersion: fullbars.io/v1\nkind: ArrearsGrace\nmetadata:\n  name: harbour-arrears\nspec:\n"
                   "  selector:\n    customer:\n    - Harbour customer 1\n  arrears:\n    from: 2026-03\n"
                   "    to: 2026-05\n  keep-in-service-until: 2026-06-30\n")
    assert cli("plan", str(pol), db=db).exit_code == 0
    before = _running(topo, "bng-east")

    monkeypatch.setenv("FULLBARS_NOW", "2026-06-30T22:00:00")
    r = cli("suspend", line, "--reason", "arrears", "--target", "lab", "--lab", str(topo), db=db)
    assert r.exit_code == 1 and "held" in r.stdout, r.stdout + r.stderr

    monkeypatch.setenv("FULLBARS_NOW", "2026-07-01T00:00:01")
    blocker = _session(topo, "bng-east")  # another manager holds the BNG's candidate: the attempt fails
    blocker.lock()
    try:
        r = cli("suspend", "--due", "--target", "lab", "--lab", str(topo), db=db)
    finally:
        blocker.unlock()
        blocker.close()
    assert r.exit_code == 1, r.stdout + r.stderr
    assert "failed:" in r.stdout and "bng-east" in r.stdout and "stays held" in r.stdout
    assert [line, "held"] in [r.split()[:2] for r in cli("suspensions", db=db).stdout.splitlines()]
    assert _running(topo, "bng-east") == before

    r = cli("suspend", "--due", "--target", "lab", "--lab", str(topo), db=db)  # the retry carries it out
    assert r.exit_code == 0, r.stdout + r.stderr
    assert f"line {line} suspended (arrears)" in r.stdout
    rows = _service_rows(harbour, _lines())
    assert not rows[line]["ok"] and rows[line]["address"] is None and not rows[line]["reachable"], rows[line]
    assert all(rows[n]["ok"] and rows[n]["reachable"] for n in others), [rows[n] for n in others]
    r = cli("suspend", "--due", "--target", "lab", "--lab", str(topo), db=db)
    assert "no held suspension is due" in r.stdout

    r = cli("resume", line, "--target", "lab", "--lab", str(topo), db=db)
    assert r.exit_code == 0, r.stdout + r.stderr
    assert _running(topo, "bng-east") == before  # byte for byte
    rows = _service_rows(harbour, [line], rates=True)
    assert rows[line]["ok"], rows[line]


def test_suspension_on_request_of_a_static_line_and_back(harbour):
    db, topo = harbour["db"], harbour["topo"]
    line = "harbour-cafe"
    before = _running(topo, "bng-east")
    r = cli("suspend", line, "--reason", "request", "--target", "lab", "--lab", str(topo), db=db)
    assert r.exit_code == 0 and f"line {line} suspended (request)" in r.stdout, r.stdout + r.stderr
    rows = _service_rows(harbour, _lines())
    assert not rows[line]["reachable"], rows[line]  # its static address leads nowhere
    assert all(rows[n]["ok"] for n in _lines() if n != line)
    r = cli("resume", line, "--target", "lab", "--lab", str(topo), db=db)
    assert r.exit_code == 0, r.stdout + r.stderr
    assert _running(topo, "bng-east") == before
    assert _service_rows(harbour, [line])[line]["ok"]


def test_suspension_that_cannot_reach_its_devices_changes_nothing(harbour):
    """clinic-west's devices (olt-3, bng-west) are not in this lab: a clear error, exit 2, and the
    store does not claim the line is suspended."""
    from conftest import snapshot

    db, topo = harbour["db"], harbour["topo"]
    r = cli("plan", str(REPO / "examples/intents/clinic-west.yaml"), db=db)
    assert r.exit_code == 0, r.stderr
    before = snapshot(db)
    r = cli("suspend", "clinic-west", "--reason", "request", "--target", "lab", "--lab", str(topo), db=db)
    assert r.exit_code == 2, r.stdout + r.stderr
    assert "has no device" in r.stderr and "nothing was changed" in r.stderr
    # The suspension's plan may have recorded what it built (derived tables, not in a snapshot)
    # before the lab refused: no state of the line.
    assert snapshot(db) == before
    assert "SUSPENDED" not in cli("status", db=db).stdout


def test_a_delete_plan_checks_that_the_deleted_line_lost_its_service(harbour):
    """A delete plan given to the apply engine is checked like any change: the deleted line must
    lose its service, the others keep theirs. (Last in this
    module: ship-repair is gone afterwards.)"""
    from orchestrator.plan.pipeline import plan
    from orchestrator.rollout.apply import apply, lab_checks
    from orchestrator.rollout.targets import lab_target

    target = lab_target(harbour["topo"])
    result = plan(harbour["store"], None, delete=["ship-repair"])
    result.devices = [d for d in result.devices if d.changed]
    assert sorted(d.device for d in result.devices) == ["bng-east", "olt-2"]
    assert [s.name for s in result.others] == ["dock-office", "harbour-cafe", "port-authority"]  # on bng-east
    problems = lab_checks(result, target)()  # the devices still serve it: the check must say so
    assert len(problems) == 1 and problems[0].startswith("ship-repair (out of service): "), problems
    assert "by DHCP" in problems[0] and "still reaches the server" in problems[0]

    rep = apply(harbour["store"], result, target, confirm_timeout=30)
    assert rep["outcome"] == "committed", rep["summary"]
    rows = _service_rows(harbour, _lines())
    assert rows["ship-repair"]["address"] is None and not rows["ship-repair"]["reachable"], rows["ship-repair"]
    assert all(rows[n]["ok"] for n in _lines() if n != "ship-repair")
