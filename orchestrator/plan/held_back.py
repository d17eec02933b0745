"""Services planned earlier and never applied that a plan of other services leaves off the devices
it shares with them, until all their devices are in one plan.

A line planned on its OLT and BNG and not applied, then a plan of another line on the same BNG:
the BNG's new config would hold both lines, so applying that plan would give the BNG the first
line's subscriber interface without the ONU on its OLT (which the plan does not touch). Such a
service is left out of the shared device's build; its own plan, or a plan that names it, puts it
on all its devices at once."""

from __future__ import annotations

from orchestrator.resources.store import Store


class Recorded:
    """What the environment's record of each device holds, by the ownership its plan recorded:
    read once per device and plan."""

    def __init__(self, s, current: dict):
        self.s, self.current = s, current
        self._owners: dict[str, dict | None] = {}
        self._held: dict[str, set[str] | None] = {}

    def owners(self, dev: str) -> dict | None:
        """path → services, of the device's recorded config; {} unrecorded by the environment;
        None: a config without recorded ownership (it may hold anything)."""
        if dev not in self._owners:
            self._owners[dev] = Store.owners(self.s, dev, self.current[dev].config) if dev in self.current else {}
        return self._owners[dev]

    def held(self, dev: str) -> set[str] | None:
        """The services the device's recorded config holds; None: it may hold any."""
        if dev not in self._held:
            old = self.owners(dev)
            self._held[dev] = None if old is None else {n for who in old.values() for n in who}
        return self._held[dev]

    def may_hold(self, dev: str, name: str) -> bool:
        held = self.held(dev)
        return held is None or name in held


def held_back(s, on_device: dict[str, list[str]], asked: set[str], placed: dict, recorded: Recorded) -> dict[str, dict[str, list[str]]]:
    """name → {"left_off": the plan's devices it is kept off, "waits_for": its devices outside the
    plan}, of the services on the plan's devices that it was not asked about, that no record of
    their devices holds, and that are placed on devices the plan does not build. placed: service →
    its placement, of those this plan placed (the others' are read from placed_on)."""
    new_here = {n for dev, names in on_device.items() if recorded.held(dev) is not None
                for n in set(names) - asked - recorded.held(dev)}
    waiting = _waiting(s, new_here, set(on_device), placed, recorded)
    left_off: dict[str, list[str]] = {}
    for dev, names in sorted(on_device.items()):
        for n in names:
            if n in waiting:
                left_off.setdefault(n, []).append(dev)
    return {n: {"left_off": left_off[n], "waits_for": sorted(outside)} for n, outside in sorted(waiting.items())}


def waiting(s, names: set[str], asked: set[str], planned: set[str], recorded: Recorded) -> set[str]:
    """Those of these services, standing on the planned devices, that a plan of them would hold
    back: it need not place them again to build their pieces (which it leaves out)."""
    return set(_waiting(s, names - asked, planned, {}, recorded))


def _waiting(s, names: set[str], planned: set[str], placed: dict, recorded: Recorded) -> dict[str, set[str]]:
    """name → its devices outside the plan, of those no record of their devices holds."""
    if not names:
        return {}
    where = {n: set(placed[n].devices) for n in names if n in placed}
    where.update(Store.placed_on_each(s, names - where.keys()))
    out = {}
    for n in names:
        outside = where.get(n, set()) - planned
        if outside and not any(recorded.may_hold(d, n) for d in where[n] if d in recorded.current):
            out[n] = outside
    return out


def leave_off(on_device: dict[str, list[str]], back: dict[str, dict[str, list[str]]]) -> dict[str, list[str]]:
    return {d: [n for n in names if n not in back] for d, names in on_device.items()}


def needed(s, back: dict, reads: dict[str, set[str]], on_device: dict[str, list[str]]) -> list[str]:
    """Of the services held back, those a service the plan keeps on its devices looked up when
    placed (cameras on a line's ONU, an FTTR service on its line): kept without them, its config
    would point at config that is not there. They are planned whole instead."""
    if not back:
        return []
    kept = {n for names in on_device.values() for n in names}
    read = {x for n, looked in reads.items() if n in kept for x in looked} | {
        x for x, readers in Store.readers_by(s, set(back)).items() if readers & kept}
    return sorted(read & back.keys())
