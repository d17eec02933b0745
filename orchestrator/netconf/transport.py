"""The SSH transport under every NETCONF session fullbars opens: ncclient's, sending from the
caller's thread once the device has answered an rpc.

ncclient's `send` queues a message for the session's thread, which looks at its queue once every
`ncclient.transport.session.TICK` (fullbars lowers it to 0.01 s): each rpc waits for that thread
to wake before it leaves. Sent from the caller's thread, an rpc leaves at once.

Not the first rpc: yuma123 netconfd never answers an rpc it reads together with the client's
hello (tests/conformance: test_an_rpc_sent_in_the_hellos_write_is_answered), and sending every rpc
at once made that happen to about one session in a hundred (e85fc72, reverted). Nothing the
device sends says it has read the hello, except a reply: so the session's first rpc goes through
ncclient's queue as before, and the rest, sent after a reply came, go at once."""

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
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.direct = False  # True once a reply came while nothing waited in ncclient's queue
        self._mode = threading.Lock()  # orders the switch against a caller choosing the queue
        self._sending = threading.Lock()  # two callers' messages must not interleave on the channel

    def _dispatch_message(self, raw):
        # Runs on the session's thread, so it is not halfway through writing a queued message: with
        # the queue empty now, nothing of ncclient's is ever written after a direct send.
        if not self.direct and "rpc-reply" in raw[:200]:
            with self._mode:
                self.direct = self._q.empty()
        return super()._dispatch_message(raw)

    def send(self, message: str) -> None:
        with self._mode:
            if not self.direct:
                return super().send(message)
        if not self.connected or self._channel is None:
            raise TransportError("Not connected to NETCONF server")
        data = frame(message, self._base)
        with self._sending:
            try:
                self._channel.sendall(data)
            except (OSError, EOFError) as e:  # a channel the peer closed: as ncclient's thread reports it
                raise TransportError(f"the session's channel is closed: {e}") from e
