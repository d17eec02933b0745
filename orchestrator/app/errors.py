"""Refusals the faces show differently: the CLI prints any FullbarsError and exits 2; the API
answers with the status each class names (a plain FullbarsError is bad input: 422)."""

from __future__ import annotations

from orchestrator.errors import FullbarsError


class NotSignedIn(FullbarsError):
    status = 401


class NotAllowed(FullbarsError):
    status = 403


class NotFound(FullbarsError):
    status = 404


class Conflict(FullbarsError):
    """The thing asked is not possible in the state it is in (a change request's state machine)."""

    status = 409


def status_of(e: FullbarsError) -> int:
    return getattr(e, "status", 422)
