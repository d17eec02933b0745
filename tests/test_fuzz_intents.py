"""Hostile input: mutants of every example intent, each through the real CLI (validate and plan)
against a real SQLite store. Every run ends with exit 0 or 2 (never a traceback), within a bound
that only a hang exceeds, and leaves the store as it was when it fails; mutants of a class
fullbars must refuse (a rate above the port's line rate, an ONU serial in another case, ...)
are refused. The example network descriptions are mutated too.

FULLBARS_FUZZ_MUTANTS sets the mutants per example file (default 60 in CI; the issue's full run
is 500: `FULLBARS_FUZZ_MUTANTS=500 .venv/bin/python -m pytest -q tests/test_fuzz_intents.py`).
FULLBARS_FUZZ_SEED replays another seed.
"""

from __future__ import annotations

import faulthandler
import os
import re
import signal
import sqlite3
import time
from collections import Counter
from pathlib import Path

import pytest

from conftest import EXAMPLES, cli, snapshot
from intent_mutants import Mutant, mutants

COUNT = int(os.environ.get("FULLBARS_FUZZ_MUTANTS", "60"))
SEED = int(os.environ.get("FULLBARS_FUZZ_SEED", "19"))
ECHO = re.compile(r"([^\s=+-])\1{80}")  # a huge value coming back whole (the mutants repeat one character)
HANG_S = 60  # far above any honest run on a loaded 2-core machine: a hang detector, not a speed test

NET = "examples/network.yaml"
CAMPUS_NET = "examples/networks/campus.yaml"


def _others(folder: str, target: str) -> list[str]:
    return [f"examples/{folder}/{p.name}" for p in sorted((EXAMPLES / folder).glob("*.yaml"))
            if p.name != target and not p.name.startswith("network")]


# target file → (network, intents planned into the store first)
CASES = {f"examples/intents/{p.name}": (NET, _others("intents", p.name))
         for p in sorted((EXAMPLES / "intents").glob("*.yaml"))}
CASES |= {f"examples/lab/{p.name}": (NET, _others("lab", p.name)) for p in sorted((EXAMPLES / "lab").glob("*.yaml"))}
CASES |= {
    "examples/bulk/hundred-shops.yaml": (NET, []),
    "examples/fttr/studio-line.yaml": (NET, []),
    "examples/fttr/studio-wifi.yaml": (NET, ["examples/fttr/studio-line.yaml"]),
    "examples/campus/acme-robotics.yaml": (CAMPUS_NET, ["examples/campus/harbour-hospital.yaml"]),
    "examples/campus/harbour-hospital.yaml": (CAMPUS_NET, ["examples/campus/acme-robotics.yaml"]),
    "examples/cloud/north-shop.yaml": ("examples/networks/enterprise.yaml", []),
    "examples/cloud/north-shop-cameras.yaml": ("examples/networks/enterprise.yaml", ["examples/cloud/north-shop.yaml"]),
    "examples/sentinel/acme-kiosks.yaml": (CAMPUS_NET, ["examples/campus/acme-robotics.yaml"]),
    "examples/orders/north-bakery.yaml": ("examples/networks/enterprise.yaml", []),
    "examples/orders/corvid-freight.yaml": ("examples/networks/enterprise.yaml", []),
    "examples/dedicated/acme-wan.yaml": ("examples/networks/enterprise.yaml", ["examples/dedicated/bolt-net.yaml"]),
    "examples/dedicated/bolt-net.yaml": ("examples/networks/enterprise.yaml", ["examples/dedicated/acme-wan.yaml"]),
    "examples/upgrade/to-500m.yaml": (NET, _others("lab", "")),
    "examples/grace/spring-arrears.yaml": (NET, _others("lab", "")),
}


def test_every_example_intent_is_fuzzed():
    examples = {str(p.relative_to(EXAMPLES.parent)) for p in EXAMPLES.rglob("*.yaml")
                if p.parent.name != "networks" and not p.name.startswith("network")
                and "\nkind: Catalogue\n" not in p.read_text()}  # read by the orders that name it
    assert examples <= set(CASES), f"add these to CASES: {sorted(examples - set(CASES))}"


# --- the wrong-acceptance oracle: mutations fullbars must refuse --------------------------------

def _sub(raw: bytes, pattern: str, repl: str, op: str, cls: str) -> list[Mutant]:
    new, n = re.subn(pattern.encode(), repl.encode(), raw, count=1)
    return [Mutant(op, new, must_refuse=cls)] if n else []


def _serial_variant(serial: str) -> str:
    """The same ONU in other letters' case: hex digits lower-cased (or the vendor id if none)."""
    hex_part = serial[4:].lower()
    return serial[:4] + hex_part if hex_part != serial[4:] else serial[:4].lower() + serial[4:]


def targeted(target: str, raw: bytes, setup: list[str]) -> list[Mutant]:
    text = raw.decode()
    out = [Mutant("trailing document separator", raw + b"---\n"),
           Mutant("trailing document separator and comment", raw + b"\n---\n# the end\n")]
    kind = re.search(r"^kind: (\w+)", text, re.M).group(1)
    if kind in ("BusinessBroadband", "SpeedUpgrade"):
        for rate in ("10G", "100G", "999999G", "9954M"):
            out += _sub(raw, r"(rates:\n(?:    .*\n)*?)    downstream: \w+", rf"\g<1>    downstream: {rate}",
                        f"downstream {rate}", "rate above line rate")
        out += _sub(raw, r"(rates:\n(?:    .*\n)*?)    upstream: \w+", r"\g<1>    upstream: 999999G",
                    "upstream 999999G", "rate above line rate")
    if kind == "BusinessBroadband":
        for f in setup:
            m = re.search(r"serial: (\w+)", (EXAMPLES.parent / f).read_text())
            if m:
                out += _sub(raw, r"serial: \w+", f"serial: {_serial_variant(m.group(1))}",
                            f"serial of {f} in another case", "serial case variant")
    if kind == "FttrWifi":
        serials = re.findall(r"serial: (\w+)", text)
        out += _sub(raw, rf"serial: {serials[2]}", f"serial: {_serial_variant(serials[1])}",
                    "room serial of another room in another case", "serial case variant")
        out += _sub(raw, r"- name: Studio\n", "- name: " + "é" * 17 + "\n", "SSID of 34 octets", "SSID too long")
        out += _sub(raw, r"channels: \[36, [^\]]*\]\n    width: 80", "channels: [165]\n    width: 80",
                    "channel 165 at 80 MHz", "channel/width")
        out += _sub(raw, r"channels: \[36, [^\]]*\]\n    width: 80", "channels: [144]\n    width: 160",
                    "channel 144 at 160 MHz", "channel/width")
        out += _sub(raw, r"channels: \[37, [^\]]*\]", "channels: [233]", "6 GHz channel 233 at 160 MHz",
                    "channel/width")
    if kind == "Campus5G":
        for subnet in ("127.0.0.0/24", "224.1.0.0/24", "10.21.1.7/24", "0.0.0.0/0", "255.255.255.255/32",
                       "169.254.3.0/24", "240.0.0.0/8"):
            out += _sub(raw, r"subnet: \S+", f"subnet: {subnet}", f"subnet {subnet}", "bad application subnet")
        for sd in ("FFFFFF", "ffffff"):
            out += _sub(raw, r"sst: (\d+)\n", rf"sst: \1\n    sd: {sd}\n", f"SD {sd}", "SD no-SD value")
    return out


# --- the runner ---------------------------------------------------------------------------------

def _copy_store(src: Path, dst: Path) -> None:
    """A copy through SQLite (the store runs in WAL mode: the file alone may lack the last commits)."""
    dst.unlink(missing_ok=True)
    with sqlite3.connect(src) as a, sqlite3.connect(dst) as b:
        a.backup(b)
    a.close()
    b.close()


class Hang(BaseException):  # not an Exception: no `except Exception` in fullbars may swallow it
    pass


def _alarm(signum, frame):
    raise Hang()


def _run(*args: str, db: str | None) -> tuple[int | str, str, float]:
    """(exit code, or 'traceback: ...' / 'hang'; stderr; seconds)"""
    old = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(HANG_S)
    # SIGALRM waits for C code (libyang, libyaml) to return to Python; if it never does, the
    # process dies with every thread's stack instead of hanging CI
    faulthandler.dump_traceback_later(2 * HANG_S, exit=True)
    t0 = time.monotonic()
    try:
        r = cli(*args, db=db)
        code = r.exit_code
        stderr = r.stderr
    except Hang:
        code, stderr = "hang", ""
    except BaseException as e:  # noqa: BLE001 - anything escaping the CLI is the bug we look for
        if isinstance(e, KeyboardInterrupt):
            raise
        code, stderr = f"traceback: {type(e).__name__}: {str(e)[:200]}", ""
    finally:
        faulthandler.cancel_dump_traceback_later()
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
    return code, stderr, time.monotonic() - t0


@pytest.fixture(scope="module")
def seeded_stores(tmp_path_factory):
    """Per network and setup: a store with the setup planned, copied for every run."""
    made: dict[tuple, tuple[Path, dict]] = {}

    def get(net: str, setup: list[str]) -> tuple[Path, dict]:
        key = (net, tuple(setup))
        if key not in made:
            path = tmp_path_factory.mktemp("seed") / "store.db"
            db = f"sqlite:///{path}"
            if setup:
                r = cli("plan", *setup, "--network", net, db=db)
                assert r.exit_code == 0, r.stderr
            else:  # an empty store, as the first command that writes makes it
                from orchestrator.resources.store import Store

                Store(db)
            made[key] = (path, snapshot(db))
        return made[key]
    return get


@pytest.mark.parametrize("target", sorted(CASES))
def test_fuzz_example_intent(target, seeded_stores, tmp_path):
    net, setup = CASES[target]
    seed_db, seed_rows = seeded_stores(net, setup)
    raw = (EXAMPLES.parent / target).read_bytes()
    found = []

    slowest = 0.0

    def run(*args: str, db: str | None = None) -> tuple[int | str, str]:
        nonlocal slowest
        code, stderr, seconds = _run(*args, db=db)
        slowest = max(slowest, seconds)
        return code, stderr

    for other in (EXAMPLES.parent / target).parent.glob("*.yaml"):  # a catalogue its orders name
        if "\nkind: Catalogue\n" in other.read_text():
            (tmp_path / other.name).write_bytes(other.read_bytes())

    def run_on_seed(command: str, data: bytes) -> tuple[int | str, str]:
        mutant = tmp_path / Path(target).name
        mutant.write_bytes(data)
        db_path = tmp_path / "store.db"
        _copy_store(seed_db, db_path)
        db = f"sqlite:///{db_path}"
        code, stderr = run(command, str(mutant), "--network", net, db=db)
        if (code == 2 or command == "validate") and snapshot(db) != seed_rows:
            return f"store changed after {command} exit {code}", stderr
        return code, stderr

    def run_plan(data: bytes) -> tuple[int | str, str]:
        return run_on_seed("plan", data)

    original, stderr = run_plan(raw)
    assert original == 0, f"{target} itself does not plan: {stderr}"
    original, stderr = run_on_seed("validate", raw)
    assert original == 0, f"{target} itself does not validate: {stderr}"
    items = mutants(raw, COUNT, SEED + sum(target.encode()), targeted(target, raw, setup))
    outcomes: Counter = Counter()
    for i, m in enumerate(items):
        mutant = tmp_path / Path(target).name
        mutant.write_bytes(m.data)
        vcode, vstderr = run_on_seed("validate", m.data)
        pcode, pstderr = run_plan(m.data)
        outcomes[f"validate {vcode}, plan {pcode}"] += 1
        for what, code, stderr in (("validate", vcode, vstderr), ("plan", pcode, pstderr)):
            if code not in (0, 2):
                found.append(f"#{i} {m.op}: {what}: {code}")
            elif "Traceback" in stderr:
                found.append(f"#{i} {m.op}: {what}: traceback in the message")
            elif ECHO.search(stderr):
                found.append(f"#{i} {m.op}: {what}: a value echoed over 80 characters")
        if m.must_refuse:
            outcomes["must refuse: refused" if pcode == 2 else "must refuse: ACCEPTED"] += 1
            if pcode == 0:
                found.append(f"#{i} {m.op}: plan accepted it ({m.must_refuse})")
        if m.op.startswith("trailing document separator") and pcode != 0:
            found.append(f"#{i} {m.op}: refused: {pstderr[:300]}")
    print(f"\n{target}: {len(items)} mutants (seed {SEED}), slowest run {slowest:.1f} s: "
          + ", ".join(f"{k}: {v}" for k, v in sorted(outcomes.items())))
    assert not found, f"{len(found)} of {len(items)} mutants of {target} (seed {SEED}):\n" + "\n".join(found)


# --- the network description is input too -------------------------------------------------------

NETWORKS = {"examples/network.yaml": ["examples/intents/acme-hq.yaml", "examples/fttr/studio-line.yaml",
                                      "examples/fttr/studio-wifi.yaml"],
            "examples/networks/campus.yaml": ["examples/campus/acme-robotics.yaml"],
            "examples/networks/campus-l3nm.yaml": ["examples/campus/acme-robotics.yaml"],
            "examples/networks/enterprise.yaml": ["examples/dedicated/acme-wan.yaml", "examples/dedicated/bolt-net.yaml"]}


def test_every_network_description_is_fuzzed():
    found = {str(p.relative_to(EXAMPLES.parent)) for p in EXAMPLES.rglob("*.yaml")
             if p.parent.name == "networks" or p.name.startswith("network")}
    assert found == set(NETWORKS)


@pytest.mark.parametrize("target", sorted(NETWORKS))
def test_fuzz_network_description(target, tmp_path):
    from orchestrator.resources.store import Store

    raw = (EXAMPLES.parent / target).read_bytes()
    empty = tmp_path / "empty.db"
    Store(f"sqlite:///{empty}")  # an empty store, as the first command that writes makes it
    empty_rows = snapshot(f"sqlite:///{empty}")
    found, outcomes = [], Counter()
    for i, m in enumerate([Mutant("original", raw)] + mutants(raw, COUNT // 2, SEED + sum(target.encode()))):
        net = tmp_path / "network.yaml"
        net.write_bytes(m.data)
        db_path = tmp_path / "store.db"
        _copy_store(empty, db_path)
        code, stderr, _ = _run("plan", *NETWORKS[target], "--network", str(net), db=f"sqlite:///{db_path}")
        outcomes[f"plan {code}"] += 1
        if i == 0:
            assert code == 0, stderr
        elif code not in (0, 2) or "Traceback" in stderr or ECHO.search(stderr):
            found.append(f"#{i} {m.op}: {code}: {stderr[:300]}")
        elif code == 2 and snapshot(f"sqlite:///{db_path}") != empty_rows:
            found.append(f"#{i} {m.op}: store changed after exit 2")
    print(f"\n{target}: {sum(outcomes.values()) - 1} mutants: " + ", ".join(f"{k}: {v}" for k, v in sorted(outcomes.items())))
    assert not found, f"{len(found)} mutants of {target} (seed {SEED}):\n" + "\n".join(found)
