"""The context holding fullbars' own service models (yang/services)."""

from __future__ import annotations

import functools

from orchestrator import settings
from orchestrator.models.context import ModelSet, model_set


@functools.lru_cache(maxsize=1)
def service_models() -> ModelSet:
    names = sorted(p.stem.split("@")[0] for p in (settings.OWN_YANG / "services").glob("*.yang"))
    return model_set(tuple((n, ()) for n in names))
