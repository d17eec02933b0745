"""The lab's per-kind parts are plug-ins: the registry refuses a kind or a data-plane role
claimed twice, the generic lab names no intent kind, and a kind registered from outside gets
its nodes into a generated lab and its rows into the checks without any generic file knowing it."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from orchestrator.errors import FullbarsError
from orchestrator.lab.kinds.base import LabKind
from orchestrator.lab.kinds.registry import LAB_KINDS, LabKindRegistry
from orchestrator.services.registry import SERVICES

REPO = Path(__file__).resolve().parent.parent
GENERIC = [*sorted((REPO / "orchestrator" / "lab").glob("*.py")), REPO / "orchestrator" / "rollout" / "apply.py"]


class Toy(LabKind):
    kind = "Toy"
    host_roles = ("toy-host",)
    planes = {"toy": object}

    def add(self, manifest, nodes, links, hosts):
        for svc, s in manifest["services"].items():
            if s["kind"] == self.kind:
                nodes[f"toy-{svc}"] = {"kind": "linux", "labels": {"fullbars.kind": "host", "fullbars.role": "toy-host"}}
                links.append({"endpoints": [f"{s['resources']['device']}:t1", f"toy-{svc}:eth1"]})

    def check(self, manifest, st, only, rates, port0, progress=None):
        return [{"service": svc, "ok": False, "problems": [f"toy says no on port {port0}"]}
                for svc, s in manifest["services"].items() if s["kind"] == self.kind]


def test_a_kind_or_a_data_plane_role_registered_twice_is_refused():
    reg = LabKindRegistry()
    reg.register(Toy())
    with pytest.raises(FullbarsError, match="'Toy' is registered twice"):
        reg.register(Toy())

    class Other(Toy):
        kind = "Other"
        host_roles = ()
    with pytest.raises(FullbarsError, match="role 'toy' is claimed by the lab parts of Toy and Other"):
        reg.register(Other())


def test_the_generic_lab_names_no_intent_kind_and_imports_no_kind_part():
    kinds = SERVICES.kinds()
    assert len(kinds) >= 3
    for f in GENERIC:
        text = f.read_text()
        named = [k for k in kinds if re.search(rf"\b{k}\b", text)]
        assert not named, f"{f.relative_to(REPO)} names intent kind(s) {named}"
        parts = re.findall(r"orchestrator\.lab\.kinds\.(?!registry\b)\w+", text)
        assert not parts, f"{f.relative_to(REPO)} imports a kind's lab part: {parts}"


def test_every_intent_kind_with_lab_devices_has_a_lab_part():
    assert {"BusinessBroadband", "FttrWifi", "Campus5G", "DedicatedLine", "CoverageFill"} <= {p.kind for p in LAB_KINDS.parts()}


def test_a_plane_claimed_for_a_device_kind_wins_over_its_roles_plane():
    """pe-vpn plays role pe, whose plane is the campus one; the dedicated lines' part claims the
    pe-vpn kind itself, and every other PE keeps the role's plane."""
    from orchestrator.lab.kinds.dedicated.plane import PePlane

    assert LAB_KINDS.plane("pe", "pe-vpn") is PePlane
    assert LAB_KINDS.plane("pe", "pe-ietf") is LAB_KINDS.plane("pe") is not PePlane
    assert LAB_KINDS.has_plane({"role": "pe", "kind": "pe-vpn"})
    assert not LAB_KINDS.has_plane({"role": "ce", "kind": "host"})


def test_a_kind_from_outside_adds_its_nodes_and_its_checks(tmp_path, monkeypatch):
    from orchestrator.lab import generate, verify

    reg = LabKindRegistry()
    for p in LAB_KINDS.parts():
        reg.register(p)
    reg.register(Toy())
    monkeypatch.setattr(generate, "LAB_KINDS", reg)
    monkeypatch.setattr(verify, "LAB_KINDS", reg)
    m = {"devices": {"t-1": {"kind": "olt-bbf"}}, "services": {"play": {"kind": "Toy", "resources": {"device": "t-1"}}}}
    (tmp_path / "manifest.json").write_text(json.dumps(m))
    lab = yaml.safe_load(generate.from_plan(tmp_path, "toy"))
    assert lab["topology"]["nodes"]["toy-play"]["labels"]["fullbars.role"] == "toy-host"
    assert lab["topology"]["links"] == [{"endpoints": ["t-1:t1", "toy-play:eth1"]}]
    [row] = verify.check(m, {"nodes": {}, "links": []})
    assert row["service"] == "play" and row["problems"][0].startswith("toy says no on port ")
