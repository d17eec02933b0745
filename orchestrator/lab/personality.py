"""Personalities: what a node's committed config means for its namespace's data plane.

Each intent kind's lab part (orchestrator/lab/kinds/) brings the planes of the device roles it
owns; a personality feeds a node's committed config to its plane and records what became of it
(personality.json), so whoever waits for the lab learns a failure and its cause at once. The
config decides where traffic goes and how fast, not the test.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from lxml import etree

from orchestrator.lab.dataplane import RECORD, failure, recorded
from orchestrator.lab.kinds.registry import LAB_KINDS
from orchestrator.lab.running import RunningSource



class NodePersonality:
    """Applies one node's config through its role's plane; the plane remembers what it made so
    a change replaces only that."""

    def __init__(self, lab: dict, node: str):
        self.lab, self.node = lab, node
        self.n = lab["nodes"][node]
        make = LAB_KINDS.plane(self.n["role"], self.n["kind"])
        self.plane = make(lab, node) if make else None

    def apply(self, config_xml: bytes, source_digest: str = "") -> dict:
        root = etree.fromstring(config_xml)
        if self.plane is None:
            return {}
        lines, failed, facts = self.plane.apply(root)
        return self._record({"node": self.node, "lines": lines, "source_digest": source_digest, **facts,
                             "failures": [failure(self.node, tried, error) for tried, error in failed]})

    def failed(self, source_digest: str, tried: str, error: Exception) -> dict:
        """The personality broke off on this config: recorded like any failure, so whoever waits
        for the lab learns why at once instead of timing out."""
        return self._record({"node": self.node, "lines": {}, "source_digest": source_digest,
                             "failures": [failure(self.node, tried, f"{type(error).__name__}: {error}")]})

    def _record(self, summary: dict) -> dict:
        """personality.json: what the watcher made of the config with this digest, and what failed;
        wait_applied, push and verify read it."""
        (Path(self.n["state_dir"]) / RECORD).write_text(json.dumps(summary, indent=2, sort_keys=True))
        return summary


def _digest(data: bytes) -> str:
    import hashlib

    return hashlib.sha256(data).hexdigest()


@dataclass
class Applied:
    """What the watcher made of the nodes' running configs."""

    late: list[str]  # nodes whose current running config it has not applied yet
    failures: list[dict]  # failure() of the ones it applied

    def problems(self, lab: dict) -> list[str]:
        log = Path(lab["nodes"][self.late[0]]["state_dir"]).parents[1] / "watcher.log" if self.late else None
        return [f"{n}: the lab did not apply the commit in time (see {log})" for n in self.late] + \
            [f"{f['node']}: the lab could not apply the committed config: {f['tried']}: {f['error']}"
             for f in self.failures]


def wait_applied(lab: dict, nodes: list[str], timeout: float = 15.0) -> Applied:
    """Block until the watcher has applied each node's current running config (or failed to)."""
    import time

    end = time.monotonic() + timeout
    sources = {n: RunningSource(lab, n) for n in nodes if LAB_KINDS.has_plane(lab["nodes"][n])}
    try:
        late = _wait(lab, sources, list(sources), end)
    finally:
        for s in sources.values():
            s.close()
    return Applied(late, [f for n in sources if n not in late for f in recorded(lab, n).get("failures", [])])


def recorded_failures(lab: dict) -> list[dict]:
    """Every node's failures as the watcher last recorded them."""
    return [f for n, v in sorted(lab["nodes"].items()) if LAB_KINDS.has_plane(v) for f in recorded(lab, n).get("failures", [])]


def _wait(lab, sources, todo, end) -> list[str]:
    import time

    while todo and time.monotonic() < end:
        left = []
        for n in todo:
            data = sources[n].read()
            if data is None or recorded(lab, n).get("source_digest") != _digest(data):
                left.append(n)
        todo = left
        if todo:
            time.sleep(0.05)
    return todo


def realize(p: NodePersonality, data: bytes, digest: str) -> dict:
    """One node's committed config into its data plane; whatever breaks is recorded, not raised:
    a bad config must not stop the watcher for the other nodes, nor leave its waiter guessing."""
    try:
        return p.apply(data, digest)
    except Exception as e:
        return p.failed(digest, "apply the committed config", e)


def _stamp(path: Path):
    try:
        st = Path(path).stat()
        return st.st_mtime_ns, st.st_size
    except OSError:
        return None


def watch(state_file: Path, interval: float = 0.2) -> None:
    """The lab's watcher process: re-apply a node's personality whenever its agent commits."""
    import time

    lab = json.loads(Path(state_file).read_text())
    people = {n: NodePersonality(lab, n) for n, v in lab["nodes"].items() if LAB_KINDS.has_plane(v)}
    sources = {n: RunningSource(lab, n) for n in people}
    seen: dict[str, str] = {}
    pids = {n: lab["nodes"][n].get("pids") for n in people}
    stamp = _stamp(state_file)
    while Path(state_file).exists():
        if _stamp(state_file) != stamp:  # `lab up` restarted a dead agent, and with it killed what
            stamp = _stamp(state_file)   # ran in its namespace (the BNG's dnsmasq): apply it again
            try:
                now = json.loads(Path(state_file).read_text())["nodes"]
            except (OSError, ValueError, KeyError):
                now = {}
            for name in people:
                if name in now and now[name].get("pids") != pids[name]:
                    pids[name] = now[name].get("pids")
                    seen.pop(name, None)
        for name, p in people.items():
            data = sources[name].read()
            if data is None:
                continue
            digest = _digest(data)
            if seen.get(name) != digest:
                seen[name] = digest
                summary = realize(p, data, digest)
                print(f"{name}: {json.dumps(summary.get('lines', {}))} {json.dumps(summary.get('failures', []))}",
                      flush=True)
        for name, p in people.items():
            if p.plane is not None:
                try:
                    p.plane.tick()
                except Exception as e:  # one node's trouble must not stop the watcher for the others
                    print(f"{name}: tick failed: {type(e).__name__}: {e}", flush=True)
        time.sleep(interval)
