"""Plan throughput: N BusinessBroadband intents on a generated network sized to fit.

Prints and writes (bench/results/plan.json) intents per second and peak RSS per size. Each size
runs in a fresh process and a fresh SQLite store, so RSS is that size's own peak.
Usage: python bench/plan.py [N ...]   (default 1000 10000 100000)
       python bench/plan.py --incremental N [REPEATS]   (one new, one changed and one deleted
       intent, and a no-op plan (an unchanged intent given again), each in an inventory of N
       already planned: never applied, and in service (its configs recorded as a committed
       transaction records them, so each edit is computed from the devices' records); median of
       REPEATS (default 5) runs each; bench/results/plan-incremental.json)
       python bench/plan.py --workers 1,2,4 [--postgres] N   (a full plan of N lines with each
       count of build processes (FULLBARS_PLAN_WORKERS), on SQLite or a throwaway PostgreSQL
       server; time, speed-up over the first count, and the peak RSS of the parent and of each
       worker (VmHWM, sampled every 0.1 s); bench/results/plan-workers.json)
       python bench/plan.py --workers 1,2,4 --postgres --engine N   (the same, with the devices
       built by that many `fullbars worker` processes sharing the PostgreSQL store, as on other
       machines (FULLBARS_PLAN_BUILDS=workers); the planner itself forks none; each worker's peak RSS)
       python bench/plan.py --campus CELLS SLICES   (Campus5G: one site, tenants of two slices
       each, the cells shared out among them; plan, libyang validation, then yanglint on every
       device config; figures in bench/results/plan-campus.json)
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
PORTS_PER_OLT = 32
LINES_PER_PORT = 30  # 30 × 300M assured fits a 9.953G XGS-PON upstream


def line_doc(i: int, upstream: str = "300M") -> str:
    olt = i // (PORTS_PER_OLT * LINES_PER_PORT)
    mode = "static" if i % 4 == 0 else "dhcp"
    return (f"apiVersion: fullbars.io/v1\nkind: BusinessBroadband\nmetadata:\n  name: line-{i:06d}\n"
            f"spec:\n  customer: Customer {i}\n  site: site-{olt + 1}\n  onu:\n    serial: BNCH{i:08X}\n"
            f"  rates:\n    downstream: 500M\n    upstream: {upstream}\n  tenure-years: {i % 7}\n"
            f"  addressing:\n    mode: {mode}\n")


def write_inputs(n: int, folder: Path) -> tuple[Path, list[Path]]:
    from orchestrator.network.generate import generate

    ports = math.ceil(n / LINES_PER_PORT)
    olts = math.ceil(ports / PORTS_PER_OLT)
    bngs = max(1, math.ceil(olts / 16))
    net = folder / "network.yaml"
    net.write_text(generate(olts, PORTS_PER_OLT, bngs, sites=olts, name=f"bench-{n}"))
    files, chunk = [], 5000
    for start in range(0, n, chunk):
        docs = [line_doc(i) for i in range(start, min(n, start + chunk))]
        f = folder / f"intents-{start // chunk:03d}.yaml"
        f.write_text("---\n".join(docs))
        files.append(f)
    return net, files


def one(n: int) -> dict:
    from orchestrator.plan.artifacts import write
    from orchestrator.plan.pipeline import plan
    from orchestrator.resources.store import Store

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        net, files = write_inputs(n, tmp)
        store = Store(f"sqlite:///{tmp}/store.db")
        marks: dict[str, float] = {}

        def progress(stage: str, i: int, total: int) -> None:  # when each stage starts and ends
            now = time.perf_counter()
            marks.setdefault(f"{stage} 0", now)
            if i >= total:
                marks[f"{stage} end"] = now

        t0 = time.perf_counter()
        result = plan(store, str(net), [str(f) for f in files], progress=progress)
        t1 = time.perf_counter()
        write(result, tmp / "out")
        t2 = time.perf_counter()
        devices = len(result.devices)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    worker = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # the biggest forked worker's
    at = [t0, marks.get("allocate 0", t0), marks.get("render+validate 0", t0), marks.get("render+validate end", t1), t1]
    stages = dict(zip(STAGES, (round(b - a, 1) for a, b in zip(at, at[1:]))))
    return {"intents": n, "devices": devices, "plan_s": round(t1 - t0, 2), "write_s": round(t2 - t1, 2),
            "intents_per_s": round(n / (t1 - t0)), "peak_rss_mib": round(rss), "worker_peak_rss_mib": round(worker),
            "stages_s": stages}


# Where a full plan's time goes, by its progress: reading and checking the intents, placing them
# (through to the device jobs), building the devices, then keeping and showing the plan.
STAGES = ("read+check", "place", "build", "keep")


def _in_service(store, result) -> None:
    """The store's record as a committed transaction leaves it once it gave the devices their
    planned configs (what `fullbars apply` writes after the devices commit)."""
    import uuid

    from orchestrator.rollout.transaction import Change, Journal

    from orchestrator.resources import service_versions

    changes = [Change(d.device, d.kind, None, d.intended) for d in result.devices]
    journal = Journal(store, uuid.uuid4().hex)
    journal.start("lab:/bench/in-service.clab.yml", "apply", changes)
    journal.state("committed", summary="bench: the inventory in service", remember=changes,
                  also=service_versions.committed(result, service_versions.befores(store, result)))


def one_incremental(n: int, repeats: int, applied: bool = False) -> dict:
    """Plan n lines, then time single changes against that inventory (plan only, no artifacts).
    The network is sized for n plus the new lines, so a new line lands on a port with room.
    applied: the inventory is in service first (each device's record is its planned config), and
    each change is applied once timed (a removal left pending is carried by every later plan)."""
    import statistics

    from orchestrator.plan.pipeline import plan
    from orchestrator.resources.store import Store

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        net, files = write_inputs(n, tmp)
        store = Store(f"sqlite:///{tmp}/store.db")
        t0 = time.perf_counter()
        result = plan(store, str(net), [str(f) for f in files])
        if applied:
            _in_service(store, result)
        del result
        setup = time.perf_counter() - t0
        one = tmp / "one.yaml"
        # New lines go to the last OLT, whose ports are not full unless n fills it exactly.
        last = (n - 1) // (PORTS_PER_OLT * LINES_PER_PORT)
        first_new = last * PORTS_PER_OLT * LINES_PER_PORT + PORTS_PER_OLT * LINES_PER_PORT - repeats
        new_ids = list(range(max(n, first_new), max(n, first_new) + repeats))
        # no-op: the changed line given again (the last plan's: recalled); unchanged: a line the
        # last plan did not have, given as it stands (its devices' kept builds stand, or were
        # made before the devices were given their configs)
        cases = {"new": [], "changed": [], "deleted": [], "no-op": [], "unchanged": []}
        made = []

        def timed(case: str, **how) -> None:
            cases[case].append(_timed(lambda: made.append(plan(store, None, **how))))

        def apply() -> None:
            if applied:
                _in_service(store, made[-1])
            made.clear()

        for r in range(repeats):
            one.write_text(line_doc(new_ids[r]))
            timed("new", intent_files=[str(one)])
            apply()
            victim = (r * 7919) % n  # spread over the inventory
            one.write_text(line_doc(victim, upstream="200M"))  # lower: a port is filled to 9.9G of 9.953G
            timed("changed", intent_files=[str(one)])
            timed("no-op", intent_files=[str(one)])
            apply()
            one.write_text(line_doc((r * 7919 + n // 2 + 1) % n))
            timed("unchanged", intent_files=[str(one)])
            gone = (r * 104729 + 13) % n
            if gone == victim:
                gone = (gone + 1) % n
            timed("deleted", delete=[f"line-{gone:06d}"])
            apply()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"inventory": n, "in_service": applied, "repeats": repeats, "setup_plan_s": round(setup, 1),
            **{f"{k}_ms": round(statistics.median(v) * 1000, 1) for k, v in cases.items()},
            "load_average": os.getloadavg()[0], "peak_rss_mib": round(rss)}


class _Peaks:
    """The peak RSS (VmHWM) of each process this one forks, sampled every 0.1 s while it runs."""

    def __init__(self):
        import threading

        self.peaks: dict[int, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()

    def _run(self):
        while not self._stop.wait(0.1):
            for pid in self._children():
                try:
                    status = Path(f"/proc/{pid}/status").read_text()
                except OSError:
                    continue
                kib = next((int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM:")), 0)
                self.peaks[pid] = max(self.peaks.get(pid, 0), kib)

    @staticmethod
    def _children() -> set[int]:
        out = set()
        for task in Path("/proc/self/task").iterdir():
            try:
                out.update(int(p) for p in (task / "children").read_text().split())
            except OSError:
                pass
        return out


def one_workers(n: int, db: str) -> dict:
    """A full plan of n lines into `db` (empty) or a fresh SQLite store, as many build processes
    as FULLBARS_PLAN_WORKERS says."""
    from orchestrator.plan.pipeline import plan
    from orchestrator.resources.store import Store

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        net, files = write_inputs(n, tmp)
        store = Store(db if db != "-" else f"sqlite:///{tmp}/store.db")
        with _Peaks() as peaks:
            t0 = time.perf_counter()
            plan(store, str(net), [str(f) for f in files])
            elapsed = time.perf_counter() - t0
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"intents": n, "workers": int(os.environ["FULLBARS_PLAN_WORKERS"]), "store": db.split(":", 1)[0],
            "builds": os.environ.get("FULLBARS_PLAN_BUILDS") or "here",
            "plan_s": round(elapsed, 2), "parent_peak_rss_mib": round(rss),
            "worker_peak_rss_mib": sorted((round(k / 1024) for k in peaks.peaks.values()), reverse=True)}


def workers_main(counts: list[int], n: int, postgres: bool, engine: bool = False) -> None:
    import random

    import sqlalchemy as sa

    if engine and not postgres:
        sys.exit("--engine needs --postgres: workers share the store only on PostgreSQL")
    if postgres:
        sys.path.insert(0, str(HERE.parent / "tests"))
        from pg_server import postgres as pg_server  # the tests' throwaway server (UNIX socket only)

        server = pg_server(random.randint(20000, 40000), prefix="fullbars-bench-pg-")
    else:
        server = contextlib.nullcontext("-")
    rows = []
    with server as url:
        for w in counts:
            if url != "-":  # every count plans into an empty database
                db = sa.create_engine(url)
                with db.begin() as conn:
                    conn.execute(sa.text("DROP SCHEMA public CASCADE"))
                    conn.execute(sa.text("DROP SCHEMA IF EXISTS dbos CASCADE"))
                    conn.execute(sa.text("CREATE SCHEMA public"))
                db.dispose()
            if engine:
                os.environ.update(FULLBARS_PLAN_WORKERS="1", FULLBARS_PLAN_BUILDS="workers")
                with _engine_workers(url, w) as pids:
                    row = _child("workers", n, url)
                    row["worker_peak_rss_mib"] = sorted((round(_hwm_kib(p) / 1024) for p in pids), reverse=True)
                row["workers"] = w
            else:
                os.environ["FULLBARS_PLAN_WORKERS"] = str(w)
                row = _child("workers", n, url)
            row["speed_up"] = round(rows[0]["plan_s"] / row["plan_s"], 2) if rows else 1.0
            rows.append(row)
            print(f"{n} intents, {w} worker(s){' (fullbars worker)' if engine else ''}, {row['store']}: plan {row['plan_s']:.1f} s "
                  f"(speed-up {row['speed_up']:.2f}x over {counts[0]}), peak RSS parent {row['parent_peak_rss_mib']} MiB, "
                  f"workers {', '.join(f'{m} MiB' for m in row['worker_peak_rss_mib']) or 'none forked'}", flush=True)
    (HERE / "results").mkdir(exist_ok=True)
    path = HERE / "results" / "plan-workers.json"  # other sizes' and stores' runs stay beside these
    key = lambda r: (r["intents"], r["store"], r.get("builds", "here"), r["workers"])  # noqa: E731
    kept = {key(r): r for r in (json.loads(path.read_text()) if path.exists() else [])}
    kept.update((key(r), r) for r in rows)
    path.write_text(json.dumps([kept[k] for k in sorted(kept)], indent=2) + "\n")


def _hwm_kib(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM:"))


@contextlib.contextmanager
def _engine_workers(url: str, count: int):
    """count `fullbars worker` processes on url, each beating before the next starts (the first
    makes the store's tables); yields their pids, stops them at the end."""
    import sqlalchemy as sa

    fullbars = str(Path(sys.executable).parent / "fullbars")
    procs = []
    db = sa.create_engine(url)
    try:
        for i in range(count):
            name = f"bench-builder-{i + 1}"
            procs.append(subprocess.Popen([fullbars, "worker", "--db", url, "--id", name], stdout=subprocess.DEVNULL,
                                          stderr=subprocess.DEVNULL))
            end = time.monotonic() + 120
            while True:
                try:
                    with db.connect() as c:
                        if c.execute(sa.text("SELECT 1 FROM engine_executors WHERE id = :i AND beat > 0"),
                                     {"i": name}).first():
                            break
                except sa.exc.ProgrammingError:  # no tables yet
                    pass
                if time.monotonic() > end or procs[-1].poll() is not None:
                    sys.exit(f"fullbars worker {name} did not start (exit {procs[-1].poll()})")
                time.sleep(0.3)
        yield [p.pid for p in procs]
    finally:
        db.dispose()
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(timeout=60)


def _timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def _child(what: str, *args) -> dict:
    """One measurement in a fresh process (its peak RSS is its own): the JSON row it prints last."""
    r = subprocess.run([sys.executable, __file__, f"--one-{what}", *map(str, args)], capture_output=True,
                       text=True, env=dict(os.environ))
    if r.returncode:
        sys.exit(f"{what} {' '.join(map(str, args))} failed:\n{r.stderr}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def incremental_main(n: int, repeats: int) -> None:
    (HERE / "results").mkdir(exist_ok=True)
    path = HERE / "results" / "plan-incremental.json"
    kept = {(r["inventory"], r.get("in_service", False)): r
            for r in (json.loads(path.read_text()) if path.exists() else [])}
    for applied in (False, True):
        load = os.getloadavg()[0]
        row = _child("incremental", n, repeats, int(applied))
        print(f"inventory {n}, {'in service' if applied else 'never applied'} (set up in {row['setup_plan_s']} s), "
              f"median of {repeats}: one new intent {row['new_ms']} ms, one changed {row['changed_ms']} ms, one "
              f"deleted {row['deleted_ms']} ms, no-op {row['no-op_ms']} ms, another line unchanged "
              f"{row.get('unchanged_ms')} ms; load average {load:.1f} before, "
              f"{row['load_average']:.1f} after; peak RSS {row['peak_rss_mib']} MiB", flush=True)
        kept[(n, applied)] = row
        path.write_text(json.dumps([kept[k] for k in sorted(kept)], indent=2) + "\n")


def campus_inputs(cells: int, slices: int, folder: Path) -> tuple[Path, list[Path]]:
    """One campus site with enough gNBs (64 cells each); slices/2 tenants with two slices each."""
    gnbs = math.ceil(cells / 64)
    net = folder / "network.yaml"
    net.write_text("apiVersion: fullbars.io/v1\nkind: Network\nmetadata:\n  name: bench-campus\nspec:\n"
                   "  campus-site:\n  - name: park\n    plmn: {mcc: '001', mnc: '01'}\n    gnb:\n"
                   + "".join(f"    - {{name: gnb-{g + 1}, gnb-id: {g + 1}}}\n" for g in range(gnbs))
                   + "    core: {name: core-1}\n    upf: {name: upf-1}\n    pe: {name: pe-1}\n"
                   "    transport: 10.250.0.0/24\n    enterprise-links: 10.250.1.0/24\n"
                   "    ue-pool: {prefix: 10.200.0.0/16}\n")
    tenants = max(1, slices // 2)
    files = []
    for t in range(tenants):
        mine = cells // tenants + (1 if t < cells % tenants else 0)
        per = 2 if t < tenants - 1 else slices - 2 * (tenants - 1)
        doc = (f"apiVersion: fullbars.io/v1\nkind: Campus5G\nmetadata:\n  name: tenant-{t + 1}\nspec:\n"
               f"  enterprise: Tenant {t + 1}\n  site: park\n  cells:\n    count: {mine}\n  slice:\n")
        doc += "".join(f"  - name: s{k + 1}\n    sst: {1 + k % 3}\n    dnn: t{t + 1}-s{k + 1}\n"
                       f"    ambr: {{downlink: 100M, uplink: 50M}}\n" for k in range(per))
        doc += "  application:\n" + "".join(f"  - name: app{k + 1}\n    subnet: 10.{t + 10}.{k + 1}.0/24\n"
                                            f"    dnn: [t{t + 1}-s{k + 1}]\n" for k in range(per))
        f = folder / f"tenant-{t + 1}.yaml"
        f.write_text(doc)
        files.append(f)
    return net, files


def one_campus(cells: int, slices: int) -> dict:
    import shutil

    from orchestrator.plan.artifacts import write
    from orchestrator.plan.pipeline import plan
    from orchestrator.resources.store import Store

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        net, files = campus_inputs(cells, slices, tmp)
        t0 = time.perf_counter()
        result = plan(Store(f"sqlite:///{tmp}/store.db"), str(net), [str(f) for f in files])
        t1 = time.perf_counter()
        m = write(result, tmp / "out")
        t2 = time.perf_counter()
        lint = {}
        if shutil.which("yanglint"):
            for dev, info in sorted(m["devices"].items()):
                s = time.perf_counter()
                r = subprocess.run(["bash", "-c", info["validate"]], cwd=tmp / "out", capture_output=True, text=True)
                if r.returncode:
                    sys.exit(f"yanglint rejects {dev}: {r.stderr}")
                lint[dev] = round(time.perf_counter() - s, 3)
        gnb_kib = sum((tmp / "out" / f"{d}.xml").stat().st_size for d in m["devices"] if d.startswith("gnb")) // 1024
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"cells": cells, "slices": slices, "tenants": len(files), "devices": len(result.devices),
            "plan_s": round(t1 - t0, 2), "write_s": round(t2 - t1, 2), "yanglint_s": lint,
            "gnb_config_kib": gnb_kib, "peak_rss_mib": round(rss)}


def campus_main(cells: int, slices: int) -> None:
    row = _child("campus", cells, slices)
    print(f"campus: {row['cells']} cells, {row['slices']} slices, {row['tenants']} tenants on {row['devices']} "
          f"devices: plan (allocate, render, validate, check) {row['plan_s']:.2f} s, artifacts {row['write_s']:.2f} s, "
          f"yanglint {', '.join(f'{d} {s:.2f} s' for d, s in row['yanglint_s'].items())}; "
          f"gNB config {row['gnb_config_kib']} KiB, peak RSS {row['peak_rss_mib']} MiB", flush=True)
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "plan-campus.json").write_text(json.dumps(row, indent=2) + "\n")


def validation_main(sizes: list[int], repeats: int = 3) -> None:
    """How libyang's validation of a whole device grows with it: for each size, one OLT of that many
    lines and its BNG are planned, and each device's intended config is parsed and validated, then
    validated again unchanged (the median of `repeats` each). A plan validates every device whole,
    so at 100,000 lines this is the least CPU a full plan spends validating."""
    import statistics

    from orchestrator.devices.registry import KINDS
    from orchestrator.plan.pipeline import plan
    from orchestrator.resources.store import Store

    rows = []
    for n in sizes:
        with tempfile.TemporaryDirectory() as tmp:
            tmp = Path(tmp)
            net, files = write_inputs(n, tmp)
            result = plan(Store(f"sqlite:///{tmp}/store.db"), str(net), [str(f) for f in files])
            for d in result.devices:
                models = KINDS.get(d.kind).models
                body = "".join(d.intended.splitlines(keepends=True)[1:-1])  # the <config> wrapper's lines
                first, again = [], []
                for _ in range(repeats):
                    tree = models.parse_fragment(body)
                    t = time.perf_counter()
                    models.validate(tree)
                    first.append(time.perf_counter() - t)
                    t = time.perf_counter()
                    models.validate(tree)
                    again.append(time.perf_counter() - t)
                    tree.free()
                lines = len(d.services)
                row = {"lines": lines, "device": d.device, "kind": d.kind,
                       "validate_s": round(statistics.median(first), 4),
                       "validate_again_s": round(statistics.median(again), 4),
                       "per_line_ms": round(statistics.median(first) / lines * 1e3, 3)}
                rows.append(row)
                print(f"{d.kind:>9} {d.device:>6} with {lines:>5} lines: validate {row['validate_s']:.3f} s "
                      f"({row['per_line_ms']:.3f} ms a line), unchanged again {row['validate_again_s']:.3f} s",
                      flush=True)
    largest: dict[str, dict] = {}
    for r in rows:
        if r["lines"] >= largest.get(r["kind"], {"lines": -1})["lines"]:
            largest[r["kind"]] = r
    per_line = {k: r["per_line_ms"] for k, r in largest.items()}
    cpu = sum(per_line.values()) * 100_000 / 1e3  # every line is on one OLT and one BNG
    print(f"a full plan of 100,000 lines validates each line on its OLT and its BNG: at the largest size's "
          f"rate, {cpu:.0f} s of CPU, {cpu / 2:.0f} s on 2 cores, before anything else a plan does", flush=True)
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "plan-validation.json").write_text(json.dumps(
        {"rows": rows, "per_line_ms": per_line, "validation_cpu_s_at_100000": round(cpu, 1)}, indent=2) + "\n")


def main(argv: list[str]) -> None:
    if argv and argv[0] == "--one-campus":
        print(json.dumps(one_campus(int(argv[1]), int(argv[2]))))
        return
    if argv and argv[0] == "--one-incremental":
        print(json.dumps(one_incremental(int(argv[1]), int(argv[2]), bool(int(argv[3])))))
        return
    if argv and argv[0] == "--incremental":
        incremental_main(int(argv[1]), int(argv[2]) if len(argv) > 2 else 5)
        return
    if argv and argv[0] == "--one-workers":
        print(json.dumps(one_workers(int(argv[1]), argv[2])))
        return
    if argv and argv[0] == "--workers":
        rest = [a for a in argv[2:] if a not in ("--postgres", "--engine")]
        workers_main([int(w) for w in argv[1].split(",")], int(rest[0]) if rest else 10000, "--postgres" in argv,
                     "--engine" in argv)
        return
    if argv and argv[0] == "--validation":
        validation_main([int(a) for a in argv[1:]] or [120, 240, 480, 960])
        return
    if argv and argv[0] == "--campus":
        campus_main(int(argv[1]), int(argv[2]))
        return
    if argv and argv[0] == "--one-size":
        print(json.dumps(one(int(argv[1]))))
        return
    sizes = [int(a) for a in argv] or [1000, 10000, 100000]
    rows = []
    for n in sizes:
        row = _child("size", n)
        rows.append(row)
        print(f"{row['intents']:>7} intents on {row['devices']:>4} devices: plan {row['plan_s']:>7.2f} s "
              f"({row['intents_per_s']:>6} intents/s), artifacts {row['write_s']:.2f} s, "
              f"peak RSS {row['peak_rss_mib']} MiB; stages: "
              + ", ".join(f"{k} {v} s" for k, v in row["stages_s"].items()), flush=True)
    (HERE / "results").mkdir(exist_ok=True)
    path = HERE / "results" / "plan.json"
    kept = {r["intents"]: r for r in (json.loads(path.read_text()) if path.exists() else [])}
    kept.update({r["intents"]: r for r in rows})  # a run of some sizes keeps the others' figures
    path.write_text(json.dumps([kept[k] for k in sorted(kept)], indent=2) + "\n")


if __name__ == "__main__":
    main(sys.argv[1:])
