"""A device's planned configs (intended, edit, reverse edit), held compressed once checked.

A full plan holds every device's configs from the moment its worker hands them back until the
artifacts are written: 140 MiB of XML at 20,000 lines, 700 MiB at 100,000. XML of one device
repeats itself, and zlib's fastest level takes it 15 to 1 at 270 MB/s; each is read back a few
times (ownership, the edit shown, the artifacts), each time whole.
"""

from __future__ import annotations

import zlib

class Texts:
    __slots__ = ("_parts",)
    # The text last read back, of whichever device: its writer reads the config, the edit (often
    # the same text) and the diff made from it one after the other. One slot, so what is held
    # stays one device's worth.
    _last: tuple | None = None

    def __init__(self, intended: str, edit: str, reverse: str):
        self._parts: list = [intended, edit, reverse]

    def get(self, i: int) -> str:
        part = self._parts[i]
        if isinstance(part, int):  # the same text as an earlier part (a new device's edit is its config)
            i, part = part, self._parts[part]
        if not isinstance(part, bytes):
            return part
        last = Texts._last
        if last is not None and last[0] is self and last[1] == i:
            return last[2]
        text = zlib.decompress(part).decode()
        Texts._last = (self, i, text)
        return text

    def holds(self, text: str) -> bool:
        """Whether its config is this very string object (still held as text)."""
        return self._parts[0] is text

    def pack(self) -> None:
        was = list(self._parts)
        for i, part in enumerate(was):
            if isinstance(part, str):
                same = next((j for j in range(i) if was[j] is part), None)
                self._parts[i] = same if same is not None else zlib.compress(part.encode(), 1)

    @property
    def intended(self) -> str:
        return self.get(0)

    @property
    def edit(self) -> str:
        return self.get(1)

    @property
    def reverse(self) -> str:
        return self.get(2)


class HeldTexts:
    """What a plan's device reads through its `texts`: the configs as attributes (Built, DevicePlan)."""

    intended = property(lambda self: self.texts.intended)
    edit = property(lambda self: self.texts.edit)
    reverse = property(lambda self: self.texts.reverse)
