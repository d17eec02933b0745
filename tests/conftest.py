from __future__ import annotations

import collections
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect, text
from typer.testing import CliRunner

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "examples"


def pytest_sessionstart(session):
    from orchestrator import settings
    from orchestrator.errors import SetupError

    try:
        settings.yang_path()
    except SetupError as e:  # one clear line (and its fix), not an INTERNALERROR traceback
        pytest.exit("; ".join(line.strip() for line in e.render().splitlines()), returncode=4)


def scratch_repo(dest: Path) -> Path:
    """The repository's git-tracked files copied to dest (no build/, .venv or store): what a
    new user checks out."""
    files = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, text=True,
                           check=True).stdout.split("\0")
    for f in filter(None, files):
        if (REPO / f).is_file():
            (dest / f).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / f, dest / f)
    return dest


@pytest.fixture(scope="session")
def yanglint() -> str:
    path = shutil.which("yanglint")
    if not path:
        pytest.fail("yanglint is not installed: apt-get install libyang2-tools (scripts/setup.sh does it)")
    return path


@pytest.fixture
def db(tmp_path) -> str:
    return f"sqlite:///{tmp_path}/store.db"


def cli(*args: str, db: str | None, cwd: Path = REPO):
    """Run the fullbars CLI in-process from `cwd`; returns click's Result (exit_code, stdout, stderr).
    db None: a command without a store (validate)."""
    from orchestrator.cli import app

    old = os.getcwd()
    os.chdir(cwd)
    try:
        return CliRunner().invoke(app, [*args, *(("--db", db) if db else ())], catch_exceptions=False)
    finally:
        os.chdir(old)


def record_applied(db: str, planned, tx: str | None = None, environment: str = "lab:/nowhere/lab.clab.yml") -> None:
    """The store's record as a committed transaction leaves it once it gave the devices these
    configs (a PlanResult, or a plan bundle's folder): later plans start from them. For plan
    tests without a lab: a service planned and never applied is left off the devices a later plan
    shares with it (plan/held_back.py), one applied stands there."""
    import uuid

    from orchestrator.plan.bundle import load
    from orchestrator.resources import service_versions
    from orchestrator.resources.store import Store
    from orchestrator.rollout.apply import bundle_changes
    from orchestrator.rollout.transaction import Change, Journal

    store, tx = Store(db), tx or uuid.uuid4().hex
    if isinstance(planned, Path):  # as `fullbars apply DIR` builds the changes
        bundle = load(planned)
        changes = bundle_changes(bundle, lambda dev: None)
        also = service_versions.bundle_committed(bundle.devices)
    else:
        changes = [Change(d.device, d.kind, None, d.intended) for d in planned.devices]
        also = service_versions.committed(planned, service_versions.befores(store, planned))
    j = Journal(store, tx)
    j.start(environment, "apply", changes)
    j.state("committed", summary=f"{tx}: committed on {len(changes)} device(s)", remember=changes, also=also)


def snapshot(db: str) -> dict:
    """Every row of every table but those a plan derives from the rest (its caches, config
    ownership), for 'changes nothing' checks."""
    from orchestrator.resources.store import DERIVED_TABLES

    if db.startswith("sqlite:///") and not Path(db[len("sqlite:///"):]).exists():
        # no store: every table empty (opening one here would make its file, for a command to find)
        return collections.defaultdict(list)
    engine = create_engine(db)
    out = {}
    with engine.connect() as c:
        for t in inspect(engine).get_table_names():
            if t in DERIVED_TABLES:
                continue
            out[t] = sorted(tuple(map(str, r)) for r in c.execute(text(f"SELECT * FROM {t}")))
    engine.dispose()
    return out


def yanglint_device(yanglint: str, out_dir: Path, device: str) -> subprocess.CompletedProcess:
    """Validate DIR/<device>.xml with yanglint, using exactly the modules and features the
    manifest names: an independent check of what fullbars validated with libyang."""
    from orchestrator import settings

    m = json.loads((out_dir / "manifest.json").read_text())["devices"][device]
    data = out_dir / f"{device}.data.xml"
    lines = (out_dir / f"{device}.xml").read_text().splitlines()
    assert lines[0].startswith("<config") and lines[-1] == "</config>"
    data.write_text("\n".join(lines[1:-1]) + "\n")
    roots = [str(p) for p in settings.yang_path()]
    files = []
    for mod in m["modules"]:
        f = mod["file"]
        if f.startswith("$FULLBARS_YANG_PATH/"):
            rel = f.split("/", 1)[1]
            f = next(str(Path(r) / rel) for r in roots if (Path(r) / rel).exists())
        else:
            f = str(out_dir / f)
        files.append(f)
    cmd = [yanglint, "-t", "config"]
    for r in roots:
        cmd += ["-p", r]
    if (out_dir / "yang").is_dir():  # written only when a device of the plan uses our own models
        cmd += ["-p", str(out_dir / "yang")]
    for mod in m["modules"]:
        cmd += ["-F", f"{mod['name']}:{','.join(mod['features'])}"]
    cmd += files + [str(data)]
    return subprocess.run(cmd, capture_output=True, text=True)


def planned(tmp_path: Path, db: str, network: str, *intents: str, out: str = "out") -> tuple[Path, dict]:
    """Plan intents into tmp_path/out (it must pass); returns the folder and its manifest."""
    d = tmp_path / out
    r = cli("plan", *intents, "--network", network, "--out", str(d), db=db)
    assert r.exit_code == 0, r.stderr
    return d, json.loads((d / "manifest.json").read_text())


def manifest_validate(out_dir: Path, device: str) -> subprocess.CompletedProcess:
    """The manifest's own yanglint command for a device, run as a user would paste it."""
    from orchestrator import settings

    info = json.loads((out_dir / "manifest.json").read_text())["devices"][device]
    return subprocess.run(["bash", "-c", info["validate"]], cwd=out_dir, capture_output=True, text=True,
                          env={"PATH": "/usr/bin:/bin",
                               "FULLBARS_YANG_PATH": ":".join(str(p) for p in settings.yang_path())})


def read_running(ep, attempts: int = 3):
    """A lab device's running config (lxml element), read by a test to check what a command did:
    through the product's own reader, which reads again on a new session when one breaks or never
    answers (seen on this 2-core machine under a parallel CPU load)."""
    import dataclasses

    from lxml import etree

    from orchestrator.netconf.session import read_running as read

    ep = dataclasses.replace(ep, timeout=min(ep.timeout, 30.0))
    return etree.fromstring(read(ep, attempts=attempts).encode())
