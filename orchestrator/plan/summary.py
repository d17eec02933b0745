"""A plan in one line, as Terraform ends its plan: what it does to services, on how many devices."""

from __future__ import annotations


NO_CHANGES = ("no changes: the configs fullbars last gave the devices are as planned "
              "(fullbars drift compares what they run)")


def counts(result) -> dict[str, int]:
    services = list(result.services) + list(result.carried)
    changed = [d for d in result.devices if d.changed]
    return {"create": sum(1 for s in services if s.device_change == "create"),
            "change": sum(1 for s in services if s.device_change == "update"),
            "delete": sum(1 for s in services if s.device_change == "delete"),
            "devices": len(changed),
            # deleted before any apply: they leave the store, and no device has anything to lose
            "dropped": sum(1 for s in result.services if s.action == "delete" and not s.device_change)}


def has_changes(result) -> bool:
    """Whether a device gets anything (what --detailed-exitcode tells)."""
    c = counts(result)
    return any(c[k] for k in ("create", "change", "delete", "devices"))


def line(result) -> str:
    c = counts(result)
    dropped = f"; {c['dropped']} never applied left the store" if c["dropped"] else ""
    if not has_changes(result):
        # a plan compares with the store's record; a device changed by hand since is drift's to say
        return NO_CHANGES + dropped
    by = getattr(result, "built_by", None)
    return (f"{c['create']} to create, {c['change']} to change, {c['delete']} to delete "
            f"on {c['devices']} device{'' if c['devices'] == 1 else 's'}" + dropped
            + (f"; built by {len(by)} worker{'' if len(by) == 1 else 's'}: "
               + ", ".join(f"{w} {n}" for w, n in sorted(by.items())) if by else ""))
