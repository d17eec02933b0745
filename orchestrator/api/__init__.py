"""The REST API and the web page: faces over orchestrator/app/, translating HTTP to its use cases
and its refusals to RFC 9457 problem details. No behaviour lives here."""
