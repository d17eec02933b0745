"""A leaf's value as Python reads it, for text beyond ASCII.

libyang-python 2.8.0 (pinned, matching Debian's libyang2) finds a leaf value's type by validating
the text again, passing its length in characters where libyang wants bytes: a customer name
ending in "é" or "☕" is cut inside its last character and refused ("value type validation
error"), so `print_dict` raised. Such text is always a string to Python (numbers, booleans and
the like are ASCII), so it is returned as it is; every other value goes the library's way."""

from __future__ import annotations

from libyang.data import DLeaf
from libyang.util import c2str
from _libyang import ffi, lib

_library = DLeaf.cdata_leaf_value


def _leaf_value(cdata, context=None):
    raw = lib.lyd_get_value(cdata)
    if raw != ffi.NULL:
        text = c2str(raw)
        if not text.isascii():
            return text
    return _library(cdata, context)


def install() -> None:
    """Once per process (idempotent): DLeaf.value and print_dict read values through it."""
    if DLeaf.cdata_leaf_value is not _leaf_value:
        DLeaf.cdata_leaf_value = staticmethod(_leaf_value)
