"""A device's new intended config made from its kept build, without merging its thousands of
pieces again: a line re-rated, added or deleted changes one piece of its BNG (of 14,400) and one
of its OLT (of 960).

Each piece that changed is taken from what it was to what it is, on the kept config and its
ownership (ownership.combine), where a merge of every piece gives the same bytes:
* Its units, the topmost nodes it alone holds, are its own subtrees, moved into the device as
  parsed (libyang prints one alike wherever it stands) where its merge first put them. A unit it
  keeps has its text replaced in place; one it drops is cut out, unless that leaves the element
  around it empty; a new one is a list entry, put right after the last entry of its list that the
  merge meets before it (held first by a piece merged before, or by its own piece and rendered
  before it): where libyang's merge puts it. A line moving to a rate profile its OLT does not
  hold yet brings the profile as such a unit.
* A list entry it shares with others (a rate profile) keeps its text. One it keeps must print
  from it as before; one it joins must print from it as the kept config has it; one it leaves
  must print so from the last other piece that holds it, which then gives the merge all of it.
  Such an entry holds no list (whose order the merge decides).
* What it holds besides is bare containers (no leaf).
* It is not the first to hold a node it shares and joins or leaves, so no node moves, and its
  ownership changes only where combine would record a change, in the same order: a node recorded
  from now on (one it leaves, or another's child in a container it joins, until then with the
  container's owners) goes where its first holder's merge meets it; one that now has its parent's
  owners is no longer recorded.
Pieces are moved one after another; new pieces come last, in merge order, each on the config the
pieces before it left. Anything else (a new top-level node or container, new pieces with gone
ones, more than MOST_NEW new pieces, units in another order, a text found other than once in the
kept config) is merged whole, as is a part that fails validation by reach."""

from __future__ import annotations

import re
from collections.abc import Mapping

from lxml import etree

from orchestrator.models.context import ValidationFailed
from orchestrator.plan import fragcache, partial
from orchestrator.plan.assemble import printed
from orchestrator.plan.diff import compose
from orchestrator.plan.ownership import elements_at


# Each new piece reads the device's ownership and copies its config once: past about 20 of them a
# merge of every piece costs as much (new lines on an OLT and its BNG of 14,400 lines, plan times
# alternated: 10 new ones 1.41 and 1.51 times faster spliced, 24 alike, 50 1.08 times slower).
MOST_NEW = 16


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
            (added and gone):
        return None
    if len(rendered) + len(gone) > partial.MOST * len(keyed) or len(added) > MOST_NEW:
        return None  # most of the device (a template changed), or more new pieces than a splice pays for
    kept = fragcache.unpack_exact(job.cached_build[1])
    intended, owners = kept[1], kept[6]
    # Where the kept config differs from the one the device runs: nowhere when it runs it; else
    # as the kept build knew it, when made from that same record (devices.Built.changed_lines).
    if job.current == intended:
        since_current = ([], [])
    else:
        since_current = fragcache.changed_lines_of(kept) if job.current and kept[-1] == job.current_sha else None
    pieces = _Pieces(job)
    order = {o: i for i, o in enumerate(old)} if not added else {o: i for i, (o, _) in enumerate(keyed)}
    # Validation by reach asks which other pieces hold an entry the moved ones hold (a profile):
    # those, found by the kept ownership, are the only ones it needs to read.
    sharing: dict[str, list[str]] = {}
    for found in [*(pieces.get(o)[1] for o in old.keys() & rendered.keys() | set(gone)),
                  *(found for _, found in rendered.values())]:
        sharing.update(_entry_owners(owners, found, pieces, order))
    texts = _Texts(keyed, rendered, pieces, sharing)
    reach = partial.reach_of(job, models, index, keyed, texts, texts.holders)
    if reach is None:
        return None
    # A new piece's entry may go right after another new piece's: each new one is moved on the
    # config the pieces before it left (in merge order, after the changed and gone ones, whose
    # swaps are made together).
    swaps: list[tuple[str, str]] = []
    # Where the new config differs from the one the device runs (one swap makes it from the kept
    # one): the edit's diff looks only there.
    for owner in [*sorted(rendered.keys() - set(added)), *gone, *added]:
        if owner in added and swaps:
            intended, swaps, since_current = _swap(intended, swaps), [], None
            if intended is None:
                return None
        was = pieces.get(owner) if owner in old else None
        now = rendered.get(owner)
        made = _moved(models, index, intended, owners, owner, was, now, order, pieces)
        if made is None:
            return None
        owners, more = made
        swaps += more
        pieces.now[owner] = now
    made = _swapped(intended, swaps)
    if made is None:
        return None
    out, changed = made
    return out, owners, reach, compose(since_current, changed) if since_current is not None else None


class _Pieces:
    """The device's pieces as this splice has them so far: kept ones unpacked when first asked
    for, those it moved as they are now (None: gone)."""

    def __init__(self, job):
        self.job, self.now, self._nodes, self._kept, self._positions = job, {}, {}, {}, {}

    def get(self, owner: str) -> tuple[str, list] | None:
        if owner in self.now:
            return self.now[owner]
        if owner not in self._kept:
            self._kept[owner] = fragcache.unpack_piece(self.job.cached[owner][1])
        return self._kept[owner]

    def kept(self, owner: str) -> bool:
        """Whether the store's cache has a piece of this owner."""
        return owner in self.job.cached

    def nodes(self, owner: str) -> dict[str, str | None]:
        key = (owner, owner in self.now)
        if key not in self._nodes:
            piece = self.get(owner)
            self._nodes[key] = dict(piece[1]) if piece is not None else {}
        return self._nodes[key]

    def positions(self, owner: str) -> dict[str, int]:
        """node → its place among the nodes the piece renders."""
        key = (owner, owner in self.now)
        if key not in self._positions:
            self._positions[key] = {k: i for i, k in enumerate(self.nodes(owner))}
        return self._positions[key]


class _Texts(Mapping):
    """owner → the text of the device's pieces rendered anew and of those holding the list
    entries in `sharing` (entry → its owners in the kept build), in the order they merge, the
    latter unpacked from the store's cache only when read."""

    def __init__(self, keyed: list[tuple[str, str | None]], rendered: dict[str, tuple[str, list]],
                 pieces: _Pieces, sharing: dict[str, list[str]]):
        among = {o for who in sharing.values() for o in who}
        self.owners = [o for o, _ in keyed if o in rendered or o in among]
        self.known = set(self.owners)
        self.rendered, self.pieces, self.sharing = rendered, pieces, sharing

    def holders(self, values: list[str]) -> list[str]:
        """The owners, in merge order, that may hold an entry keyed by these values: those the
        kept build has holding an entry whose path names them all, and the ones rendered anew.
        An entry the kept build does not hold is held by no piece that did not change."""
        who = {o for p, owners in self.sharing.items() if all(v in p for v in values) for o in owners}
        return [o for o in self.owners if o in who or o in self.rendered]

    def __getitem__(self, owner: str) -> str:
        if owner in self.rendered:
            return self.rendered[owner][0]
        if owner not in self.known or not self.pieces.kept(owner):
            raise KeyError(owner)
        return self.pieces.get(owner)[0]

    def __contains__(self, owner) -> bool:
        return owner in self.rendered or (owner in self.known and self.pieces.kept(owner))

    def __iter__(self):
        return iter(self.owners)

    def __len__(self) -> int:
        return len(self.owners)


def _entry_owners(owners: dict[str, list[str]], found: list, pieces: _Pieces,
                  order: dict[str, int]) -> dict[str, list[str]]:
    """list entry → the pieces that hold it by the kept ownership, for each entry these nodes
    hold: one not recorded there has its parent's owners if the device holds it (its parent's
    first owner does), none if the device does not hold it."""
    held: dict[str, list[str]] = {}
    for p, up in found:
        held[p] = owners.get(p) or _as_parent(p, held.get(up), pieces, order) or []
    return {p: who for p, who in held.items() if p.endswith("]")}


def _first(who: list[str], order: dict[str, int]) -> str:
    return min(who, key=order.__getitem__)


def _as_parent(p: str, up: list[str] | None, pieces: _Pieces, order: dict[str, int]) -> list[str] | None:
    """The owners of node `p`, which the kept ownership does not record, given its parent's (`up`):
    those, when the device holds it (its parent's first owner does); else None."""
    return up if up and p in pieces.nodes(_first(up, order)) else None


def _moved(models, index, intended: str, owners: dict[str, list[str]], owner: str, was, now,
           order: dict[str, int], pieces: _Pieces) -> tuple[dict, list[tuple[str, str]]] | None:
    """(the ownership, the swaps) that take `owner`'s piece from `was` to `now` ((text, nodes),
    None for none), or None when a merge is needed to tell."""
    me = order[owner]
    f0 = dict(was[1]) if was else {}
    f1 = dict(now[1]) if now else {}
    held: dict[str, list[str]] = {}  # the owners each node has in the kept build
    for p, up in f0.items():
        held[p] = owners.get(p) or (held[up] if up is not None else None)
        if held[p] is None:
            return None
    fresh: set[str] = set()  # nodes of the new piece the device does not hold yet
    for p, up in f1.items():
        if p in held:
            continue
        if up in fresh:
            fresh.add(p)
            continue
        who = owners.get(p)
        if who is None:
            if up is None:
                return None  # a new top-level node: placed among the others by schema order
            if owner not in held[up]:
                who = _as_parent(p, held[up], pieces, order)  # there already, not recorded
        if who is None:
            fresh.add(p)
        else:
            held[p] = who
    after = {p: ([o for o in who if o != owner] if p not in f1 else
                 who if p in f0 else sorted(who + [owner])) for p, who in held.items()}
    after.update((p, [owner]) for p in fresh)
    shape0, shape1 = _shape(f0, held, owner), _shape(f1, after, owner)
    if shape0 is None or shape1 is None:
        return None
    (units0, entries0, boxes0), (units1, entries1, boxes1) = shape0, shape1
    if [u for u in f0 if u in units1] != [u for u in f1 if u in units0]:
        return None  # its units in another order: a merge would record (or place) them otherwise
    blocks0 = _blocks(models, index, was[0], units0 | entries0) if was else ("", {})
    blocks1 = _blocks(models, index, now[0], units1 | entries1) if now else ("", {})
    if blocks0 is None or blocks1 is None or not _bare(blocks0[0], len(boxes0)) or \
            not _bare(blocks1[0], len(boxes1)):
        return None
    swaps = [(blocks0[1][u], blocks1[1][u] if u in units1 else "") for u in units0
             if u not in units1 or blocks0[1][u] != blocks1[1][u]]
    for e in entries0 & entries1:
        if blocks0[1][e] != blocks1[1][e]:
            return None
    for e in entries0 - entries1:  # left: the last of the others gives the entry all it holds
        text = _last_print(models, index, pieces, e, after[e], order)
        if text is None or not _once(intended, text):
            return None
    for e in entries1 - entries0:  # joined: it gives the entry nothing it does not hold already
        if not _once(intended, blocks1[1][e]):
            return None
    out = dict(owners)
    parents = {**f0, **f1}
    inside = _inside(parents, units0 | units1)
    unrecorded: dict[str, list[str]] = {}  # nodes recorded from now on
    dropped: set[str] = set()  # nodes no longer recorded: they have their parent's owners now
    for p, who in after.items():
        if p in inside or p in units0 or p in units1:
            continue
        if who != held[p]:
            if not any(order[o] < me for o in (who if p in f0 and p not in f1 else held[p])):
                return None  # it was or would be the first to hold it: the node may move
            below = _beneath(owners, pieces, p, held[p], who, parents, order)
            if below is None:
                return None
            unrecorded.update(below[0])
            dropped |= below[1]
        up = parents[p]
        if up is None or who != after[up]:
            if p not in owners:
                unrecorded[p] = who  # recorded from now on, where a merge first meets it
            else:
                out[p] = who
        else:
            out.pop(p, None)
    for u in (units0 - units1) | dropped:
        out.pop(u, None)
    by_first: dict[str, dict[str, list[str]]] = {}  # where a merge first meets each: its first holder
    for p, who in unrecorded.items():
        by_first.setdefault(_first(who, order), {})[p] = who
    for first, group in by_first.items():
        at = pieces.positions(first)
        out = _put(out, order, order[first], dict(sorted(group.items(), key=lambda kv: at[kv[0]])), at)
    if units1 - units0:
        at = {p: i for i, p in enumerate(f1)}
        new = {u: up for u, up in f1.items() if u in units1 - units0}
        # Entries beside them that the ownership does not record (they have their parent's owners).
        beside = {q: after[q] for q, up in parents.items()
                  if up in new.values() and q not in fresh and after[q] == after[up]}

        def rank(k: str, who: list[str]) -> tuple[int, int]:  # where a merge meets it
            first = _first(who, order)
            return order[first], (at if first == owner else pieces.positions(first)).get(k, -1)

        for anchor, group in _anchors(out, new, order, me, at, beside, rank).items():
            who = out[anchor] if anchor in out else beside.get(anchor)
            text = None if who is None else _printed(models, index, anchor, new[group[0]], owner, blocks1,
                                                     who, order, pieces, f1)
            if text is None:
                return None
            more = "".join(blocks1[1][u] for u in group)
            if anchor in units0 and blocks0[1][anchor] != text:
                swaps = [(o, n + more if o == blocks0[1][anchor] else n) for o, n in swaps]
            else:
                swaps.append((text, text + more))
        out = _put(out, order, me, {u: [owner] for u in new}, at)
    return out, swaps


def _shape(found: dict[str, str | None], who: dict[str, list[str]],
           owner: str) -> tuple[set, set, set] | None:
    """(units: the topmost nodes `owner` alone holds; entries: the topmost list entries it shares;
    boxes: the containers above those) of one piece's nodes, given each node's owners; None when a
    node below a unit or an entry is held otherwise than it, or an entry holds a list entry (whose
    place a merge decides)."""
    units, entries, boxes = set(), set(), set()
    root: dict[str, str] = {}  # a node in a unit or an entry → that unit or entry
    for p, up in found.items():
        if up in root:
            if who[p] != who[root[up]] or (root[up] in entries and p.endswith("]")):
                return None
            root[p] = root[up]
        elif who[p] == [owner]:
            units.add(p)
            root[p] = p
        elif p.endswith("]"):
            entries.add(p)
            root[p] = p
        else:
            boxes.add(p)
    return units, entries, boxes


def _inside(parents: dict[str, str | None], units: set[str]) -> set[str]:
    """The nodes below the units (not the units themselves)."""
    out: set[str] = set()
    for p, up in parents.items():
        if up in units or up in out:
            out.add(p)
    return out


def _beneath(owners, pieces, p: str, before: list[str], after: list[str], parents,
             order) -> tuple[dict[str, list[str]], set[str]] | None:
    """How the children of `p` that the piece does not hold are recorded once p's owners go from
    `before` to `after`: (those recorded from now on, with their owners: they had p's; those no
    longer recorded: they have p's new owners), or None when one's parent cannot be told."""
    record = {c: before for c, up in pieces.nodes(_first(before, order)).items()
              if up == p and c not in owners and c not in parents}
    prefix, drop = p + "/", set()
    for k, v in owners.items():
        if len(v) == len(after) and v == after and k.startswith(prefix) and k not in parents:
            up = pieces.nodes(_first(v, order)).get(k, "")
            if up == p:
                drop.add(k)
            elif not up:
                return None
    return record, drop


def _put(owners: dict[str, list[str]], order: dict[str, int], me: int, new: dict,
         at: dict[str, int] | None = None) -> dict:
    """The ownership with `new` (in the order its piece renders them) recorded where a merge of the
    pieces in order first meets each: after every node a piece before theirs holds first, and
    after those their own piece holds first and renders before it (at: its nodes' order)."""
    at = at or {}
    out: dict[str, list[str]] = {}
    waiting = list(new.items())
    for k, who in owners.items():
        while waiting and not _before(k, who, waiting[0][0], order, me, at):
            out.update([waiting.pop(0)])
        out[k] = who
    out.update(waiting)
    return out


def _before(k: str, who: list[str], u: str, order: dict[str, int], me: int, at: dict[str, int]) -> bool:
    """Whether a merge meets node `k` (owners `who`) before node `u` of piece number `me`."""
    first = min(order[o] for o in who)
    return first < me or (first == me and k in at and at[k] < at[u])


def _bare(rest: str, containers: int) -> bool:
    """Whether a piece printed without its units is `containers` elements with no text: the
    nodes it holds outside them (ownership.nodes lists no leaf, a list entry has key leaves)."""
    return rest.count("<") - rest.count("</") == containers and \
        _TEXT.search(rest) is None


_TEXT = re.compile(r">\s*[^<\s]")


def _once(text: str, block: str) -> bool:
    """Whether `block` stands in `text` exactly once, on whole lines."""
    return _where(text, block) is not None


def _where(text: str, block: str) -> int | None:
    """Where `block` starts in `text` when it stands there exactly once, on whole lines."""
    i = text.find("\n" + block)
    return i + 1 if i >= 0 and text.find("\n" + block, i + 1) < 0 else None


def _anchors(owners: dict[str, list[str]], units: dict[str, str], order: dict[str, int], me: int,
             at: dict[str, int], beside: dict[str, list[str]], rank) -> dict:
    """entry → the new units that go right after it: the last entry of the same list that a merge
    meets before them (_before; libyang puts a merged entry after the entries of its list it
    finds), recorded in the ownership or `beside` it (rank(entry, owners): where a merge meets
    one); None for units with no such entry, or not a list entry."""
    out: dict = {}
    for unit, up in units.items():
        tail = unit[len(up) + 1:]
        if "[" not in tail:
            out.setdefault(None, []).append(unit)  # a container: placed by schema order
            continue
        prefix = f"{up}/{tail[:tail.index('[') + 1]}"
        last = None
        for k, who in owners.items():
            if k.startswith(prefix) and _before(k, who, unit, order, me, at):
                last = k
        for k, who in beside.items():
            if k.startswith(prefix) and _before(k, who, unit, order, me, at) and \
                    (last is None or rank(k, who) > rank(last, owners.get(last) or beside[last])):
                last = k
        out.setdefault(last, []).append(unit)
    return out


def _printed(models, index, entry: str, up: str, owner: str, blocks: tuple[str, dict[str, str]],
             who: list[str], order: dict[str, int], pieces: _Pieces, found: dict) -> str | None:
    """The lines `entry` (under `up`) stands on in the kept config, as its moved piece prints it
    now or else as the last other piece that holds it does; None when it is not an entry under
    `up` or not printed whole (swapping it in then finds it other than once)."""
    if entry in blocks[1]:
        return blocks[1][entry] if found.get(entry) == up else None
    if owner in who:
        return None  # inside one of the piece's own nodes: not an entry beside the new ones
    if pieces.nodes(max(who, key=order.__getitem__)).get(entry) != up:
        return None
    return _last_print(models, index, pieces, entry, who, order)


def _last_print(models, index, pieces: _Pieces, entry: str, who: list[str], order: dict[str, int]) -> str | None:
    """The lines shared `entry` stands on as the last of `who` to merge prints it (a merge takes
    all of it from there), or None when that piece does not print it whole."""
    theirs = pieces.get(max(who, key=order.__getitem__))
    block = _blocks(models, index, theirs[0], {entry}) if theirs is not None else None
    return block[1][entry] if block is not None else None


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
    made = _swapped(intended, swaps)
    return made[0] if made is not None else None


def _swapped(intended: str, swaps: list[tuple[str, str]]) -> tuple[str, tuple[list, list]] | None:
    """(_swap's text, the lines the blocks stood on and stand on: diff.Changed's regions of the
    old text and of the new one), or None as _swap."""
    at = []
    for old, new in swaps:
        i = _where(intended, old)
        if i is None:
            return None
        at.append((i, i + len(old), new))
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
    if any(_emptied(text, at) for at in cuts):
        return None
    before, after, line, shift, last = [], [], 1, 0, 0
    for start, end, new in at:  # (first line, last line); a block taken out: the point it leaves
        line += intended.count("\n", last, start)
        old_lines, new_lines = intended.count("\n", start, end), new.count("\n")
        before.append((line, line + old_lines - 1))
        after.append((line + shift, line + shift + new_lines - 1))
        shift += new_lines - old_lines
        last = start
    return text, (before, after)


def _emptied(text: str, at: int) -> bool:
    """Whether the line ending at `at` opens an element that the line starting there closes."""
    opened = text[text.rfind("\n", 0, at - 1) + 1:at].strip()
    if not opened.startswith("<") or opened.startswith("</") or opened.endswith("/>") or "</" in opened:
        return False
    while text.startswith(" ", at):
        at += 1
    return text.startswith("</", at)


_PARSER = etree.XMLParser(huge_tree=True)
