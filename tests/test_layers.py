"""The packages of orchestrator/ stand in layers: a package imports only the ones below it, so a
reader (and a change) can take each layer without the ones above. Read from the source with ast,
lazy imports inside functions included: an import moved into a function to dodge a cycle is still
the cycle."""

from __future__ import annotations

import ast
from pathlib import Path

from conftest import REPO

# Bottom first. A package or top-level module not named here is refused, so that a new one is
# placed on purpose.
LAYERS = [
    "errors", "private_files", "settings", "once", "clock", "json_output", "progress", "workers", "fault_pause", "acting",
    "documents", "models", "devices", "netconf", "render", "radio", "resources",
    "network", "coverage", "services", "intents", "plan", "lab", "rollout",
    "app", "engine", "api", "demo", "devsim", "cli_usage", "cli", "__main__",
]
# Imports that still point upwards, each inside the one function that needs it, with why.
UPWARDS = {
    # FULLBARS_PLAN_BUILDS=workers: a plan hands its device builds to the engine's queue.
    ("orchestrator/plan/pipeline.py", "orchestrator.engine"),
}


def _imports():
    root = REPO / "orchestrator"
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(root).parts
        here = parts[0] if len(parts) > 1 else path.stem
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "orchestrator":
                names = [node.module] if node.module != "orchestrator" else [f"orchestrator.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names if a.name.split(".")[0] == "orchestrator"]
            else:
                continue
            for name in names:
                there = name.split(".")[1] if "." in name else None
                if there and there != here:
                    yield str(path.relative_to(REPO)), node.lineno, here, there, name


def test_every_package_has_a_layer():
    root = REPO / "orchestrator"
    found = {p.name for p in root.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    found |= {p.stem for p in root.glob("*.py") if p.stem != "__init__"}
    assert found - set(LAYERS) == set(), "place the new package in tests/test_layers.py LAYERS"
    assert set(LAYERS) - found == set(), "a package in LAYERS is gone: take it out"


def test_packages_import_only_below_them():
    rank = {name: i for i, name in enumerate(LAYERS)}
    upward, used = [], set()
    for file, line, here, there, name in _imports():
        if rank[there] <= rank[here]:
            continue
        allowed = next(((f, m) for f, m in UPWARDS if f == file and name.startswith(m)), None)
        if allowed:
            used.add(allowed)
        else:
            upward.append(f"{file}:{line} ({here}) imports {name} ({there}, above it)")
    assert not upward, "\n".join(upward)
    assert used == UPWARDS, f"no longer imported upwards, take out of UPWARDS: {UPWARDS - used}"
