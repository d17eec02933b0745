"""A device's new intended config made from its kept build, without merging its thousands of
pieces again: a line re-rated, added or deleted changes one piece of its BNG, which holds 14,400.

A changed piece: when it holds the same nodes as before (ownership.nodes) and every node it owns
alone lies in a unit it owns alone, the kept config has each such unit's text replaced, in place,
by that unit as libyang prints it from the new piece. A merge gives the same bytes. A unit one
piece alone holds is that piece's subtree, moved into the device as parsed (libyang prints it
alike wherever it stands), at the place the piece's merge first put it: the pieces merge in the
same order as before, and no entry is new. What it holds outside its units (the containers above
them) must print exactly as before.

A piece removed (a line deleted): its units' text is taken out, when what it holds outside them
is containers alone (no leaf, no list entry) that a piece merged before it holds too. Those stand
where that piece put them, with what the others put in them, and no container may be left empty.
Its ownership is the kept one without the piece.

A piece added (a new line, one per plan): each of its units must be a new entry of a list that
already holds an entry one piece merged before it alone owns. libyang puts a merged entry after
the entries of its list it finds, so the unit's text goes right after the last such entry's; what
it holds outside its units is bare containers that a piece merged before it holds already. Its
ownership is recorded where ownership.combine would record it, in the same order.

Anything else (a changed node two pieces share, a unit text found other than once in the kept
config) is merged whole, as is a part that fails validation by reach."""

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
    if old is None:
        return None
    new = dict(keyed)
    gone = [o for o in old if o not in new]
    added = [o for o in new if o not in old]
    if {o for o in new if old.get(o) != new[o]} != rendered.keys() or not (rendered or gone) or \
            (added and (gone or len(added) > 1)):
        return None
    reach = partial.reach_of(job, models, index, keyed, {o: t for o, (t, _) in rendered.items()})
    if reach is None:
        return None
    kept = fragcache.unpack_exact(job.cached_build[1])
    intended, owners = kept[1], kept[6]
    swaps: list[tuple[str, str]] = []
    for owner in sorted(rendered.keys() - set(added)):
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
    for owner in added:
        made = _added(models, index, owners, owner, rendered[owner], {o: i for i, (o, _) in enumerate(keyed)},
                      lambda o: fragcache.unpack_piece(job.cached[o][1]))
        if made is None:
            return None
        owners, more = made
        swaps += more
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


def _added(models, index, owners: dict[str, list[str]], owner: str, piece: tuple[str, list],
           order: dict[str, int], piece_of) -> tuple[dict, list[tuple[str, str]]] | None:
    """(the ownership with the new piece in it, the swaps that put its units in) when each of its
    units is a list entry that goes right after an entry one earlier piece alone holds, and what
    it holds outside them is bare containers it is not the first to hold; else None.
    piece_of(owner) → (text, nodes) of a kept piece."""
    text, found = piece
    me = order[owner]
    pieces: dict[str, dict] = {}

    def nodes_of(o: str) -> dict:
        if o not in pieces:
            pieces[o] = dict(piece_of(o)[1])
        return pieces[o]

    def first(who: list[str]) -> str:
        return min(who, key=order.__getitem__)

    mine = {p for p, _ in found}
    held: dict[str, list[str]] = {}
    units: dict[str, str] = {}  # unit → its parent
    inside: set[str] = set()
    for p, up in found:
        if up in inside:
            inside.add(p)
            continue
        who = owners.get(p)
        if who is None and up is not None and p in nodes_of(first(held[up])):
            who = held[up]  # there already, held by its parent's owners (so not recorded)
        if who is None:
            if up is None:
                return None  # a new top-level node: placed among the others by schema order
            units[p] = up
            inside.add(p)
            continue
        held[p] = who
        holder = first(who)
        if order[holder] > me or any(up_ == p and c not in owners and c not in mine
                                     for c, up_ in nodes_of(holder).items()):
            return None  # it would come first, or a child all its owners hold would be recorded apart
    if not units:
        return None
    blocks = _blocks(models, index, text, set(units))
    if blocks is None or not _bare(blocks[0], len(found) - len(inside)):
        return None
    out: dict[str, list[str]] = {}
    at = None
    for k, who in owners.items():
        if at is None and order[first(who)] > me:
            at = len(out)
            out.update((u, [owner]) for u in units)
        out[k] = sorted(who + [owner]) if k in held else who  # a node it joins
    if at is None:
        out.update((u, [owner]) for u in units)
    swaps = []
    for anchor, group in _anchors(owners, units, order, me).items():
        if anchor is None:
            return None
        entry, holder = anchor
        holder_text, holder_found = piece_of(holder)
        theirs = _own_units(owners, holder, holder_found)
        if theirs is None or entry not in theirs or nodes_of(holder).get(entry) != units[group[0]]:
            return None  # not an entry of the list the units go in (a node recorded below one)
        before = _blocks(models, index, holder_text, {entry})
        if before is None:
            return None
        block = before[1][entry]
        swaps.append((block, block + "".join(blocks[1][u] for u in group)))
    return out, swaps


def _anchors(owners: dict[str, list[str]], units: dict[str, str], order: dict[str, int],
             me: int) -> dict:
    """(entry, its one owner) → the new units that go right after it: the last entry of the same
    list, under the same parent, that a piece merged before the new one put there (libyang puts a
    merged entry after the entries of its list it finds); None for units with no such entry."""
    out: dict = {}
    for unit, up in units.items():
        tail = unit[len(up) + 1:]
        if "[" not in tail:
            out.setdefault(None, []).append(unit)  # a container: placed by schema order
            continue
        prefix = f"{up}/{tail[:tail.index('[') + 1]}"
        last = None
        for k, who in owners.items():
            if k.startswith(prefix) and min(order[o] for o in who) < me:
                last = (k, who[0]) if len(who) == 1 else None
        out.setdefault(last, []).append(unit)
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
