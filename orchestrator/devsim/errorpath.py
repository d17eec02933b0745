"""Complete a libyang verdict into the rpc-error RFC 6241 Appendix A asks for: libyang names a
list by its schema path only (`.../interface/type`), so the data path with the keys of the entry
at fault is found in the data that was checked, and the error-info each tag requires is added."""

from __future__ import annotations

import re

import libyang
from lxml import etree

from orchestrator.devsim.edit import _path
from orchestrator.devsim.rpcerror import RpcError
from orchestrator.models.context import module_ns
from orchestrator.models.schema_index import SchemaIndex

_QUOTED = re.compile(r'"([^"]*)"')
_MISSING = ("does not exist", "do not exist", "mandatory", "missing")


def _expansions(index: SchemaIndex, parent, steps, i, spath, ns, dpath):
    """(data path with keys, element or None) for each way `steps` runs through the data."""
    if i == len(steps):
        yield dpath, parent
        return
    mod, _, local = steps[i].rpartition(":")
    if mod:
        ns = next((u for u, m in index.ns_module.items() if m == mod), ns)
    sp = f"{spath}/{steps[i]}"
    kids = [c for c in parent if isinstance(c.tag, str) and c.tag == f"{{{ns}}}{local}"]
    if not kids:
        yield dpath + "/" + "/".join(steps[i:]), None
        return
    for kid in kids:
        yield from _expansions(index, kid, steps, i + 1, sp, ns, _path(dpath + "/" + steps[i], kid, index))


def keyed_path(index: SchemaIndex, root, path: str, message: str) -> str:
    """The data path of the node a libyang message is about, with list keys, found in `root`
    (an element whose children are the top-level data); `path` unchanged when it has keys or
    nothing in the data fits."""
    if not path or "[" in path:
        return path
    found = list(_expansions(index, root, path.strip("/").split("/"), 0, "", None, ""))
    if not found:
        return path
    low = message.lower()
    if any(w in low for w in _MISSING):
        pick = next((p for p, el in found if el is None), None)
    else:
        values = set(_QUOTED.findall(message))
        pick = next((p for p, el in found if el is not None and (el.text or "").strip() in values), None)
        pick = pick or next((p for p, el in found if el is not None), None)
    return pick or path


def complete(err: RpcError, index: SchemaIndex, root) -> RpcError:
    err.path = keyed_path(index, root, err.path, err.message)
    if err.tag == "unknown-element" and "bad-element" not in err.info:
        m = re.search(r'Node "([^"]+)" not found', err.message)
        err.info["bad-element"] = m.group(1) if m else (err.path or "").rsplit("/", 1)[-1].split(":")[-1]
    elif err.tag == "unknown-namespace" and "bad-namespace" not in err.info:
        m = _QUOTED.search(err.message)
        ns = m.group(1) if m else ""
        el = next((e for e in root.iter() if isinstance(e.tag, str) and etree.QName(e).namespace == ns), None)
        err.info["bad-element"] = etree.QName(el).localname if el is not None else ""
        err.info["bad-namespace"] = ns
    return err


_PRED = re.compile(r"\[([\w.-]+)=('[^']*'|\"[^\"]*\")\]")


def _steps(path: str) -> list[str]:
    out, cur, depth, quote = [], "", 0, None
    for ch in path:
        if quote:
            quote = None if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch == "[":
            depth += 1
        elif ch == "]":
            depth -= 1
        elif ch == "/" and depth == 0:
            out.append(cur)
            cur = ""
            continue
        cur += ch
    return [*out, cur]


def netconf_path(index: SchemaIndex, path: str) -> tuple[str, dict[str, str]]:
    """libyang's path (module names as prefixes, on the first node of each module only) as the
    XPath RFC 6241 wants in error-path: every node and key prefixed, each prefix bound to its
    namespace by an xmlns declaration on the element (the module name serves as prefix)."""
    nsmap, mod, out = {}, None, []
    for step in _steps(path):
        if not step:
            out.append(step)
            continue
        head, _, preds = step.partition("[")
        preds = "[" + preds if preds else ""
        if ":" in head:
            mod, head = head.split(":", 1)
            try:
                nsmap[mod] = module_ns(index.ctx.get_module(mod))
            except libyang.LibyangError:  # not a module of the device: the step stays as it was written
                mod = None
        if mod is None:
            out.append(step)
            continue
        preds = _PRED.sub(lambda m: f"[{m.group(1) if m.group(1) == '.' else mod + ':' + m.group(1)}={m.group(2)}]",
                          preds)
        out.append(f"{mod}:{head}{preds}")
    return "/".join(out), nsmap
