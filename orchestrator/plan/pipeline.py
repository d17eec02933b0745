"""The road of one plan: load → allocate → render → validate → cross-check → diff, in one store
transaction that commits only if every stage passed."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from functools import partial

import netaddr

from orchestrator import settings
from orchestrator.devices.registry import KINDS
from orchestrator.documents.envelope import spec_digest
from orchestrator.errors import FullbarsError, Problem
from orchestrator.intents.loader import Intent, load_intents
from orchestrator.models.schema_index import schema_index
from orchestrator.network.model import Network, load_network
from orchestrator.plan import crosscheck, fragcache, recall
from orchestrator.plan.assemble import _wrap
from orchestrator.plan.carried import changed_services
from orchestrator.plan.devices import CachedPiece, Job, build_all, kept
from orchestrator.plan.held_back import Recorded, held_back, leave_off, needed, waiting
from orchestrator.plan.reads import StoredReads
from orchestrator.plan.texts import HeldTexts, Texts
from orchestrator.resources import service_versions
from orchestrator.resources.pools import Allocator
from orchestrator.resources.store import Store, _now, config_sha
from orchestrator.services.base import SERIAL_POOL
from orchestrator.services.registry import SERVICES

EMPTY = _wrap("")


EVERYWHERE = None  # an overlay's reach when it applies on every device


@dataclass
class PlanContext:
    network: Network
    alloc: Allocator
    intents: dict[str, Intent]
    scratch: dict = field(default_factory=dict)
    reach: dict[str, set[str] | None] = field(default_factory=dict)  # overlay → devices it has reached
    suspended: set[str] = field(default_factory=set)
    created: dict[str, str] = field(default_factory=dict)
    unreadable: set[str] = field(default_factory=set)  # given intents that failed to load (already reported)
    services: object = None  # the intent kinds' registry, for services that ask others (PON load)

    def overlays(self, kind: str) -> list[Intent]:
        """The overlay intents of a kind, oldest first (cached: call forget_overlays after a delete)."""
        key = ("overlays", kind)
        if key not in self.scratch:
            self.scratch[key] = sorted(self.intents.of_kind(kind), key=lambda it: (self.created.get(it.name, "~"), it.name))
        return self.scratch[key]

    def forget_overlays(self) -> None:
        for key in [k for k in self.scratch if isinstance(k, tuple) and k[0] == "overlays"]:
            del self.scratch[key]

    def reaches(self, overlay: str, device: str | None) -> bool:
        where = self.reach.get(overlay, set())
        return where is EVERYWHERE or device in where


@dataclass
class DevicePlan(HeldTexts):
    device: str
    kind: str
    services: list[str]
    current: str
    texts: Texts  # intended, edit, reverse: compressed once checked (plan/texts.py)
    changed: bool
    diff: Sequence[str]  # plan.diff.Lines from a plan
    owners: dict = field(default_factory=dict)  # path → owning services (plan/ownership.py)


@dataclass
class ServicePlan:
    name: str
    kind: str
    action: str  # create | update | unchanged | delete
    resources: dict  # of a deleted service: what it held until this plan
    devices: list[str]
    serving: bool = True  # whether it carries traffic once the plan is applied (not when deleted or suspended)
    warnings: list[dict] = field(default_factory=list)  # Problem.as_dict(): shown, but the plan goes ahead
    artifacts: dict = field(default_factory=dict)  # file name → function giving its bytes (Placement.artifacts)
    earlier: bool = False  # planned earlier and not applied yet: this plan carries its change along
    # What applying this plan does to the service on the devices: create, update, delete, or ""
    # (nothing). Differs from `action` (what it did to the store) for changes planned earlier.
    device_change: str = ""

    def as_dict(self) -> dict:
        """Its fields as JSON takes them; its own files are made when written, so only named here."""
        out = {f.name: getattr(self, f.name) for f in fields(ServicePlan) if f.name != "artifacts"}
        return out | ({"artifacts": sorted(self.artifacts)} if self.artifacts else {})


class RecordedPlan(ServicePlan):
    """A service the plan was not asked about, as the store's record of its placement shows it
    (plan_placements), decoded when first read: a plan of one line shows the thousands of others
    on its BNG, and few of them are ever looked at."""

    def __init__(self, name: str, kind: str, packed: bytes, earlier: bool = False, device_change: str = ""):
        self.name, self.kind, self.action, self._packed = name, kind, "unchanged", packed
        self.warnings, self.artifacts, self.earlier, self.device_change = [], {}, earlier, device_change

    def __getattr__(self, attr):  # called only for what is not set yet
        if attr not in ("resources", "devices", "serving"):
            raise AttributeError(attr)
        self.resources, self.devices, self.serving = recall.shown(self._packed)[:3]
        return self.__dict__[attr]

    def __eq__(self, other):  # equal to the ServicePlan a placement of it gives
        if not isinstance(other, ServicePlan):
            return NotImplemented
        return all(getattr(self, f.name) == getattr(other, f.name) for f in fields(ServicePlan))


@dataclass
class PlanResult:
    network: Network
    services: list[ServicePlan]
    devices: list[DevicePlan]
    # The services the plan was not asked about that share a device with it: a change must leave
    # them as they were (lab checks expect each to keep its service).
    others: list[ServicePlan] = field(default_factory=list)
    # Services not asked about whose changes the devices' edits carry (planned earlier, not applied).
    carried: list[ServicePlan] = field(default_factory=list)
    environment: str | None = None  # whose record of the devices the edits were computed from
    bases: dict[str, dict[str, str]] = field(default_factory=dict)  # device → environment → sha256 of its record
    # name → {"left_off": devices, "waits_for": devices, "plan": the service to plan to carry it}, of
    # creates planned earlier the plan does not carry (plan/held_back.py)
    held_back: dict[str, dict] = field(default_factory=dict)
    built_by: dict[str, int] = field(default_factory=dict)  # worker → devices it built (FULLBARS_PLAN_BUILDS=workers)


def _base_vars(net: Network, name: str) -> dict:
    dev = net.devices[name]
    if dev.role == "olt":
        return {"olt": dev}
    return {"ports": sorted((u for u in net.links() if u.bng == name), key=lambda u: (u.olt, u.name))}


def _builder(store: Store) -> tuple:
    """(remote, tally): how build_all hands devices to other machines' workers, and the count of
    devices each built; (None, {}) to build here."""
    if settings.plan_builds() != "workers":
        return None, {}
    from functools import partial

    from orchestrator.engine import builds  # the engine only when asked: a plan here never starts it

    builds.check_ready(store.url)
    tally: dict[str, int] = {}
    return partial(builds.on_workers, store.url, tally=tally), tally


class _Widen(Exception):
    """A plan carried changes planned earlier onto some of their services' devices only: it is
    made again with those services planned too, so each change lands on all its devices."""

    def __init__(self, names: list[str]):
        super().__init__(", ".join(names))
        self.names = names


def plan(store: Store, network_file: str | None, intent_files: list[str] = (),
         delete: list[str] = (), progress=None, stored: list[str] = (),
         scope: dict[str, set[str]] | None = None, keep: bool = True,
         environment: str | None = None, due: dt.date | None = None) -> PlanResult:
    stored = list(stored)
    while True:
        try:
            return _plan(store, network_file, intent_files, delete, progress, stored, scope, keep, environment, due)
        except _Widen as w:  # (its store transaction rolled back: nothing of that attempt is kept)
            stored += [n for n in w.names if n not in stored]


def _plan(store: Store, network_file: str | None, intent_files: list[str] = (),
          delete: list[str] = (), progress=None, stored: list[str] = (),
          scope: dict[str, set[str]] | None = None, keep: bool = True,
          environment: str | None = None, due: dt.date | None = None) -> PlanResult:
    """stored: names of services already in the store to plan again (their devices' configs).
    scope: for overlays (SpeedUpgrade) planned now, the devices they may reach in this plan; an
    overlay given without a scope reaches everywhere, one not given keeps the reach it has.
    keep=False: every stage runs and every problem is reported, but the store keeps nothing
    (validate). environment: the target label whose record of each device the edits start from
    (default: the environment of the newest committed transaction; none yet: empty devices).
    due: also plan again, settled to that day, the stored services time alone has changed since
    they were planned (Service.as_of: a tenure counted from a date that crossed a year)."""
    remote, built_by = _builder(store)  # refused before anything is read or kept
    delete = list(dict.fromkeys(delete))  # a name given twice is one removal
    net = load_network(network_file) if network_file else None  # its errors first: intents depend on it
    # Intents that fail their model are reported with the network rules of the others.
    given, problems, unreadable = load_intents(list(intent_files)) if intent_files else ([], [], set())
    # No autoflush: a pending intent row must not meet the store's unique constraints before the
    # checks below have said, with file and line, what is wrong with it.
    with store.transaction(keep) as s, s.no_autoflush:
        if net is not None:
            row = Store.network(s)
            old = _old_network(row) if row is not None and row.digest != net.digest else None
            Store.save_network(s, network_file, net.text, net.digest)  # (changes that row)
            if old is not None:
                outside = _held_outside_pools(s, net)
                alloc = Allocator(s, lazy=True)
                for kind in SERVICES.kinds():
                    outside += SERVICES.by_kind(kind).network_changed(old, net, alloc)
                if outside:
                    raise FullbarsError(problems + net.located(outside))
        else:
            row = Store.network(s)
            if row is None:
                raise FullbarsError(problems + [Problem("no network description yet", fix="pass --network "
                                                        "FILE (it is remembered for later commands)")])
            net = load_network(row.source, row.text)
        described = set(net.devices)  # before placing: a fill's new sites are the plan's own
        if environment is None:
            environment = Store.newest_applied(s)
        if given and not (delete or stored or scope is not None or due is not None or problems or unreadable):
            recalled = _recalled(s, net, given, environment)
            if recalled is not None:
                return recalled
        # what placed_on must be true for; read before this plan writes anything
        index_state = Store.placement_state(s, net.digest, environment)
        # The intents as plain values, read as placement and checks ask for them; ORM rows only
        # for the intents this plan may write, so a plan of one intent builds one row object, not
        # 100,000.
        created: dict[str, str] = {}
        intents = StoredReads(partial(Store.intent_records, s), created)
        if due is not None:
            given += _due(intents, {it.name for it in given}, due)
        pending = service_versions.pending_removals(s)  # planned by an earlier delete, not applied yet
        actions: dict[str, str] = {}
        # An expanded intent (an order's product) goes with what it was expanded from: when that
        # is deleted, or planned again without it.
        names = {it.name for it in given}
        delete = list(delete) + [n for n, parent in Store.children(s, set(delete) | names) if n not in delete and (
            parent in delete or (parent in names and n not in names))]
        for name in delete:
            if name not in intents:
                raise FullbarsError(f"no service named {name!r} in the store",
                                    fix="see the names with `fullbars status`" if intents else "the store is empty")
            parent = intents[name].parent
            if parent and parent not in delete and parent not in names and parent in intents:
                # the order would stay, naming a product it no longer has (and make it again when planned)
                raise FullbarsError(f"{name} is a product of {parent} ({intents[parent].file}); it goes with it",
                                    fix=f"delete {parent} (its products go with it), or take {name} out of "
                                        f"{parent} and plan {parent} again")
            actions[name] = "delete"
        for it in given:
            if it.name in pending and it.name not in actions:  # planned again: the removal is withdrawn
                service_versions.cancel_removal(s, it.name)
                del pending[it.name]
        removals = list(delete) + sorted(n for n in pending if n not in actions)
        intents.load(names | set(removals))
        rows = Store.intent_rows(s, {n for n in names | set(removals) if intents.quiet(n) is not None})
        new_rows: list[dict] = []  # written where the session would have flushed them (mark_placed)
        for it in given:
            svc = SERVICES.by_kind(it.kind)
            row = rows.get(it.name)
            if row is None:
                new_rows.append({"name": it.name, "kind": it.kind, "spec": json.dumps(it.spec, sort_keys=True),
                                 "digest": it.digest, "source": it.file, "onu_serial": _serial(it),
                                 "parent": it.parent})
                actions[it.name] = "create"
            else:
                old = intents[it.name]
                if row.kind != it.kind or svc.identity(old.spec) != svc.identity(it.spec):
                    was = ", ".join(f"{k} {v}" for k, v in SERVICES.by_kind(row.kind).identity(old.spec).items())
                    if row.kind == it.kind:  # another service by this name, or this one given what it cannot change
                        now = ", ".join(f"{k} {v}" for k, v in svc.identity(it.spec).items())
                        keys = " and ".join(svc.identity(it.spec))
                        problems.append(Problem(
                            f"intent name {it.name!r} is already the {row.kind} with {was} (from {row.source}); "
                            f"this intent has {now}: a service keeps its {keys}", **it.where("metadata.name"),
                            fix=f"for another service choose another name; for this one keep its {keys} as they "
                                "were (or `fullbars delete` it first and plan it anew)"))
                    else:
                        problems.append(Problem(
                            f"intent name {it.name!r} already belongs to another service ({row.kind}: {was}, "
                            f"from {row.source})", **it.where("metadata.name"),
                            fix="choose another name, or `fullbars delete` the old service first"))
                    continue
                if (row.parent or None) != (it.parent or None):  # one order's product is no other's service
                    problems.append(_other_parent(it, row))
                    continue
                if row.digest != it.digest:
                    row.spec, row.digest, row.source, row.updated_at = (json.dumps(it.spec, sort_keys=True),
                                                                        it.digest, it.file, _now())
                    row.onu_serial = _serial(it)
                    actions[it.name] = "update"
                else:
                    actions[it.name] = "unchanged"
            intents[it.name] = it
        for name in stored:
            if name not in intents:
                raise FullbarsError(f"no service named {name!r} in the store", fix="see `fullbars status`")
            if name not in actions and name not in removals:  # (a removal pending is planned as one)
                given.append(intents[name])
                actions[name] = "unchanged"
        problems += _unique_onus(s, intents, given)
        reach: dict[str, set[str] | None] = dict(Store.reach(s, environment))
        for it in given:
            if SERVICES.by_kind(it.kind).overlay:
                if scope is not None and it.name in scope:
                    reach[it.name] = reach.get(it.name, set()) | set(scope[it.name])
                else:
                    reach[it.name] = EVERYWHERE
        ctx = PlanContext(net, Allocator(s, lazy=True), intents, reach=reach, suspended=Store.suspended(s), services=SERVICES,
                          created=created, unreadable=unreadable)
        for it in given:
            problems += SERVICES.by_kind(it.kind).check(it, ctx)
        if problems:
            raise FullbarsError(problems)

        touched: set[str] = set()
        deleted: dict[str, ServicePlan] = {}
        for name in removals:  # where each was, before any is gone (one may be placed through another)
            kind = intents[name].kind
            try:
                was = SERVICES.by_kind(kind).place(intents[name], ctx)
                deleted[name] = ServicePlan(name, kind, "delete", was.resources, sorted(was.devices), serving=False,
                                            earlier=name not in actions)
            except FullbarsError:
                was = None
                deleted[name] = ServicePlan(name, kind, "delete", {}, pending.get(name, []), serving=False,
                                            earlier=name not in actions)
            touched.update(deleted[name].devices)
        current = Store.device_records(s, environment) if environment else {}
        for name in removals:
            SERVICES.by_kind(intents[name].kind).forget(intents[name], ctx)
            if name not in actions:
                pass  # pending since an earlier plan
            elif service_versions.on_devices(s, name, deleted[name].devices, current):
                # Off the configs now; its intent and allocations stay, held, until a transaction
                # takes it off the devices, so drift names it and nothing else takes its values.
                service_versions.mark_removal(s, name, deleted[name].devices)
            else:  # no device was given it (or holds it still): nothing to take off, so it goes at once
                if name in pending:  # deleted again once the devices no longer held it
                    service_versions.cancel_removal(s, name)
                ctx.alloc.release(name)
                Store.forget_reach(s, name)
                s.delete(rows[name])
            del intents[name]
        ctx.forget_overlays()

        placements = {}
        given_names = [it.name for it in given]

        def ordered(names) -> list[str]:
            """In the order every plan places them: the others by name, then those given, then
            (stable) the overlays last."""
            names = set(names)
            intents.load(names)
            order = sorted(n for n in names if n not in actions and intents.quiet(n) is not None)
            order += [n for n in given_names if n in names]
            return sorted(order, key=lambda n: SERVICES.by_kind(intents.quiet(n).kind).overlay)

        # With placed_on true for this store state, only the services on the devices the plan
        # touches are placed again: the others hold their allocations, so placing them would
        # change nothing the plan uses. New devices a given intent lands on bring theirs in too.
        whole = Store.placed_state(s) != index_state
        if whole:
            ctx.alloc.read_all()  # one query, not one per service
        # A device a changed or removed service was on (placed_on: where the last plan put it;
        # left_on: where earlier plans did) is rebuilt when the environment's record of it holds
        # the service: its config leaves the devices it moves off.
        asked_now = set(given_names) | set(removals)
        left = Store.left_on(s, asked_now)
        makers = {n for n in asked_now if intents.quiet(n) is not None
                  and SERVICES.by_kind(intents.quiet(n).kind).makes_devices}
        made = (Store.devices_of(s, makers) | {d for d, who in left.items() if who & makers}) if makers else set()
        for dev in ((Store.devices_of(s, asked_now) | left.keys()) & current.keys()) - touched:
            if dev not in net.devices:  # a device out of the network description is left alone,
                if dev not in made:  # unless a service made it (a fill's new site) and may leave it now
                    continue
                net.add_made(dev, current[dev].kind)
            old = Store.owners(s, dev, current[dev].config)
            if old is None or asked_now & {n for who in old.values() for n in who}:
                touched.add(dev)
            elif dev in left:
                _forget_left_if_gone(s, dev, left[dev])
        standing = Standing(s, net, intents, ctx.suspended)  # the services on touched devices not placed again
        recorded = Recorded(s, current)  # what the environment's records of the devices hold
        wanted = set(intents) | set(given_names) if whole else (set(given_names) | _neighbours(standing, touched))
        # A service that looked up one this plan changes or removes (an FTTR service its line) is
        # placed again wherever it is and its devices are rebuilt; so, in turn, are its readers.
        covered, moved, asked = set(touched), set(given_names) | set(removals), set()
        if not whole:
            # The services that looked these up when last placed are placed with them, in the
            # order a full plan places them: a reader places what it reads (an FTTR service its
            # line), so a changed line must first be placed where a full plan first places it.
            moved |= {n for n in recall.readers(s, moved) if intents.quiet(n) is not None}
            wanted |= moved
            asked |= moved
        reads: dict[str, set[str]] = {}
        read_by: dict[str, set[str]] = {}  # name → the services placed by this plan that looked it up
        while True:
            batch = ordered(n for n in wanted if n not in placements)
            problems += _place(batch, intents, ctx, placements, reads, progress)
            if problems:
                raise FullbarsError(problems)
            for name in batch:
                for other in reads[name]:
                    read_by.setdefault(other, set()).add(name)
            readers = set().union(*(read_by.get(m, ()) for m in moved))
            if not whole:  # and those placed by earlier plans, as they recorded it
                readers |= {n for n in Store.readers_of(s, moved - asked)
                            if n not in placements and intents.quiet(n) is not None}
                asked |= moved
            readers -= moved
            moved |= readers
            for name in moved & placements.keys():
                touched.update(placements[name].devices)
            if not readers and (whole or touched <= covered):
                lack = set() if whole else standing.lacking(touched, placements)
                lack -= waiting(s, lack, asked_now, touched, recorded)  # (left out of the builds)
                if not lack:
                    break
                wanted |= lack
                continue
            if not whole:
                wanted |= _neighbours(standing, touched - covered) | readers
            covered |= touched
        gone = [n for n in removals if intents.quiet(n) is None]
        Store.save_placed(s, {n: sorted(p.devices) for n, p in placements.items()}, reads, gone, whole)
        as_placed = set() if whole else standing.as_placed() - placements.keys() - set(gone)
        Store.save_suspended_as_placed(s, as_placed | (placements.keys() & ctx.suspended))

        on_device: dict[str, list[str]] = {d: [] for d in touched}
        for name in sorted(placements):
            for d in placements[name].devices:
                if d in on_device:
                    on_device[d].append(name)
        stood: set[str] = set()
        if not whole:
            for d in touched:
                here = standing.on_device(d, placements)
                on_device[d] = sorted(on_device[d] + list(here))
                stood |= here
        back = held_back(s, on_device, asked_now, placements, recorded)
        intents.load(set(back))  # (one read for all, not one each)
        for n, where in back.items():  # what to plan to carry it: an order's product goes with its order
            it = intents.quiet(n)
            where["plan"] = it.parent if it is not None and it.parent else n
        on_device = leave_off(on_device, back)
        wanted_whole = needed(s, back, reads, on_device)
        if wanted_whole:
            raise _Widen(wanted_whole)
        # A device the environment never gave anything, with no service on it now (a removal of
        # a service never applied): there is nothing to give it, nor to take off.
        for dev in [d for d in touched if not on_device[d] and d not in current]:
            touched.discard(dev)
            del on_device[dev]
        bases = Store.config_shas(s, touched)  # every environment's record keeps its ownership
        cached, cached_builds = standing.caches(touched)
        meta = {n: standing.meta[n] for n in stood} | {n: (intents[n].kind, intents[n].digest) for n in placements}

        def kind_of(name: str) -> str:
            return meta[name][0]

        jobs = []
        for dev in sorted(touched):
            d = net.devices[dev]
            frags = [(n, SERVICES.by_kind(kind_of(n)).template,
                      placements[n].devices[dev] if n in placements else CachedPiece(cached[dev][n][0]))
                     for n in on_device[dev] if SERVICES.by_kind(kind_of(n)).template]
            was = current[dev].config if dev in current else EMPTY
            jobs.append(Job(dev, d.kind, d.role, _base_vars(net, dev), frags, was, config_sha(was),
                            cached[dev], cached_builds.get(dev)))

        # The kept pieces of the services held back that stood: the next plan that carries them
        # (or another that holds them back) takes them as they are, instead of placing them again.
        stood_back = {d: {n for n in back if d in back[n]["left_off"] and n in stood and n in cached[d]}
                      for d in touched}

        def keep_build(b):  # kept as it comes: the parent need not hold the pieces of every device
            pieces = b.pieces | {n: cached[b.device][n] for n in stood_back[b.device]}
            Store.save_plan_cache(s, b.device, cached[b.device], pieces, (b.key, b.packed),
                                  cached_builds.get(b.device))
            Store.save_owners(s, b.device, b.intended, b.owners, set(bases.get(b.device, {}).values()),
                              b.owners_text)
            b.pieces, b.packed, b.owners_text = {}, None, None
            b.hold()

        def keep_placements():
            # Writes that do not wait for the builds, made while the workers build. A check that
            # fails after them still keeps nothing: they are in the plan's one transaction.
            ctx.alloc.flush()
            Store.add_intents(s, new_rows)
            Store.audit_many(s, [(f"plan-{action}", name) for name, action in actions.items()
                                 if action != "unchanged"])
            fresh, unkept = {}, []
            had = Store.placement_digests(s, placements)
            for name, p in placements.items():
                digest = recall.digest(p)
                if had.get(name) == digest:
                    continue
                text = recall.memo(p)
                if text is None:
                    unkept.append(name)
                else:
                    fresh[name] = (digest, recall.pack(text))
            Store.save_placements(s, fresh, unkept + gone, whole)

        built, problems = build_all(jobs, progress, keep_build, remote, keep_placements)
        if problems:
            raise FullbarsError(problems)
        del cached, cached_builds
        problems += _emptied(s, environment, built, on_device, current, described)
        problems += crosscheck.check(net, {b.device: b.facts for b in built})
        if problems:
            raise FullbarsError(problems)
        placed_state = Store.mark_placed(s, net.digest, environment)  # after every write placement reads
        # An upgrade's scope is not among what a later plan is given, nor are the stored services
        # a plan was widened to (_Widen): such a plan is not recalled.
        Store.save_recall_record(s, None if scope is not None or stored else {
            "state": recall.state(placed_state, Store.active_suspensions(s)), "given": sorted(given_names),
            "devices": sorted(touched), "held": _held_digest(back)})
        shown = {n: (p.resources, sorted(p.devices), p.serving, [w.as_dict() for w in p.warnings], p.artifacts)
                 for n, p in placements.items()}
        shown.update(standing.records_of(stood))  # decoded as they are read (RecordedPlan)
        result = _outcome(s, net, built, recorded, on_device, shown, meta, actions, given_names, removals, deleted,
                          environment, bases, back)
        # An update planned earlier that this plan carries onto some of its service's devices
        # would be half applied: those services are planned too (a removal planned earlier is
        # carried whole; a create planned earlier is held back, plan/held_back.py).
        # So would a move planned earlier carried onto its new devices while the environment's
        # record of a device it left still holds it (left_on): planned too, the plan reaches that
        # device and takes it off (the line stood on two OLTs, and its old values went to others).
        updates = [sp for sp in result.carried if sp.device_change == "update" and sp.name not in pending
                   and sp.name not in stored]
        made = {b.device for b in built}
        left = Store.left_on(s, {sp.name for sp in updates}) if updates else {}
        outside = sorted(sp.name for sp in updates
                         if set(sp.devices) - made
                         or any(sp.name in who and dev not in made and recorded.may_hold(dev, sp.name)
                                for dev, who in left.items()))
        if outside:
            raise _Widen(outside)
        result.built_by = built_by
        return result


def _outcome(s, net: Network, built: list, recorded: Recorded, on_device: dict[str, list[str]], shown: dict,
             meta: dict[str, tuple[str, str]], actions: dict[str, str], given_names: list[str], removals: list[str],
             deleted: dict[str, ServicePlan], environment: str | None, bases: dict, back: dict) -> PlanResult:
    """The plan as it is shown, from the devices' builds and the services' placements as shown
    (name → (resources, devices, serving, warnings, artifacts), or of a service the plan was not
    asked about, its packed record): what each service's change does on the devices, and the
    services the edits carry along or leave as they were."""
    current, owners, held = recorded.current, recorded.owners, recorded.held
    devices = [DevicePlan(b.device, b.kind, b.services, current[b.device].config if b.device in current
                          else EMPTY, b.texts, b.changed, b.diff, b.owners) for b in built]
    services = [ServicePlan(n, meta[n][0], actions[n], *shown[n]) for n in given_names]
    services += [deleted[n] for n in removals]
    asked = set(given_names) | set(removals)
    carried = set()
    applied: set[str] = set()  # services the devices' recorded configs hold (or may: unrecorded)

    for b in built:  # what the edits change beyond what was asked: planned earlier, not applied
        if not b.changed:
            continue
        old, before = owners(b.device), held(b.device) or set()
        applied |= set(on_device[b.device]) if old is None else before
        if set(on_device[b.device]) | before <= asked:
            continue  # every service the edit can touch was asked about
        if b.device not in current:  # never given anything: every service on it is new there
            carried |= set(on_device[b.device]) - asked
            continue
        carried |= changed_services(schema_index(KINDS.get(b.kind).models), b.edit, b.owners, old) - asked
    missing = carried - meta.keys()
    if missing:  # moved off these devices by a plan not applied yet: as their records show them
        meta.update((n, m[:2]) for n, m in Store.intent_meta(s, missing).items())
        shown.update((n, bytes(b)) for n, b in Store.placements(s, missing - shown.keys()).items())
        carried &= meta.keys()  # one gone from the store altogether is no service to show
    # Only changes planned earlier are carried along: a service whose intent is as last applied
    # changes only through what was asked (an overlay re-rating its line).
    carried -= service_versions.as_applied(s, {n: meta[n][1] for n in carried if n in applied})
    changed_devs = {b.device for b in built if b.changed}
    again = [sp for sp in services if sp.action == "unchanged" and changed_devs & set(sp.devices)]
    current_ok = service_versions.as_applied(s, {sp.name: meta[sp.name][1] for sp in again
                                                 if sp.name in applied})
    every = [b.device for b in built]
    planned = set(every)
    for sp in services:  # its own devices asked first: where an applied service is found at once
        if sp.action in ("update", "delete") and not any(held(d) is None or sp.name in held(d)
                                                          for d in [*sp.devices, *every] if d in planned):
            # Planned before and never applied: applying the update creates it; the delete
            # removed it from the store at once, and there is nothing on the devices to take off.
            sp.device_change = "create" if sp.action == "update" else ""
        elif sp.action != "unchanged":
            sp.device_change = sp.action
    for sp in again:  # planned before as they are now, and not applied as such yet
        if sp.name not in applied:
            sp.device_change, sp.earlier = "create", True
        elif sp.name not in current_ok:
            sp.device_change, sp.earlier = "update", True
    carried_plans = [_left(n, meta[n][0], shown[n], earlier=True, device_change="update" if n in applied else "create")
                     for n in sorted(carried) if n in shown]
    others = [_left(n, meta[n][0], shown[n])
              for n in sorted({n for names in on_device.values() for n in names} - asked - carried)]
    return PlanResult(net, services, devices, others + carried_plans, carried_plans, environment, bases, back)


def _other_parent(it: Intent, row) -> Problem:
    """An intent whose name is a service already in the store, of another order or of none."""
    if it.parent and not row.parent:
        return Problem(f"{it.name}, a product of order {it.parent}, is already a service of its own (from "
                       f"{row.source}): the order would take it over", **it.where("metadata.name"),
                       fix=f"give the order's products other names, or `fullbars delete {it.name}` first")
    if not it.parent:
        return Problem(f"{it.name} is a product of order {row.parent}: planned alone, it would leave the order",
                       **it.where("metadata.name"),
                       fix=f"change it through order {row.parent}, or give this intent another name")
    return Problem(f"{it.name}, a product of order {it.parent}, is already a product of order {row.parent}",
                   **it.where("metadata.name"), fix="give the order's products other names")


def _old_network(row) -> Network | None:
    """The network description a plan replaces, as it was saved (None: it no longer loads)."""
    try:
        return load_network(row.source, row.text)
    except FullbarsError:
        return None


def _held_outside_pools(s, net: Network) -> list[Problem]:
    """A changed network whose address pools no longer hold blocks lines hold (a pool renumbered):
    refused, naming them; the lines keep their blocks until they are moved or deleted."""
    out = []
    for pool in net.pools.values():
        if not pool.prefix:
            continue
        prefix = netaddr.IPNetwork(pool.prefix)
        held = [(v, o) for v, o in Store.pool_values(s, pool.name) if "/" in v and netaddr.IPNetwork(v) not in prefix]
        if held:
            named = ", ".join(f"{o} ({v})" for v, o in sorted(held, key=lambda x: x[1])[:5])
            out.append(Problem(f"pool {pool.name} is now {pool.prefix}, but {len(held)} line(s) hold blocks of it "
                               f"outside that: {named}" + (" ..." if len(held) > 5 else ""), file=net.file,
                               path=f"spec.pool[{pool.name}].prefix",
                               fix="keep the old prefix until those lines are moved to another pool or deleted "
                                   "(or add the new range as a pool of its own)"))
    return out


def _forget_left_if_gone(s, device: str, services: set[str]) -> None:
    """Services left_on keeps for a device stop being kept once no environment's record of the
    device holds them (a device no environment records is not rebuilt for them either)."""
    held = set()
    for sha in Store.config_shas(s, [device]).get(device, {}).values():
        owners = Store.owners_at(s, device, sha)
        held |= services if owners is None else services & {n for who in owners.values() for n in who}
    if services - held:
        Store.forget_left(s, device, services - held)


def _held_digest(back: dict) -> str:
    """What a plan left off, as its recall record keeps it: one digest, not the 9,000 entries a
    never-applied inventory's plan holds back."""
    import hashlib

    return hashlib.sha256(json.dumps(back, sort_keys=True).encode()).hexdigest()


def _recalled(s, net: Network, given: list[Intent], environment: str | None) -> PlanResult | None:
    """This plan as the last one made it, when that is what it would make again (plan/recall.py);
    None when it is not, or not known to be."""
    record = Store.recall_record(s)
    names = [it.name for it in given]
    if record is None or len(set(names)) != len(names) or not set(names) <= set(record["given"]):
        return None
    meta = Store.intent_meta(s, names)
    if any(meta.get(it.name) != (it.kind, it.digest, it.parent) for it in given):
        return None  # new, changed, or moved under another order
    if {n for n, _ in Store.children(s, names)} - set(names) or service_versions.pending_removals(s):
        return None  # the full plan removes these
    if recall.state(Store.placement_state(s, net.digest, environment), Store.active_suspensions(s)) != record["state"]:
        return None
    moved = set(names) | recall.readers(s, set(names))
    touched = Store.devices_of(s, moved)
    if not touched <= set(record["devices"]):
        return None  # the last plan did not place every service on these devices, nor build them
    if Store.left_on(s, set(names)).keys() - touched:
        return None  # a device a move left may still hold one here: the full plan checks it
    on_each = Store.services_on_each(s, touched)
    on = set().union(*(names.keys() for names in on_each.values()))
    packed = Store.placements(s, on | moved)
    if not (on | moved) <= packed.keys():
        return None
    shown: dict = {n: bytes(b) for n, b in packed.items()}  # decoded as they are read (RecordedPlan)
    for n in names:
        shown[n] = recall.shown(shown[n])
        if shown[n][3] or shown[n][4]:
            return None  # warnings name the file the intent came from; artifacts are functions
        shown[n] = (*shown[n][:4], {})
    current = Store.device_configs(s, environment, touched) if environment else {}
    recorded = Recorded(s, current)
    on_device = {d: sorted(names) for d, names in on_each.items()}
    back = held_back(s, on_device, set(names), {}, recorded)
    parents = Store.intent_meta(s, back.keys())
    for n, where in back.items():  # as the plan says what to plan to carry it
        where["plan"] = parents[n][2] if n in parents and parents[n][2] else n
    if _held_digest(back) != record.get("held"):
        return None  # the kept builds left off other services than this plan would (or none)
    on_device = leave_off(on_device, back)
    builds = Store.plan_builds(s, touched)
    built = []
    for dev in sorted(touched):
        if dev not in builds:
            return None
        b = kept(dev, net.devices[dev].kind, builds[dev][1])
        if b.current_sha != config_sha(current[dev].config if dev in current else EMPTY):
            return None  # the device was given a config since
        built.append(b)
    problems = crosscheck.check(net, {b.device: b.facts for b in built})
    if problems:
        raise FullbarsError(problems)
    bases = Store.config_shas(s, touched)
    for b in built:
        Store.save_owners(s, b.device, b.intended, b.owners, set(bases.get(b.device, {}).values()))
    # placed_on holds each placement's devices as plan_placements shows them (both kept by one plan)
    meta = {n: m for names in on_each.values() for n, m in names.items()} | meta
    meta.update(Store.intent_meta(s, shown.keys() - meta.keys()))  # the given ones were read above
    meta = {n: m[:2] for n, m in meta.items()}
    return _outcome(s, net, built, recorded, on_device, shown, meta, {n: "unchanged" for n in names}, names, [],
                    {}, environment, bases, back)


def _emptied(s, environment: str | None, built: list, on_device: dict, current: dict, described: set) -> list[Problem]:
    """A device of the network description that no service is on any more gets an empty config,
    whose edit deletes every top node fullbars gave it. Where one of those was on the device
    before fullbars first configured it (a gNB on air, whose cells a coverage fill took into its
    config), that would take what fullbars never made off the device: refused."""
    from lxml import etree

    out = []
    for b in built:
        if on_device.get(b.device) or b.device not in described or b.device not in current or not b.changed \
                or etree.fromstring(b.intended.encode()).find("*") is not None:
            continue
        before = Store.first_before(s, environment, b.device)
        if not before:
            continue
        had = {el.tag for el in etree.fromstring(before.encode())}
        gone = [el.tag for el in etree.fromstring(current[b.device].config.encode()) if el.tag in had]
        if gone:
            out.append(Problem(
                f"{b.device}: no service is left on it, so its config would be deleted whole, and with it "
                f"{', '.join(etree.QName(t).localname for t in gone)}, which the device ran before fullbars "
                f"first configured it", path=b.device,
                fix="keep a service on it; or roll back the transaction that first configured it "
                    "(`fullbars history`, then `fullbars rollback TX`): that gives it back its config from before"))
    return out


def _left(name: str, kind: str, shown, **how) -> ServicePlan:
    """A service the plan was not asked about, from its placement as shown or its packed record."""
    if isinstance(shown, bytes):
        return RecordedPlan(name, kind, shown, **how)
    return ServicePlan(name, kind, "unchanged", *shown[:3], **how)


def _neighbours(standing: Standing, devices: set[str]) -> set[str]:
    """The services on these devices whose kind reads, there, the services it shares the device
    with (Service.neighbours): a plan that touches the device places them again."""
    out = set()
    for dev, names in standing.services_on(devices).items():
        role = standing.net.devices[dev].role if dev in standing.net.devices else None
        for name, (kind, _) in names.items():
            if not standing.intents.dropped(name):
                reads = SERVICES.by_kind(kind).neighbours
                if reads is None or role is None or role in reads:
                    out.add(name)
    return out


class Standing:
    """The services on the devices a plan touches that it does not place again, as the last plans
    left them: where they are (placed_on), their placements as shown (plan_placements) and their
    fragments (plan_fragments). One whose record is missing, whose device's fragments were
    rendered from other templates, models or plan code, or whose record was made in another
    suspension state than the line is in now, is placed again instead (lacking)."""

    def __init__(self, s, net: Network, intents: dict, suspended: set[str]):
        self.s, self.net, self.intents, self.suspended = s, net, intents, suspended
        self.on: dict[str, dict[str, tuple[str, str]]] = {}  # device → {service placed on it: (kind, digest)}
        self.meta: dict[str, tuple[str, str]] = {}  # service → (kind, digest), of those on the devices read
        self.cache: dict[str, tuple[dict, tuple | None]] = {}  # device → (its fragments, its build)
        self.records: dict[str, bytes] = {}  # service → its packed placement as shown
        self._as_placed: set[str] | None = None
        self.base_keys: dict[str, str | None] = {}  # device → its base piece's inputs key, as this code makes it

    def services_on(self, devices: set[str]) -> dict[str, dict[str, tuple[str, str]]]:
        """device → {service placed on it: (kind, digest)}, as placed_on had it when first read."""
        new = devices - self.on.keys()
        if new:
            self.on.update(Store.services_on_each(self.s, new))
            for d in new:
                self.meta.update(self.on[d])
        return {d: self.on[d] for d in devices}

    def _read(self, devices: set[str]) -> None:
        self.services_on(devices)
        self._read_caches(devices)

    def _read_caches(self, devices: set[str]) -> None:
        new = devices - self.cache.keys()
        if new:
            frags, builds = Store.plan_cache(self.s, new)
            self.cache.update((d, (frags[d], builds.get(d))) for d in new)

    def on_device(self, dev: str, placements: dict) -> set[str]:
        """The services on `dev` that stand: not placed by this plan, and not gone."""
        self._read({dev})
        return {n for n in self.on[dev] if n not in placements and not self.intents.dropped(n)}

    def lacking(self, touched: set[str], placements: dict) -> set[str]:
        """The services on these devices, not placed by this plan, that it cannot take as they stand."""
        self._read(touched)
        standing = {d: self.on_device(d, placements) for d in touched}
        wanted = set().union(*standing.values()) - self.records.keys()
        self.records.update((n, bytes(b)) for n, b in Store.placements(self.s, wanted).items())
        # A suspend plans its line and keeps that plan even when its transaction then fails and the
        # suspension with it (a resume likewise): a record made in another suspension state is stale.
        out = (self.as_placed() ^ self.suspended) & set().union(*standing.values())
        for dev, names in standing.items():
            frags = self.cache[dev][0]
            if dev not in self.base_keys:
                self.base_keys[dev] = fragcache.inputs_key(self.net.devices[dev].kind, "device base", "device",
                                                           _base_vars(self.net, dev))
            base = self.base_keys[dev]
            # Every piece of a device is written by one build, under one fingerprint (which every
            # key holds): the base's key as this code makes it vouches for the others' keys.
            current = base is not None and frags.get("device base", (None,))[0] == base
            for name in names:
                renders = SERVICES.by_kind(self.meta[name][0]).template
                if name not in self.records or (renders and not (current and name in frags)):
                    out.add(name)
        return out

    def as_placed(self) -> set[str]:
        """The services whose kept placement was made while they were suspended."""
        if self._as_placed is None:
            self._as_placed = Store.suspended_as_placed(self.s)
            if self._as_placed is None:  # a store planned by an older release: once, from the records
                self._as_placed = {n for n, b in Store.all_placements(self.s) if not recall.shown(bytes(b))[2]}
        return self._as_placed

    def caches(self, touched: set[str]) -> tuple[dict, dict]:
        """(device → its kept fragments, device → its kept build) of these devices."""
        self._read_caches(touched)
        return {d: self.cache[d][0] for d in touched}, {d: self.cache[d][1] for d in touched if self.cache[d][1]}

    def records_of(self, names) -> dict[str, bytes]:
        """Their placements as the last plans showed them, packed (recall.shown)."""
        return {n: self.records[n] for n in names}


def _place(order: list[str], intents: StoredReads, ctx: PlanContext, placements: dict, reads: dict[str, set[str]],
           progress=None) -> list[Problem]:
    """Place each service of `order`, noting in `reads` the other services each looked up."""
    problems = []
    ctx.alloc.read_owners(order)
    intents.load(order)
    for i, name in enumerate(order):
        it = intents.quiet(name)
        log = intents.record()
        try:
            placements[name] = SERVICES.by_kind(it.kind).place(it, ctx)
        except FullbarsError as e:
            for p in e.problems:  # a pool does not know which intent asked: point at its spec
                if p.file is None:
                    p.file, p.line, p.path = it.file, it.where("spec")["line"], p.path or "spec"
                    p.document = it.document
            problems.extend(e.problems)
        finally:
            intents.stop()
        reads[name] = log - {name}
        if progress and i % 1000 == 0:
            progress("allocate", i, len(order))
    return problems


def _due(stored: dict[str, Intent], given: set[str], today: dt.date) -> list[Intent]:
    """The stored intents whose spec, settled to `today`, is not the one they were planned with."""
    out = []
    for name in sorted(stored.keys() - given):
        it = stored[name]
        spec = SERVICES.by_kind(it.kind).as_of(it.spec, today)
        if spec != it.spec:
            out.append(Intent(it.name, it.kind, spec, it.file, it.line, spec_digest(spec), parent=it.parent))
    return out


def _serial(it: Intent) -> str | None:
    """The ONU serial an intent expects, as the store keeps it unique: upper-cased (the hex
    digits of a serial are the same in either case)."""
    serial = (it.spec.get("onu") or {}).get("serial")
    return serial.upper() if serial else None


def _unique_onus(s, intents: dict[str, Intent], given: list[Intent]) -> list[Problem]:
    """An ONU serial belongs to one access: two services expecting one ONU would fight over it. The
    store's unique index holds each line's serial, and the allocations those of services' own
    sites (SERIAL_POOL: a dedicated line's PON sites); this finds the holder of each given serial
    by value in both, to say which service has it (not a scan of every intent)."""
    fresh = {it.name for it in given}
    wanted = {it.name: ([(it.spec["onu"]["serial"], "spec.onu.serial")] if _serial(it) else [])
              + SERVICES.by_kind(it.kind).site_serials(it.spec) for it in given}
    owner: dict[str, tuple[Intent, str]] = {}
    serials = {x.upper() for mine in wanted.values() for x, _ in mine}
    for name, serial in Store.serial_holders(s, serials):
        if name not in fresh and name in intents:
            owner.setdefault(serial, (intents[name], "spec.onu.serial"))
    for serial, name in Store.values_held(s, SERIAL_POOL, serials):  # ONUs at services' own sites
        it = intents.get(name) if name not in fresh else None
        if it is not None:
            path = next((p for x, p in SERVICES.by_kind(it.kind).site_serials(it.spec) if x.upper() == serial), "spec")
            owner.setdefault(serial, (it, path))
    problems = []
    for name in sorted(fresh):
        it = intents[name]
        for serial, path in wanted[name]:
            prev, prev_path = owner.get(serial.upper(), (None, None))
            if prev is None:
                owner[serial.upper()] = (it, path)
            elif prev.name != it.name:
                at = prev.where(prev_path)
                held_at = f"{at['file']}:{at['line']}" if prev.lines else prev.file  # (a stored file gone or changed)
                problems.append(Problem(f"ONU serial {serial} is already used by service {prev.name} ({held_at})",
                                        **it.where(path),
                                        fix=f"check the serial on the ONU's label; if {it.name} is {prev.name} "
                                            f"renamed, delete {prev.name} first (fullbars delete {prev.name}; if it "
                                            f"was applied, its serial is free once that removal is applied)"))
    return problems
