"""Golden error cases: tests/golden/errors/<case>/ holds the input, expected.txt what fullbars says.

Inputs: network.yaml (default: examples/network.yaml), setup.yaml (planned first; must pass),
every other *.yaml is planned and must fail. expected.txt is written only by
scripts/regen_golden.py, never by hand.
"""

from __future__ import annotations

from pathlib import Path

from conftest import REPO, cli, snapshot

ERRORS = REPO / "tests" / "golden" / "errors"


def cases() -> list[str]:
    return sorted(p.name for p in ERRORS.iterdir() if p.is_dir())


def run_case(name: str, db: str) -> tuple[int, str, dict, dict]:
    """(exit code, stderr, store before, store after) for the failing plan of one case."""
    d = ERRORS / name
    rel = d.relative_to(REPO)
    net = rel / "network.yaml" if (d / "network.yaml").exists() else Path("examples/network.yaml")
    if (d / "setup.yaml").exists():
        r = cli("plan", str(rel / "setup.yaml"), "--network", str(net), db=db)
        assert r.exit_code == 0, f"{name}: setup failed: {r.stderr}"
    intents = sorted(str(rel / p.name) for p in d.glob("*.yaml") if p.name not in ("network.yaml", "setup.yaml"))
    before = snapshot(db) if (d / "setup.yaml").exists() else {}
    r = cli("plan", *intents, "--network", str(net), db=db)
    after = snapshot(db) if (d / "setup.yaml").exists() else {}
    return r.exit_code, r.stderr, before, after
