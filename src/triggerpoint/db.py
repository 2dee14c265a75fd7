"""Database engine, sessions, tenancy and the declarative base.

Three rules are enforced here, in one place, rather than endpoint by endpoint:

* **Durability.** SQLite runs in WAL mode with `synchronous=FULL`, foreign keys on and a busy
  timeout, so a commit that returned is on disk even if the process is killed.
* **Clinic isolation.** A session carries the clinic it acts for (`session.info["clinic_id"]`).
  Every ORM SELECT, UPDATE and DELETE then gets `clinic_id = :clinic` added for every
  tenant-owned table, and every flush and ORM bulk INSERT refuses tenant rows of another
  clinic. A route cannot forget the filter.
* **Fair writes on SQLite.** Writers of one database file queue in arrival order on a
  process-wide `WriteQueue` instead of racing through the busy timeout (which stays as the
  fallback against other processes). Read-only sessions (`read_only=True`: GET/HEAD
  requests) begin DEFERRED with `PRAGMA query_only`, never wait for a writer, and hand the
  writes a read must make (its audit events, a session's sliding expiry) to `defer_write`:
  they run in one short write transaction right after the read commits.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, cast

from sqlalchemy import (
    Connection,
    CursorResult,
    DateTime,
    Engine,
    ForeignKey,
    Integer,
    MetaData,
    Result,
    Table,
    create_engine,
    event,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.orm import (
    DeclarativeBase,
    Mapped,
    ORMExecuteState,
    Session,
    declared_attr,
    mapped_column,
    sessionmaker,
    with_loader_criteria,
)
from sqlalchemy.types import TypeDecorator

from triggerpoint.config import get_settings

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


def upsert_add(
    conn: Connection,
    table: Table,
    rows: Sequence[Mapping[str, Any]],
    *,
    keys: Sequence[str],
    add: Sequence[str],
    replace: Sequence[str] = (),
) -> None:
    """Insert `rows`; a row whose `keys` exist already adds its `add` columns to the stored
    ones and overwrites its `replace` columns (INSERT ... ON CONFLICT DO UPDATE, on SQLite and
    PostgreSQL): one atomic statement, so concurrent writers both count. The caller passes
    the rows in key order (one lock order) and each key once."""
    if not rows:
        return
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    stmt = dialect.insert(table)
    c, new = table.c, stmt.excluded
    stmt = stmt.on_conflict_do_update(
        index_elements=[c[k] for k in keys],
        set_={**{a: c[a] + new[a] for a in add}, **{r: new[r] for r in replace}},
    )
    conn.execute(stmt, list(rows))


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC timestamps on both engines (SQLite stores naive values)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime; use timezone-aware UTC")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UTCDateTime}  # noqa: RUF012 - read by SQLAlchemy
    if TYPE_CHECKING:
        # Every model maps a Table (none a join or a select), so `Model.__table__` is one:
        # SQLAlchemy types it as any FromClause, which insert()/update()/delete() refuse.
        __table__: ClassVar[Table]


class TenantMixin:
    """Rows owned by one clinic. Reads and writes are confined to the session's clinic."""

    clinic_id: Mapped[int] = mapped_column(ForeignKey("clinic.id", ondelete="RESTRICT"), index=True)


class Versioned:
    """Optimistic locking: UPDATE ... WHERE version = :seen, so a stale edit changes nothing."""

    version: Mapped[int] = mapped_column(Integer, default=1)

    @declared_attr.directive
    def __mapper_args__(cls) -> dict[str, object]:
        return {"version_id_col": cast("type[Base]", cls).__table__.c.version}  # mixed into Base


def rowcount(result: Result[Any]) -> int:
    """The rows an UPDATE or DELETE matched. `Session.execute` returns a CursorResult for
    them but is typed as returning any Result, which has no rowcount."""
    return cast("CursorResult[Any]", result).rowcount


class IsolationError(PermissionError):
    """A write that would put or move a row into another clinic."""


def database_url() -> str:
    settings = get_settings()
    if settings.database_url:
        return settings.database_url
    return f"sqlite:///{(settings.data_dir / 'triggerpoint.sqlite3').resolve()}"


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=FULL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.close()


# Execution option of a connection that only reads, for a long time (a research export job):
# on SQLite it begins deferred like any read-only work, so under WAL it reads one snapshot
# without holding the write lock, and the app's writers (and the job's progress) go on.
SNAPSHOT_READER = "triggerpoint_snapshot_reader"


WRITE_WAIT_SECONDS = 10.0  # as long as the busy timeout: then the writer gives up
READ_ONLY = "tp_read_only"  # execution option (and session.info key) of read-only work
_DEFERRED = "deferred_writes"
_QUERY_ONLY = "tp_query_only"  # connection-record key: PRAGMA query_only is on


class ReadOnlyViolation(RuntimeError):
    """A write inside a read-only unit of work: a bug in the code, not bad user input.
    Writes a read must make go through `defer_write`."""


class WriteTimeout(RuntimeError):
    """A writer waited longer than WRITE_WAIT_SECONDS for its turn."""


class WriteQueue:
    """A FIFO lock: writers are served in the order they asked (tickets), so no writer
    starves behind luckier ones, as they do when they all poll through SQLite's busy timeout.

    Why not a threading.Lock: it makes no ordering promise, and a write transaction may end
    in another thread than it began in (an async endpoint's commit runs in the threadpool),
    so release names the owner (the DBAPI connection), not the thread.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._waiting: deque[object] = deque()  # tickets, oldest first
        self._holder: object | None = None

    def waiting(self) -> int:
        """How many writers wait for their turn (tests use it to order their threads)."""
        with self._cond:
            return len(self._waiting)

    def acquire(self, owner: object, timeout: float = WRITE_WAIT_SECONDS) -> None:
        with self._cond:
            ticket = object()
            self._waiting.append(ticket)
            try:
                ok = self._cond.wait_for(
                    lambda: self._holder is None and self._waiting[0] is ticket, timeout
                )
            finally:
                self._waiting.remove(ticket)
                self._cond.notify_all()  # whoever is first now may go
            if not ok:
                raise WriteTimeout(f"waited over {timeout:g} s for the database write lock")
            self._holder = owner

    def release(self, owner: object) -> bool:
        """Hand the lock to the next in line; False (nothing done) if `owner` holds none."""
        with self._cond:
            if self._holder is not owner:
                return False
            self._holder = None
            self._cond.notify_all()
            return True


_queues: dict[str, WriteQueue] = {}
_queues_lock = threading.Lock()


def write_queue(database: str) -> WriteQueue:
    """The one queue of a database file in this process (every engine on it shares it)."""
    key = str(Path(database).resolve())
    with _queues_lock:
        return _queues.setdefault(key, WriteQueue())


def _sqlite_begin(queue: WriteQueue | None) -> Callable[[Any], None]:
    def begin(conn: Any) -> None:
        info = conn.info  # the pooled DBAPI connection's own dict
        options = conn.get_execution_options()
        if options.get(READ_ONLY) or options.get(SNAPSHOT_READER):
            if not info.get(_QUERY_ONLY):
                conn.exec_driver_sql("PRAGMA query_only=ON")
                info[_QUERY_ONLY] = True
            conn.exec_driver_sql("BEGIN")  # DEFERRED: a reader never takes the write lock
            return
        if info.get(_QUERY_ONLY):
            conn.exec_driver_sql("PRAGMA query_only=OFF")
            info[_QUERY_ONLY] = False
        dbapi = conn.connection.dbapi_connection
        if queue is not None:
            queue.acquire(dbapi)
        try:
            # Take SQLite's lock at BEGIN: no deadlock-prone upgrades; other processes wait
            # on the busy timeout.
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        except BaseException:
            if queue is not None:
                queue.release(dbapi)
            raise

    return begin


def _release_after(queue: WriteQueue, engine: Engine) -> None:
    """Free the queue once the transaction's COMMIT or ROLLBACK has run (not before: the next
    writer's BEGIN IMMEDIATE would then meet SQLite's lock and sleep in the busy handler)."""
    dialect = engine.dialect
    commit, rollback = dialect.do_commit, dialect.do_rollback

    def do_commit(dbapi_connection: Any) -> None:
        try:
            commit(dbapi_connection)
        finally:
            queue.release(dbapi_connection)

    def do_rollback(dbapi_connection: Any) -> None:
        try:
            rollback(dbapi_connection)
        finally:
            queue.release(dbapi_connection)

    dialect.do_commit = do_commit  # type: ignore[method-assign]  # per-engine dialect
    dialect.do_rollback = do_rollback  # type: ignore[method-assign]  # per-engine dialect

    def on_close(dbapi_connection: Any, _record: Any, *_: Any) -> None:
        queue.release(dbapi_connection)  # a connection closed or invalidated mid-transaction

    event.listen(engine, "close", on_close)
    event.listen(engine, "invalidate", on_close)
    event.listen(engine, "checkin", on_close)


def _readonly_error(context: Any) -> BaseException | None:
    """The database's refusal of a write in a read-only session, as the bug it is."""
    err = context.original_exception
    refused = "readonly database" in str(err) or getattr(err, "sqlstate", None) == "25006"
    conn = context.connection
    if refused and conn is not None and conn.get_execution_options().get(READ_ONLY):
        return ReadOnlyViolation(f"write in a read-only unit of work: {context.statement}")
    return None


def make_engine(url: str | None = None, **kwargs: Any) -> Engine:
    url = url or database_url()
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        on_disk = bool(parsed.database) and parsed.database != ":memory:"
        if on_disk:
            Path(str(parsed.database)).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url, connect_args={"check_same_thread": False, "isolation_level": None}, **kwargs
        )
        queue = write_queue(str(parsed.database)) if on_disk else None
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin(queue))
        event.listen(engine, "handle_error", _readonly_error)
        if queue is not None:
            _release_after(queue, engine)
        return engine
    engine = create_engine(url, pool_pre_ping=True, **kwargs)
    event.listen(engine, "handle_error", _readonly_error)
    return engine


@cache
def get_engine() -> Engine:
    return make_engine()


class AppSession(Session):
    """A Session whose commit also runs the writes a read-only unit of work deferred.

    Why not an `after_commit` listener: an error raised there leaves the session stuck in
    its committed transaction, and the deferred write would need a second pooled connection
    while the read's is still checked out. Here the read's transaction is over and its
    connection back in the pool before the deferred write starts, and a failure is an
    ordinary error from `commit()`: the request that read fails with it."""

    def commit(self) -> None:
        super().commit()
        writes: list[Callable[[Session], None]] = self.info.pop(_DEFERRED, [])
        if writes:
            _run_deferred(self, writes)


def _run_deferred(read: Session, writes: list[Callable[[Session], None]]) -> None:
    with unit_of_work(clinic_id=read.info.get("clinic_id"), engine=read.info["engine"]) as w:
        for write in writes:
            write(w)


@cache
def _factory(engine: Engine) -> sessionmaker[AppSession]:
    return sessionmaker(bind=engine, class_=AppSession, expire_on_commit=False)


@cache
def _read_only_engine(engine: Engine) -> Engine:
    options: dict[str, Any] = {READ_ONLY: True}
    if engine.dialect.name == "postgresql":
        options["postgresql_readonly"] = True  # BEGIN READ ONLY: a write there is refused
    return engine.execution_options(**options)


def open_session(
    *, clinic_id: int | None, engine: Engine | None = None, read_only: bool = False
) -> Session:
    """A session acting for one clinic (None: the system, e.g. setup, admin CLI, audit).

    `read_only`: the session only reads (a GET). On SQLite it begins DEFERRED and never
    queues for the write lock; on both engines a write in it raises ReadOnlyViolation. The
    writes a read must make go through `defer_write`."""
    base = engine or get_engine()
    session = _factory(_read_only_engine(base) if read_only else base)()
    session.info["clinic_id"] = clinic_id
    session.info["engine"] = base
    session.info[READ_ONLY] = read_only
    return session


def is_read_only(session: Session) -> bool:
    return bool(session.info.get(READ_ONLY))


def defer_write(session: Session, write: Callable[[Session], None]) -> None:
    """Run `write(s)` in a session that may write: at once (in `session`) when it may, else
    in one short transaction, for all of them, right after the read-only `session` commits.
    If that transaction fails, the read's `commit()` raises: a read never succeeds without
    its writes (its audit). A rolled-back read drops them (nothing happened)."""
    if not is_read_only(session):
        write(session)
        return
    session.info.setdefault(_DEFERRED, []).append(write)


@event.listens_for(Session, "after_soft_rollback")
def _drop_deferred(session: Session, _previous_transaction: object) -> None:
    session.info.pop(_DEFERRED, None)


@contextmanager
def unit_of_work(
    *, clinic_id: int | None, engine: Engine | None = None, read_only: bool = False
) -> Iterator[Session]:
    """One transaction: commit when the block ends, roll back on any error."""
    session = open_session(clinic_id=clinic_id, engine=engine, read_only=read_only)
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


@event.listens_for(Session, "do_orm_execute")
def _confine_statements(state: ORMExecuteState) -> None:
    """Reads, bulk UPDATE/DELETE see only the clinic's rows; bulk INSERT rows join the clinic."""
    clinic_id = state.session.info.get("clinic_id")
    if clinic_id is None or state.execution_options.get("skip_tenancy"):
        return
    if state.is_insert:
        _confine_bulk_insert(state, clinic_id)
        return
    if not (state.is_select or state.is_update or state.is_delete):
        return
    state.statement = state.statement.options(
        with_loader_criteria(
            TenantMixin, lambda cls: cls.clinic_id == clinic_id, include_aliases=True
        )
    )


def _confine_bulk_insert(state: ORMExecuteState, clinic_id: int) -> None:
    """`session.execute(insert(Model), rows)` bypasses the flush, so it is checked here."""
    mapper = state.bind_mapper
    if mapper is None or not issubclass(mapper.class_, TenantMixin):
        return
    params = state.parameters
    rows = params if isinstance(params, list) else [params or {}]
    # the caller's own row dicts, which SQLAlchemy passes through typed as read-only Mappings
    for row in cast("list[dict[str, Any]]", rows):
        row.setdefault("clinic_id", clinic_id)
        if row["clinic_id"] != clinic_id:
            raise IsolationError(f"{mapper.class_.__name__} belongs to another clinic")


@event.listens_for(Session, "before_flush")
def _confine_writes(session: Session, _ctx: Any, _instances: Any) -> None:
    if is_read_only(session) and (session.new or session.dirty or session.deleted):
        changed = next(iter([*session.new, *session.dirty, *session.deleted]))
        raise ReadOnlyViolation(f"{type(changed).__name__} changed in a read-only session")
    clinic_id = session.info.get("clinic_id")
    if clinic_id is None:
        return
    for obj in [*session.new, *session.dirty, *session.deleted]:
        if isinstance(obj, TenantMixin):
            if obj in session.new and getattr(obj, "clinic_id", None) is None:
                obj.clinic_id = clinic_id
            if obj.clinic_id != clinic_id:
                raise IsolationError(f"{type(obj).__name__} belongs to another clinic")
