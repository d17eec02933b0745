"""Incremental planning gives what a full plan gives: a random sequence of adds, changes, deletes,
no-op plans and applies is planned on two stores, one that keeps its plan caches and its record
of where services are placed, and one whose caches and record are emptied before every plan (so
every service is placed again and every touched device is rendered, validated and diffed in
full), and every plan's artifacts, ownership, allocations and refusals must be byte-identical.
A plan also renders only what changed: the caches are used, not just filled."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings, strategies as st
from sqlalchemy import delete, select

from conftest import record_applied
from orchestrator.errors import FullbarsError
from orchestrator.network.generate import generate
from orchestrator.plan import devices
from orchestrator.plan.artifacts import write
from orchestrator.plan.pipeline import plan
from orchestrator.resources import service_versions
from orchestrator.resources.store import (DERIVED_TABLES, AllocationRow, Base, PlanBuildRow, PlanStateRow, Store,
                                          SuspensionRow, TransactionRow)
from orchestrator.rollout.journal import remember_configs
from orchestrator.services.registry import SERVICES

LINES = 12  # names line-00 .. line-11; 3 OLTs of 2 ports each on 2 sites and 2 BNGs


def _line(i: int, variant: int) -> str:
    up = ("100M", "300M", "1000M", "2000M")[variant % 4]  # 2000M: over the port's fair share, fills it fast
    mode = "static" if variant % 2 else "dhcp"
    pin = f"  placement:\n    olt: olt-{1 + variant % 3}\n" if variant >= 6 else ""
    site = f"site-{1 + (variant % 3) % 2}" if variant >= 6 else f"site-{1 + i % 2}"
    return (f"apiVersion: fullbars.io/v1\nkind: BusinessBroadband\nmetadata:\n  name: line-{i:02d}\nspec:\n"
            f"  customer: Customer {i}\n  site: {site}\n  onu:\n    serial: INCR{i:08X}\n"
            f"  rates:\n    downstream: 1000M\n    upstream: {up}\n  tenure-years: 6\n"
            f"  addressing:\n    mode: {mode}\n{pin}")


def _wifi(i: int, variant: int) -> str:
    """FTTR WiFi behind line i (its main unit fttr-i): its placement looks the line up by name."""
    rooms = "".join(f"  - {{name: room{r}, serial: FTTR{i:04X}{r:04X}}}\n" for r in range(1, 2 + variant % 3))
    return (f"apiVersion: fullbars.io/v1\nkind: FttrWifi\nmetadata:\n  name: wifi-{i:02d}\nspec:\n"
            f"  line: line-{i:02d}\n  main-unit:\n    device: fttr-{i:02d}\n    serial: FTTR{i:04X}0000\n"
            f"  room:\n{rooms}  ssid:\n  - name: Shop {i}\n    security: wpa3\n"
            f"    passphrase-ref: env:FULLBARS_PSK_S4P\n  radio:\n  - band: 2.4GHz\n    channels: [1, 6, 11]\n"
            f"  - band: 5GHz\n    channels: [36, 52]\n  - band: 6GHz\n    channels: [37, 53]\n")


def _network() -> str:
    """Three OLTs of two ports on two sites and two BNGs, and a main FTTR unit for each line."""
    text = generate(3, 2, 2, sites=2, name="s4p-incremental")
    units = "".join(f"  - name: fttr-{i:02d}\n    management:\n      address: 198.18.4.{i + 1}\n"
                    for i in range(LINES))
    at = text.index("  pool:\n")
    return text[:at] + "  fttr:\n" + units + text[at:]


def _forget_plans(store: Store) -> None:
    """Empty what plans keep from the rest of the store (caches, placements, what to recall)."""
    with store.transaction() as s:
        for table in DERIVED_TABLES:
            # config_owners: drift's record of who owns what; placed_on and left_on: where each
            # service was placed, which a plan moving it off a device needs (the device is
            # rebuilt): not caches
            if table not in ("config_owners", "placed_on", "left_on"):
                s.execute(delete(Base.metadata.tables[table]))


class Twin:
    """One store planned with its caches, one planned without."""

    def __init__(self, root: Path):
        self.root = root
        self.net = root / "network.yaml"
        self.net.write_text(_network())
        self.stores = {"cached": Store(f"sqlite:///{root}/cached.db"), "full": Store(f"sqlite:///{root}/full.db")}
        self.steps = 0
        self.last: dict[str, object] = {}
        self.asked: tuple = ((), ())
        self.applied: set[str] = set()  # the services an apply gave some device

    def plan(self, files: list[Path] = (), delete_names: list[str] = ()) -> None:
        self.steps += 1
        self.asked = (list(files), list(delete_names))
        outcome = {}
        for label, store in self.stores.items():
            if label == "full":
                _forget_plans(store)
            try:
                result = plan(store, str(self.net), [str(f) for f in files], delete=list(delete_names))
            except FullbarsError as e:
                outcome[label] = ("refused", e.render())
                continue
            out = self.root / f"{label}-{self.steps}"
            write(result, out)
            files_ = {p.name: p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}
            owners = {d.device: d.owners for d in result.devices}
            with store.transaction(write=False) as s:
                allocs = sorted(tuple(r) for r in s.execute(select(AllocationRow.pool, AllocationRow.value,
                                                                   AllocationRow.owner, AllocationRow.purpose)))
            # the services left as they were (as their records show them, or placed again)
            others = [(o.name, o.kind, o.action, o.resources, list(o.devices), o.serving, o.earlier, o.device_change)
                      for o in result.others]
            outcome[label] = ("planned", files_, owners, allocs, others)
            self.last[label] = result
            self._nothing_in_part(store, result)
        assert outcome["cached"] == outcome["full"], f"step {self.steps}: the cached plan differs from the full plan"

    def _nothing_in_part(self, store: Store, result) -> None:
        """No device of the plan is given a service never applied whose other devices the plan
        does not reach (the BNG's subscriber interface without the ONU on an OLT left out)."""
        planned = {d.device for d in result.devices}
        given = {d.device: {n for who in d.owners.values() for n in who} - self.applied for d in result.devices}
        with store.transaction(write=False) as s:
            where = Store.placed_on_each(s, set().union(*given.values()))
        for dev, names in given.items():
            for n in names:
                assert where.get(n, set()) <= planned, (f"step {self.steps}: {dev} would be given {n}, never "
                                                        f"applied, without its {where[n] - planned}")

    def apply(self) -> None:
        """Record the last plan's intended configs as what an environment's devices now run (what
        a committed transaction writes), so the next edits start from them."""
        for label, store in self.stores.items():
            result = self.last.get(label)
            if result is None:
                return
            tx = uuid.uuid4().hex
            self.applied |= {n for d in result.devices for who in d.owners.values() for n in who}
            # what the transaction's outcome writes of the services too: the removals it carried end
            hook = service_versions.committed(result, service_versions.befores(store, result))
            with store.transaction() as s:
                s.add(TransactionRow(id=tx, target="env:s4p", kind="apply", state="committed"))
                remember_configs(s, tx, "apply", "env:s4p", [(d.device, d.kind, d.intended) for d in result.devices])
                hook(s, tx)


OPS = st.lists(st.tuples(st.sampled_from(["put", "put", "put", "delete", "again", "apply", "two", "wifi", "same"]),
                         st.integers(0, LINES - 1), st.integers(0, 8)), min_size=4, max_size=14)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=OPS)
@example(ops=[("put", 0, 1), ("put", 2, 0), ("apply", 0, 0), ("again", 0, 0), ("put", 4, 7), ("delete", 1, 0),
              ("apply", 0, 0), ("put", 0, 2), ("two", 3, 4)])
# A line with FTTR behind it on a device of its own: a new rate reaches the rooms, and the line
# cannot go without its FTTR service (the service lives on a device the line's plan does not touch).
@example(ops=[("put", 3, 1), ("put", 5, 5), ("wifi", 3, 1), ("apply", 0, 0), ("put", 3, 2), ("delete", 0, 0),
              ("wifi", 5, 2), ("put", 5, 1), ("delete", 1, 0)])
# The last plan asked again (recalled, not computed, in the store that keeps what plans made):
# after a line, after its FTTR service, after an apply, after the line's new rate reached the rooms.
@example(ops=[("put", 0, 1), ("same", 0, 0), ("wifi", 0, 1), ("same", 0, 0), ("apply", 0, 0), ("same", 0, 0),
              ("put", 0, 2), ("same", 0, 0), ("two", 0, 1), ("same", 0, 0)])
# Lines on olt-1 and olt-3, which share bng-1: a plan of one places again only the lines of its
# own OLT and takes the others' BNG fragments as they stand, through changes, deletes and applies.
@example(ops=[("put", 0, 8), ("put", 2, 1), ("put", 4, 8), ("apply", 0, 0), ("put", 2, 3), ("put", 6, 0),
              ("delete", 1, 0), ("put", 0, 5), ("apply", 0, 0), ("put", 4, 2), ("same", 0, 0)])
# A line with FTTR behind it changes its addressing in one plan with a new line on its OLT: the
# FTTR service places the line first (as a full plan does), which frees its block for the new one.
@example(ops=[("put", 5, 6), ("wifi", 5, 1), ("two", 0, 4)])
# A line applied on bng-2, then moved to olt-3 (bng-1), then a new line on olt-2: bng-2's edit
# still takes the moved line off (planned earlier, not applied), though it is not on bng-2 now.
@example(ops=[("put", 5, 2), ("apply", 2, 3), ("put", 5, 8), ("put", 7, 2)])
# A line deleted again once no device holds it goes at once, its pending removal with it.
@example(ops=[("put", 10, 0), ("apply", 0, 0), ("delete", 0, 0), ("apply", 0, 0), ("same", 0, 0), ("put", 0, 0)])
def test_incremental_plans_equal_full_plans(tmp_path_factory, ops, monkeypatch):
    monkeypatch.setenv("FULLBARS_PSK_S4P", "correct horse battery staple")
    twin = Twin(tmp_path_factory.mktemp("s4p-inc"))
    present: dict[int, int] = {}
    for op, i, variant in ops:
        f = twin.root / f"step-{twin.steps + 1}.yaml"
        if op == "put":
            f.write_text(_line(i, variant))
            twin.plan([f])
            present[i] = variant
        elif op == "two":  # two lines in one plan, one of them maybe new
            j = (i + 1 + variant) % LINES
            f.write_text(_line(i, variant) + "---\n" + _line(j, variant + 1))
            twin.plan([f])
        elif op == "again" and present:  # the same intent given again: nothing changes
            k = sorted(present)[i % len(present)]
            f.write_text(_line(k, present[k]))
            twin.plan([f])
        elif op == "delete" and present:
            k = sorted(present)[i % len(present)]
            twin.plan(delete_names=[f"line-{k:02d}"])
            present.pop(k, None)
        elif op == "same" and twin.steps:  # the last plan's intents or deletes again
            twin.plan(*twin.asked)
        elif op == "wifi":  # refused in both when its line is not there
            f.write_text(_wifi(i, variant))
            twin.plan([f])
        elif op == "apply":
            twin.apply()


def test_a_new_line_places_and_renders_only_what_it_touches(tmp_path, monkeypatch):
    """Lines on three OLTs planned, then one more on the first: only the lines on its OLT are
    placed again (a line reads its OLT's PON load, not its BNG's lines), not the one on olt-3
    that shares its BNG nor the one on the other OLT and BNG; and only its own two fragments (OLT
    and BNG) are rendered; device bases and the other lines come from the cache. The intents it
    reads are those it places: by name, not the store's every row."""
    twin = Twin(tmp_path)
    store = twin.stores["cached"]
    first = tmp_path / "first.yaml"
    # line-01 is at site-2: olt-2, bng-2; line-05 is pinned to olt-3, which bng-1 serves too
    first.write_text("---\n".join([_line(i, 1) for i in (0, 1, 2, 4)] + [_line(5, 8)]))
    twin.last["cached"] = plan(store, str(twin.net), [str(first)])
    twin.apply()  # (never applied, line-05 would be left off bng-1 by a plan that does not reach olt-3)
    rendered, placed = [], []
    real_render, svc = devices.render, SERVICES.by_kind("BusinessBroadband")
    real_place = svc.place
    monkeypatch.setattr(devices, "render", lambda kind, template, **v: rendered.append((kind, template)) or
                        real_render(kind, template, **v))
    monkeypatch.setattr(svc, "place", lambda it, ctx: placed.append(it.name) or real_place(it, ctx))
    monkeypatch.setattr(devices, "PARALLEL_FROM", 10 ** 9)  # in this process, where the count is seen
    read = []
    real_records = Store.intent_records
    monkeypatch.setattr(Store, "intent_records", lambda s, names=None, kind=None: read.append(
        "every row" if names is None and kind is None else sorted(names or [kind])) or real_records(s, names, kind))
    one = tmp_path / "one.yaml"
    one.write_text(_line(6, 1))
    result = plan(store, None, [str(one)])
    assert sorted(d.device for d in result.devices) == ["bng-1", "olt-1"]
    assert sorted(placed) == ["line-00", "line-02", "line-04", "line-06"]
    assert "every row" not in read and {n for names in read for n in names} <= {
        "line-00", "line-02", "line-04", "line-06", "SpeedUpgrade"}, read
    assert "line-05" in {o.name for o in result.others}  # on bng-1, as it stood
    assert sorted(rendered) == [("bng-ietf", "business-broadband"), ("olt-bbf", "business-broadband")]
    rendered.clear()
    plan(store, None, [str(one)])  # the same again: every piece and both builds come from the cache
    assert rendered == []
    with store.transaction(write=False) as s:
        assert json.dumps(sorted(s.scalars(select(PlanBuildRow.device)))) == \
            '["bng-1", "bng-2", "olt-1", "olt-2", "olt-3"]'


def test_a_plan_whose_builds_are_kept_forks_no_worker_and_unpacks_no_piece(tmp_path, monkeypatch):
    """Planned once with workers (every device built), the same intents again: every device's
    kept build matches, so no worker is forked and no piece of a device is unpacked (only the
    builds themselves), and the plan's bytes are the ones the first plan gave."""
    from orchestrator.plan import fragcache

    twin = Twin(tmp_path)
    store = twin.stores["cached"]
    first = tmp_path / "first.yaml"
    first.write_text("---\n".join(_line(i, 1) for i in range(8)))
    monkeypatch.setattr(devices, "PARALLEL_FROM", 1)  # two devices with anything to build: workers
    forked = []
    real_pool = devices.worker_pool
    monkeypatch.setattr(devices, "worker_pool", lambda n: forked.append(n) or real_pool(n))
    before = plan(store, str(twin.net), [str(first)])
    assert forked, "the first plan builds its devices in workers"
    forked.clear()
    with store.transaction() as s:  # so it is built again from the caches, not recalled (test below)
        Store.save_recall_record(s, None)
    unpacked, builds = [], []
    for name, seen in (("unpack", unpacked), ("unpack_exact", builds)):
        real = getattr(fragcache, name)
        monkeypatch.setattr(fragcache, name, lambda blob, real=real, seen=seen: seen.append(1) or real(blob))
    again = plan(store, None, [str(first)])
    assert forked == []
    assert unpacked == [] and len(builds) == len(again.devices) == 4  # one build each, no piece
    assert [(d.device, d.intended, d.edit, d.owners) for d in again.devices] == \
        [(d.device, d.intended, d.edit, d.owners) for d in before.devices]


def test_a_plan_builds_its_devices_in_as_many_workers_as_it_is_told(tmp_path, monkeypatch):
    """FULLBARS_PLAN_WORKERS: one builds every device in the planning process, three fork three
    workers, and the artifacts are the same bytes; a value that is not a whole number of at least
    one is refused, keeping nothing."""
    from orchestrator.errors import SetupError

    twin = Twin(tmp_path)
    lines = tmp_path / "lines.yaml"
    lines.write_text("---\n".join(_line(i, 1) for i in range(8)))
    monkeypatch.setattr(devices, "PARALLEL_FROM", 1)
    forked = []
    real_pool = devices.worker_pool
    monkeypatch.setattr(devices, "worker_pool", lambda n: forked.append(n) or real_pool(n))
    out = {}
    for workers, store in (("1", twin.stores["cached"]), ("3", twin.stores["full"])):
        monkeypatch.setenv("FULLBARS_PLAN_WORKERS", workers)
        result = plan(store, str(twin.net), [str(lines)])
        out[workers] = _artifacts(result, tmp_path / f"workers-{workers}")
    assert len(result.devices) >= 3 and forked == [3]
    assert out["1"] == out["3"]
    other = tmp_path / "other.yaml"
    other.write_text(_line(9, 1))
    for bad in ("0", "two"):
        monkeypatch.setenv("FULLBARS_PLAN_WORKERS", bad)
        before = _counts(twin.stores["full"])
        with pytest.raises(SetupError, match=f"FULLBARS_PLAN_WORKERS='{bad}' is not a number of processes"):
            plan(twin.stores["full"], None, [str(other)])
        assert _counts(twin.stores["full"]) == before


def _counts(store) -> tuple:
    from orchestrator.resources.store import IntentRow

    with store.transaction(write=False) as s:
        return (len(list(s.scalars(select(IntentRow.name)))), len(list(s.scalars(select(AllocationRow.owner)))))


def _artifacts(result, out: Path) -> dict[str, bytes]:
    write(result, out)
    return {p.name: p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}


def test_the_last_plan_asked_again_is_recalled_and_shows_what_a_full_plan_shows(tmp_path, monkeypatch):
    """Given what the last plan was given, on the store it left, a plan places no service and
    builds no device: it reads the last plan's placements and builds back, and its artifacts are
    those of the same plan made in full. A store moved since (a suspension, a config applied)
    is planned in full again."""
    from orchestrator.plan import pipeline

    twin = Twin(tmp_path)
    store, full = twin.stores["cached"], twin.stores["full"]
    lines = tmp_path / "lines.yaml"
    lines.write_text("---\n".join(_line(i, i % 3) for i in range(8)))
    for st_ in (store, full):
        plan(st_, str(twin.net), [str(lines)])
    placed, built = [], []
    svc = SERVICES.by_kind("BusinessBroadband")
    real_place, real_build = svc.place, pipeline.build_all
    monkeypatch.setattr(svc, "place", lambda it, ctx: placed.append(it.name) or real_place(it, ctx))
    monkeypatch.setattr(pipeline, "build_all", lambda jobs, *args: built.append(len(jobs)) or real_build(jobs, *args))

    def both(name: str, files) -> dict:
        placed.clear(), built.clear()
        again = plan(store, None, [str(f) for f in files])
        done = (list(placed), list(built))
        _forget_plans(full)
        assert _artifacts(again, tmp_path / f"{name}-cached") == _artifacts(plan(full, None, [str(f) for f in files]),
                                                                           tmp_path / f"{name}-full")
        return {"placed": done[0], "built": done[1], "devices": sorted(d.device for d in again.devices)}

    assert both("all", [lines]) == {"placed": [], "built": [], "devices": ["bng-1", "bng-2", "olt-1", "olt-2"]}
    one = tmp_path / "one.yaml"
    one.write_text(_line(2, 2))
    assert both("one", [one])["placed"] == []  # a part of what the last plan was given
    with store.transaction() as s:  # a suspension moves the store: the line renders disabled
        s.add(SuspensionRow(line="line-02", reason="arrears", state="active", asked_at="2026-12-04T00:00:00"))
    with full.transaction() as s:
        s.add(SuspensionRow(line="line-02", reason="arrears", state="active", asked_at="2026-12-04T00:00:00"))
    assert both("suspended", [one])["placed"] != []
    assert both("suspended-again", [one])["placed"] == []
    twin.last = {"cached": plan(store, None, [str(one)]), "full": plan(full, None, [str(one)])}
    twin.apply()  # the devices were given the plan's configs: the edits start from them now
    moved = both("applied", [one])
    assert moved["placed"] != [] and moved["built"] != []
    other = tmp_path / "other.yaml"
    other.write_text(_line(9, 1))
    assert both("new", [other])["placed"] != []  # a new line is never recalled


def test_a_plan_asked_again_that_holds_back_an_earlier_one_is_recalled_holding_it_back(tmp_path, monkeypatch):
    """Never applied, line-00 (olt-1) and line-02 (olt-3) share bng-1: the plan of line-02 leaves
    line-00 off bng-1. Asked again, it is recalled (nothing placed, nothing built) and says the
    same, as the same plan made in full does; a plan that would hold back other services is not."""
    from orchestrator.plan import pipeline

    twin = Twin(tmp_path)
    store, full = twin.stores["cached"], twin.stores["full"]
    first, second = tmp_path / "first.yaml", tmp_path / "second.yaml"
    first.write_text(_line(0, 6))
    second.write_text(_line(2, 8))
    for st_ in (store, full):
        plan(st_, str(twin.net), [str(first)])
    held = plan(store, None, [str(second)]).held_back
    assert held == {"line-00": {"left_off": ["bng-1"], "waits_for": ["olt-1"], "plan": "line-00"}}, held
    placed, built = [], []
    svc = SERVICES.by_kind("BusinessBroadband")
    real_place, real_build = svc.place, pipeline.build_all
    monkeypatch.setattr(svc, "place", lambda it, ctx: placed.append(it.name) or real_place(it, ctx))
    monkeypatch.setattr(pipeline, "build_all", lambda jobs, *args: built.append(len(jobs)) or real_build(jobs, *args))
    again = plan(store, None, [str(second)])
    assert (placed, built) == ([], []) and again.held_back == held
    _forget_plans(full)
    assert _artifacts(again, tmp_path / "cached") == _artifacts(plan(full, None, [str(second)]), tmp_path / "full")
    third = tmp_path / "third.yaml"  # another never-applied line on olt-1: line-02's plan now holds back two
    third.write_text(_line(4, 6))
    plan(store, None, [str(third)])
    plan(store, None, [str(second)])
    placed.clear(), built.clear()
    assert set(plan(store, None, [str(second)]).held_back) == {"line-00", "line-04"} and placed == []


def test_a_new_template_reaches_the_lines_that_stand_on_a_device_a_plan_touches(tmp_path, monkeypatch):
    """A line on olt-3 stands when a line on olt-1 is planned (it is not placed again), and its
    BNG fragment is taken from the cache: unless that fragment was rendered from another BNG
    template. After the template changes, the next plan of one line renders bng-1 whole from the
    new template, as a full plan does."""
    import shutil

    from orchestrator import settings
    from orchestrator.plan import fragcache
    from orchestrator.render import engine

    twin = Twin(tmp_path)
    first = tmp_path / "first.yaml"
    first.write_text("---\n".join([_line(0, 1), _line(5, 8)]))  # olt-1 and olt-3, both on bng-1
    twin.plan([first])
    twin.apply()  # (never applied, line-05 would be left off bng-1 by a plan that does not reach olt-3)
    copy = tmp_path / "templates"
    shutil.copytree(settings.TEMPLATES, copy)
    bng = copy / "bng-ietf" / "business-broadband.xml.j2"
    bng.write_text(bng.read_text().replace("<description>{{ customer }} ({{ service }})</description>",
                                           "<description>{{ customer }}, line {{ service }}</description>"))

    def fresh_templates():
        engine.environment.cache_clear()
        engine.template.cache_clear()
        fragcache.kind_fingerprint.cache_clear()

    monkeypatch.setattr(settings, "TEMPLATES", copy)
    fresh_templates()
    try:
        one = tmp_path / "one.yaml"
        one.write_text(_line(2, 1))
        twin.plan([one])  # the cached store's plan equals the full one's
        bng1 = next(d for d in twin.last["cached"].devices if d.device == "bng-1")
        assert bng1.intended.count(", line line-") == 3, bng1.intended  # line-05's fragment too
    finally:
        monkeypatch.undo()
        fresh_templates()


@pytest.mark.parametrize("recorded", [True, False], ids=["recorded", "store-of-an-older-release"])
def test_a_line_whose_suspension_failed_is_placed_again_not_taken_as_it_was_planned(tmp_path, recorded):
    """A suspend plans its line suspended and keeps that plan, then its transaction fails and the
    suspension with it. A later plan of a neighbour on the same BNG (another OLT) must not take
    the line's fragment as that plan left it (its sub-interface disabled): it places the line
    again, as a full plan does. A store of an older release has no record of which placements
    were made suspended: the placements themselves say it."""
    twin = Twin(tmp_path)
    first = tmp_path / "first.yaml"
    first.write_text("---\n".join([_line(0, 1), _line(5, 8)]))  # olt-1 and olt-3, both on bng-1
    twin.plan([first])
    twin.apply()  # (never applied, line-05 would be left off bng-1 by a plan that does not reach olt-3)
    for store in twin.stores.values():
        with store.transaction() as s:
            row = SuspensionRow(line="line-05", reason="request", state="active", asked_at="x", done_at="x")
            s.add(row)
        suspended = plan(store, None, stored=["line-05"])
        assert "<enabled>false</enabled>" in next(d for d in suspended.devices if d.device == "bng-1").intended
        with store.transaction() as s:
            s.get(SuspensionRow, row.id).state = "failed"
            if not recorded:
                s.execute(delete(PlanStateRow).where(PlanStateRow.name == "suspended-as-placed"))
    one = tmp_path / "one.yaml"
    one.write_text(_line(2, 1))
    twin.plan([one])  # the cached store's plan equals the full one's
    bng1 = next(d for d in twin.last["cached"].devices if d.device == "bng-1")
    assert "<enabled>false</enabled>" not in bng1.intended


def test_a_service_shown_from_its_record_is_decoded_when_read_and_equals_its_placement():
    """The services a plan was not asked about are shown from their packed records: nothing is
    decoded until a field is read, and the result equals (both ways), pickles and copies as the
    ServicePlan a placement gives."""
    import copy
    import pickle

    from orchestrator.plan import recall
    from orchestrator.plan.pipeline import RecordedPlan, ServicePlan
    from orchestrator.services.base import Placement

    placed = Placement(devices={"olt-1": {}, "bng-1": {}}, resources={"olt": "olt-1", "s-vlan": 1001}, serving=False)
    packed = recall.pack(recall.memo(placed))
    shown = RecordedPlan("line-00", "BusinessBroadband", packed, earlier=True, device_change="update")
    assert "resources" not in vars(shown)
    plain = ServicePlan("line-00", "BusinessBroadband", "unchanged", {"olt": "olt-1", "s-vlan": 1001},
                        ["bng-1", "olt-1"], False, earlier=True, device_change="update")
    assert shown == plain and plain == shown
    assert pickle.loads(pickle.dumps(RecordedPlan("line-00", "BusinessBroadband", packed, True, "update"))) == plain
    assert copy.deepcopy(shown) == plain and shown.devices == ["bng-1", "olt-1"]
    assert shown != ServicePlan("line-00", "BusinessBroadband", "unchanged", {}, [], True)


def test_a_service_a_rollback_puts_back_changes_the_state_placements_are_kept_for(tmp_path):
    """A rollback writes what placement reads without planning: the restored intent keeps its
    old update time and the counts come back equal, yet the kept placements (placed_on, the
    recall record) must no longer count as true for the store."""
    from orchestrator.resources import service_versions
    from orchestrator.resources.store import IntentRow

    store = Store(f"sqlite:///{tmp_path}/store.db")
    late = "2026-12-06T10:00:00+00:00"
    with store.transaction() as s:
        for name in ("upgrade-a", "upgrade-b"):  # overlays: no allocations of their own
            s.add(IntentRow(name=name, kind="SpeedUpgrade", spec='{"upstream": "500M"}', digest="d1",
                            created_at=late, updated_at=late))
    with store.transaction() as s:
        before = Store.placement_state(s, "net")
        was = service_versions.snapshot(s, "upgrade-a")
        was["intent"].update(spec='{"upstream": "300M"}', digest="d0", updated_at="2026-12-05T10:00:00+00:00")
        service_versions.restore(s, "upgrade-a", was)
    with store.transaction() as s:
        assert s.get(IntentRow, "upgrade-a").digest == "d0"
        assert Store.placement_state(s, "net") != before


def test_a_removal_applied_leaves_the_others_placed_so_the_next_plan_places_only_what_it_touches(
        tmp_path, monkeypatch):
    """An applied removal takes the service and its values out of the store, a write no plan made:
    the others stand where they were placed, so the next plan places the lines of the OLT it
    touches, not the whole store (at 100,000 lines that took 15 s instead of 2)."""
    twin = Twin(tmp_path)
    store, db = twin.stores["cached"], f"sqlite:///{tmp_path}/cached.db"
    first = tmp_path / "first.yaml"
    first.write_text("---\n".join(_line(i, 1) for i in (0, 1, 2, 3, 4)))
    record_applied(db, plan(store, str(twin.net), [str(first)]))
    record_applied(db, plan(store, None, delete=["line-02"]))  # its removal, applied
    assert "line-02" not in {n for n, _ in _names(store)}
    placed = []
    svc = SERVICES.by_kind("BusinessBroadband")
    real_place = svc.place
    monkeypatch.setattr(svc, "place", lambda it, ctx: placed.append(it.name) or real_place(it, ctx))
    one = tmp_path / "one.yaml"
    one.write_text(_line(6, 1))
    plan(store, None, [str(one)])
    assert sorted(placed) == ["line-00", "line-04", "line-06"], placed


def _names(store) -> list[tuple[str, str]]:
    from orchestrator.resources.store import IntentRow

    with store.transaction(write=False) as s:
        return [(r.name, r.kind) for r in s.scalars(select(IntentRow))]
