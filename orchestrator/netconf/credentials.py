"""Where secrets come from: a reference (env:VAR, file:PATH), never the secret in a file fullbars
writes. Errors name the reference, never the value."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from orchestrator.errors import FullbarsError

# The variable through which a lab hands its agents their login (never a command-line argument).
LAB_PASSWORD_ENV = "FULLBARS_LAB_PASSWORD"


@dataclass(frozen=True)
class Credentials:
    username: str
    password: str | None = None
    key_file: str | None = None

    def __repr__(self) -> str:  # so a stray log line cannot carry the secret
        return f"Credentials(username={self.username!r}, password={'***' if self.password else None})"


def resolve(username: str, secret_ref: str | None) -> Credentials:
    if not secret_ref:
        raise FullbarsError("the network description names no credentials",
                            fix="add spec.credentials.secret-ref: env:VARIABLE (or file:PATH)")
    kind, _, where = secret_ref.partition(":")
    if kind == "env":
        value = os.environ.get(where)
        if value is None:
            raise FullbarsError(f"the secret reference {secret_ref} names an unset environment variable",
                                fix=f"export {where}=... before running fullbars")
        return Credentials(username, password=value)
    if kind == "file":
        p = Path(where)
        if not p.is_file():
            raise FullbarsError(f"the secret reference {secret_ref} names no readable file")
        text = p.read_text().strip()
        if "PRIVATE KEY" in text:
            return Credentials(username, key_file=str(p))
        return Credentials(username, password=text)
    raise FullbarsError(f"unknown secret reference {secret_ref!r}", fix="use env:VARIABLE or file:PATH")
