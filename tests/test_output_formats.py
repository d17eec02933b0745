"""Plan's summary line and --detailed-exitcode, and the documented --format json objects of
validate, status, history, plan and errors (apply and drift: tests/test_whole_lab.py)."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import REPO, cli, record_applied, snapshot
from orchestrator.plan.summary import NO_CHANGES

NET = ("--network", "examples/network.yaml")
LINES = sorted(str(p) for p in (REPO / "examples/lab").glob("*.yaml"))


def test_plan_ends_with_its_summary_and_detailed_exitcode_says_whether_anything_changes(db):
    from orchestrator.plan.pipeline import plan
    from orchestrator.resources.store import Store

    r = cli("plan", *LINES, *NET, "--detailed-exitcode", db=db)
    assert r.exit_code == 2, r.stderr
    assert r.stdout.rstrip().splitlines()[-1] == "4 to create, 0 to change, 0 to delete on 3 devices"
    record_applied(db, plan(Store(db), None, LINES), "tx-20261203-000000-aaaaaa")
    r = cli("plan", *LINES, "--detailed-exitcode", db=db)
    assert r.exit_code == 0, r.stdout + r.stderr
    assert r.stdout.rstrip().splitlines()[-1] == NO_CHANGES
    r = cli("delete", "ship-repair", db=db)
    assert r.stdout.rstrip().splitlines()[-1] == "0 to create, 0 to change, 1 to delete on 2 devices", r.stdout
    # The next plan carries the pending removal along, and says so.
    r = cli("plan", str(REPO / "examples/intents/acme-hq.yaml"), "--detailed-exitcode", db=db)
    assert r.exit_code == 2
    assert "ship-repair  →  bng-east, olt-2 (planned earlier, not applied yet: this plan carries it)" in r.stdout
    assert r.stdout.rstrip().splitlines()[-1] == "1 to create, 0 to change, 1 to delete on 3 devices"


def test_a_service_never_applied_is_created_by_its_changes_and_its_delete_takes_nothing_off(db, tmp_path):
    """Planned, changed before any apply: applying creates it (it counted as a change). Deleted
    before any apply: it leaves the store at once, and there is nothing on a device to delete.
    Once applied, the same steps change it and delete it."""
    line = REPO / "examples/lab/ship-repair.yaml"
    faster = tmp_path / "ship-repair.yaml"
    faster.write_text(line.read_text().replace("downstream: 300M", "downstream: 200M"))
    assert faster.read_text() != line.read_text()

    def summary(*args):
        r = cli(*args, "--format", "json", db=db)
        assert r.exit_code == 0, r.stdout + r.stderr
        data = _json(r)
        return data["summary"], {s["name"]: (s["action"], s["device_change"]) for s in data["services"]}

    assert summary("plan", str(line), *NET)[0]["create"] == 1
    counts, services = summary("plan", str(faster))
    assert (counts["create"], counts["change"]) == (1, 0) and services["ship-repair"] == ("update", "create")
    # the text says what applying it does, as the summary counts it, and why
    first = cli("plan", str(faster), db=db).stdout.splitlines()[0]
    assert first.startswith("create ") and "ship-repair" in first and "(as planned earlier, not applied yet)" in first
    counts, services = summary("delete", "ship-repair")
    assert counts["delete"] == 0 and services["ship-repair"] == ("delete", "")

    from orchestrator.plan.pipeline import plan
    from orchestrator.resources.store import Store

    record_applied(db, plan(Store(db), None, [str(line)]), "tx-20261203-000000-bbbbbb")
    counts, services = summary("plan", str(faster))
    assert (counts["create"], counts["change"]) == (0, 1) and services["ship-repair"] == ("update", "update")
    counts, services = summary("delete", "ship-repair")
    assert counts["delete"] == 1 and services["ship-repair"] == ("delete", "delete")


def test_bad_input_exits_1_with_detailed_exitcode_and_2_without(db, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("apiVersion: fullbars.io/v1\nkind: BusinessBroadband\nmetadata: {name: x}\nspec: {downstrem: 1}\n")
    assert cli("plan", str(bad), *NET, db=db).exit_code == 2
    r = cli("plan", str(bad), *NET, "--detailed-exitcode", db=db)
    assert r.exit_code == 1 and "error: " in r.stderr and "Traceback" not in r.stderr


def _json(r) -> dict:
    data = json.loads(r.stdout)
    assert data["format_version"] == 1
    return data


def test_json_of_validate_status_history_plan_and_errors(db, tmp_path):
    from orchestrator.plan.pipeline import plan
    from orchestrator.resources.store import Store

    v = _json(cli("validate", *LINES, *NET, "--format", "json", db=db))
    assert v["command"] == "validate" and v["ok"] is True
    assert sorted((s["name"], s["action"]) for s in v["services"]) == [
        ("dock-office", "create"), ("harbour-cafe", "create"), ("port-authority", "create"), ("ship-repair", "create")]

    p = _json(cli("plan", *LINES, *NET, "--format", "json", db=db))
    assert p["command"] == "plan" and p["ok"] is True
    assert p["summary"] == {"create": 4, "change": 0, "delete": 0, "devices": 3, "dropped": 0}
    assert {d["device"] for d in p["devices"]} == {"bng-east", "olt-1", "olt-2"} and p["carried"] == []

    record_applied(db, plan(Store(db), None, LINES), "tx-20261203-000000-bbbbbb")
    cli("delete", "ship-repair", db=db)
    st = _json(cli("status", "--format", "json", db=db))
    assert st["command"] == "status" and st["ok"] and st["store"] == db
    by = {s["name"]: s for s in st["services"]}
    assert sorted(by) == ["dock-office", "harbour-cafe", "port-authority", "ship-repair"]
    assert by["ship-repair"]["pending_removal"] is True and by["dock-office"]["pending_removal"] is False
    assert any(h.startswith("onu-id=") for h in by["dock-office"]["held"]) and by["dock-office"]["suspended"] is False

    h = _json(cli("history", "--format", "json", db=db))
    assert [(t["id"], t["kind"], t["state"], t["target"]) for t in h["transactions"]] == [
        ("tx-20261203-000000-bbbbbb", "apply", "committed", "lab:/nowhere/lab.clab.yml")]
    assert h["transactions"][0]["summary"].endswith("committed on 3 device(s)")

    bad = tmp_path / "bad.yaml"
    bad.write_text("apiVersion: fullbars.io/v1\nkind: BusinessBroadband\nmetadata: {name: x}\nspec:\n  downstrem: 1\n")
    for args in (("validate", str(bad)), ("plan", str(bad))):
        r = cli(*args, "--format", "json", db=db)
        assert r.exit_code == 2
        e = _json(r)
        assert e["command"] == args[0] and e["ok"] is False and e["exit_code"] == 2 and e["changed"] is False
        first = e["errors"][0]
        assert first["file"] == str(bad) and first["line"] >= 4 and first["path"] and first["message"] and first["fix"]


def test_json_of_a_plan_again_names_the_earlier_plans_it_carries(db):
    """Two lines planned and not applied; one planned again as it is: the JSON carries the other
    (its create, planned earlier), with its placement as the store recorded it."""
    p = _json(cli("plan", LINES[0], LINES[1], *NET, "--format", "json", db=db))
    assert p["summary"]["create"] == 2
    again = _json(cli("plan", LINES[0], "--format", "json", db=db))
    carried = {c["name"]: c for c in again["carried"]}
    other = next(s["name"] for s in p["services"] if s["name"] not in {x["name"] for x in again["services"]})
    assert list(carried) == [other], again["carried"]
    assert carried[other]["device_change"] == "create" and carried[other]["earlier"] is True
    assert carried[other]["devices"] and carried[other]["resources"], carried[other]


def test_delete_speaks_json_and_a_file_as_out_folder_is_refused_before_anything_changes(db, tmp_path):
    """delete --format json says delete, its errors come as JSON too; --out naming a file is
    refused (it was replaced by the plan's folder) and the store is as it was."""
    assert cli("plan", *LINES, *NET, db=db).exit_code == 0
    r = cli("delete", "no-such-line", "--format", "json", db=db)
    assert r.exit_code == 2
    e = _json(r)
    assert e["command"] == "delete" and e["ok"] is False and e["errors"][0]["message"], e
    d = _json(cli("delete", "ship-repair", "--format", "json", db=db))
    assert d["command"] == "delete" and [s["name"] for s in d["services"]] == ["ship-repair"], d
    afile = tmp_path / "afile"
    afile.write_text("keep me\n")
    before = snapshot(db)
    for args in (("plan", LINES[0]), ("delete", "dock-office")):
        for out in (afile, afile / "sub"):  # the file itself, or a folder that would be inside it
            r = cli(*args, "--out", str(out), db=db)
            assert r.exit_code == 2 and "is a file, not a folder" in r.stderr, r.stdout + r.stderr
        r = cli(*args, "--out", "/proc/fullbars-nowhere/plan", db=db)  # no folder can be made there
        assert r.exit_code == 2 and "no folder can be made in /proc" in r.stderr, r.stdout + r.stderr
        assert "Traceback" not in r.stdout + r.stderr
    assert afile.read_text() == "keep me\n" and snapshot(db) == before


def test_a_delete_of_a_line_never_applied_says_nothing_is_on_the_devices(db, tmp_path):
    """Its summary counts no delete on the devices; the line it shows says why; and it gives no
    device anything (its devices, never given anything, kept no service: no base config either)."""
    assert cli("plan", LINES[0], *NET, db=db).exit_code == 0
    r = cli("delete", Path(LINES[0]).stem, db=db)
    assert r.exit_code == 0, r.stderr
    first = r.stdout.splitlines()[0]
    assert first.startswith("delete") and "never applied: it leaves the store now, nothing is on the devices" in first
    assert cli("plan", LINES[0], db=db).exit_code == 0
    d = _json(cli("delete", Path(LINES[0]).stem, "--format", "json", "--out", str(tmp_path / "del"), db=db))
    assert d["devices"] == [] and d["summary"]["devices"] == 0, d
    assert sorted(p.name for p in (tmp_path / "del").iterdir()) == ["manifest.json", "yang"]


def test_a_plan_leaves_an_earlier_never_applied_line_off_the_devices_it_shares_with_it(db, tmp_path):
    """dock-office (olt-1) and port-authority (olt-2) planned, never applied; port-authority
    planned again with a new rate. Its BNG's new config must not hold dock-office, whose OLT the
    plan does not reach: applied, the BNG would get a subscriber interface with no ONU behind it.
    The plan says so (text and JSON); a plan of both, or of dock-office, carries it whole."""
    dock, port = (str(REPO / "examples/lab/dock-office.yaml"), str(REPO / "examples/lab/port-authority.yaml"))
    assert cli("plan", dock, port, *NET, db=db).exit_code == 0
    faster = tmp_path / "port-authority.yaml"
    text = Path(port).read_text()
    faster.write_text(text.replace("downstream: 1G", "downstream: 900M"))
    assert faster.read_text() != text
    r = cli("plan", str(faster), db=db)
    assert r.exit_code == 0, r.stderr
    said = " ".join(r.stderr.split())
    assert "note: dock-office (planned earlier, never applied) is left off bng-east by this plan, which does not " \
           "reach its olt-1" in said, said

    def on_bng(p: dict) -> dict:
        return {d["device"]: d for d in p["devices"]}["bng-east"]

    p = _json(cli("plan", str(faster), "--format", "json", db=db))
    assert p["held_back"] == {"dock-office": {"left_off": ["bng-east"], "waits_for": ["olt-1"], "plan": "dock-office"}}
    r = cli("plan", str(faster), "--format", "xml", db=db)  # machines read stdout; people, the note
    assert r.exit_code == 0 and "note: dock-office" in r.stderr and "note:" not in r.stdout, r.stderr
    assert "(dock-office)" not in on_bng(p)["edit"] and "(port-authority)" in on_bng(p)["edit"]
    assert on_bng(p)["services"] == ["port-authority"] and not p["carried"], p["carried"]
    alone = _json(cli("plan", dock, "--format", "json", db=db))  # and the other way round
    assert alone["held_back"] == {"port-authority": {"left_off": ["bng-east"], "waits_for": ["olt-2"],
                                                     "plan": "port-authority"}}
    assert "(port-authority)" not in on_bng(alone)["edit"] and "(dock-office)" in on_bng(alone)["edit"]
    both = _json(cli("plan", dock, str(faster), "--format", "json", db=db))
    assert both["held_back"] == {}, both["held_back"]
    assert "(dock-office)" in on_bng(both)["edit"] and "(port-authority)" in on_bng(both)["edit"]
    again = _json(cli("plan", str(faster), "--format", "json", db=db))  # the same plan again: as it was
    assert again["held_back"] == p["held_back"] and on_bng(again)["edit"] == on_bng(p)["edit"]


def test_a_move_planned_earlier_carried_by_another_plan_leaves_the_device_it_moves_off(db, tmp_path):
    """harbour-cafe applied on olt-1, moved to olt-2 and planned, not applied; then a plan of a new
    line on olt-2 carries the move onto olt-2 and bng-east. Applied, it left the café on olt-1
    too (one ONU on two OLTs, drift in sync), and the store gave its old values to other lines:
    the plan takes it off olt-1 as well."""
    cafe, ship, port = (str(REPO / f"examples/lab/{n}.yaml") for n in ("harbour-cafe", "ship-repair", "port-authority"))
    from orchestrator.plan.pipeline import plan
    from orchestrator.resources.store import Store

    assert cli("plan", cafe, ship, *NET, db=db).exit_code == 0
    record_applied(db, plan(Store(db), None, [cafe, ship]))
    moved = tmp_path / "harbour-cafe.yaml"
    moved.write_text(Path(cafe).read_text().replace("olt: olt-1", "olt: olt-2"))
    assert cli("plan", str(moved), db=db).exit_code == 0  # not applied
    p = _json(cli("plan", port, "--format", "json", db=db))
    devices = {d["device"]: d for d in p["devices"]}
    assert "olt-1" in devices, sorted(devices)
    assert "harbour-cafe" in devices["olt-1"]["edit"] and 'operation="delete"' in devices["olt-1"]["edit"]
    assert "harbour-cafe" not in devices["olt-1"]["services"]


def test_a_usage_error_is_json_when_json_was_asked_for(db):
    """A script that passed --format json gets the same error object for a usage error (click's
    box, for people, otherwise)."""
    before = snapshot(db)
    for args, command, said in ((("plan", *LINES, "--format", "json", "--bogus"), "plan", "No such option: --bogus"),
                                (("history", "--format=json", "--limit", "many"), "history", "--limit"),
                                (("change", "list", "--bogus", "--format", "json"), "change list", "--bogus"),
                                (("check", "--json"), "check", "Missing")):
        r = cli(*args, db=db)
        assert r.exit_code == 2, (args, r.output)
        e = _json(r)
        assert e["command"] == command and e["ok"] is False and e["exit_code"] == 2, e
        assert said in e["errors"][0]["message"] and e["errors"][0]["fix"] == f"see fullbars {command} --help", e
    r = cli("plan", *LINES, "--format", "text", "--bogus", db=db)
    assert r.exit_code == 2 and "No such option: --bogus" in r.stderr and not r.stdout.strip()
    assert snapshot(db) == before


def test_a_refused_first_plan_leaves_no_store_behind(tmp_path):
    """Nothing was changed: not even a new, empty store file (or the folders made for it)."""
    bad = tmp_path / "bad.yaml"
    bad.write_text((REPO / "examples/intents/acme-hq.yaml").read_text().replace("downstream:", "downstrem:"))
    db = f"sqlite:///{tmp_path}/new/folder/store.db"
    for fmt in ("text", "json"):
        r = cli("plan", str(bad), *NET, "--format", fmt, db=db)
        assert r.exit_code == 2 and "downstrem" in r.output, r.output
        assert not (tmp_path / "new").exists()
    r = cli("plan", str(REPO / "examples/intents/acme-hq.yaml"), *NET, db=db)
    assert r.exit_code == 0 and (tmp_path / "new/folder/store.db").exists()
    r = cli("plan", str(bad), db=db)  # an existing store stays, of course
    assert r.exit_code == 2 and (tmp_path / "new/folder/store.db").exists()


def test_a_limit_below_one_or_above_the_api_s_is_refused_as_the_server_refuses_it(db):
    for args in (("audit", "--limit", "0"), ("audit", "--limit", "-5"), ("audit", "--limit", "1001"),
                 ("history", "--limit", "0")):
        r = cli(*args, "--format", "json", db=db)
        assert r.exit_code == 2 and "--limit" in _json(r)["errors"][0]["message"], (args, r.output)
