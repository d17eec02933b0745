"""RFC 9457 problem details carrying what the CLI prints: per problem its message, file, line,
data path, document and fix (the same fields as `--format json`'s error object)."""

from __future__ import annotations

from fastapi.responses import JSONResponse
from pydantic import BaseModel

from orchestrator.app.errors import status_of
from orchestrator.errors import FullbarsError

TITLES = {400: "Bad request", 401: "Not signed in", 403: "Not allowed", 404: "Not found",
          409: "Not possible in this state", 413: "Request body too large", 422: "Invalid input",
          429: "Too many attempts", 500: "Server error"}
TYPES = {401: "not-signed-in", 403: "not-allowed", 404: "not-found", 409: "state-conflict", 413: "too-large",
         422: "invalid-input", 429: "too-many-attempts"}
MEDIA = "application/problem+json"


class ProblemItem(BaseModel):
    message: str
    file: str | None = None
    line: int | None = None
    path: str | None = None
    document: str | None = None
    fix: str | None = None


class Problem(BaseModel):
    type: str
    title: str
    status: int
    detail: str
    errors: list[ProblemItem]
    changed: bool = False


def body(e: FullbarsError, status: int | None = None) -> dict:
    status = status or status_of(e)
    return {"type": f"https://fullbars.dev/problems/{TYPES.get(status, 'error')}", "title": TITLES.get(status, "Error"),
            "status": status, "detail": e.problems[0].message if e.problems else str(e),
            "errors": [{"message": p.message, "file": p.file, "line": p.line, "path": p.path, "document": p.document,
                        "fix": p.fix} for p in e.problems], "changed": False}


def response(e: FullbarsError, status: int | None = None, headers: dict | None = None) -> JSONResponse:
    b = body(e, status)
    return JSONResponse(b, status_code=b["status"], media_type=MEDIA, headers=headers)


def responses(*codes: int) -> dict:
    """The OpenAPI description of the problems a route may answer with."""
    return {c: {"model": Problem, "description": TITLES[c], "content": {MEDIA: {}}} for c in codes}
