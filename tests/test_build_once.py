"""The expensive builders are single-flight: threads missing the same key at once build it once."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from orchestrator.devices.registry import KINDS
from orchestrator.models import context
from orchestrator.models import schema_index as si

THREADS = 16


@pytest.fixture
def cold_caches():
    """Start with nothing compiled and leave nothing half-counted behind for other tests."""
    context.model_set.cache_clear()
    si.schema_index.cache_clear()
    yield
    context.model_set.cache_clear()
    si.schema_index.cache_clear()


def _all_at_once(fn, arg):
    start = threading.Barrier(THREADS)

    def one(_):
        start.wait()
        return fn(arg)

    with ThreadPoolExecutor(THREADS) as pool:
        return list(pool.map(one, range(THREADS)))


def test_threads_wanting_one_kind_compile_its_models_once(cold_caches, monkeypatch):
    calls = []
    real = context.ModelSet

    def counted(modules):
        calls.append(modules)
        time.sleep(0.05)  # a real compile takes longer; here it only widens the window the others arrive in
        return real(modules)

    monkeypatch.setattr(context, "ModelSet", counted)
    kind = KINDS.get("olt-bbf")
    got = _all_at_once(context.model_set, kind.modules)
    assert len(calls) == 1, f"{len(calls)} compilations of {kind.name}'s models for {THREADS} threads"
    assert all(g is got[0] for g in got)  # every thread holds the one context
    assert got[0].ctx.get_module("bbf-xponvani") is not None

    other = KINDS.get("bng-ietf")
    assert context.model_set(other.modules) is not got[0]  # another key is its own entry
    assert len(calls) == 2


def test_threads_wanting_one_schema_index_build_it_once(cold_caches, monkeypatch):
    calls = []
    real = si.SchemaIndex

    def counted(models):
        calls.append(models)
        time.sleep(0.05)
        return real(models)

    monkeypatch.setattr(si, "SchemaIndex", counted)
    models = KINDS.get("bng-ietf").models
    got = _all_at_once(si.schema_index, models)
    assert len(calls) == 1
    assert all(g is got[0] for g in got)


def test_a_failed_build_is_not_kept(cold_caches, monkeypatch):
    """The error reaches every caller that asked, and a later call tries again."""
    from orchestrator.errors import SetupError

    with pytest.raises(SetupError, match="no-such-module"):
        context.model_set((("no-such-module", ()),))
    with pytest.raises(SetupError, match="no-such-module"):
        context.model_set((("no-such-module", ()),))
