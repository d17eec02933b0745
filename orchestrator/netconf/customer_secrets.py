"""Customer secrets (a WiFi passphrase an intent names by reference) resolve only through the
sources the operator allows (FULLBARS_CUSTOMER_SECRETS): environment variables with an allowed
prefix and files under an allowed directory. Whoever writes an intent must not be able to name
the operator's own secrets, so device credentials (the network description's
credentials.secret-ref, the lab's login) live in a namespace of their own that no customer
reference reaches, whatever the allow-list says."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from orchestrator import settings
from orchestrator.errors import FullbarsError, SetupError
from orchestrator.netconf.credentials import LAB_PASSWORD_ENV, resolve

# fullbars' own variables that carry device logins: never a customer secret.
DEVICE_LOGIN_ENV = (LAB_PASSWORD_ENV,)


@dataclass(frozen=True)
class Sources:
    env_names: tuple[str, ...]  # exact variable names
    env_prefixes: tuple[str, ...]  # from env:PREFIX*
    dirs: tuple[Path, ...]  # from file:DIR, resolved

    def describe(self) -> str:
        return ", ".join([*(f"env:{n}" for n in self.env_names), *(f"env:{p}*" for p in self.env_prefixes),
                          *(f"file:{d}/" for d in self.dirs)]) or "nothing"

    def covers(self, ref: str) -> bool:
        """Whether the reference lies in the customer namespace (before any reserved-name rule)."""
        kind, _, where = ref.partition(":")
        if kind == "env":
            return where in self.env_names or any(where.startswith(p) for p in self.env_prefixes)
        if kind == "file":
            return self.dir_of(where) is not None
        return False

    def dir_of(self, where: str) -> Path | None:
        """The allowed directory holding this file once every symlink and `..` is followed."""
        if ".." in Path(where).parts:
            return None
        real = Path(os.path.realpath(where))
        return next((d for d in self.dirs if real.is_relative_to(d) and real != d), None)


def sources() -> Sources:
    raw = settings.customer_secret_sources()
    names, prefixes, dirs = [], [], []
    for entry in raw.replace(",", " ").split():
        kind, _, where = entry.partition(":")
        if kind == "env" and where.endswith("*") and len(where) > 1 and "*" not in where[:-1]:
            prefixes.append(where[:-1])
        elif kind == "env" and where and "*" not in where:
            names.append(where)
        elif kind == "file" and os.path.isabs(where):
            dirs.append(Path(os.path.realpath(where)))
        else:
            raise SetupError(f"{settings.CUSTOMER_SECRETS_ENV} has an entry {entry!r} that is no secret source",
                             fix="list entries like env:FULLBARS_PSK_* (a variable prefix), env:NAME or "
                                 "file:/absolute/directory, separated by spaces or commas")
    return Sources(tuple(names), tuple(prefixes), tuple(dirs))


def refusal(ref: str, device_ref: str | None = None) -> tuple[str, str] | None:
    """(why, fix) when a customer may not name this reference; None when it may."""
    allowed = sources()
    fix = (f"put the passphrase where the operator allows customer secrets ({allowed.describe()}) and name it "
           f"there; the operator widens that with {settings.CUSTOMER_SECRETS_ENV}")
    kind, _, where = ref.partition(":")
    if device_ref and ref == device_ref:
        return (f"the secret reference {ref} names the NETCONF credential of the network description "
                "(credentials.secret-ref): a customer secret may not", fix)
    if kind == "env" and where in DEVICE_LOGIN_ENV:
        return f"the secret reference {ref} names a device login of fullbars: a customer secret may not", fix
    if kind == "file" and ".." in Path(where).parts:
        return f"the secret reference {ref} climbs out of its directory with '..'", fix
    if not allowed.covers(ref):
        what = "a file outside" if kind == "file" else "a variable outside"
        return f"the secret reference {ref} names {what} the operator's customer-secret sources", fix
    return None


def value(ref: str) -> str:
    """The passphrase a customer reference names, read only through the allow-list."""
    why = refusal(ref)
    if why:
        raise FullbarsError(why[0], fix=why[1])
    kind, _, where = ref.partition(":")
    if kind == "env":
        return resolve("", ref).password
    try:  # the path was checked with every symlink followed; the last step must not be one now
        fd = os.open(os.path.realpath(where), os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:
        raise FullbarsError(f"the secret reference {ref} names no readable file") from None
    with os.fdopen(fd) as f:
        return f.read().strip()
