"""What an intent type provides to the pipeline (NSO-style: model + templates + a small create)."""

from __future__ import annotations

import abc
import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field

from orchestrator.errors import Problem


@dataclass
class Placement:
    """What a service instance holds after allocation: facts for templates and checks."""

    devices: dict[str, dict]  # device name → template variables for that device
    resources: dict[str, object]  # shown to the user: "onu-id": 3, "s-vlan": 1001, ...
    # False when the config is in place but must carry no traffic (a suspended line): checks
    # after a change then expect the service to be unreachable, not reachable.
    serving: bool = True
    warnings: list[Problem] = field(default_factory=list)  # shown, but the plan goes ahead
    # files the service writes with the plan's artifacts (in a folder of its name): file name →
    # a function giving the bytes, called only when the artifacts are written
    artifacts: dict[str, Callable[[], bytes]] = field(default_factory=dict)


@dataclass(frozen=True)
class CrossCheck:
    """A kind's checks across devices, read from the rendered configs themselves (so a broken
    template is caught, not only a wrong allocation). Each device's facts are read where it is
    built and kept with its build (the plan cache), under `name`; check sees every built device's."""

    name: str
    facts: Callable[[str, object], object]  # (device role, config tree) → what check needs of it
    check: Callable[[object, dict[str, dict]], list[Problem]]  # (network, device → facts) → problems


SERIAL_POOL = "onu-serial"  # one value each (the allocations' unique pool and value)


class Service(abc.ABC):
    kind: str  # the YAML `kind`
    template: str | None  # templates/<device-kind>/<template>.xml.j2; None: renders nothing itself
    module: str  # the service model in yang/services
    top: str  # its top container
    overlay: bool = False  # changes how other services render (placed after them), has no config of its own
    makes_devices: bool = False  # places itself on devices of its own making, in no network description
    # The device roles on which this kind's placement reads the services it shares the device
    # with (a line's PON load, on its OLT); None: every role. A plan that touches a device places
    # its services again only where their kind reads their neighbours; elsewhere it takes their
    # fragments from the plan cache, as they were (orchestrator/plan/pipeline.py).
    neighbours: frozenset[str] | None = None
    cross_check: CrossCheck | None = None  # checks of its configs across devices, beyond YANG's

    @abc.abstractmethod
    def identity(self, spec: dict) -> dict:
        """Fields that make two specs the same service; a name reused with others is refused."""

    def check(self, intent, ctx) -> list[Problem]:
        """Rules beyond the service model that need the network (policy, references)."""
        return []

    def site_serials(self, spec: dict) -> list[tuple[str, str]]:
        """(ONU serial, its data path) of the ONUs a service expects besides `spec.onu.serial`
        (which the store's unique index holds): a dedicated line's PON sites. Its placement holds
        each, upper-cased, in SERIAL_POOL, where a line's check finds it by value."""
        return []

    @abc.abstractmethod
    def place(self, intent, ctx) -> Placement:
        """Allocate (idempotently) and return what the templates need."""

    def shown(self, purpose: str, pool: str, value: str, network) -> tuple[str, str]:
        """An allocation as `fullbars status` shows it: (label, value). A kind that stores an index
        says what it stands for; network is the store's description (None if it has none)."""
        return purpose, value

    def expand(self, intent, load) -> tuple[list, list[Problem]]:
        """The intents this one stands for (an order's products), loaded with load(label, text);
        they are planned with it and deleted with it. (intents, problems)."""
        return [], []

    def assured_upstream(self, intent, ctx) -> list[tuple[str, int]]:
        """(olt/PON port, bit/s) of upstream this placed service assures on PON ports, so that
        services of other kinds placing ONUs count it."""
        return []

    def check_running(self, name: str, resources: dict, running: dict) -> list[str]:
        """What the devices' running configs (device name → parsed config, None if unread) must
        agree on for this service to work; one line per problem. Run by a transaction after the
        confirmed commit, before the confirming one (orchestrator/plan/running_checks.py)."""
        return []

    def wave_order(self, resources: dict, devices: list[str]) -> list[str] | None:
        """The order `fullbars rollout` gives this service's devices in waves (canary first), from
        its placed resources; None: the kind is not rolled out device by device."""
        return None

    def input_digest(self, spec: dict, file: str) -> str | None:
        """The sha256 of what this kind's placement reads besides the spec (a file the intent
        names, beside it), so that an intent whose inputs changed is a changed intent though its
        text is not; None: it reads nothing else."""
        return None

    def as_of(self, spec: dict, today: dt.date) -> dict:
        """The spec as it stands on `today`, for a kind with values time changes by itself (a
        tenure counted from a date). The loader settles every intent to the day it is planned,
        so a stored spec keeps the values it was planned with until a plan of the services time
        has changed (`fullbars plan --due`) settles them again."""
        return spec

    def network_changed(self, old, new, alloc) -> list[Problem]:
        """A network description replacing `old` with `new` would change what the services of this
        kind hold without their being asked (the values it derives from a range): the problems
        that refuse it. alloc reads what they hold."""
        return []

    def forget(self, intent, ctx) -> None:
        """Called when the intent is deleted, after its allocations are freed."""
