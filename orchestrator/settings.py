"""Where fullbars finds its models, templates and store. Environment overrides defaults."""

from __future__ import annotations

import os
from pathlib import Path

from orchestrator.errors import SetupError

REPO = Path(__file__).resolve().parent.parent
OWN_YANG = REPO / "yang"
TEMPLATES = REPO / "templates"
DEFAULT_DB = "sqlite:///.fullbars/store.db"
CUSTOMER_SECRETS_ENV = "FULLBARS_CUSTOMER_SECRETS"
DEFAULT_CUSTOMER_SECRETS = "env:FULLBARS_PSK_*"
DEFAULT_LOCK_TIMEOUT = 60.0  # seconds a writer waits for another to finish


def yang_path() -> list[Path]:
    """Directories holding the standard models, searched recursively by libyang.

    FULLBARS_YANG_PATH is colon-separated. Without it, a `shared/yang` beside the checkout
    (the development and CI layout) is used so the README's commands work as written.
    """
    raw = os.environ.get("FULLBARS_YANG_PATH")
    if raw:
        dirs = [Path(p).resolve() for p in raw.split(":") if p]
        missing = [str(d) for d in dirs if not d.is_dir()]
        if missing:
            raise SetupError(
                f"FULLBARS_YANG_PATH names directories that do not exist: {', '.join(missing)}",
                fix="point FULLBARS_YANG_PATH at the folder holding the standard YANG models "
                "(for development: ../shared/yang)",
            )
        return dirs
    beside = REPO.parent / "shared" / "yang"
    if beside.is_dir():
        return [beside]
    raise SetupError(
        "the standard YANG models (BBF, IETF, 3GPP) were not found",
        fix="export FULLBARS_YANG_PATH=/path/to/yang (the folder with bbf/, ietf/, ieee/, 3gpp/)",
    )


def search_dirs() -> list[Path]:
    """Our own models first, so a name clash can never silently pick a standard file."""
    return [OWN_YANG, *yang_path()]


def database_url(explicit: str | None = None) -> str:
    return explicit or os.environ.get("FULLBARS_DB") or DEFAULT_DB


def customer_secret_sources() -> str:
    """Where customer secrets (intents' passphrase references) may come from: entries
    env:PREFIX*, env:NAME and file:DIR (orchestrator/netconf/customer_secrets.py reads them)."""
    return os.environ.get(CUSTOMER_SECRETS_ENV) or DEFAULT_CUSTOMER_SECRETS


def ansible_run_dir() -> Path:
    """Where ansible-apply keeps each run's private dir while it runs (removed after it)."""
    return Path(os.environ.get("FULLBARS_ANSIBLE_DIR", ".fullbars/ansible")).resolve()


def lock_timeout(explicit: float | None = None) -> float:
    """Seconds a writer waits for the store's lock."""
    if explicit is not None:
        return explicit
    raw = os.environ.get("FULLBARS_LOCK_TIMEOUT")
    if raw:
        try:
            return float(raw)
        except ValueError:
            raise SetupError(f"FULLBARS_LOCK_TIMEOUT={raw!r} is not a number of seconds",
                             fix="set it to a number, e.g. FULLBARS_LOCK_TIMEOUT=60") from None
    return DEFAULT_LOCK_TIMEOUT


def plan_builds() -> str:
    """Where a plan builds its devices (FULLBARS_PLAN_BUILDS): here (forked processes of this
    machine, FULLBARS_PLAN_WORKERS of them) or workers (queue tasks for the `fullbars worker`s
    sharing the store's PostgreSQL, on any machines)."""
    raw = os.environ.get("FULLBARS_PLAN_BUILDS", "") or "here"
    if raw not in ("here", "workers"):
        raise SetupError(f"FULLBARS_PLAN_BUILDS={raw!r} is not where a plan can build",
                         fix="set it to here (the default) or workers")
    return raw


def plan_workers() -> int:
    """Processes a plan loads intent files and builds devices in (FULLBARS_PLAN_WORKERS; default:
    one per core)."""
    raw = os.environ.get("FULLBARS_PLAN_WORKERS")
    if raw:
        try:
            n = int(raw)
        except ValueError:
            n = 0
        if n < 1:
            raise SetupError(f"FULLBARS_PLAN_WORKERS={raw!r} is not a number of processes",
                             fix="set it to a whole number of at least 1, e.g. FULLBARS_PLAN_WORKERS=2")
        return n
    return os.cpu_count() or 1
