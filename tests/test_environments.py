"""Every target is an environment with its own record of what each device was given: what one
environment is given changes no other's record, plans start from the environment they name, and
an environment's description says whether it needs lab evidence. Real SQLite stores; a
transaction's outcome is journalled by the same code apply uses (the devices are the lab tests')."""

from __future__ import annotations

import datetime as dt
import json
import re

from conftest import EXAMPLES, cli, snapshot
from test_cli import UPGRADE

NETWORK = str(EXAMPLES / "network.yaml")
ACME = str(EXAMPLES / "intents/acme-hq.yaml")


def _committed(store, env: str, configs: dict[str, tuple[str, str]]) -> str:
    """A transaction on `env` that gave each device (kind, config), journalled as apply does."""
    from orchestrator.rollout.transaction import Change, Journal, new_id

    tx = new_id()
    changes = [Change(d, kind, None, config) for d, (kind, config) in configs.items()]
    j = Journal(store, tx)
    j.start(env, "apply", changes)
    j.state("committed", summary="test", remember=changes)
    return tx


def _harbour_in_production(store):
    """The harbour lines planned and committed in production, as an apply records them."""
    from orchestrator.plan.pipeline import plan

    first = plan(store, NETWORK, [str(p) for p in sorted((EXAMPLES / "lab").glob("*.yaml"))],
                 environment="env:production")
    _committed(store, "env:production", {d.device: (d.kind, d.intended) for d in first.devices})
    return first


def _rollout_prepared(store, tmp_path, upgrade: str = UPGRADE) -> tuple[str, dict]:
    """The upgrade (canary, then one wave) prepared for production: (its name, its wave plan)."""
    from orchestrator.rollout import waves

    up = tmp_path / "up.yaml"
    up.write_text(upgrade + "  rollout:\n    canary: 1\n    waves: 1\n")
    return waves.prepare(store, None, str(up), "env:production")


def test_each_environment_keeps_its_own_record(db):
    from orchestrator.plan.pipeline import plan
    from orchestrator.resources.store import Store

    store = Store(db)
    first = plan(store, NETWORK, [ACME], environment="lab:/labs/a.clab.yml")
    assert first.devices and all(d.changed for d in first.devices)
    _committed(store, "lab:/labs/a.clab.yml", {d.device: (d.kind, d.intended) for d in first.devices})
    # production starts elsewhere: a config of its own on one device
    olt = next(d for d in first.devices if d.kind == "olt-bbf")
    own = olt.intended.replace("ACME0000A001", "ACME0000FFFF")
    _committed(store, "env:production", {olt.device: (olt.kind, own)})

    with store.transaction(write=False) as s:
        lab = {d: r.config for d, r in Store.device_configs(s, "lab:/labs/a.clab.yml").items()}
        prod = {d: r.config for d, r in Store.device_configs(s, "env:production").items()}
    assert lab == {d.device: d.intended for d in first.devices}  # production's apply left it alone
    assert prod == {olt.device: own}

    # a plan starts from the record of the environment it names
    again = {d.device: d for d in plan(store, None, [ACME], environment="lab:/labs/a.clab.yml").devices}
    assert not any(d.changed for d in again.values())
    towards_prod = {d.device: d for d in plan(store, None, [ACME], environment="env:production").devices}
    assert towards_prod[olt.device].changed and towards_prod[olt.device].current == own
    assert "ACME0000A001" in towards_prod[olt.device].edit
    fresh = {d.device: d for d in plan(store, None, [ACME], environment="env:staging").devices}
    assert all(d.changed and d.current.count("\n") <= 2 for d in fresh.values())  # nothing given there yet
    # without a name: the environment applied last
    assert plan(store, None, [ACME]).environment == "env:production"


def test_drift_compares_the_target_environment_record_only(db):
    """drift reads the record of the environment it checks: a device production was given but the
    lab never was is not the lab's business (before environments it was compared in the lab)."""
    from orchestrator.plan.pipeline import plan
    from orchestrator.resources.store import Store
    from orchestrator.rollout.drift import check
    from orchestrator.rollout.targets import Target

    store = Store(db)
    result = plan(store, NETWORK, [ACME])
    _committed(store, "env:production", {d.device: (d.kind, d.intended) for d in result.devices})
    from orchestrator.netconf.credentials import Credentials
    from orchestrator.netconf.session import Endpoint

    creds = Credentials("fullbars", password="x")
    # the lab's devices: nothing listens there, so reading any of them would be an error in the report
    unreachable = Target("lab:/labs/none.clab.yml", {d.device: Endpoint(d.device, "127.0.0.1", 9, creds)
                                                     for d in result.devices})
    assert check(store, unreachable) == []
    with store.transaction(write=False) as s:
        assert Store.device_configs(s, "lab:/labs/none.clab.yml") == {}


def test_environment_description_evidence_rule(db, tmp_path):
    r = cli("environment", "production", db=db)
    assert r.exit_code == 0 and "env:production: lab evidence required (default)" in r.output, r.output
    lab = tmp_path / "x.clab.yml"
    r = cli("environment", "lab", "--lab", str(lab), db=db)
    assert r.exit_code == 0 and f"lab:{lab}: lab evidence optional (default)" in r.output, r.output
    r = cli("environment", "staging", "--evidence", "optional", "--description", "pre-production rack", db=db)
    assert r.exit_code == 0 and "env:staging: lab evidence optional; pre-production rack" in r.output, r.output
    r = cli("environment", "staging", db=db)
    assert "lab evidence optional; pre-production rack" in r.output and "(default)" not in r.output
    before = snapshot(db)
    r = cli("environment", "staging", "--evidence", "sometimes", db=db)
    assert r.exit_code == 2 and "unknown evidence rule 'sometimes'" in r.output and "required, optional" in r.output
    for name in ("bad name!", "x\ny"):  # asked or changed: no such environment can exist
        r = cli("environment", name, db=db)
        assert r.exit_code == 2 and "is not an environment name" in r.output, r.output
    assert snapshot(db) == before


def test_history_of_one_environment(db):
    from orchestrator.plan.pipeline import plan
    from orchestrator.resources.store import Store

    store = Store(db)
    result = plan(store, NETWORK, [ACME])
    configs = {d.device: (d.kind, d.intended) for d in result.devices}
    in_prod = _committed(store, "env:production", configs)
    in_lab = _committed(store, "lab:/labs/a.clab.yml", configs)
    r = cli("history", "--target", "production", db=db)
    assert r.exit_code == 0 and in_prod in r.output and in_lab not in r.output, r.output
    r = cli("history", "--target", "lab", "--lab", "/labs/a.clab.yml", db=db)
    assert r.exit_code == 0 and in_lab in r.output and in_prod not in r.output, r.output
    r = cli("history", db=db)
    assert in_lab in r.output and in_prod in r.output


def test_an_old_store_files_each_device_record_under_its_transactions_target(tmp_path):
    """Migration 0006 (environments) on a store of revision 0003: one shared record per device becomes the
    record of the environment whose transaction wrote it; one naming no transaction is named."""
    import os
    import subprocess
    import sys

    from alembic import command
    from sqlalchemy import create_engine, text

    from conftest import REPO
    from orchestrator.resources.store import Store

    url = f"sqlite:///{tmp_path}/store.db"
    engine = create_engine(url)
    with engine.begin() as c:  # what revision 0003 built: the migrations up to it
        from orchestrator.resources.schema import _config, head

        command.upgrade(_config(c), "0003")
        c.execute(text("INSERT INTO transactions (id, created_at, updated_at, target, kind, state, summary, report) "
                       "VALUES ('tx-1', '1', '1', 'env:production', 'apply', 'committed', '', '{}')"))
        for dev, tx in (("olt-1", "tx-1"), ("bng-east", "tx-gone")):
            c.execute(text("INSERT INTO device_configs (device, kind, config, digest, updated_at) "
                           "VALUES (:d, 'olt-bbf', '<config/>', :t, '1')"), {"d": dev, "t": tx})
    engine.dispose()
    r = subprocess.run([sys.executable, "-m", "orchestrator", "status", "--db", url], cwd=REPO, text=True,
                       capture_output=True, timeout=120, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert r.returncode == 0, r.stderr
    from orchestrator.resources.schema import head

    assert f"upgraded the store's schema from revision 0003 to {head()}" in r.stderr  # later revisions follow 0006
    assert "warning: the record of bng-east names no transaction, so no environment: dropped" in r.stderr, r.stderr
    store = Store(url)
    with store.transaction(write=False) as s:
        assert {d: r.digest for d, r in Store.device_configs(s, "env:production").items()} == {"olt-1": "tx-1"}


def test_drift_of_an_environment_given_nothing_says_so(db, monkeypatch):
    """Nothing applied there yet: drift says there is nothing to compare (it printed nothing)."""
    monkeypatch.setenv("FULLBARS_NETCONF_PASSWORD", "x")
    r = cli("drift", "--target", "production", "--network", NETWORK, db=db)
    assert r.exit_code == 0 and "env:production: fullbars has given no device anything here" in r.stdout, r.output



def test_a_target_a_letter_from_one_in_use_is_taken_for_a_typo_until_described(db, monkeypatch, tmp_path):
    """Its record is empty: its edits would be whole configs and production's record would fall
    behind. A name unlike any in use, or one described first, is a new environment."""
    from orchestrator.resources.store import Store

    monkeypatch.setenv("FULLBARS_NETCONF_PASSWORD", "x")
    _harbour_in_production(Store(db))
    before = snapshot(db)
    for cmd in (["plan", ACME, "--target", "prodution"], ["drift", "--target", "productoin"],
                ["apply", ACME, "--target", "production2", "--dry-run"],
                ["change", "submit", ACME, "--target", "prodution", "--title", "t", "--workdir", str(tmp_path)]):
        r = cli(*cmd, db=db)
        assert r.exit_code == 2, (cmd, r.output)
        assert "has been applied to or described; did you mean production?" in r.stderr, r.stderr
        assert "fix: --target production; for a new environment, describe it first" in r.stderr
    assert snapshot(db) == before
    assert cli("plan", ACME, "--target", "staging", db=db).exit_code == 0  # unlike any in use: new
    assert cli("environment", "production2", "--description", "the second region", db=db).exit_code == 0
    r = cli("plan", ACME, "--target", "production2", db=db)
    assert r.exit_code == 0, r.output


def test_a_rollout_reaches_only_its_own_environment(db, tmp_path):
    """A SpeedUpgrade rolled out in the lab has reached no production OLT: production's rollout
    still has every wave, and a production plan keeps the lines at their old rates."""
    from orchestrator.plan.pipeline import plan
    from orchestrator.resources.store import Store
    from orchestrator.rollout import waves

    store = Store(db)
    lab, prod = "lab:/labs/a.clab.yml", "env:production"
    first = plan(store, NETWORK, [str(EXAMPLES / "bulk/hundred-shops.yaml")], environment=lab)
    configs = {d.device: (d.kind, d.intended) for d in first.devices}
    _committed(store, lab, configs)
    _committed(store, prod, configs)
    up = tmp_path / "up.yaml"
    up.write_text(UPGRADE)
    name, wp = waves.prepare(store, None, str(up), lab)
    olts = sorted(o for w in wp["waves"] for o in w["olts"])
    assert olts and wp["reached"] == []
    for w in wp["waves"]:  # each wave committed in the lab, as run_wave records it
        waves.record(store, name, w["olts"], w["wave"], _committed(store, lab, {}), lab)
    assert waves.prepare(store, None, str(up), lab)[1]["reached"] == olts
    shown = cli("status", "--format", "json", db=db)
    held = next(s["held"] for s in json.loads(shown.stdout)["services"] if s["name"] == name)
    assert [h for h in held if h.startswith("reached")] == [f"reached@{lab}={','.join(olts)}"], held
    again = waves.prepare(store, None, str(up), prod)[1]
    assert again["reached"] == [] and sorted(o for w in again["waves"] for o in w["olts"]) == olts
    # a line the upgrade raises, planned again (the upgrade not given: its reach is the store's)
    line = next(n for n in plan(store, None, [str(up)], keep=False).services[0].resources["changed-lines"])
    assert not [d.device for d in plan(store, None, stored=[line], environment=prod).devices if d.changed]
    assert [d.device for d in plan(store, None, stored=[line], environment=lab).devices if d.changed]


def test_an_old_store_files_each_rollout_reach_under_its_transactions_target(tmp_path):
    """Migration 0013 on a store of revision 0012: a reach row belongs to the environment of the
    transaction that reached it; one of no transaction (an unchanged wave) to every environment."""
    from alembic import command
    from sqlalchemy import create_engine, text

    from orchestrator.resources.schema import _config
    from orchestrator.resources.store import Store

    url = f"sqlite:///{tmp_path}/store.db"
    engine = create_engine(url)
    with engine.begin() as c:
        command.upgrade(_config(c), "0012")
        c.execute(text("INSERT INTO transactions (id, created_at, updated_at, target, kind, state, summary, report) "
                       "VALUES ('tx-1', '1', '1', 'lab:/labs/a.clab.yml', 'rollout', 'committed', '', '{}')"))
        for dev, tx in (("olt-1", "tx-1"), ("olt-3", "")):
            c.execute(text("INSERT INTO rollout_reach (intent, device, wave, tx, at) VALUES ('up', :d, 0, :t, '1')"),
                      {"d": dev, "t": tx})
    engine.dispose()
    store = Store(url)  # upgrades it
    with store.transaction(write=False) as s:
        assert Store.reach(s, "lab:/labs/a.clab.yml") == {"up": {"olt-1", "olt-3"}}
        assert Store.reach(s, "env:production") == {"up": {"olt-3"}}


def test_a_canary_wave_gives_the_shared_bng_the_new_rate_of_its_own_olt_s_lines_only(db, tmp_path):
    """The rollout's preview plans the upgrade reaching everywhere; the canary wave (one OLT) must
    then give the BNG the new rate of that OLT's lines only. It gave the BNG every line's new
    rate, kept from the preview (the lines on the other OLT were not placed again), while their
    OLT kept the old shaper."""
    from lxml import etree

    from orchestrator.plan.pipeline import plan
    from orchestrator.resources.store import Store

    store = Store(db)
    prod = "env:production"
    first = _harbour_in_production(store)
    name, wp = _rollout_prepared(store, tmp_path, UPGRADE.replace("downstream: 1000M", "downstream: 600M")
                                 .replace("    upstream: 1000M\n", ""))
    [canary] = wp["waves"][0]["olts"]
    wave = plan(store, None, stored=[name], scope={name: {canary}}, environment=prod)

    def downstream(result) -> dict[str, int]:  # line → the downstream rate its BNG subscriber gets
        ns = {"s": "urn:fullbars:yang:fullbars-bng-subscriber"}
        bng = next(d for d in result.devices if d.device.startswith("bng"))
        return {el.findtext("s:service-id", namespaces=ns): int(el.findtext("s:rates/s:downstream", namespaces=ns))
                for el in etree.fromstring(bng.intended.encode()).iterfind(".//s:subscriber", ns)}

    before, now = downstream(first), downstream(wave)
    olt_of = {sp.name: sp.resources["olt"] for sp in first.services}
    assert len(set(olt_of.values())) == 2
    want = {ln: (600_000_000 if olt_of[ln] == canary and rate < 600_000_000 else rate) for ln, rate in before.items()}
    assert now == want and now != before, (canary, olt_of, before, now)


def test_a_wave_another_rollout_of_the_change_reached_is_not_planned_or_sent_again(db, tmp_path):
    """A rollout whose process died is taken up later by an executor; if the change was rolled
    out again meanwhile (recover, then `rollout` once more), its remaining wave has been reached:
    it sends nothing. It planned the wave again from whatever the store held by then and gave
    production changes only planned, on devices not of that wave."""
    from types import SimpleNamespace

    from orchestrator.resources.store import Store
    from orchestrator.rollout import waves

    store = Store(db)
    prod = "env:production"
    _harbour_in_production(store)
    name, wp = _rollout_prepared(store, tmp_path)
    last = wp["waves"][-1]
    waves.record(store, name, last["olts"], 1, _committed(store, prod, {}), prod)  # the other rollout's wave
    row = waves.run_wave(store, name, last, SimpleNamespace(label=prod, endpoint=None), 30, "tx-zombie-w1-a1")
    assert row["outcome"] == "unchanged" and row["devices"] == [] and "already reached" in row["summary"], row


def test_a_held_suspension_of_a_line_deleted_since_is_withdrawn_when_due(db):
    """The line was deleted (and the removal applied) while its suspension was held: when the
    window ends there is nothing to suspend, so the hold ends, withdrawn. `suspend --due` failed
    on it every run instead ("no business line named ..."), and its timer ended doing nothing."""
    from orchestrator import clock
    from orchestrator.resources.store import Store, SuspensionRow
    from orchestrator.rollout import suspension

    store = Store(db)
    with store.transaction() as s:
        s.add(SuspensionRow(line="gone-line", reason="arrears", state="held", policy="p",
                            due=(clock.now() - dt.timedelta(days=1)).isoformat(timespec="seconds"), asked_at="x"))
    out = suspension.due(store, None)
    assert [(r["line"], r["outcome"]) for r in out] == [("gone-line", "withdrawn")], out
    assert [(r["line"], r["state"]) for r in suspension.listing(store)] == [("gone-line", "withdrawn")]
    assert suspension.due(store, None) == []


def test_rolling_back_a_suspension_and_that_rollback_moves_the_store_s_suspension_with_the_devices(db):
    """A suspension's transaction rolled back gives the line its service back: the suspension is
    rolled-back (the store said active, so the next plan disabled the line again); rolling back
    that rollback makes it active once more."""
    from orchestrator.resources.service_versions import rollback_hook
    from orchestrator.resources.store import Store, SuspensionRow
    from orchestrator.rollout import suspension

    store = Store(db)
    with store.transaction() as s:
        s.add(SuspensionRow(line="shop-1", reason="arrears", state="active", asked_at="x", tx="tx-suspend"))
    for undone, by, state in (("tx-suspend", "tx-back", "rolled-back"), ("tx-back", "tx-again", "active")):
        _, hook = rollback_hook(store, undone)
        with store.transaction() as s:
            hook(s, by)
        assert [r["state"] for r in suspension.listing(store)] == [state]


def test_recover_reads_the_network_the_store_remembers_for_an_environment_s_transaction(db, tmp_path, monkeypatch):
    """A production apply killed mid-edit; `fullbars recover` without --network uses the network
    description the store keeps (as its help says), to find the devices. It refused: "target
    env:production needs the network description"."""
    from orchestrator.resources.store import Store, TransactionRow, TxDeviceRow

    net = tmp_path / "network.yaml"  # every device at a loopback port nothing listens on: refused at once
    net.write_text(re.sub(r"(management:\n(\s+))address: 198\.18\.", r"\1port: 9\n\2address: 127.0.",
                          (EXAMPLES / "network.yaml").read_text()))
    r = cli("plan", ACME, "--network", str(net), db=db)
    assert r.exit_code == 0, r.output
    store = Store(db)
    with store.transaction() as s:  # its process died: no owner, no lease
        s.add(TransactionRow(id="tx-killed", target="env:production", kind="apply", state="editing"))
        s.add(TxDeviceRow(tx="tx-killed", device="olt-1", kind="olt-bbf", intended="<config/>", before="<data/>"))
    monkeypatch.setenv("FULLBARS_NETCONF_PASSWORD", "not-this-one")
    r = cli("recover", db=db)
    assert r.exit_code == 0, r.output
    assert "tx-killed: was editing, now" in r.stdout and "olt-1" in r.stdout, r.stdout


def test_rolling_back_a_rollout_s_waves_oldest_first_takes_back_each_wave_s_reach(db, tmp_path):
    """Two waves on two OLTs, rolled back canary first (their devices allow any order): each
    rollback takes back its own wave's reach. The canary's took the later wave's too, and the
    later wave's then gave the canary's back: the upgrade stood as reaching an OLT running the
    old rates, and the lines' own plans raised them again."""
    from orchestrator.plan.pipeline import plan
    from orchestrator.resources import service_versions
    from orchestrator.resources.store import Store
    from orchestrator.rollout import waves
    from orchestrator.rollout.transaction import Journal

    store = Store(db)
    prod = "env:production"
    _harbour_in_production(store)
    name, wp = _rollout_prepared(store, tmp_path)
    assert len(wp["waves"]) == 2

    def committed(tx: str, hook) -> None:  # as a transaction's outcome writes it
        j = Journal(store, tx)
        j.start(prod, "rollout", [])
        with store.transaction() as s:
            hook(s, tx)
        j.state("committed", summary=tx)

    txs = []
    for w in wp["waves"]:
        result = plan(store, None, stored=[name], scope={name: set(w["olts"])}, environment=prod)
        tx = f"tx-wave-{w['wave']}"
        committed(tx, service_versions.committed(result, service_versions.befores(store, result)))
        waves.record(store, name, w["olts"], w["wave"], tx, prod)
        txs.append(tx)
    [canary], [later] = (w["olts"] for w in wp["waves"])
    assert waves.reached(store, name, prod) == {canary, later}
    committed("tx-back-0", service_versions.rollback_hook(store, txs[0])[1])
    assert waves.reached(store, name, prod) == {later}
    committed("tx-back-1", service_versions.rollback_hook(store, txs[1])[1])
    assert waves.reached(store, name, prod) == set()


def test_apply_with_no_intent_takes_the_update_planned_and_not_applied(db, tmp_path, monkeypatch):
    """An update planned for production and not applied: `fullbars apply --target production`
    with no intent goes to its devices (here none answers: the transaction is tried and rolled
    back). It said "nothing to apply: no intent given and no change pending"."""
    from orchestrator.plan.pipeline import plan
    from orchestrator.resources.store import Store

    net = tmp_path / "network.yaml"  # every device at a loopback port nothing listens on: refused at once
    net.write_text(re.sub(r"(management:\n(\s+))address: 198\.18\.", r"\1port: 9\n\2address: 127.0.",
                          (EXAMPLES / "network.yaml").read_text()))
    monkeypatch.setenv("FULLBARS_NETCONF_PASSWORD", "not-this-one")
    store = Store(db)
    ship = EXAMPLES / "lab/ship-repair.yaml"
    first = plan(store, str(net), [str(ship)], environment="env:production")
    _committed(store, "env:production", {d.device: (d.kind, d.intended) for d in first.devices})
    from orchestrator.resources import service_versions

    with store.transaction() as s:  # the services as that transaction recorded them
        service_versions.committed(first, service_versions.befores(store, first))(s, "tx-first")
    slow = tmp_path / "ship.yaml"
    slow.write_text(ship.read_text().replace("downstream: 300M", "downstream: 200M"))
    assert cli("plan", str(slow), "--target", "production", db=db).exit_code == 0
    r = cli("apply", "--target", "production", "--format", "json", db=db)  # production asks lab evidence of it
    assert r.exit_code == 2 and "requires lab evidence" in r.output, r.output
    assert cli("environment", "production", "--evidence", "optional", db=db).exit_code == 0
    r = cli("apply", "--target", "production", "--format", "json", db=db)
    assert "nothing to apply" not in r.output, r.output
    rep = json.loads(r.stdout)
    assert r.exit_code == 1 and sorted(rep["devices"]) == sorted(d.device for d in first.devices), r.output


def test_status_says_which_services_are_not_applied(db):
    """Planned lines are `not applied` until a transaction commits them (then `in service`, with
    the devices holding them per environment), in JSON and in the text."""
    from orchestrator.plan.pipeline import plan
    from orchestrator.resources import service_versions
    from orchestrator.resources.store import Store
    from orchestrator.rollout.transaction import Change, Journal, new_id

    store = Store(db)

    def shown() -> dict[str, dict]:
        return {s["name"]: s for s in json.loads(cli("status", "--format", "json", db=db).stdout)["services"]}

    first = plan(store, NETWORK, [str(p) for p in sorted((EXAMPLES / "lab").glob("*.yaml"))],
                 environment="env:production")
    names = sorted(sv.name for sv in first.services)
    assert {n: (s["state"], s["devices"]) for n, s in shown().items()} == {n: ("not applied", {}) for n in names}
    line = next(x for x in cli("status", db=db).stdout.splitlines() if "dock-office" in x)
    assert "not applied" in line, line
    tx = new_id()  # committed as apply journals it, with the services' records
    changes = [Change(d.device, d.kind, None, d.intended) for d in first.devices]
    j = Journal(store, tx)
    j.start("env:production", "apply", changes)
    j.state("committed", summary="test", remember=changes,
            also=service_versions.committed(first, service_versions.befores(store, first)))
    now = shown()
    assert {n: s["state"] for n, s in now.items()} == {n: "in service" for n in names}
    assert now["dock-office"]["devices"] == {"env:production": ["bng-east", "olt-1"]}, now["dock-office"]


def test_a_suspension_whose_transaction_fails_is_failed_and_names_it(db):
    """The devices answer on no port: the suspension's transaction rolls back (its devices not
    reached), the line stays in service, and the suspension says failed with that transaction."""
    from orchestrator.netconf.credentials import Credentials
    from orchestrator.netconf.session import Endpoint
    from orchestrator.resources.store import Store
    from orchestrator.rollout import suspension
    from orchestrator.rollout.targets import Target

    store = Store(db)
    first = _harbour_in_production(store)
    closed = Target("env:production", {d.device: Endpoint(d.device, "127.0.0.1", 9, Credentials("x", "y"), timeout=5)
                                       for d in first.devices})
    out = suspension.suspend(store, "dock-office", "request", closed)
    assert out["outcome"] == "failed" and out["tx"], out
    rows = [r for r in suspension.listing(store) if r["line"] == "dock-office"]
    assert [(r["state"], r["tx"]) for r in rows] == [("failed", out["tx"])], rows
    shown = {s["name"]: s for s in json.loads(cli("status", "--format", "json", db=db).stdout)["services"]}
    assert shown["dock-office"]["suspended"] is False
