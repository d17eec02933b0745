"""NETCONF over SSH (RFC 6241, RFC 6242) for simulated devices, on asyncssh.

One process serves any number of devices, each on its own address and port; each device has
its own state dir (datastores, SSH host key). Sessions are isolated: a bad message closes only
the session that sent it.
"""

from __future__ import annotations

import asyncio
import copy
import hmac
import datetime as dt
import itertools
import logging
import threading
from pathlib import Path

import asyncssh
from lxml import etree
from xml.sax.saxutils import escape

from orchestrator.devsim import defaults, filters, nmda, notifications, state, yanglib
from orchestrator.devsim.device import DATASTORES, Device, body, empty
from orchestrator.devsim.errorpath import netconf_path
from orchestrator.devsim.operational import operational_root
from orchestrator.devsim.framing import Framer, FramingError, TooBig, frame
from orchestrator.devsim.resident import RESIDENT
from orchestrator.devsim.rpcerror import NC, RpcError, RpcErrors
from orchestrator.devsim.throttle import LoginThrottle
from orchestrator.devsim.worker import offload

log = logging.getLogger("fullbars.devsim")
Q = f"{{{NC}}}"
MAX_MESSAGE = 64 * 1024 * 1024
_PARSER = etree.XMLParser(remove_blank_text=True, resolve_entities=False, no_network=True, huge_tree=False)
_ids = itertools.count(1)
_EOF = object()


class Auth:
    """Password and/or public-key logins; the password is compared, never logged."""

    def __init__(self, user: str | None = None, password: str | None = None, authorized_keys: str | None = None):
        self.user, self.password, self.authorized_keys = user, password, authorized_keys
        self.throttle = LoginThrottle()


class _Server(asyncssh.SSHServer):
    def __init__(self, device: Device, auth: Auth):
        self.device, self.auth = device, auth
        self.conn = None

    def connection_made(self, conn):
        self.conn = conn

    def begin_auth(self, username: str) -> bool:
        if self.auth.authorized_keys and username == self.auth.user:
            self.conn.set_authorized_keys(self.auth.authorized_keys)  # keys open only this user's door
        return True

    def password_auth_supported(self) -> bool:
        return self.auth.password is not None

    async def validate_password(self, username: str, password: str) -> bool:
        peer = str((self.conn.get_extra_info("peername") or ("?",))[0])
        return await self.auth.throttle.attempt(
            peer, username,
            lambda: username == self.auth.user and hmac.compare_digest(password.encode(), self.auth.password.encode()))

    def public_key_auth_supported(self) -> bool:
        return self.auth.authorized_keys is not None

    def validate_public_key(self, username: str, key) -> bool:
        return False  # only keys from the authorized_keys file set in begin_auth

    def session_requested(self):
        return Session(self.device, self.conn)


class Session(asyncssh.SSHServerSession):
    def __init__(self, device: Device, conn):
        self.device = device
        self.id = next(_ids)
        self.username = conn.get_extra_info("username") or ""
        peer = conn.get_extra_info("peername") or ("", 0)
        self.peer = str(peer[0])
        self.login_time = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        self.framer = Framer(MAX_MESSAGE)
        self.hello_done = False
        self.chan = None
        self.in_rpcs = self.in_bad_rpcs = self.out_errors = 0
        self.closed = False
        self.closing = False
        self.subscription = None  # the create-subscription filter once subscribed (RFC 5277)
        self.loop = None
        self._loop_thread = threading.get_ident()
        # rpcs wait here and are answered one after the other (RFC 6241 4.1: replies in order)
        self.queue: asyncio.Queue = asyncio.Queue()
        self.task = None

    # --- ssh plumbing ------------------------------------------------------------------
    def connection_made(self, chan):
        self.chan = chan

    def subsystem_requested(self, subsystem: str) -> bool:
        return subsystem == "netconf"

    def shell_requested(self) -> bool:
        return False

    def exec_requested(self, command: str) -> bool:
        return False

    def session_started(self):
        self.loop = asyncio.get_running_loop()
        self.task = self.loop.create_task(self._serve())
        self.device.sessions[self.id] = self
        caps = "".join(f"<capability>{c}</capability>" for c in state.capabilities(self.device.models))
        self._send(f'<hello xmlns="{NC}"><capabilities>{caps}</capabilities>'
                   f"<session-id>{self.id}</session-id></hello>")

    def data_received(self, data, datatype):
        try:
            for msg in self.framer.feed(data):
                if not self.hello_done:
                    self._hello(msg)  # at once: it decides how the rest of this read is framed
                else:
                    self.queue.put_nowait(msg)
                if self.closed:
                    return
        except TooBig as exc:
            self._reply_errors(None, [RpcError("too-big", str(exc), type="rpc")])
            self.close()
        except FramingError as exc:
            log.info("%s session %s: %s; closing", self.device.name, self.id, exc)
            self.close()

    def eof_received(self):
        # the client sent all it will (OpenSSH `ssh -s` writes every rpc, then EOF): answer what
        # is queued, then close
        self.queue.put_nowait(_EOF)
        return True

    def connection_lost(self, exc):
        self._gone()

    def close(self):
        if not self.closed:
            self._gone()
            if self.chan:
                self.chan.close()

    def _gone(self) -> None:
        if self.closed:
            return
        self.closed = True
        if self.task is not None:
            self.task.cancel()
        self.queue.put_nowait(None)
        # what the session held (locks, an unconfirmed commit) goes, as a writing operation
        asyncio.ensure_future(self.device.guard.run(("candidate", "running"), ("candidate", "running"),
                                                    self.device.session_gone, self.id))

    def send_notification(self, xml: str) -> None:
        self._send(xml)

    def _send(self, xml: str) -> None:
        """Thread-safe: notifications are sent from the thread a commit runs in."""
        data = frame(('<?xml version="1.0" encoding="UTF-8"?>' + xml).encode(), self.framer.chunked)
        if self.loop is not None and threading.get_ident() != self._loop_thread:
            self.loop.call_soon_threadsafe(self._write, data)
        else:
            self._write(data)

    def _write(self, data: bytes) -> None:
        if self.chan and not self.closed:
            self.chan.write(data)

    # --- messages ----------------------------------------------------------------------
    async def _serve(self) -> None:
        while True:
            raw = await self.queue.get()
            if raw is None or self.closed:
                return
            if raw is _EOF:
                self.close()
                return
            try:
                await self._message(raw)
            except Exception:  # a bug must not take the session's queue down
                log.exception("%s session %s", self.device.name, self.id)
            if self.closing:
                self.close()
                return

    def _hello(self, raw: bytes) -> None:
        raw = raw.lstrip(b" \t\r\n")
        try:
            root = etree.fromstring(raw, _PARSER)
        except etree.XMLSyntaxError as exc:  # RFC 6241 8.1: no hello, no session
            log.info("%s session %s: unreadable hello (%s); closing", self.device.name, self.id, exc)
            self.close()
            return
        if root.tag != f"{Q}hello":
            self.close()
            return
        if root.find(f"{Q}session-id") is not None:
            self.close()  # RFC 6241 8.1: a client hello with a session-id is an error
            return
        caps = [c.text.strip() for c in root.iter(f"{Q}capability") if c.text]
        self.hello_done = True
        if "urn:ietf:params:netconf:base:1.1" in caps:
            self.framer.chunked = True
        elif "urn:ietf:params:netconf:base:1.0" not in caps:
            self.close()

    async def _message(self, raw: bytes) -> None:
        # EOM framing leaves the line break that followed the previous message's mark in front
        # of the next one (scrapli, OpenSSH clients); XML allows none before its declaration.
        raw = raw.lstrip(b" \t\r\n")
        try:
            root = etree.fromstring(raw, _PARSER) if len(raw) < 65536 else await offload(etree.fromstring, raw, _PARSER)
        except etree.XMLSyntaxError as exc:
            self.in_bad_rpcs += 1
            self._reply_errors(None, [RpcError("malformed-message", f"not well-formed XML: {exc}", type="rpc")])
            return
        if root.tag != f"{Q}rpc":
            self.in_bad_rpcs += 1
            self._reply_errors(None, [RpcError("unknown-element", f"expected <rpc>, got {etree.QName(root).localname}",
                                               type="protocol", info={"bad-element": etree.QName(root).localname})])
            return
        mid = root.get("message-id")
        if mid is None:
            self.in_bad_rpcs += 1
            self._reply_errors(root, [RpcError("missing-attribute", "rpc without message-id", type="rpc",
                                               info={"bad-attribute": "message-id", "bad-element": "rpc"})])
            return
        self.in_rpcs += 1
        ops = [c for c in root if isinstance(c.tag, str)]
        if len(ops) != 1:
            self._reply_errors(root, [RpcError("malformed-message", "an rpc holds exactly one operation", type="rpc")])
            return
        op = ops[0]
        handler, params = HANDLERS.get(op.tag, (None, ()))
        try:
            if handler is None:
                raise RpcError("operation-not-supported", f"operation {etree.QName(op).localname} is not supported",
                               type="protocol", info={"bad-element": etree.QName(op).localname})
            _check_params(op, params)
            reads, writes = access(op)
            if writes is None and "running" in reads:
                handler = _reading_running(handler)
            try:
                result = await self.device.guard.run(reads, writes, handler, self, op)
            finally:
                RESIDENT.after_operation(self.device, _ALL)
        except RpcError as err:
            self._reply_errors(root, [err])
            return
        except RpcErrors as errs:
            self._reply_errors(root, errs.errors)
            return
        except Exception as exc:  # a bug must not take the device down: report it to the client
            log.exception("%s: %s failed", self.device.name, op.tag)
            self._reply_errors(root, [RpcError("operation-failed", f"internal error: {exc}")])
            return
        self._reply(root, result if result is not None else "<ok/>")

    def _reply(self, rpc, inner: str) -> None:
        self._send(reply_open(rpc) + inner + "</rpc-reply>")

    def _reply_errors(self, rpc, errors: list[RpcError]) -> None:
        self.out_errors += 1
        for e in errors:
            if e.path and not e.path_ns:
                e.path, e.path_ns = netconf_path(self.device.index, e.path)
        if not self.framer.chunked:  # RFC 6241 App. A: malformed-message is new in base:1.1, never sent to 1.0
            for e in errors:
                if e.tag == "malformed-message":
                    e.tag = "operation-failed"
        self._reply(rpc, "".join(e.xml() for e in errors))


def _reading_running(handler):
    """A reader of running runs beside a commit's validation, never during its swap."""
    def read(s: Session, op):
        with s.device.running_lock:
            return handler(s, op)
    return read


def reply_open(rpc) -> str:
    """<rpc-reply ...> with every attribute of the rpc, namespaced ones too (RFC 6241 4.2), escaped."""
    reply = etree.Element(f"{Q}rpc-reply", nsmap={None: NC, **{p: u for p, u in (rpc.nsmap if rpc is not None
                                                                                  else {}).items() if p}})
    for k, v in (rpc.attrib.items() if rpc is not None else ()):
        reply.set(k, v)
    text = etree.tostring(reply, encoding="unicode")
    return text[:-2] + ">"  # lxml writes the empty element as <rpc-reply .../>


def _check_params(op, allowed) -> None:
    """RFC 6241 App. A: a parameter the operation does not define is an unknown-element (or
    unknown-namespace), never silently ignored."""
    for c in op:
        if not isinstance(c.tag, str) or c.tag in allowed:
            continue
        q = etree.QName(c)
        if q.namespace not in {etree.QName(a).namespace for a in allowed} | {etree.QName(op).namespace}:
            raise RpcError("unknown-namespace", f"{q.localname} ({q.namespace}) is not a parameter of {etree.QName(op).localname}",
                           type="protocol", info={"bad-element": q.localname, "bad-namespace": q.namespace or ""})
        raise RpcError("unknown-element", f"{q.localname} is not a parameter of {etree.QName(op).localname}",
                       type="protocol", info={"bad-element": q.localname})


# --- operations ----------------------------------------------------------------------------
def _datastore(el, allowed=DATASTORES, what="source"):
    if el is None:
        raise RpcError("missing-element", f"<{what}> is missing", type="protocol", info={"bad-element": what})
    kids = [c for c in el if isinstance(c.tag, str)]
    if len(kids) != 1:
        raise RpcError("missing-element", f"<{what}> must name one datastore", type="protocol",
                       info={"bad-element": what})
    name = etree.QName(kids[0]).localname
    if name == "config" and "config" in allowed:
        return kids[0]
    if name not in allowed:
        # a datastore the device has but not for this (running without :writable-running) is an
        # operation it does not support: clients look for that tag to fall back to the candidate
        tag = "operation-not-supported" if name in DATASTORES else "invalid-value"
        raise RpcError(tag, f"{name} is not a {what} this device supports here", type="protocol",
                       info={"bad-element": what})
    return name


def _source_root(s: Session, op):
    src = _datastore(op.find(f"{Q}source"), DATASTORES + ("config",))
    if isinstance(src, str):
        return s.device.ds[src]
    root = empty()
    for c in src:
        if isinstance(c.tag, str):
            root.append(copy.deepcopy(c))
    return root


def _filtered(s: Session, root, op) -> str:
    flt = op.find(f"{Q}filter")
    if flt is None:
        return body(root)
    out = empty()
    kind = flt.get("type", "subtree")
    if kind == "subtree":
        # a datastore read as it is (not a with-defaults rendering of it): its key index helps
        tree = next((t for t in s.device.trees.values() if t.root is root), None)
        filters.subtree(root, flt, out, None if tree is None else filters.KeyLookup(tree, s.device.index))
    elif kind == "xpath":
        sel = flt.get("select")
        if not sel:
            raise RpcError("missing-attribute", "an xpath filter needs select", type="protocol",
                           info={"bad-attribute": "select", "bad-element": "filter"})
        filters.xpath(root, sel, flt.nsmap, s.device.index, out)
    else:
        raise RpcError("bad-attribute", f"unknown filter type {kind!r}", type="protocol",
                       info={"bad-attribute": "type", "bad-element": "filter"})
    return body(out)


def op_get_config(s: Session, op):
    root = defaults.report(s.device.models, _source_root(s, op), defaults.mode_of(op), config_only=True)
    return f"<data>{_filtered(s, root, op)}</data>"


def op_get(s: Session, op):
    root = operational_root(s.device)
    root = defaults.report(s.device.models, root, defaults.mode_of(op), config_only=False)
    return f"<data>{_filtered(s, root, op)}</data>"


def op_edit_config(s: Session, op):
    target = _datastore(op.find(f"{Q}target"), ("candidate",), "target")
    config = op.find(f"{Q}config")
    if config is None:
        raise RpcError("missing-element", "edit-config needs <config> (:url is not supported)", type="protocol",
                       info={"bad-element": "config"})
    s.device.edit(target, s.id, config, (op.findtext(f"{Q}default-operation") or "merge").strip(),
                  (op.findtext(f"{Q}test-option") or "").strip(),
                  (op.findtext(f"{Q}error-option") or "stop-on-error").strip())


def op_copy_config(s: Session, op):
    target = _datastore(op.find(f"{Q}target"), ("candidate", "startup"), "target")
    s.device.check_lock(target, s.id)
    root = defaults.report(s.device.models, copy.deepcopy(_source_root(s, op)), defaults.mode_of(op),
                           config_only=True)
    s.device.validate(root)
    s.device.set(target, root, s.id)


def op_delete_config(s: Session, op):
    target = _datastore(op.find(f"{Q}target"), ("startup",), "target")
    s.device.check_lock(target, s.id)
    s.device.set(target, empty(), s.id)


def op_lock(s: Session, op):
    s.device.lock(_datastore(op.find(f"{Q}target"), DATASTORES, "target"), s.id)


def op_unlock(s: Session, op):
    s.device.unlock(_datastore(op.find(f"{Q}target"), DATASTORES, "target"), s.id)


def op_discard(s: Session, op):
    s.device.check_lock("candidate", s.id)
    s.device.discard()


def op_validate(s: Session, op):
    s.device.validate(_source_root(s, op))


def op_commit(s: Session, op):
    s.device.check_lock("running", s.id)
    confirmed = op.find(f"{Q}confirmed") is not None
    timeout = op.findtext(f"{Q}confirm-timeout")
    try:
        timeout = int(timeout) if timeout else 600
        if timeout < 1:
            raise ValueError
    except ValueError:
        raise RpcError("invalid-value", "confirm-timeout is a positive number of seconds", type="protocol",
                       info={"bad-element": "confirm-timeout"}) from None
    persist = op.findtext(f"{Q}persist")
    persist_id = op.findtext(f"{Q}persist-id")
    s.device.commit(s.id, confirmed, timeout, persist, persist_id, s.loop)


def op_cancel_commit(s: Session, op):
    s.device.cancel_commit(s.id, op.findtext(f"{Q}persist-id"))


def op_close_session(s: Session, op):
    s.closing = True  # the session ends once <ok/> is sent


def op_kill_session(s: Session, op):
    sid = op.findtext(f"{Q}session-id")
    try:
        sid = int(sid)
    except (TypeError, ValueError):
        raise RpcError("invalid-value", "session-id must be a number", type="protocol",
                       info={"bad-element": "session-id"}) from None
    if sid == s.id:
        raise RpcError("invalid-value", "a session cannot kill itself; use close-session", type="protocol")
    other = s.device.sessions.get(sid)
    if other is None:
        raise RpcError("invalid-value", f"no session {sid} on this device", type="protocol",
                       info={"bad-element": "session-id"})
    s.loop.call_soon_threadsafe(other.close)  # sessions are closed on the loop; this runs in a thread


def op_get_schema(s: Session, op):
    if op.find(f"{{{state.MON}}}identifier") is None:  # RFC 6022 3.1: mandatory
        raise RpcError("missing-element", "get-schema needs an <identifier>", type="protocol",
                       info={"bad-element": "identifier"})
    ident = (op.findtext(f"{{{state.MON}}}identifier") or "").strip()
    version = (op.findtext(f"{{{state.MON}}}version") or "").strip() or None
    fmt = (op.findtext(f"{{{state.MON}}}format") or "yang").strip().split(":")[-1]
    if fmt != "yang":
        raise RpcError("invalid-value", f"format {fmt} is not served; ask for yang", info={"bad-element": "format"})
    hits = {r for n, r, _ in yanglib.served(s.device.models) if n == ident and (not version or r == version)}
    if len(hits) > 1:  # RFC 6022 3.1
        raise RpcError("operation-failed", f"{ident} is served in revisions {', '.join(sorted(hits))}: give a version",
                       app_tag="data-not-unique", info={"bad-element": "version"})
    text = yanglib.schema_text(s.device.models, ident, version) if hits else None
    if text is None:
        raise RpcError("invalid-value", f"no schema {ident}" + (f"@{version}" if version else ""),
                       info={"bad-element": "identifier"})
    return f'<data xmlns="{state.MON}">{escape(text)}</data>'


def _p(*names: str, ns: str = NC) -> tuple[str, ...]:
    return tuple(f"{{{ns}}}{n}" for n in names)


# operation -> (handler, the parameters it takes)
HANDLERS = {
    f"{Q}get-config": (op_get_config, _p("source", "filter") + _p("with-defaults", ns=defaults.WD)),
    f"{Q}get": (op_get, _p("filter") + _p("with-defaults", ns=defaults.WD)),
    f"{Q}edit-config": (op_edit_config, _p("target", "default-operation", "test-option", "error-option", "config")),
    f"{Q}copy-config": (op_copy_config, _p("target", "source") + _p("with-defaults", ns=defaults.WD)),
    f"{Q}delete-config": (op_delete_config, _p("target")),
    f"{Q}lock": (op_lock, _p("target")),
    f"{Q}unlock": (op_unlock, _p("target")),
    f"{Q}discard-changes": (op_discard, ()),
    f"{Q}validate": (op_validate, _p("source")),
    f"{Q}commit": (op_commit, _p("confirmed", "confirm-timeout", "persist", "persist-id")),
    f"{Q}cancel-commit": (op_cancel_commit, _p("persist-id")),
    f"{Q}close-session": (op_close_session, ()),
    f"{Q}kill-session": (op_kill_session, _p("session-id")),
    f"{{{state.MON}}}get-schema": (op_get_schema, _p("identifier", "version", "format", ns=state.MON)),
    f"{{{nmda.NMDA}}}get-data": (nmda.op_get_data, _p(*nmda.PARAMS["get-data"], ns=nmda.NMDA)
                                 + _p("with-defaults", ns=defaults.WD)),
    f"{{{nmda.NMDA}}}edit-data": (nmda.op_edit_data, _p(*nmda.PARAMS["edit-data"], ns=nmda.NMDA)),
    f"{{{notifications.NOTIF}}}create-subscription": (notifications.op_create_subscription,
                                                      _p(*notifications.PARAMS, ns=notifications.NOTIF) + _p("filter")),
}


_ALL = ("running", "candidate", "startup")
# what each operation reads (and writes, if it writes at all): see worker.Guard
_ACCESS = {
    f"{Q}get": (("running",), None),
    f"{{{state.MON}}}get-schema": ((), None),
    # a commit changes running only in a short swap that readers of running wait for (see
    # Device.commit): it writes the candidate, and reads running like any reader
    f"{Q}commit": (("running", "candidate"), ("candidate",)),
    f"{{{notifications.NOTIF}}}create-subscription": ((), None),
    f"{Q}edit-config": ((), ("candidate",)),
    f"{{{nmda.NMDA}}}edit-data": ((), ("candidate",)),
    f"{Q}discard-changes": ((), ("candidate",)),
    f"{Q}delete-config": ((), ("startup",)),
    f"{Q}lock": ((), ()),
    f"{Q}unlock": ((), ()),
    f"{Q}close-session": ((), ()),
}


def access(op):
    """(datastores read, datastores written or None) of an operation."""
    if op.tag in (f"{Q}get-config", f"{Q}validate"):
        src = op.find(f"{Q}source")
        names = [etree.QName(c).localname for c in (src if src is not None else ()) if isinstance(c.tag, str)]
        return tuple(n for n in names if n in _ALL), None
    if op.tag == f"{Q}copy-config":
        return _ALL, ("candidate", "startup")
    if op.tag == f"{{{nmda.NMDA}}}get-data":
        try:
            name = nmda.datastore(op, nmda.READABLE)
        except RpcError:
            return _ALL, None  # the handler refuses it
        return ("running",) if name == "operational" else (name,), None
    return _ACCESS.get(op.tag, ((), _ALL))


# --- serving -------------------------------------------------------------------------------
def host_key(state_dir: Path):
    """The device's SSH host key, made once and kept, so clients see the same device again."""
    p = Path(state_dir) / "ssh_host_ed25519_key"
    if p.exists():
        return asyncssh.read_private_key(str(p))
    key = asyncssh.generate_private_key("ssh-ed25519")
    p.parent.mkdir(parents=True, exist_ok=True)
    key.write_private_key(str(p))
    p.chmod(0o600)
    return key


async def serve(device: Device, host: str, port: int, auth: Auth):
    device.loop = asyncio.get_running_loop()
    device.on_change = lambda ds, roots, sid: notifications.config_change(device, ds, roots,
                                                                          device.sessions.get(sid))
    device.recover(asyncio.get_running_loop())
    return await asyncssh.create_server(lambda: _Server(device, auth), host, port,
                                        server_host_keys=[host_key(device.dir)], encoding=None,
                                        line_editor=False)
