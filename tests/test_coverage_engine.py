"""A coverage fill's rollout on the durable engine (orchestrator/engine/workflows.py): handed to
two `fullbars worker` processes, its waves (a new site as canary, then 3 and 2 gNBs) run as the
rollout workflow's steps; the worker running it is SIGKILLed in the second wave, after the canary
committed; the other worker recovers the workflow and finishes it: the killed wave's transaction is
undone by recover and the wave applied once more (killed before its confirming commit) or finished
by recover and not applied again (killed after it), no gNB is in two committed transactions, and
`lab verify` re-checks the PCI and neighbour rules on what the gNBs run.

Once on PostgreSQL, the workers under host names of their own (as on two machines: only their
silence tells), once on the default SQLite store on one machine (the killed worker's process is
seen gone), there with a gNB of the last wave refusing (another manager holds its candidate): that
wave rolls back alone, the first two stay, and `rollout` run again finishes the fill.

The lab is this file's own (its name starts with s5c, management subnet 198.18.230.0/24), so is
the PostgreSQL server (a UNIX socket in a private directory)."""

from __future__ import annotations

import contextlib
import json

import pytest
from ncclient import manager

from orchestrator.engine.workflows import tx_prefix
from pg_server import postgres
from test_coverage_lab import _fb, _fill_lab, _planned, _running, area  # noqa: F401 - area is a fixture
from test_engine import _rows, killed_mid_rollout

MGMT = "198.18.230.0/24"

# (the worker is killed just before journalling this in the 2nd wave, what the journal then
# says, the store, whether a gNB of the last wave refuses)
KILLS = [("confirming", "verifying", "postgresql", False),  # committed, not confirmed: undone, applied again
         ("committed", "confirming", "sqlite", True)]  # confirmed on the gNBs: finished, not applied again


@pytest.mark.parametrize("before,journal,db_kind,refuse", KILLS, ids=[k[0] for k in KILLS])
def test_a_fill_rollout_survives_the_death_of_its_worker(area, before, journal, db_kind, refuse):
    tmp, env = area
    fill = str(tmp / "area" / "fill.yaml")
    with contextlib.ExitStack() as stack:
        pg = db_kind == "postgresql"
        db = stack.enter_context(postgres(5453, prefix="s5c-pg-")) if pg else f"sqlite:///{tmp}/store.db"
        sys_tables = "dbos." if pg else ""
        env["FULLBARS_DB"] = db
        m, gnbs, new, topo, st = stack.enter_context(_fill_lab(tmp, env, "s5c-eng", MGMT))
        planned = _planned(tmp, gnbs)
        r = _fb(env, "rollout", fill, "--target", "lab", "--lab", str(topo), "--dry-run")
        assert r.returncode == 0, r.stderr
        waves = [line.split(": ", 1)[1].split(", ") for line in r.stdout.splitlines() if " device(s): " in line]
        assert [len(w) for w in waves] == [1, 3, 2] and waves[0][0] in new, r.stdout

        blocker = None
        if refuse:  # a gNB of the last wave refuses its edit: another manager holds its candidate
            n = st["nodes"][waves[2][-1]]
            blocker = manager.connect(host=n["mgmt_ip"], port=830, username=st["user"], password=st["password"],
                                      hostkey_verify=False, look_for_keys=False, allow_agent=False)
            blocker.lock("candidate")
            stack.callback(blocker.close_session)  # which also gives the lock back
        a_id, b_id = f"s5c-a-{before}", f"s5c-b-{before}"
        # worker a is held in the 2nd wave just before it journals `before` (the canary journalled it once)
        with killed_mid_rollout(db, fill, topo, tmp, a_id, b_id, before, journal, 2,
                                ("s5c-machine-a", "s5c-machine-b") if pg else None) as (rollout, wid, killed_tx, mine):
            assert killed_tx == tx_prefix(wid, 1) + "1"
            out, errs = rollout.communicate(timeout=400)
            assert rollout.returncode == (1 if refuse else 0), out + errs
        if blocker is not None:
            blocker.unlock("candidate")

        rep = json.loads(out)
        assert rep["workflow"] == wid and rep["unit"] == "device"
        assert [w["devices"] for w in rep["waves"]] == waves
        assert [w["outcome"] for w in rep["waves"]] == ["committed", "committed", "rolled-back" if refuse else "committed"]
        assert _rows(db, f"SELECT status, executor_id FROM {sys_tables}workflow_status WHERE workflow_uuid = :w",
                     w=wid) == [("SUCCESS", b_id)]
        assert f"{a_id} stopped beating: recovering their workflows" in (tmp / f"b-{before}.log").read_text()

        # the journal: recover undid the killed wave's transaction on every gNB (the wave then applied
        # once more) or finished it (not applied again); every gNB of a committed wave is in exactly one
        # committed transaction of this rollout, confirmed there
        again = before == "confirming"
        assert _rows(db, "SELECT state FROM transactions WHERE id = :t", t=killed_tx) == \
            [("rolled-back" if again else "committed",)]
        assert {s for (s,) in _rows(db, "SELECT state FROM transaction_devices WHERE tx = :t", t=killed_tx)} == \
            {"rolled-back" if again else "confirmed"}
        assert rep["waves"][1]["tx"] == (killed_tx[:-1] + "2" if again else killed_tx)
        committed = _rows(db, "SELECT d.device, d.state FROM transactions t JOIN transaction_devices d ON d.tx = t.id "
                              "WHERE t.id LIKE :m AND t.state = 'committed'", m=mine)
        given = waves[0] + waves[1] + ([] if refuse else waves[2])
        assert sorted(committed) == sorted((g, "confirmed") for g in given)
        assert len(_rows(db, "SELECT id FROM transactions WHERE id LIKE :m", m=mine)) == (4 if again else 3)

        # the gNBs: each runs the fill or none of it, as its wave's outcome demands
        for g in gnbs:
            assert _running(st, g) == (planned[g] if g in given else {}), g
        if refuse:
            assert rep["reached"] == sorted(waves[0] + waves[1])
            r = _fb(env, "lab", "verify", str(tmp / "fill"), str(topo))
            assert r.returncode == 1, r.stdout + r.stderr  # the last wave's gNBs lack the fill
            r = _fb(env, "rollout", fill, "--target", "lab", "--lab", str(topo), "--json")
            assert r.returncode == 0, r.stdout + r.stderr
            rerun = json.loads(r.stdout)
            assert sorted(d for w in rerun["waves"] for d in w["devices"]) == sorted(waves[2])  # only what was left
            assert all(_running(st, g) == planned[g] for g in gnbs)
        else:
            assert rep["reached"] == gnbs
        r = _fb(env, "lab", "verify", str(tmp / "fill"), str(topo))
        assert r.returncode == 0, r.stdout + r.stderr  # every PCI and neighbour rule holds on the running configs
        r = _fb(env, "drift", "--target", "lab", "--lab", str(topo))
        assert r.returncode == 0, r.stdout + r.stderr  # the store agrees with the gNBs


@pytest.mark.parametrize("files", [["examples/intents/acme-hq.yaml"], ["examples/intents/acme-hq.yaml", "examples/upgrade/to-500m.yaml"]],
                         ids=["not-in-waves", "two-intents"])
def test_a_file_that_cannot_roll_out_is_refused_before_it_is_planned(tmp_path, files):
    """A rollout takes one bulk change or one service whose devices roll out in waves; anything
    else is refused (exit 2, the file named once) and nothing of it is kept in the store."""
    from conftest import REPO, cli

    db = f"sqlite:///{tmp_path}/store.db"
    intent = tmp_path / "rollout.yaml"
    intent.write_text("---\n".join((REPO / f).read_text() for f in files))
    r = cli("rollout", str(intent), "--target", "prod", "--network", str(REPO / "examples" / "network.yaml"),
            "--dry-run", db=db)
    assert r.exit_code == 2, r.stdout + r.stderr
    assert r.stderr.count(str(intent)) == 1 and "a rollout takes one bulk change (SpeedUpgrade) or one service " \
        "whose devices roll out in waves (CoverageFill)" in r.stderr, r.stderr
    r = cli("status", "--format", "json", db=db)
    assert r.exit_code == 0 and json.loads(r.stdout)["services"] == [], r.stdout
