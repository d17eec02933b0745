"""One simulated device: its datastores, locks, and the confirmed-commit state machine of RFC
6241 section 8.4 (1.1: persist, persist-id, cancel-commit; revert on timeout and, without
persist, when the confirming session is lost). Running and startup are kept by a journal
(journal.py): a commit costs what it changes. The candidate lives in memory only: after a
restart it is running again."""

from __future__ import annotations

import asyncio
import copy
import json
import os
import pickle
import threading
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import libyang
from lxml import etree

from orchestrator.devices.registry import DeviceKind
from orchestrator.devsim.edit import Editor
from orchestrator.devsim.errorpath import complete
from orchestrator.devsim.journal import Journal, part, private_write
from orchestrator.devsim.rpcerror import NC, RpcError, RpcErrors, from_libyang
from orchestrator.devsim.worker import Guard
from orchestrator.devsim.yanglib import device_models
from orchestrator.models.reach import Reach, Refs
from orchestrator.models.schema_index import schema_index
from orchestrator.models.tree import Positions, Tree, body

DATASTORES = ("running", "candidate", "startup")
_PARSER = etree.XMLParser(remove_blank_text=True, resolve_entities=False, no_network=True, huge_tree=True)
# files of the state dir before the journal: read once, then the snapshot takes over
_LEGACY = ("running.xml", "candidate.xml", "startup.xml", "confirm.json", "rollback.xml")


def empty() -> etree._Element:
    return etree.Element(f"{{{NC}}}data", nsmap={None: NC})


def holds_config(filename: str) -> bool:
    """Whether a state-dir file keeps datastore content (and so whatever secrets a config has)."""
    return filename in _LEGACY or filename == "snapshot.xml" or filename.startswith("journal.")


@dataclass
class Pending:
    persist: str | None
    owner: int
    deadline: float
    # what running held before the confirmed commit(s): per unit key (list path, element or
    # None), or a whole root when a commit replaced the frame
    units: dict = field(default_factory=dict)
    root: object = None
    valid_before: bool = True  # whether running was known valid before it (a revert restores that)
    handle: asyncio.TimerHandle | None = None
    armed: object = None  # the timer that may revert it; an older one that fires does nothing


class _Datastores:
    """device.ds[name]: the root element of a datastore (read-only use)."""

    def __init__(self, device):
        self.device = device

    def __getitem__(self, name):
        return self.device.trees[name].root


@dataclass(frozen=True)
class Packed:
    """A quiet device's datastores at rest: running and startup serialized and compressed, the
    candidate equal to running, the reference index pickled. About 0.3 MiB for an OLT of 1,000
    subscribers, where the trees and indexes take about 70 MiB."""
    running: bytes
    startup: bytes
    skeleton: bytes
    refs: bytes


def _key_json(key, sp: str) -> list:
    tags, ident = key
    rest = None if len(ident) == 1 else list(ident[1]) if isinstance(ident[1], tuple) else ident[1]
    return [list(tags), ident[0], rest, sp]


def _key_from(j):
    tags, tag, rest, sp = j
    ident = (tag,) if rest is None else (tag, tuple(rest) if isinstance(rest, list) else rest)
    return (tuple(tags), ident), sp


class Device:
    def __init__(self, name: str, kind: DeviceKind, state_dir: Path, export_running: bool = False):
        self.name = name
        self.kind = kind
        self.models = device_models(kind.models)
        self.index = schema_index(self.models)
        self.reach = Reach.of(self.models, self.index)
        self.dir = Path(state_dir)
        # the lab's personalities read running.xml; a plain device keeps only its journal
        self.export_running = export_running
        # The datastores hold whatever secrets the config carries (a WiFi passphrase): only the
        # user running the device may read them, also files an older devsim left readable.
        self.dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(self.dir, 0o700)
        for f in self.dir.iterdir():
            if f.is_file() and not f.is_symlink():
                os.chmod(f, 0o600)
        self.locks: dict[str, int] = {}
        self.lock_times: dict[str, str] = {}
        self.sessions: dict[int, object] = {}
        self.pending: Pending | None = None
        self.commits = 0
        # called with (datastore, roots, session id or None) when running or startup changes, roots()
        # giving the old and the new root (built only when asked: most changes have no listener);
        # the server sends netconf-config-change notifications from it
        self.on_change = None
        self.journal = Journal(self.dir)
        self.loop: asyncio.AbstractEventLoop | None = None  # the server's (timers are set there)
        self._loop_thread = threading.get_ident()
        self.guard = Guard()
        self._trees: dict[str, Tree] = {}
        self._refs: Refs | None = None
        self.packed: Packed | None = None  # see pack(): the datastores at rest, trees dropped
        self._unpacking = threading.Lock()
        # held by readers of running and by the short step of a commit that changes running (the
        # commit's validation and preparation run beside readers: see commit())
        self.running_lock = threading.Lock()
        self.ds = _Datastores(self)
        self.running_valid = False  # known after the load
        self._load()
        # the reach of each unit of running: what fast validation needs to know of the untouched
        self.refs = self.reach.index_refs(self.trees["running"])
        self.running_valid = self._valid(self.trees["running"].root)

    # --- trees in memory or packed ---------------------------------------------------------
    @property
    def trees(self) -> dict[str, Tree]:
        if self.packed is not None:
            self._unpack()
        return self._trees

    @property
    def refs(self) -> Refs:
        if self.packed is not None:
            self._unpack()
        return self._refs

    @refs.setter
    def refs(self, value: Refs) -> None:
        self._refs = value

    def resident_size(self) -> int:
        """About what the trees and indexes take in memory when unpacked (bytes): some 15 times
        the serialized datastores, measured on OLT configs."""
        return 15 * (self.journal.snapshot_size + self.journal.size)

    def pack(self) -> bool:
        """Drop the trees and indexes of a quiet device (nothing uncommitted in the candidate, no
        confirmed commit pending) and keep its datastores serialized and compressed; the next
        operation that reads a datastore unpacks them. Whether it packed. The caller makes sure
        no other operation of the device runs (a writer of the device's guard)."""
        if self.packed is not None or self.dirty or self.pending is not None:
            return False
        run, start = self._trees["running"], self._trees["startup"]
        self.packed = Packed(zlib.compress(etree.tostring(run.root), 1), zlib.compress(etree.tostring(start.root), 1),
                             etree.tostring(self._refs.skeleton),
                             zlib.compress(pickle.dumps(self._refs.to, pickle.HIGHEST_PROTOCOL), 1))
        self._trees.clear()
        self._refs = None
        return True

    def _unpack(self) -> None:
        with self._unpacking:  # several readers may ask at once
            p = self.packed
            if p is None:
                return
            run = etree.fromstring(zlib.decompress(p.running), _PARSER)
            refs = Refs(etree.fromstring(p.skeleton, _PARSER))
            refs.to = pickle.loads(zlib.decompress(p.refs))
            self._trees.update(running=Tree(self.index, run),
                               startup=Tree(self.index, etree.fromstring(zlib.decompress(p.startup), _PARSER)),
                               candidate=Tree(self.index, copy.deepcopy(run)))
            self._refs = refs
            self.packed = None

    # --- persistence -------------------------------------------------------------------
    def _legacy(self, name: str):
        p = self.dir / f"{name}.xml"
        return etree.fromstring(p.read_bytes(), _PARSER) if p.exists() else empty()

    def _load(self) -> None:
        snap, records = self.journal.load()
        if snap is None:
            self.trees["running"] = Tree(self.index, self._legacy("running"))
            self.trees["startup"] = Tree(self.index, self._legacy("startup"))
            conf = self.dir / "confirm.json"
            if conf.exists():
                st = json.loads(conf.read_text())
                self.pending = Pending(st["persist"], st["owner"], st["deadline"], root=self._legacy("rollback"))
        else:
            for ds in ("running", "startup"):
                el = part(snap, ds)
                root = empty()
                if el is not None:
                    for c in list(el):
                        root.append(c)
                self.trees[ds] = Tree(self.index, root)
            if snap.get("pending"):
                st = json.loads(snap.get("pending"))
                self.pending = Pending(st["persist"], st["owner"], st["deadline"], root=part(snap, "rollback"))
        for rec in records:
            self._replay(rec)
        self.trees["candidate"] = Tree(self.index, copy.deepcopy(self.trees["running"].root))
        for t in self.trees.values():
            t.reset()
        if snap is None or records:
            self._snapshot()
        self._export()

    def _replay(self, rec: dict) -> None:
        if rec["t"] == "commit":
            self._apply_commit(rec)
        elif rec["t"] == "revert":
            self._apply_revert()
        elif rec["t"] == "startup":
            self.trees["startup"].reset(etree.fromstring(rec["xml"].encode(), _PARSER))

    def _snapshot(self) -> None:
        p = self.pending
        parts = {"running": etree.tostring(self.trees["running"].root),
                 "startup": etree.tostring(self.trees["startup"].root)}
        if p is not None:
            if p.root is None:  # a unit-wise rollback is kept whole in a snapshot
                rb = Tree(self.index, copy.deepcopy(self.trees["running"].root))
                rb.put_units([(key, sp, None if old is None else copy.deepcopy(old), pos)
                              for key, (sp, old, pos) in p.units.items()])
                p.root, p.units = rb.root, {}
            parts["rollback"] = etree.tostring(p.root)
        self.journal.snapshot(parts, None if p is None else {
            "pending": json.dumps({"persist": p.persist, "owner": p.owner, "deadline": p.deadline})})
        for name in _LEGACY:
            if not (self.export_running and name == "running.xml"):
                (self.dir / name).unlink(missing_ok=True)

    def _export(self) -> None:
        if self.export_running:
            private_write(self.dir / "running.xml", etree.tostring(self.trees["running"].root), sync=False)

    def recover(self, loop: asyncio.AbstractEventLoop) -> None:
        """After a restart: a confirmed commit left pending is reverted, unless it was persistent
        and its timeout has not run out (then the timer is armed again)."""
        self.loop = loop
        p = self.pending
        if p is None:
            return
        left = p.deadline - time.time()
        if p.persist is None or left <= 0:
            self.revert()
        else:
            self._arm(p, left)

    # --- the confirm timer (set and fired on the loop; the operations run in threads) ----
    def _arm(self, p: Pending, delay: float) -> None:
        if self.loop is None:
            return  # a device without a server (a unit test): no timer
        token = p.armed = object()

        def fire():
            if self.pending is p and p.armed is token:
                asyncio.ensure_future(self.guard.run(("running", "candidate"), ("running", "candidate"),
                                                     self._timed_out, p, token))

        def arm():
            p.handle = self.loop.call_later(delay, fire)

        if threading.get_ident() == self._loop_thread:
            arm()
        else:
            self.loop.call_soon_threadsafe(arm)

    def _timed_out(self, p: Pending, token) -> None:
        if self.pending is p and p.armed is token:
            self.revert()

    def _disarm(self, p: Pending) -> None:
        p.armed = None
        h = p.handle
        if h is not None and self.loop is not None:
            self.loop.call_soon_threadsafe(h.cancel)

    # --- validation --------------------------------------------------------------------
    def _valid(self, root) -> bool:
        try:
            self.validate(root)
            return True
        except RpcError:
            return False

    def validate(self, root) -> None:
        """libyang's validation of a whole datastore."""
        try:
            tree = self.models.ctx.parse_data_mem(body(root) or "", "xml", strict=True, no_state=True)
        except libyang.LibyangError as exc:
            raise complete(from_libyang(str(exc), self.models.ctx.app_tags), self.index, root) from None
        if tree is not None:
            tree.free()

    def validate_candidate(self) -> str:
        """Validate the candidate before it becomes running: only what its changes reach when
        running was valid and reach.py can bound what they reach, else the whole of it; a
        refusal is always libyang's whole-datastore verdict. Which of the two ran."""
        cand = self.trees["candidate"]
        part_root = None
        if self.running_valid and not cand.frame_changed:
            part_root = self.reach.part(cand, self.refs)
        if part_root is not None:
            try:
                tree = self.models.ctx.parse_data_mem(body(part_root) or "", "xml", strict=True, no_state=True)
            except libyang.LibyangError:
                pass  # a part may miss what only the whole has: the whole decides
            else:
                if tree is not None:
                    tree.free()
                return "part"
        self.validate(cand.root)
        return "whole"

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
            raise complete(from_libyang(str(exc), self.models.ctx.app_tags), self.index, stripped) from None
        if tree is not None:
            tree.free()

    # --- locks -------------------------------------------------------------------------
    def check_lock(self, ds: str, session: int) -> None:
        holder = self.locks.get(ds)
        if holder is not None and holder != session:
            raise RpcError("in-use", f"the {ds} datastore is locked by session {holder}", type="protocol",
                           info={"session-id": str(holder)})

    @property
    def dirty(self) -> bool:
        cand = self.trees["candidate"]
        return bool(cand.touched) or cand.frame_changed

    def lock(self, ds: str, session: int) -> None:
        holder = self.locks.get(ds)
        if holder is not None:
            raise RpcError("lock-denied", f"the {ds} datastore is already locked by session {holder}",
                           type="protocol", info={"session-id": str(holder)})
        if ds == "candidate" and self.dirty:
            # as yuma123 netconfd answers: no session holds a lock to wait for
            raise RpcError("resource-denied", "the candidate has uncommitted changes; discard or commit them first",
                           type="protocol")
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
        for the next edit to finish (a leafref to an entry a later edit adds). A refused edit
        leaves the target as it was (its undo log is played back)."""
        self.check_lock(target, session)
        for what, value, allowed in (("default-operation", default, ("merge", "replace", "none")),
                                     ("test-option", test, ("", "test-then-set", "set", "test-only")),
                                     ("error-option", error_opt, ("stop-on-error", "continue-on-error",
                                                                  "rollback-on-error"))):
            if value not in allowed:
                raise RpcError("invalid-value", f"{what} {value!r} is not one of {', '.join(a for a in allowed if a)}",
                               type="protocol", info={"bad-element": what})
        bare = next((e for e in config.iter() if isinstance(e.tag, str) and "operation" in e.attrib), None)
        if bare is not None:  # an attribute of no namespace the data's models do not have (RFC 6241 appendix A)
            raise RpcError("unknown-attribute", "operation without the NETCONF namespace is no attribute of the "
                           "data: write nc:operation (xmlns:nc=\"urn:ietf:params:xml:ns:netconf:base:1.0\")",
                           type="protocol", info={"bad-attribute": "operation",
                                                  "bad-element": etree.QName(bare).localname})
        self.check_syntax(config)
        tree = self.trees[target]
        tree.begin()
        try:
            if default == "replace":
                root = tree.root
                for c in [c for c in root if isinstance(c.tag, str)]:
                    tree.drop(root, c, (c.tag,), None)
            editor = Editor(self.index, continue_on_error=error_opt == "continue-on-error")
            editor.apply(tree, config, "merge" if default == "replace" else default)
            if test in ("test-then-set", "test-only"):
                self.validate(tree.root)
            if editor.errors and error_opt != "continue-on-error":
                raise RpcErrors(editor.errors)
        except BaseException:
            tree.rollback()
            raise
        if test == "test-only":
            tree.rollback()
        else:
            tree.end()
        if editor.errors:  # continue-on-error: what succeeded stays
            raise RpcErrors(editor.errors)

    def _changed(self, ds: str, roots, session: int | None) -> None:
        if self.on_change is not None:
            self.on_change(ds, roots, session)

    def set(self, ds: str, root, session: int | None = None) -> None:
        """A whole datastore replaced (copy-config, delete-config)."""
        tree = self.trees[ds]
        old = tree.root
        if ds == "startup":
            self.journal.append({"t": "startup", "xml": etree.tostring(root, encoding="unicode")})
            tree.reset(root)
            self._changed(ds, lambda: (old, root), session)
        else:
            tree.reset(root)
            tree.frame_changed = True

    def discard(self) -> None:
        cand, run = self.trees["candidate"], self.trees["running"]
        if cand.frame_changed:
            cand.reset(copy.deepcopy(run.root))
        else:
            items = []
            where = Positions()
            for key, sp in cand.touched.items():
                el = run.unit(key)
                items.append((key, sp, None if el is None else copy.deepcopy(el), run.position(key, where)))
            cand.put_units(items)
        cand.reset()

    def commit(self, session: int, confirmed: bool, timeout: int, persist: str | None,
               persist_id: str | None, loop) -> str:
        """Commit the candidate; returns which validation ran ("part" or "whole")."""
        p = self.pending
        if p is not None:
            if p.persist is not None:
                if persist_id != p.persist:
                    raise RpcError("invalid-value", "a persistent confirmed commit is pending: give its persist-id",
                                   type="protocol", info={"bad-element": "persist-id"})
            elif session != p.owner:
                raise RpcError("operation-failed", f"a confirmed commit of session {p.owner} is pending",
                               type="protocol", info={"session-id": str(p.owner)})
        how = self.validate_candidate()
        cand = self.trees["candidate"]
        rec = {"t": "commit", "confirmed": confirmed, "persist": persist, "owner": session,
               "deadline": time.time() + timeout}
        if cand.frame_changed:
            rec["full"] = etree.tostring(cand.root, encoding="unicode")
        else:
            rec["units"] = []
            where = Positions()
            for key, sp in cand.touched.items():
                el = cand.unit(key)
                rec["units"].append(_key_json(key, sp) + [None if el is None else etree.tostring(el, encoding="unicode"),
                                                          None if el is None else where.of(el.getparent(), el)])
        new = self._parsed(rec)  # running's new parts, built beside it while readers read it
        # written before anything changes in memory: a kill after the write commits, before it not
        self.journal.append(rec)
        with self.running_lock:  # readers of running wait only for the swap itself
            old_units = self._apply_commit(rec, new)
        self.running_valid = True
        if self.pending is not None and confirmed:
            self.loop = self.loop or loop
            self._arm(self.pending, timeout)
        cand.reset()
        self.commits += 1
        self._after_running_change(old_units)
        if self.on_change is not None:
            self._changed("running", lambda: self._before_after(old_units), session)
        return how

    def _parsed(self, rec: dict):
        """What a commit record does to running, found without changing it: a whole new root,
        or the plan of the units it puts (Tree.plan_units)."""
        if rec.get("full") is not None:
            return etree.fromstring(rec["full"].encode(), _PARSER)
        items = []
        for j in rec["units"]:
            key, sp = _key_from(j[:4])
            items.append((key, sp, None if j[4] is None else etree.fromstring(j[4].encode(), _PARSER), j[5]))
        return self.trees["running"].plan_units(items)

    def _apply_commit(self, rec: dict, new=None):
        """Running becomes what a commit record says (`new`: the record _parsed already); the
        confirmed-commit state follows it. The units replaced (key -> (list path, old
        element)), or the old root."""
        run = self.trees["running"]
        if new is None:
            new = self._parsed(rec)
        p = self.pending
        if p is not None:
            self._disarm(p)
        if not isinstance(new, tuple):
            old = run.root
            run.reset(new)
            changed = old
        else:
            changed = run.apply_units(new)
            run.reset()
        if rec["confirmed"]:
            if p is None:
                p = Pending(rec["persist"], rec["owner"], rec["deadline"], valid_before=self.running_valid)
                if isinstance(changed, dict):
                    p.units = changed
                else:
                    p.root = changed
            else:  # a confirmed commit extending one pending: the oldest running stays the rollback
                p.persist, p.owner, p.deadline, p.handle = rec["persist"], rec["owner"], rec["deadline"], None
                if p.root is None and isinstance(changed, dict):
                    for key, v in changed.items():
                        p.units.setdefault(key, v)
                elif p.root is None:  # the frame changed too: the rollback becomes a whole root
                    rb = Tree(self.index, changed)
                    rb.put_units([(key, sp, old, pos) for key, (sp, old, pos) in p.units.items()])
                    p.root, p.units = rb.root, {}
            self.pending = p
        else:
            self.pending = None
        return changed

    def _before_after(self, changed):
        """Old and new roots holding only what a change touched (for the notification)."""
        run = self.trees["running"]
        if not isinstance(changed, dict):
            return changed, run.root
        old, new = Tree(self.index, empty()), Tree(self.index, empty())
        olds, news = [], []
        for key, (sp, el, _) in changed.items():
            old.container_path(key[0], create=True)  # the same frame on both sides: only units differ
            new.container_path(key[0], create=True)
            if el is not None:
                olds.append((key, sp, copy.deepcopy(el), None))
            now = run.unit(key)
            if now is not None:
                news.append((key, sp, copy.deepcopy(now), None))
        old.put_units(olds)
        new.put_units(news)
        return old.root, new.root

    def _after_running_change(self, changed) -> None:
        self.refs = self.reach.index_refs(self.trees["running"], self.refs, changed if isinstance(changed, dict) else None)
        if self.pending is None and self.journal.wants_snapshot():
            self._snapshot()
        self._export()

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
        if self.pending is None:
            return
        self.journal.append({"t": "revert"})
        changed = self._apply_revert()
        self._after_running_change(changed)
        if self.on_change is not None:
            self._changed("running", lambda: self._before_after(changed), None)  # the server's doing, not a session's

    def _apply_revert(self):
        p, self.pending = self.pending, None
        self._disarm(p)
        self.running_valid = p.valid_before
        run = self.trees["running"]
        if p.root is not None:
            changed = run.root
            run.reset(p.root)
        else:
            changed = run.put_units([(key, sp, old, pos) for key, (sp, old, pos) in p.units.items()])
            run.reset()
        self.trees["candidate"] = cand = Tree(self.index, copy.deepcopy(run.root))
        cand.reset()
        return changed

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
