"""A device's committed state on disk: one snapshot file and an append-only journal after it.

Each commit appends one record (the units it changed, not the datastore) with one write and one
fdatasync, so its cost follows the edit; a process killed at any moment leaves the last
complete record as the truth (a torn tail fails its length or CRC and is cut off at load). When
the journal outgrows the snapshot, a new snapshot is written whole (temporary file, fsync,
rename) under the next generation, and the old journal is removed: a crash in between leaves
either generation readable, never a mix."""

from __future__ import annotations

import json
import os
import struct
import zlib
from pathlib import Path

from lxml import etree

_HEAD = struct.Struct("<II")  # payload length, crc32
_PARSER = etree.XMLParser(remove_blank_text=True, resolve_entities=False, no_network=True, huge_tree=True)
SNAPSHOT = "snapshot.xml"
STATE = "urn:fullbars:devsim:state"


def journal_name(gen: int) -> str:
    return f"journal.{gen}"


def private_write(path: Path, data: bytes, sync: bool = True) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    try:
        os.fchmod(fd, 0o600)  # a tmp file left by a crash keeps its old mode otherwise
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        if sync:
            os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


class Journal:
    def __init__(self, folder: Path):
        self.dir = Path(folder)
        self.gen = 0
        self.fd: int | None = None
        self.size = 0
        self.snapshot_size = 0

    # --- reading ---------------------------------------------------------------------------
    def load(self):
        """(snapshot root or None, [record, ...]) as the last run left them."""
        snap = None
        p = self.dir / SNAPSHOT
        if p.exists():
            data = p.read_bytes()
            snap = etree.fromstring(data, _PARSER)
            self.gen = int(snap.get("generation", "0"))
            self.snapshot_size = len(data)
        records = []
        jp = self.dir / journal_name(self.gen)
        if jp.exists():
            data = jp.read_bytes()
            pos = good = 0
            while pos + _HEAD.size <= len(data):
                n, crc = _HEAD.unpack_from(data, pos)
                payload = data[pos + _HEAD.size:pos + _HEAD.size + n]
                if len(payload) < n or zlib.crc32(payload) != crc:
                    break
                records.append(json.loads(payload))
                pos += _HEAD.size + n
                good = pos
            if good < len(data):  # a write cut short by a kill: it never happened
                with open(jp, "r+b") as f:
                    f.truncate(good)
        for f in self.dir.glob("journal.*"):
            if f.name != journal_name(self.gen):
                f.unlink()
        return snap, records

    # --- writing ---------------------------------------------------------------------------
    def _open(self) -> int:
        if self.fd is None:
            path = self.dir / journal_name(self.gen)
            self.fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW, 0o600)
            os.fchmod(self.fd, 0o600)
            self.size = os.fstat(self.fd).st_size
        return self.fd

    def append(self, record: dict, sync: bool = True) -> None:
        payload = json.dumps(record, separators=(",", ":")).encode()
        fd = self._open()
        data = _HEAD.pack(len(payload), zlib.crc32(payload)) + payload
        os.write(fd, data)  # one write(2): O_APPEND puts it whole at the end
        if sync:
            os.fdatasync(fd)
        self.size += len(data)

    def wants_snapshot(self) -> bool:
        return self.size > max(self.snapshot_size, 1 << 20)

    def snapshot(self, parts: dict[str, bytes], attrs: dict[str, str] | None = None) -> None:
        """Write `parts` (name -> XML) as the next generation's snapshot; the journal starts empty."""
        gen = self.gen + 1
        root = etree.Element(f"{{{STATE}}}state", nsmap={None: STATE})
        root.set("generation", str(gen))
        for k, v in (attrs or {}).items():
            root.set(k, v)
        for name, xml in parts.items():
            holder = etree.SubElement(root, f"{{{STATE}}}{name}")
            if xml:
                holder.append(etree.fromstring(xml, _PARSER))
        data = etree.tostring(root)
        private_write(self.dir / SNAPSHOT, data)
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None
        (self.dir / journal_name(self.gen)).unlink(missing_ok=True)
        self.gen, self.size, self.snapshot_size = gen, 0, len(data)

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


def part(snap, name: str):
    """The element kept under `name` in a snapshot, or None."""
    if snap is None:
        return None
    holder = snap.find(f"{{{STATE}}}{name}")
    if holder is None or not len(holder):
        return None
    return holder[0]
