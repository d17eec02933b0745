"""Per-device work of a plan (render, merge, validate, read facts, diff), spread over the cores.

Each device is independent once allocation is done, so the work runs in forked worker
processes that inherit the compiled model contexts; the parent only gathers results.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from orchestrator.devices.registry import KINDS
from orchestrator.errors import Problem
from orchestrator.plan import crosscheck
from orchestrator.plan.assemble import assemble
from orchestrator.plan.diff import edits, parse, readable, schema_index
from orchestrator.plan.ownership import record
from orchestrator.workers import worker_pool

PARALLEL_FROM = 2000  # fragments; below this, forking costs more than it saves


@dataclass
class Job:
    device: str
    kind: str
    role: str
    base_vars: dict
    fragments: list  # (service, template, variables)
    current: str


@dataclass
class Built:
    device: str
    kind: str
    services: list[str]
    intended: str
    edit: str
    reverse: str
    changed: bool
    diff: list[str]
    facts: dict
    owners: dict  # path → the services whose fragments hold it (ownership.record)


def build(job: Job) -> tuple[Built | None, list[Problem]]:
    kind = KINDS.get(job.kind)
    cfg, problems = assemble(job.device, kind, job.base_vars, job.fragments)
    if cfg is None:
        return None, problems
    tree = parse(cfg.xml)
    facts = crosscheck.facts(job.role, tree)
    index = schema_index(kind.models)
    edit, reverse, changed = edits(index, job.current, cfg.xml, tree)
    diff = readable(job.device, job.current, cfg.xml) if changed else []
    return Built(job.device, job.kind, cfg.services, cfg.xml, edit, reverse, changed, diff, facts,
                 record(index, cfg.pieces)), []


def build_all(jobs: list[Job], progress=None) -> tuple[list[Built], list[Problem]]:
    results, problems = [], []
    total = sum(len(j.fragments) for j in jobs)
    workers = min(os.cpu_count() or 1, len(jobs))
    if workers > 1 and total >= PARALLEL_FROM:
        # Big devices first, so the last one to finish is a small one.
        order = sorted(jobs, key=lambda j: -len(j.fragments))
        with worker_pool(workers) as pool:
            outcomes = pool.map(build, order, chunksize=1)
            for i, (built, probs) in enumerate(outcomes, 1):
                _collect(built, probs, results, problems)
                if progress:
                    progress("render+validate", i, len(jobs))
    else:
        for i, job in enumerate(jobs, 1):
            _collect(*build(job), results, problems)
            if progress:
                progress("render+validate", i, len(jobs))
    results.sort(key=lambda b: b.device)
    return results, problems


def _collect(built, probs, results, problems):
    problems.extend(probs)
    if built is not None:
        results.append(built)
