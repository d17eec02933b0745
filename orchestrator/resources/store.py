"""The store: intents, their allocations, the network description, and what devices were given.

SQLAlchemy over any database URL; a SQLite file by default. Every command runs in one
transaction, so input that fails leaves the store as it was. A transaction that may write holds
the store's lock (orchestrator.resources.lock) from before its first read, so what a command
decides from cannot change under it; the schema is versioned with Alembic (migrations/).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import os
import re
from collections.abc import Mapping
from pathlib import Path

from sqlalchemy import (Integer, LargeBinary, String, Text, UniqueConstraint, create_engine, delete, event,
                        func, insert, select)
from sqlalchemy.exc import DatabaseError, IntegrityError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from orchestrator.errors import FullbarsError
from orchestrator.resources import lock, schema
from orchestrator.settings import DEFAULT_LOCK_TIMEOUT


def _in_environment(q, environment: str | None):
    """A query of rollout_reach narrowed to one environment's rows."""
    return q if environment is None else q.where(ReachRow.environment.in_((environment, "")))


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def _instant() -> str:
    """Now to the microsecond: transactions are ordered by when they began, and two applies
    (or an apply and its rollback) often begin within one second."""
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="microseconds")


def config_sha(config: str) -> str:
    return hashlib.sha256(config.encode()).hexdigest()


class Base(DeclarativeBase):
    pass


class IntentRow(Base):
    __tablename__ = "intents"
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    # Indexed: a plan reads the few overlays of a kind (SpeedUpgrade, ArrearsGrace) by it (0011).
    kind: Mapped[str] = mapped_column(String(64), index=True)
    spec: Mapped[str] = mapped_column(Text)  # JSON of the validated spec, defaults filled in
    digest: Mapped[str] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(Text, default="")
    # Upper-cased; unique, so two services can never expect one ONU (migration 0002).
    onu_serial: Mapped[str | None] = mapped_column(String(16), unique=True, index=True, default=None)
    # The intent it was expanded from (an order): deleted with it (migration 0005).
    parent: Mapped[str | None] = mapped_column(String(64), index=True, default=None)
    created_at: Mapped[str] = mapped_column(String(32), default=_now)
    # Indexed for the latest of them, read by every plan (Store.placement_state; migration 0011).
    updated_at: Mapped[str] = mapped_column(String(32), default=_now, index=True)


class AllocationRow(Base):
    __tablename__ = "allocations"
    __table_args__ = (UniqueConstraint("pool", "value"), UniqueConstraint("owner", "purpose"))
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    pool: Mapped[str] = mapped_column(String(128), index=True)
    value: Mapped[str] = mapped_column(String(64))
    owner: Mapped[str] = mapped_column(String(64), index=True)
    purpose: Mapped[str] = mapped_column(String(64))


class NetworkRow(Base):
    __tablename__ = "network"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[str] = mapped_column(Text)
    text: Mapped[str] = mapped_column(Text)
    digest: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[str] = mapped_column(String(32), default=_now)


class DeviceConfigRow(Base):
    """The config a device was last given (by apply) in one environment (a target label:
    `lab:<file>`, `env:<name>`); plans for that environment are computed against it."""

    __tablename__ = "environment_configs"
    environment: Mapped[str] = mapped_column(String(256), primary_key=True)
    device: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(64))
    config: Mapped[str] = mapped_column(Text)
    digest: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[str] = mapped_column(String(32), default=_now)


class EnvironmentRow(Base):
    """What an environment is: whether applying there needs lab evidence (required | optional)."""

    __tablename__ = "environments"
    name: Mapped[str] = mapped_column(String(256), primary_key=True)
    evidence: Mapped[str] = mapped_column(String(16))
    description: Mapped[str] = mapped_column(Text, default="")
    updated_at: Mapped[str] = mapped_column(String(32), default=_now)


class VerificationRow(Base):
    """A lab verification of a bundle: the evidence an environment may require before it takes
    the same intended configs (pinned: the sha256 over every device's canonical config sha)."""

    __tablename__ = "verifications"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    bundle_id: Mapped[str] = mapped_column(String(64))
    pinned: Mapped[str] = mapped_column(String(64), index=True)
    configs: Mapped[str] = mapped_column(Text)  # JSON: device → canonical sha256 of its intended config
    environment: Mapped[str] = mapped_column(String(256))  # the lab it ran in
    topology_sha: Mapped[str] = mapped_column(String(64))
    ok: Mapped[int] = mapped_column(Integer)
    checks: Mapped[str] = mapped_column(Text)  # JSON: every check with its figures
    at: Mapped[str] = mapped_column(String(32), default=_now)
    by: Mapped[str] = mapped_column(String(128))


class TransactionRow(Base):
    """A network-wide change; its state is written before each step (the journal)."""

    __tablename__ = "transactions"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    created_at: Mapped[str] = mapped_column(String(32), default=_instant)  # 32 characters exactly
    updated_at: Mapped[str] = mapped_column(String(32), default=_now)
    target: Mapped[str] = mapped_column(String(256))
    kind: Mapped[str] = mapped_column(String(32), default="apply")  # apply | rollback | reconcile
    state: Mapped[str] = mapped_column(String(32))  # started | editing | committing | verifying | confirming
    #                                                 | committed | rolled-back | failed
    summary: Mapped[str] = mapped_column(Text, default="")
    report: Mapped[str] = mapped_column(Text, default="{}")
    # the process running it while it is in flight, and until when its lease holds (rollout/lease.py)
    owner: Mapped[str] = mapped_column(String(300), default="", server_default="")
    lease_until: Mapped[str] = mapped_column(String(32), default="", server_default="")


class TxDeviceRow(Base):
    __tablename__ = "transaction_devices"
    tx: Mapped[str] = mapped_column(String(64), primary_key=True)
    device: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(32), default="pending")
    strategy: Mapped[str] = mapped_column(String(32), default="")
    before: Mapped[str] = mapped_column(Text, default="")  # the device's running config at lock time
    intended: Mapped[str] = mapped_column(Text, default="")
    reverse: Mapped[str] = mapped_column(Text, default="")
    error: Mapped[str] = mapped_column(Text, default="")
    # JSON: the ownership recorded for the store's record of the device when the transaction began
    # (a rollback gives it back with `before`); "" when none was (migration 0015)
    owners_before: Mapped[str] = mapped_column(Text, default="", server_default="")
    # JSON: the ownership the change carried for `intended` (recover records it with the config);
    # "" when it carried none (migration 0016)
    owners_intended: Mapped[str] = mapped_column(Text, default="", server_default="")


class AuditRow(Base):
    """Append-only (the database refuses UPDATE and DELETE, migration 0007)."""

    __tablename__ = "audit"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[str] = mapped_column(String(32), default=_now)
    action: Mapped[str] = mapped_column(String(32))
    # Indexed: a transaction's newest row is found by it, not by reading the trail back (0011).
    subject: Mapped[str] = mapped_column(Text, index=True)
    detail: Mapped[str] = mapped_column(Text, default="")
    actor: Mapped[str] = mapped_column(String(128), default="", index=True)
    origin: Mapped[str] = mapped_column(String(128), default="")


class UserRow(Base):
    __tablename__ = "users"
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    roles: Mapped[str] = mapped_column(String(128))  # space-separated
    password_hash: Mapped[str] = mapped_column(Text, default="")  # argon2id; empty: no password login
    disabled: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[str] = mapped_column(String(32), default=_now)


class TokenRow(Base):
    """An API or session token, kept as its sha256 only (tokens are 256 random bits: a fast hash
    suffices, unlike a password)."""

    __tablename__ = "api_tokens"
    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    user: Mapped[str] = mapped_column(String(64), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # api | session
    label: Mapped[str] = mapped_column(String(128), default="")
    created_at: Mapped[str] = mapped_column(String(32), default=_now)
    expires_at: Mapped[str] = mapped_column(String(32), default="")  # empty: never


class ChangeRow(Base):
    """A change request: intents planned into a bundle, lab evidence, approval, rollout."""

    __tablename__ = "change_requests"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    title: Mapped[str] = mapped_column(String(256))
    submitter: Mapped[str] = mapped_column(String(64))
    target: Mapped[str] = mapped_column(String(256))
    state: Mapped[str] = mapped_column(String(32))
    bundle_dir: Mapped[str] = mapped_column(Text, default="")
    bundle_id: Mapped[str] = mapped_column(String(64), default="")
    intents: Mapped[str] = mapped_column(Text, default="{}")  # JSON: file name → YAML text
    verification_id: Mapped[int | None] = mapped_column(Integer, default=None)
    approver: Mapped[str] = mapped_column(String(64), default="")
    error: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[str] = mapped_column(String(32), default=_now)
    updated_at: Mapped[str] = mapped_column(String(32), default=_now)


class ChangeDeviceRow(Base):
    """A change's device: its wave and the transaction that carries it (its live state is the
    transaction's record of the device)."""

    __tablename__ = "change_devices"
    change_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    device: Mapped[str] = mapped_column(String(64), primary_key=True)
    wave: Mapped[int] = mapped_column(Integer)
    tx: Mapped[str] = mapped_column(String(64), default="")


class ReachRow(Base):
    """How far a wave-by-wave change (a SpeedUpgrade) has got in one environment: the devices it
    has reached there (migration 0013; an empty environment: every environment's, as before)."""

    __tablename__ = "rollout_reach"
    intent: Mapped[str] = mapped_column(String(64), primary_key=True)
    environment: Mapped[str] = mapped_column(String(256), primary_key=True)
    device: Mapped[str] = mapped_column(String(64), primary_key=True)
    wave: Mapped[int] = mapped_column(Integer)
    tx: Mapped[str] = mapped_column(String(64))
    at: Mapped[str] = mapped_column(String(32), default=_now)


class SuspensionRow(Base):
    """A line's suspension: held (a policy covers the line), active (carried out), or ended; a
    held one ends as carried-out (an active row took its place) or withdrawn (resumed first, or
    its line deleted); an active one whose transaction was rolled back is rolled-back."""

    __tablename__ = "suspensions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    line: Mapped[str] = mapped_column(String(64), index=True)
    reason: Mapped[str] = mapped_column(String(32))
    # held | active | ended | carried-out | withdrawn | rolled-back
    state: Mapped[str] = mapped_column(String(16))
    policy: Mapped[str] = mapped_column(String(64), default="")
    due: Mapped[str] = mapped_column(String(32), default="")  # when a held one may be carried out
    asked_at: Mapped[str] = mapped_column(String(32))
    done_at: Mapped[str] = mapped_column(String(32), default="")
    tx: Mapped[str] = mapped_column(String(64), default="")


class ExecutorRow(Base):
    """A process running durable workflows (orchestrator/engine/): its heartbeat counter goes up
    while it lives; one that stops going up is dead, and another executor recovers its workflows
    (migration 0008)."""

    __tablename__ = "engine_executors"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    host: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int] = mapped_column(Integer)
    role: Mapped[str] = mapped_column(String(16))  # worker | command
    state: Mapped[str] = mapped_column(String(16))  # alive | stopped | dead
    beat: Mapped[int] = mapped_column(Integer, default=0)
    started_at: Mapped[str] = mapped_column(String(32), default=_now)
    beat_at: Mapped[str] = mapped_column(String(32), default=_now)
    recovered_by: Mapped[str] = mapped_column(String(64), default="")


class ConfigOwnersRow(Base):
    """Which services own each part of a device config, recorded by the plan that built it; drift
    reads the row whose config_sha is the sha256 of the config the device was last given."""

    __tablename__ = "config_owners"
    device: Mapped[str] = mapped_column(String(64), primary_key=True)
    config_sha: Mapped[str] = mapped_column(String(64), primary_key=True)
    owners: Mapped[str] = mapped_column(Text)  # JSON: data path → owning services
    planned_at: Mapped[str] = mapped_column(String(32), default=_now)


class PlanFragmentRow(Base):
    """A cache of the plan: one service's (or the device base's) rendered fragment on one device
    and the ownership nodes read from it, for the inputs whose sha256 is `key` (plan/fragcache.py;
    migration 0009). Never a source of truth: dropping every row only makes the next plan slower."""

    __tablename__ = "plan_fragments"
    device: Mapped[str] = mapped_column(String(64), primary_key=True)
    owner: Mapped[str] = mapped_column(String(64), primary_key=True)
    key: Mapped[str] = mapped_column(String(64))
    data: Mapped[bytes] = mapped_column(LargeBinary)  # fragcache.pack_piece: the text and its nodes


class PlanBuildRow(Base):
    """A cache of the plan: a device's whole build (intended config, edits, diff, ownership) for
    the inputs whose sha256 is `key` (its pieces' keys and the config the edit starts from)."""

    __tablename__ = "plan_builds"
    device: Mapped[str] = mapped_column(String(64), primary_key=True)
    key: Mapped[str] = mapped_column(String(64))
    data: Mapped[bytes] = mapped_column(LargeBinary)  # zlib of JSON


class PlacedOnRow(Base):
    """Which devices each stored service was placed on (the devices its placement gives variables
    for), as of the store state named by PlanStateRow: a plan places again only services on the
    devices it touches, and takes the others there as they stand (migration 0009)."""

    __tablename__ = "placed_on"
    service: Mapped[str] = mapped_column(String(64), primary_key=True)
    device: Mapped[str] = mapped_column(String(64), primary_key=True, index=True)


class LeftOnRow(Base):
    """A device a service's placement left (it was in placed_on, the next plan put the service
    elsewhere), kept while some environment's record of the device may still hold the service: a
    plan of the service rebuilds it (migration 0014)."""

    __tablename__ = "left_on"
    service: Mapped[str] = mapped_column(String(64), primary_key=True)
    device: Mapped[str] = mapped_column(String(64), primary_key=True)


class PlacementReadRow(Base):
    """Which other services each stored service's placement looked up by name (an FTTR service
    its line; a line the upgrades raising it), as of the same store state as placed_on: a plan
    that changes, creates or removes a service places its readers again wherever they are."""

    __tablename__ = "placement_reads"
    service: Mapped[str] = mapped_column(String(64), primary_key=True)
    reads: Mapped[str] = mapped_column(String(64), primary_key=True, index=True)


class PlanStateRow(Base):
    """The store state (network digest and counts of what placement reads) that placed_on is
    true for; any other state (a command that moved allocations or reach without planning, a new
    network) makes the next plan place every service again and write placed_on anew."""

    __tablename__ = "plan_state"
    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class PlanPlacementRow(Base):
    """Each stored service's last placement as a plan shows it (resources, devices, warnings),
    packed, with its sha256: what a plan recalls instead of placing again when the store is as
    the last plan left it (plan/recall.py; migration 0010)."""

    __tablename__ = "plan_placements"
    service: Mapped[str] = mapped_column(String(64), primary_key=True)
    digest: Mapped[str] = mapped_column(String(64))
    data: Mapped[bytes] = mapped_column(LargeBinary)  # JSON of fragcache.exact, uncompressed (a few hundred bytes)


# Tables any plan writes from the rest of the store (what it built and how it placed): no
# state of a service or a device, so "nothing changed" compares the store without them.
DERIVED_TABLES = tuple(r.__tablename__ for r in (ConfigOwnersRow, PlanFragmentRow, PlanBuildRow, PlacedOnRow, LeftOnRow,
                                                 PlacementReadRow, PlanStateRow, PlanPlacementRow))


class PendingRemovalRow(Base):
    """A service whose removal is planned and not yet applied: it keeps its intent and its
    allocations until a transaction takes its config off the devices (migration 0004)."""

    __tablename__ = "pending_removals"
    service: Mapped[str] = mapped_column(String(64), primary_key=True)
    devices: Mapped[str] = mapped_column(Text)  # JSON list: where its config still is
    planned_at: Mapped[str] = mapped_column(String(32), default=_now)


class TxServiceRow(Base):
    """What a committed transaction did to a service: its state before and after (JSON of the
    intent, allocations and overlay reach; null: absent), so rollback returns the service too."""

    __tablename__ = "transaction_services"
    __table_args__ = (UniqueConstraint("tx", "service"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)  # the order they were written
    tx: Mapped[str] = mapped_column(String(64), index=True)
    service: Mapped[str] = mapped_column(String(64), index=True)
    before: Mapped[str] = mapped_column(Text)
    after: Mapped[str] = mapped_column(Text)


def _insert(s: Session, model, rows: list[dict]) -> None:
    """rows into model's table in one executemany, past the ORM's bulk path: that path handles
    each row in Python, which took as long as the database itself at 100,000 rows. Rows whose
    keys differ go by the ORM, which groups them."""
    if not rows:
        return
    keys = rows[0].keys()
    if all(r.keys() == keys for r in rows):
        s.execute(model.__table__.insert(), rows)
    else:
        s.execute(insert(model), rows)


def _private(path: Path) -> bool:
    """A new SQLite store is made readable by its owner only (it holds password and token hashes
    and the devices' configs); SQLite gives its -wal and -shm files the database file's mode.
    Whether this made the file."""
    try:
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
        return True
    except FileExistsError:
        return False
    except OSError:
        return False  # not ours to make (a read-only folder): SQLite says so, named, when it opens it


def shown_url(url: str) -> str:
    """The store's URL as it may be printed: a password in it masked (postgresql://u:***@host/db)."""
    return _QUERY_PASSWORD.sub(r"\1***", _URL_PASSWORD.sub(r"\1***@", url))


_URL_PASSWORD = re.compile(r"(://[^/:@]*:)[^@/]*@")
_QUERY_PASSWORD = re.compile(r"([?&](?:ssl)?password=)[^&#]*", re.IGNORECASE)  # libpq's own parameters


class DeviceRecords(Mapping):
    """device → DeviceConfigRow of one environment (Store.device_records)."""

    def __init__(self, s: Session, environment: str):
        self.s, self.environment = s, environment
        self.names = set(s.scalars(select(DeviceConfigRow.device).where(DeviceConfigRow.environment == environment)))
        self.rows: dict[str, DeviceConfigRow] = {}

    def __getitem__(self, device: str) -> DeviceConfigRow:
        if device not in self.names:
            raise KeyError(device)
        if device not in self.rows:
            self.rows[device] = self.s.get(DeviceConfigRow, (self.environment, device))
        return self.rows[device]

    def __contains__(self, device) -> bool:
        return device in self.names

    def __iter__(self):
        return iter(sorted(self.names))

    def __len__(self) -> int:
        return len(self.names)


class Store:
    def __init__(self, url: str, create: bool = True, lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
                 command: str = "fullbars", say=None):
        """create=False: a SQLite file that does not exist yet is not made; the store is empty.
        lock_timeout: seconds a writer waits for another to finish. say: where the one-line
        notices (waiting for the lock, schema upgraded) go; stderr by default."""
        self.url = url
        self.shown = shown_url(url)  # for what is printed: its password masked
        self.missing = False  # create=False and no SQLite file there: an empty store stands in
        self.made: list[Path] = []  # the SQLite file and folders this opening created (discard_new)
        path = None
        if url.startswith("sqlite:///") and not url.startswith("sqlite:///:memory:"):
            if not create and not Path(url[len("sqlite:///"):]).exists():
                url, self.missing = "sqlite://", True
            else:
                path = Path(url[len("sqlite:///"):])
                self.made = [d for d in reversed(path.parent.parents) if not d.exists()]
                self.made += [path.parent] if not path.parent.exists() else []
                path.parent.mkdir(parents=True, exist_ok=True)
                self.made = self.made + [path] if _private(path) else []
        try:
            self.engine = create_engine(url, **lock.engine_args(url, command))
        except Exception as exc:
            raise FullbarsError(f"cannot use database URL {shown_url(url)!r}: {exc}",
                                fix="give a SQLAlchemy URL such as sqlite:///path/store.db "
                                    "or postgresql://user@host/db") from None
        if self.engine.dialect.name == "sqlite":
            @event.listens_for(self.engine, "connect")
            def _pragmas(conn, _):
                conn.isolation_level = None  # pysqlite must not BEGIN by itself: StoreLock begins
                cur = conn.cursor()
                cur.execute("PRAGMA journal_mode=WAL")
                cur.execute("PRAGMA synchronous=NORMAL")
                cur.close()
        self.lock = lock.StoreLock(self.engine, path, lock_timeout, command, say)
        try:
            self.lock.opening(lambda: schema.upgrade(self))
        except DatabaseError as exc:  # also a file that is no SQLite database
            raise FullbarsError(f"cannot open the store at {shown_url(url)}: {exc.orig}",
                                fix="check the path or URL and its permissions (--db, FULLBARS_DB)") from None

    def discard_new(self) -> None:
        """A command refused whose opening made this SQLite store: take the file (and the folders
        made for it) away again, unless something has been written to it since."""
        if not self.made:
            return
        with self.engine.connect() as c:
            if any(c.execute(select(func.count()).select_from(t)).scalar() for t in Base.metadata.sorted_tables):
                return
        self.engine.dispose()
        path = self.made[-1]
        for f in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm"),
                  path.with_name(path.name + ".holder")):
            f.unlink(missing_ok=True)
        for d in reversed(self.made[:-1]):
            with contextlib.suppress(OSError):
                d.rmdir()  # only while empty
        self.made = []

    @contextlib.contextmanager
    def transaction(self, keep: bool = True, write: bool = True):
        """All or nothing: an exception inside rolls back every write; keep=False rolls back
        always (a trial run: everything a command would do, nothing kept). write=False: a
        read-only look that neither waits for nor blocks a writer."""
        try:
            with Session(self.engine, expire_on_commit=False) as s:
                with s.begin() as tx:
                    with self.lock.held(s.connection(), write):
                        yield s
                        if not keep:
                            tx.rollback()
                        else:
                            s.flush()  # constraint violations surface while the lock is held
        except IntegrityError as exc:
            raise FullbarsError(f"the store refused a duplicate: {exc.orig}",
                                fix="nothing was kept; run the command again, and report it as a bug "
                                    "if it repeats (fullbars should have caught this earlier)") from None

    # Plain reads and writes used by several commands; kept here so SQL lives in one place.
    @staticmethod
    def intents(s: Session) -> dict[str, IntentRow]:
        return {r.name: r for r in s.scalars(select(IntentRow))}

    @staticmethod
    def intent_records(s: Session, names=None, kind: str | None = None) -> list:
        """The intents' columns as plain tuples (name, kind, spec, digest, source, parent,
        created_at), a fraction of the cost of ORM objects for a large store: of these names (by
        the primary key), of this kind, or every intent."""
        query = select(IntentRow.name, IntentRow.kind, IntentRow.spec, IntentRow.digest, IntentRow.source,
                       IntentRow.parent, IntentRow.created_at)
        if names is None:
            return list(s.execute(query if kind is None else query.where(IntentRow.kind == kind)))
        out: list = []
        for chunk in _chunks(sorted(names)):
            out += s.execute(query.where(IntentRow.name.in_(chunk)))
        return out

    @staticmethod
    def children(s: Session, parents) -> list[tuple[str, str]]:
        """(name, parent) of the intents expanded from these, by name."""
        out: list = []
        for chunk in _chunks(sorted(parents)):
            out += s.execute(select(IntentRow.name, IntentRow.parent).where(IntentRow.parent.in_(chunk)))
        return sorted(out)

    @staticmethod
    def intent_rows(s: Session, names) -> dict[str, IntentRow]:
        """The ORM rows of these intents, to update or delete."""
        out: dict[str, IntentRow] = {}
        for chunk in _chunks(sorted(names)):
            out.update((r.name, r) for r in s.scalars(select(IntentRow).where(IntentRow.name.in_(chunk))))
        return out

    @staticmethod
    def serial_holders(s: Session, serials) -> list[tuple[str, str]]:
        """(service, ONU serial) of the stored services expecting these serials (by the unique index)."""
        out = []
        for chunk in _chunks(sorted(serials)):
            out += list(s.execute(select(IntentRow.name, IntentRow.onu_serial).where(IntentRow.onu_serial.in_(chunk))))
        return out

    @staticmethod
    def allocations(s: Session) -> list[tuple[str, str, str, str]]:
        return list(s.execute(select(AllocationRow.pool, AllocationRow.value, AllocationRow.owner,
                                     AllocationRow.purpose)))

    @staticmethod
    def values_held(s: Session, pool: str, values) -> list[tuple[str, str]]:
        """(value, owner) of these values of one pool that are held (by the unique pool and value)."""
        out = []
        for chunk in _chunks(sorted(values)):
            out += list(s.execute(select(AllocationRow.value, AllocationRow.owner)
                                  .where(AllocationRow.pool == pool, AllocationRow.value.in_(chunk))))
        return out

    @staticmethod
    def pool_values(s: Session, pool: str) -> list[tuple[str, str]]:
        """(value, owner) of every value held from one pool."""
        return list(s.execute(select(AllocationRow.value, AllocationRow.owner).where(AllocationRow.pool == pool)))

    @staticmethod
    def allocations_of(s: Session, owners) -> list[tuple[str, str, str, str]]:
        """(pool, value, owner, purpose) of these owners (by the owner index)."""
        return _allocations_where(s, AllocationRow.owner, owners)

    @staticmethod
    def allocations_in(s: Session, pools) -> list[tuple[str, str, str, str]]:
        """(pool, value, owner, purpose) of these pools (by the pool index)."""
        return _allocations_where(s, AllocationRow.pool, pools)

    @staticmethod
    def add_allocations(s: Session, rows: list[dict]) -> None:
        if rows:
            _insert(s, AllocationRow, rows)

    @staticmethod
    def free_allocations(s: Session, owner: str, purposes: list[str] | None = None) -> None:
        q = delete(AllocationRow).where(AllocationRow.owner == owner)
        if purposes is not None:
            q = q.where(AllocationRow.purpose.in_(purposes))
        s.execute(q)

    @staticmethod
    def save_network(s: Session, source: str, text: str, digest: str) -> None:
        row = s.get(NetworkRow, 1)
        if row is None:
            s.add(NetworkRow(id=1, source=source, text=text, digest=digest))
        elif row.digest != digest or row.source != source:
            row.source, row.text, row.digest, row.updated_at = source, text, digest, _now()

    @staticmethod
    def network(s: Session) -> NetworkRow | None:
        return s.get(NetworkRow, 1)

    @staticmethod
    def environments(s: Session) -> set[str]:
        """Every environment the store knows of: described, given configs, or applied to."""
        return set(s.scalars(select(EnvironmentRow.name))) | \
            set(s.scalars(select(DeviceConfigRow.environment).distinct())) | \
            set(s.scalars(select(TransactionRow.target).distinct()))

    @staticmethod
    def device_configs(s: Session, environment: str, devices=None) -> dict[str, DeviceConfigRow]:
        """What each device (or each of `devices`) was last given in one environment."""
        q = select(DeviceConfigRow).where(DeviceConfigRow.environment == environment)
        if devices is None:
            return {r.device: r for r in s.scalars(q)}
        out = {}
        for chunk in _chunks(sorted(devices)):
            out.update((r.device, r) for r in s.scalars(q.where(DeviceConfigRow.device.in_(chunk))))
        return out

    @staticmethod
    def device_records(s: Session, environment: str) -> "DeviceRecords":
        """device_configs of the whole environment, each config read when first asked for: a plan
        that touches 2 devices of 100 reads their names, and 2 configs."""
        return DeviceRecords(s, environment)

    @staticmethod
    def first_before(s: Session, environment: str, device: str) -> str | None:
        """What the device ran before the first committed transaction there gave it anything
        (read at lock time); None when none committed on it."""
        return s.scalars(select(TxDeviceRow.before).join(TransactionRow, TransactionRow.id == TxDeviceRow.tx)
                         .where(TransactionRow.target == environment, TransactionRow.state == "committed",
                                TxDeviceRow.device == device)
                         .order_by(TransactionRow.created_at).limit(1)).first()

    @staticmethod
    def config_shas(s: Session, devices) -> dict[str, dict[str, str]]:
        """Per device, per environment, the sha256 of what the device was last given there."""
        out: dict[str, dict[str, str]] = {}
        for env, dev, config in s.execute(select(DeviceConfigRow.environment, DeviceConfigRow.device,
                                                 DeviceConfigRow.config)
                                          .where(DeviceConfigRow.device.in_(list(devices)))):
            out.setdefault(dev, {})[env] = config_sha(config)
        return out

    @staticmethod
    def reach(s: Session, environment: str | None = None) -> dict[str, set[str]]:
        """change → the devices its waves have reached; in one environment (the target of the
        transactions that reached them) when one is named: a lab's rollout reaches no production
        device."""
        out: dict[str, set[str]] = {}
        for r in s.scalars(_in_environment(select(ReachRow), environment)):
            out.setdefault(r.intent, set()).add(r.device)
        return out

    @staticmethod
    def reach_by_environment(s: Session) -> dict[str, dict[str, set[str]]]:
        """change → environment → the devices its waves have reached there ("": recorded before
        reach was kept per environment, so in every one)."""
        out: dict[str, dict[str, set[str]]] = {}
        for r in s.scalars(select(ReachRow)):
            out.setdefault(r.intent, {}).setdefault(r.environment, set()).add(r.device)
        return out

    @staticmethod
    def forget_reach(s: Session, intent: str) -> None:
        s.execute(delete(ReachRow).where(ReachRow.intent == intent))

    @staticmethod
    def suspended(s: Session) -> set[str]:
        return set(s.scalars(select(SuspensionRow.line).where(SuspensionRow.state == "active")))


    @staticmethod
    def save_owners(s: Session, device: str, config: str, owners: dict, keep: set[str] = frozenset(),
                    text: str | None = None) -> None:
        """The ownership of one planned config (text: as JSON already, as a build packs it); a
        device keeps only it and those of the configs in `keep` (what it was last given), so
        planning again does not grow the table."""
        sha = config_sha(config)
        s.execute(delete(ConfigOwnersRow).where(ConfigOwnersRow.device == device,
                                                ConfigOwnersRow.config_sha.not_in(keep | {sha})))
        if s.get(ConfigOwnersRow, (device, sha)) is None:  # (inserted, not added: the session would hold the text)
            _insert(s, ConfigOwnersRow, [{"device": device, "config_sha": sha,
                                          "owners": text if text is not None else
                                          json.dumps(owners, separators=(",", ":"))}])

    @staticmethod
    def owners_texts(s: Session, configs: dict[str, str]) -> dict[str, str]:
        """device → the ownership (JSON, as stored) of the config given, where one is recorded."""
        want = {dev: config_sha(config) for dev, config in configs.items()}
        out = {}
        for chunk in _chunks(sorted(want)):
            for dev, sha, text in s.execute(select(ConfigOwnersRow.device, ConfigOwnersRow.config_sha,
                                                   ConfigOwnersRow.owners).where(ConfigOwnersRow.device.in_(chunk))):
                if want[dev] == sha:
                    out[dev] = text
        return out

    @staticmethod
    def keep_owners(s: Session, device: str, config: str, text: str) -> None:
        """The ownership of a config a device was given, where the store holds none for it."""
        sha = config_sha(config)
        if s.get(ConfigOwnersRow, (device, sha)) is None:
            _insert(s, ConfigOwnersRow, [{"device": device, "config_sha": sha, "owners": text}])

    @staticmethod
    def owners(s: Session, device: str, config: str) -> dict[str, list[str]] | None:
        return Store.owners_at(s, device, config_sha(config))

    @staticmethod
    def owners_at(s: Session, device: str, sha: str) -> dict[str, list[str]] | None:
        row = s.get(ConfigOwnersRow, (device, sha))
        return None if row is None else json.loads(row.owners)

    @staticmethod
    def audit(s: Session, action: str, subject: str, detail: dict | str = "") -> None:
        """Who acts is whoever the face set (orchestrator.acting): the local user for the CLI."""
        from orchestrator.acting import current

        who = current()
        s.add(AuditRow(action=action, subject=subject, actor=who.name, origin=who.origin,
                       detail=detail if isinstance(detail, str) else json.dumps(detail, sort_keys=True)))

    @staticmethod
    def audit_many(s: Session, entries: list[tuple[str, str]]) -> None:
        """(action, subject) of each, with no detail, in one statement: a plan of 100,000 new
        lines writes as many rows, which the session's unit of work would build one by one."""
        from orchestrator.acting import current

        if entries:
            who, at = current(), _now()
            _insert(s, AuditRow, [{"action": a, "subject": sub, "actor": who.name, "origin": who.origin,
                                   "detail": "", "at": at} for a, sub in entries])

    @staticmethod
    def add_intents(s: Session, rows: list[dict]) -> None:
        """New intent rows (IntentRow's columns) in one statement, not as session objects."""
        if rows:
            at = _now()
            _insert(s, IntentRow, [{"created_at": at, "updated_at": at} | r for r in rows])

    @staticmethod
    def plan_cache(s: Session, devices) -> tuple[dict[str, dict[str, tuple[str, bytes]]], dict[str, tuple[str, bytes]]]:
        """What the plan caches hold for these devices: (device → owner → (key, data) of its
        fragments, device → (key, data) of its build)."""
        devices = sorted(devices)
        frags: dict[str, dict[str, tuple[str, bytes]]] = {d: {} for d in devices}
        for chunk in _chunks(devices):
            for dev, owner, key, data in s.execute(select(PlanFragmentRow.device, PlanFragmentRow.owner,
                                                          PlanFragmentRow.key, PlanFragmentRow.data)
                                                   .where(PlanFragmentRow.device.in_(chunk))):
                frags[dev][owner] = (key, data)
        return frags, Store.plan_builds(s, devices)

    @staticmethod
    def plan_builds(s: Session, devices) -> dict[str, tuple[str, bytes]]:
        """device → (key, data) of the kept builds of these devices."""
        out: dict[str, tuple[str, bytes]] = {}
        for chunk in _chunks(sorted(devices)):
            out.update((dev, (key, data)) for dev, key, data in s.execute(
                select(PlanBuildRow.device, PlanBuildRow.key, PlanBuildRow.data).where(PlanBuildRow.device.in_(chunk))))
        return out

    @staticmethod
    def save_plan_cache(s: Session, device: str, had: dict[str, tuple[str, bytes]], pieces: dict,
                        build: tuple[str | None, bytes | None], had_build: tuple[str, bytes] | None) -> None:
        """Keep one device's fragments (owner → (key, data); key None: not cacheable) and build,
        writing only what differs from what the caches had."""
        stale = [o for o, (k, _) in had.items() if o not in pieces or pieces[o][0] != k]
        for chunk in _chunks(stale):
            s.execute(delete(PlanFragmentRow).where(PlanFragmentRow.device == device, PlanFragmentRow.owner.in_(chunk)))
        fresh = [{"device": device, "owner": o, "key": k, "data": d} for o, (k, d) in pieces.items()
                 if k is not None and (o not in had or had[o][0] != k)]
        if fresh:
            _insert(s, PlanFragmentRow, fresh)
        key, data = build
        if had_build is not None and had_build[0] != key:
            s.execute(delete(PlanBuildRow).where(PlanBuildRow.device == device))
        if key is not None and data is not None and (had_build is None or had_build[0] != key):
            _insert(s, PlanBuildRow, [{"device": device, "key": key, "data": data}])  # not held by the session

    @staticmethod
    def placement_state(s: Session, network_digest: str, environment: str | None = None) -> str:
        """What placement depends on beyond the intents a plan is given, in a few indexed reads;
        the rollouts' reach as far as the plan's environment has it."""
        s.flush()
        # One aggregate per statement: SQLite then counts from its smallest index and finds a
        # latest by its index, where a count and a max together read every row (at 100,000
        # intents and 500,000 allocations, 5 ms instead of 40, in every plan).
        parts = [network_digest]
        for table, latest in ((IntentRow, IntentRow.updated_at), (AllocationRow, AllocationRow.id),
                              (ReachRow, ReachRow.at), (PendingRemovalRow, None)):
            where = (lambda q: _in_environment(q, environment)) if table is ReachRow else (lambda q: q)
            parts.append(s.execute(where(select(func.count()).select_from(table))).scalar_one())
            if latest is not None:
                parts.append(s.execute(where(select(func.max(latest)).select_from(table))).scalar_one())
        row = s.get(PlanStateRow, "generation")
        if row is not None:  # none before the first rollback: a store's state reads as before
            parts.append(row.value)
        return json.dumps(parts)

    @staticmethod
    def bump_generation(s: Session) -> None:
        """A write placement reads that no plan made (a rollback putting a service back as it was):
        the placement state changes with it, whatever the counts and latest values then say (a
        restored intent keeps its old update time, and the counts may come back equal)."""
        row = s.get(PlanStateRow, "generation")
        Store._set_state(s, "generation", str(int(row.value) + 1 if row else 1))

    @staticmethod
    def placed_state(s: Session) -> str | None:
        row = s.get(PlanStateRow, "placed_on")
        return None if row is None else row.value

    @staticmethod
    def services_on_each(s: Session, devices) -> dict[str, dict[str, tuple[str, str]]]:
        """device → {service: (kind, digest)} of the services placed on it, for these devices."""
        out: dict[str, dict[str, tuple[str, str]]] = {d: {} for d in devices}
        for chunk in _chunks(sorted(devices)):
            for service, device, kind, digest in s.execute(
                    select(PlacedOnRow.service, PlacedOnRow.device, IntentRow.kind, IntentRow.digest)
                    .join(IntentRow, IntentRow.name == PlacedOnRow.service).where(PlacedOnRow.device.in_(chunk))):
                out[device][service] = (kind, digest)
        return out

    @staticmethod
    def devices_of(s: Session, services) -> set[str]:
        return _placed_pairs(s, PlacedOnRow.device, PlacedOnRow.service, services)

    @staticmethod
    def placed_on_each(s: Session, services) -> dict[str, set[str]]:
        """service → the devices placed_on has it on, for these services."""
        return _grouped(s, PlacedOnRow.service, PlacedOnRow.device, services)

    @staticmethod
    def readers_by(s: Session, services) -> dict[str, set[str]]:
        """service → the services whose placement looked it up, for these services."""
        return _grouped(s, PlacementReadRow.reads, PlacementReadRow.service, services)

    @staticmethod
    def readers_of(s: Session, services) -> set[str]:
        """The services whose placement looked up any of these by name."""
        return _placed_pairs(s, PlacementReadRow.service, PlacementReadRow.reads, services)

    @staticmethod
    def save_placed(s: Session, placed: dict[str, list[str]], reads: dict[str, set[str]], gone,
                    whole: bool) -> None:
        """placed: service → its devices, of the services this plan placed; reads: service → the
        services its placement looked up; gone: services no longer placed anywhere. whole: placed
        holds every service (placed_on and placement_reads are written anew)."""
        if whole:
            s.execute(delete(PlacementReadRow))
        else:
            for chunk in _chunks(sorted(set(reads) | set(gone))):
                s.execute(delete(PlacementReadRow).where(PlacementReadRow.service.in_(chunk)))
        rows = [{"service": svc, "reads": r} for svc, names in reads.items() for r in sorted(names)]
        if rows:
            _insert(s, PlacementReadRow, rows)
        had: dict[str, set[str]] = {}
        if whole:
            for svc, dev in s.execute(select(PlacedOnRow.service, PlacedOnRow.device)):
                had.setdefault(svc, set()).add(dev)
            s.execute(delete(PlacedOnRow))
        else:
            for chunk in _chunks(sorted(set(placed) | set(gone))):
                for svc, dev in s.execute(select(PlacedOnRow.service, PlacedOnRow.device)
                                          .where(PlacedOnRow.service.in_(chunk))):
                    had.setdefault(svc, set()).add(dev)
        for svc in gone:
            if had.get(svc) and not whole:
                s.execute(delete(PlacedOnRow).where(PlacedOnRow.service == svc))
        rows, left = [], []
        for svc, devs in placed.items():
            old, new = had.get(svc, set()), set(devs)
            if old - new:
                if not whole:
                    s.execute(delete(PlacedOnRow).where(PlacedOnRow.service == svc,
                                                        PlacedOnRow.device.in_(sorted(old - new))))
                left += [(svc, d) for d in sorted(old - new)]
            rows += [{"service": svc, "device": d} for d in sorted(new if whole else new - old)]
        if rows:
            _insert(s, PlacedOnRow, rows)
        Store.keep_left(s, left)

    @staticmethod
    def keep_left(s: Session, left: list[tuple[str, str]]) -> None:
        """(service, device) pairs a later plan of the service rebuilds while a record of the
        device may hold it: where a move's placement left, or where a rollback gave a device
        back a config of the service (rare), past those already kept."""
        if left:
            known = set(s.execute(select(LeftOnRow.service, LeftOnRow.device)
                                  .where(LeftOnRow.service.in_(sorted({v for v, _ in left})))).all())
            _insert(s, LeftOnRow, [{"service": v, "device": d} for v, d in set(left) if (v, d) not in known])

    @staticmethod
    def left_on(s: Session, services) -> dict[str, set[str]]:
        """device → the given services whose placements left it."""
        out: dict[str, set[str]] = {}
        for chunk in _chunks(sorted(services)):
            for svc, dev in s.execute(select(LeftOnRow.service, LeftOnRow.device).where(LeftOnRow.service.in_(chunk))):
                out.setdefault(dev, set()).add(svc)
        return out

    @staticmethod
    def forget_left(s: Session, device: str, services) -> None:
        s.execute(delete(LeftOnRow).where(LeftOnRow.device == device, LeftOnRow.service.in_(sorted(services))))

    @staticmethod
    def mark_placed(s: Session, network_digest: str, environment: str | None = None) -> str:
        """placed_on is now true for the store as this plan leaves it; returns that state."""
        state = Store.placement_state(s, network_digest, environment)
        Store._set_state(s, "placed_on", state)
        Store._set_state(s, "placed_for", json.dumps([network_digest, environment]))
        return state

    @staticmethod
    @contextlib.contextmanager
    def placed_through(s: Session):
        """A write no plan makes that leaves every other service's placement as it is (a removal
        applied: the service's rows and values go): placed_on, true before it, stays true after, so
        the next plan does not place the whole store again for it."""
        was, made_for = Store.placed_state(s), s.get(PlanStateRow, "placed_for")
        digest, environment = json.loads(made_for.value) if made_for is not None else (None, None)
        current = was is not None and digest is not None and \
            was == Store.placement_state(s, digest, environment)
        yield
        if current:
            Store.mark_placed(s, digest, environment)

    @staticmethod
    def _set_state(s: Session, name: str, value: str) -> None:
        row = s.get(PlanStateRow, name)
        if row is None:
            s.add(PlanStateRow(name=name, value=value))
        else:
            row.value = value

    @staticmethod
    def active_suspensions(s: Session) -> list[int]:
        return sorted(s.scalars(select(SuspensionRow.id).where(SuspensionRow.state == "active")))

    @staticmethod
    def newest_applied(s: Session) -> str | None:
        """The environment of the newest committed transaction: what a plan is computed against when
        it names none (so a store used with one environment plans as it always did)."""
        # the audit row written with each outcome orders them (timestamps have one-second steps);
        # each transaction's newest is found by subject: the trail, which only grows, is not read
        newest = (select(func.max(AuditRow.id)).where(AuditRow.subject == TransactionRow.id)
                  .correlate(TransactionRow).scalar_subquery())
        return s.scalars(select(TransactionRow.target).where(TransactionRow.state == "committed", newest.is_not(None))
                         .order_by(newest.desc()).limit(1)).first()

    @staticmethod
    def recall_record(s: Session) -> dict | None:
        """What the last plan left for the next to recall (plan/recall.py), or None."""
        row = s.get(PlanStateRow, "recall")
        return None if row is None else json.loads(row.value)

    @staticmethod
    def save_recall_record(s: Session, record: dict | None) -> None:
        if record is None:
            s.execute(delete(PlanStateRow).where(PlanStateRow.name == "recall"))
        else:
            Store._set_state(s, "recall", json.dumps(record, sort_keys=True))

    @staticmethod
    def suspended_as_placed(s: Session) -> set[str] | None:
        """The services whose kept placement (plan_placements) was made while they were suspended;
        None: not recorded yet (a store planned by an older release)."""
        row = s.get(PlanStateRow, "suspended-as-placed")
        return None if row is None else set(json.loads(row.value))

    @staticmethod
    def save_suspended_as_placed(s: Session, names: set[str]) -> None:
        Store._set_state(s, "suspended-as-placed", json.dumps(sorted(names)))

    @staticmethod
    def all_placements(s: Session) -> list[tuple[str, bytes]]:
        return list(s.execute(select(PlanPlacementRow.service, PlanPlacementRow.data)))

    @staticmethod
    def placement_digests(s: Session, services) -> dict[str, str]:
        return _by_key(s, PlanPlacementRow.service, PlanPlacementRow.digest, services)

    @staticmethod
    def placements(s: Session, services) -> dict[str, bytes]:
        return _by_key(s, PlanPlacementRow.service, PlanPlacementRow.data, services)

    @staticmethod
    def save_placements(s: Session, fresh: dict[str, tuple[str, bytes]], gone, whole: bool) -> None:
        """fresh: service → (digest, data) of the placements that differ from the kept ones; gone:
        services no longer placed. whole: every service was placed (the others are gone too)."""
        if whole:
            keep = set(fresh) | set(s.scalars(select(IntentRow.name)))
            gone = set(gone) | (set(s.scalars(select(PlanPlacementRow.service))) - keep)
        for chunk in _chunks(sorted(set(gone) | set(fresh))):
            s.execute(delete(PlanPlacementRow).where(PlanPlacementRow.service.in_(chunk)))
        rows = [{"service": n, "digest": d, "data": b} for n, (d, b) in fresh.items()]
        for chunk in _chunks(rows, 5000):
            _insert(s, PlanPlacementRow, chunk)

    @staticmethod
    def intent_meta(s: Session, names) -> dict[str, tuple[str, str, str | None]]:
        """name → (kind, digest, parent) of these intents, by the primary key."""
        out: dict[str, tuple[str, str, str | None]] = {}
        for chunk in _chunks(sorted(names)):
            out.update((n, (k, d, p)) for n, k, d, p in s.execute(
                select(IntentRow.name, IntentRow.kind, IntentRow.digest, IntentRow.parent)
                .where(IntentRow.name.in_(chunk))))
        return out


def _grouped(s: Session, by, want, values) -> dict[str, set[str]]:
    """by's value → the set of want's values in the rows where by is one of `values`."""
    out: dict[str, set[str]] = {}
    for chunk in _chunks(sorted(values)):
        for key, value in s.execute(select(by, want).where(by.in_(chunk))):
            out.setdefault(key, set()).add(value)
    return out


def _placed_pairs(s: Session, want, by, values) -> set[str]:
    out: set[str] = set()
    for chunk in _chunks(sorted(values)):
        out.update(s.scalars(select(want).where(by.in_(chunk))))
    return out


def _by_key(s: Session, key, value, keys) -> dict:
    out: dict = {}
    for chunk in _chunks(sorted(keys)):
        out.update(s.execute(select(key, value).where(key.in_(chunk))).all())
    return out


def _allocations_where(s: Session, column, values) -> list[tuple[str, str, str, str]]:
    cols = (AllocationRow.pool, AllocationRow.value, AllocationRow.owner, AllocationRow.purpose)
    out = []
    for chunk in _chunks(sorted(values)):
        out += s.execute(select(*cols).where(column.in_(chunk))).all()
    return out


def _chunks(items: list, size: int = 500):
    """An IN list stays under the database's limit on bound parameters."""
    for i in range(0, len(items), size):
        yield items[i:i + size]
