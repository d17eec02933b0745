"""The context holding fullbars' own service models (yang/services)."""

from __future__ import annotations

from orchestrator import settings
from orchestrator.models.context import ModelSet, model_set
from orchestrator.once import once_per_key


@once_per_key
def service_models() -> ModelSet:
    names = sorted(p.stem.split("@")[0] for p in (settings.OWN_YANG / "services").glob("*.yang"))
    return model_set(tuple((n, ()) for n in names))
