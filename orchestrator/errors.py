"""Errors a user can act on: each names where (file, line, data path) and how to fix it."""

from __future__ import annotations

import re
from dataclasses import dataclass

SHOWN = 80  # characters of a value a message echoes: a 10 MB string must not come back whole
_LONG = re.compile(r"""'[^'\n]{%d,}'|"[^"\n]{%d,}"|[^\s'"]{%d,}""" % (SHOWN + 1, SHOWN + 1, SHOWN + 41))
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")  # would reach the terminal (escape sequences, NUL)


def _cut(m: re.Match) -> str:
    s = m.group(0)
    q = s[0] if s[0] in "'\"" else ""
    body = s[1:-1] if q else s
    return f"{q}{body[:SHOWN]}{q}... ({len(body)} characters)"


def clip(text: str | None) -> str | None:
    """Long values shortened to their first characters, control characters escaped."""
    if not text:
        return text
    text = _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)
    return _LONG.sub(_cut, text) if len(text) > SHOWN else text


def some(names, shown: int = 5) -> str:
    """The first names of a list, and "..." where more follow."""
    names = list(names)
    return ", ".join(names[:shown]) + (" ..." if len(names) > shown else "")


def one_line(value: str | None, what: str, path: str) -> "Problem | None":
    """A title or description printed among other lines: a newline or an escape sequence in it
    would print lines of its own (a fake "approved"), or take over the reader's terminal; a
    bidirectional control would show its words in another order than they are read (a title
    showing "roll back" that says "roll out"), and an invisible character two titles that look
    the same."""
    bad = re.search(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]", value or "")
    if bad is None:
        hidden = re.search(r"[\u061c\u200b\u200e\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]", value or "")
        if hidden is None:
            return None
        return Problem(f"the {what} holds the invisible or direction-changing character U+{ord(hidden.group()):04X}",
                       path=path, fix=f"give the {what} in visible characters, without bidirectional controls")
    return Problem(f"the {what} holds the control character {ascii(bad.group())[1:-1]}", path=path,
                   fix=f"give the {what} on one line, in printable characters")


@dataclass
class Problem:
    message: str
    file: str | None = None
    line: int | None = None
    path: str | None = None
    fix: str | None = None
    document: str | None = None  # which document of a file with several: "document 2, shop-7"

    def __post_init__(self):
        self.message, self.path, self.fix = clip(self.message), clip(self.path), clip(self.fix)

    def as_dict(self) -> dict:
        """The problem for machines (JSON output, the API): every field, None where unknown."""
        return {"message": self.message, "file": self.file, "line": self.line, "path": self.path,
                "document": self.document, "fix": self.fix}

    def render(self) -> str:
        where = ""
        if self.file:
            where = self.file + (f":{self.line}" if self.line else "")
            where += f" ({self.document})" if self.document else ""
        head = f"{where}: " if where else ""
        text = head + self.message
        if self.path:
            text += f"\n  at: {self.path}"
        if self.fix:
            text += f"\n  fix: {self.fix}"
        return text


class FullbarsError(Exception):
    """One or more problems with the user's input or environment; nothing was changed."""

    def __init__(self, problems: Problem | list[Problem] | str, **kw):
        if isinstance(problems, str):
            problems = Problem(problems, **kw)
        self.problems = problems if isinstance(problems, list) else [problems]
        super().__init__(self.render())

    def render(self, limit: int | None = None) -> str:
        shown = self.problems if limit is None else self.problems[:limit]
        text = "\n".join("error: " + p.render() for p in shown)
        if len(shown) < len(self.problems):
            text += f"\n... and {len(self.problems) - len(shown)} more problem(s) not shown ({len(self.problems)} in all)"
        return text


class SetupError(FullbarsError):
    """The machine lacks something fullbars needs (a package, the YANG models)."""


class Busy(FullbarsError):
    """Another live process is changing what this asks to change; asked again after it, it may
    succeed (the API answers 409)."""

    status = 409
