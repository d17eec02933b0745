"""RFC 6242 message framing: end-of-message (NETCONF 1.0) and chunked (NETCONF 1.1)."""

from __future__ import annotations

import re

EOM = b"]]>]]>"
_CHUNK = re.compile(rb"\n#([1-9][0-9]{0,9})\n")
_END = b"\n##\n"


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

    def feed(self, data: bytes) -> list[bytes]:
        self.buf += data
        return self._eom() if not self.chunked else self._chunks()

    def _eom(self) -> list[bytes]:
        out = []
        while True:
            i = self.buf.find(EOM)
            if i < 0:
                if len(self.buf) > self.limit:
                    raise TooBig(f"message over {self.limit} bytes without an end-of-message mark")
                return out
            msg = bytes(self.buf[:i])
            del self.buf[: i + len(EOM)]
            if len(msg) > self.limit:
                raise TooBig(f"message of {len(msg)} bytes is over the limit of {self.limit}")
            out.append(msg)
            if self.chunked:  # the hello switched framing; the rest is chunked
                return out + self._chunks()

    def _chunks(self) -> list[bytes]:
        out = []
        while self.buf:
            if self.buf.startswith(_END):
                del self.buf[: len(_END)]
                out.append(b"".join(self.parts))
                self.parts, self.size = [], 0
                continue
            if len(self.buf) < 4:
                return out
            m = _CHUNK.match(self.buf)
            if not m:
                head = bytes(self.buf[:14])
                if not head.startswith(b"\n#") or (b"\n" in head[2:] and not _CHUNK.match(head)):
                    raise FramingError(f"bad chunk header {head!r}")
                return out  # header not complete yet
            n = int(m.group(1))
            if self.size + n > self.limit:
                raise TooBig(f"message over {self.limit} bytes")
            if len(self.buf) < m.end() + n:
                return out
            self.parts.append(bytes(self.buf[m.end(): m.end() + n]))
            self.size += n
            del self.buf[: m.end() + n]
        return out


def frame(msg: bytes, chunked: bool) -> bytes:
    if not chunked:
        return msg + EOM
    return b"\n#%d\n" % len(msg) + msg + _END if msg else _END
