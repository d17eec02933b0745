"""RFC 6242 message framing: end-of-message (NETCONF 1.0) and chunked (NETCONF 1.1).

Messages are handed out one at a time (feed() is a generator), so that the hello which switches
a session to chunked framing is handled before the bytes behind it, in the same read, are split:
a client may send its hello and first rpc in one SSH packet."""

from __future__ import annotations

import re
from collections.abc import Iterator

EOM = b"]]>]]>"
_CHUNK = re.compile(rb"\n#([1-9][0-9]{0,9})\n")
_HEADER_PREFIX = re.compile(rb"\n(#([1-9][0-9]{0,9})?)?\Z")  # what a header may look like before its end
_END = b"\n##\n"
MAX_CHUNK = 4294967295  # RFC 6242 section 4.2


class FramingError(Exception):
    """The byte stream cannot be split into messages; the session must be closed."""


class TooBig(FramingError):
    pass


class Framer:
    def __init__(self, limit: int):
        self.limit = limit
        self.chunked = False
        self.buf = bytearray()
        self.parts: list[bytes] = []  # chunks of the message being read
        self.size = 0

    def feed(self, data: bytes) -> Iterator[bytes]:
        """Each whole message in the bytes read so far. Framing is looked at again before each
        message, so a switch to chunked made by the consumer applies to the rest of this read."""
        self.buf += data
        while True:
            msg = self._chunked() if self.chunked else self._eom()
            if msg is None:
                return
            yield msg

    def _eom(self) -> bytes | None:
        i = self.buf.find(EOM)
        if i < 0:
            if len(self.buf) > self.limit:
                raise TooBig(f"message over {self.limit} bytes without an end-of-message mark")
            return None
        msg = bytes(self.buf[:i])
        del self.buf[: i + len(EOM)]
        if len(msg) > self.limit:
            raise TooBig(f"message of {len(msg)} bytes is over the limit of {self.limit}")
        return msg

    def _chunked(self) -> bytes | None:
        while self.buf:
            if self.buf.startswith(_END):
                if not self.parts:
                    raise FramingError("end-of-chunks without a chunk")
                del self.buf[: len(_END)]
                msg = b"".join(self.parts)
                self.parts, self.size = [], 0
                return msg
            m = _CHUNK.match(self.buf)
            if not m:
                head = bytes(self.buf[:13])
                if _HEADER_PREFIX.match(head) or head in (b"\n#", b"\n##"):
                    return None  # the header is not complete yet
                raise FramingError(f"bad chunk header {head!r}")
            n = int(m.group(1))
            if n > MAX_CHUNK:
                raise FramingError(f"chunk size {n} is over RFC 6242's maximum {MAX_CHUNK}")
            if self.size + n > self.limit:
                raise TooBig(f"message over {self.limit} bytes")
            if len(self.buf) < m.end() + n:
                return None
            self.parts.append(bytes(self.buf[m.end(): m.end() + n]))
            self.size += n
            del self.buf[: m.end() + n]
        return None


def frame(msg: bytes, chunked: bool) -> bytes:
    if not chunked:
        return msg + EOM
    return b"\n#%d\n" % len(msg) + msg + _END
