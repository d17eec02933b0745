"""NETCONF by hand over paramiko, to send what no proper client would: any hello, any bytes,
cut into packets as the test says."""

from __future__ import annotations

import re
import time

NC = "urn:ietf:params:xml:ns:netconf:base:1.0"
HELLO_11 = (f'<hello xmlns="{NC}"><capabilities><capability>urn:ietf:params:netconf:base:1.1'
            "</capability></capabilities></hello>]]>]]>").encode()
HELLO_10 = (f'<hello xmlns="{NC}"><capabilities><capability>urn:ietf:params:netconf:base:1.0'
            "</capability></capabilities></hello>]]>]]>").encode()


def chunk(payload: bytes) -> bytes:
    return b"\n#%d\n" % len(payload) + payload + b"\n##\n"


class RawClient:
    def __init__(self, agent, hello: bytes = HELLO_11, then: bytes = b"", timeout: float = 5):
        """Connect, read the server's hello, send `hello` and `then` in one write."""
        import paramiko

        self.ssh = paramiko.SSHClient()
        self.ssh.set_missing_host_key_policy(paramiko.AutoAddPolicy())
        self.ssh.connect(agent.host, agent.port, agent.username, agent.password, look_for_keys=False,
                         allow_agent=False)
        self.chan = self.ssh.get_transport().open_session()
        self.chan.invoke_subsystem("netconf")
        self.chan.settimeout(timeout)
        self.buf = b""
        self.server_hello = self._until(b"]]>]]>").decode()
        assert "<hello" in self.server_hello
        self.chunked = b"base:1.1" in hello
        self.chan.sendall(hello + then)

    def _until(self, mark: bytes) -> bytes:
        while mark not in self.buf:
            data = self.chan.recv(65536)
            if not data:
                raise EOFError("session closed")
            self.buf += data
        msg, self.buf = self.buf.split(mark, 1)
        return msg

    def send(self, payload: bytes) -> None:
        self.chan.sendall(chunk(payload) if self.chunked else payload + b"]]>]]>")

    def reply(self) -> str:
        if not self.chunked:
            return self._until(b"]]>]]>").decode()
        return re.sub(rb"\n#\d+\n", b"", self._until(b"\n##\n")).decode()

    def closed(self, wait: float = 3.0) -> bool:
        end = time.time() + wait
        while time.time() < end:
            if self.chan.exit_status_ready() or self.chan.closed or self.chan.eof_received:
                return True
            time.sleep(0.05)
        return False

    def close(self) -> None:
        self.ssh.close()
