"""RFC 6243 with-defaults: how data that equals a schema default is reported. devsim keeps what
clients sent (basic-mode explicit); the other modes are libyang's: the defaults the schema
implies are added (report-all, report-all-tagged, which marks them) or values equal to their
default are left out (trim)."""

from __future__ import annotations

import _libyang
import libyang
from lxml import etree

from orchestrator.devsim.device import body
from orchestrator.devsim.rpcerror import NC, RpcError

WD = "urn:ietf:params:xml:ns:yang:ietf-netconf-with-defaults"
TAG_NS = "urn:ietf:params:xml:ns:netconf:default:1.0"  # RFC 6243 section 6: the wd:default attribute's
CAPABILITY = ("urn:ietf:params:netconf:capability:with-defaults:1.0?basic-mode=explicit"
              "&amp;also-supported=report-all,report-all-tagged,trim")
_PRINT = {"trim": _libyang.lib.LYD_PRINT_WD_TRIM, "report-all": _libyang.lib.LYD_PRINT_WD_ALL,
          "report-all-tagged": _libyang.lib.LYD_PRINT_WD_ALL_TAG}
MODES = ("explicit", *_PRINT)


def mode_of(op) -> str:
    """The <with-defaults> parameter of an operation; explicit (our basic mode) when absent."""
    el = op.find(f"{{{WD}}}with-defaults")
    if el is None:
        return "explicit"
    mode = (el.text or "").strip()
    if mode not in MODES:
        raise RpcError("invalid-value", f"with-defaults {mode!r} is not one of {', '.join(MODES)}", type="protocol",
                       info={"bad-element": "with-defaults"})
    return mode


def report(models, root, mode: str, config_only: bool):
    """`root` (a <data> element) as `mode` reports it."""
    if mode == "explicit":
        return root
    ctx = models.ctx
    text = body(root)
    try:
        tree = ctx.parse_data_mem(text, "xml", strict=True, parse_only=True) if text else None
    except libyang.LibyangError as exc:
        raise RpcError("operation-failed", f"the data cannot be read for with-defaults: {exc}") from None
    ffi, lib = _libyang.ffi, _libyang.lib
    node = ffi.new("struct lyd_node **", tree.cdata if tree is not None else ffi.NULL)
    try:
        if lib.lyd_new_implicit_all(node, ctx.cdata, lib.LYD_IMPLICIT_NO_STATE if config_only else 0,
                                    ffi.NULL) != lib.LY_SUCCESS:
            raise RpcError("operation-failed", "the schema's defaults could not be added")
        out = ffi.new("char **")
        if node[0] == ffi.NULL:
            return etree.Element(f"{{{NC}}}data", nsmap={None: NC})
        lib.lyd_print_mem(out, node[0], lib.LYD_XML, lib.LYD_PRINT_WITHSIBLINGS | lib.LYD_PRINT_SHRINK | _PRINT[mode])
        try:
            printed = ffi.string(out[0]).decode() if out[0] != ffi.NULL else ""
        finally:
            lib.free(out[0])
    finally:
        if node[0] != ffi.NULL:
            lib.lyd_free_all(node[0])
    out = etree.fromstring(f'<data xmlns="{NC}">{printed}</data>')
    # libyang tags with the YANG module's namespace; RFC 6243 has its own for the attribute
    for el in out.iter():
        if el.attrib.pop(f"{{{WD}}}default", None) is not None:
            el.set(f"{{{TAG_NS}}}default", "true")
    return out
