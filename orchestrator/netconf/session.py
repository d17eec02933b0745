"""One NETCONF session per device (ncclient), with the commit strategy its capabilities allow:
candidate + confirmed-commit 1.1 (persist-id), candidate alone, or writable-running."""

from __future__ import annotations

import contextlib
import logging
import time
from dataclasses import dataclass

import ncclient.transport.session
from lxml import etree
from ncclient.operations.errors import TimeoutExpiredError
from ncclient.operations.rpc import RPCError
from ncclient.transport.errors import SSHError, TransportError

from orchestrator.netconf import hostkeys
from orchestrator.netconf.credentials import Credentials
from orchestrator.netconf.secrets import Secrets

# ncclient's session thread polls every TICK seconds: 0.1 s is added to every rpc (LAB-FACTS).
# A session's first rpc still goes through that thread (netconf/transport.py says why), the rest
# leave from the caller's thread.
ncclient.transport.session.TICK = 0.01
# ncclient logs every message sent (INFO) and received (DEBUG) whole: an edit carrying a secret
# must not reach a log, whatever level the caller configures.
logging.getLogger("ncclient.transport").setLevel(logging.WARNING)
# paramiko logs a device that cannot be reached (no SSH banner, refused) at ERROR with a traceback
# per attempt, on stderr and the server's log, on the channel ncclient gives it; the transaction
# reports it once, per device, with what was done about it.
for _channel in ("paramiko.transport", "ncclient.transport.ssh"):
    logging.getLogger(_channel).setLevel(logging.CRITICAL)

CONFIRMED = "candidate-confirmed"
CANDIDATE = "candidate"
RUNNING = "writable-running"


def rpc_error_text(exc: Exception) -> str:
    """ncclient folds several rpc-errors into one RPCError whose .tag raises: read .errors."""
    if isinstance(exc, RPCError):
        errs = getattr(exc, "errors", None) or [exc]
        parts = []
        for e in errs:
            try:
                parts.append(f"{e.tag}: {e.message or ''}".strip() + (f" at {e.path}" if e.path else ""))
            except AttributeError:
                parts.append(str(e))
        return "; ".join(parts)
    return f"{type(exc).__name__}: {exc}"


def _error_tags(exc: RPCError) -> set[str]:
    """The error-tags of every rpc-error the reply held."""
    return {getattr(e, "tag", None) for e in (getattr(exc, "errors", None) or [exc])}


def _candidate_dirty(exc: RPCError) -> bool:
    """The lock was refused because the candidate holds uncommitted changes: yuma123 netconfd
    answers resource-denied ("discard-changes needed"); a lock held by a session, lock-denied."""
    return "resource-denied" in _error_tags(exc)


def _held_elsewhere(exc: RPCError) -> bool:
    return bool(_error_tags(exc) & {"lock-denied", "in-use"})


# The device did not answer (a reply that never came, a transport that broke), as opposed to
# answering with an error: what may be asked again on a new session.
UNANSWERED = (TimeoutExpiredError, TransportError)


@dataclass
class Endpoint:
    name: str
    host: str
    port: int
    creds: Credentials
    timeout: float = 60.0
    hostkeys: tuple[str, ...] = ()  # the device's known SSH host keys ('ssh-ed25519 AAAA...')
    hostkeys_from: str = "the environment's known hosts"  # where they are recorded, for the fix


def _connect(ep: Endpoint):
    # One more try when the SSH negotiation itself breaks: on a busy 2-core machine paramiko was
    # seen failing a handshake ("Invalid packet blocking") that succeeded at once when repeated.
    # Nothing has been sent to the device yet, so a second try cannot change anything twice.
    for attempt in (1, 2):
        try:
            return hostkeys.connect(ep.name, ep.host, ep.port, ep.hostkeys, ep.hostkeys_from, ep.timeout,
                                    username=ep.creds.username, password=ep.creds.password,
                                    key_filename=ep.creds.key_file)
        except SSHError as e:
            if attempt == 2 or "Negotiation failed" not in str(e):
                raise


class Session:
    def __init__(self, ep: Endpoint, kind: str | None = None, *configs: str):
        """kind and configs (documents holding the secret references, e.g. the intended config)
        turn on secret handling for kinds with secret leaves: edits are filled with the values,
        replies masked, error texts scrubbed."""
        self.ep = ep
        self.secrets = Secrets.for_kind(kind, *configs)
        self.m = _connect(ep)
        caps = self.m.server_capabilities  # ncclient matches ":candidate" shorthands
        if ":candidate" in caps and ":confirmed-commit:1.1" in caps:
            self.strategy = CONFIRMED
        elif ":candidate" in caps:
            self.strategy = CANDIDATE
        elif ":writable-running" in caps:
            self.strategy = RUNNING
        else:
            self.m.close_session()
            raise RuntimeError(f"{ep.name} offers neither :candidate nor :writable-running")
        self.target = "running" if self.strategy == RUNNING else "candidate"
        self.edited = False  # this session edited the candidate since its last commit or discard

    @property
    def alive(self) -> bool:
        """The transport is up (ncclient notices a peer that closed it)."""
        return bool(self.m.connected)

    def reuse(self, kind: str | None, *configs: str) -> None:
        """Serve another change on this open session: its secrets come from that change's configs."""
        self.secrets = Secrets.for_kind(kind, *configs)

    def running(self):
        data = self.m.get_config(source="running").data_ele
        return self.secrets.mask(data) if self.secrets else data

    def running_xml(self) -> str:
        return etree.tostring(self.running(), encoding="unicode")

    def lock(self, wait: float = 0.0) -> None:
        """wait: seconds to keep asking while the device still holds the lock for another session
        (one this process dropped, which the device ends only when it notices the transport gone).
        A candidate holding changes no lock covers (another session's, uncommitted) is refused,
        named, and left as it is: discarding it would destroy someone else's staged work."""
        deadline = time.monotonic() + wait
        while True:
            try:
                self.discard()  # this session's own edits, left by an earlier change it served
                # Only the datastore we edit: with running locked too, yuma123 netconfd answers <ok/> to
                # cancel-commit and reverts nothing (tests/conformance), and the candidate lock already
                # keeps other writers out of the change.
                self.m.lock(self.target)
                return
            except RPCError as e:
                if self.target == "candidate" and _candidate_dirty(e):
                    raise RuntimeError(
                        f"the candidate of {self.ep.name} holds changes another session made and did not "
                        f"commit, so it cannot be locked (RFC 6241 7.5); fullbars does not discard someone "
                        f"else's work: commit or discard them on the device (<discard-changes/>), then run "
                        f"again") from None
                if time.monotonic() >= deadline or not _held_elsewhere(e):
                    raise
                time.sleep(0.5)

    def drop(self) -> None:
        """End the session without a close-session: a device that left one reply unanswered may
        leave that one unanswered too. The device ends it, and releases its locks, when the
        transport goes."""
        try:
            self.m.session.close()
        except Exception:  # noqa: BLE001 - gone already
            pass

    def unlock(self) -> None:
        """Release the lock lock() took: the edited datastore's only."""
        try:
            self.m.unlock(self.target)
        except Exception:
            pass

    @contextlib.contextmanager
    def _scrubbed(self):
        """A device may quote a value it refuses: no secret value leaves in an error text."""
        try:
            yield
        except RPCError as e:
            if self.secrets is None:
                raise
            raise RuntimeError(self.secrets.scrub(rpc_error_text(e))) from None

    def edit(self, config_xml: str) -> None:
        payload = self.secrets.fill(config_xml) if self.secrets else config_xml
        self.edited = True  # (before it is sent: a reply that never came may still have edited)
        with self._scrubbed():
            self.m.edit_config(target=self.target, config=payload)

    def commit_confirmed(self, persist: str, timeout: int) -> None:
        with self._scrubbed():
            self.m.commit(confirmed=True, timeout=str(timeout), persist=persist)
        self.edited = False

    def commit(self, persist_id: str | None = None) -> None:
        if self.target == "candidate":
            with self._scrubbed():
                self.m.commit(persist_id=persist_id) if persist_id else self.m.commit()
            self.edited = False

    def cancel(self, persist_id: str) -> None:
        self.m.cancel_commit(persist_id=persist_id)

    def discard(self) -> None:
        """Discard this session's own edits of the candidate; a candidate it did not edit may hold
        another session's, which are not its to discard."""
        if self.target == "candidate" and self.edited:
            self.m.discard_changes()
            self.edited = False

    def close(self) -> None:
        """close-session: the device releases the session's locks with it (RFC 6241 7.8), so a
        session that ends needs no unlock first. A device that does not answer still gets its
        transport closed, which ends the session there too."""
        try:
            self.m.close_session()
        except Exception:
            pass
        finally:
            self.drop()


def read_running(ep: Endpoint, kind: str | None = None, *configs: str, attempts: int = 2) -> str:
    """A device's running config, read on a session of its own, for commands that only look.

    A read changes nothing, so when a session breaks or its reply never comes it is read again
    on a new session: on a loaded 2-core machine a lab netconfd was seen leaving one get-config
    unanswered for 60 s while the next session was served at once."""
    for attempt in range(1, attempts + 1):
        sess = None
        try:
            sess = Session(ep, kind, *configs)
            return sess.running_xml()
        except UNANSWERED:
            if attempt == attempts:
                raise
            time.sleep(attempt)
        finally:
            if sess is not None:
                sess.close()
    raise AssertionError("unreachable")

