"""Bad input: a clear message naming file, line, path and fix; exit 2; nothing changed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO, snapshot
from golden_cases import ERRORS, cases, run_case


def test_there_are_enough_kinds_of_bad_input():
    assert len(cases()) >= 12


@pytest.mark.parametrize("case", cases())
def test_golden_error(case, db):
    code, stderr, before, after = run_case(case, db)
    assert code == 2
    assert "Traceback" not in stderr
    assert stderr == (ERRORS / case / "expected.txt").read_text(), "regenerate with scripts/regen_golden.py if intended"
    assert before == after  # a failed plan leaves the store exactly as it was


@pytest.mark.parametrize("case", cases())
def test_validate_reports_exactly_what_plan_reports(case, db):
    """validate runs plan's every stage on the same input: the same problems, and the store
    (or its absence) as it was."""
    code, stderr, before, after = run_case(case, db, "validate")
    assert (code, stderr) == (2, (ERRORS / case / "expected.txt").read_text())
    assert before == after
    if not (ERRORS / case / "setup.yaml").exists():
        assert not Path(db[len("sqlite:///"):]).exists()  # validate made no store file


def test_failed_plan_on_empty_store_stores_nothing(db):
    code, _, _, _ = run_case("oversubscribed-pon", db)
    assert code == 2
    assert not Path(db[len("sqlite:///"):]).exists()  # not even the store file the plan opened


def test_no_traceback_from_the_real_command(tmp_path):
    bad = tmp_path / "x.yaml"
    bad.write_text("apiVersion: [\n")
    r = subprocess.run([sys.executable, "-m", "orchestrator", "plan", str(bad), "--network",
                        "examples/network.yaml", "--db", f"sqlite:///{tmp_path}/s.db"],
                       cwd=REPO, capture_output=True, text=True)
    assert r.returncode == 2
    assert "Traceback" not in r.stderr and "malformed YAML" in r.stderr and f"{bad}:2" in r.stderr


def test_a_network_that_loses_a_pinned_olt_is_refused_naming_the_line(db, tmp_path):
    from conftest import cli

    intents = [str(p) for p in sorted((REPO / "examples/intents").glob("*.yaml"))]
    assert cli("plan", *intents, "--network", "examples/network.yaml", db=db).exit_code == 0
    text = (REPO / "examples/network.yaml").read_text()
    start = text.index("  - name: olt-3")
    end = text.index("  - name: olt-4")
    smaller = tmp_path / "network.yaml"
    smaller.write_text(text[:start] + text[end:])
    before = snapshot(db)
    r = cli("plan", str(REPO / "examples/intents/acme-hq.yaml"), "--network", str(smaller), db=db)
    assert r.exit_code == 2 and "Traceback" not in r.stderr
    assert "line clinic-west is pinned to OLT olt-3" in r.stderr and "examples/intents/clinic-west.yaml" in r.stderr
    assert snapshot(db) == before


def test_validate_without_network_uses_the_remembered_one(db):
    """After a plan the store remembers the network: validate checks against it, as plan would."""
    from conftest import cli

    case = ERRORS / "exhausted-pool"
    rel = case.relative_to(REPO)
    assert cli("plan", str(rel / "setup.yaml"), "--network", str(rel / "network.yaml"), db=db).exit_code == 0
    before = snapshot(db)
    r = cli("validate", str(rel / "intent.yaml"), db=db)
    assert (r.exit_code, r.stderr) == (2, (case / "expected.txt").read_text())
    assert snapshot(db) == before


def test_messages_name_no_internal_type_or_regex():
    """A person reads "a rate such as 500M or 1G", not fbt:rate, uint8 or a pattern."""
    import re

    internal = re.compile(r"\bfbt:|\bu?int(8|16|32|64)\b|\.\+|\[[0-9A-Za-z]-[0-9A-Za-z]|\{\d|\(\w+\|")
    for case in cases():
        for line in (ERRORS / case / "expected.txt").read_text().splitlines():
            if line.startswith(("error: ", "  fix: ")):
                assert not internal.search(line), f"{case}: {line}"
