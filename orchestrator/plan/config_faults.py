"""Config faults as data: a device, a data path (XPath steps with key predicates, as `drift`
prints them: /ManagedElement[id='upf-1']/UPFFunction[id='UPF-1']/attributes/sNSSAIList) and a
new value or a deletion, applied to a whole config document. What they are for: pushing a
fault into a lab, and the transaction's fault hook (FULLBARS_FAULT_CONFIG), to prove a check
catches what a broken template or a device's own mistake would leave in a running config.

A step's name may carry a module prefix (`bbf-xpon:foo`); prefixes are ignored and names are
matched by their local name, so a path needs no namespace map. A path selecting several nodes
changes each of them; one selecting none is an error (a fault that lands nowhere proves nothing)."""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass

from lxml import etree

from orchestrator.errors import FullbarsError

ENV = "FULLBARS_FAULT_CONFIG"  # a JSON file: a list of {device, xpath, value | delete: true}

_STEP = re.compile(r"""([^/\[\]]+)((?:\[[^=\]]+=(?:'[^']*'|"[^"]*")\])*)""")
_PRED = re.compile(r"""\[([^=\]]+)=('[^']*'|"[^"]*")\]""")


@dataclass(frozen=True)
class Fault:
    device: str
    xpath: str
    value: str | None = None  # None: delete the node(s)

    def __str__(self) -> str:
        return f"{self.device} {self.xpath}: " + ("deleted" if self.value is None else f"set to {self.value!r}")


def _local(name: str) -> str:
    return name.split(":")[-1].strip()


def to_lxml(path: str) -> str:
    """The data path as an lxml XPath over the document's root (<config> or <data>)."""
    if not path.startswith("/"):
        raise FullbarsError(f"fault path {path!r} is not absolute", fix="start it with / (e.g. /interfaces/interface[name='x'])")
    steps, rest = [], path[1:]
    while rest:
        m = _STEP.match(rest)
        if m is None or not m.group(1):
            raise FullbarsError(f"fault path {path!r} cannot be read at {rest!r}",
                                fix="write steps as name or name[key='value'], separated by /")
        preds = "".join(f"[*[local-name()='{_local(k)}']={v}]" for k, v in _PRED.findall(m.group(2)))
        steps.append(f"*[local-name()='{_local(m.group(1))}']{preds}")
        rest = rest[m.end():]
        if rest and not rest.startswith("/"):
            raise FullbarsError(f"fault path {path!r} cannot be read at {rest!r}",
                                fix="write steps as name or name[key='value'], separated by /")
        rest = rest[1:]
    return "./" + "/".join(steps)


def apply_to(root, fault: Fault) -> int:
    """Apply a fault to a parsed document in place; the number of nodes it changed."""
    nodes = root.xpath(to_lxml(fault.xpath))
    if not nodes:
        raise FullbarsError(f"fault {fault}: the path selects nothing in {fault.device}'s config",
                            fix="take the path from the device's config (e.g. from `fullbars drift` output)")
    for n in nodes:
        if fault.value is None:
            n.getparent().remove(n)
        else:
            n.text = fault.value
    return len(nodes)


def apply_xml(config_xml: str, faults: list[Fault]) -> str:
    """A config document with the faults for its device applied (the caller picks them)."""
    root = etree.fromstring(config_xml.encode())
    for f in faults:
        apply_to(root, f)
    return etree.tostring(root, encoding="unicode")


def parse(items: list[dict], source: str = "faults") -> list[Fault]:
    out = []
    for i, it in enumerate(items):
        if not isinstance(it, dict) or not {"device", "xpath"} <= set(it) or ("value" in it) == bool(it.get("delete")):
            raise FullbarsError(f"{source}: fault {i} must have device, xpath and either value or delete: true",
                                fix='e.g. {"device": "upf-1", "xpath": "/ManagedElement[id=\'upf-1\']/...", "value": "x"}')
        out.append(Fault(str(it["device"]), str(it["xpath"]), None if it.get("delete") else str(it["value"])))
    return out


def from_env() -> list[Fault]:
    """The faults the test harness asks the transaction to inject (none unless ENV names a file)."""
    path = os.environ.get(ENV)
    if not path:
        return []
    try:
        return parse(json.loads(open(path, encoding="utf-8").read()), path)
    except (OSError, ValueError) as e:
        raise FullbarsError(f"{ENV}={path}: {e}", fix="a JSON list of {device, xpath, value | delete: true}") from None
