"""Intent files → validated intents: envelope, service model (libyang), then the service's own rules."""

from __future__ import annotations

import functools
import hashlib
import json
import os
import sys
from dataclasses import dataclass, field

from orchestrator import clock, settings
from orchestrator.documents.envelope import read_envelope, spec_digest
from orchestrator.documents.yamlsrc import read_documents
from orchestrator.errors import FullbarsError, Problem
from orchestrator.models.instance import Located, to_tree
from orchestrator.models.service_models import service_models
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
    document: str | None = None  # in a file of several documents: which one
    parent: str | None = None  # the intent this one was expanded from (an order), planned and deleted with it

    def where(self, ypath: str) -> dict:
        """file/line/path keywords for a Problem about `ypath` (falls back to the nearest parent)."""
        p = ypath
        while p and p not in self.lines:
            p = p.rsplit(".", 1)[0] if "." in p else ""
        return {"file": self.file, "line": self.lines.get(p, self.line), "path": ypath, "document": self.document}


class StoredIntent(Intent):
    """An intent as the store keeps it, its spec decoded from the stored JSON when first read:
    a plan of one line in a large inventory reads the specs of the few lines it places."""

    def __init__(self, name: str, kind: str, spec_json: str, file: str, digest: str, parent: str | None = None):
        # Every field of Intent but spec, set here without its __init__ (which would set spec):
        # a field added to Intent must be added here too.
        self.name, self.kind, self.file, self.line, self.digest = name, kind, file, 1, digest
        self.lines, self.document, self.parent = {}, None, parent
        self._json, self._spec = spec_json, None

    @property
    def spec(self) -> dict:
        if self._spec is None:
            self._spec = json.loads(self._json)
        return self._spec

    def where(self, ypath: str) -> dict:
        # The store keeps no line map: a problem about a stored intent (an FTTR service its line's
        # new plan refuses) takes its lines from its file, where the file still holds it as stored.
        if not self.lines and self.line == 1:
            found = next((it for it in _read_again(self.file) if it.name == self.name and it.digest == self.digest),
                         None)
            if found is not None:
                self.lines, self.line, self.document = found.lines, found.line, found.document
        return super().where(ypath)


def _read_again(path: str) -> list[Intent]:
    """The intents of a file as it is now (none when it is gone or does not load)."""
    try:
        stat = os.stat(path)
    except OSError:
        return []
    return _read_cached(path, stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=32)
def _read_cached(path: str, mtime_ns: int, size: int) -> list[Intent]:
    return _load_file(path)[0]


def _load_file(path: str, text: str | None = None) -> tuple[list[Intent], list[Problem], list[str]]:
    """(intents, problems, names of the documents that named themselves but failed). An intent
    that expands to others (an order) is followed by them."""
    from orchestrator.services.registry import SERVICES

    intents: list[Intent] = []
    problems: list[Problem] = []
    failed: list[str] = []
    try:
        nodes = read_documents(path, text)
    except FullbarsError as e:
        return [], e.problems, []
    for i, node in enumerate(nodes, 1):
        label = f"document {i}" if len(nodes) > 1 else None
        doc = None
        try:  # one document's problems do not hide the next one's
            doc = read_envelope(node, path, SERVICES.kinds())
            label = label and f"{label}, {doc.name}"
            svc = SERVICES.by_kind(doc.kind)
            loc = Located(path, "spec")
            tree, probs = to_tree(service_models(), svc.module, svc.top, doc.spec_node, path, "spec", loc)
        except FullbarsError as e:
            probs = e.problems
        if probs:
            for p in probs:
                p.document = p.document or label
            problems.extend(probs)
            failed += [doc.name] if doc else []
            continue
        spec = _shared(svc.as_of(tree.print_dict(include_implicit_defaults=True)[svc.top], clock.now().date()))
        tree.free()
        lines = {sys.intern(loc.names[k]): v for k, v in loc.lines.items()}
        if doc.name_line is not None:
            lines["metadata.name"] = doc.name_line
        digest, inputs = spec_digest(spec), svc.input_digest(spec, path)
        if inputs is not None:  # the measurements a fill reads are part of what it is
            digest = hashlib.sha256(f"{digest} {inputs}".encode()).hexdigest()
        it = Intent(doc.name, doc.kind, spec, path, doc.line, digest, lines, label)
        kids, probs = svc.expand(it, _load_file)
        intents += [it] + kids
        problems += probs
        failed += [doc.name] if probs else []
    return intents, problems, failed


def _shared(value):
    """`value` with its strings interned: 100,000 intents of one kind name the same keys and
    often the same values ("500M", "dhcp"), a third of what each intent holds when every one is
    its own string (a worker's pickle then sends each once per file, too)."""
    if isinstance(value, dict):
        return {sys.intern(k) if isinstance(k, str) else k: _shared(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_shared(v) for v in value]
    return sys.intern(value) if isinstance(value, str) else value


PARALLEL_BYTES = 1 << 20  # below a megabyte of YAML, forking costs more than it saves


def load_intent_files(paths: list[str]) -> list[Intent]:
    intents, problems, _ = load_intents(paths)
    if problems:
        raise FullbarsError(problems)
    return intents


def load_intents(paths: list[str]) -> tuple[list[Intent], list[Problem], set[str]]:
    """Every file and document is read, whatever the others hold: (valid intents, all problems,
    names of the documents that failed, so that rules about them are not reported twice)."""
    paths = [str(p) for p in paths]
    size = sum(os.path.getsize(p) for p in paths if os.path.isfile(p))
    workers = min(settings.plan_workers(), len(paths))
    if workers > 1 and size >= PARALLEL_BYTES:
        service_models()  # compile once, before forking
        with worker_pool(workers) as pool:
            outcomes = list(pool.map(_load_file, paths))
    else:
        outcomes = [_load_file(p) for p in paths]
    intents = [i for found, _, _ in outcomes for i in found]
    problems = [p for _, probs, _ in outcomes for p in probs]
    failed = {n for _, _, names in outcomes for n in names}
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
                f"(also {first.file}:{first.where('metadata.name')['line']})", **it.where("metadata.name"),
                fix="give each service its own name, or keep one of the two documents"))
    return unique, problems, failed
