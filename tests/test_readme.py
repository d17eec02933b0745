"""Every command in the README works exactly as written: the `sh` blocks of each README section
run in sequence, in one shell per section, in a copy of the repository's tracked files with a
store of its own; each command must exit 0, or the N of a `# ... exit N` comment on its line.
`yaml` blocks must load as intents, and one the README says is a shipped file must be that file.
Sections that bring up labs need root and the lab tools; run this file under the lab lock
(flock /tmp/fullbars-lab.lock ...): the README's lab names are what a user types."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
from pathlib import Path

import pytest
import yaml

from conftest import REPO, scratch_repo, snapshot
from test_lab import _require_lab_tools

README = REPO / "README.md"
FENCE = re.compile(r"^```(\w*)\n(.*?)^```\n", re.M | re.S)
EXIT = re.compile(r"#.*\bexit (\d+)\b")
SHIPPED = re.compile(r"`(examples/[^`]+\.ya?ml)`:\s*$")
SETUP, TESTS = "bash scripts/setup.sh", ".venv/bin/python -m pytest -q"


def sections() -> list[tuple[str, list[tuple[str, str, str]]]]:
    """(## heading, [(language, body, text before the block)]) in README order; 'top' is what
    comes before the first heading."""
    out: list = []
    text = README.read_text()
    for i, part in enumerate(re.split(r"^## ", text, flags=re.M)):
        title = "top" if i == 0 else part.splitlines()[0].strip()
        blocks, pos = [], 0
        for m in FENCE.finditer(part):
            blocks.append((m.group(1), m.group(2), part[pos:m.start()]))
            pos = m.end()
        out.append((title, blocks))
    return out


def commands(body: str) -> list[tuple[str, int]]:
    """(command, expected exit code) per command line; a trailing backslash continues a line."""
    out, pending = [], ""
    for line in body.splitlines():
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        line, pending = pending + line, ""
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        m = EXIT.search(line)
        out.append((line, int(m.group(1)) if m else 0))
    return out


def _sh_sections() -> list[str]:
    return [title for title, blocks in sections() if title != "top" and any(lang == "sh" for lang, _, _ in blocks)]


def test_every_code_block_says_what_it_holds():
    langs = [(title, lang) for title, blocks in sections() for lang, _, _ in blocks]
    assert langs and all(lang in ("sh", "yaml", "text") for _, lang in langs), langs


def test_the_first_two_commands_are_setup_with_the_demo_and_the_tests_as_ci_runs_them():
    top = [body for lang, body, _ in sections()[0][1] if lang == "sh"]
    assert [c for body in top for c, _ in commands(body)] == [f"{SETUP} && .venv/bin/fullbars demo", TESTS]
    ci = (REPO / ".ci" / "run").read_text().splitlines()
    assert SETUP in ci and TESTS in ci  # what CI runs; the tests are not run again from here


def test_yaml_blocks_are_intents_and_shipped_ones_are_the_files(tmp_path):
    from orchestrator.intents.loader import load_intent_files

    n = 0
    for title, blocks in sections():
        for lang, body, before in blocks:
            if lang != "yaml":
                continue
            n += 1
            f = tmp_path / f"block{n}.yaml"
            f.write_text(body)
            m = SHIPPED.search(before.rstrip())
            if m:
                assert yaml.safe_load(body) == yaml.safe_load((REPO / m.group(1)).read_text()), (title, m.group(1))
                f = REPO / m.group(1)  # loaded where it lives: an order names its catalogue beside it
            load_intent_files([str(f)])  # raises with file, line and path if the README's example is wrong
    assert n >= 5


@pytest.fixture(scope="module")
def checkout(tmp_path_factory) -> Path:
    repo = scratch_repo(tmp_path_factory.mktemp("readme") / "fullbars")
    (repo / ".venv").symlink_to(REPO / ".venv")  # what `bash scripts/setup.sh` made
    return repo


def _labs_up(names: set[str]) -> list[str]:
    from orchestrator.lab.runtime import key_of

    ns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout.split()
    return sorted(n for n in names if any(x.startswith(f"fb{key_of(n)}-") for x in ns))


def _lab_names(repo: Path, cmds: list[str]) -> set[str]:
    names = set()
    for c in cmds:
        argv = shlex.split(c, comments=True)
        for i, a in enumerate(argv[:-1]):
            if a == "--name":
                names.add(argv[i + 1])
            if a == "up" and argv[i - 1:i] == ["lab"] and (repo / argv[i + 1]).is_file():
                names.add(yaml.safe_load((repo / argv[i + 1]).read_text())["name"])
    return names


def _run(repo: Path, title: str, cmds: list[tuple[str, int]], db: str) -> subprocess.CompletedProcess:
    from orchestrator import settings

    lines = ["cd " + shlex.quote(str(repo))]
    for c, code in cmds:
        lines += [c, f"__rc=$?; if [ $__rc -ne {code} ]; then echo \"README ({title}): exit $__rc, expected {code}: \""
                  f"{shlex.quote(c)} >&2; exit 97; fi"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("FULLBARS_")}
    env.update(FULLBARS_DB=db, FULLBARS_YANG_PATH=":".join(map(str, settings.yang_path())),
               FULLBARS_LAB_DIR=str(repo / ".fullbars" / "labs"), PATH=f"{repo}/.venv/bin:{env['PATH']}")
    return subprocess.run(["bash", "-c", "\n".join(lines)], env=env, capture_output=True, text=True, timeout=1500)


@pytest.mark.parametrize("title", ["top", *_sh_sections()])
def test_readme_section_commands_run_as_written(title, checkout, tmp_path):
    blocks = dict(sections())[title]
    cmds = [c for lang, body, _ in blocks if lang == "sh" for c in commands(body)]
    demo = f"readme-demo-{os.getpid()}"
    if title == "top":  # the setup made .venv (CI runs it); the demo gets a name no user types
        assert cmds[0][0].startswith(f"{SETUP} && ")
        cmds = [(cmds[0][0].removeprefix(f"{SETUP} && ") + f" --name {demo}", 0)]
    texts = [c for c, _ in cmds]
    lab_files = [shlex.split(c)[3] for c in texts if c.startswith("fullbars lab up ")]
    if lab_files or any(" demo" in c for c in texts):
        _require_lab_tools()
        up = _labs_up(_lab_names(checkout, texts))
        assert not up, f"labs {up} are already up: run this test under the lab lock, after they are down"
    try:
        p = _run(checkout, title, cmds, f"sqlite:///{tmp_path}/store.db")
    finally:
        for f in lab_files:  # a command that failed half-way may have left its lab up
            subprocess.run([str(REPO / ".venv" / "bin" / "fullbars"), "lab", "down", f], cwd=checkout,
                           env={**os.environ, "FULLBARS_LAB_DIR": str(checkout / ".fullbars" / "labs")},
                           capture_output=True, timeout=300)
    assert p.returncode == 0, f"{p.stderr[-3000:]}\n--- stdout ---\n{p.stdout[-3000:]}"
    if title == "top":  # the named demo kept to its own folder and lab, and used FULLBARS_DB's store
        report = json.loads((checkout / "build" / demo / "report.json").read_text())
        assert report["transaction"]["outcome"] == "committed"
        intents = snapshot(f"sqlite:///{tmp_path}/store.db")["intents"]
        assert len(intents) == len(list((REPO / "examples" / "lab").glob("*.yaml")))
        assert not (checkout / "build" / demo / "store.db").exists()

