"""Golden error cases: tests/golden/errors/<case>/ holds the input, expected.txt what fullbars says.

Inputs: network.yaml (default: examples/network.yaml), setup.yaml (planned first; must pass),
every other *.yaml is planned and must fail. customer-secrets.txt, when present, is the operator's
allow-list of customer-secret sources for the case ({case} standing for the case's folder). broken-template.yml, when present, plans with a
copy of templates/ where one template is edited (file, replace, with: the text must be there),
the way a template bug would break a config: the checks across devices must catch it.
expected.txt is written only by scripts/regen_golden.py, never by hand.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile
from pathlib import Path

import yaml

from conftest import REPO, cli, snapshot

ERRORS = REPO / "tests" / "golden" / "errors"


def cases() -> list[str]:
    return sorted(p.name for p in ERRORS.iterdir() if p.is_dir())


@contextlib.contextmanager
def _templates(case: Path):
    """The shipped templates, or a copy with the case's broken-template.yml edits applied."""
    from orchestrator import settings
    from orchestrator.render import engine

    spec = case / "broken-template.yml"
    if not spec.exists():
        yield
        return
    edits = yaml.safe_load(spec.read_text())
    old = settings.TEMPLATES
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "templates"
        shutil.copytree(REPO / "templates", copy)
        for e in edits:
            t = copy / e["file"]
            text = t.read_text()
            assert e["replace"] in text, f"{case.name}: {e['replace']!r} is no longer in {e['file']}"
            t.write_text(text.replace(e["replace"], e["with"]))
        settings.TEMPLATES = copy
        engine.environment.cache_clear()
        engine.template.cache_clear()
        try:
            yield
        finally:
            settings.TEMPLATES = old
            engine.environment.cache_clear()
            engine.template.cache_clear()


def run_case(name: str, db: str, command: str = "plan") -> tuple[int, str, dict, dict]:
    """(exit code, stderr, store before, store after) for the failing plan (or another command
    given the same arguments, such as validate) of one case."""
    d = ERRORS / name
    with _templates(d), _customer_secrets(d):
        return _run_case(d, name, db, command)


@contextlib.contextmanager
def _customer_secrets(case: Path):
    from orchestrator import settings

    f = case / "customer-secrets.txt"
    old = os.environ.get(settings.CUSTOMER_SECRETS_ENV)
    if f.exists():
        os.environ[settings.CUSTOMER_SECRETS_ENV] = f.read_text().strip().replace("{case}", str(case))
    try:
        yield
    finally:
        if f.exists():
            if old is None:
                os.environ.pop(settings.CUSTOMER_SECRETS_ENV)
            else:
                os.environ[settings.CUSTOMER_SECRETS_ENV] = old


def _run_case(d: Path, name: str, db: str, command: str) -> tuple[int, str, dict, dict]:
    rel = d.relative_to(REPO)
    net = rel / "network.yaml" if (d / "network.yaml").exists() else Path("examples/network.yaml")
    if (d / "setup.yaml").exists():
        r = cli("plan", str(rel / "setup.yaml"), "--network", str(net), db=db)
        assert r.exit_code == 0, f"{name}: setup failed: {r.stderr}"
    intents = sorted(str(rel / p.name) for p in d.glob("*.yaml") if p.name not in ("network.yaml", "setup.yaml"))
    before = snapshot(db) if (d / "setup.yaml").exists() else {}
    r = cli(command, *intents, "--network", str(net), db=db)
    after = snapshot(db) if (d / "setup.yaml").exists() else {}
    # progress lines ("render+validate: 1/4") are not part of the message
    message = "".join(ln for ln in r.stderr.splitlines(True) if not re.fullmatch(r"[\w+ ]+: \d+/\d+\n", ln))
    return r.exit_code, message, before, after
