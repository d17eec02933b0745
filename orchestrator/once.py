"""Expensive builders (compiled YANG contexts, schema indexes, templates) run once per key and process.

functools.lru_cache does not hold a miss: every thread that misses the same key builds it, so a
transaction's 32 threads compiled the same device models over and over (34 compilations for 50
devices of 2 kinds). cachetools' `condition` makes a miss single-flight: the first thread builds,
the others wait for its result; a miss on another key goes on at the same time. A build that
raises is not cached, so the next caller tries again and gets the error too.
"""

from __future__ import annotations

import threading

import cachetools


def once_per_key(fn):
    """Memoize fn without bound (like lru_cache(maxsize=None)); .cache_clear() empties it."""
    return cachetools.cached({}, condition=threading.Condition())(fn)
