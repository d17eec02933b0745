"""Per-device work of a plan (render, merge, validate, read facts, diff), spread over the cores.

Each device is independent once allocation is done, so the work runs in forked worker
processes that inherit the compiled model contexts; the parent only gathers results. What the
store's plan caches (plan/fragcache.py) hold for the same inputs is taken from them: a fragment
whose variables did not change is not rendered again, a device none of whose inputs changed is
not built again.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from orchestrator import settings
from orchestrator.devices.registry import KINDS
from orchestrator.errors import Problem
from orchestrator.models.schema_index import schema_index
from orchestrator.plan import crosscheck
from orchestrator.plan import fragcache, partial, splice
from orchestrator.plan.assemble import DeviceConfig, merge
from orchestrator.plan.diff import Lines, edits, parse, plan_diff, same_edits
from orchestrator.plan.ownership import combine, nodes
from orchestrator.plan.texts import HeldTexts, Texts
from orchestrator.render.engine import render
from orchestrator.workers import worker_pool

PARALLEL_FROM = 2000  # fragments; below this, forking costs more than it saves


@dataclass(frozen=True)
class CachedPiece:
    """A fragment's variables when the service was not placed again: its piece is the plan
    cache's, whose inputs key is `key`."""
    key: str


@dataclass
class Job:
    device: str
    kind: str
    role: str
    base_vars: dict
    fragments: list  # (service, template, variables or CachedPiece)
    current: str
    current_sha: str = ""
    cached: dict = field(default_factory=dict)  # owner → (inputs key, fragcache.pack_piece) from the store
    cached_build: tuple | None = None  # (inputs key, packed build) from the store


@dataclass
class Built(HeldTexts):
    device: str
    kind: str
    services: list[str]
    texts: Texts  # intended, edit, reverse
    changed: bool
    diff: Lines  # for people: a list's worth of lines, held as one text
    facts: dict
    owners: dict  # path → the services whose fragments hold it (ownership.combine)
    key: str | None = None  # the inputs key of this build (fragcache.device_key); None: not cached
    pieces: dict = field(default_factory=dict)  # owner → (inputs key, fragcache.pack_piece) of every piece
    packed: bytes | None = None  # the build as the store's cache keeps it; None: it has it already
    current_sha: str = ""  # the sha256 of the config its edit starts from
    owners_text: str | None = None  # the ownership as packed, JSON: the store's ownership table keeps it so too
    # where its config differs from the one its edit starts from (diff.Changed's line ranges), when
    # known: the next splice of the device, from the same record, diffs only there (diff.compose)
    changed_lines: tuple | None = None

    def hold(self) -> None:
        """Compress its configs (plan/texts.py): a new device's diff reads its config through them."""
        self.diff = self.diff.over(self.texts)
        self.texts.pack()

    def cache_value(self) -> list[str]:
        """The build as the store's cache keeps it, each item encoded (fragcache.pack_encoded): the
        ownership is encoded once, for the cache and for the store's ownership table."""
        intended, edit = self.intended, self.edit
        if self.owners_text is None:
            self.owners_text = fragcache.encoded(self.owners)
        # A new device's edit is its whole config: kept once (None in its place), not twice.
        items = [self.services, intended, None if edit == intended else edit, self.reverse, self.changed,
                 self.diff.kept(intended)]
        return [*map(fragcache.encoded, items), self.owners_text,
                fragcache.encoded(fragcache.exact(self.facts)), fragcache.encoded(self.changed_lines),
                fragcache.encoded(self.current_sha)]  # (last: partial._current_sha reads it there)


def piece_keys(job: Job) -> list[tuple[str, str | None]]:
    """Each piece's inputs key, in the order the device is assembled (base first)."""
    return [(owner, variables.key if isinstance(variables, CachedPiece) else
             fragcache.inputs_key(job.kind, owner, template, variables))
            for owner, template, variables in _wanted(job)]


def _wanted(job: Job) -> list:
    return [("device base", "device", job.base_vars)] + list(job.fragments)


def build_key(job: Job, keyed: list[tuple[str, str | None]]) -> str | None:
    return fragcache.device_key(job.kind, job.device, job.role, keyed, job.current_sha)


def build(job: Job, keyed: list[tuple[str, str | None]] | None = None) -> tuple[Built | None, list[Problem]]:
    kind = KINDS.get(job.kind)
    keyed = keyed if keyed is not None else piece_keys(job)
    key = build_key(job, keyed)
    if key is not None and job.cached_build is not None and job.cached_build[0] == key and \
            all(job.cached.get(owner, (None,))[0] == k for owner, k in keyed):
        # The same inputs as the kept build: its pieces are the cached ones, not even unpacked.
        return kept(job.device, job.kind, job.cached_build[1], key,
                    {owner: job.cached[owner] for owner, _ in keyed}), []
    index = schema_index(kind.models)
    old = partial.kept_pieces(job) if key is not None else None
    if old is not None and old == dict(keyed) and partial.made_kept_build(job, old):
        # The kept build's very pieces, built while the device ran another config (the one before
        # an apply, typically): its config, ownership and facts stand; only its edit is new.
        return rebased(job, index, key, keyed), []
    pieces, rendered = {}, {}
    for (owner, template, variables), (_, pkey) in zip(_wanted(job), keyed):
        hit = job.cached.get(owner)
        if isinstance(variables, CachedPiece) or (pkey is not None and hit is not None and hit[0] == pkey):
            pieces[owner] = hit
        else:
            text = render(kind.name, template, **variables)
            found = nodes(index, text)
            pieces[owner] = (pkey, fragcache.pack_piece(text, found))
            rendered[owner] = (text, found)
    services = [s for s, _, _ in job.fragments]
    cfg = None
    made = splice.spliced(job, kind.models, index, keyed, rendered)
    changed_lines = None
    if made is not None:  # the kept config with the changed pieces' units replaced
        xml, owners, reach, changed_lines = made
        tree = parse(xml)
        if partial.valid(kind.models, index, tree, *reach):
            cfg = DeviceConfig(job.device, kind, services, xml, [])
    if cfg is None:
        changed_lines = None
        texts = [(o, *(rendered[o] if o in rendered else fragcache.unpack_piece(pieces[o][1]))) for o, _ in keyed]
        merged = [(o, t) for o, t, _ in texts]
        reach = partial.reach_of(job, kind.models, index, keyed, dict(merged))
        cfg, problems = merge(job.device, kind, services, merged, validate=reach is None)
        if cfg is None:
            return None, problems
        tree = parse(cfg.xml)
        if reach is not None and not partial.valid(kind.models, index, tree, *reach):
            # The whole decides, and words a refusal as a full plan does.
            cfg, problems = merge(job.device, kind, services, merged)
            if cfg is None:
                return None, problems
            tree = parse(cfg.xml)
        owners = combine([(o, f) for o, _, f in texts])
    facts = crosscheck.facts(job.role, tree)
    edit, reverse, changed = edits(index, job.current, cfg.xml, tree, changed_lines)
    diff = plan_diff(job.device, job.current, cfg.xml) if changed else Lines.of([])
    built = Built(job.device, job.kind, cfg.services, Texts(cfg.xml, edit, reverse), changed, diff, facts,
                  owners, key, pieces, changed_lines=changed_lines)
    built.current_sha = job.current_sha
    try:
        built.packed = fragcache.pack_encoded(built.cache_value()) if key is not None else None
    except TypeError:  # facts of a kind with no exact form: built again next time
        built.key = None
    return built, []


def kept(device: str, kind: str, packed: bytes, key: str | None = None, pieces: dict | None = None) -> Built:
    """A build as the store's cache keeps it (Built.cache_value)."""
    items = fragcache.unpack_exact(packed)
    services, intended, edit, reverse, changed, diff, owners, facts = items[:8]
    current_sha, lines = items[-1], fragcache.changed_lines_of(items)
    if edit is None:  # a new device's: one string, as built
        edit = intended
    return Built(device, kind, services, Texts(intended, edit, reverse), changed, Lines.from_kept(diff, intended),
                 facts, owners, key, pieces or {}, None, current_sha, changed_lines=lines)


def rebased(job: Job, index, key: str, keyed: list[tuple[str, str | None]]) -> Built:
    """The kept build of these same pieces, its edit made from the config the device runs now."""
    b = kept(job.device, job.kind, job.cached_build[1], key, {owner: job.cached[owner] for owner, _ in keyed})
    intended = b.intended
    if job.current == intended:  # (given this very config: nothing to diff, and no text to read)
        edit, reverse, changed = same_edits(index, intended)
        b.changed_lines = ([], [])
    else:
        edit, reverse, changed = edits(index, job.current, intended)
        b.changed_lines = None
    b.texts = Texts(intended, edit, reverse)
    b.changed = changed
    b.diff = plan_diff(job.device, job.current, intended) if changed else Lines.of([])
    b.current_sha = job.current_sha
    try:
        b.packed = fragcache.pack_encoded(b.cache_value())  # kept from this config: the next plan recalls it
    except TypeError:
        b.key = None
    return b


def _build_keyed(args) -> tuple[Built | None, list[Problem]]:
    built, problems = build(*args)
    if built is not None:  # compressed where it was built: the parent is sent a fifteenth of the text
        built.hold()
    return built, problems


def build_all(jobs: list[Job], progress=None, on_built=None, remote=None,
              meanwhile=None) -> tuple[list[Built], list[Problem]]:
    """on_built(built) is called in the parent as each device comes back, before the next one:
    what it takes off a build (the packed pieces, once kept) is not held for the others.
    remote(work): builds elsewhere (engine/builds.py); work is (job, piece keys) per device,
    biggest first, and it yields (built, problems) as they come back. meanwhile(): the parent's
    own work that does not wait for the builds, done while forked workers build (else first)."""
    results, problems = [], []
    if progress:
        progress("render+validate", 0, len(jobs))
    keyed = {job.device: piece_keys(job) for job in jobs}
    if remote is not None:
        if meanwhile is not None:
            meanwhile()
        order = sorted(jobs, key=lambda j: -len(j.fragments))
        for i, (built, probs) in enumerate(remote([(j, keyed[j.device]) for j in order]), 1):
            _collect(built, probs, results, problems, on_built)
            if progress:
                progress("render+validate", i, len(jobs))
        results.sort(key=lambda b: b.device)
        return results, problems
    # Work a worker would do: assembling and validating the devices whose kept build does not
    # match. Forking the workers costs more than a core saves unless that work, beyond the
    # biggest device's (which one core does alone anyway), is large.
    todo = sorted((len(j.fragments) for j in jobs if j.cached_build is None
                   or j.cached_build[0] != build_key(j, keyed[j.device])), reverse=True)
    workers = min(settings.plan_workers(), len(todo))
    if workers > 1 and sum(todo[1:]) >= PARALLEL_FROM:
        # Big devices first, so the last one to finish is a small one.
        order = sorted(jobs, key=lambda j: -len(j.fragments))
        with worker_pool(workers) as pool:
            outcomes = pool.map(_build_keyed, [(j, keyed[j.device]) for j in order], chunksize=1)
            if meanwhile is not None:  # the workers have their devices: the parent's core is free
                meanwhile()
            for i, (built, probs) in enumerate(outcomes, 1):
                _collect(built, probs, results, problems, on_built)
                if progress:
                    progress("render+validate", i, len(jobs))
    else:
        if meanwhile is not None:
            meanwhile()
        for i, job in enumerate(jobs, 1):
            _collect(*build(job, keyed[job.device]), results, problems, on_built)
            if progress:
                progress("render+validate", i, len(jobs))
    results.sort(key=lambda b: b.device)
    return results, problems


def _collect(built, probs, results, problems, on_built):
    problems.extend(probs)
    if built is not None:
        if on_built is not None:
            on_built(built)
        results.append(built)
