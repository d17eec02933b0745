"""A network-wide NETCONF transaction: every device of a change gets it, or none does.

lock → edit candidate (the edit is computed against the device's live running config, read
under the lock) → confirmed commit with persist-id = transaction id on all → verify (read back,
plus the caller's checks) → confirming commit on all. Any failure on any device undoes every
device already touched: cancel-commit, discard, or the reverse edit for devices without
confirmed commit; each device is read back and the report says how it got back, or that it is
in doubt (unreachable). The journal is written to the store before each step, so `recover` can
finish or undo what a dead process or an unreachable device left; a transaction on a device still
in doubt is refused. The outcome and the store's record of the devices' configs are one write.
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from sqlalchemy import select, update

from orchestrator import fault_pause
from orchestrator.devices.registry import KINDS
from orchestrator.errors import Busy, FullbarsError, Problem
from orchestrator.models.schema_index import schema_index
from orchestrator.netconf.compare import missing
from orchestrator.netconf.hostkeys import HostKeyError
from orchestrator.netconf.session import CONFIRMED, RUNNING, Endpoint, Session, rpc_error_text, UNANSWERED
from orchestrator.plan import canonical
from orchestrator.plan.diff import edits
from orchestrator.resources.store import DeviceConfigRow, Store, TransactionRow, TxDeviceRow, _instant, _now
from orchestrator.rollout.drift import overwritten
from orchestrator.rollout.journal import IN_DOUBT, IN_FLIGHT, in_doubt, remember_configs, running
from orchestrator.rollout.lease import Lease, describe
from orchestrator.rollout.recover import recover
from orchestrator.rollout.revert import NotReverted, revert, runs_new
from orchestrator.rollout.timing import breakdown, timed

MAX_PARALLEL = 32


# states after which the device may run the new config (a commit whose reply was lost included)
COMMITTED = ("committed", "confirmed", "failed-commit", "failed-verify", "failed-confirm")


def _also(error: str, more: str) -> str:
    return (error + "; " if error else "") + more


def new_id() -> str:
    return "tx-" + dt.datetime.now(dt.timezone.utc).strftime("%Y%m%d-%H%M%S") + "-" + secrets.token_hex(3)


@dataclass
class Change:
    device: str
    kind: str
    endpoint: Endpoint
    intended: str  # the device's whole intended config (<config> document)
    pinned: str | None = None  # canonical sha256 running must have after the commit (lab evidence)
    owners: str | None = None  # JSON: the ownership its plan recorded for `intended` (a bundle's)


@dataclass
class DeviceResult:
    device: str
    state: str = "pending"
    strategy: str = ""
    edit: str = ""
    reverse: str = ""
    before: str = ""
    error: str = ""
    how: str = ""  # how a rollback got the device back, from reading it back
    retried: str = ""  # why its edit step was asked again on a new session (a reply that never came)
    overwritten: list = field(default_factory=list)  # out-of-band changes its edit put back (drift.overwritten)
    seconds: float = 0.0
    steps: dict[str, float] = field(default_factory=dict)  # seconds per step (STEPS) on this device
    session: Session | None = field(default=None, repr=False)
    running: object = field(default=None, repr=False)  # its running config read back, for running_checks
    confirm_by: float = float("inf")  # monotonic time its confirmed commit ends by itself


class Journal:
    """Transaction and per-device state in the store, each write its own committed transaction."""

    def __init__(self, store: Store, tx: str):
        self.store, self.tx = store, tx
        self._written: dict[tuple[str, str], str] = {}  # (device, "before" | "reverse") → the text written
        self.lease: Lease | None = None  # taken with the journal's first write

    def start(self, target: str, kind: str, changes: list[Change], owners_before: dict[str, str] | None = None) -> None:
        """owners_before: device → the ownership (JSON) of its record as the transaction begins."""
        self.created = _instant()
        with self.store.transaction() as s:
            s.add(TransactionRow(id=self.tx, target=target, kind=kind, state="started", created_at=self.created,
                                 **Lease.taken()))
            for c in changes:
                s.add(TxDeviceRow(tx=self.tx, device=c.device, kind=c.kind, intended=c.intended,
                                  owners_before=(owners_before or {}).get(c.device, ""),
                                  owners_intended=c.owners or ""))
        self.lease = Lease(self.store.engine.url, self.tx)
        self.lease.start()

    def release(self) -> None:
        """This process gives the transaction up unfinished (an error it did not expect): recover
        may take it from now on, though the process lives on (a server)."""
        if self.lease is not None:
            self.lease.stop()
        with self.store.transaction() as s:
            s.get(TransactionRow, self.tx).lease_until = ""

    def state(self, state: str, summary: str | None = None, report: dict | None = None,
              remember: list[Change] | None = None, also=None) -> None:
        """remember: the changes whose configs become the store's record of their devices, in the
        same store transaction as the outcome, so the journal and the store never disagree.
        also(session, tx): more the outcome brings (the services' records), in that transaction."""
        fault_pause.at(state)  # tests of recovery kill the process here
        ended = state not in IN_FLIGHT
        if ended and self.lease is not None:
            self.lease.stop()
        with self.store.transaction() as s:
            row = s.get(TransactionRow, self.tx)
            row.state, row.updated_at = state, _now()
            if ended:
                row.lease_until = ""
            if summary is not None:
                row.summary = summary
            if report is not None:
                row.report = json.dumps(report, sort_keys=True)
            if remember:
                remember_configs(s, self.tx, row.kind, row.target, [(c.device, c.kind, c.intended) for c in remember],
                                 owners={c.device: c.owners for c in remember if c.owners is not None})
            if also is not None:
                also(s, self.tx)

    def devices(self, results: list[DeviceResult]) -> None:
        """All devices' states in one store transaction (one sync, not one per device), as one
        UPDATE by primary key for all of them: the transaction's phases wait for it. A device's
        config before and reverse edit are written once each, when first known."""
        rows, texts = [], {}
        for r in results:
            row = {"tx": self.tx, "device": r.device, "state": r.state, "strategy": r.strategy, "error": r.error}
            for name in ("before", "reverse"):
                value = getattr(r, name)
                if value and self._written.get((r.device, name)) is not value:
                    row[name] = texts[(r.device, name)] = value
            rows.append(row)
        with self.store.transaction() as s:
            s.execute(update(TxDeviceRow), rows)
        self._written.update(texts)


class Transaction:
    def __init__(self, store: Store, changes: list[Change], target: str, kind: str = "apply",
                 confirm_timeout: int = 120, checks=None, progress=None, tx: str | None = None,
                 sessions: dict[str, Session] | None = None, on_commit=None, running_checks=None):
        """on_commit(session, tx): written with a committed outcome, in the same store transaction."""
        self.store, self.changes, self.target, self.kind = store, changes, target, kind
        self.on_commit = on_commit
        self.confirm_timeout = confirm_timeout
        self.checks = checks  # callable() -> list[str] of problems, run before confirming
        # callable({device: its running config}) -> list[str], on every device of the change, run
        # before confirming (orchestrator/plan/running_checks.py)
        self.running_checks = running_checks
        self.progress = progress
        self.tx = tx or new_id()
        self.journal = Journal(store, self.tx)
        self.results = {c.device: DeviceResult(c.device) for c in changes}
        self.previous: dict[str, str] = {}  # what the store says each device was last given
        self.timings: dict[str, float] = {}
        # Open sessions the caller keeps across transactions (a rollout's waves share their BNGs):
        # taken from here instead of connecting, given back unlocked instead of closed.
        self.sessions = sessions
        self.opened: dict[str, Session | Exception] = {}  # by _connect_first, before anything is journalled

    def _inject(self) -> None:
        """Fault injection for tests of the checks before confirming: FULLBARS_FAULT_CONFIG names
        a JSON list of config faults (device, data path, new value or deletion) put into what this
        transaction sends, as a broken template or a device's own mistake would, past the plan's
        checks (orchestrator/plan/config_faults.py)."""
        from orchestrator.plan.config_faults import apply_xml, from_env

        faults = from_env()
        stray = sorted({f.device for f in faults} - {c.device for c in self.changes})
        if stray:
            raise FullbarsError(f"FULLBARS_FAULT_CONFIG names {', '.join(stray)}, which this change does not touch",
                                fix="name devices of the change (a fault that lands nowhere proves nothing)")
        for c in self.changes:
            mine = [f for f in faults if f.device == c.device]
            if mine:
                c.intended = apply_xml(c.intended, mine)

    # --- the steps -----------------------------------------------------------------------
    def _parallel(self, step: str, fn, devices: list[str]) -> list[str]:
        """Run fn(device) on every device at once (bounded); return the devices that failed."""
        started = time.monotonic()
        failed = []
        done = 0

        def one(dev):
            r = self.results[dev]
            t0 = time.monotonic()
            try:
                fn(dev)
            except Exception as e:  # any failure of any device fails the step
                r.error = f"{step}: {rpc_error_text(e)}"
                r.state = f"failed-{step}"
                return dev
            finally:
                r.seconds += time.monotonic() - t0
            return None

        with ThreadPoolExecutor(max_workers=min(MAX_PARALLEL, max(1, len(devices)))) as pool:
            for bad in pool.map(one, devices):
                done += 1
                if bad:
                    failed.append(bad)
                if self.progress:
                    self.progress(step, done, len(devices))
        self.timings[step] = round(self.timings.get(step, 0) + time.monotonic() - started, 3)
        return failed

    def _prepare(self, dev: str) -> None:
        c = next(x for x in self.changes if x.device == dev)
        r = self.results[dev]
        opened = self.opened.pop(dev, None)
        if isinstance(opened, Exception):
            raise opened
        kept = self.sessions.pop(dev, None) if self.sessions is not None else None
        if opened is not None:  # connected (and its host key checked) by _connect_first
            if kept is not None:
                kept.close()
            r.session = opened
        elif kept is not None and kept.alive:
            kept.reuse(c.kind, c.intended, self.previous.get(dev, ""))
            r.session = kept
        else:
            if kept is not None:
                kept.close()  # the device dropped it (restarted, idle timeout): connect again
            with timed(r.steps, "connect"):
                r.session = Session(c.endpoint, c.kind, c.intended, self.previous.get(dev, ""))
        r.strategy = r.session.strategy
        try:
            self._lock_read_edit(c, r)
        except UNANSWERED as e:
            # Nothing is committed yet, and an edit of the candidate reaches nothing running: a
            # device that left a reply unanswered (a busy lab netconfd was seen to, while serving
            # the next session at once: LAB-FACTS) is asked again, once, on a new session. Not
            # on writable-running, where an unanswered edit may have been applied.
            if r.strategy == RUNNING:
                raise
            r.session.drop()
            with timed(r.steps, "connect"):
                r.session = Session(c.endpoint, c.kind, c.intended, self.previous.get(dev, ""))
            r.retried = f"{rpc_error_text(e)}; asked again on a new session"
            self._lock_read_edit(c, r, wait=c.endpoint.timeout)

    def _lock_read_edit(self, c: Change, r: DeviceResult, wait: float = 0.0) -> None:
        with timed(r.steps, "lock"):
            r.session.lock(wait)
        r.state = "locked"
        with timed(r.steps, "read"):
            r.before = r.session.running_xml()
        with timed(r.steps, "diff"):
            r.edit, r.reverse, changed = edits(schema_index(KINDS.get(c.kind).models), r.before, c.intended)
            if changed:
                r.overwritten = overwritten(c.kind, r.before, self.previous.get(c.device, ""), r.edit)
        if changed:
            with timed(r.steps, "edit"):
                r.session.edit(r.edit)
        r.state = "edited" if changed else "unchanged"

    def _commit(self, dev: str) -> None:
        r = self.results[dev]
        if r.state == "unchanged":
            return
        with timed(r.steps, "commit"):
            if r.strategy == CONFIRMED:
                r.session.commit_confirmed(self.tx, self.confirm_timeout)
                r.confirm_by = time.monotonic() + self.confirm_timeout
            else:
                r.session.commit()  # no confirmed commit: the reverse edit is the way back
        r.state = "committed"

    def _read_back(self, dev: str) -> None:
        c = next(x for x in self.changes if x.device == dev)
        r = self.results[dev]
        if r.state != "committed":  # read for the running checks only: nothing was committed here,
            try:                    # so a failed read must not make it a device to roll back
                with timed(r.steps, "read-back"):
                    r.running = r.session.running()
            except Exception:
                r.running = None
            return
        with timed(r.steps, "read-back"):
            running = r.running = r.session.running()
        gone = missing(c.intended, running)
        if gone:
            if time.monotonic() >= r.confirm_by:
                raise RuntimeError(f"after commit the running config lacks {len(gone)} intended value(s), e.g. "
                                   f"{gone[0]}: its confirm timeout ({self.confirm_timeout} s) ran out before it "
                                   f"was read back, and the device went back by itself (give a longer "
                                   f"--confirm-timeout)")
            raise RuntimeError(f"after commit the running config lacks {len(gone)} intended value(s), "
                               f"e.g. {gone[0]} (the agent answered <ok/> and did not commit)")
        if c.pinned:
            got = canonical.sha(c.kind, r.session.running_xml())
            if got != c.pinned:
                raise RuntimeError(f"after commit the running config's canonical sha256 is {got[:12]}…, not the "
                                   f"lab-verified {c.pinned[:12]}…")

    def _confirm(self, dev: str) -> None:
        r = self.results[dev]
        if r.state == "committed" and r.strategy == CONFIRMED:
            with timed(r.steps, "confirm"):
                r.session.commit(persist_id=self.tx)
                c = next(x for x in self.changes if x.device == dev)
                # an agent restarted since the commit takes a confirm of nothing pending as a plain commit
                if not runs_new(c.kind, r.session.running_xml(), c.intended, r.before):
                    raise RuntimeError("after the confirming commit the device does not run the intended config")
        r.state = "confirmed" if r.state != "unchanged" else "unchanged"

    # --- undo ----------------------------------------------------------------------------
    def _undo(self, dev: str) -> None:
        """Take the device back and say how, from what it runs afterwards. A device that cannot be
        reached is left in doubt: the journal keeps it (persist-id = the transaction id) for
        `recover`, and later transactions refuse it until then."""
        r = self.results[dev]
        if r.session is None:
            r.state, r.how = "not-reached", "no session was opened: nothing was changed on it"
            return
        if r.state not in COMMITTED:
            edited = r.session.edited
            try:
                r.session.discard()
            except Exception:
                pass  # the session's edits die with it: the device discards a locked candidate's changes
            r.state, r.how = "rolled-back", "nothing was committed" + (" (candidate discarded)" if edited else "")
            return
        c = next(x for x in self.changes if x.device == dev)
        try:
            r.how = revert(r.session, c.kind, r.before, self.tx, locked=True)
            r.state = "rolled-back"
            return
        except NotReverted as e:
            r.state, r.error = "rollback-failed", _also(r.error, f"rollback: {e}")
            return
        except Exception as e:
            lost = rpc_error_text(e)
        try:  # the session broke (an agent restarted?): one fresh session before giving up
            r.session.close()
            r.session = Session(c.endpoint, c.kind, c.intended, r.before)
            r.how = revert(r.session, c.kind, r.before, self.tx) + " (on a new session)"
            r.state = "rolled-back"
        except NotReverted as e:
            r.state, r.error = "rollback-failed", _also(r.error, f"rollback: {e}")
        except Exception as e:
            r.session = None
            r.state = IN_DOUBT
            r.error = _also(r.error, f"unreachable while rolling back ({lost}; then {rpc_error_text(e)}): in doubt, "
                                     f"persist-id {self.tx}; `fullbars recover` takes it back once it answers")

    def _close(self) -> None:
        def one(r):
            if r.session is not None:
                with timed(r.steps, "close"):
                    if self.sessions is not None and r.session.alive:
                        r.session.unlock()
                        self.sessions[r.device] = r.session
                    else:
                        r.session.close()  # which releases the lock: no unlock round trip first
                r.session = None
        with ThreadPoolExecutor(max_workers=MAX_PARALLEL) as pool:
            list(pool.map(one, self.results.values()))

    def _connect_first(self, devices: list[str]) -> None:
        """Every device shows a known host key before anything is journalled or sent: one that does
        not is refused, named with both fingerprints, and no device is touched. (A device that
        cannot be reached fails its edit step as before.)"""
        kept = self.sessions or {}
        todo = [c for c in self.changes if not (c.device in kept and kept[c.device].alive)]

        def one(c: Change):
            r = self.results[c.device]
            t0 = time.monotonic()
            try:
                with timed(r.steps, "connect"):
                    self.opened[c.device] = Session(c.endpoint, c.kind, c.intended, self.previous.get(c.device, ""))
            except Exception as e:  # noqa: BLE001 - kept for the edit step to report
                self.opened[c.device] = e
            finally:
                r.seconds += time.monotonic() - t0

        started = time.monotonic()
        with ThreadPoolExecutor(max_workers=min(MAX_PARALLEL, max(1, len(todo)))) as pool:
            list(pool.map(one, todo))
        self.timings["connect"] = round(time.monotonic() - started, 3)
        refused = [e for e in self.opened.values() if isinstance(e, HostKeyError)]
        if refused:
            for x in self.opened.values():
                if isinstance(x, Session):
                    x.close()
            raise FullbarsError([p for e in refused for p in e.problems])

    # --- the whole -----------------------------------------------------------------------
    def settle_first(self) -> None:
        """A device an unfinished transaction may have left changed is taken back first (at the
        endpoints of this change); one still in doubt after that is refused, named."""
        devices = [c.device for c in self.changes]
        held = running(self.store, devices)
        if held:
            raise _busy(held)
        if not in_doubt(self.store, devices):
            return
        recover(self.store, devices=devices, endpoints={c.device: c.endpoint for c in self.changes})
        left = in_doubt(self.store, devices)
        if left:
            raise FullbarsError([Problem(f"{d} is in doubt since transaction {tx}: it could not be reached to finish "
                                         f"or undo it (persist-id {tx})",
                                         fix="bring the device back (in a lab: fullbars lab up LAB), then run "
                                             "fullbars recover; nothing was sent to any device")
                                 for d, tx in sorted(left.items())])

    def run(self) -> dict:
        devices = [c.device for c in self.changes]
        self._inject()
        self.clock = (time.perf_counter(), time.process_time())
        _compile_meanwhile({c.kind for c in self.changes})
        self.settle_first()
        # What each device was last given: a secret-bearing kind's references to recognise what
        # it runs, and every device's baseline to name the hand changes an edit puts back.
        with self.store.transaction(write=False) as s:
            self.previous = dict(s.execute(select(DeviceConfigRow.device, DeviceConfigRow.config).where(
                DeviceConfigRow.environment == self.target, DeviceConfigRow.device.in_(devices))).all())
            # (a device the environment never gave anything held nothing of fullbars' then)
            owned = {d: "{}" for d in devices if d not in self.previous} | Store.owners_texts(s, self.previous)
        self._connect_first(devices)
        self.journal.start(self.target, self.kind, self.changes, owned)
        try:
            # Two that passed settle_first together: the later one yields before it edits anything.
            held = running(self.store, devices, before=self.journal.created)
            if held:
                for x in self.opened.values():
                    if isinstance(x, Session):
                        x.close()
                self.journal.state("rolled-back", summary=f"{self.tx}: not begun: "
                                   + "; ".join(f"{d} is being changed by {tx}" for d, (tx, _) in sorted(held.items())))
                raise _busy(held)
            return self._run(devices)
        except BaseException:
            try:
                self.journal.release()
            except Exception:  # noqa: BLE001 - the error under way is the one to report
                pass
            raise

    def _run(self, devices: list[str]) -> dict:
        outcome = "committed"
        failed: list[str] = []
        restore = _terminate_as_interrupt()
        try:
            try:
                self.journal.state("editing")
                failed = self._parallel("edit", self._prepare, devices)
                self.journal.devices(list(self.results.values()))
                if not failed:
                    self.journal.state("committing")
                    failed = self._parallel("commit", self._commit, devices)
                    self.journal.devices(list(self.results.values()))
                if not failed:
                    self.journal.state("verifying")
                    touched = [d for d in devices if self.results[d].state == "committed"]
                    failed = self._parallel("verify", self._read_back, devices if self.running_checks else touched)
                    if not failed and (self.checks or self.running_checks):
                        problems = self.running_checks({d: self.results[d].running for d in devices}) \
                            if self.running_checks else []
                        problems += self.checks() if self.checks else []
                        if problems:
                            failed = ["(service checks)"]
                            self.check_problems = problems
                if not failed:
                    # what the services' records become if this commits, kept for recover
                    pending = getattr(self.on_commit, "pending", None)
                    self.journal.state("confirming", report={"services_pending": pending} if pending else None)
                    failed = self._parallel("confirm", self._confirm, devices)
            except KeyboardInterrupt:
                # Ctrl-C or SIGTERM: the step under way has finished on every device (the pool waits
                # for it), and the devices go back now, not when their confirm timeout runs out.
                failed = [*failed, INTERRUPTED]
            if failed:
                outcome = "rolled-back"
                self._parallel("rollback", self._undo,
                               [d for d in devices if self.results[d].state not in ("pending", "unchanged")])
                if any(r.state == "rollback-failed" for r in self.results.values()):
                    outcome = "failed"
        finally:
            restore()
            self._close()
        if any(r.state == IN_DOUBT for r in self.results.values()) and outcome == "rolled-back":
            outcome = IN_DOUBT
        report = self.report(outcome, failed)
        self.journal.devices(list(self.results.values()))
        self.journal.state(outcome, summary=report["summary"], report=report,
                           remember=self.changes if outcome == "committed" else None,
                           also=self.on_commit if outcome == "committed" else None)
        return report

    def report(self, outcome: str, failed: list[str]) -> dict:
        named = [d for d in failed if d in self.results]
        if outcome == "committed":
            summary = f"{self.tx}: committed on {len(self.changes)} device(s)"
        else:
            why = "; ".join(f"{d}: {self.results[d].error}" for d in named)
            if INTERRUPTED in failed:
                why = (why + "; " if why else "") + "it was interrupted (Ctrl-C or SIGTERM) before it was confirmed"
            if "(service checks)" in failed:
                why = (why + "; " if why else "") + "service checks: " + "; ".join(getattr(self, "check_problems", []))
            # what each device really ended as, read back: rolled back, in doubt, or failed to roll back
            ended: dict[str, list[str]] = {}
            for d, r in self.results.items():
                ended.setdefault(r.state, []).append(d)
            said = "; ".join(f"{state} on {', '.join(sorted(devs))}" for state, devs in sorted(ended.items()))
            summary = f"{self.tx}: {outcome} ({said}) because {why}"
        wall0, cpu0 = getattr(self, "clock", (time.perf_counter(), time.process_time()))
        return {"tx": self.tx, "outcome": outcome, "failed": named, "summary": summary, "seconds": self.timings,
                "wall_s": round(time.perf_counter() - wall0, 3), "cpu_s": round(time.process_time() - cpu0, 3),
                "breakdown": breakdown({d: r.steps for d, r in self.results.items()}),
                "devices": {d: {"state": r.state, "strategy": r.strategy, "error": r.error, "how": r.how,
                                "seconds": round(r.seconds, 3),
                                "steps": {k: round(v, 4) for k, v in r.steps.items()},
                                **({"persist_id": self.tx} if r.state == IN_DOUBT else {}),
                                **({"retried": r.retried} if r.retried else {}),
                                **({"overwritten": r.overwritten} if r.overwritten and outcome == "committed" else {})}
                            for d, r in self.results.items()}}


INTERRUPTED = "(interrupted)"


def _busy(held: dict[str, tuple[str, str]]) -> Busy:
    return Busy([Problem(f"{d} is being changed by transaction {tx}, which {describe(owner)} is running now",
                         fix="wait for it to end (fullbars history shows it), then run this again; "
                             "nothing was sent to any device")
                 for d, (tx, owner) in sorted(held.items())])


def _terminate_as_interrupt():
    """While a transaction runs in the main thread (the CLI), SIGTERM interrupts it as Ctrl-C
    does, so that it takes the devices back and records that, instead of leaving them on an
    unconfirmed commit until the confirm timeout. Returns what puts the old handler back."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    old = signal.signal(signal.SIGTERM, interrupt)
    return lambda: signal.signal(signal.SIGTERM, old)


def _compile_meanwhile(kinds: set[str]) -> None:
    """Compile the kinds' models (for the diff after each device's read) while the devices are
    connected: libyang compiles outside the GIL, so it takes the core the SSH handshakes leave,
    instead of holding up every device of a kind at its diff. A kind that fails to compile fails
    there again, named, at the diff."""
    def compile_all():
        for kind in sorted(kinds):
            try:
                schema_index(KINDS.get(kind).models)
            except Exception:  # noqa: BLE001 - raised again at the diff, where it is reported
                pass
    threading.Thread(target=compile_all, name="compile-models", daemon=True).start()


def history(store: Store, limit: int = 50, environment: str | None = None) -> list[TransactionRow]:
    """Newest first; environment: only the transactions of that target."""
    q = select(TransactionRow)
    if environment is not None:
        q = q.where(TransactionRow.target == environment)
    with store.transaction() as s:
        return list(s.scalars(q.order_by(TransactionRow.created_at.desc()).limit(limit)))


def devices_of(store: Store, tx: str) -> list[TxDeviceRow]:
    with store.transaction() as s:
        return list(s.scalars(select(TxDeviceRow).where(TxDeviceRow.tx == tx)))
