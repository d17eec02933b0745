"""A device whose changed pieces hold the same nodes as before is made from its kept build, each
unit those pieces alone own replaced in place (plan/splice.py), and gives byte for byte what a
plan that merges every piece gives: random changes to random lines, planned on a store that keeps
its builds and on one whose plan caches are emptied before each plan; artifacts, ownership and
the cross-device facts compared. The BNGs are spliced (a line owns its units there alone), for a
line changed or deleted; a change that moves what a line shares (its OLT's rate profile) or adds
a line is merged whole."""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, given, settings, strategies as st
from sqlalchemy import delete

from orchestrator.network.generate import generate
from orchestrator.plan import splice
from orchestrator.plan.artifacts import write
from orchestrator.plan.pipeline import plan
from orchestrator.resources.store import DERIVED_TABLES, Base, Store

LINES = 8


def _line(i: int, up: str = "300M", down: str = "1000M", mode: str = "", tenure: int = 0) -> str:
    mode = mode or ("dhcp" if i % 2 else "static")
    return (f"apiVersion: fullbars.io/v1\nkind: BusinessBroadband\nmetadata:\n  name: line-{i:02d}\nspec:\n"
            f"  customer: Customer {i}\n  site: site-1\n  onu:\n    serial: SPLC{i:08X}\n"
            f"  rates:\n    downstream: {down}\n    upstream: {up}\n  tenure-years: {tenure}\n"
            f"  addressing:\n    mode: {mode}\n")


def _forget(store: Store) -> None:
    with store.transaction() as s:
        for table in DERIVED_TABLES:
            if table != "config_owners":
                s.execute(delete(Base.metadata.tables[table]))


class _Twin:
    def __init__(self, root: Path):
        self.root, self.step = root, 0
        self.net = root / "net.yaml"
        self.net.write_text(generate(1, 2, 1, sites=1, name="splice"))
        self.stores = {"kept": Store(f"sqlite:///{root}/kept.db"), "full": Store(f"sqlite:///{root}/full.db")}
        everyone = root / "lines.yaml"
        everyone.write_text("---\n".join(_line(i) for i in range(LINES)))
        self.plan([everyone])

    def plan(self, files: list[Path], delete: list[str] = ()) -> dict:
        self.step += 1
        seen = {}
        for label, store in self.stores.items():
            if label == "full":
                _forget(store)
            result = plan(store, str(self.net), [str(f) for f in files], delete=list(delete))
            out = self.root / f"{label}-{self.step}"
            write(result, out)
            seen[label] = ({p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(out.rglob("*"))
                            if p.is_file()},
                           {d.device: (d.intended, d.edit, d.reverse, list(d.owners.items()), d.changed)
                            for d in result.devices})
        assert seen["kept"] == seen["full"], f"step {self.step}: the kept builds' plan differs from a full plan"
        return seen["kept"][1]


def _spy(monkeypatch) -> list[tuple[str, bool]]:
    made: list[tuple[str, bool]] = []
    real = splice.spliced

    def spy(job, *args):
        out = real(job, *args)
        made.append((job.device, out is not None))
        return out

    monkeypatch.setattr(splice, "spliced", spy)
    return made


def test_a_re_rated_line_is_spliced_into_its_bng_and_planned_as_a_full_plan_plans_it(tmp_path, monkeypatch):
    twin = _Twin(tmp_path)
    made = _spy(monkeypatch)
    one = tmp_path / "one.yaml"
    one.write_text(_line(3, up="100M"))
    devices = twin.plan([one])
    # Both stores built the line's OLT and BNG; the kept one spliced the BNG (made is appended by
    # the kept store's plan first, the full one has no kept build to splice).
    assert ("bng-1", True) in made, made
    assert devices["bng-1"][4], "the re-rated line changes its BNG"
    made.clear()
    one.write_text(_line(3, up="100M", down="500M"))
    twin.plan([one])
    assert ("bng-1", True) in made, made


def test_a_deleted_line_is_taken_out_of_its_bng_as_a_full_plan_takes_it_out(tmp_path, monkeypatch):
    twin = _Twin(tmp_path)
    made = _spy(monkeypatch)
    devices = twin.plan([], delete=["line-05"])
    assert ("bng-1", True) in made, made
    assert "line-05" not in devices["bng-1"][0] and "line-04" in devices["bng-1"][0]
    assert not any("line-05" in who for _, who in devices["bng-1"][3])


def test_a_new_line_is_put_into_its_bng_as_a_full_plan_puts_it(tmp_path, monkeypatch):
    twin = _Twin(tmp_path)
    made = _spy(monkeypatch)
    one = tmp_path / "one.yaml"
    one.write_text(_line(LINES))
    devices = twin.plan([one])
    assert ("bng-1", True) in made, made
    assert f"line-{LINES:02d}" in devices["bng-1"][0]
    # One that comes between others in merge order (by name): its entry and ownership go between.
    twin.plan([], delete=["line-03"])
    made.clear()
    one.write_text(_line(3, up="100M"))
    devices = twin.plan([one])
    assert ("bng-1", True) in made, made
    made.clear()
    one.write_text(_line(LINES + 1) + "---\n" + _line(LINES + 2))
    twin.plan([one])
    assert ("bng-1", False) in made, "two new lines at once are merged whole"


CHANGES = st.lists(st.tuples(st.integers(0, LINES - 1),
                             st.sampled_from(["up", "down", "tenure", "mode", "back", "delete", "new"])),
                   min_size=3, max_size=6)


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(changes=CHANGES)
def test_random_changes_give_a_full_plans_bytes(tmp_path_factory, monkeypatch, changes):
    root = tmp_path_factory.mktemp("splice")
    twin = _Twin(root)
    made = _spy(monkeypatch)
    gone: set[str] = set()
    for step, (i, what) in enumerate(changes):
        if what == "delete":
            if f"line-{i:02d}" in gone:
                continue
            gone.add(f"line-{i:02d}")
            twin.plan([], delete=[f"line-{i:02d}"])
            continue
        i = LINES + step if what == "new" else i
        gone.discard(f"line-{i:02d}")
        one = root / f"step-{step}.yaml"
        one.write_text(_line(i, **{"up": {"up": "100M"}, "down": {"down": "500M"},
                                   "tenure": {"tenure": 1 + step % 5},
                                   "mode": {"mode": "static" if i % 2 else "dhcp"}, "back": {}, "new": {}}[what]))
        twin.plan([one])
    assert made, "every change rebuilt a device"


def test_own_units_are_the_topmost_nodes_one_piece_alone_owns():
    """Below a container every line renders (owned by all of them), a line's interface is its own
    unit; a node another piece adds inside it makes the piece unspliceable (None), and so does a
    path the kept ownership does not know."""
    top, mine, leaf = "/interfaces", "/interfaces/interface[name='a']", "/interfaces/interface[name='a']/ipv4"
    found = [(top, None), (mine, top), (leaf, mine)]
    owners = {top: ["device base", "line-a", "line-b"], mine: ["line-a"]}
    assert splice._own_units(owners, "line-a", found) == {mine}
    assert splice._own_units({**owners, leaf: ["line-a", "line-b"]}, "line-a", found) is None
    assert splice._own_units({top: ["line-a"]}, "line-a", found) == {top}  # its own container: one unit
    assert splice._own_units({mine: ["line-a"]}, "line-a", found) is None


def test_a_block_is_replaced_only_where_it_stands_once_on_whole_lines():
    intended = "<config>\n<a>\n  <x>1</x>\n</a>\n<b>\n  <x>1</x>\n</b>\n</config>\n"
    assert splice._swap(intended, [("<a>\n  <x>1</x>\n</a>\n", "<a>\n  <x>2</x>\n</a>\n")]) == \
        intended.replace("<a>\n  <x>1</x>", "<a>\n  <x>2</x>")
    assert splice._swap(intended, [("  <x>1</x>\n", "  <x>2</x>\n")]) is None  # twice
    assert splice._swap(intended, [("x>1</x>\n", "x>2</x>\n")]) is None  # not on a whole line


def test_a_piece_taken_out_leaves_the_ownership_a_merge_without_it_records():
    base, top = "device base", "/interfaces"
    a, b = f"{top}/interface[name='a']", f"{top}/interface[name='b']"
    owners = {top: [base, "line-a", "line-b"], a: ["line-a"], b: ["line-b"]}
    order = {base: 0, "line-a": 1, "line-b": 2}
    found = [(top, None), (a, top)]
    assert splice._without(owners, "line-a", found, {a}, order) == {top: [base, "line-b"], b: ["line-b"]}
    # The first to hold the container goes: a merge without it puts the container elsewhere.
    assert splice._without({top: ["line-a", "line-b"], a: ["line-a"]}, "line-a", found, {a},
                           {"line-a": 0, "line-b": 1}) is None
    # A child recorded apart (the base's own entry) would now have its parent's owners.
    assert splice._without({top: [base, "line-a"], a: ["line-a"], f"{top}/interface[name='x']": [base]},
                           "line-a", found, {a}, order) is None


def test_a_block_taken_out_must_leave_its_parent_something():
    intended = "<config>\n<a>\n  <x>1</x>\n</a>\n<b>\n  <y>1</y>\n  <z>1</z>\n</b>\n</config>\n"
    assert splice._swap(intended, [("  <y>1</y>\n", "")]) == intended.replace("  <y>1</y>\n", "")
    assert splice._swap(intended, [("  <x>1</x>\n", "")]) is None
    assert splice._swap(intended, [("  <y>1</y>\n", ""), ("  <z>1</z>\n", "")]) is None
    assert splice._bare('<interfaces xmlns="urn:x">\n</interfaces>\n', 1)
    assert not splice._bare('<interfaces xmlns="urn:x">\n  <enabled/>\n</interfaces>\n', 1)
    assert not splice._bare('<routing xmlns="urn:x">\n  <id>1</id>\n</routing>\n', 1)
