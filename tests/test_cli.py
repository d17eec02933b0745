"""The command line itself: help on every option, --version, progress lines, and what
status, history, lab verify and bulk plans print."""

from __future__ import annotations

import io
import subprocess
import sys

import typer.main
from rich.console import Console

from conftest import REPO
from orchestrator import cli


def _commands(cmd, path):
    yield path, cmd
    for name, sub in (getattr(cmd, "commands", None) or {}).items():
        yield from _commands(sub, f"{path} {name}")


def test_every_option_and_argument_has_help():
    missing = [f"{path}: {p.name}" for path, cmd in _commands(typer.main.get_command(cli.app), "fullbars")
               for p in cmd.params if not getattr(p, "help", None)]
    assert missing == []


def test_version():
    from importlib.metadata import version

    p = subprocess.run([sys.executable, "-m", "orchestrator", "--version"], cwd=REPO, capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    assert p.stdout == f"fullbars {version('fullbars')}\n"


def _progress_output(monkeypatch, terminal: bool) -> str:
    buf = io.StringIO()
    monkeypatch.setattr(cli, "err", Console(file=buf, force_terminal=terminal, width=80, highlight=False))
    show = cli._progress()
    for i in range(1, 4):
        show("namespaces", i, 3)
    show("agents answering NETCONF", 1, 1)
    return buf.getvalue()


def test_progress_in_a_log_is_one_line_per_step(monkeypatch):
    assert _progress_output(monkeypatch, terminal=False).splitlines() == [
        "namespaces: 1/3", "namespaces: 2/3", "namespaces: 3/3", "agents answering NETCONF: 1/1"]


def test_progress_on_a_terminal_rewrites_one_line_per_stage(monkeypatch):
    text = _progress_output(monkeypatch, terminal=True)
    lines = text.split("\n")
    assert lines[-1] == "" and len(lines) == 3  # one line per stage, each ended when the stage is done
    # each step returns to the line's start and clears it before writing
    assert lines[0].split("\r\x1b[2K") == ["", "namespaces: 1/3", "namespaces: 2/3", "namespaces: 3/3"]
    assert lines[1] == "\r\x1b[2Kagents answering NETCONF: 1/1"
