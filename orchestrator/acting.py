"""Who is acting, and from where: set by a face (the API per request, the CLI as the local user)
for everything done on its behalf, so every audit row the layers below write names them without
each function passing it down."""

from __future__ import annotations

import contextlib
import contextvars
import getpass
import socket
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Actor:
    name: str
    roles: frozenset[str] = field(default_factory=frozenset)
    origin: str = ""  # where the request came from: a client address, or `cli@host`


def local() -> Actor:
    """The CLI's actor: the local user, acting as a local admin on the store they can open."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return Actor(user, frozenset({"admin", "engineer", "ci", "noc"}), f"cli@{socket.gethostname()}")


_current: contextvars.ContextVar[Actor | None] = contextvars.ContextVar("fullbars_actor", default=None)


def current() -> Actor:
    return _current.get() or local()


@contextlib.contextmanager
def acting(actor: Actor):
    token = _current.set(actor)
    try:
        yield actor
    finally:
        _current.reset(token)
