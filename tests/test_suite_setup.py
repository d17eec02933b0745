"""The suite itself on a machine that is not set up: without the standard models pytest stops
with one clear line naming the fix, not an INTERNALERROR traceback."""

from __future__ import annotations

import os
import subprocess
import sys

from conftest import scratch_repo


def test_missing_yang_path_stops_pytest_with_one_clear_line(tmp_path):
    repo = scratch_repo(tmp_path / "checkout")  # no shared/yang beside this copy
    env = {k: v for k, v in os.environ.items() if k != "FULLBARS_YANG_PATH"}
    p = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_units.py"],
                       cwd=repo, env=env, capture_output=True, text=True, timeout=120)
    both = p.stdout + p.stderr
    assert p.returncode == 4, both
    assert "INTERNALERROR" not in both and "Traceback" not in both, both
    assert "the standard YANG models (BBF, IETF, 3GPP) were not found" in p.stdout
    assert "fix: export FULLBARS_YANG_PATH=" in p.stdout
    assert len(p.stdout.strip().splitlines()) == 1, p.stdout
