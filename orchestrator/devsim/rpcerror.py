"""<rpc-error> as RFC 6241 section 4.3 and Appendix A spell it."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from xml.sax.saxutils import escape

NC = "urn:ietf:params:xml:ns:netconf:base:1.0"


@dataclass
class RpcError(Exception):
    tag: str
    message: str
    type: str = "application"  # transport | rpc | protocol | application
    path: str | None = None
    app_tag: str | None = None
    info: dict[str, str] = field(default_factory=dict)
    severity: str = "error"
    path_ns: dict[str, str] = field(default_factory=dict)  # the XML prefixes error-path uses

    def xml(self) -> str:
        parts = [f"<error-type>{self.type}</error-type>", f"<error-tag>{self.tag}</error-tag>",
                 f"<error-severity>{self.severity}</error-severity>"]
        if self.app_tag:
            parts.append(f"<error-app-tag>{escape(self.app_tag)}</error-app-tag>")
        if self.path:
            decl = "".join(f' xmlns:{p}="{escape(u)}"' for p, u in self.path_ns.items())
            parts.append(f"<error-path{decl}>{escape(self.path)}</error-path>")
        parts.append(f'<error-message xml:lang="en">{escape(self.message)}</error-message>')
        if self.info:
            parts.append("<error-info>" + "".join(f"<{k}>{escape(str(v))}</{k}>" for k, v in self.info.items())
                         + "</error-info>")
        return "<rpc-error>" + "".join(parts) + "</rpc-error>"


class RpcErrors(Exception):
    """Several errors for one rpc (continue-on-error, or validation with many findings)."""

    def __init__(self, errors: list[RpcError]):
        super().__init__("; ".join(e.message for e in errors))
        self.errors = errors


_LOC = re.compile(r'(?:Data|Schema) location "([^"]+)"(?:, line number \d+)?')


# libyang's error-app-tags and the error-tag RFC 7950 section 15 gives each; another (a must's
# own error-app-tag) is a must's: operation-failed
_APP_TAGS = {"missing-element": "data-missing", "instance-required": "data-missing",
             "too-few-elements": "operation-failed", "too-many-elements": "operation-failed",
             "data-not-unique": "operation-failed", "must-violation": "operation-failed"}


def from_libyang(raw: str, app_tags=()) -> RpcError:
    """Map a libyang verdict (and the error-app-tags libyang gave it) to the error-tag and
    error-app-tag a NETCONF client expects."""
    m = _LOC.search(raw)
    path = m.group(1) if m else None
    msg = raw.split(": ", 1)[1] if raw.startswith("failed to") and ": " in raw else raw
    msg = re.sub(r"\s*Line number \d+\.?", "", _LOC.sub("", msg)).strip(" :.,") + "."
    if app_tags:
        return RpcError(_APP_TAGS.get(app_tags[0], "operation-failed"), msg, path=path, app_tag=app_tags[0])
    low = msg.lower()
    if "mandatory" in low or "too few" in low:
        return RpcError("data-missing", msg, path=path, app_tag="missing-element" if "mandatory" in low
                        else "too-few-elements")
    if "leafref" in low or "instance-required" in low or "required instance" in low:
        return RpcError("data-missing", msg, path=path, app_tag="instance-required")
    if "must condition" in low:
        return RpcError("operation-failed", msg, path=path, app_tag="must-violation")
    if "unique" in low:
        return RpcError("operation-failed", msg, path=path, app_tag="data-not-unique")
    if "too many" in low:
        return RpcError("operation-failed", msg, path=path, app_tag="too-many-elements")
    if "when condition" in low:
        return RpcError("unknown-element", msg, path=path)
    if "no module with namespace" in low:
        return RpcError("unknown-namespace", msg, path=path)
    if "not found as a child" in low or ("node" in low and "not found" in low and not low.startswith("invalid")):
        return RpcError("unknown-element", msg, path=path)
    if "duplicate" in low:
        return RpcError("operation-failed", msg, path=path)
    return RpcError("invalid-value", msg, path=path)
