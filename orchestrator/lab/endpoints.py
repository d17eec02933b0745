"""A running lab's agents as NETCONF endpoints, from the lab's state: its management addresses,
its login, and the host keys `lab up` recorded."""

from __future__ import annotations

from pathlib import Path

from orchestrator.netconf import NETCONF_PORT
from orchestrator.netconf.credentials import Credentials
from orchestrator.netconf.session import Endpoint


def lab_endpoints(st: dict, state_file: str | Path = "the lab's state file") -> dict[str, Endpoint]:
    """A running lab's agents, from its state, each with the host keys `lab up` recorded."""
    creds = Credentials(st["user"], password=st["password"])
    known = st.get("hostkeys", {})  # recorded by `lab up` as each agent came up
    where = f"the lab's record (hostkeys in {state_file}; `lab down` then `lab up` records new ones)"
    return {name: Endpoint(name, n["mgmt_ip"], NETCONF_PORT, creds, hostkeys=tuple(known.get(name, ())),
                           hostkeys_from=where)
            for name, n in st["nodes"].items() if n["agent"]}
