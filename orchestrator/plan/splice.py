"""A device's new intended config made from its kept build, without merging its thousands of
pieces again: a line re-rated changes one piece of its BNG, and that BNG holds 14,400.

It is made when the pieces that changed hold the same nodes as before (ownership.nodes: a line
changed, not added, moved or removed) and every node they own alone lies in a unit they own
alone: the kept config with each such unit's text replaced, in place, by that unit as libyang
prints it from the new piece. A merge gives the same bytes. A unit one piece alone holds is that
piece's subtree, moved into the device as parsed (libyang prints it alike wherever it stands), at
the place the piece's merge first put it: the pieces merge in the same order as before, and no
entry is new. What the changed pieces hold outside those units (the containers above them) must
print exactly as before. Anything else (a changed node two pieces share, a unit text found other
than once in the kept config) is merged whole, as is a part that fails validation by reach."""

from __future__ import annotations

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
    if old is None or not rendered or old.keys() != {o for o, _ in keyed}:
        return None
    new = dict(keyed)
    if {o for o in old if old[o] != new[o]} != rendered.keys():
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
    """`intended` with each old block replaced by its new one; None unless each old block is
    found in it exactly once, on whole lines."""
    at = []
    for old, new in swaps:
        i = intended.find("\n" + old)
        if i < 0 or intended.find("\n" + old, i + 1) >= 0:
            return None
        at.append((i + 1, i + 1 + len(old), new))
    at.sort()
    if any(a[1] > b[0] for a, b in zip(at, at[1:])):
        return None
    out, last = [], 0
    for start, end, new in at:
        out += [intended[last:start], new]
        last = end
    out.append(intended[last:])
    return "".join(out)


_PARSER = etree.XMLParser(huge_tree=True)
