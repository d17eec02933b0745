"""One simulated device: its datastores (kept in its state dir, written then renamed), locks,
and the confirmed-commit state machine of RFC 6241 section 8.4 (1.1: persist, persist-id,
cancel-commit; revert on timeout and, without persist, when the confirming session is lost)."""

from __future__ import annotations

import asyncio
import copy
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

import libyang
from lxml import etree

from orchestrator.devices.registry import DeviceKind
from orchestrator.devsim.errorpath import complete
from orchestrator.devsim.yanglib import device_models
from orchestrator.devsim.edit import Editor
from orchestrator.devsim.rpcerror import NC, RpcError, RpcErrors, from_libyang
from orchestrator.plan.diff import schema_index

DATASTORES = ("running", "candidate", "startup")
_PARSER = etree.XMLParser(remove_blank_text=True, resolve_entities=False, no_network=True)


def empty() -> etree._Element:
    return etree.Element(f"{{{NC}}}data", nsmap={None: NC})


def body(root) -> str:
    return "".join(etree.tostring(c, encoding="unicode") for c in root if isinstance(c.tag, str))


@dataclass
class Pending:
    rollback: etree._Element
    persist: str | None
    owner: int
    deadline: float
    handle: asyncio.TimerHandle | None = None


class Device:
    def __init__(self, name: str, kind: DeviceKind, state_dir: Path):
        self.name = name
        self.kind = kind
        self.models = device_models(kind.models)
        self.index = schema_index(self.models)
        self.dir = Path(state_dir)
        # The datastores hold whatever secrets the config carries (a WiFi passphrase): only the
        # user running the device may read them, also files an older devsim left readable.
        self.dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(self.dir, 0o700)
        for f in self.dir.iterdir():
            if f.is_file() and not f.is_symlink():
                os.chmod(f, 0o600)
        self.ds = {n: self._load(n) for n in DATASTORES}
        if not (self.dir / "candidate.xml").exists():
            self.ds["candidate"] = copy.deepcopy(self.ds["running"])
        self.dirty = body(self.ds["candidate"]) != body(self.ds["running"])
        self.locks: dict[str, int] = {}
        self.lock_times: dict[str, str] = {}
        self.sessions: dict[int, object] = {}
        self.pending: Pending | None = None
        self.commits = 0
        # called with (datastore, old root, new root, session id or None) when running or startup
        # changes: the server sends netconf-config-change notifications from it
        self.on_change = None

    # --- persistence -------------------------------------------------------------------
    def _load(self, ds: str):
        p = self.dir / f"{ds}.xml"
        if not p.exists():
            return empty()
        return etree.fromstring(p.read_bytes(), _PARSER)

    def _write(self, name: str, data: bytes) -> None:
        tmp = self.dir / f".{name}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
        os.fchmod(fd, 0o600)  # a tmp file left by a crash keeps its old mode otherwise
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.dir / name)

    def save(self, ds: str) -> None:
        self._write(f"{ds}.xml", etree.tostring(self.ds[ds], pretty_print=True))

    def _save_pending(self) -> None:
        p = self.dir / "confirm.json"
        if self.pending is None:
            p.unlink(missing_ok=True)
            (self.dir / "rollback.xml").unlink(missing_ok=True)
            return
        self._write("rollback.xml", etree.tostring(self.pending.rollback))
        self._write("confirm.json", json.dumps({"persist": self.pending.persist, "owner": self.pending.owner,
                                                "deadline": self.pending.deadline}).encode())

    def recover(self, loop: asyncio.AbstractEventLoop) -> None:
        """After a restart: a confirmed commit left pending is reverted, unless it was persistent
        and its timeout has not run out (then the timer is armed again)."""
        p = self.dir / "confirm.json"
        if not p.exists():
            return
        st = json.loads(p.read_text())
        rollback = etree.fromstring((self.dir / "rollback.xml").read_bytes(), _PARSER)
        self.pending = Pending(rollback, st["persist"], st["owner"], st["deadline"])
        left = st["deadline"] - time.time()
        if st["persist"] is None or left <= 0:
            self.revert()
        else:
            self.pending.handle = loop.call_later(left, self.revert)

    # --- validation --------------------------------------------------------------------
    def validate(self, root) -> None:
        try:
            tree = self.models.ctx.parse_data_mem(body(root) or "", "xml", strict=True, no_state=True)
        except libyang.LibyangError as exc:
            raise complete(from_libyang(str(exc)), self.index, root) from None
        if tree is not None:
            tree.free()

    def check_syntax(self, config) -> None:
        """Types and names of an edit's content, without the datastore (cheap, at edit time)."""
        stripped = copy.deepcopy(config)
        for e in stripped.iter():
            if isinstance(e.tag, str):
                e.attrib.pop(f"{{{NC}}}operation", None)
        text = body(stripped)
        if not text:
            return
        try:
            tree = self.models.ctx.parse_data_mem(text, "xml", strict=True, parse_only=True)
        except libyang.LibyangError as exc:
            raise complete(from_libyang(str(exc)), self.index, stripped) from None
        if tree is not None:
            tree.free()

    # --- locks -------------------------------------------------------------------------
    def check_lock(self, ds: str, session: int) -> None:
        holder = self.locks.get(ds)
        if holder is not None and holder != session:
            raise RpcError("in-use", f"the {ds} datastore is locked by session {holder}", type="protocol",
                           info={"session-id": str(holder)})

    def lock(self, ds: str, session: int) -> None:
        holder = self.locks.get(ds)
        if holder is not None:
            raise RpcError("lock-denied", f"the {ds} datastore is already locked by session {holder}",
                           type="protocol", info={"session-id": str(holder)})
        if ds == "candidate" and self.dirty:
            raise RpcError("lock-denied", "the candidate has uncommitted changes; discard or commit them first",
                           type="protocol", info={"session-id": "0"})
        if ds == "running" and self.pending is not None and self.pending.owner != session:
            raise RpcError("lock-denied", "a confirmed commit of another session is pending",
                           type="protocol", info={"session-id": str(self.pending.owner)})
        self.locks[ds] = session
        self.lock_times[ds] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())

    def unlock(self, ds: str, session: int) -> None:
        holder = self.locks.get(ds)
        if holder != session:
            raise RpcError("operation-failed", f"the {ds} datastore is not locked by this session"
                           + (f" (holder: session {holder})" if holder else ""), type="protocol")
        del self.locks[ds]

    # --- changes -----------------------------------------------------------------------
    def edit(self, target: str, session: int, config, default: str, test: str, error_opt: str) -> None:
        """An edit (edit-config, edit-data) of `target` with the children of `config`. Without a
        test-option the candidate is validated at commit only: an edit may leave it incomplete
        for the next edit to finish (a leafref to an entry a later edit adds)."""
        self.check_lock(target, session)
        for what, value, allowed in (("default-operation", default, ("merge", "replace", "none")),
                                     ("test-option", test, ("", "test-then-set", "set", "test-only")),
                                     ("error-option", error_opt, ("stop-on-error", "continue-on-error",
                                                                  "rollback-on-error"))):
            if value not in allowed:
                raise RpcError("invalid-value", f"{what} {value!r} is not one of {', '.join(allowed)}",
                               type="protocol", info={"bad-element": what})
        self.check_syntax(config)
        work = copy.deepcopy(self.ds[target])
        if default == "replace":
            for c in list(work):
                work.remove(c)
        editor = Editor(self.index, continue_on_error=error_opt == "continue-on-error")
        editor.apply(work, config, "merge" if default == "replace" else default)
        if test in ("test-then-set", "test-only"):
            self.validate(work)
        if editor.errors:
            if error_opt == "continue-on-error":
                self.set(target, work)  # what succeeded stays
            raise RpcErrors(editor.errors)
        if test != "test-only":
            self.set(target, work)

    def _changed(self, ds: str, old, new, session: int | None) -> None:
        if self.on_change is not None:
            self.on_change(ds, old, new, session)

    def set(self, ds: str, root, session: int | None = None) -> None:
        old, self.ds[ds] = self.ds[ds], root
        if ds == "startup":
            self._changed(ds, old, root, session)
        if ds == "candidate":
            self.dirty = True  # comparing with running would serialize both on every edit
        self.save(ds)

    def discard(self) -> None:
        self.set("candidate", copy.deepcopy(self.ds["running"]))
        self.dirty = False

    def commit(self, session: int, confirmed: bool, timeout: int, persist: str | None,
               persist_id: str | None, loop) -> None:
        p = self.pending
        if p is not None:
            if p.persist is not None:
                if persist_id != p.persist:
                    raise RpcError("invalid-value", "a persistent confirmed commit is pending: give its persist-id",
                                   type="protocol", info={"bad-element": "persist-id"})
            elif session != p.owner:
                raise RpcError("operation-failed", f"a confirmed commit of session {p.owner} is pending",
                               type="protocol", info={"session-id": str(p.owner)})
        self.validate(self.ds["candidate"])
        if confirmed:
            rollback = p.rollback if p else copy.deepcopy(self.ds["running"])
            if p and p.handle:
                p.handle.cancel()
            self.pending = Pending(rollback, persist, session, time.time() + timeout)
            self.pending.handle = loop.call_later(timeout, self.revert)
        elif p is not None:
            if p.handle:
                p.handle.cancel()
            self.pending = None
        old, self.ds["running"] = self.ds["running"], copy.deepcopy(self.ds["candidate"])
        self.dirty = False
        self.save("running")
        self.save("candidate")
        self._save_pending()
        self.commits += 1
        self._changed("running", old, self.ds["running"], session)

    def cancel_commit(self, session: int, persist_id: str | None) -> None:
        p = self.pending
        if p is None:
            raise RpcError("operation-failed", "no confirmed commit is pending", type="protocol")
        if p.persist is not None and persist_id != p.persist:
            raise RpcError("invalid-value", "persist-id does not match the pending confirmed commit",
                           type="protocol", info={"bad-element": "persist-id"})
        if p.persist is None and session != p.owner:
            raise RpcError("operation-failed", f"the pending confirmed commit belongs to session {p.owner}",
                           type="protocol")
        self.revert()

    def revert(self) -> None:
        """Back to the running config from before the confirmed commit; candidate follows."""
        p = self.pending
        if p is None:
            return
        if p.handle:
            p.handle.cancel()
        self.pending = None
        old, self.ds["running"] = self.ds["running"], p.rollback
        self.ds["candidate"] = copy.deepcopy(p.rollback)
        self.dirty = False
        self.save("running")
        self.save("candidate")
        self._save_pending()
        self._changed("running", old, p.rollback, None)  # the server's doing, not a session's

    def session_gone(self, session: int) -> None:
        for ds, holder in list(self.locks.items()):
            if holder == session:
                del self.locks[ds]
                if ds == "candidate":
                    self.discard()  # RFC 6241 7.5: changes under a lock die with the session
        p = self.pending
        if p is not None and p.persist is None and p.owner == session:
            self.revert()
        self.sessions.pop(session, None)
