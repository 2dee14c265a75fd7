"""Database engine, sessions, tenancy and the declarative base.

Two rules are enforced here, in one place, rather than endpoint by endpoint:

* **Durability.** SQLite runs in WAL mode with `synchronous=FULL`, foreign keys on and a busy
  timeout, so a commit that returned is on disk even if the process is killed.
* **Clinic isolation.** A session carries the clinic it acts for (`session.info["clinic_id"]`).
  Every ORM SELECT, UPDATE and DELETE then gets `clinic_id = :clinic` added for every
  tenant-owned table, and every flush and ORM bulk INSERT refuses tenant rows of another
  clinic. A route cannot forget the filter.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, cast

from sqlalchemy import (
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
# on SQLite it begins deferred, so under WAL it reads one snapshot without holding the write
# lock, and the app's writers (and the job's progress) go on meanwhile.
SNAPSHOT_READER = "triggerpoint_snapshot_reader"


def _sqlite_begin_immediate(conn: Any) -> None:
    # Take the write lock at BEGIN: avoids deadlock-prone lock upgrades between writers.
    deferred = conn.get_execution_options().get(SNAPSHOT_READER, False)
    conn.exec_driver_sql("BEGIN" if deferred else "BEGIN IMMEDIATE")


def make_engine(url: str | None = None, **kwargs: Any) -> Engine:
    url = url or database_url()
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url, connect_args={"check_same_thread": False, "isolation_level": None}, **kwargs
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin_immediate)
        return engine
    return create_engine(url, pool_pre_ping=True, **kwargs)


@cache
def get_engine() -> Engine:
    return make_engine()


@cache
def _factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False)


def open_session(*, clinic_id: int | None, engine: Engine | None = None) -> Session:
    """A session acting for one clinic (None: the system, e.g. setup, admin CLI, audit)."""
    session = _factory(engine or get_engine())()
    session.info["clinic_id"] = clinic_id
    return session


@contextmanager
def unit_of_work(*, clinic_id: int | None, engine: Engine | None = None) -> Iterator[Session]:
    """One transaction: commit when the block ends, roll back on any error."""
    session = open_session(clinic_id=clinic_id, engine=engine)
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
    clinic_id = session.info.get("clinic_id")
    if clinic_id is None:
        return
    for obj in [*session.new, *session.dirty, *session.deleted]:
        if isinstance(obj, TenantMixin):
            if obj in session.new and getattr(obj, "clinic_id", None) is None:
                obj.clinic_id = clinic_id
            if obj.clinic_id != clinic_id:
                raise IsolationError(f"{type(obj).__name__} belongs to another clinic")
