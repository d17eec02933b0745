"""What a device says about itself: capabilities, ietf-yang-library (RFC 8525), the schemas it
serves by get-schema (RFC 6022) and ietf-netconf-monitoring state."""

from __future__ import annotations

import functools
from xml.sax.saxutils import escape

import _libyang

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


def all_modules(models) -> list[tuple[str, str | None, str, str, bool]]:
    """(name, revision, namespace, file, implemented) of every module in the context."""
    out = []
    idx = _libyang.ffi.new("uint32_t *")
    ctx = models.ctx.cdata
    while True:
        m = _libyang.lib.ly_ctx_get_module_iter(ctx, idx)
        if m == _libyang.ffi.NULL:
            break
        s = _libyang.ffi.string
        out.append((s(m.name).decode(), s(m.revision).decode() if m.revision else None, s(m.ns).decode(),
                    s(m.filepath).decode() if m.filepath else "", bool(m.implemented)))
    return out


@functools.lru_cache(maxsize=None)
def capabilities(models) -> tuple[str, ...]:
    feats = {m.name: m.features for m in models.modules}
    caps = [*BASE, defaults.CAPABILITY, *notifications.CAPABILITIES]
    for name, rev, ns, _, implemented in all_modules(models):
        if not implemented:
            continue
        q = f"{ns}?module={name}" + (f"&amp;revision={rev}" if rev else "")
        if feats.get(name):
            q += "&amp;features=" + ",".join(feats[name])
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
