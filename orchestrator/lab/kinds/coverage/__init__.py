"""CoverageFill's part of the lab: the gNBs the fill touches are devices of the plan (devsim
serves them the 3GPP NRM models), so the fill adds no host; its check (checks.py) reads what
those gNBs run and re-runs the PCI and neighbour rules on it."""

from __future__ import annotations

from orchestrator.lab.kinds.base import LabKind
from orchestrator.lab.kinds.coverage import checks

KIND = "CoverageFill"


class CoverageLab(LabKind):
    kind = KIND

    def check(self, manifest, st, only, rates, port0, progress=None):
        return checks.verify(manifest, st, KIND, only)
