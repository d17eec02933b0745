"""YAML written by a person → YANG instance data (XML), checked key by key against the schema.

The walk reports unknown keys with the keys that are allowed there, and remembers which YAML
line each data path came from, so libyang's later verdict (type, range, pattern, mandatory,
must) can be pinned to the line the engineer wrote.
"""

from __future__ import annotations

import datetime as dt
import difflib
import re
from dataclasses import dataclass, field
from xml.sax.saxutils import escape, quoteattr

import _libyang
import libyang
import yaml
from libyang.util import c2str, ly_array_iter

from orchestrator.documents.yamlsrc import line_of, mapping_items
from orchestrator.errors import Problem
from orchestrator.models.context import ModelSet, ValidationFailed, module_ns
from orchestrator.models.leaf_values import install as _read_text_leaves

_read_text_leaves()  # libyang-python's multi-byte text bug (models/leaf_values.py)


@dataclass
class Located:
    """Where each data path of one YAML subtree came from."""

    file: str
    yaml_prefix: str  # how the user sees the top: "spec"
    lines: dict[str, int] = field(default_factory=dict)  # data path → line
    names: dict[str, str] = field(default_factory=dict)  # data path → dotted YAML path

    def find(self, data_path: str | None) -> tuple[int | None, str]:
        """The line and YAML path of a libyang path, walking up until a known node."""
        if not data_path:
            return None, self.yaml_prefix
        p = data_path
        while p:
            if p in self.lines:
                return self.lines[p], self.names[p]
            stripped = _strip_predicates(p)
            if stripped in self.lines:
                return self.lines[stripped], self.names[stripped]
            p = p.rsplit("/", 1)[0]
        return None, self.yaml_prefix


def _strip_predicates(path: str) -> str:
    if "[" not in path:
        return path
    out, depth = [], 0
    for ch in path:
        if ch == "[":
            depth += 1
        elif ch == "]":
            depth -= 1
        elif depth == 0:
            out.append(ch)
    return "".join(out)


class _Schema:
    """What the writer asks of one schema node, read from libyang once per process (a file of
    100,000 intents asks the same few dozen nodes the same questions, each answer a C call and
    a string made from C)."""

    __slots__ = ("snode", "name", "keyword", "module", "ns", "top", "keys", "judged", "calendar", "elements",
                 "_children", "_mandatory")

    def __init__(self, snode):
        self.snode = snode
        self.name = snode.name()
        self.keyword = snode.keyword()
        mod = snode.module()
        self.module = mod.name()
        self.ns = module_ns(mod)
        self.top = snode.parent() is None
        self.keys = [k.name() for k in snode.keys()] if self.keyword == "list" else []
        # A leaf's value is checked alone unless its type needs the rest of the tree.
        self.judged = self.keyword in ("leaf", "leaf-list") and snode.type().basename() not in _CHECKED_IN_TREE
        # A date's pattern takes 2026-06-31: whether the day exists is checked beside it.
        self.calendar = self.judged and snode.type().name().rpartition(":")[2] == "date"
        self.elements = _elements(snode, self.keyword)  # (min, max) entries of a list or leaf-list
        self._children: dict[str, _Schema] | None = None
        self._mandatory: list[str] | None = None

    def children(self) -> dict[str, _Schema]:
        """The config nodes a mapping here may hold, by name."""
        if self._children is None:
            self._children = {c.name(): _Schema(c) for c in self.snode.children() if not c.config_false()}
        return self._children

    def mandatory(self) -> list[str]:
        """The names of the mandatory leaves here that no `when` makes conditional."""
        if self._mandatory is None:
            self._mandatory = [name for name, c in self.children().items() if c.keyword == "leaf" and
                               c.snode.mandatory() and not list(c.snode.when_conditions())]
        return self._mandatory

    def presence(self) -> bool:
        return bool(getattr(self.snode, "presence", lambda: None)())


_TOPS: dict[tuple[int, str], _Schema] = {}


def _elements(snode, keyword: str) -> tuple[int, int | None]:
    """min-elements and max-elements (None: unbounded), which the 2.8.0 bindings do not read."""
    if keyword == "list":
        c = snode.cdata_list
    elif keyword == "leaf-list":
        c = snode.cdata_leaflist
    else:
        return 0, None
    return c.min, (None if c.max in (0, 0xFFFFFFFF) else c.max)


def _count_problem(w: "InstanceWriter", schema: _Schema, node, ypath: str, n: int) -> None:
    """A list or leaf-list with fewer or more entries than its model allows, said where it is
    written (libyang names the list, not the line, and suggests nothing)."""
    lo, hi = schema.elements
    if n < lo:
        w.problem(f"{schema.name!r} needs at least {lo} {'entry' if lo == 1 else 'entries'}, not {n}", node, ypath,
                  fix=f"give at least {lo}")
    elif hi is not None and n > hi:
        w.problem(f"{schema.name!r} takes at most {hi} {'entry' if hi == 1 else 'entries'}, not {n}", node, ypath,
                  fix=f"give at most {hi}")


def _top(ctx, path: str) -> _Schema:
    key = (id(ctx), path)
    hit = _TOPS.get(key)
    if hit is None:
        hit = _TOPS[key] = _Schema(next(ctx.find_path(path)))
    return hit


def _quote(v: str) -> str:
    return "'" + v + "'" if "'" not in v else '"' + v + '"'


# Types whose values need the rest of the tree (or XML prefixes) to be checked: left to the parse.
_CHECKED_IN_TREE = {"leafref", "identityref", "instance-identifier", "union"}


def _value_error(ctx, schema: _Schema, value: str) -> str | None:
    """libyang's verdict on one leaf value (type, range, length, pattern), or None when it is
    valid or can only be judged in the whole tree. Checking each leaf lets one document report
    every bad value, where a parse stops at the first."""
    if not schema.judged:
        return None
    raw = value.encode()
    ret = _libyang.lib.lyd_value_validate(ctx.cdata, schema.snode.cdata, raw, len(raw), _libyang.ffi.NULL,
                                          _libyang.ffi.NULL, _libyang.ffi.NULL)
    if ret in (_libyang.lib.LY_SUCCESS, _libyang.lib.LY_EINCOMPLETE):
        return None
    err = _libyang.lib.ly_err_first(ctx.cdata)
    msg = _libyang.ffi.string(err.msg).decode() if err and err.msg else "invalid value"
    _libyang.lib.ly_err_clean(ctx.cdata, _libyang.ffi.NULL)
    return msg.rstrip(".") + "."


class InstanceWriter:
    def __init__(self, located: Located, ctx=None):
        self.loc = located
        self.ctx = ctx  # a libyang context to check leaf values with as they are written
        self.problems: list[Problem] = []

    def checked(self, schema: _Schema, node: yaml.Node, ypath: str, value: str) -> bool:
        msg = _value_error(self.ctx, schema, value) if self.ctx is not None else None
        if not msg and schema.calendar and value:
            try:
                dt.date.fromisoformat(value[:10])
            except ValueError:
                self.problem(f"{schema.name} {value} is not a day of the calendar", node, ypath,
                             fix="write a day that exists, such as 2026-06-30 (months have 28 to 31 days)")
                return False
        if msg:
            if value == "" and node.value in ("~", "null"):  # libyang would speak of an empty string
                msg = f"{schema.name!r} has no value: YAML reads a plain {node.value} as null."
            self.problem(_humanize(msg), node, ypath, fix=_use(_allowed(schema.snode)))
        return msg is None

    def problem(self, msg: str, node: yaml.Node, ypath: str, fix: str | None = None):
        self.problems.append(Problem(msg, file=self.loc.file, line=line_of(node), path=ypath, fix=fix))

    def container(self, schema: _Schema, node: yaml.Node, dpath: str, ypath: str, ns: str | None) -> str:
        self.loc.lines.setdefault(dpath, line_of(node))
        self.loc.names.setdefault(dpath, ypath)
        self.loc.lines.setdefault(_strip_predicates(dpath), line_of(node))
        self.loc.names.setdefault(_strip_predicates(dpath), ypath)
        if isinstance(node, yaml.ScalarNode) and _scalar(node) == "" and schema.presence():
            body = ""
        elif not isinstance(node, yaml.MappingNode):
            self.problem(f"{schema.name!r} must be a mapping of keys", node, ypath,
                         fix=f"allowed keys: {', '.join(schema.children())}")
            return ""
        else:
            body = self.members(schema, node, dpath, ypath)
        attr = f" xmlns={quoteattr(ns)}" if ns else ""
        return f"<{schema.name}{attr}>{body}</{schema.name}>"

    def members(self, schema: _Schema, node: yaml.MappingNode, dpath: str, ypath: str) -> str:
        kids = schema.children()
        parts = []
        items = mapping_items(node, self.loc.file, ypath)
        self.missing(schema, {k for k, _, _ in items}, node, ypath)
        for key, vnode, kline in items:
            child = kids.get(key)
            cy = f"{ypath}.{key}" if ypath else key
            if child is None:
                close = [k for k in kids if _near(k, key)]
                hint = f"did you mean {close[0]!r}? " if close else ""
                self.problems.append(Problem(
                    f"unknown key {key!r}", file=self.loc.file, line=kline, path=cy,
                    fix=f"{hint}allowed keys here: {', '.join(kids) or '(none)'}"))
                continue
            ns = child.ns if child.module != schema.module else None
            prefix = f"{child.module}:" if ns else ""
            cpath = f"{dpath}/{prefix}{key}"
            kw = child.keyword
            if kw == "container":
                parts.append(self.container(child, vnode, cpath, cy, ns))
            elif kw == "list":
                parts.append(self.list(child, vnode, cpath, cy, ns, kline))
            elif kw == "leaf-list":
                parts.append(self.leaf_list(child, vnode, cpath, cy, ns, kline))
            else:
                parts.append(self.leaf(child, vnode, cpath, cy, ns, kline))
        return "".join(parts)

    def missing(self, schema: _Schema, present: set[str], node: yaml.Node, ypath: str) -> None:
        """Every mandatory leaf left out here (a parse names only the first); leaves under a
        `when` are left to the parse, which knows whether it holds."""
        where = "spec" if schema.top else schema.name
        for name in schema.mandatory():
            if name not in present:
                self.problem(f'Mandatory node "{name}" instance does not exist.', node, ypath,
                             fix=f"add `{name}:` under {where}")

    def list(self, schema: _Schema, node, dpath, ypath, ns, kline) -> str:
        # The list's own place is its key's line: else the map had only its entries', and a
        # problem about the list as a whole (spec.area) fell back to its parent's first line.
        self.loc.lines.setdefault(dpath, kline)
        self.loc.names.setdefault(dpath, ypath)
        if not isinstance(node, yaml.SequenceNode):
            self.problem(f"{schema.name!r} must be a list (entries starting with '-')", node, ypath)
            return ""
        keys = schema.keys
        out = []
        seen: dict[tuple, int] = {}  # key values → the entry that gave them first
        _count_problem(self, schema, node, ypath, len(node.value))
        for i, item in enumerate(node.value):
            iy = f"{ypath}[{i}]"
            if not isinstance(item, yaml.MappingNode):
                self.problem(f"each entry of {schema.name!r} must be a mapping", item, iy,
                             fix=f"allowed keys: {', '.join(schema.children())}")
                continue
            vals = {k: v for k, v, _ in mapping_items(item, self.loc.file, iy)}
            pred = "".join(f"[{k}={_quote(_scalar(vals[k]))}]" for k in keys
                           if k in vals and isinstance(vals[k], yaml.ScalarNode))
            key = tuple(_scalar(vals[k]) for k in keys if k in vals and isinstance(vals[k], yaml.ScalarNode))
            if keys and len(key) == len(keys):
                first = seen.setdefault(key, i)
                if first != i:
                    said = ", ".join(f"{k} {v}" for k, v in zip(keys, key))
                    # a polygon written as a closed ring: the last of 4 or more corners is the first again
                    ring = first == 0 and i == len(node.value) - 1 >= 3 and _same(item, node.value[0])
                    self.problem(f"{schema.name!r} has two entries with {said} (the first is {ypath}[{first}], "
                                 f"line {line_of(node.value[first])})", item, iy,
                                 fix="leave out the last entry: it repeats the first, as a closed ring of corners "
                                     "does (the first and last are joined already)" if ring else
                                 f"give each {schema.name} its own {' and '.join(keys)}")
            out.append(self.container(schema, item, dpath + pred, iy, ns))
        return "".join(out)

    def leaf_list(self, schema: _Schema, node, dpath, ypath, ns, kline) -> str:
        items = node.value if isinstance(node, yaml.SequenceNode) else [node]
        out = []
        seen: set[str] = set()
        _count_problem(self, schema, node, ypath, len(items))
        for item in items:
            if not isinstance(item, yaml.ScalarNode):
                self.problem(f"{schema.name!r} takes plain values", item, ypath)
                continue
            v = _scalar(item)
            if v in seen:  # a configured leaf-list holds each value once (RFC 7950 7.7)
                self.problem(f"{schema.name!r} lists {v} twice", item, ypath, fix="list each value once")
                continue
            seen.add(v)
            if not self._printable(v, item, ypath) or not self.checked(schema, item, ypath, v):
                continue
            self.loc.lines.setdefault(f"{dpath}[.={_quote(v)}]", line_of(item))
            self.loc.names.setdefault(f"{dpath}[.={_quote(v)}]", ypath)
            out.append(self._leaf_xml(schema.name, v, ns))
        self.loc.lines.setdefault(dpath, kline)  # its key's, as a list's
        self.loc.names.setdefault(dpath, ypath)
        return "".join(out)

    def leaf(self, schema: _Schema, node, dpath, ypath, ns, kline) -> str:
        self.loc.lines[dpath] = kline
        self.loc.names[dpath] = ypath
        if not isinstance(node, yaml.ScalarNode):
            self.problem(f"{schema.name!r} takes a single value, not a "
                         f"{'list' if isinstance(node, yaml.SequenceNode) else 'mapping'}", node, ypath,
                         fix=_allowed(schema.snode))
            return ""
        if not self._printable(_scalar(node), node, ypath) or not self.checked(schema, node, ypath, _scalar(node)):
            return ""
        return self._leaf_xml(schema.name, _scalar(node), ns)

    def _printable(self, value: str, node: yaml.Node, ypath: str) -> bool:
        """XML (so NETCONF) cannot carry these characters; libyang would stop at a NUL as at the end."""
        bad = _NOT_XML.search(value)
        if bad:
            self.problem(f"the value holds the character {ascii(bad.group())[1:-1]}, which NETCONF (XML) "
                         f"cannot carry", node, ypath, fix="remove it from the quoted string")
        return bad is None

    @staticmethod
    def _leaf_xml(name: str, value: str, ns: str | None) -> str:
        attr = f" xmlns={quoteattr(ns)}" if ns else ""
        return f"<{name}{attr}>{escape(value)}</{name}>"


_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")  # outside XML 1.0's Char


def _scalar(node: yaml.ScalarNode) -> str:
    """A scalar's text; YAML's null written plainly (`~`, `null`) is no text. libyaml marks a
    plain scalar with the style '', the pure-Python composer with None; a quoted "~" is text."""
    v = node.value
    return "" if v in ("~", "null") and not node.style else v


def _near(a: str, b: str) -> bool:
    """A cheap typo detector: same letters give or take one edit."""
    if abs(len(a) - len(b)) > 2:
        return False
    return difflib.SequenceMatcher(None, a, b).ratio() >= 0.8


def _allowed(snode) -> str | None:
    """What a valid value looks like, in words a person reads: never a type name or a regex."""
    try:
        t = snode.type()
    except Exception:
        return None
    return _example(snode.extensions()) or _describe_type(t)


_INTEGERS = {"int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64"}
_BOUNDS = {f"{s}int{n}": ((0, 2 ** n - 1) if s else (-2 ** (n - 1), 2 ** (n - 1) - 1))
           for s in ("", "u") for n in (8, 16, 32, 64)}


def _example(exts) -> str | None:
    """The phrase of an `fbt:example` statement among a node's extension instances."""
    return next((e.argument() for e in exts if e.name() == "example"), None)


def _typedef_example(t) -> str | None:
    td = t.typedef()  # the bindings find typedefs of imported modules only
    if td is None and ":" not in t.name() and t.module() is not None:
        td = t.module().get_typedef(t.name())
    if td is None or td.cdata.exts == _libyang.ffi.NULL:
        return None
    # The 2.8.0 bindings read a typedef's (parsed) extensions as compiled ones; read them as parsed.
    for ext in ly_array_iter(_libyang.ffi.cast("struct lysp_ext_instance *", td.cdata.exts)):
        if c2str(ext.name).split(":")[-1] == "example" and ext.argument != _libyang.ffi.NULL:
            return c2str(ext.argument)
    return None


def _span(part: list[str], bounds: tuple[int, int]) -> str:
    """One part of a YANG range in words ("1..max" → "of 1 or more"): min and max are YANG's."""
    if len(part) == 1:
        return part[0]
    lo, hi = (str(bounds[0]) if part[0] == "min" else part[0]), part[1]
    return f"of {lo} or more" if hi == "max" else f"from {lo} to {hi}"


def _describe_type(t) -> str | None:
    base = t.basename()
    said = _typedef_example(t)
    if said:
        return said
    if base == "leafref" and t.leafref_path():
        entry, key = _leafref_target(t.leafref_path())
        return f"the {key} of a {entry} written in this file"
    if base == "enumeration":
        return "one of: " + ", ".join(e.name() for e in t.enums())
    if base == "bits":
        return "any of: " + ", ".join(b.name() for b in t.bits())
    if base == "boolean":
        return "true or false"
    if base in _INTEGERS:
        rng = next(iter(t.all_ranges()), None)
        if rng:
            parts = [p.strip().split("..") for p in rng.split("|")]
            return "a whole number " + " or ".join(_span(p, _BOUNDS[base]) for p in parts)
        lo, hi = _BOUNDS[base]
        return f"a whole number from {lo} to {hi}"
    if base == "decimal64":
        rng = next(iter(t.all_ranges()), None)
        if rng:
            parts = [p.strip().split("..") for p in rng.split("|")]
            return "a number " + " or ".join(_span(p, ("the least", "the most")) for p in parts)
        return "a decimal number"
    if base == "union":
        return " or ".join(filter(None, (_describe_type(u) for u in t.union_types()))) or None
    if base == "string":
        length = next(iter(t.all_lengths()), None) if hasattr(t, "all_lengths") else None
        if length and not list(t.all_patterns()):
            lo, _, hi = length.partition("..")
            return f"text of {lo} to {hi} characters" if hi else f"text of {lo} characters"
    return None


def to_tree(models: ModelSet, module: str, top: str, node: yaml.Node, file: str, yaml_prefix: str,
            located: Located | None = None):
    """Validate a YAML subtree as the instance of `module:top`; return (tree, problems)."""
    schema = _top(models.ctx, f"/{module}:{top}")
    loc = located or Located(file, yaml_prefix)
    w = InstanceWriter(loc, models.ctx)
    xml = w.container(schema, node, f"/{module}:{top}", yaml_prefix, schema.ns)
    if w.problems:
        return None, w.problems
    try:
        tree = models.parse(xml, present_only=True)
    except ValidationFailed as vf:
        line, ypath = loc.find(vf.path)
        fix = _fix_for(models, vf)
        return None, [Problem(_humanize(vf.message), file=file, line=line, path=ypath, fix=fix)]
    return tree, []


def _leafref_target(path: str) -> tuple[str, str]:
    """(list, key) a leafref's path points at: "/network/bng/name" → ("bng", "name")."""
    steps = [s.split(":")[-1].split("[")[0] for s in path.split("/") if s and s not in ("..", ".")]
    return (steps[-2] if len(steps) > 1 else "entry"), (steps[-1] if steps else "name")


def _no_target(m: re.Match) -> str:
    entry, key = _leafref_target(m.group(2))
    return f'no {entry} has {key} "{m.group(1)}"'


_LIBYANG_WORDING = [  # libyang's wording names internal types and regexes; say what is wrong instead
    (re.compile(r'Invalid leafref value "(.*)" - no target instance "(.*)" with the same value', re.S), _no_target),
    (re.compile(r'Invalid (?:type )?u?int(?:8|16|32|64) value "(.*)"', re.S), r'"\1" is not a whole number'),
    (re.compile(r'Value "(.*)" is out of type u?int(?:8|16|32|64) min/max bounds', re.S), r'"\1" is out of range'),
    (re.compile(r'Unsatisfied pattern - "(.*)" does not conform to .*', re.S), r'"\1" is not a valid value here.'),
    (re.compile(r"Unsatisfied (?:pattern|range|length) - ", re.S), ""),
]


def _same(a: yaml.MappingNode, b: yaml.MappingNode) -> bool:
    """Two entries written alike, value for value."""
    def flat(n):
        return sorted((k.value, v.value) for k, v in n.value if isinstance(k, yaml.ScalarNode)
                      and isinstance(v, yaml.ScalarNode))
    return flat(a) == flat(b) and len(a.value) == len(b.value)


def _humanize(msg: str) -> str:
    for pattern, said in _LIBYANG_WORDING:
        msg = pattern.sub(said, msg)
    return msg


def _fix_for(models: ModelSet, vf: ValidationFailed) -> str | None:
    if not vf.path:
        return None
    spath = _strip_predicates(vf.path)
    try:
        sn = next(models.ctx.find_path(spath))
    except (libyang.LibyangError, StopIteration):
        return None
    if vf.message.startswith(("Mandatory node", "Mandatory choice")):
        parent = sn.parent()
        where = "spec" if parent is None or parent.parent() is None else parent.name()
        return f"add `{sn.name()}:` under {where}"
    must = _musts(sn).get(vf.message.rstrip("."))
    if must is not None:  # a rule across leaves the value broke: its type says nothing of it
        return must or None
    if sn.keyword() in ("leaf", "leaf-list"):
        return _use(_allowed(sn))
    return None


def _musts(sn) -> dict[str, str]:
    """error-message → description of the node's must statements (what to do, when the model says)."""
    out = {}
    for m in ly_array_iter(_libyang.lib.lysc_node_musts(sn.cdata)):
        if m.emsg != _libyang.ffi.NULL:
            out[c2str(m.emsg).rstrip(".")] = c2str(m.dsc) if m.dsc != _libyang.ffi.NULL else ""
    return out


def _use(desc: str | None) -> str | None:
    return f"use {desc}" if desc else None
