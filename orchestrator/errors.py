"""Errors a user can act on: each names where (file, line, data path) and how to fix it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Problem:
    message: str
    file: str | None = None
    line: int | None = None
    path: str | None = None
    fix: str | None = None
    document: str | None = None  # which document of a file with several: "document 2, shop-7"

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
