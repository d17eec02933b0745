#!/usr/bin/env python3
"""Regenerate the golden files: tests/golden/errors/*/expected.txt from what fullbars says now.
Review the git diff afterwards: a changed message is a changed user interface."""

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from golden_cases import ERRORS, cases, run_case  # noqa: E402

for case in cases():
    with tempfile.TemporaryDirectory() as tmp:
        code, stderr, _, _ = run_case(case, f"sqlite:///{tmp}/store.db")
    if code != 2:
        sys.exit(f"{case}: expected a failure (exit 2), got exit {code}")
    (ERRORS / case / "expected.txt").write_text(stderr)
    print(f"{case}: {stderr.splitlines()[0]}")
