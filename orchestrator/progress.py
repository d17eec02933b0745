"""Progress of long steps (allocate, render, lab up, push, verify, a transaction's steps) on
stderr: on a terminal one line rewritten in place, elsewhere (a log, a pipe, CI) one line per step.

rich strips a carriage return from printed text, so the terminal form sends it as a control code."""

from __future__ import annotations

from rich.console import Console
from rich.control import Control, ControlType


def printer(console: Console):
    if console.is_terminal:
        def show(stage: str, i: int, n: int) -> None:
            console.control(Control(ControlType.CARRIAGE_RETURN, (ControlType.ERASE_IN_LINE, 2)))
            console.print(f"{stage}: {i}/{n}", end="\n" if i >= n else "", markup=False)
    else:
        def show(stage: str, i: int, n: int) -> None:
            console.print(f"{stage}: {i}/{n}", markup=False)
    return show
