"""The agents the conformance suite runs against: devsim and yuma123 netconfd, each a real
NETCONF-over-SSH server in its own process; ncclient is the client for both."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

from ncclient import manager
import ncclient.transport.session

REPO = Path(__file__).resolve().parents[2]
ncclient.transport.session.TICK = 0.002  # ncclient polls every TICK; the default adds 100 ms per rpc


def free_ports(n: int) -> list[int]:
    """n distinct free ports below the kernel's ephemeral range, so that outgoing connections
    made meanwhile cannot take one before its server binds it."""
    import random

    held, ports = [], []
    try:
        for port in random.sample(range(20000, 30000), 10000):
            s = socket.socket()
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                s.close()
                continue
            held.append(s)
            ports.append(port)
            if len(ports) == n:
                return ports
    finally:
        for s in held:
            s.close()
    raise RuntimeError(f"fewer than {n} free ports in 20000-29999")


def free_port() -> int:
    return free_ports(1)[0]


class DevsimAgent:
    name = "devsim"

    def __init__(self, state: Path, kind: str = "bng-ietf", password: str = "conformance-pw",
                 authorized_keys: Path | None = None):
        self.host, self.port = "127.0.0.1", free_port()
        self.username, self.password = "fullbars", password
        self.state, self.kind = state, kind
        self.authorized_keys = authorized_keys  # public-key logins too (OpenSSH's ssh has no password option)
        self.proc = None

    def start(self, timeout: float = 20.0) -> "DevsimAgent":
        env = dict(os.environ, DEVSIM_PW=self.password)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "orchestrator", "devsim", "--kind", self.kind, "--listen",
             f"{self.host}:{self.port}", "--state", str(self.state), "--password-env", "DEVSIM_PW",
             *(["--authorized-keys", str(self.authorized_keys)] if self.authorized_keys else [])],
            cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"devsim exited: {self.proc.stderr.read().decode()}")
            try:
                self.connect().close_session()
                return self
            except Exception:
                time.sleep(0.1)
        raise RuntimeError(f"devsim on port {self.port} never answered a NETCONF hello in {timeout} s")

    def connect(self, timeout: float = 10, **kw):
        return manager.connect(host=self.host, port=self.port, username=self.username, password=self.password,
                               hostkey_verify=False, look_for_keys=False, allow_agent=False, timeout=timeout, **kw)

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.kill()


NC_NS = "urn:ietf:params:xml:ns:netconf:base:1.0"
IF_NS = "urn:ietf:params:xml:ns:yang:ietf-interfaces"
ETH_TYPE = '<type xmlns:ianaift="urn:ietf:params:xml:ns:yang:iana-if-type">ianaift:ethernetCsmacd</type>'


def bng_session(state: Path, interfaces: str):
    """A devsim BNG whose running config holds `interfaces` (ietf-interfaces entries) and a session
    on it; yields the session, then stops the device."""
    a = DevsimAgent(state, kind="bng-ietf").start()
    s = a.connect()
    try:
        s.edit_config(target="candidate",
                      config=f'<config xmlns="{NC_NS}"><interfaces xmlns="{IF_NS}">{interfaces}</interfaces></config>')
        s.commit()
        yield s
        s.close_session()
    finally:
        a.stop()
