"""yuma123 netconfd as the reference agent for the conformance suite (orchestrator.lab.netconfd)."""

from __future__ import annotations

import ipaddress
import os
import pwd
import secrets
import subprocess

import pytest

from conformance.agents import manager
from orchestrator.lab.netconfd import NetconfdAgent, missing_packages


class _Netconfd:
    name = "netconfd"

    def __init__(self, state):
        missing = missing_packages()
        if missing:
            pytest.fail(f"the conformance suite needs Debian packages: apt-get install -y {' '.join(missing)}")
        if os.geteuid() != 0:
            pytest.fail("netconfd runs in a network namespace: run the tests as root")
        slot = (os.getpid() + 8192) % 16384  # not the slot tests/test_netconfd_agent.py takes
        base = ipaddress.ip_address("198.19.0.0") + 4 * slot
        self.user = f"fbc{os.getpid()}"[:13]
        try:
            pwd.getpwnam(self.user)
            self.user_existed = True
        except KeyError:
            self.user_existed = False
        self.username, self.password = self.user, secrets.token_urlsafe(16)
        self.agent = NetconfdAgent(self.user, state, str(base + 1), 30, str(base + 2),
                                   username=self.username, password=self.password)
        self.host, self.port = self.agent.address, self.agent.port

    def start(self):
        self.agent.start()
        return self

    def connect(self, **kw):
        return manager.connect(host=self.host, port=self.port, username=self.username, password=self.password,
                               hostkey_verify=False, look_for_keys=False, allow_agent=False, timeout=10, **kw)

    def stop(self):
        self.agent.stop()
        if not self.user_existed:
            subprocess.run(["userdel", self.user], check=False, capture_output=True)


def start_netconfd(state):
    return _Netconfd(state).start()
