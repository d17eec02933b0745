"""Mutants of an intent file, for the hostile-input fuzzer (tests/test_fuzz_intents.py).

A seeded generator: the same seed gives the same mutants, so a failure in CI is replayed by its
seed and index. Each mutant is bytes (some are not UTF-8, some hold NUL) plus, when the mutation
belongs to a class fullbars must refuse, the name of that class (the oracle).
"""

from __future__ import annotations

import copy
import random
from dataclasses import dataclass

import yaml

HUGE = 200_000  # characters of a huge string in the fuzzer; the 10 MB case has its own test


@dataclass
class Mutant:
    op: str  # what was done, for the failure report
    data: bytes
    must_refuse: str | None = None  # a wrong-acceptance class: fullbars must exit 2


def _dump(docs: list) -> bytes:
    return yaml.safe_dump_all(docs, sort_keys=False, allow_unicode=True, width=10**9).encode()


def _paths(node, prefix=()):
    """Every (path, value) in a YAML document, containers included."""
    yield prefix, node
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _paths(v, prefix + (i,))


def _get(doc, path):
    for p in path:
        doc = doc[p]
    return doc


def _set(doc, path, value):
    _get(doc, path[:-1])[path[-1]] = value


def _strange_values(rng: random.Random, old) -> list:
    s = str(old)
    return [
        s.upper(), s.lower(), s.title(), s.swapcase(),  # enumeration case changes
        [old], {"x": old}, None, True, False, "", " ", 3.5, -1, 0, 2**64, 10**40, -(10**40), 1e308,
        float("nan"), float("inf"),
        "x" * HUGE, ("é" * 40), "\u202eevil", "🙂" * 5, "５００M", "ｓｔａｔｉｃ",
        s + "\x00", "\x00", s + "\x07", "\x1b[31m" + s, " " + s + " ", s + "\t",
        "999999G", "10G", "100G", "0M", "1.5G", "500m", "-500M", "0x10", "1e3", "null", "~",
        "2026-02-30", "9999-99", "255.255.255.255/32", "127.0.0.1/8", "FFFFFF", "'", '"', "{", "[",
        "&anchor", "*alias", "!!binary AAAA", "yes", "no", "on", "012", "0o17", "1_000",
    ] + [rng.randrange(-5, 70000)]


def _structural(rng: random.Random, docs: list, doc_i: int) -> tuple[str, list]:
    docs = copy.deepcopy(docs)
    doc = docs[doc_i]
    paths = [p for p, _ in _paths(doc) if p]
    path = rng.choice(paths)
    parent = _get(doc, path[:-1])
    op = rng.randrange(7)
    if op == 0:
        del parent[path[-1]]
        return f"delete {path}", docs
    if op == 1:
        _set(doc, path, rng.choice(_strange_values(rng, _get(doc, path))))
        return f"value at {path}", docs
    if op == 2:
        containers = [p for p, v in _paths(doc) if isinstance(v, dict)]
        where = _get(doc, rng.choice(containers))
        where[rng.choice(["extra", "Spec", "kind", "", "x" * 300, "ä", "123", "null"])] = rng.choice(
            [1, "x", [1], {"a": 1}, None])
        return "extra key", docs
    lists = [p for p, v in _paths(doc) if isinstance(v, list) and v]
    if op == 3 and lists:
        lst = _get(doc, rng.choice(lists))
        rng.choice([lambda: lst.append(copy.deepcopy(lst[0])), lst.clear,
                    lambda: lst.extend(copy.deepcopy(lst) * 40), lambda: lst.reverse()])()
        return "list change", docs
    if op == 4:
        _set(doc, path, rng.choice([{}, [], {"a": {"b": {"c": [1, [2, [3]]]}}}]))
        return f"container at {path}", docs
    if op == 5:
        docs.append(copy.deepcopy(doc) if rng.random() < 0.5 else rng.choice([{}, [], "text", 5, None]))
        return "extra document", docs
    # a number where the model wants a string and vice versa
    v = _get(doc, path)
    _set(doc, path, str(v) if not isinstance(v, str) else rng.randrange(1000))
    return f"type swap at {path}", docs


def _textual(rng: random.Random, raw: bytes) -> tuple[str, bytes]:
    lines = raw.split(b"\n")
    i = rng.randrange(len(lines))
    op = rng.randrange(12)
    if op == 0:
        pos = rng.randrange(len(raw) + 1)
        return "NUL byte", raw[:pos] + b"\x00" + raw[pos:]
    if op == 1:
        pos = rng.randrange(len(raw) + 1)
        return "binary bytes", raw[:pos] + bytes(rng.randrange(256) for _ in range(rng.randrange(1, 16))) + raw[pos:]
    if op == 2:
        lines[i] = lines[i].replace(b"  ", b"\t", 1)
        return "tab indent", b"\n".join(lines)
    if op == 3:
        return "truncated", raw[:rng.randrange(len(raw))]
    if op == 4:
        lines.insert(i, lines[i])
        return "duplicated line", b"\n".join(lines)
    if op == 5:
        del lines[i]
        return "deleted line", b"\n".join(lines)
    if op == 6:
        return "CRLF and BOM", b"\xef\xbb\xbf" + raw.replace(b"\n", b"\r\n")
    if op == 7:
        return "control chars", raw.replace(b":", b":\x0b", 1)
    if op == 8:
        pos = rng.randrange(len(raw))
        return "byte flip", raw[:pos] + bytes([raw[pos] ^ (1 << rng.randrange(8))]) + raw[pos + 1:]
    if op == 9:
        return "yaml bomb", b"a: &a [x, x, x, x, x, x, x, x, x]\n" + b"".join(
            b"%c: &%c [*%c, *%c, *%c, *%c, *%c, *%c, *%c, *%c, *%c]\n" % ((c,) * 2 + (c - 1,) * 9)
            for c in range(ord("b"), ord("k"))) + raw
    if op == 10:
        return "deep nesting", raw + b"\nx: " + b"[" * 5000 + b"]" * 5000 + b"\n"
    return "unicode line", b"\n".join(lines[:i] + ["# \u2028 \ufeff \U0001f600 é".encode()] + lines[i:])


def mutants(raw: bytes, n: int, seed: int, targeted: list[Mutant] = ()) -> list[Mutant]:
    """n mutants of one intent file: the targeted ones first, then random mutations."""
    rng = random.Random(seed)
    docs = list(yaml.safe_load_all(raw))
    out = list(targeted)[:n]
    while len(out) < n:
        r = rng.random()
        if r < 0.6:
            op, mutated = _structural(rng, docs, rng.randrange(len(docs)))
            try:
                data = _dump(mutated)
            except (ValueError, RecursionError):
                continue
            out.append(Mutant(op, data))
        else:
            op, data = _textual(rng, raw)
            out.append(Mutant(op, data))
    return out
