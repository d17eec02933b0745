"""Usage errors (a missing argument, an unknown option, a bad value) in the form the run asked
for: click prints a box for people; a script that passed `--format json` (or `--json`) gets the
error object every other failure of the command gives it."""

from __future__ import annotations

import sys

from typer import Abort
from typer._click.exceptions import ClickException, UsageError  # typer 0.29 carries its own click
from typer.core import TyperGroup

from orchestrator import json_output
from orchestrator.errors import FullbarsError, Problem


def wants_json(argv: list[str]) -> bool:
    for i, a in enumerate(argv):
        if a == "--":
            return False
        if a == "--json" or a == "--format=json" or (a == "--format" and argv[i + 1:i + 2] == ["json"]):
            return True
    return False


def command_of(group, argv: list[str]) -> str:
    """The command the words name (`change submit`), as far as they name one."""
    names, cmd = [], group
    for a in argv:
        sub = getattr(cmd, "commands", {}).get(a)
        if sub is None:
            break
        names.append(a)
        cmd = sub
    return " ".join(names) or "fullbars"


class JsonUsageErrors(TyperGroup):
    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        argv = list(sys.argv[1:] if args is None else args)
        if not standalone_mode or not wants_json(argv):
            return super().main(argv, prog_name, complete_var, standalone_mode, **extra)
        try:
            rv = super().main(argv, prog_name, complete_var, standalone_mode=False, **extra)
        except UsageError as e:
            hint = f"see fullbars {command_of(self, argv)} --help".replace("fullbars fullbars", "fullbars")
            json_output.error(command_of(self, argv), FullbarsError(Problem(e.format_message(), fix=hint)), e.exit_code)
            sys.exit(e.exit_code)
        except ClickException as e:
            json_output.error(command_of(self, argv), FullbarsError(Problem(e.format_message())), e.exit_code)
            sys.exit(e.exit_code)
        except Abort:
            sys.exit(1)
        sys.exit(rv if isinstance(rv, int) else 0)
