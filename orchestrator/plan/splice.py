"""A device's new intended config made from its kept build, without merging its thousands of
pieces again: a line re-rated or deleted changes one piece of its BNG, and that BNG holds 14,400.

It is made when the pieces that changed hold the same nodes as before (ownership.nodes: a line
changed, not added or moved) and every node they own alone lies in a unit they own alone: the
kept config with each such unit's text replaced, in place, by that unit as libyang prints it from
the new piece. A merge gives the same bytes. A unit one piece alone holds is that piece's subtree,
moved into the device as parsed (libyang prints it alike wherever it stands), at the place the
piece's merge first put it: the pieces merge in the same order as before, and no entry is new.
What the changed pieces hold outside those units (the containers above them) must print exactly
as before.

A piece removed (a line deleted) is made the same way, its units' text taken out, when what it
holds outside them is containers alone (no leaf, no list entry) that a piece merged before it
holds too: those stand where that piece put them, with what the others put in them, and no
container is left empty. Its ownership is the kept one without the piece.

Anything else (a changed node two pieces share, a new piece, a unit text found other than once in
the kept config) is merged whole, as is a part that fails validation by reach."""

from __future__ import annotations

import re

from lxml import etree

from orchestrator.models.context import ValidationFailed
from orchestrator.plan import fragcache, partial
from orchestrator.plan.assemble import printed
from orchestrator.plan.ownership import elements_at


def spliced(job, models, index, keyed: list[tuple[str, str | None]],
            rendered: dict[str, tuple[str, list]]) -> tuple[str, dict, tuple] | None:
    """(the new intended config, its ownership, the reach to validate it by) when it can be made
    from the kept build, else None. keyed: every piece's key; rendered: owner → (text, nodes) of
    the pieces rendered anew, which must be exactly those that changed."""
    old = partial.kept_pieces(job)
    new = dict(keyed)
    if old is None or not new.keys() <= old.keys():
        return None
    gone = [o for o in old if o not in new]
    if {o for o in new if old[o] != new[o]} != rendered.keys() or not (rendered or gone):
        return None
    reach = partial.reach_of(job, models, index, keyed, {o: t for o, (t, _) in rendered.items()})
    if reach is None:
        return None
    kept = fragcache.unpack_exact(job.cached_build[1])
    intended, owners = kept[1], kept[6]
    swaps: list[tuple[str, str]] = []
    for owner in sorted(rendered):
        was_text, was_found = fragcache.unpack_piece(job.cached[owner][1])
        text, found = rendered[owner]
        if found != was_found:
            return None
        units = _own_units(owners, owner, found)
        if units is None:
            return None
        before, after = _blocks(models, index, was_text, units), _blocks(models, index, text, units)
        if before is None or after is None or before[0] != after[0]:
            return None
        swaps += [(before[1][p], after[1][p]) for p in units]
    order = {o: i for i, o in enumerate(old)}
    for owner in gone:
        was_text, was_found = fragcache.unpack_piece(job.cached[owner][1])
        units = _own_units(owners, owner, was_found)
        before = _blocks(models, index, was_text, units) if units is not None else None
        if before is None or not _bare(before[0], len(was_found) - _under(was_found, units)):
            return None
        owners = _without(owners, owner, was_found, units, order)
        if owners is None:
            return None
        swaps += [(before[1][p], "") for p in units]
    out = _swap(intended, swaps)
    return (out, owners, reach) if out is not None else None


def _own_units(owners: dict[str, list[str]], owner: str, found: list) -> set[str] | None:
    """The paths of the topmost nodes `owner` alone owns (kept ownership: a path is recorded where
    its owners differ from its parent's), or None when a node it shares lies below one of them."""
    held: dict[str, list[str]] = {}
    units = set()
    for p, up in found:  # document order: a parent before its children
        held[p] = who = owners.get(p) or (held.get(up) if up is not None else None)
        if who is None:
            return None
        mine = who == [owner]
        if up is not None and held[up] == [owner]:
            if not mine:
                return None  # another piece adds to a unit of this one
        elif mine:
            units.add(p)
    return units


def _under(found: list, units: set[str]) -> int:
    """How many of a piece's nodes lie in its units (the units themselves included)."""
    inside: set[str] = set()
    for p, up in found:
        if p in units or up in inside:
            inside.add(p)
    return len(inside)


def _bare(rest: str, containers: int) -> bool:
    """Whether a piece printed without its units is `containers` elements with no text: the
    nodes it holds outside them (ownership.nodes lists no leaf, a list entry has key leaves)."""
    return rest.count("<") - rest.count("</") == containers and \
        _TEXT.search(rest) is None


_TEXT = re.compile(r">\s*[^<\s]")


def _without(owners: dict[str, list[str]], owner: str, found: list, units: set[str],
             order: dict[str, int]) -> dict[str, list[str]] | None:
    """The kept ownership with `owner`'s piece gone (what ownership.combine gives without it), or
    None when its going moves or empties a node another piece holds: a node outside its units
    that no piece merged before it holds, or one left with the owners of a child recorded apart."""
    held: dict[str, list[str]] = {}
    inside: set[str] = set()
    out = dict(owners)
    for p, up in found:
        held[p] = who = owners.get(p) or (held[up] if up is not None else None)
        if who is None:
            return None
        if p in units or up in inside:
            inside.add(p)
            out.pop(p, None)
            continue
        rest = [o for o in who if o != owner]
        if not any(order.get(o, len(order)) < order[owner] for o in rest):
            return None
        if p in owners:
            if up is not None and rest == [o for o in held[up] if o != owner]:
                del out[p]
            else:
                out[p] = rest
        # A child recorded apart because its owners differed from this node's now equals them.
        prefix = p + "/"
        if any(v == rest and k.startswith(prefix) for k, v in owners.items() if len(v) == len(rest)):
            return None
    return out


def _blocks(models, index, text: str, units: set[str]) -> tuple[str, dict[str, str]] | None:
    """(the piece as printed without its units, path → each unit's printed lines), or None when
    it does not parse or a unit is not found."""
    try:
        tree = models.parse_fragment(text)
    except ValidationFailed:
        return None
    if tree is None:
        return ("", {}) if not units else None
    body = printed(tree)
    tree.free()
    body += "" if body.endswith("\n") else "\n"  # each line ends as it does inside the whole config
    lines = body.splitlines(keepends=True)
    found = elements_at(index, etree.fromstring(f"<r>{body}</r>".encode(), _PARSER), units)
    if found.keys() != units:
        return None
    spans = {p: (el.sourceline - 1, _last_line(lines, el.sourceline - 1)) for p, el in found.items()}
    if any(end is None for _, end in spans.values()):
        return None
    inside = {i for a, b in spans.values() for i in range(a, b + 1)}
    rest = "".join(line for i, line in enumerate(lines) if i not in inside)
    return rest, {p: "".join(lines[a:b + 1]) for p, (a, b) in spans.items()}


def _last_line(lines: list[str], first: int) -> int | None:
    """The line that closes the element opened on line `first` of a pretty print (the next one
    as far indented that starts with '</'), or `first` itself for an element on one line."""
    line = lines[first]
    if line.rstrip().endswith("/>") or "</" in line:
        return first
    close = line[:len(line) - len(line.lstrip(" "))] + "</"
    return next((i for i in range(first + 1, len(lines)) if lines[i].startswith(close)), None)


def _swap(intended: str, swaps: list[tuple[str, str]]) -> str | None:
    """`intended` with each old block replaced by its new one (an empty one: taken out); None
    unless each old block is found in it exactly once, on whole lines, and none taken out leaves
    the element around it empty (a merge would not print it)."""
    at = []
    for old, new in swaps:
        i = intended.find("\n" + old)
        if i < 0 or intended.find("\n" + old, i + 1) >= 0:
            return None
        at.append((i + 1, i + 1 + len(old), new))
    at.sort()
    if any(a[1] > b[0] for a, b in zip(at, at[1:])):
        return None
    out, last, size, cuts = [], 0, 0, []
    for start, end, new in at:
        out += [intended[last:start], new]
        size += start - last + len(new)
        if not new:
            cuts.append(size)
        last = end
    out.append(intended[last:])
    text = "".join(out)
    return None if any(_emptied(text, at) for at in cuts) else text


def _emptied(text: str, at: int) -> bool:
    """Whether the line ending at `at` opens an element that the line starting there closes."""
    opened = text[text.rfind("\n", 0, at - 1) + 1:at].strip()
    if not opened.startswith("<") or opened.startswith("</") or opened.endswith("/>") or "</" in opened:
        return False
    while text.startswith(" ", at):
        at += 1
    return text.startswith("</", at)


_PARSER = etree.XMLParser(huge_tree=True)
