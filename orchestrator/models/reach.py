"""What a commit's validation must look at, read from the device's models.

libyang validates a whole data tree every time (CESNET/libyang#1382). An edit of one subscriber
on an OLT of thousands changes a few units (entries of outermost lists: interfaces, T-CONTs,
forwarders, see tree.py); everything else was valid at the last commit. So the models' when,
must and leafref expressions are read once, and each is classed by what it can read from a node:

* its own unit (relative paths that stay inside it): `derived-from-or-self(../../if:type, ...)`;
* one entry of an outermost list found by key with a value of its own unit: a leafref to
  `/if:interfaces/if:interface/if:name`, `/if:interfaces/if:interface[if:name = current()]/if:type`;
* the frame (what lies outside every unit);
* anything else: every entry of a list (`count(/if:interfaces/if:interface)`, a `unique` or
  `max-elements` on an outermost list), or an expression this reading does not understand
  (`deref()`, axes, `//`).

A commit is then validated by libyang on a part of the candidate: the frame, the touched units,
the units whose key-references name a touched unit, and every unit those reference. Whatever is
outside the part reads nothing that changed, so it is as valid as it was. An edit touching a list
read whole, an edit of the frame, or a model with an expression of the last class gets libyang's
validation of the whole datastore instead; so does every refusal, which keeps refusals and their
messages exactly libyang's."""

from __future__ import annotations

import copy
import re

import _libyang
import libyang
from libyang.util import ly_array_count
from lxml import etree

from orchestrator.models.schema_index import SchemaIndex, identity
from orchestrator.models.tree import Tree

_TOKEN = re.compile(r"""\s*(?:(?P<lit>'[^']*'|"[^"]*")|(?P<num>\d+(?:\.\d*)?|\.\d+)|
    (?P<op>//|::|!=|<=|>=|\.\.|[./\[\]()@,|=<>*+])|(?P<name>[A-Za-z_][\w.\-]*(?::[A-Za-z_][\w.\-]*)?)|(?P<minus>-))""",
                    re.X)
_OPERATORS = {"and", "or", "div", "mod"}
_DATA = {libyang.SNode.CONTAINER, libyang.SNode.LIST, libyang.SNode.LEAF, libyang.SNode.LEAFLIST,
         libyang.SNode.ANYDATA, libyang.SNode.ANYXML}
_STRINGY = {libyang.Type.STRING, libyang.Type.LEAFREF}


class Unknown(Exception):
    """An expression whose reach this reading cannot bound."""


def tokens(expr: str) -> list[tuple[str, str]]:
    out, pos = [], 0
    expr = expr.rstrip()
    while pos < len(expr):
        m = _TOKEN.match(expr, pos)
        if not m or m.end() == pos:
            raise Unknown(f"cannot read {expr[pos:pos + 20]!r}")
        kind = m.lastgroup
        out.append((kind, m.group(kind)))
        pos = m.end()
    return out


def _local(name: str) -> str:
    return name.rsplit(":", 1)[-1]


def _data_parent(sn):
    p = sn.parent()
    while p is not None and p.nodetype() in (libyang.SNode.CHOICE, libyang.SNode.CASE):
        p = p.parent()
    return p


def _children(sn, ctx, modules):
    if sn is None:
        for m in modules:
            yield from m.children()
    elif sn.nodetype() in (libyang.SNode.CONTAINER, libyang.SNode.LIST):
        yield from sn.children()


class _Reader:
    """Walks one expression's location paths over the schema."""

    def __init__(self, reach: "Reach", node, context):
        self.reach, self.node, self.context = reach, node, context
        self.toks: list = []
        self.i = 0
        self.lookup: list | None = None  # a leafref's path: the lists it enters, for _leafref

    def unkeyed(self, lst) -> None:
        if self.lookup is not None:
            self.lookup.append(lst)
        else:
            self.reach.wide.add(_path(lst))

    # position: (schema node or None for the root, where) with where "own" (the context's unit),
    # "frame", or "other" (inside an entry of another or a not-keyed unit)
    def read(self, expr: str) -> None:
        try:
            self.toks = tokens(expr)
            self.i = 0
            self._expr(self._start())
            if self.i != len(self.toks):
                raise Unknown(f"unexpected {self.toks[self.i][1]!r}")
        except Unknown as exc:
            raise Unknown(f"{_path(self.node)}: {' '.join(expr.split())}: {exc}") from None

    def _start(self):
        return (self.context, "own" if self.reach.unit_of(self.context) is not None else "frame")

    def _peek(self, k=0):
        j = self.i + k
        return self.toks[j] if j < len(self.toks) else (None, None)

    def _expr(self, here, stop=("]", ")", ",")) -> None:
        """Operands and operators up to a closing token; every path met is walked."""
        while self.i < len(self.toks):
            kind, val = self._peek()
            if kind == "op" and val in stop:
                return
            if kind in ("lit", "num", "minus") or (kind == "op" and val in ("=", "!=", "<", ">", "<=", ">=",
                                                                               "+", "|", "*")):
                self.i += 1
            elif kind == "name" and val in _OPERATORS and self.i > 0:
                self.i += 1
            elif kind == "op" and val == "(":
                self.i += 1
                self._expr(here)
                self._expect(")")
            elif kind == "name" and self._peek(1) == ("op", "("):
                self._call(here)
            elif kind == "op" and val in ("/", ".", "..") or kind == "name":
                self._path(here, None)
            else:
                raise Unknown(f"unexpected {val!r}")

    def _expect(self, val) -> None:
        if self._peek() != ("op", val):
            raise Unknown(f"expected {val!r}")
        self.i += 1

    def _call(self, here) -> None:
        name = self._peek()[1]
        self.i += 2
        if name == "current":
            self._expect(")")
            if self._peek() == ("op", "/"):
                self.i += 1
                self._path(self._start(), "current", leading=False)
            return
        if name in ("deref", "id", "lang"):
            raise Unknown(f"{name}() is not bounded here")
        if self._peek() == ("op", ")"):
            self.i += 1
            return
        while True:
            self._expr(here)
            if self._peek() == ("op", ","):
                self.i += 1
                continue
            self._expect(")")
            return

    def _path(self, here, origin, leading=True):
        """A location path from `here` (relative) or the root (leading /). Returns the position
        it ends at and the key-reference leaf if it is one."""
        if leading and self._peek() == ("op", "/"):
            self.i += 1
            pos = (None, "frame")
            if self._peek()[0] != "name":
                return pos
        else:
            pos = here
        while True:
            kind, val = self._peek()
            if kind == "op" and val == "..":
                self.i += 1
                pos = self._up(pos)
            elif kind == "op" and val == ".":
                self.i += 1
            elif kind == "name" and self._peek(1) != ("op", "("):
                self.i += 1
                pos = self._down(pos, val)
            elif kind == "op" and val in ("//", "@", "::", "*"):
                raise Unknown(f"{val} in a path")
            else:
                raise Unknown(f"unexpected {val!r} in a path")
            if self._peek() == ("op", "/"):
                self.i += 1
                continue
            return pos

    def _up(self, pos):
        sn, where = pos
        if where == "nothing":
            return pos
        if sn is None:
            raise Unknown(".. above the root")
        parent = _data_parent(sn)
        if where in ("own", "other") and self.reach.is_unit_list(sn):
            where = "frame"  # out of the entry, into what holds every entry of the list
        return (parent, where)

    def _down(self, pos, name):
        sn, where = pos
        if where == "nothing":
            self._predicates(pos)
            return pos
        hits = [c for c in _children(sn, self.reach.ctx, self.reach.modules) if c.name() == _local(name)]
        if not hits:
            # not in the compiled schema (its feature is off): no data can be there
            self._predicates((None, "nothing"))
            return (None, "nothing")
        if len(hits) != 1:
            raise Unknown(f"{name} is not one node below {_path(sn) if sn else '/'}")
        child = hits[0]
        if where == "frame" and self.reach.is_unit_list(child):
            if self._keyed(child) is None:
                self.unkeyed(child)
            return (child, "other")
        self._predicates((child, where))
        return (child, where)

    def _predicates(self, pos) -> None:
        while self._peek() == ("op", "["):
            self.i += 1
            self._expr(pos)
            self._expect("]")

    def _keyed(self, lst):
        """A predicate [key = current()...] selecting one entry of unit list `lst` by a value of
        the context's own unit: the leaf holding that value, now a key-reference. None when the
        step has no such predicate (its other predicates are still walked)."""
        if self._peek() != ("op", "["):
            return None
        start = self.i
        keys = list(lst.keys())
        toks = self.toks
        j = self.i + 1
        ref = None
        if len(keys) == 1 and j + 1 < len(toks) and toks[j][0] == "name" and _local(toks[j][1]) == keys[0].name() \
                and toks[j + 1] == ("op", "=") and toks[j + 2:j + 5] == [("name", "current"), ("op", "("), ("op", ")")]:
            self.i = j + 5
            leaf = self.context
            if self._peek() == ("op", "/"):
                self.i += 1
                leaf, where = self._path(self._start(), "current", leading=False)
                if where != "own":
                    raise Unknown("a key taken from outside the node's own unit")
            if self._peek() == ("op", "]") and self.reach.is_leafy(leaf) and self.reach.unit_of(leaf) is not None \
                    and self.context is not None and self.reach.stringy_key(lst) \
                    and self.reach.unit_of(self.context) is not None:
                self.i += 1
                ref = leaf
        if ref is None:
            self.i = start
            self._predicates((lst, "other"))
            return None
        self.reach.add_ref(ref, lst)
        self._predicates((lst, "other"))
        return ref


def _module_ns(m) -> str:
    return _libyang.ffi.string(_libyang.ffi.cast("struct lys_module *", m.cdata).ns).decode()


class Reach:
    _cache: dict = {}

    @classmethod
    def of(cls, models, index: SchemaIndex) -> "Reach":
        hit = cls._cache.get(id(models))
        if hit is None or hit[0] is not models:
            hit = cls._cache[id(models)] = (models, cls(models, index))
        return hit[1]

    def __init__(self, models, index: SchemaIndex):
        self.ctx = models.ctx
        self.index = index
        self.modules = [m for m in self.ctx if m.implemented()]
        self.units: dict[str, object] = {}  # schema path of each outermost list -> node
        self.refs: dict[str, set[str]] = {}  # key-reference leaf path -> unit lists it names
        self.wide: set[str] = set()  # unit lists some constraint reads whole
        self.why_whole: str | None = None  # why every commit is validated whole, if it is
        self._leaf_tags: dict[str, set[str]] = {}
        self._unit_tags: dict[str, tuple] = {}
        for ns, name in index.ns_module.items():
            _NS[name] = ns
        for m in self.modules:
            _NS.setdefault(m.name(), _module_ns(m))
        try:
            self._read_models()
        except Unknown as exc:
            self.why_whole = str(exc)

    # --- schema questions ------------------------------------------------------------------
    def is_unit_list(self, sn) -> bool:
        return sn is not None and _path(sn) in self.units

    def unit_of(self, sn):
        while sn is not None:
            if _path(sn) in self.units:
                return sn
            sn = _data_parent(sn)
        return None

    @staticmethod
    def is_leafy(sn) -> bool:
        return sn is not None and sn.nodetype() in (libyang.SNode.LEAF, libyang.SNode.LEAFLIST)

    @staticmethod
    def stringy_key(lst) -> bool:
        return all(k.type().base() in _STRINGY for k in lst.keys())

    def add_ref(self, leaf, lst) -> None:
        self.refs.setdefault(_path(leaf), set()).add(_path(lst))

    # --- reading the models ------------------------------------------------------------------
    def _all(self):
        for m in self.modules:
            for top in m.children():
                yield from self._walk(top)

    def _walk(self, sn):
        # config data only: a datastore holds no state, actions or notifications
        if sn.nodetype() not in _DATA or sn.config_false():
            return
        yield sn
        if sn.nodetype() in (libyang.SNode.CONTAINER, libyang.SNode.LIST):
            for c in sn.children():
                yield from self._walk(c)

    def _read_models(self) -> None:
        nodes = [sn for sn in self._all() if not sn.config_false()]
        for sn in nodes:
            if sn.nodetype() == libyang.SNode.LIST and self.unit_of(_data_parent(sn)) is None:
                self.units[_path(sn)] = sn
                lst = _libyang.ffi.cast("struct lysc_node_list *", sn.cdata)
                if lst.uniques != _libyang.ffi.NULL or lst.max != 0xFFFFFFFF:
                    self.wide.add(_path(sn))  # unique, max-elements: every entry counts
        ffi, lib = _libyang.ffi, _libyang.lib
        for sn in nodes:
            # compiled, so that musts added by refine, augment or deviation count too
            musts = lib.lysc_node_musts(sn.cdata)
            for i in range(ly_array_count(musts) if musts != ffi.NULL else 0):
                _Reader(self, sn, sn).read(ffi.string(lib.lyxp_get_expr(musts[i].cond)).decode())
            whens = lib.lysc_node_when(sn.cdata)
            for i in range(ly_array_count(whens) if whens != ffi.NULL else 0):
                w = whens[i]
                # a when's context: its node, or the target of the augment or uses it came with
                ctxn = None if w.context == ffi.NULL else libyang.SNode.new(self.ctx, w.context)
                _Reader(self, sn, ctxn).read(ffi.string(lib.lyxp_get_expr(w.cond)).decode())
            if self.is_leafy(sn):
                for t in self._leafrefs(sn.type()):
                    self._leafref(sn, t)
        for leaf in self.refs:
            sn = next(self.ctx.find_path(leaf))
            unit = _path(self.unit_of(sn))
            self._leaf_tags.setdefault(unit, set()).add(_tag(sn))
        for sp, sn in self.units.items():
            tags, p = [], _data_parent(sn)
            while p is not None:
                tags.append(_tag(p))
                p = _data_parent(p)
            self._unit_tags[sp] = (tuple(reversed(tags)), _tag(sn))

    def _leafrefs(self, t):
        if t.base() == libyang.Type.LEAFREF:
            yield t
        elif t.base() == libyang.Type.UNION:
            for u in t.union_types():
                yield from self._leafrefs(u)

    def _leafref(self, sn, t) -> None:
        lr = _libyang.ffi.cast("struct lysc_type_leafref *", t.cdata)
        if not lr.require_instance:
            return
        path = t.leafref_path()
        r = _Reader(self, sn, sn)
        r.lookup = []
        r.toks, r.i = tokens(path), 0
        end, _ = r._path(r._start(), None)
        if r.i != len(r.toks):
            raise Unknown(f"leafref path {path}")
        for lst in r.lookup[:-1]:
            self.wide.add(_path(lst))
        if r.lookup:
            lst = r.lookup[-1]
            keys = list(lst.keys())
            # a leafref to the key of an outermost list is a lookup by key: one entry
            if len(keys) == 1 and _path(end) == _path(keys[0]) and self.stringy_key(lst) \
                    and self.unit_of(sn) is not None and _path(self.unit_of(end)) == _path(lst):
                self.add_ref(sn, lst)
            else:
                self.wide.add(_path(lst))

    # --- data ----------------------------------------------------------------------------------
    def refs_of(self, unit_sp: str, el):
        """(unit list path, key value) of each key-reference held in the unit `el`."""
        tags = self._leaf_tags.get(unit_sp)
        if not tags:
            return
        ns = etree.QName(el).namespace
        for leaf in el.iter(*tags):
            chain, x = [], leaf
            while x is not el:
                chain.append(x)
                x = x.getparent()
            sp, cns = unit_sp, ns
            for c in reversed(chain):
                sp, cns = self.index.step(sp, cns, c)
            for target in self.refs.get(sp, ()):
                yield target, (leaf.text or "").strip()

    def index_refs(self, tree, refs: "Refs | None" = None, changed: dict | None = None) -> "Refs":
        """Who references which unit, in `tree`: built whole, or brought up to date for the units
        in `changed` (key -> (list path, the element it was))."""
        if refs is None or changed is None:
            refs = Refs(self._skeleton(tree.root))
            for key, sp, el in tree.units():
                refs.add(key, sp, self.refs_of(sp, el))
            return refs
        for key, (sp, old, _) in changed.items():
            if old is not None:
                refs.drop(key, self.refs_of(sp, old))
            now = tree.unit(key)
            if now is not None:
                refs.add(key, sp, self.refs_of(sp, now))
        return refs

    def refs_for(self, root, touched: dict) -> "Refs":
        """What part() needs of `root` for these touched units alone (key -> list path): the frame,
        and who references each of them. A plan sees a device once, so instead of indexing every
        unit (index_refs) it finds the referencing leaves by their tags and values."""
        refs = Refs(self._skeleton(root))
        wanted: dict[str, set[str]] = {}  # target list path -> the touched entries' key values
        for key, sp in touched.items():
            value = _key_value(key)
            if value is not None:
                wanted.setdefault(sp, set()).add(value)
        by_tag: dict[str, list] = {}  # leaf tag -> (unit list path, target list path, values)
        for target, values in wanted.items():
            for unit_sp, tag in self._referring(target):
                by_tag.setdefault(tag, []).append((unit_sp, target, values))
        for tag, readers in by_tag.items():
            for leaf in root.iter(tag):
                text = (leaf.text or "").strip()
                for unit_sp, target, values in readers:
                    if text not in values:
                        continue
                    unit = self._unit_above(root, leaf, unit_sp)
                    if unit is not None and (target, text) in set(self.refs_of(unit_sp, unit)):
                        tags, _ = self._unit_tags[unit_sp]
                        refs.add((tags, identity(self.index, unit_sp, unit)), unit_sp, [(target, text)])
        return refs

    def _referring(self, target: str) -> list[tuple[str, str]]:
        """(unit list path, leaf tag) of each key-reference leaf that names entries of `target`."""
        cache = self.__dict__.setdefault("_referring_cache", {})
        hit = cache.get(target)
        if hit is None:
            hit = cache[target] = []
            for leaf, targets in sorted(self.refs.items()):
                if target in targets:
                    sn = next(self.ctx.find_path(leaf))
                    hit.append((_path(self.unit_of(sn)), _tag(sn)))
        return hit

    def _unit_above(self, root, el, unit_sp: str):
        """The entry of the unit list `unit_sp` that holds `el`, if `el` lies in one."""
        tags, tag = self._unit_tags[unit_sp]
        chain = [el, *el.iterancestors()]  # el first, root last
        i = len(chain) - 2 - len(tags)  # the unit sits below the root and its containers
        if i < 1 or chain[-1] is not root or chain[i].tag != tag or \
                tuple(a.tag for a in reversed(chain[i + 1:-1])) != tags:
            return None
        return chain[i]

    def _skeleton(self, root):
        out = etree.Element(root.tag, nsmap=root.nsmap)
        self._frame(root, out, "", None)
        return out

    def _frame(self, el, out, sp, ns) -> None:
        for c in el:
            if not isinstance(c.tag, str):
                continue
            csp, cns = self.index.step(sp, ns, c)
            if csp in self.units:
                continue
            kw, _ = self.index.node(csp)
            if kw == "container":
                shell = etree.SubElement(out, c.tag, nsmap=c.nsmap)
                self._frame(c, shell, csp, cns)
            else:
                out.append(copy.deepcopy(c))

    def part(self, cand, refs: "Refs"):
        """The part of the candidate a commit's validation needs (see the module's text), or None
        when the whole must be validated."""
        if self.why_whole is not None:
            return None
        touched = cand.touched
        if any(sp in self.wide for sp in touched.values()):
            return None
        include = dict(touched)
        for key, sp in touched.items():
            for rk, rsp in refs.to.get((sp, _key_value(key)), {}).items():
                include.setdefault(rk, rsp)
        # what the included reference, and what that references in turn: validated in the part,
        # an included unit must find what it reads (else the part fails and the whole decides)
        todo = list(include.items())
        while todo:
            key, sp = todo.pop()
            el = cand.unit(key)
            if el is None:
                continue
            for target, value in self.refs_of(sp, el):
                tags, tag = self._unit_tags[target]
                ref = (tags, (tag, (value,)))
                if ref not in include:
                    include[ref] = target
                    todo.append((ref, target))
        out = Tree(self.index, copy.deepcopy(refs.skeleton))
        items = []
        for key, sp in include.items():
            el = cand.unit(key)
            if el is not None:
                items.append((key, sp, copy.deepcopy(el), None))
        out.put_units(items)
        return out.root


def _key_value(key):
    ident = key[1]
    return ident[1][0] if len(ident) > 1 and isinstance(ident[1], tuple) and len(ident[1]) == 1 else None


class Refs:
    """(unit list path, key value) -> the units referencing that entry {unit key: list path};
    and the datastore's frame, which every part holds."""

    def __init__(self, skeleton):
        self.skeleton = skeleton
        self.to: dict = {}

    def add(self, key, sp, refs) -> None:
        for ref in refs:
            self.to.setdefault(ref, {})[key] = sp

    def drop(self, key, refs) -> None:
        for ref in refs:
            hit = self.to.get(ref)
            if hit is not None:
                hit.pop(key, None)
                if not hit:
                    del self.to[ref]


def _path(sn) -> str:
    """The schema path as SchemaIndex.step writes it: module names where the module changes,
    no choice or case."""
    chain = []
    while sn is not None:
        chain.append(sn)
        sn = _data_parent(sn)
    out, prev = [], None
    for n in reversed(chain):
        mod = n.module().name()
        out.append(f"/{mod}:{n.name()}" if mod != prev else f"/{n.name()}")
        prev = mod
    return "".join(out)


def _tag(sn) -> str:
    return f"{{{_NS[sn.module().name()]}}}{sn.name()}"


_NS: dict[str, str] = {}
