"""Intent files → validated intents: envelope, service model (libyang), then the service's own rules."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from orchestrator.errors import FullbarsError, Problem
from orchestrator.intents.envelope import read_envelope, spec_digest
from orchestrator.intents.yamlsrc import read_documents
from orchestrator.models.instance import Located, to_tree
from orchestrator.services.models import service_models
from orchestrator.workers import worker_pool


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


def _load_file(path: str) -> tuple[list[Intent], list[Problem]]:
    from orchestrator.services.registry import SERVICES

    intents: list[Intent] = []
    problems: list[Problem] = []
    try:
        for node in read_documents(path):
            try:
                doc = read_envelope(node, path, SERVICES.kinds())
            except FullbarsError as e:
                problems.extend(e.problems)
                continue
            svc = SERVICES.by_kind(doc.kind)
            loc = Located(path, "spec")
            tree, probs = to_tree(service_models(), svc.module, svc.top, doc.spec_node, path, "spec", loc)
            if probs:
                problems.extend(probs)
                continue
            spec = tree.print_dict(include_implicit_defaults=True)[svc.top]
            tree.free()
            lines = {loc.names[k]: v for k, v in loc.lines.items()}
            intents.append(Intent(doc.name, doc.kind, spec, path, doc.line, spec_digest(spec), lines))
    except FullbarsError as e:
        problems.extend(e.problems)
    return intents, problems


PARALLEL_BYTES = 1 << 20  # below a megabyte of YAML, forking costs more than it saves


def load_intent_files(paths: list[str]) -> list[Intent]:
    paths = [str(p) for p in paths]
    size = sum(os.path.getsize(p) for p in paths if os.path.isfile(p))
    workers = min(os.cpu_count() or 1, len(paths))
    if workers > 1 and size >= PARALLEL_BYTES:
        service_models()  # compile once, before forking
        with worker_pool(workers) as pool:
            outcomes = list(pool.map(_load_file, paths))
    else:
        outcomes = [_load_file(p) for p in paths]
    intents = [i for found, _ in outcomes for i in found]
    problems = [p for _, probs in outcomes for p in probs]
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
