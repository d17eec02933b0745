"""Intended vs current config → the minimal NETCONF edit (and its reverse), and a diff for people.

Lists are matched by their keys and leaf-lists by value, both learned from the device kind's
schema, so an edit touches only what changed: new subtrees merge in, changed leaves are set,
removed entries are deleted by key.
"""

from __future__ import annotations

import bisect
import copy
import difflib
import itertools
import re
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

from lxml import etree

from orchestrator.models.schema_index import SchemaIndex, identity, key_shell, leaf_value
from orchestrator.plan.assemble import NC_NS

NC = f"{{{NC_NS}}}"


def _is_leafy(el) -> bool:
    return len(el) == 0


MANY = 16  # children from which equal ones are found by their serialisation, not their keys


class Changed:
    """Where two configs printed alike (one element or closing tag a line) differ: the line ranges
    (first, last; 1-based) the differing blocks stand on in one, in order, and those they stand on
    in the other (a block taken out: (n, n - 1), the point before line n). Outside them the texts
    are the same lines, so a child whose lines meet none is the same on both sides, and there."""

    __slots__ = ("_firsts", "_ranges")

    def __init__(self, ranges: list[tuple[int, int]]):
        self._ranges = ranges
        self._firsts = [a for a, _ in ranges]

    def meets(self, first: int, last: int) -> bool:
        # The ranges are sorted and apart: the last one starting by `last` ends latest of those.
        i = bisect.bisect_right(self._firsts, last) - 1
        return i >= 0 and self._ranges[i][1] >= first

    def children(self, el, last: int) -> tuple[list, dict]:
        """The element children of `el` (whose lines end at `last`) that stand where the texts
        differ, and the last line of each."""
        kids = [c for c in el if isinstance(c.tag, str)]
        out, ends = [], {}
        for i, c in enumerate(kids):
            end = kids[i + 1].sourceline - 1 if i + 1 < len(kids) else last - 1  # (the parent's closing line)
            if self.meets(c.sourceline, end):
                out.append(c)
                ends[c] = end
        return out, ends


def compose(first: tuple[list, list], then: tuple[list, list]) -> tuple[list, list]:
    """The line ranges where text A and text C differ (Changed's pairs of range lists), from those
    of A → B and of B → C: the ranges in B of either, joined where they meet, each taken back
    into A and on into C. Outside them B's lines are A's, and C's are B's."""
    def spans(ranges):  # (first, last) → [start, end) of line numbers
        return [(a, b + 1) for a, b in ranges]

    b_first, b_then = spans(first[1]), spans(then[0])
    joined: list[list[int]] = []
    for s, e in sorted(b_first + b_then):
        if joined and s <= joined[-1][1]:
            joined[-1][1] = max(joined[-1][1], e)
        else:
            joined.append([s, e])

    def moved(p: int, in_b: list, there: list, end: bool) -> int:
        # A group's boundary p in B, where it stands in the other text: moved by each range
        # before the group (ending before its start; ranges touching a group are in it) or, for
        # its end, by each range up to it
        return p + sum((t[1] - t[0]) - (b[1] - b[0]) for b, t in zip(in_b, there)
                       if b[1] < p or (end and b[1] == p))

    a_side, c_side = [], []
    in_a, in_c = spans(first[0]), spans(then[1])
    for s, e in joined:
        a = (moved(s, b_first, in_a, False), moved(e, b_first, in_a, True))
        c = (moved(s, b_then, in_c, False), moved(e, b_then, in_c, True))
        if a[0] == a[1] and c[0] == c[1]:
            continue  # a point on both sides: nothing differs there
        a_side.append((a[0], a[1] - 1))
        c_side.append((c[0], c[1] - 1))
    return a_side, c_side


def _diff(index: SchemaIndex, base, new, out, spath: str, ns: str | None,
          where: tuple | None = None) -> bool:
    """Append to `out` what turns `base`'s children into `new`'s; True if anything was appended.
    where: (Changed of base's text, base's last line, Changed of new's, new's last line): only
    the children standing where the texts differ are compared (the others are the same)."""
    changed = False
    if where is not None:
        olds, old_ends = where[0].children(base, where[1])
        news, new_ends = where[2].children(new, where[3])
    else:
        olds = [b for b in base if isinstance(b.tag, str)]
        news = [n for n in new if isinstance(n.tag, str)]
    if len(olds) >= MANY and len(news) >= MANY:
        # A device's record and its new config mostly agree: a child serialised alike on both
        # sides (one call in C) is the same node, unchanged, without working out its keys.
        alike = {etree.tostring(b, with_tail=False): b for b in olds}
        news = [n for n in news if alike.pop(etree.tostring(n, with_tail=False), None) is None]
        olds = list(alike.values())
    base_by_id = {}
    for b in olds:
        sp, _ = index.step(spath, ns, b)
        base_by_id[identity(index, sp, b)] = b
    seen = set()
    for n in news:
        sp, cns = index.step(spath, ns, n)
        ident = identity(index, sp, n)
        seen.add(ident)
        b = base_by_id.get(ident)
        if b is None:
            out.append(copy.deepcopy(n))
            changed = True
        elif _is_leafy(n) and _is_leafy(b):
            if leaf_value(n) != leaf_value(b):
                out.append(copy.deepcopy(n))
                changed = True
        elif len(b) >= MANY or len(b) != len(n) or etree.tostring(b) != etree.tostring(n):
            shell = key_shell(index, sp, n)
            inner = None if where is None else (where[0], old_ends[b], where[2], new_ends[n])
            if _diff(index, b, n, shell, sp, cns, inner):
                out.append(shell)
                changed = True
    for ident, b in base_by_id.items():
        if ident not in seen:
            sp, _ = index.step(spath, ns, b)
            if index.node(sp)[0] == "unknown":
                continue  # not in this kind's models (e.g. an agent's own NACM data): not ours to remove
            gone = key_shell(index, sp, b)
            if index.node(sp)[0] in ("leaf", "leaf-list"):
                gone.text = b.text
            gone.set(f"{NC}operation", "delete")
            out.append(gone)
            changed = True
    return changed


_PARSER = etree.XMLParser(remove_blank_text=True)


def parse(xml: str):
    return etree.fromstring(xml.encode(), _PARSER)


def edits(index: SchemaIndex, current_xml: str, intended_xml: str, new=None,
          changed_lines: tuple[list, list] | None = None) -> tuple[str, str, bool]:
    """(edit, reverse edit, changed): the <config> payloads of the edit-configs that take a
    device from current to intended and back. `new` is intended_xml already parsed, if at hand.
    changed_lines: (the line ranges the texts differ on in current_xml, in intended_xml), when
    both are printed alike and known to differ only there (Changed)."""
    cur = parse(current_xml)
    new = parse(intended_xml) if new is None else new
    if len(cur) == 0:  # an empty device: the edit is the whole config, the reverse deletes it
        rev = etree.Element(f"{NC}config", nsmap={None: NC_NS})
        for top in new:
            gone = etree.SubElement(rev, top.tag, nsmap=top.nsmap)
            gone.set(f"{NC}operation", "delete")
        return intended_xml, _text(rev), len(new) > 0
    if changed_lines is None:
        fwd, changed = _edit(index, cur, new)
        back, _ = _edit(index, new, cur)
        return fwd, back, changed
    a = (Changed(changed_lines[0]), current_xml.count("\n", 0, len(current_xml.rstrip("\n"))) + 1)
    b = (Changed(changed_lines[1]), intended_xml.count("\n", 0, len(intended_xml.rstrip("\n"))) + 1)
    fwd, changed = _edit(index, cur, new, (*a, *b))
    back, _ = _edit(index, new, cur, (*b, *a))
    return fwd, back, changed


_HAS_NODE = re.compile(r"\s*<config[^>]*>\s*<[A-Za-z]")


def same_edits(index: SchemaIndex, xml: str) -> tuple[str, str, bool]:
    """edits(index, xml, xml): a config that holds a node is taken to itself by empty edits,
    without reading its (maybe 13 MB of) text."""
    if not _HAS_NODE.match(xml):
        return edits(index, xml, xml)
    empty = _text(etree.Element(f"{NC}config", nsmap={None: NC_NS}))
    return empty, empty, False


def _edit(index: SchemaIndex, cur, new, where: tuple | None = None) -> tuple[str, bool]:
    out = etree.Element(f"{NC}config", nsmap={None: NC_NS})
    changed = _diff(index, cur, new, out, "", None, where)
    return _text(out), changed


_PREFIXED = re.compile(r"\s*([A-Za-z_][\w.-]*):")


def _text(el) -> str:
    # Identity values ("ianaift:l2vlan") use prefixes lxml cannot see as used: keep them.
    keep = {m.group(1) for e in el.iter() if isinstance(e.tag, str) and e.text
            for m in [_PREFIXED.match(e.text)] if m}
    etree.cleanup_namespaces(el, top_nsmap={"nc": NC_NS}, keep_ns_prefixes=sorted(keep))
    etree.indent(el, space="  ")
    return etree.tostring(el, encoding="unicode") + "\n"


_OTHER_LINE_ENDS = re.compile("[\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]")  # str.splitlines() splits at these too


def _other_line_ends(text: str) -> bool:
    if text.isascii():  # (a regex over a 14 MiB config takes 30 ms; these finds, 2 ms)
        return any(c in text for c in "\r\x0b\x0c\x1c\x1d\x1e")
    return _OTHER_LINE_ENDS.search(text) is not None


class Lines(Sequence):
    """A plan's diff for people, line by line, held as one text. A list of a new BNG's 300,000
    line strings takes 2.5 times that text, and a plan of 100,000 lines holds every device's; a
    new device's diff is its config with a "+" before each line, so it keeps only the config."""

    __slots__ = ("_head", "_text", "_added", "_len")

    def __init__(self, head: list[str], text: str, added: bool, count: int | None = None):
        # added: the lines of `text` (a config, or plan.texts.Texts holding it) but its first and
        # last, each after a "+"; else text's lines. count: how many that is, when known
        self._head, self._text, self._added = tuple(head), text, added
        self._len = len(self._head) + (count if count is not None else max(0, len(text.splitlines()) - 2))

    @classmethod
    def of(cls, lines: list[str]) -> Lines:
        return cls([], "\n".join(lines), False, len(lines))

    @classmethod
    def added_config(cls, device: str, intended_xml: str) -> Lines:
        return cls([f"--- {device} (current: nothing applied yet)", f"+++ {device} (intended)"], intended_xml, True)

    def over(self, texts) -> Lines:
        """These lines reading a new device's config from `texts` (plan/texts.py), once it holds
        that very config: so the config is not held twice when texts compresses it."""
        if self._added and isinstance(self._text, str) and texts.holds(self._text):
            return Lines(self._head, texts, True, self._len - len(self._head))
        return self

    def __iter__(self):
        yield from self._head
        if self._added:
            body = (self._text if isinstance(self._text, str) else self._text.intended).splitlines()
            for line in itertools.islice(body, 1, len(body) - 1):
                yield "+" + line
        elif self._len:
            yield from self._text.split("\n")

    def __len__(self) -> int:
        return self._len

    def text(self) -> str:
        """The lines joined by newlines, as "\n".join(self) gives them, without a string per line."""
        if not self._added:
            return "\n".join(self._head + ((self._text,) if self._len > len(self._head) else ()))
        config = self._text if isinstance(self._text, str) else self._text.intended
        if len(self) == len(self._head) or not config.endswith("\n") or _other_line_ends(config):
            return "\n".join(self)  # what splitlines() makes of other line ends is not worth copying
        body = config[config.index("\n") + 1:config.rindex("\n", 0, len(config) - 1)]
        return "\n".join(self._head) + "\n+" + body.replace("\n", "\n+")

    def __getitem__(self, i):
        return list(self)[i]

    def __eq__(self, other) -> bool:
        return isinstance(other, Sequence) and not isinstance(other, str) and list(self) == list(other)

    def __repr__(self) -> str:
        return f"Lines({len(self)} lines)"

    def kept(self, intended_xml: str) -> list:
        """Its form in the build cache: a new device's diff refers to the config kept beside it."""
        if self._added and self._text is intended_xml:
            return [list(self._head), None]
        return [list(self._head), self._text, self._added, self._len - len(self._head)]

    @classmethod
    def from_kept(cls, value: list, intended_xml: str) -> Lines:
        return cls(value[0], intended_xml, True) if value[1] is None else cls(*value)


def as_config(data_xml: str) -> str:
    """A device's <data> reply (as a rollback records what a device ran) as our pretty <config>
    document, so the diff lines up."""
    out = etree.Element(f"{{{NC_NS}}}config", nsmap={None: NC_NS})
    for top in parse(data_xml):
        if isinstance(top.tag, str):
            out.append(copy.deepcopy(top))
    etree.indent(out, space="  ")
    return etree.tostring(out, encoding="unicode") + "\n"


def plan_diff(device: str, current_xml: str, intended_xml: str, context: int = 3) -> Lines:
    """A unified diff of the two configs, as a person would read it."""
    a = current_xml.splitlines()
    if len(a) <= 2:
        if not current_xml.strip() or len(parse(current_xml)) == 0:  # nothing on the device yet: all is new
            return Lines.added_config(device, intended_xml)
        a = as_config(current_xml).splitlines()  # a read-back, on one line
    return Lines.of(_unified(a, intended_xml.splitlines(), f"{device} (current)", f"{device} (intended)", context))


def readable(device: str, current_xml: str, intended_xml: str, context: int = 3) -> list[str]:
    return list(plan_diff(device, current_xml, intended_xml, context))


def _unified(a: list[str], b: list[str], label_a: str, label_b: str, context: int) -> list[str]:
    """GNU diff (Myers, near-linear here) when the machine has it: difflib takes tens of seconds
    on a 40,000-line config with hundreds of scattered changes, as a bulk upgrade makes."""
    diff = shutil.which("diff")
    if diff is None or len(a) + len(b) < 2000:
        return list(difflib.unified_diff(a, b, label_a, label_b, n=context, lineterm=""))
    with tempfile.TemporaryDirectory() as tmp:
        fa, fb = Path(tmp) / "a", Path(tmp) / "b"
        fa.write_text("\n".join(a) + "\n")
        fb.write_text("\n".join(b) + "\n")
        r = subprocess.run([diff, f"-U{context}", "--label", label_a, "--label", label_b, str(fa), str(fb)],
                           capture_output=True, text=True)
    if r.returncode > 1:
        return list(difflib.unified_diff(a, b, label_a, label_b, n=context, lineterm=""))
    return r.stdout.splitlines()
