"""The SSH transport under every NETCONF session fullbars opens: ncclient's, sending from the
caller's thread.

ncclient's `send` queues a message for the session's thread, which looks at its queue only once
every `ncclient.transport.session.TICK` (0.1 s): each rpc waited up to that long before it left,
and lowering TICK for every session in the process (as fullbars did: 0.01 s) wakes each session's
thread 100 times a second whether it has anything to do or not, 5,000 wakeups a second for a
transaction on 50 devices, on the cores the transaction needs. Sent here, an rpc leaves at once;
the session's thread wakes only to read what the device sends (its select returns on data), so
TICK stays ncclient's own and no other client in the process is changed."""

from __future__ import annotations

import threading

from ncclient.transport import SSHSession
from ncclient.transport.errors import TransportError
from ncclient.transport.session import NetconfBase

END_OF_MESSAGE = b"]]>]]>"  # RFC 6242 4.3 (base:1.0), until both hellos say base:1.1
END_OF_CHUNKS = b"\n##\n"  # RFC 6242 4.2


def frame(message: str, base: NetconfBase) -> bytes:
    """One message framed as RFC 6242 asks for the session's base: one chunk under 1.1."""
    data = message.encode()
    if base == NetconfBase.BASE_11:
        return b"\n#%d\n%s%s" % (len(data), data, END_OF_CHUNKS)
    return data + END_OF_MESSAGE


class DirectSend(SSHSession):
    def __init__(self, *args, send_timeout: float = 60.0, **kwargs):
        super().__init__(*args, **kwargs)
        self._sending = threading.Lock()  # two callers' messages must not interleave on the channel
        # A device that stops reading fills the SSH window, and a send then waits for room: at most
        # this long without progress, as an rpc waits at most its timeout for the reply.
        self.send_timeout = send_timeout

    def send(self, message: str) -> None:
        if not self.connected or self._channel is None:
            raise TransportError("Not connected to NETCONF server")
        data = frame(message, self._base)
        with self._sending:
            # The session's thread reads only what select says is there, so the channel's timeout
            # bounds the sends alone.
            self._channel.settimeout(self.send_timeout)
            try:
                self._channel.sendall(data)
            except (OSError, EOFError) as e:  # closed by the peer, or no room for send_timeout
                # Part of a message may have left: nothing more may follow it on this session.
                self.close()
                raise TransportError(f"sending to the device failed ({type(e).__name__}: {e}); "
                                     "the session is closed") from e
