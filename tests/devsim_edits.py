"""Random edits of a devsim datastore, valid and invalid, for holding its commit-time validation
(the part its changes reach, orchestrator/models/reach.py) against libyang's validation of the
whole datastore. Used by tests/test_devsim_scale.py (hypothesis) and bench/devsim.py (1,000)."""

from __future__ import annotations

import copy

from lxml import etree

from orchestrator.devsim.rpcerror import RpcError, RpcErrors
from orchestrator.models.schema_index import key_shell

NC = "urn:ietf:params:xml:ns:netconf:base:1.0"
OP = f"{{{NC}}}operation"


def _wrap(dev, key, sp, el):
    """A <config> holding `el` at the place of unit `key`."""
    config = etree.Element(f"{{{NC}}}config", nsmap={None: NC})
    parent = config
    for tag in key[0]:
        parent = etree.SubElement(parent, tag)
    parent.append(el)
    return config


def _leaves(el):
    return [x for x in el.iter() if isinstance(x.tag, str) and len(x) == 0 and x is not el]


def random_edit(dev, pick):
    """An edit of 1-3 changes (mostly 1) to units of the device's running datastore. `pick(n)` chooses an
    int in [0, n). Changes: delete a unit; replace a unit with a copy where leaves took values
    other entries have at the same tag (a leafref now naming another interface or none, an
    interface of another type) or lost a node; add a copy of a unit under a new key."""
    units = dev.trees["running"].units()
    by_tag: dict[str, list] = {}
    for _, _, el in units:
        for leaf in _leaves(el):
            by_tag.setdefault(leaf.tag, []).append(leaf)
    config = None
    for _ in range(1 + (pick(3) == 0) * pick(3)):  # mostly one change: one bad change spoils an edit
        key, sp, el = units[pick(len(units))]
        what = pick(4)
        if what == 0:
            shell = key_shell(dev.index, sp, el)
            shell.set(OP, "delete")
            change = _wrap(dev, key, sp, shell)
        else:
            new = copy.deepcopy(el)
            _, keys = dev.index.node(sp)
            key_tags = {f"{{{etree.QName(new).namespace}}}{k}" for k in keys}
            if what == 3:  # a new entry: the copy under a new key
                kl = next((x for x in new if x.tag in key_tags), None)
                if kl is not None:
                    kl.text = f"{kl.text}-copy{pick(3)}"
            for _ in range(pick(3)):  # none at all too: a copy or a replace as it was is valid
                leaves = [x for x in _leaves(new) if x.tag not in key_tags]
                if not leaves:
                    break
                leaf = leaves[pick(len(leaves))]
                if pick(4) == 0:
                    leaf.getparent().remove(leaf)
                    continue
                same = by_tag.get(leaf.tag, [])
                if same:
                    other = same[pick(len(same))]
                    leaf.getparent().replace(leaf, copy.deepcopy(other))
                else:
                    leaf.text = f"x{pick(5)}"
            new.set(OP, "replace" if what != 3 else "merge")
            change = _wrap(dev, key, sp, new)
        if config is None:
            config = change
        else:
            _graft(config, change)
    return config


def _graft(into, other) -> None:
    """Put the unit in `other` (a one-path <config>) into `into`, sharing its containers."""
    a, b = into, other
    while len(b) == 1 and len(b[0]) and b[0].get(OP) is None:
        child = b[0]
        same = a.find(child.tag)
        if same is None or child.tag != same.tag:
            a.append(child)
            return
        a, b = same, child
    for c in list(b):
        a.append(c)


def judge(dev, config, commit: bool):
    """Apply `config` to the candidate, then validate it both ways. (whole verdict, the commit
    validation's verdict, which way it went) or None when the edit itself is refused (a value of
    the wrong type, data to delete that a former change already deleted). The candidate is
    committed when `commit` and valid, else discarded."""
    try:
        dev.edit("candidate", 1, config, "merge", "", "stop-on-error")
    except (RpcError, RpcErrors):
        return None
    cand = dev.trees["candidate"]
    whole = True
    try:
        dev.validate(cand.root)
    except RpcError:
        whole = False
    try:
        how = dev.validate_candidate()
        fast = True
    except RpcError:
        how, fast = "whole", False
    if commit and whole:
        dev.commit(1, False, 600, None, None, None)
    else:
        dev.discard()
    return whole, fast, how
