"""Environments: every target is one (a lab: `lab:<topology file>`; any other: `env:<name>`),
with its own record of what each device was given (store table environment_configs), its own
history, drift and rollback. An environment's description says whether applying a bundle there
needs a passing lab verification of the same intended configs: production does by default, that
is every environment that is not a lab, unless its description says otherwise."""

from __future__ import annotations

import difflib

from orchestrator.errors import FullbarsError
from orchestrator.resources.store import EnvironmentRow, Store, _now

EVIDENCE = ("required", "optional")


def is_lab(label: str) -> bool:
    return label.startswith("lab:")


def evidence(s, label: str) -> str:
    """required | optional: whether applying to this environment needs lab evidence."""
    row = s.get(EnvironmentRow, label)
    if row is not None:
        return row.evidence
    return "optional" if is_lab(label) else "required"


def describe(s, label: str, evidence_rule: str | None = None, description: str | None = None) -> dict:
    """Show an environment's description; with evidence_rule or description, change it first."""
    if evidence_rule is not None and evidence_rule not in EVIDENCE:
        raise FullbarsError(f"unknown evidence rule {evidence_rule!r}", fix=f"use one of: {', '.join(EVIDENCE)}")
    row = s.get(EnvironmentRow, label)
    if evidence_rule is not None or description is not None:
        if row is None:
            row = EnvironmentRow(name=label, evidence=evidence(s, label), description="")
            s.add(row)
        if evidence_rule is not None:
            row.evidence = evidence_rule
        if description is not None:
            row.description = description
        row.updated_at = _now()
    return {"environment": label, "evidence": evidence(s, label), "description": row.description if row else "",
            "default": row is None}


def label(target: str, lab=None) -> str:
    """The environment a --target/--lab pair names, as targets.py labels it, without reaching it."""
    from pathlib import Path

    if target == "lab":
        if lab is None:
            raise FullbarsError("--target lab needs --lab FILE (the lab's topology file)",
                                fix="fullbars lab generate PLAN_DIR --name NAME -o labs/NAME.clab.yml")
        return f"lab:{Path(lab).resolve()}"
    return f"env:{target}"


def refuse_typo(s, label: str) -> None:
    """A target never applied to nor described, a letter or two from one in use, is taken for a
    typo: its record is empty, so its edits would give the devices whole configs and the real
    environment's record would fall behind. A new environment is named once with `fullbars
    environment NAME` (or applied to under a name unlike the others)."""
    if is_lab(label) or s.get(EnvironmentRow, label) is not None:
        return
    known = Store.environments(s)
    if label in known:
        return
    name = label.split(":", 1)[1]
    near = difflib.get_close_matches(name, [k.split(":", 1)[1] for k in known if not is_lab(k)], n=3, cutoff=0.8)
    if near:
        raise FullbarsError(f"no environment {name!r} has been applied to or described; did you mean "
                            f"{' or '.join(near)}?",
                            fix=f"--target {near[0]}; for a new environment, describe it first: "
                                f"fullbars environment {name} --description TEXT")
