"""devsim speed and size: every figure issue 14 asks to see.

1. edit+commit of one new subscriber (the minimal edit fullbars plans) on an OLT holding 10, 1,000
   and 10,000 subscribers; ncclient over SSH, session reused; which validation each commit used.
2. one edit of 8,000 interfaces, then its commit, on an OLT holding 1,000 subscribers, while another
   session asks get-config (one interface, subtree filter) over and over; then SIGTERM during such
   an edit: how long until the process is gone.
3. RSS of one devsim process serving OLTs of 1,000 subscribers each (1 and --fleet N devices, 100
   unless --quick), and what a quiet device's datastores take packed.
4. random valid and invalid edits (tests/devsim_edits.py) on an OLT of 100 subscribers: the commit's
   validation against libyang's validation of the whole datastore, edit by edit.
5. the third-party client matrix (tests/test_client_matrix.py), per client.
Figures go to bench/results/devsim.json.
Usage: python bench/devsim.py [--quick] [--fleet N] [--edits N] [--only latency,big,rss,edits,clients]
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

from conformance.agents import DevsimAgent, free_ports  # noqa: E402
from olt_configs import IF_NS, in_rpcs, interfaces_edit, olt_configs, seed_running  # noqa: E402
from orchestrator.devsim import resident  # noqa: E402

NC = "urn:ietf:params:xml:ns:netconf:base:1.0"


def _arg(name: str, default: str) -> str:
    return sys.argv[sys.argv.index(name) + 1] if name in sys.argv else default


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 1)


def _planned(n: int, cache: dict) -> tuple[str, str, str]:
    if n not in cache:
        with tempfile.TemporaryDirectory() as tmp:
            cache[n] = olt_configs(n, Path(tmp))
    return cache[n]


# --- 1. edit+commit of one subscriber -------------------------------------------------------------
def latency(n: int, rounds: int, plans: dict) -> dict:
    full, edit, reverse = _planned(n, plans)
    with tempfile.TemporaryDirectory() as tmp:
        state = Path(tmp) / "olt"
        seed_running(state, full)
        t = time.perf_counter()
        agent = DevsimAgent(state, kind="olt-bbf").start(timeout=600)
        start = time.perf_counter() - t
        try:
            m = agent.connect(timeout=600)
            times = []
            for _ in range(rounds):
                t = time.perf_counter()
                m.edit_config(target="candidate", config=edit)
                m.commit()
                times.append(time.perf_counter() - t)
                m.edit_config(target="candidate", config=reverse)  # out again, for the next round
                m.commit()
            m.close_session()
        finally:
            agent.stop()
    return {"subscribers": n, "edit_commit_ms_median": _ms(statistics.median(times)),
            "edit_commit_ms_max": _ms(max(times)), "rounds": rounds, "device_start_s": round(start, 1)}


# --- 2. a big edit, another session, SIGTERM ---------------------------------------------------------
def big(n_subs: int, entries: int, plans: dict) -> dict:
    full, _, _ = _planned(n_subs, plans)
    one = (f'<interfaces xmlns="{IF_NS}"><interface><name>uplink-1</name></interface></interfaces>')
    out: dict = {"subscribers": n_subs, "entries": entries}
    with tempfile.TemporaryDirectory() as tmp:
        state = Path(tmp) / "olt"
        seed_running(state, full)
        agent = DevsimAgent(state, kind="olt-bbf").start(timeout=600)
        try:
            editor, other = agent.connect(timeout=600), agent.connect(timeout=60)
            idle = []
            for _ in range(5):
                t = time.perf_counter()
                other.get_config(source="running", filter=("subtree", one))
                idle.append(time.perf_counter() - t)
            t = time.perf_counter()
            other.get_config(source="running")
            out["get_config_whole_idle_ms"] = _ms(time.perf_counter() - t)
            done = threading.Event()
            took = {}

            def work():
                try:
                    t0 = time.perf_counter()
                    editor.edit_config(target="candidate", config=interfaces_edit("big", entries))
                    t1 = took["commit_start"] = time.perf_counter()
                    took["edit"] = t1 - t0
                    editor.commit()
                    took["commit"] = time.perf_counter() - t1
                except Exception as exc:  # noqa: BLE001 - reported below
                    took["error"] = exc
                finally:
                    done.set()

            th = threading.Thread(target=work, daemon=True)
            th.start()
            during, when = [], []
            while not done.is_set():
                t = time.perf_counter()
                other.get_config(source="running", filter=("subtree", one))
                during.append(time.perf_counter() - t)
                when.append(t)
            th.join()
            if "error" in took:
                raise RuntimeError(f"the big edit failed: {took['error']}")
            in_commit = [d for d, t in zip(during, when) if t + d >= took["commit_start"]]
            in_edit = [d for d, t in zip(during, when) if t + d < took["commit_start"]]
            out |= {"get_config_during_edit_ms_max": _ms(max(in_edit, default=0)),
                    "get_config_during_commit_ms_max": _ms(max(in_commit, default=0)),
                    "get_config_during_ms_p90": _ms(sorted(during)[int(len(during) * 0.9)])}
            out |= {"edit_s": round(took["edit"], 2), "commit_s": round(took["commit"], 2),
                    "get_config_idle_ms_median": _ms(statistics.median(idle)),
                    "get_config_during_ms_median": _ms(statistics.median(during)),
                    "get_config_during_ms_max": _ms(max(during)), "get_configs_during": len(during)}
            editor.discard_changes()
            # SIGTERM while an edit as big runs
            th = threading.Thread(target=lambda: _quiet(editor.edit_config, target="candidate",
                                                        config=interfaces_edit("bog", entries)), daemon=True)
            base = in_rpcs(other, editor.session_id)
            th.start()
            while in_rpcs(other, editor.session_id) <= base:
                pass
            t = time.perf_counter()
            agent.proc.send_signal(signal.SIGTERM)
            agent.proc.wait()
            out["sigterm_exit_s"] = round(time.perf_counter() - t, 3)
        finally:
            agent.stop()
    return out


def _quiet(fn, **kw):
    try:
        fn(**kw)
    except Exception:  # noqa: BLE001 - the device is told to stop under it
        pass


# --- 3. memory of a fleet ------------------------------------------------------------------------
def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def fleet_rss(count: int, full: str) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        ports = free_ports(count)
        for i in range(count):
            seed_running(tmp / f"s{i}", full)
        lines = ["devices:"] + [f"  - {{name: olt-{i}, kind: olt-bbf, listen: '127.0.0.1:{p}', state: s{i}}}"
                                for i, p in enumerate(ports)]
        (tmp / "fleet.yaml").write_text("\n".join(lines) + "\n")
        proc = subprocess.Popen([sys.executable, "-m", "orchestrator", "devsim", "--fleet", str(tmp / "fleet.yaml"),
                                 "--password-env", "PW"], cwd=HERE.parent, env=dict(os.environ, PW="bench"),
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            line = b""
            while line.count(b"listening") < count:
                got = proc.stderr.readline()
                if not got:
                    raise RuntimeError(f"devsim fleet of {count} exited: {line.decode()[-500:]}")
                line += got
            agent = DevsimAgent(tmp, password="bench")
            agent.port = ports[-1]
            agent.connect(timeout=600).close_session()  # the last device answers: all are up
            return rss_kib(proc.pid)
        finally:
            proc.terminate()
            proc.wait()


def packed_size(full: str) -> int:
    """Bytes of an OLT's datastores and reference index as a quiet device keeps them."""
    from orchestrator.devices.registry import KINDS
    from orchestrator.devsim.device import Device

    with tempfile.TemporaryDirectory() as tmp:
        seed_running(Path(tmp) / "olt", full)
        dev = Device("olt", KINDS.get("olt-bbf"), Path(tmp) / "olt")
        dev.pack()
        dev.journal.close()
        return sum(len(v) for v in vars(dev.packed).values())


# --- 4. random edits: the commit's validation against libyang's whole ---------------------------------
def random_edits(count: int, seed: int, plans: dict) -> dict:
    from devsim_edits import judge, random_edit
    from orchestrator.devices.registry import KINDS
    from orchestrator.devsim.device import Device

    full, _, _ = _planned(100, plans)
    rng = random.Random(seed)
    seen: dict = {}
    disagree = []
    with tempfile.TemporaryDirectory() as tmp:
        state = Path(tmp) / "olt"
        seed_running(state, full)
        template = Device("olt", KINDS.get("olt-bbf"), state)
        template.journal.close()
        dev, left = None, 0
        for i in range(count):
            if left == 0:  # a fresh device every few edits, so that committed edits pile up only a little
                run = Path(tmp) / f"run{i}"
                shutil.copytree(state, run)
                dev, left = Device("olt", KINDS.get("olt-bbf"), run), 10
            left -= 1
            config = random_edit(dev, rng.randrange)
            got = judge(dev, config, commit=rng.random() < 0.3)
            if got is None:
                seen["edit refused"] = seen.get("edit refused", 0) + 1
                continue
            whole, fast, how = got
            k = f"{'valid' if whole else 'invalid'}, decided by the {how}"
            seen[k] = seen.get(k, 0) + 1
            if fast != whole:
                disagree.append(i)
    return {"edits": count, "seed": seed, "outcomes": seen, "disagreements": len(disagree),
            "disagreeing_edits": disagree[:20]}


# --- 5. the client matrix ---------------------------------------------------------------------------
def clients() -> dict:
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-rA", "-p", "no:cacheprovider",
                        "tests/test_client_matrix.py"], cwd=HERE.parent, capture_output=True, text=True)
    rows = {}
    for m in re.finditer(r"^(PASSED|FAILED|XFAIL|ERROR|SKIPPED)\s+\S+::(\S+)", r.stdout, re.M):
        rows[m.group(2)] = m.group(1)
    return rows


def main() -> None:
    quick = "--quick" in sys.argv
    only = set(_arg("--only", "latency,big,rss,edits,clients").split(","))
    path = HERE / "results" / "devsim.json"
    results = json.loads(path.read_text()) if path.exists() else {}
    plans: dict = {}
    if "latency" in only:
        results["latency"] = []
        for n in ([10, 1000] if quick else [10, 1000, 10000]):
            r = latency(n, 3 if n >= 10000 else 10, plans)
            results["latency"].append(r)
            print(f"OLT with {n:>6} subscribers: edit+commit of one more: median {r['edit_commit_ms_median']} ms, "
                  f"max {r['edit_commit_ms_max']} ms ({r['rounds']} rounds; the device took "
                  f"{r['device_start_s']} s to start)", flush=True)
    if "big" in only:
        r = results["big_edit"] = big(1000, 8000, plans)
        print(f"one edit of {r['entries']} interfaces on an OLT of {r['subscribers']} subscribers: edit "
              f"{r['edit_s']} s, commit {r['commit_s']} s; meanwhile another session's get-config (one interface): "
              f"median {r['get_config_during_ms_median']} ms, 90th percentile {r['get_config_during_ms_p90']} ms, max "
              f"{r['get_config_during_ms_max']} ms (during the edit {r['get_config_during_edit_ms_max']}, during the "
              f"commit {r['get_config_during_commit_ms_max']}) over "
              f"{r['get_configs_during']} (idle: {r['get_config_idle_ms_median']} ms; the whole running config: "
              f"{r['get_config_whole_idle_ms']} ms)", flush=True)
        print(f"SIGTERM during an edit as big: the process was gone after {r['sigterm_exit_s']} s", flush=True)
    if "rss" in only:
        full, _, _ = _planned(1000, plans)
        count = int(_arg("--fleet", "10" if quick else "100"))
        one, many = fleet_rss(1, full), fleet_rss(count, full)
        per = (many - one) / (count - 1)
        packed = packed_size(full)
        results["rss_kib"] = {"subscribers_per_device": 1000, "1": one, str(count): many, "per_device": round(per),
                              "packed_datastore_kib": round(packed / 1024),
                              "resident_budget_mib": resident.budget_from_env() >> 20}
        print(f"devsim RSS, OLTs of 1,000 subscribers in one process: 1 device {one / 1024:.0f} MiB, {count} devices "
              f"{many / 1024:.0f} MiB ({many / 1024 / 1024:.2f} GiB, measured), {per / 1024:.1f} MiB per additional "
              f"device; a quiet device's datastores packed: {packed / 1024:.0f} KiB (the devices used last stay "
              f"unpacked, up to {resident.budget_from_env() >> 20} MiB)", flush=True)
    if "edits" in only:
        r = results["random_edits"] = random_edits(int(_arg("--edits", "200" if quick else "1000")), 14, plans)
        print(f"{r['edits']} random edits (seed {r['seed']}): {r['outcomes']}; the commit's validation and libyang's "
              f"whole-datastore validation disagreed on {r['disagreements']}", flush=True)
    if "clients" in only:
        r = results["clients"] = clients()
        print("client matrix: " + ", ".join(f"{k.removeprefix('test_')} {v}" for k, v in r.items()), flush=True)
    (HERE / "results").mkdir(exist_ok=True)
    path.write_text(json.dumps(results, indent=2) + "\n")
    print(f"\nagainst issue 14's goals (load average {', '.join(f'{x:.1f}' for x in os.getloadavg())}):")
    for what, got, goal, met in goals(results):
        print(f"  {'met    ' if met else 'NOT met'} {what}: {got} (goal: {goal})")


def goals(r: dict):
    """(figure, value, goal, met) of every must-show the results hold."""
    for row in r.get("latency", []):
        limit = {1000: 50, 10000: 200}.get(row["subscribers"])
        if limit:
            yield (f"edit+commit of one subscriber at {row['subscribers']:,}", f"median {row['edit_commit_ms_median']} ms,"
                   f" slowest {row['edit_commit_ms_max']} ms", f"under {limit} ms", row["edit_commit_ms_median"] < limit)
    b = r.get("big_edit")
    if b:
        yield ("one edit of 8,000 entries", f"{b['edit_s']} s (its commit {b['commit_s']} s)", "under 5 s", b["edit_s"] < 5)
        yield ("another session's get-config meanwhile", f"worst {b['get_config_during_ms_max']} ms, median "
               f"{b['get_config_during_ms_median']} ms", "under 100 ms", b["get_config_during_ms_max"] < 100)
        yield ("SIGTERM during it", f"{b['sigterm_exit_s']} s", "within 2 s", b["sigterm_exit_s"] <= 2)
    m = r.get("rss_kib")
    if m:
        n = max(int(k) for k in m if k.isdigit())
        yield (f"{n} devices of 1,000 subscribers in one process", f"{m[str(n)] / 1024 / 1024:.2f} GiB", "under 1 GiB",
               m[str(n)] < 1 << 20 and n >= 100)
        yield ("a quiet device's datastores", f"{m['packed_datastore_kib']} KiB", "10 MiB or less",
               m["packed_datastore_kib"] <= 10 << 10)
    e = r.get("random_edits")
    if e:
        yield (f"{e['edits']} random edits", f"{e['disagreements']} disagreements", "0", e["disagreements"] == 0)
    c = r.get("clients")
    if c:
        bad = [f"{k} {v}" for k, v in c.items() if v != "PASSED"]
        yield ("client matrix", f"{len(c) - len(bad)} of {len(c)} pass" + (f" (not passing: {', '.join(bad)})" if bad else ""),
               "every client, every operation", not bad)


if __name__ == "__main__":
    main()
