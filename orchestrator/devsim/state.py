"""What a device says about itself: capabilities, ietf-yang-library (RFC 8525), the schemas it
serves by get-schema (RFC 6022) and ietf-netconf-monitoring state."""

from __future__ import annotations

import functools
import graphlib
from typing import NamedTuple
from xml.sax.saxutils import escape

import _libyang
from libyang.util import ly_array_iter

from orchestrator.devsim import defaults, notifications, yanglib

BASE = ["urn:ietf:params:netconf:base:1.0", "urn:ietf:params:netconf:base:1.1",
        "urn:ietf:params:netconf:capability:candidate:1.0",
        "urn:ietf:params:netconf:capability:confirmed-commit:1.0",
        "urn:ietf:params:netconf:capability:confirmed-commit:1.1",
        "urn:ietf:params:netconf:capability:rollback-on-error:1.0",
        "urn:ietf:params:netconf:capability:validate:1.0",
        "urn:ietf:params:netconf:capability:validate:1.1",
        "urn:ietf:params:netconf:capability:startup:1.0",
        "urn:ietf:params:netconf:capability:xpath:1.0"]
MON = "urn:ietf:params:xml:ns:yang:ietf-netconf-monitoring"


class ModuleInfo(NamedTuple):
    name: str
    revision: str | None
    namespace: str
    implemented: bool
    # no data nodes, rpcs, notifications, augments, deviations or submodules: nothing in it that
    # a server could implement or leave out
    definitions_only: bool
    imports: tuple[str, ...]


def all_modules(models) -> list[ModuleInfo]:
    """Every module in the device's context."""
    out = []
    idx = _libyang.ffi.new("uint32_t *")
    ctx = models.ctx.cdata
    s = _libyang.ffi.string
    while True:
        m = _libyang.lib.ly_ctx_get_module_iter(ctx, idx)
        if m == _libyang.ffi.NULL:
            break
        p = m.parsed
        only = bool(p) and not (p.data or p.augments or p.rpcs or p.notifs or p.deviations or p.includes)
        imports = tuple(s(i.name).decode() for i in ly_array_iter(p.imports)) if p else ()
        out.append(ModuleInfo(s(m.name).decode(), s(m.revision).decode() if m.revision else None, s(m.ns).decode(),
                              bool(m.implemented), only, imports))
    return out


def announced_modules(models) -> list[ModuleInfo]:
    """The modules the hello lists, each after the modules it imports.

    The hello is what a NETCONF 1.0 client (RFC 6020 5.6.4) builds its schema from: yuma123
    yangcli's autoload fetches by get-schema exactly the modules the hello lists, and resolves
    every import among them. So a module imported only for its typedefs, identities, groupings or
    extensions is listed too, as netconfd and many servers do: with nothing in it to implement,
    announcing it claims nothing RFC 7950 5.6.5 could hold against the server. One revision per
    module (RFC 7950 5.6.5: a server implements at most one): the implemented one, else the
    newest. A module with something to implement is listed only if the server implements it.
    RFC 6241 8.1 sets no order; imports come first, because yangcli 2.13 compiles in hello order
    and leaves out of its session a module it met first as the import of one that failed
    (yangcli_autoload.c autoload_compile_modules keeps the failure's status for it).

    yang-library:1.0 is not announced, although /modules-state is served: RFC 8526 section 2 lets
    an NMDA server announce yang-library:1.1 instead, and yangcli 2.13, which reads every module
    and submodule from /modules-state under 1.0, crashes on the BBF submodules its compiler
    cannot parse (tests/test_client_matrix.py)."""
    chosen: dict[str, ModuleInfo] = {}
    for m in all_modules(models):
        have = chosen.get(m.name)
        if (m.implemented or m.definitions_only) and (
                have is None or not have.implemented and (m.implemented or (m.revision or "") > (have.revision or ""))):
            chosen[m.name] = m
    order = graphlib.TopologicalSorter({n: [i for i in m.imports if i in chosen] for n, m in chosen.items()})
    return [chosen[n] for n in order.static_order()]


@functools.lru_cache(maxsize=None)
def capabilities(models) -> tuple[str, ...]:
    feats = {m.name: m.features for m in models.modules}
    caps = [*BASE, defaults.CAPABILITY, *notifications.CAPABILITIES]
    for m in announced_modules(models):
        q = f"{m.namespace}?module={m.name}" + (f"&amp;revision={m.revision}" if m.revision else "")
        if feats.get(m.name):
            q += "&amp;features=" + ",".join(feats[m.name])
        caps.append(q)
    caps.append("urn:ietf:params:netconf:capability:yang-library:1.1?revision=2019-01-04&amp;content-id="
                + yanglib.content_id(models))
    return tuple(caps)


def monitoring(device, sessions) -> str:
    schemas = "".join(
        f"<schema><identifier>{n}</identifier><version>{r}</version>"
        f"<format>yang</format><namespace>{escape(ns)}</namespace><location>NETCONF</location></schema>"
        for n, r, ns in yanglib.served(device.models))
    stores = "".join(
        f"<datastore><name>{d}</name>"
        + (f"<locks><global-lock><locked-by-session>{device.locks[d]}</locked-by-session>"
           f"<locked-time>{device.lock_times[d]}</locked-time></global-lock></locks>" if d in device.locks else "")
        + "</datastore>" for d in ("running", "candidate", "startup"))
    sess = "".join(
        f"<session><session-id>{s.id}</session-id><transport>netconf-ssh</transport>"
        f"<username>{escape(s.username)}</username><source-host>{escape(s.peer)}</source-host>"
        f"<login-time>{s.login_time}</login-time><in-rpcs>{s.in_rpcs}</in-rpcs>"
        f"<in-bad-rpcs>{s.in_bad_rpcs}</in-bad-rpcs><out-rpc-errors>{s.out_errors}</out-rpc-errors>"
        f"<out-notifications>0</out-notifications></session>" for s in sessions)
    caps = "".join(f"<capability>{c}</capability>" for c in capabilities(device.models))
    return (f'<netconf-state xmlns="{MON}"><capabilities>{caps}</capabilities><datastores>{stores}</datastores>'
            f"<schemas>{schemas}</schemas><sessions>{sess}</sessions></netconf-state>")
