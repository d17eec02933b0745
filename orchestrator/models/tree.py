"""A datastore held as an lxml tree, with what makes an edit cost what it touches, not what the
datastore holds: the entries of big lists found by key (a dict per parent, built on first use),
an undo log in place of a copy of the whole tree, and the record of what changed since the last
commit, in units. A unit is an entry of an outermost list (an interface, a T-CONT, a forwarder):
nothing above it is a list, so (the tags of the containers above it, its identity) names it in
any tree of the same device; whatever lies outside every unit is the datastore's frame."""

from __future__ import annotations

from lxml import etree

from orchestrator.models.schema_index import SchemaIndex, identity

def body(root) -> str:
    """The elements under `root` as XML text (a datastore's content, without its wrapper)."""
    return "".join(etree.tostring(c, encoding="unicode") for c in root if isinstance(c.tag, str))


# below this many children a scan is cheaper than keeping a dict
_INDEXED = 16


def _many(parent) -> bool:
    """Whether parent has _INDEXED children or more (len() would count them all)."""
    try:
        parent[_INDEXED - 1]
    except IndexError:
        return False
    return True


class Positions:
    """Index of elements among their parent's children, counted once per parent when asked for
    many (lxml's index() walks the siblings each time)."""

    def __init__(self):
        self.maps: dict = {}
        self.asked: dict = {}

    def of(self, parent, el) -> int:
        m = self.maps.get(parent)
        if m is None:
            n = self.asked[parent] = self.asked.get(parent, 0) + 1
            if n < 8:
                return _index(parent, el)
            m = self.maps[parent] = {c: i for i, c in enumerate(parent)}
        return m[el]


def _index(parent, el) -> int:
    """parent.index(el), counted from the end when el is near it: an edit mostly adds entries
    last, and index() walks from the first of maybe 100,000 siblings."""
    x, back = el.getnext(), 0
    while x is not None and back < 64:
        x, back = x.getnext(), back + 1
    return len(parent) - 1 - back if x is None else parent.index(el)


class Tree:
    def __init__(self, index: SchemaIndex, root):
        self.index = index
        self.root = root
        self._kids: dict = {}  # parent element -> {identity: child}
        self.undo: list | None = None  # recording while an edit runs
        self.touched: dict = {}  # unit key -> schema path of its list, in the order first touched
        self.frame_changed = False

    # --- finding ---------------------------------------------------------------------------
    def find(self, parent, parent_sp: str, parent_ns, ident):
        kids = self._kids.get(parent)
        if kids is None and not _many(parent):
            for c in parent:
                if isinstance(c.tag, str) and c.tag == ident[0] and \
                        identity(self.index, self.index.step(parent_sp, parent_ns, c)[0], c) == ident:
                    return c
            return None
        if kids is None:
            kids = {}
            for c in parent:
                if isinstance(c.tag, str):
                    kids.setdefault(identity(self.index, self.index.step(parent_sp, parent_ns, c)[0], c), c)
            # published whole: a reader in another thread never sees it half built
            kids = self._kids.setdefault(parent, kids)
        return kids.get(ident)

    def container_path(self, tags: tuple[str, ...], create: bool = False):
        """The element at `tags` below the root (containers only), with its schema path and namespace."""
        el, sp, ns = self.root, "", None
        for tag in tags:
            nxt = el.find(tag)
            if nxt is None:
                if not create:
                    return None, sp, ns
                nxt = etree.Element(tag)
                self.add(el, nxt, (tag,), None)
            sp, ns = self.index.step(sp, ns, nxt)
            el = nxt
        return el, sp, ns

    def unit(self, key):
        parent, sp, ns = self.container_path(key[0])
        return None if parent is None else self.find(parent, sp, ns, key[1])

    # --- changing (each change is undoable and says which unit it touched) ------------------
    def _touch(self, unit) -> None:
        if unit is None:
            self.frame_changed = True
        else:
            self.touched.setdefault(unit[0], unit[1])

    def add(self, parent, el, ident, unit) -> None:
        parent.append(el)
        kids = self._kids.get(parent)
        if kids is not None:
            kids[ident] = el
        self._touch(unit)
        if self.undo is not None:
            self.undo.append(("add", parent, el, ident))

    def drop(self, parent, el, ident, unit) -> None:
        prev = el.getprevious()
        parent.remove(el)
        kids = self._kids.get(parent)
        if kids is not None:
            kids.pop(ident, None)
        self._touch(unit)
        if self.undo is not None:
            self.undo.append(("drop", parent, el, ident, prev))

    def swap(self, parent, old, new, ident, unit) -> None:
        parent.replace(old, new)
        kids = self._kids.get(parent)
        if kids is not None:
            kids[ident] = new
        self._touch(unit)
        if self.undo is not None:
            self.undo.append(("swap", parent, new, old, ident))

    def set_text(self, el, text, unit) -> None:
        if self.undo is not None:
            self.undo.append(("text", el, el.text))
        el.text = text
        self._touch(unit)

    def begin(self) -> None:
        self.undo = []

    def end(self) -> None:
        self.undo = None

    def rollback(self) -> None:
        """Undo every change since begin(), newest first."""
        log, self.undo = self.undo or [], None
        for entry in reversed(log):
            what, parent = entry[0], entry[1]
            if what == "add":
                _, _, el, ident = entry
                parent.remove(el)
                self._forget(parent, ident)
            elif what == "drop":
                _, _, el, ident, prev = entry
                if prev is None:
                    parent.insert(0, el)
                else:
                    prev.addnext(el)
                self._remember(parent, ident, el)
            elif what == "swap":
                _, _, new, old, ident = entry
                parent.replace(new, old)
                self._remember(parent, ident, old)
            else:
                _, el, text = entry
                el.text = text

    def _forget(self, parent, ident) -> None:
        kids = self._kids.get(parent)
        if kids is not None:
            kids.pop(ident, None)

    def _remember(self, parent, ident, el) -> None:
        kids = self._kids.get(parent)
        if kids is not None:
            kids[ident] = el

    def reset(self, root=None) -> None:
        """A new root (a whole-datastore replace) or the same one with nothing touched."""
        if root is not None:
            self.root = root
            self._kids = {}
        self.touched = {}
        self.frame_changed = False

    # --- units -------------------------------------------------------------------------------
    def put_unit(self, key, el) -> None:
        """Unit `key` becomes `el`, where it was, or last."""
        self.put_units([(key, "", el, self.position(key))])

    def position(self, key, where: "Positions | None" = None):
        """Where unit `key` is among its parent's children, or None."""
        parent, sp, ns = self.container_path(key[0])
        el = None if parent is None else self.find(parent, sp, ns, key[1])
        return None if el is None else (where or Positions()).of(parent, el)

    def put_units(self, items) -> dict:
        """Make each unit `key` be `el` (None: absent) at index `pos` of its parent, for items
        (key, list path, el, pos): first every old one goes, then the new ones come in ascending
        position, so the order ends as the positions say. What each was: key -> (list path,
        element or None, position or None). Positions are counted once per parent, not per
        unit: an edit of thousands of entries costs no more per entry than one."""
        return self.apply_units(self.plan_units(items))

    def plan_units(self, items):
        """What put_units(items) does, found without changing the tree: a commit finds it while
        others still read the tree, and changes the tree only in apply_units."""
        old, placed = {}, []
        where = Positions()
        for key, sp, el, pos in items:
            parent, psp, ns = self.container_path(key[0])
            cur = None if parent is None else self.find(parent, psp, ns, key[1])
            old[key] = (sp, cur, None if cur is None else where.of(parent, cur))
            if el is not None:
                placed.append((pos, key, sp, el, parent))
        placed.sort(key=lambda x: (x[0] is None, x[0] or 0))
        return old, placed

    def apply_units(self, plan) -> dict:
        old, placed = plan
        for key, (sp, cur, _) in old.items():
            if cur is not None:
                self.drop(cur.getparent(), cur, key[1], (key, sp))
        sizes: dict = {}
        for pos, key, sp, el, parent in placed:
            if parent is None:  # the first entry of its list: its containers come with it
                parent = self.container_path(key[0], create=True)[0]
            size = sizes.get(parent)
            if size is None:
                size = sizes[parent] = len(parent)
            if pos is None or pos >= size:
                parent.append(el)  # at the end: no walk along the siblings
            else:
                parent.insert(pos, el)
            sizes[parent] = size + 1
            kids = self._kids.get(parent)
            if kids is not None:
                kids[key[1]] = el
            self._touch((key, sp))
            if self.undo is not None:
                self.undo.append(("add", parent, el, key[1]))
        return old

    def units(self):
        """(key, list schema path, element) of every unit, in document order."""
        out = []
        self._units(self.root, (), "", None, out)
        return out

    def _units(self, el, tags, sp, ns, out) -> None:
        for c in el:
            if not isinstance(c.tag, str):
                continue
            csp, cns = self.index.step(sp, ns, c)
            kw, _ = self.index.node(csp)
            if kw == "list":
                out.append(((tags, identity(self.index, csp, c)), csp, c))
            elif kw == "container":
                self._units(c, tags + (c.tag,), csp, cns, out)
