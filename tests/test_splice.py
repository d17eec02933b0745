"""A device whose changed pieces can be taken from what they were to what they are on its kept
build is made from it (plan/splice.py), and gives byte for byte what a plan that merges every
piece gives: random changes, additions and deletions of lines, planned on a store that keeps its
builds and on one whose plan caches are emptied before each plan; artifacts, ownership (in order)
and the cross-device facts compared. A line's BNG is spliced (the line owns its units there
alone), and so is its OLT where the rate profiles it shares stay where they are, a profile new to
the OLT going after the others; new lines together go in one after another, in merge order."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from sqlalchemy import delete

from conftest import record_applied
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
    def __init__(self, root: Path, applied: bool = False):
        """applied: each plan is recorded as applied (the devices run it: the next plan's edits
        start from the config the kept build made)."""
        self.root, self.step, self.applied = root, 0, applied
        self.results: dict = {}  # label → the last plan's result
        self.net = root / "net.yaml"
        self.net.write_text(generate(1, 2, 1, sites=1, name="splice"))
        self.urls = {label: f"sqlite:///{root}/{label}.db" for label in ("kept", "full")}
        self.stores = {label: Store(url) for label, url in self.urls.items()}
        everyone = root / "lines.yaml"
        everyone.write_text("---\n".join(_line(i) for i in range(LINES)))
        self.plan([everyone])

    def plan(self, files: list[Path], delete: list[str] = ()) -> dict:
        self.step += 1
        seen = {}
        for label, store in self.stores.items():
            if label == "full":
                _forget(store)
            result = self.results[label] = plan(store, str(self.net), [str(f) for f in files], delete=list(delete))
            out = self.root / f"{label}-{self.step}"
            write(result, out)
            if self.applied:
                record_applied(self.urls[label], result)
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


def test_a_device_whose_kept_build_was_made_before_it_was_given_config_takes_it_and_makes_only_its_edit(
        tmp_path, monkeypatch):
    """After an apply, the kept builds were made from the configs the devices ran before: a plan
    that changes nothing on a device takes the kept config, ownership and facts and makes only the
    edit from what the device runs now (devices.rebased), as a full plan plans it. So too when the
    device runs a config other than the kept one (an earlier plan's, applied since)."""
    from orchestrator.plan import devices

    twin = _Twin(tmp_path)
    rebased = []
    real = devices.rebased

    def spy(job, *args):
        rebased.append((job.device, job.current == devices.kept(job.device, job.kind, job.cached_build[1]).intended))
        return real(job, *args)

    monkeypatch.setattr(devices, "rebased", spy)
    twin.applied = True
    line = tmp_path / "line.yaml"
    line.write_text(_line(3))
    twin.plan([line])  # (its kept builds, as they stand: the devices now run them)
    twin.applied = False
    rebased.clear()
    other = tmp_path / "other.yaml"
    other.write_text(_line(4))
    made = twin.plan([other])
    assert ("bng-1", True) in rebased and not made["bng-1"][4], (rebased, made["bng-1"][4])
    line.write_text(_line(3, up="100M"))
    twin.plan([line])
    given = dict(twin.results)  # the re-rated line, planned and not applied
    line.write_text(_line(3))
    twin.plan([line])  # back as it runs: its kept builds are made from the config the devices run
    for label, url in twin.urls.items():
        record_applied(url, given[label])  # but the devices are given the re-rated line
    rebased.clear()
    made = twin.plan([other])
    assert ("bng-1", False) in rebased, rebased
    assert made["bng-1"][4] and "300" in made["bng-1"][1], "the edit takes the line back to 300M"


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
    # New lines together, one of them between others: each goes where the merge puts it, the
    # later one after the earlier where they share a list.
    one.write_text("---\n".join([_line(LINES + 1), _line(LINES + 2), _line(5, up="100M")]))
    twin.plan([], delete=["line-05"])
    made.clear()
    twin.plan([one])
    assert ("bng-1", True) in made, made
    # Past MOST_NEW new pieces a merge costs less: merged whole, as a full plan makes it.
    monkeypatch.setattr(splice, "MOST_NEW", 1)
    one.write_text("---\n".join([_line(LINES + 3), _line(LINES + 4)]))
    made.clear()
    twin.plan([one])
    assert ("bng-1", False) in made, made


def test_an_olt_is_spliced_where_a_line_shares_rate_profiles_that_stay_where_they_are(tmp_path, monkeypatch):
    """On the OLT a line shares its rate profiles with the others. Joining or leaving one that
    other lines render alike changes no text; a profile new to the OLT goes after the profiles
    merged before it; a profile the line is the first to hold would move with it: that OLT is
    merged whole."""
    twin = _Twin(tmp_path)
    made = _spy(monkeypatch)
    one = tmp_path / "one.yaml"
    steps = [([_line(1, up="100M")], (), True),  # a profile the OLT does not hold yet: put after the others
             ([_line(2, up="100M")], (), True),  # one it holds, line-01 first
             ([], ("line-03",), True),
             ([_line(3)], (), True),  # back, between line-02 and line-04
             ([_line(1)], (), False),  # leaves up-100M, which it was the first to hold
             ([], ("line-02",), False),  # the last on up-100M: the profile goes
             ([_line(LINES), _line(LINES + 1)], (), True),  # two new lines: one after the other
             ([_line(LINES + 2, up="200M")], (), True)]  # a new line with a profile new to the OLT
    for docs, delete, spliced in steps:
        made.clear()
        one.write_text("---\n".join(docs))
        twin.plan([one] if docs else [], delete=delete)
        assert ("olt-1", spliced) in made, (docs, delete, made)


def test_a_spliced_olt_reads_only_the_pieces_that_hold_the_profiles_its_line_changes(tmp_path, monkeypatch):
    """Validation by reach asks whether another line makes a changed profile alike: of the
    other lines' pieces it reads only those the kept ownership has holding it, so a line moving
    to a profile its OLT does not hold yet reads none for that one, and the profile it leaves
    costs the first line holding it (which makes it as before) and the last (which prints it),
    however many lines the OLT has."""
    import re

    from orchestrator.plan import fragcache

    twin = _Twin(tmp_path)
    made = _spy(monkeypatch)
    read: list[str] = []
    real = fragcache.unpack_piece

    def spy(blob):
        out = real(blob)
        read.append(out[0])
        return out

    monkeypatch.setattr(fragcache, "unpack_piece", spy)
    one = tmp_path / "one.yaml"
    one.write_text(_line(1, up="100M"))
    plan(twin.stores["kept"], str(twin.net), [str(one)])
    assert ("olt-1", True) in made, made
    others = {m for text in read for m in re.findall(r"<name>vani-(line-\d+)</name>", text)} - {"line-01"}
    assert len(others) <= 2, f"read the OLT pieces of {sorted(others)}"


CHANGES = st.lists(st.tuples(st.integers(0, LINES - 1),
                             st.sampled_from(["up", "down", "tenure", "mode", "back", "delete", "new", "two"])),
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
        one = root / f"step-{step}.yaml"
        if what == "two":  # a new line and a deleted one back, together (new pieces, one between others)
            gone.discard(f"line-{i:02d}")
            one.write_text(_line(LINES + 10 + step, up="100M") + "---\n" + _line(i))
            twin.plan([one])
            continue
        i = LINES + step if what == "new" else i
        gone.discard(f"line-{i:02d}")
        one.write_text(_line(i, **{"up": {"up": "100M"}, "down": {"down": "500M"},
                                   "tenure": {"tenure": 1 + step % 5},
                                   "mode": {"mode": "static" if i % 2 else "dhcp"}, "back": {}, "new": {}}[what]))
        twin.plan([one])
    assert made, "every change rebuilt a device"


@pytest.mark.parametrize("applied", ["each", "first"])
@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(changes=CHANGES)
def test_random_changes_to_devices_running_an_earlier_plan_give_a_full_plans_edits(tmp_path_factory, monkeypatch,
                                                                                    applied, changes):
    """A device spliced from its kept build has its edit looked for only where the swapped blocks
    stand (diff.Changed), and where the kept build differed from what the device runs, as that
    build knew it (diff.compose): the same edits, reverse edits and diffs as a full diff. Each
    plan applied, or only the first (the others planned one after another)."""
    from orchestrator.plan import devices

    root = tmp_path_factory.mktemp("splice-applied")
    twin = _Twin(root, applied=True)
    twin.applied = applied == "each"
    looked = []
    real = devices.edits

    def spy(index, current, intended, new=None, changed_lines=None):
        looked.append(changed_lines is not None)
        return real(index, current, intended, new, changed_lines)

    monkeypatch.setattr(devices, "edits", spy)
    gone: set[str] = set()
    for step, (i, what) in enumerate(changes):
        name = f"line-{i:02d}"
        if what in ("delete", "two"):
            if name not in gone:
                gone.add(name)
                twin.plan([], delete=[name])
            continue
        i = LINES + step if what == "new" else i
        gone.discard(f"line-{i:02d}")
        one = root / f"step-{step}.yaml"
        one.write_text(_line(i, **{"up": {"up": "100M"}, "down": {"down": "500M"},
                                   "tenure": {"tenure": 1 + step % 5},
                                   "mode": {"mode": "static" if i % 2 else "dhcp"}, "back": {}, "new": {}}[what]))
        twin.plan([one])
    assert any(looked), "no edit was looked for where the blocks were swapped"


def test_an_edit_looked_for_where_blocks_were_swapped_finds_what_a_whole_diff_finds():
    """A child standing between swapped blocks, or where one was taken out, is compared; one
    standing elsewhere is the same on both sides and left out (Changed.children)."""
    from orchestrator.plan.diff import Changed

    old = "<r>\n  <a>1</a>\n  <b>\n    <c>1</c>\n  </b>\n  <d>1</d>\n</r>\n"
    new = "<r>\n  <a>1</a>\n  <d>1</d>\n</r>\n"
    made = splice._swapped(old, [("  <b>\n    <c>1</c>\n  </b>\n", "")])
    assert made == (new, ([(3, 5)], [(3, 2)]))
    from lxml import etree

    before, after = (etree.fromstring(t.encode()) for t in (old, new))
    assert [c.tag for c in Changed(made[1][0]).children(before, 7)[0]] == ["b"]
    assert Changed(made[1][1]).children(after, 4)[0] == []  # b's point lies between a and d
    grown = splice._swapped(old, [("  <d>1</d>\n", "  <d>1</d>\n  <e>1</e>\n")])
    assert grown[1] == ([(6, 6)], [(6, 7)])
    assert [c.tag for c in Changed(grown[1][1]).children(etree.fromstring(grown[0].encode()), 8)[0]] == ["d", "e"]


def test_a_new_entry_goes_after_the_last_of_its_list_that_a_merge_meets_first():
    """Recorded or not (an entry with its parent's owners is not), the anchor is the last entry of
    the list met before the new one: held first by a piece merged before, or by the same piece and
    rendered before it; not one further down, nor one of another list under it."""
    order = {"device base": 0, "line-a": 1, "line-b": 2, "line-c": 3}
    p = "/p"
    e = {n: f"/p/prof[name='{n}']" for n in ("x", "y", "z", "new")}
    owners = {p: ["line-a", "line-b", "line-c"], e["x"]: ["line-a", "line-b"], e["y"]: ["line-b"],
              e["y"] + "/prof[name='deep']": ["line-c"], e["z"]: ["line-c"]}
    at = {p: 0, e["y"]: 1, e["new"]: 2}  # line-b renders y, then the new entry
    rank = {e["x"]: (1, 1), e["y"]: (2, 1), e["z"]: (3, 1)}
    anchors = splice._anchors(owners, {e["new"]: p}, order, 2, at, {}, lambda k, who: rank[k])
    assert anchors == {e["y"]: [e["new"]]}
    at = {p: 0, e["new"]: 1, e["y"]: 2}  # the new entry first: after line-a's
    assert splice._anchors(owners, {e["new"]: p}, order, 2, at, {}, lambda k, who: rank[k]) == {e["x"]: [e["new"]]}
    # An entry with its parent's owners, met after x by line-a (which renders it after x).
    beside = {"/p/prof[name='w']": ["line-a", "line-b", "line-c"]}
    rank["/p/prof[name='w']"] = (1, 2)
    got = splice._anchors(owners, {e["new"]: p}, order, 2, at, beside, lambda k, who: rank[k])
    assert got == {"/p/prof[name='w']": [e["new"]]}
    assert splice._anchors(owners, {"/p/box": p}, order, 2, at, {}, None) == {None: ["/p/box"]}


def test_a_block_is_replaced_only_where_it_stands_once_on_whole_lines():
    intended = "<config>\n<a>\n  <x>1</x>\n</a>\n<b>\n  <x>1</x>\n</b>\n</config>\n"
    assert splice._swap(intended, [("<a>\n  <x>1</x>\n</a>\n", "<a>\n  <x>2</x>\n</a>\n")]) == \
        intended.replace("<a>\n  <x>1</x>", "<a>\n  <x>2</x>")
    assert splice._swap(intended, [("  <x>1</x>\n", "  <x>2</x>\n")]) is None  # twice
    assert splice._swap(intended, [("x>1</x>\n", "x>2</x>\n")]) is None  # not on a whole line


def test_a_block_taken_out_must_leave_its_parent_something():
    intended = "<config>\n<a>\n  <x>1</x>\n</a>\n<b>\n  <y>1</y>\n  <z>1</z>\n</b>\n</config>\n"
    assert splice._swap(intended, [("  <y>1</y>\n", "")]) == intended.replace("  <y>1</y>\n", "")
    assert splice._swap(intended, [("  <x>1</x>\n", "")]) is None
    assert splice._swap(intended, [("  <y>1</y>\n", ""), ("  <z>1</z>\n", "")]) is None
    assert splice._bare('<interfaces xmlns="urn:x">\n</interfaces>\n', 1)
    assert not splice._bare('<interfaces xmlns="urn:x">\n  <enabled/>\n</interfaces>\n', 1)
    assert not splice._bare('<routing xmlns="urn:x">\n  <id>1</id>\n</routing>\n', 1)


def test_a_piece_is_units_shared_entries_and_the_containers_above_them():
    base, mine = "device base", ["line-a"]
    found = {"/p": None, "/p/prof[name='up']": "/p", "/p/prof[name='up']/bucket": "/p/prof[name='up']",
             "/i": None, "/i/if[name='a']": "/i", "/i/if[name='a']/ipv4": "/i/if[name='a']"}
    shared = [base, "line-a", "line-b"]
    two = ["line-a", "line-b"]
    who = {"/p": shared, "/p/prof[name='up']": two, "/p/prof[name='up']/bucket": two,
           "/i": shared, "/i/if[name='a']": mine, "/i/if[name='a']/ipv4": mine}
    assert splice._shape(found, who, "line-a") == ({"/i/if[name='a']"}, {"/p/prof[name='up']"}, {"/p", "/i"})
    # Another piece adds inside the line's unit, or the shared entry holds a list: merged whole.
    assert splice._shape(found, {**who, "/i/if[name='a']/ipv4": shared}, "line-a") is None
    listed = {**found, "/p/prof[name='up']/rule[n='1']": "/p/prof[name='up']"}
    assert splice._shape(listed, {**who, "/p/prof[name='up']/rule[n='1']": two}, "line-a") is None


def test_new_ownership_goes_where_a_merge_first_meets_it():
    order = {"device base": 0, "line-a": 1, "line-b": 2, "line-c": 3}
    owners = {"/i": ["device base", "line-a", "line-c"], "/i/if[name='a']": ["line-a"],
              "/i/if[name='c']": ["line-c"]}
    put = splice._put(owners, order, 2, {"/i/if[name='b']": ["line-b"]})
    assert list(put) == ["/i", "/i/if[name='a']", "/i/if[name='b']", "/i/if[name='c']"]
    assert list(splice._put(owners, order, 4, {"/i/if[name='d']": ["line-d"]}))[-1] == "/i/if[name='d']"
    # A piece's own new node goes among the nodes it holds first, in the order it renders them.
    owners = {"/i": ["device base", "line-a", "line-c"], "/i/if[name='a1']": ["line-a"],
              "/i/if[name='a3']": ["line-a"], "/i/if[name='c']": ["line-c"]}
    at = {"/i": 0, "/i/if[name='a1']": 1, "/i/if[name='a2']": 2, "/i/if[name='a3']": 3}
    put = splice._put(owners, order, 1, {"/i/if[name='a2']": ["line-a"]}, at)
    assert list(put) == ["/i", "/i/if[name='a1']", "/i/if[name='a2']", "/i/if[name='a3']", "/i/if[name='c']"]
