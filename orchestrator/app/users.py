"""People and machines: users with roles, passwords (argon2id) for people, tokens for CI and for
a browser's session. Only hashes are stored: a token is 256 random bits, so its sha256 is enough;
a password is guessable, so it gets argon2. What each role may do is one table, PERMISSIONS, that
every use case asks through require()."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import secrets

from sqlalchemy import delete, select

from orchestrator.acting import Actor, current
from orchestrator.app.errors import NotAllowed, NotFound, NotSignedIn
from orchestrator.errors import FullbarsError
from orchestrator.resources.store import Store, TokenRow, UserRow, _now

ROLES = ("engineer", "ci", "noc", "admin")
ALL = frozenset(ROLES)
# action → the roles allowed it. Reading is open to every signed-in role.
PERMISSIONS: dict[str, frozenset[str]] = {
    "read": ALL,
    "changes.submit": frozenset({"engineer"}),
    "changes.withdraw": frozenset({"engineer"}),
    "changes.evidence": frozenset({"ci"}),
    "changes.approve": frozenset({"noc"}),
    "changes.rollout": frozenset({"noc"}),  # start, pause, resume, abort, roll back
    "environments.write": frozenset({"admin"}),
    "users.read": frozenset({"admin"}),
    "users.write": frozenset({"admin"}),
}
SESSION_HOURS = 12
NAME = re.compile(r"^[a-z][a-z0-9._-]{0,63}$")


def may(actor: Actor, action: str) -> bool:
    return bool(actor.roles & PERMISSIONS[action])


def require(action: str) -> Actor:
    """The acting user, if their roles allow the action; refused otherwise."""
    actor = current()
    if not may(actor, action):
        raise NotAllowed(f"{actor.name} may not {action.replace('.', ' ')}: that needs the role "
                         f"{' or '.join(sorted(PERMISSIONS[action]))} (theirs: {', '.join(sorted(actor.roles)) or 'none'})",
                         fix="ask an admin for the role, or ask someone who has it")
    return actor


def _hasher():
    try:
        from argon2 import PasswordHasher
    except ImportError:
        raise FullbarsError("argon2-cffi is not installed", fix="bash scripts/setup.sh (it installs argon2-cffi)") from None
    return PasswordHasher()


def _roles(roles) -> str:
    roles = sorted(set(roles))
    bad = [r for r in roles if r not in ROLES]
    if bad or not roles:
        raise FullbarsError(f"unknown role(s) {', '.join(map(repr, bad)) or '(none given)'}",
                            path="roles", fix=f"give one or more of: {', '.join(ROLES)}")
    return " ".join(roles)


def create(store, name: str, roles, password: str | None = None, check: bool = True) -> dict:
    """A new user. check=False: the server's first admin, made before anyone can sign in."""
    if check:
        require("users.write")
    if not NAME.match(name or ""):
        raise FullbarsError(f"user name {name!r} is not allowed", path="name",
                            fix="1 to 64 of a-z, 0-9, '.', '_', '-', starting with a letter")
    if password is not None and len(password) < 8:
        raise FullbarsError("the password is too short", path="password", fix="give at least 8 characters")
    roles_text = _roles(roles)
    hashed = _hasher().hash(password) if password else ""
    with store.transaction() as s:
        if s.get(UserRow, name) is not None:
            from orchestrator.app.errors import Conflict

            raise Conflict(f"user {name} exists already", path="name", fix="choose another name")
        s.add(UserRow(name=name, roles=roles_text, password_hash=hashed))
        Store.audit(s, "user-create", f"user:{name}", {"roles": roles_text.split()})
    return {"name": name, "roles": roles_text.split(), "disabled": False}


def ensure_admin(store, name: str, password: str) -> bool:
    """The first admin, made if the store has no user of that name; True if made."""
    with store.transaction(write=False) as s:
        if s.get(UserRow, name) is not None:
            return False
    create(store, name, ["admin"], password, check=False)
    return True


def listing(store) -> list[dict]:
    require("users.read")
    with store.transaction(write=False) as s:
        return [{"name": u.name, "roles": u.roles.split(), "disabled": bool(u.disabled)}
                for u in s.scalars(select(UserRow).order_by(UserRow.name))]


def _sha(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _new_token(s, user: str, kind: str, label: str, hours: float | None) -> str:
    token = f"fb_{secrets.token_urlsafe(32)}"
    expires = "" if hours is None else \
        (dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=hours)).isoformat(timespec="seconds")
    s.add(TokenRow(sha256=_sha(token), user=user, kind=kind, label=label, expires_at=expires))
    return token


def create_token(store, user: str, label: str = "") -> str:
    """An API token for a user (CI); shown once, stored as its hash."""
    require("users.write")
    with store.transaction() as s:
        if s.get(UserRow, user) is None:
            raise NotFound(f"no user {user}", path="user", fix="create the user first")
        token = _new_token(s, user, "api", label, None)
        Store.audit(s, "token-create", f"user:{user}", {"label": label})
    return token


def login(store, name: str, password: str, origin: str = "") -> str:
    """A session token for a person who gave their password; the same refusal whether the name
    or the password was wrong."""
    with store.transaction(write=False) as s:
        u = s.get(UserRow, name)
    ok = False
    if u is not None and u.password_hash and not u.disabled:
        try:
            ok = _hasher().verify(u.password_hash, password)
        except Exception:  # argon2's VerifyMismatchError, InvalidHash
            ok = False
    from orchestrator.acting import acting

    with acting(Actor(name if u else "(unknown)", frozenset(), origin)):
        with store.transaction() as s:
            if not ok:
                Store.audit(s, "login-failed", f"user:{name if u else '(unknown)'}", "")
            else:
                token = _new_token(s, name, "session", "login", SESSION_HOURS)
                Store.audit(s, "login", f"user:{name}", "")
    if not ok:
        raise NotSignedIn("wrong user name or password", fix="check both; an admin can set a new password")
    return token


def logout(store, token: str) -> None:
    with store.transaction() as s:
        s.execute(delete(TokenRow).where(TokenRow.sha256 == _sha(token)))


def authenticate(store, token: str | None, origin: str = "") -> Actor | None:
    """The user a token belongs to (None: no such token, expired, or the user is disabled)."""
    if not token:
        return None
    with store.transaction(write=False) as s:
        t = s.get(TokenRow, _sha(token))
        if t is None or (t.expires_at and t.expires_at < _now()):
            return None
        u = s.get(UserRow, t.user)
    if u is None or u.disabled:
        return None
    return Actor(u.name, frozenset(u.roles.split()), origin)
