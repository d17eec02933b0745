"""RFC 8526 NMDA operations: get-data from running, candidate, startup or operational, and
edit-data of the candidate (devsim writes running only by commit, as without :writable-running)."""

from __future__ import annotations

from lxml import etree

from orchestrator.devsim import defaults, filters
from orchestrator.devsim.device import body, empty
from orchestrator.devsim.operational import operational_root
from orchestrator.devsim.rpcerror import RpcError

NMDA = "urn:ietf:params:xml:ns:yang:ietf-netconf-nmda"
DS = "urn:ietf:params:xml:ns:yang:ietf-datastores"
READABLE = ("running", "candidate", "startup", "operational")
WRITABLE = ("candidate",)
PARAMS = {
    "get-data": ("datastore", "subtree-filter", "xpath-filter", "config-filter", "max-depth"),
    "edit-data": ("datastore", "default-operation", "config"),
}


def _q(name: str) -> str:
    return f"{{{NMDA}}}{name}"


def datastore(op, allowed: tuple[str, ...]) -> str:
    """The datastore an identityref names (`ds:running`), resolved through the element's prefixes."""
    el = op.find(_q("datastore"))
    if el is None:
        raise RpcError("missing-element", "datastore is missing", type="protocol", info={"bad-element": "datastore"})
    prefix, _, name = (el.text or "").strip().rpartition(":")
    if el.nsmap.get(prefix or None) != DS or name not in allowed:
        raise RpcError("invalid-value", f"{el.text!r} is not one of {', '.join('ds:' + a for a in allowed)} here",
                       type="protocol", info={"bad-element": "datastore"})
    return name


def _is_config(index, spath: str) -> bool:
    try:
        return not next(index.ctx.find_path(spath)).config_false()
    except StopIteration:
        return True


def _select(index, parent, spath: str, ns, want_config: bool, keys=()) -> bool:
    """config-filter: keep under `parent` the config nodes (want_config) or the state nodes with
    the containers and list entries (keys included) that lead to them. Whether state was found."""
    found = False
    for el in [c for c in parent if isinstance(c.tag, str)]:
        sp, cns = index.step(spath, ns, el)
        if want_config:
            if _is_config(index, sp):
                _select(index, el, sp, cns, True)
            else:
                parent.remove(el)
            continue
        if not _is_config(index, sp):
            found = True
            continue
        kw, list_keys = index.node(sp)
        if kw in ("container", "list") and _select(index, el, sp, cns, False, list_keys):
            found = True
        elif etree.QName(el).localname not in keys:
            parent.remove(el)
    return found


def _prune(parent, depth: int) -> None:
    for el in [c for c in parent if isinstance(c.tag, str)]:
        if depth <= 1:
            for c in list(el):
                el.remove(c)
        else:
            _prune(el, depth - 1)


def op_get_data(s, op):
    device = s.device
    name = datastore(op, READABLE)
    root = operational_root(device) if name == "operational" else device.ds[name]
    mode = defaults.mode_of(op)
    if name == "operational" and mode != "explicit":
        raise RpcError("invalid-value", "with-defaults is not supported on the operational datastore (no "
                       ":with-operational-defaults)", type="protocol", info={"bad-element": "with-defaults"})
    root = defaults.report(device.models, root, mode, config_only=name != "operational")
    sub, xp = op.find(_q("subtree-filter")), op.find(_q("xpath-filter"))
    if sub is not None or xp is not None:
        out = empty()
        if sub is not None:
            filters.subtree(root, sub, out)
        else:
            filters.xpath(root, (xp.text or "").strip(), xp.nsmap, device.index, out)
        root = out
    cfg = op.findtext(_q("config-filter"))
    if cfg is not None:
        if cfg.strip() not in ("true", "false"):
            raise RpcError("invalid-value", "config-filter is true or false", type="protocol",
                           info={"bad-element": "config-filter"})
        root = etree.fromstring(etree.tostring(root))
        _select(device.index, root, "", None, cfg.strip() == "true")
    depth = (op.findtext(_q("max-depth")) or "unbounded").strip()
    if depth != "unbounded":
        if not depth.isdigit() or not 1 <= int(depth) <= 65535:
            raise RpcError("invalid-value", "max-depth is 1..65535 or unbounded", type="protocol",
                           info={"bad-element": "max-depth"})
        root = etree.fromstring(etree.tostring(root))
        _prune(root, int(depth))
    return f'<data xmlns="{NMDA}">{body(root)}</data>'


def op_edit_data(s, op):
    target = datastore(op, WRITABLE)
    config = op.find(_q("config"))
    if config is None:
        raise RpcError("missing-element", "edit-data needs <config> (:url is not supported)", type="protocol",
                       info={"bad-element": "config"})
    s.device.edit(target, s.id, config, (op.findtext(_q("default-operation")) or "merge").strip(), "", "stop-on-error")
