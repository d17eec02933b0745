"""Who is acting, and from where: set by a face (the API per request, the CLI as the local user)
for everything done on its behalf, so every audit row the layers below write names them without
each function passing it down."""

from __future__ import annotations

import contextlib
import contextvars
import os
import pwd
import socket
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Actor:
    name: str
    roles: frozenset[str] = field(default_factory=frozenset)
    origin: str = ""  # where the request came from: a client address, or `cli@host`


def local_user() -> str:
    """The account the process runs as, by its user id: $LOGNAME and $USER, which getpass reads
    first, are anyone's to set, and four-eyes and the audit must not take a name from them."""
    try:
        return pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:  # no passwd entry (containers): the uid still says who
        return str(os.geteuid())


def local() -> Actor:
    """The CLI's actor: the local user, acting as a local admin on the store they can open."""
    return Actor(local_user(), frozenset({"admin", "engineer", "ci", "noc"}), f"cli@{socket.gethostname()}")


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
