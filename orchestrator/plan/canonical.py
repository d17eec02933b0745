"""One device config in canonical form, and its sha256: what pins a lab-verified config and is
compared with what a device runs. Two configs have the same form exactly when the minimal edit
between them is empty (plan/diff.py): list entries by their keys and leaf-lists by value,
whatever their order; identity prefixes resolved; nodes outside the kind's models (an agent's
own NACM data) left out. A <config> document and a device's <data> reply compare alike."""

from __future__ import annotations

import hashlib

from orchestrator.devices.registry import KINDS
from orchestrator.models.schema_index import identity, leaf_value, schema_index
from orchestrator.plan.diff import parse


def lines(kind: str, xml: str) -> list[str]:
    index = schema_index(KINDS.get(kind).models)
    out: list[str] = []

    def walk(el, path: str, spath: str, ns: str | None) -> None:
        for c in el:
            if not isinstance(c.tag, str):
                continue
            sp, cns = index.step(spath, ns, c)
            kw, keys = index.node(sp)
            if kw == "unknown":
                continue
            ident = identity(index, sp, c)
            here = f"{path}/{c.tag}" + (f"[{','.join(ident[1])}]" if keys else "")
            if len(c) == 0:
                out.append(f"{here}={leaf_value(c)}")
            else:
                walk(c, here, sp, cns)

    walk(parse(xml), "", "", None)
    return sorted(out)


def sha(kind: str, xml: str) -> str:
    return hashlib.sha256("\n".join(lines(kind, xml)).encode()).hexdigest()
