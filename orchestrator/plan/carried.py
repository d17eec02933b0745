"""Which services a device's edit changes, from the ownership recorded for the new config (what it
sets or adds) and for the config the device was last given (what it deletes). A plan names every
one of them, also those planned earlier and not applied yet, whose changes it carries along."""

from __future__ import annotations

from lxml import etree

from orchestrator.plan.diff import NC
from orchestrator.plan.ownership import step

OP = f"{NC}operation"


def changed_services(index, edit_xml: str, new: dict, old: dict | None) -> set[str]:
    """Owners of every leaf the edit sets, entry it adds and node it deletes. `old` None: the
    device's last config has no recorded ownership (its deletions name no one)."""
    found: set[str] = set()

    def walk(el, path, spath, ns, mine_new, mine_old):
        p, sp, cns, key_els = step(index, path, spath, ns, el)
        now = new.get(p, mine_new)
        was = old.get(p, mine_old) if old is not None else []
        if el.get(OP) in ("delete", "remove"):
            found.update(was)
            return
        kids = [c for c in el if isinstance(c.tag, str) and c not in key_els]
        if not kids:
            found.update(now)
        for c in kids:
            walk(c, p, sp, cns, now, was)

    root = etree.fromstring(edit_xml.encode())
    for top in root:
        if isinstance(top.tag, str):
            walk(top, "", "", None, [], [])
    return found
