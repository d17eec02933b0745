"""What a fullbars process killed mid-way leaves behind: no worker processes, and no artifact
folder that contradicts its manifest."""

from __future__ import annotations

import hashlib
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import REPO

sys.path.insert(0, str(REPO / "bench"))


def _children(pid: int) -> list[int]:
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except FileNotFoundError:
        return []


def test_workers_die_with_a_parent_killed_while_loading_intents(tmp_path):
    from orchestrator.lab.netns import pid_alive
    from plan import write_inputs  # bench/plan.py: more than a megabyte of YAML, so loading forks

    net, files = write_inputs(6000, tmp_path)
    proc = subprocess.Popen([sys.executable, "-m", "orchestrator", "validate", *map(str, files), "--network", str(net)],
                            cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    workers: list[int] = []
    deadline = time.monotonic() + 60
    while len(workers) < 2 and time.monotonic() < deadline and proc.poll() is None:
        workers = _children(proc.pid)
        time.sleep(0.01)
    assert len(workers) >= 2, "validate never forked its workers"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    deadline = time.monotonic() + 10
    while any(pid_alive(w) for w in workers) and time.monotonic() < deadline:
        time.sleep(0.05)
    left = [w for w in workers if pid_alive(w)]
    for w in left:  # do not leave them behind for the next test either
        subprocess.run(["kill", "-9", str(w)])
    assert left == []


def _consistent(out: Path) -> bool:
    """Every file the manifest names is there with its sha256, and no device file it does not name."""
    m = json.loads((out / "manifest.json").read_text())
    named = {f: sha for d in m["devices"].values() for f, sha in d["files"].items()}
    for f, sha in named.items():
        if not (out / f).exists() or hashlib.sha256((out / f).read_bytes()).hexdigest() != sha:
            return False
    on_disk = {p.name for p in out.iterdir() if p.suffix in (".xml", ".diff")}
    return on_disk <= set(named)


def test_artifacts_killed_while_writing_leave_the_old_folder_whole(tmp_path, monkeypatch, db):
    """The writer dies (here: a write raises) after some files of a new plan: the folder is still
    the old plan, whole, matching its manifest; a later write replaces it whole."""
    from orchestrator.plan import artifacts
    from orchestrator.plan.pipeline import plan
    from orchestrator.resources.store import Store

    store = Store(db)
    intents = sorted(str(p) for p in (REPO / "examples/lab").glob("*.yaml"))
    first = plan(store, str(REPO / "examples/network.yaml"), intents[:2])
    out = tmp_path / "plan"
    artifacts.write(first, out)
    (out / "verify.json").write_text("{}")  # something the user put there
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    second = plan(store, None, intents)
    assert {d.device for d in second.devices} > {d.device for d in first.devices}  # a device more

    real, written = Path.write_text, []

    def dies_after_three(self, data, *a, **kw):
        if len(written) == 3:
            raise KeyboardInterrupt("killed")  # like a signal: not an error the writer handles
        written.append(self)
        return real(self, data, *a, **kw)

    monkeypatch.setattr(Path, "write_text", dies_after_three)
    with pytest.raises(KeyboardInterrupt):
        artifacts.write(second, out)
    monkeypatch.setattr(Path, "write_text", real)
    assert written, "the writer wrote nothing before it died"
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == before
    assert _consistent(out)
    artifacts.write(second, out)
    assert _consistent(out)
    assert set(json.loads((out / "manifest.json").read_text())["devices"]) == {d.device for d in second.devices}
    assert (out / "verify.json").read_text() == "{}"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temporary folder left
