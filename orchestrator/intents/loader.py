"""Intent files → validated intents: envelope, service model (libyang), then the service's own rules."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from orchestrator.errors import FullbarsError, Problem
from orchestrator.intents.envelope import read_envelope, spec_digest
from orchestrator.intents.yamlsrc import read_documents
from orchestrator.models.instance import Located, to_tree
from orchestrator.services.models import service_models


@dataclass
class Intent:
    name: str
    kind: str
    spec: dict
    file: str
    line: int
    digest: str
    lines: dict[str, int] = field(default_factory=dict)  # dotted YAML path → line

    def where(self, ypath: str) -> dict:
        """file/line/path keywords for a Problem about `ypath` (falls back to the nearest parent)."""
        p = ypath
        while p and p not in self.lines:
            p = p.rsplit(".", 1)[0] if "." in p else ""
        return {"file": self.file, "line": self.lines.get(p, self.line), "path": ypath}


def load_intent_files(paths: list[str]) -> list[Intent]:
    from orchestrator.services.registry import SERVICES

    intents: list[Intent] = []
    problems: list[Problem] = []
    for path in paths:
        try:
            for node in read_documents(path):
                doc = read_envelope(node, str(path), SERVICES.kinds())
                svc = SERVICES.by_kind(doc.kind)
                loc = Located(str(path), "spec")
                tree, probs = to_tree(service_models(), svc.module, svc.top, doc.spec_node, str(path), "spec", loc)
                if probs:
                    problems.extend(probs)
                    continue
                spec = tree.print_dict(include_implicit_defaults=True)[svc.top]
                tree.free()
                lines = {loc.names[k]: v for k, v in loc.lines.items()}
                intents.append(Intent(doc.name, doc.kind, spec, str(path), doc.line, spec_digest(spec), lines))
        except FullbarsError as e:
            problems.extend(e.problems)
    seen: dict[str, Intent] = {}
    unique: list[Intent] = []
    for it in intents:
        first = seen.get(it.name)
        if first is None:
            seen[it.name] = it
            unique.append(it)
        elif first.digest != it.digest or first.kind != it.kind:
            problems.append(Problem(
                f"intent name {it.name!r} is given twice with different specs "
                f"(also {first.file}:{first.line})", file=it.file, line=it.line, path="metadata.name",
                fix="give each service its own name, or keep one of the two documents"))
    if problems:
        raise FullbarsError(problems)
    return unique
