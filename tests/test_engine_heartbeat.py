"""Executors watching each other (orchestrator/engine/heartbeat.py) on a real SQLite store: one
on another machine whose counter stops is claimed dead by exactly one watcher, which recovers it;
one that ended cleanly is recovered too (it may have left a workflow); one claimed dead while
alive is fenced; on the same machine, a silent process that lives is left alone and a gone one
is claimed at once."""

from __future__ import annotations

import subprocess
import sys
import time

from sqlalchemy import update

from orchestrator.engine.heartbeat import T, Heartbeat
from orchestrator.resources.store import Store


def _beats(url: str, eid: str, recovered: list | None = None, fenced: list | None = None,
           host: str | None = None) -> Heartbeat:
    """host: the machine it says it runs on (default: one of its own, so only its silence counts)."""
    hb = Heartbeat(url, eid, "worker", interval=3600, dead_after=0.3,
                   recover=None if recovered is None else recovered.append,
                   fenced=None if fenced is None else (lambda: fenced.append(eid)), host=host or f"machine-{eid}")
    hb.start()  # the row; the beats are driven by hand below (interval 3600: the thread stays asleep)
    return hb


def test_a_silent_executor_is_claimed_once_and_recovered(tmp_path):
    url = f"sqlite:///{tmp_path}/store.db"
    Store(url).engine.dispose()
    got_a, got_b = [], []
    a, b = _beats(url, "exec-a", got_a), _beats(url, "exec-b", got_b)
    dying = _beats(url, "exec-x")
    for w in (a, b):
        w.watch()  # first sight of everyone
    a.beat(), b.beat(), dying.beat()
    assert a.watch() == [] and b.watch() == []  # everyone's counter moved
    time.sleep(0.4)
    a.beat(), b.beat()  # exec-x beats no more
    assert a.watch() == ["exec-x"] and got_a == [["exec-x"]]
    assert b.watch() == [] and got_b == []  # claimed by a: b does not recover it again
    assert b.watch() == []


def test_a_cleanly_stopped_executor_is_recovered_and_a_fenced_one_is_told(tmp_path):
    url = f"sqlite:///{tmp_path}/store.db"
    Store(url).engine.dispose()
    got, fenced = [], []
    w = _beats(url, "exec-w", got)
    cmd = _beats(url, "exec-cmd")
    cmd.stop()  # a command that ended: whatever it left pending is recovered
    assert w.watch() == ["exec-cmd"] and got == [["exec-cmd"]]
    slow = _beats(url, "exec-slow", fenced=fenced)
    w.watch()
    time.sleep(0.4)
    assert w.watch() == ["exec-slow"]  # it did not beat in time
    slow.beat()  # alive after all: it learns it was claimed, and must stop
    assert fenced == ["exec-slow"]
    for hb in (w, slow):
        hb.stop()


def test_on_the_same_machine_the_process_table_decides(tmp_path):
    url = f"sqlite:///{tmp_path}/store.db"
    Store(url).engine.dispose()
    got = []
    w = _beats(url, "exec-w", got, host="here")
    busy = _beats(url, "exec-busy", host="here")  # this very process: alive, though it never beats again
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead = _beats(url, "exec-dead", host="here")
    with dead.engine.begin() as c:  # its row names a process that has ended
        c.execute(update(T).where(T.c.id == "exec-dead").values(pid=int(gone.stdout)))
    assert w.watch() == ["exec-dead"] and got == [["exec-dead"]]  # at first sight: no silence to wait for
    time.sleep(0.4)
    assert w.watch() == []  # exec-busy is silent longer than the limit, but its process lives
    for hb in (w, busy):
        hb.stop()
