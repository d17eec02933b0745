"""A transaction in flight belongs to the process running it (rollout/lease.py): `recover` leaves
a live owner's transaction alone and says so, another transaction on its devices is refused with
409 instead of undoing it, and a dead, released or lapsed owner's transaction is recovered as
before. On SQLite and PostgreSQL; the lease's renewal on PostgreSQL."""

from __future__ import annotations

import datetime as dt
import os
import socket
import subprocess
import sys
import time

import pytest

from conftest import REPO
from test_store_postgres import fresh_database, pg_url  # noqa: F401 (pg_url: the throwaway PostgreSQL server)


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/store.db"
    return fresh_database(request.getfixturevalue("pg_url"))


def _in_flight(store, tx: str, owner: str, lease_until: str, device: str = "olt-9") -> None:
    from orchestrator.resources.store import TransactionRow, TxDeviceRow

    with store.transaction() as s:
        s.add(TransactionRow(id=tx, target="lab:lease", kind="apply", state="editing", owner=owner,
                             lease_until=lease_until))
        s.add(TxDeviceRow(tx=tx, device=device, kind="olt-bbf", intended="<config/>"))


def _state(store, tx: str) -> str:
    from orchestrator.resources.store import TransactionRow

    with store.transaction(write=False) as s:
        return s.get(TransactionRow, tx).state


def _change(device: str = "olt-9"):
    from orchestrator.netconf.credentials import Credentials
    from orchestrator.netconf.session import Endpoint
    from orchestrator.rollout.transaction import Change

    return Change(device, "olt-bbf", Endpoint(device, "127.0.0.1", 1, Credentials("nobody", "x"), timeout=2),
                  "<config/>")


def _instant(seconds: float) -> str:
    return (dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=seconds)).isoformat(timespec="seconds")


def test_a_live_owner_keeps_its_transaction(url):
    from orchestrator.errors import Busy
    from orchestrator.resources.store import Store
    from orchestrator.rollout import lease
    from orchestrator.rollout.recover import recover
    from orchestrator.rollout.transaction import Transaction

    store = Store(url)
    _in_flight(store, "tx-live", lease.me(), _instant(lease.LEASE_S))  # this test's own process
    mine = f"process {os.getpid()} on {socket.gethostname()}"
    assert recover(store) == [{"tx": "tx-live", "was": "editing", "now": "editing", "devices": {}, "running": mine}]
    assert _state(store, "tx-live") == "editing"
    r = subprocess.run([sys.executable, "-m", "orchestrator", "recover", "--db", url], cwd=REPO, text=True,
                       capture_output=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert f"tx-live: editing, left alone: {mine} is running it" in r.stdout, r.stdout
    assert _state(store, "tx-live") == "editing"
    # another transaction on its device is refused before anything is journalled or sent
    with pytest.raises(Busy) as e:
        Transaction(store, [_change()], "lab:lease", tx="tx-second").run()
    assert e.value.status == 409
    assert f"olt-9 is being changed by transaction tx-live, which {mine} is running now" in str(e.value)
    from orchestrator.resources.store import TransactionRow

    with store.transaction(write=False) as s:
        assert s.get(TransactionRow, "tx-second") is None
    assert _state(store, "tx-live") == "editing"


def test_of_two_begun_together_the_later_yields_before_it_edits(url, monkeypatch):
    """Both passed the check before either was journalled: the later one, finding the earlier
    live on its device once journalled, ends as not begun and is refused."""
    from orchestrator.errors import Busy
    from orchestrator.resources.store import Store
    from orchestrator.rollout import lease
    from orchestrator.rollout.transaction import Transaction

    store = Store(url)
    _in_flight(store, "tx-first", lease.me(), _instant(lease.LEASE_S))
    monkeypatch.setattr(Transaction, "settle_first", lambda self: None)
    with pytest.raises(Busy, match="olt-9 is being changed by transaction tx-first"):
        Transaction(store, [_change()], "lab:lease", tx="tx-later").run()
    assert _state(store, "tx-later") == "rolled-back"
    assert _state(store, "tx-first") == "editing"
    from orchestrator.resources.store import TransactionRow

    with store.transaction(write=False) as s:
        row = s.get(TransactionRow, "tx-later")
        assert "not begun: olt-9 is being changed by tx-first" in row.summary and row.lease_until == ""


def test_a_dead_released_or_lapsed_owner_is_recovered(url):
    from orchestrator.resources.store import Store
    from orchestrator.rollout import lease
    from orchestrator.rollout.recover import recover

    store = Store(url)
    gone = subprocess.Popen([sys.executable, "-c", "from orchestrator.rollout import lease; print(lease.me())"],
                            cwd=REPO, stdout=subprocess.PIPE, text=True)
    dead = gone.communicate(timeout=60)[0].strip()
    assert dead.split("|")[2] == str(gone.pid)
    _in_flight(store, "tx-dead", dead, _instant(lease.LEASE_S), device="olt-1")
    _in_flight(store, "tx-released", lease.me(), "", device="olt-2")  # its process gave it up
    _in_flight(store, "tx-elsewhere", "far-away|other-boot|42|42", _instant(lease.LEASE_S), device="olt-3")
    _in_flight(store, "tx-lapsed", "far-away|other-boot|43|43", _instant(-1), device="olt-4")
    done = {r["tx"]: r for r in recover(store, endpoints={d: _change(d).endpoint for d in ("olt-1", "olt-2", "olt-3",
                                                                                            "olt-4")})}
    assert {t: r["now"] for t, r in done.items()} == {
        "tx-dead": "rolled-back", "tx-released": "rolled-back", "tx-elsewhere": "editing", "tx-lapsed": "rolled-back"}
    assert done["tx-elsewhere"]["running"] == "process 42 on far-away"
    assert _state(store, "tx-elsewhere") == "editing"


def test_the_lease_is_renewed_on_postgresql_and_given_up_at_the_end(pg_url, monkeypatch):  # noqa: F811
    from orchestrator.resources.store import Store, TransactionRow
    from orchestrator.rollout import lease

    store = Store(fresh_database(pg_url))
    _in_flight(store, "tx-renewed", lease.me(), _instant(-60))
    monkeypatch.setattr(lease, "RENEW_S", 0.2)
    held = lease.Lease(store.engine.url, "tx-renewed")
    held.start()
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with store.transaction(write=False) as s:
                until = s.get(TransactionRow, "tx-renewed").lease_until
            if dt.datetime.fromisoformat(until) > dt.datetime.now(dt.timezone.utc):
                break
            time.sleep(0.2)
        assert dt.datetime.fromisoformat(until) > dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=10)
    finally:
        held.stop()
    assert held.thread is None


def test_a_killed_process_not_yet_reaped_is_dead():
    """Its zombie keeps the pid and start time until its parent reaps it: the transaction is
    recoverable at once, not when the parent gets round to it."""
    import signal

    from orchestrator.rollout import lease

    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        deadline = time.monotonic() + 10
        while lease._started(child.pid) is None and time.monotonic() < deadline:
            time.sleep(0.05)
        owner = f"{socket.gethostname()}|{lease._boot_id()}|{child.pid}|{lease._started(child.pid)}"
        assert lease.alive(owner, "kept")
        child.send_signal(signal.SIGKILL)
        deadline = time.monotonic() + 10
        while lease.alive(owner, "kept") and time.monotonic() < deadline:  # the kill lands
            time.sleep(0.05)
        assert not lease.alive(owner, "kept")  # its zombie is not reaped before the finally
    finally:
        child.kill()
        child.wait()


def test_a_process_in_another_pid_namespace_is_judged_by_its_lease():
    """Containers on one host share its boot and may share its host name, but a pid of another
    pid namespace is not this one's process (its pid 1 is not the host's): its lease decides. It
    was taken for the host's pid 1, which had not its start time: a live transaction was dead."""
    import shutil

    from orchestrator.rollout import lease

    if shutil.which("unshare") is None:
        pytest.fail("unshare is missing: apt install util-linux")
    child = subprocess.Popen(
        ["unshare", "--pid", "--fork", "--kill-child", sys.executable, "-c",
         "import time; from orchestrator.rollout import lease; print(lease.me(), flush=True); time.sleep(60)"],
        stdout=subprocess.PIPE, text=True, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)})
    try:
        owner = child.stdout.readline().strip()
        host, _, pid, _ = owner.split("|")
        assert host == socket.gethostname() and pid == "1", owner
        assert lease.alive(owner, _instant(lease.LEASE_S))
        assert not lease.alive(owner, _instant(-1))
    finally:
        child.kill()
        child.wait()


def test_a_recovered_transaction_records_the_ownership_its_changes_carried(url):
    """A rollback (or a bundle's apply) carries the ownership of the configs it gives; its process
    dies once the devices hold them: recover records each config with that ownership (it kept
    none, so status and later plans could not say whose each part was)."""
    import json

    from sqlalchemy import select

    from orchestrator.resources.store import Store, TransactionRow, TxDeviceRow
    from orchestrator.rollout.recover import recover
    from orchestrator.rollout.transaction import Change, Journal

    store = Store(url)
    owners = json.dumps({"/ManagedElement[id='olt-5']": ["line-a", "line-b"]})
    config = "<config><x>given back</x></config>"
    journal = Journal(store, "tx-owned")
    journal.start("lab:lease", "rollback", [Change("olt-5", "olt-bbf", None, config, owners=owners)])
    journal.release()  # its process gives it up while confirming, with nothing left to confirm
    with store.transaction() as s:
        s.get(TransactionRow, "tx-owned").state = "confirming"
        for row in s.scalars(select(TxDeviceRow).where(TxDeviceRow.tx == "tx-owned")):
            row.state = "unchanged"
    assert [r["now"] for r in recover(store, endpoints={"olt-5": _change("olt-5").endpoint})] == ["committed"]
    with store.transaction(write=False) as s:
        assert Store.owners(s, "olt-5", config) == json.loads(owners)
