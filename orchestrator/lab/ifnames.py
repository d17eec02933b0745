"""The lab's name for a device's interface: a Linux interface name holds at most 15 characters
and no '/', while a config's port or uplink may ('ge-0/0/1', 'to-pe-frankfurt-main-01'). The
topology wires, and every data plane looks up, the name this gives, so the two always agree."""

from __future__ import annotations

import hashlib
import re


def short(prefix: str, name: str) -> str:
    return prefix + hashlib.sha1(name.encode()).hexdigest()[:14 - len(prefix)]


def port_if(port: str) -> str:
    """Characters an interface name cannot hold become '-' ('ge-0/0/1' -> 'ge-0-0-1'); a name
    still too long is shortened with a digest. A name the lab can use is its own (so a name
    given twice through it is the same)."""
    name = re.sub(r"[^A-Za-z0-9_.-]", "-", port)
    return name if 0 < len(name) <= 15 and name not in ("lo", "eth0") else short("p", port)
