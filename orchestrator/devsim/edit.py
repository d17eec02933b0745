"""<edit-config> semantics (RFC 6241 section 7.2) on an lxml datastore: merge, replace, create,
delete, remove and none, with list entries matched by their keys from the device's schema."""

from __future__ import annotations

import copy

from lxml import etree

from orchestrator.devsim.rpcerror import NC, RpcError
from orchestrator.models.schema_index import SchemaIndex, child_tag, identity, key_shell

OP = f"{{{NC}}}operation"
OPS = ("merge", "replace", "create", "delete", "remove", "none")


def _clean(el):
    """A copy without nc:operation attributes, for storing in the datastore. It declares every
    prefix in scope where the original stood: a leaf value below it (an identityref) may use a
    prefix the client declared on an ancestor, which a plain copy would leave behind."""
    own = etree.QName(el).namespace
    # the default namespace only where it is the element's own: another one (NETCONF's, from
    # <config>) would shadow the element's namespace once lxml puts it into the datastore
    out = etree.Element(el.tag, nsmap={p: u for p, u in el.nsmap.items() if p is not None or u == own})
    for k, v in el.attrib.items():
        out.set(k, v)
    out.text = el.text
    for c in el:
        c = copy.deepcopy(c)
        meanings = _meanings(c)  # appending drops a prefix declaration that repeats one in scope
        out.append(c)
        _requalify(meanings)
    used = set()  # prefixes leaf values are written with (identityrefs): kept though no tag uses them
    for e in out.iter():
        if isinstance(e.tag, str):
            e.attrib.pop(OP, None)
            if len(e) == 0 and e.text and ":" in e.text:
                used.add(e.text.strip().partition(":")[0])
    # the request's own declarations (xmlns:nc for the operations) go with the operations: a
    # get-config echoed them back as if they were config
    etree.cleanup_namespaces(out, keep_ns_prefixes=sorted(used))
    return out


def _meanings(el) -> list:
    """(element, namespace, name) of each leaf value written prefix:name (an identityref) whose
    prefix is declared where it stands."""
    out = []
    for e in el.iter():
        if isinstance(e.tag, str) and len(e) == 0 and e.text and ":" in e.text:
            prefix, _, name = e.text.strip().partition(":")
            if e.nsmap.get(prefix):
                out.append((e, e.nsmap[prefix], name))
    return out


def _requalify(meanings) -> None:
    """lxml drops a prefix declaration that repeats a namespace already in scope where an element
    is put (xmlns:rt next to the same default namespace): write each value with a prefix, or
    none for the default namespace, that means the same namespace in its new place."""
    for e, uri, name in meanings:
        nsmap = e.nsmap
        if nsmap.get(e.text.strip().partition(":")[0]) == uri:
            continue
        if nsmap.get(None) == uri:
            e.text = name
        else:
            prefix = next((k for k, v in sorted(nsmap.items(), key=lambda kv: kv[0] or "") if k and v == uri), None)
            if prefix:
                e.text = f"{prefix}:{name}"


def _put(tree, parent, new, ident, unit, old=None) -> None:
    meanings = _meanings(new)
    if old is None:
        tree.add(parent, new, ident, unit)
    else:
        tree.swap(parent, old, new, ident, unit)
    _requalify(meanings)


def _path(spath: str, el, index: SchemaIndex) -> str:
    kw, keys = index.node(spath)
    if kw == "list":
        return spath + "".join(f"[{k}='{(el.findtext(child_tag(el, k)) or '').strip()}']" for k in keys)
    return spath


class Editor:
    """Applies an edit to a Tree: each entry is found by key, each change goes through the tree's
    undo log and names the unit it touched."""

    def __init__(self, index: SchemaIndex, continue_on_error: bool = False):
        self.index = index
        self.continue_on_error = continue_on_error
        self.errors: list[RpcError] = []

    def fail(self, err: RpcError):
        if not self.continue_on_error:
            raise err
        self.errors.append(err)

    def apply(self, tree, config, default_op: str) -> None:
        """Apply the children of `config` (an edit's <config>) to `tree`."""
        self.tree = tree
        self._children(tree.root, config, default_op, "", None, "", (), None)

    def _children(self, target, edit, parent_op, spath, ns, epath, tags, unit):
        for e in edit:
            if not isinstance(e.tag, str):
                continue
            op = e.get(OP, parent_op)
            if op not in OPS:
                self.fail(RpcError("bad-attribute", f"unknown operation {op!r}", type="protocol",
                                   info={"bad-attribute": "operation", "bad-element": etree.QName(e).localname}))
                continue
            sp, cns = self.index.step(spath, ns, e)
            kw, _ = self.index.node(sp)
            here = _path(sp, e, self.index) if kw != "unknown" else sp
            if kw == "unknown":
                qn = etree.QName(e)
                tag = "unknown-namespace" if qn.namespace not in self.index.ns_module else "unknown-element"
                self.fail(RpcError(tag, f"{qn.localname} is not in the device's models here",
                                   path=epath + "/" + qn.localname,
                                   info={"bad-element": qn.localname} | ({"bad-namespace": qn.namespace or ""}
                                                                       if tag == "unknown-namespace" else {})))
                continue
            ident = identity(self.index, sp, e)
            # the first list entry on the way down is a unit: every change at or below it is its
            here_unit = unit if unit is not None or kw != "list" else ((tags, ident), sp)
            tree = self.tree
            existing = tree.find(target, spath, ns, ident)
            leafy = kw in ("leaf", "leaf-list")
            if op in ("delete", "remove") and kw == "leaf" and self._key(spath, e):
                self.fail(RpcError("operation-not-supported", f"{etree.QName(e).localname} is a key of its list "
                                   f"entry: {op} the entry, not its key", path=here))
                continue
            if op == "none" and existing is None and not any(d.get(OP) is not None for d in e.iterdescendants()):
                self.fail(RpcError("data-missing", "default-operation none: the data is not in the datastore",
                                   path=here))
                continue
            if op == "merge" and existing is None and not leafy and not self._plain(e, sp, cns):
                op = "merge-below"  # operations inside, or one entry twice: each is applied where it goes
            if op == "create":
                if existing is not None:
                    self.fail(RpcError("data-exists", "the data to create already exists", path=here))
                else:
                    _put(tree, target, _clean(e), ident, here_unit)
            elif op == "delete":
                if existing is None:
                    self.fail(RpcError("data-missing", "the data to delete does not exist", path=here))
                else:
                    tree.drop(target, existing, ident, here_unit)
            elif op == "remove":
                if existing is not None:
                    tree.drop(target, existing, ident, here_unit)
            elif op == "replace":
                _put(tree, target, _clean(e), ident, here_unit, existing)
            elif op == "merge" and (existing is None or leafy):  # (stored whole: nothing inside acts)
                if existing is None:
                    _put(tree, target, _clean(e), ident, here_unit)
                elif _meanings(e):  # prefix:name (an identityref): the element with its declarations
                    _put(tree, target, _clean(e), ident, here_unit, existing)
                elif (existing.text or "") != (e.text or ""):
                    tree.set_text(existing, e.text, here_unit)
            else:  # merge into an existing node, or none: descend
                node = existing
                if node is None:
                    node = key_shell(self.index, sp, e)
                    tree.add(target, node, ident, here_unit)
                if not leafy:
                    self._children(node, e, "merge" if op == "merge-below" else op, sp, cns, here,
                                   tags + (e.tag,) if here_unit is None else tags, here_unit)
                if existing is None and not _has_content(node, self.index, sp):
                    tree.drop(target, node, ident, here_unit)  # 'none' created nothing below it


    def _key(self, parent_spath: str, e) -> bool:
        kw, keys = self.index.node(parent_spath) if parent_spath else ("", ())
        return kw == "list" and etree.QName(e).localname in keys

    def _plain(self, e, spath: str, ns) -> bool:
        """Nothing below `e` names an operation, and no list entry is there twice: it may be
        stored whole (a merge of new data, the common edit, without a step per leaf)."""
        seen = set()
        for c in e:
            if not isinstance(c.tag, str):
                continue
            if c.get(OP) is not None:
                return False
            csp, cns = self.index.step(spath, ns, c)
            kw, _ = self.index.node(csp)
            if kw == "list":
                ident = (c.tag, identity(self.index, csp, c))
                if ident in seen:
                    return False
                seen.add(ident)
            if len(c) and kw != "unknown" and not self._plain(c, csp, cns):
                return False
        return True


def _has_content(node, index, spath) -> bool:
    _, keys = index.node(spath)
    return any(isinstance(c.tag, str) and etree.QName(c).localname not in keys for c in node)
