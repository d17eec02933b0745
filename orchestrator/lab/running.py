"""A lab node's committed config, read the way its agent keeps it."""

from __future__ import annotations

from pathlib import Path


class RunningSource:
    """A node's committed config as its agent holds it: devsim's running file, or netconfd's
    running datastore over NETCONF (netconfd writes its file only once a commit is confirmed)."""

    # yuma123 netconfd checks its confirmed-commit timer only when idle: a session asking every
    # 0.2 s keeps a timed-out commit from ever reverting (tests/conformance). Ask it rarely.
    NETCONFD_INTERVAL = 2.0

    def __init__(self, lab: dict, node: str):
        self.lab, self.node = lab, node
        self.n = lab["nodes"][node]
        self.m = None
        self.last = 0.0
        self.cached: bytes | None = None

    def read(self) -> bytes | None:
        import time

        if self.n["agent"] == "devsim":
            try:
                return (Path(self.n["state_dir"]) / "running.xml").read_bytes()
            except FileNotFoundError:
                return None
        if time.monotonic() - self.last < self.NETCONFD_INTERVAL:
            return self.cached
        self.last = time.monotonic()
        self.cached = self._fetch()
        return self.cached

    def _fetch(self) -> bytes | None:
        from orchestrator.netconf import NETCONF_PORT
        from orchestrator.netconf.hostkeys import connect

        try:
            if self.m is None or not self.m.connected:
                self.m = connect(self.node, self.n["mgmt_ip"], NETCONF_PORT,
                                 tuple(self.lab.get("hostkeys", {}).get(self.node, ())), "the lab's record",
                                 10, username=self.lab["user"], password=self.lab["password"])
            return self.m.get_config(source="running").data_xml.encode()
        except Exception:
            self.m = None
            return None

    def close(self) -> None:
        if self.m is not None:
            try:
                self.m.close_session()
            except Exception:
                pass
            self.m = None
