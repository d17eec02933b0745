"""A request body larger than the API takes is refused (413) before it is read whole: a change's
intents are text, and a client streaming gigabytes would otherwise fill the server's memory. The
declared length is refused at once; a body without one is counted as it arrives."""

from __future__ import annotations

from starlette.exceptions import HTTPException

from orchestrator.errors import FullbarsError, Problem

MAX_BODY = 20 * 2**20  # bytes: far above the intents of the largest bulk change


def _refusal(limit: int) -> FullbarsError:
    return FullbarsError(Problem(f"the request body is over {limit // 2**20} MiB", path="body",
                                 fix="split the change into several, or send the intents compressed into fewer lines"))


class BodyLimit:
    """ASGI middleware: HTTP requests only."""

    def __init__(self, app, limit: int = MAX_BODY):
        self.app, self.limit = app, limit

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope.get("headers") or ()).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.limit:
            from starlette.requests import Request

            from orchestrator.api.web import refusal

            return await refusal(Request(scope), _refusal(self.limit), 413)(scope, receive, send)
        seen = 0

        async def counted():
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:  # FastAPI passes an HTTPException through its body parsing
                    raise HTTPException(413, _refusal(self.limit).problems[0].message)
            return message

        await self.app(scope, counted, send)
