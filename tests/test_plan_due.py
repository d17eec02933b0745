"""A tenure counted from customer-since: fixed in the store at each plan, grown only by a plan of
what time alone changed (`fullbars plan --due`, or a worker's daily schedule), so an unrelated
plan never carries a line's upgrade unasked."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from sqlalchemy import create_engine, text

from tests.conftest import EXAMPLES, REPO, cli, snapshot

NETWORK = str(EXAMPLES / "network.yaml")  # upstream by tenure: 0 y 300M, 3 y 500M, 5 y 1000M


def _line(folder: Path, name: str, serial: str, tenure: str, upstream: str | None = None) -> Path:
    f = folder / f"{name}.yaml"
    f.write_text("apiVersion: fullbars.io/v1\nkind: BusinessBroadband\nmetadata:\n"
                 f"  name: {name}\nspec:\n  customer: {name.title()} Ltd\n  site: harbour-park\n"
                 f"  onu:\n    serial: {serial}\n" + (f"  rates:\n    upstream: {upstream}\n" if upstream else "")
                 + f"  {tenure}\n")
    return f


def _stored(db: str) -> dict[str, dict]:
    engine = create_engine(db)
    with engine.connect() as c:
        rows = {n: json.loads(s) for n, s in c.execute(text("SELECT name, spec FROM intents"))}
    engine.dispose()
    return rows


def _upstreams(out_dir: Path) -> dict[str, str]:
    """service → its upstream bit/s in the BNG config of a plan's folder."""
    from lxml import etree

    root = etree.parse(str(out_dir / "bng-east.xml")).getroot()
    return {s.findtext("{*}service-id"): s.findtext("{*}rates/{*}upstream") for s in root.iter("{*}subscriber")}


def _at(day: str, monkeypatch):
    monkeypatch.setenv("FULLBARS_NOW", day)


def test_a_tenure_from_customer_since_is_raised_only_by_plan_due(tmp_path, db, monkeypatch):
    since = _line(tmp_path, "old-friend", "OLDF0000A001", "customer-since: 2024-01-15")
    fixed = _line(tmp_path, "fixed-one", "FIXD0000A001", "tenure-years: 1")
    asked = _line(tmp_path, "asked-for", "ASKD0000A001", "customer-since: 2022-01-15", upstream="300M")
    _at("2026-12-04", monkeypatch)
    r = cli("plan", "--network", NETWORK, str(since), str(fixed), str(asked), "--out", str(tmp_path / "p0"), db=db)
    assert r.exit_code == 0, r.output
    assert _stored(db)["old-friend"]["tenure-years"] == 2
    assert _upstreams(tmp_path / "p0")["old-friend"] == "300000000"

    # The day before the third anniversary: nothing is due, nothing changes.
    _at("2027-01-14", monkeypatch)
    before = snapshot(db)
    r = cli("plan", "--due", db=db)
    assert r.exit_code == 0, r.output
    assert "no changes: nothing is due on 2027-01-14" in r.output, r.output
    assert snapshot(db)["intents"] == before["intents"]

    # A plan of another line after the anniversary leaves old-friend as it was planned.
    _at("2027-02-01", monkeypatch)
    other = _line(tmp_path, "new-shop", "NEWS0000A001", "tenure-years: 0")
    r = cli("plan", str(other), "--out", str(tmp_path / "p1"), db=db)
    assert r.exit_code == 0, r.output
    assert _upstreams(tmp_path / "p1")["old-friend"] == "300000000"
    assert not [ln for ln in r.output.splitlines() if "old-friend" in ln
                and (ln.startswith("update") or "(changed in the store;" in ln)], r.output

    # plan --due settles every line time has changed: old-friend's default upstream rises; the
    # line that asked for 300M keeps it (its tenure, now 5, only caps it); the fixed tenure stays.
    r = cli("plan", "--due", "--out", str(tmp_path / "p2"), db=db)
    assert r.exit_code == 0, r.output
    # (never applied, so the text says what applying does: it creates them, changed in the store)
    updated = sorted(ln.split()[2] for ln in r.output.splitlines()
                     if ln.startswith("update ") or "(changed in the store;" in ln)
    assert updated == ["asked-for", "old-friend"], r.output
    stored = _stored(db)
    assert stored["old-friend"]["tenure-years"] == 3
    assert stored["asked-for"]["tenure-years"] == 5
    assert stored["fixed-one"]["tenure-years"] == 1
    ups = _upstreams(tmp_path / "p2")
    assert ups["old-friend"] == "500000000" and ups["asked-for"] == "300000000" and ups["fixed-one"] == "300000000"

    r = cli("plan", "--due", db=db)  # settled: due no more
    assert r.exit_code == 0 and "no changes: nothing is due on 2027-02-01" in r.output, r.output


def test_customer_since_refusals_name_the_file_line_and_fix(tmp_path, db, monkeypatch):
    _at("2026-12-04", monkeypatch)
    both = _line(tmp_path, "both", "BOTH0000A001", "customer-since: 2024-01-15\n  tenure-years: 2")
    nonday = _line(tmp_path, "nonday", "NDAY0000A001", "customer-since: 2023-02-30")
    future = _line(tmp_path, "future", "FUTR0000A001", "customer-since: 2027-01-01")
    r = cli("plan", "--network", NETWORK, str(both), str(nonday), str(future), db=db)
    assert r.exit_code == 2, r.output
    assert f"{both}:11" in r.output and "give tenure-years or customer-since, not both" in r.output
    assert "customer-since 2023-02-30 is not a day of the calendar" in r.output and f"{nonday}:10" in r.output
    assert "customer-since 2027-01-01 is still to come" in r.output
    assert "nothing was changed" in r.output
    r = cli("plan", db=db)
    assert r.exit_code == 2 and "name the intent files to plan, or pass --due" in r.output


def test_a_date_its_pattern_takes_but_no_calendar_has_is_refused_where_it_is_written(tmp_path, db):
    """fbt:date's pattern takes day 31 of every month; the loader asks the calendar, for any kind
    (a grace ending on 31 June went on to the planner, which raised a traceback)."""
    src = (EXAMPLES / "grace" / "spring-arrears.yaml").read_text()
    for day in ("2026-06-31", "2027-02-29"):
        f = tmp_path / f"grace-{day}.yaml"
        f.write_text(src.replace("keep-in-service-until: 2026-06-30", f"keep-in-service-until: {day}"))
        line = next(i for i, ln in enumerate(f.read_text().splitlines(), 1) if "keep-in-service-until" in ln)
        for cmd in (("validate", str(f)), ("plan", "--network", NETWORK, str(f))):
            r = cli(*cmd, db=db)
            assert r.exit_code == 2, r.output
            assert f"{f}:{line}" in r.output and f"keep-in-service-until {day} is not a day of the calendar" in r.output
            assert "Traceback" not in r.output
    before = snapshot(db)
    r = cli("plan", "--network", NETWORK, str(tmp_path / "grace-2026-06-31.yaml"), db=db)
    assert r.exit_code == 2 and snapshot(db) == before


def test_a_worker_plans_what_time_changed_on_its_schedule(tmp_path, db):
    """`fullbars worker --plan-due DIR`: the engine's scheduler runs the day's plan while no
    command runs; the plan lands in DIR/due-DAY and the store holds the grown tenure."""
    since = _line(tmp_path, "old-friend", "OLDF0000A001", "customer-since: 2024-01-15")
    env = {**os.environ, "PYTHONPATH": str(REPO), "FULLBARS_NOW": "2026-12-04"}
    run = [sys.executable, "-m", "orchestrator"]
    r = subprocess.run(run + ["plan", "--network", NETWORK, str(since), "--db", db], env=env, capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    bad = subprocess.run(run + ["worker", "--db", db, "--plan-due", str(tmp_path / "due"), "--plan-due-at", "daily"],
                         env=env, capture_output=True, text=True, timeout=300)
    assert bad.returncode == 2 and "'daily' is not a cron expression" in bad.stderr, bad.stderr
    (tmp_path / "afile").touch()  # nowhere to write the day's plan: refused before the worker starts
    bad = subprocess.run(run + ["worker", "--db", db, "--plan-due", str(tmp_path / "afile" / "due")],
                         env=env, capture_output=True, text=True, timeout=300)
    assert bad.returncode == 2 and "afile is a file, not a folder" in bad.stderr, bad.stderr
    env["FULLBARS_NOW"] = "2027-01-15"
    worker = subprocess.Popen(run + ["worker", "--db", db, "--plan-due", str(tmp_path / "due"),
                                     "--plan-due-at", "*/2 * * * * *"], env=env, stderr=subprocess.PIPE, text=True)
    try:
        plan_dir = tmp_path / "due" / "due-2027-01-15"
        deadline = time.monotonic() + 240
        while not (plan_dir / "manifest.json").exists():
            assert worker.poll() is None, worker.stderr.read()
            assert time.monotonic() < deadline, "the worker's schedule wrote no plan in 240 s"
            time.sleep(0.5)
    finally:
        worker.send_signal(signal.SIGTERM)
        _, errs = worker.communicate(timeout=60)
    assert "plans what time alone changes at '*/2 * * * * *'" in errs
    assert _upstreams(plan_dir)["old-friend"] == "500000000"
    assert _stored(db)["old-friend"]["tenure-years"] == 3
    engine = create_engine(db)
    with engine.connect() as c:
        runs = [s for (s,) in c.execute(text("SELECT status FROM workflow_status WHERE name = 'fullbars.plan-due'"))]
    engine.dispose()
    assert runs and all(s == "SUCCESS" for s in runs), runs


def test_a_second_plan_due_the_same_day_keeps_the_first(tmp_path, db, monkeypatch):
    """The schedule may run more than once a day: each run's plan gets a folder of its own."""
    from orchestrator.engine import runtime, workflows

    _at("2027-01-14", monkeypatch)
    first = _line(tmp_path, "old-friend", "OLDF0000A001", "customer-since: 2024-01-15")
    assert cli("plan", "--network", NETWORK, str(first), db=db).exit_code == 0
    runtime.launch(db)
    try:
        done = workflows.plan_due_step(str(tmp_path / "due"), "2027-01-15")
        assert done["outcome"] == "planned" and done["services"] == ["old-friend"], done
        second = _line(tmp_path, "new-friend", "NEWF0000A001", "customer-since: 2022-01-15")
        assert cli("plan", str(second), db=db).exit_code == 0  # tenure 4 as of the 14th
        again = workflows.plan_due_step(str(tmp_path / "due"), "2027-01-15")
        assert again["outcome"] == "planned" and again["services"] == ["new-friend"], again
        assert again["plan"] == str(tmp_path / "due" / "due-2027-01-15-2")
        assert (tmp_path / "due" / "due-2027-01-15" / "manifest.json").exists()
        assert _upstreams(tmp_path / "due" / "due-2027-01-15-2")["new-friend"] == "1000000000"  # 5 years
        assert workflows.plan_due_step(str(tmp_path / "due"), "2027-01-15")["outcome"] == "nothing due"
    finally:
        runtime.shutdown()
