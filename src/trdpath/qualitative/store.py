"""Open, create and migrate a qualitative project; every change goes through one transaction and the change log.

SQLite (one file, WAL journal, foreign keys on, synchronous=FULL) is the default; a PostgreSQL URL
(``postgresql+psycopg2://...``) serves a team. Schema changes are Alembic migrations shipped in
``migrations/``; a SQLite project is copied to ``<name>.backup-<revision>-<time>.sqlite`` before any migration.
"""

from __future__ import annotations

import getpass
import json
import os
import sqlite3
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Iterator

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, event, inspect, insert, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from trdpath.atomic import replace_file
from trdpath.errors import BackendError, UserError
from trdpath.qualitative import models as m
from trdpath.safety import mask_credentials

BUSY_SECONDS_ENV = "TRDPATH_QUAL_BUSY_SECONDS"
DEFAULT_BUSY_SECONDS = 60.0


def busy_seconds() -> float:
    """How long a change waits for another coder's transaction (an import, a merge) before giving up."""
    text = os.environ.get(BUSY_SECONDS_ENV, "").strip()
    if not text:
        return DEFAULT_BUSY_SECONDS
    try:
        value = float(text)
    except ValueError:
        raise UserError(f"{BUSY_SECONDS_ENV} must be a number of seconds (got {text!r})") from None
    if value < 0:
        raise UserError(f"{BUSY_SECONDS_ENV} must not be negative (got {text!r})")
    return value


def _is_locked(exc: BaseException) -> bool:
    text = str(getattr(exc, "orig", exc)).lower()
    return "database is locked" in text or "database is busy" in text or "database table is locked" in text

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def project_url(location: str | os.PathLike) -> str:
    """A database URL for a path (SQLite) or pass a URL through unchanged."""
    text = str(location)
    if "://" in text:
        return text
    return f"sqlite:///{Path(text).resolve()}"


def refuse_project_as_output(location: str | os.PathLike, target: str | os.PathLike, option: str = "") -> None:
    """An export target may not be the project's own SQLite file (or its journal): `qual codebook P --export P`
    replaced the whole project with a codebook."""
    database = _sqlite_path(project_url(location))
    if database is None:
        return
    resolved = Path(target).expanduser().resolve()
    if resolved in {database, *(database.with_name(database.name + s) for s in ("-wal", "-shm", "-journal"))}:
        raise UserError(f"{option + ' ' if option else ''}{target} is the project file {location}: writing there would "
                        "replace the project. Choose another file name.")


def _sqlite_path(url: str) -> Path | None:
    if url.startswith("sqlite:///"):
        return Path(url[len("sqlite:///"):])
    return None


def _make_engine(url: str) -> Engine:
    try:
        engine = create_engine(url)
    except Exception as exc:  # bad driver or malformed URL
        raise BackendError(f"cannot use project database {mask_credentials(url)!r}: "
                           f"{mask_credentials(exc)}") from None
    if engine.dialect.name == "sqlite":
        wait_ms = int(busy_seconds() * 1000)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):  # noqa: ANN001
            # We issue BEGIN ourselves (below): pysqlite's own transaction handling cannot BEGIN IMMEDIATE.
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            # WAL + FULL sync: a killed process never leaves a half-written transaction behind.
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=FULL")
            cur.execute("PRAGMA foreign_keys=ON")
            # SQLite retries a busy lock for this long before reporting "database is locked".
            cur.execute(f"PRAGMA busy_timeout={wait_ms}")
            cur.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn):  # noqa: ANN001
            # A change takes the write lock when it starts (IMMEDIATE), so two coders' look-then-insert never
            # interleave and a waiting writer is retried by busy_timeout instead of failing with a stale snapshot.
            conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get("trdpath_write")
                                 else "BEGIN")
    return engine


def alembic_config(connection=None) -> Config:  # noqa: ANN001
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def head_revision() -> str:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def backup_sqlite(path: Path, revision: str | None) -> Path:
    """Copy a SQLite project with SQLite's online backup API (consistent even in WAL mode), through
    trdpath.atomic.replace_file: a backup file, once there, is whole."""
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
    target = path.with_name(f"{path.stem}.backup-{revision or 'none'}-{stamp}.sqlite")
    with replace_file(target) as temporary:
        src = sqlite3.connect(path)
        try:
            dst = sqlite3.connect(temporary)
            try:
                src.backup(dst)
            finally:
                dst.close()
        finally:
            src.close()
    return target


def migrate(engine: Engine) -> Path | None:
    """Bring the schema to the newest revision; back the SQLite file up first. Returns the backup path."""
    backup = None
    with engine.connect() as conn:
        current = MigrationContext.configure(conn).get_current_revision()
    head = head_revision()
    if current == head:
        return None
    path = _sqlite_path(str(engine.url))
    if current is not None and path is not None and path.exists():
        backup = backup_sqlite(path, current)
    with engine.begin() as conn:
        command.upgrade(alembic_config(conn), "head")
    return backup


def _current_user() -> str | None:
    """The operating-system user, so the change log always says who when no name was given."""
    try:
        return getpass.getuser()
    except Exception:  # no user name in this environment (some containers)
        return None


def _jsonable(value):  # noqa: ANN001
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, str) and len(value) > 200:
        return value[:200] + f"... ({len(value)} characters)"
    return value


def _record_changes(session: Session, _flush_context) -> None:  # noqa: ANN001
    """After each flush, append one change_log row per created, changed or deleted entity."""
    who = session.info.get("who")
    now = datetime.now(timezone.utc)
    rows = []
    for action, objects in (("create", session.new), ("update", session.dirty), ("delete", session.deleted)):
        for obj in objects:
            if isinstance(obj, m.ChangeLog) or not isinstance(obj, m.Base):
                continue
            state = inspect(obj)
            details = {}
            for attr in state.mapper.column_attrs:
                hist = state.attrs[attr.key].history
                if action == "create":
                    details[attr.key] = _jsonable(getattr(obj, attr.key))
                elif action == "update" and hist.has_changes():
                    old = hist.deleted[0] if hist.deleted else None
                    new = hist.added[0] if hist.added else None
                    details[attr.key] = [_jsonable(old), _jsonable(new)]
                elif action == "delete":
                    details[attr.key] = _jsonable(getattr(obj, attr.key, None))
            if action == "update" and not details:
                continue
            rows.append(dict(at=now, who=who, action=action, entity=obj.__tablename__,
                             entity_id=getattr(obj, "id", None), details=json.dumps(details, sort_keys=True)))
    if rows:
        session.connection().execute(insert(m.ChangeLog.__table__), rows)


@dataclass
class QualProject:
    """An open project: use ``with project.transaction(who) as s:`` for every change (all or nothing)."""

    url: str
    engine: Engine
    backup: Path | None = None

    def __post_init__(self) -> None:
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._writers = sessionmaker(self.engine.execution_options(trdpath_write=True), expire_on_commit=False)
        # The transaction open in *this thread*: nested calls join it, another thread (a second coder served by
        # the web app from one QualProject) gets its own; a shared attribute made threads join each other's.
        self._local = threading.local()

    @property
    def _open(self) -> Session | None:
        return getattr(self._local, "session", None)

    @_open.setter
    def _open(self, session: Session | None) -> None:
        self._local.session = session

    def _busy(self) -> BackendError:
        return BackendError(f"the project {mask_credentials(self.url)} is busy: another coder or command (an "
                            f"import, a merge) has been writing to it for more than {busy_seconds():g} s. Nothing "
                            f"was changed; try again when it has finished (or set {BUSY_SECONDS_ENV} to wait "
                            "longer)")

    @contextmanager
    def transaction(self, who: str | None = None) -> Iterator[Session]:
        """One all-or-nothing unit of work. Nested calls join the outer transaction, so a command that does
        several imports (participants, transcripts, memos) commits them together or not at all."""
        if self._open is not None:
            yield self._open
            return
        session = self._writers()
        session.info["who"] = who or _current_user()
        event.listen(session, "after_flush", _record_changes)
        self._open = session
        try:
            try:
                session.connection()  # take the write lock now, waiting for another coder's change if needed
            except OperationalError as exc:
                if _is_locked(exc):
                    raise self._busy() from None
                raise BackendError(f"cannot write to project {mask_credentials(self.url)}: "
                                   f"{mask_credentials(exc.orig)}") from None
            try:
                yield session
                session.commit()
            except OperationalError as exc:
                if _is_locked(exc):
                    raise self._busy() from None
                raise
            except IntegrityError as exc:
                # A unique or foreign-key rule of the project refused the change: a message, not a traceback.
                raise BackendError("the change conflicts with what is already in the project and was not "
                                   f"made: {mask_credentials(exc.orig)}") from None
        except BaseException:
            session.rollback()
            raise
        finally:
            self._open = None
            session.close()

    @contextmanager
    def reading(self) -> Iterator[Session]:
        session = self._sessions()
        try:
            yield session
        finally:
            session.close()  # releases the read transaction; loaded objects stay readable (not expired)

    @property
    def name(self) -> str:
        with self.reading() as s:
            info = s.scalar(select(m.ProjectInfo))
            return info.name if info else ""

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> QualProject:
        return self

    def __exit__(self, *exc) -> None:  # noqa: ANN002
        self.close()


def create_project(location: str | os.PathLike, name: str, *, description: str | None = None) -> QualProject:
    """Create a new, empty project; refuses to overwrite an existing SQLite file."""
    url = project_url(location)
    path = _sqlite_path(url)
    if path is not None:
        if path.exists():
            raise UserError(f"{path}: a project already exists here; open it instead or choose another path")
        path.parent.mkdir(parents=True, exist_ok=True)
    engine = _make_engine(url)
    try:
        migrate(engine)
    except Exception as exc:  # a server that is down, a refused login, a closed port
        engine.dispose()
        raise BackendError(f"cannot create project {mask_credentials(url)}: "
                           f"{mask_credentials(getattr(exc, 'orig', None) or exc)}") from None
    project = QualProject(url, engine)
    with project.transaction() as s:
        if s.scalar(select(m.ProjectInfo)) is None:
            s.add(m.ProjectInfo(id=1, name=name, description=description))
    return project


def open_project(location: str | os.PathLike) -> QualProject:
    """Open an existing project, migrating it (after a backup) if its schema is older than this code."""
    url = project_url(location)
    path = _sqlite_path(url)
    if path is not None and not path.exists():
        raise UserError(f"{path}: no project here; create one with `trdpath qual init {path}`")
    engine = _make_engine(url)
    try:
        backup = migrate(engine)
    except Exception as exc:
        engine.dispose()
        raise BackendError(f"cannot open project {mask_credentials(url)}: "
                           f"{mask_credentials(getattr(exc, 'orig', None) or exc)}") from None
    return QualProject(url, engine, backup)


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write a file through trdpath.atomic.replace_file (a temporary file beside it, synced, then one rename),
    so readers never see half a file; it gets the user's usual permissions, not a temporary file's 0600."""
    with replace_file(path) as temporary:
        with open(temporary, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())  # the rename must not reach the disk before the data (a crash after it)
    return Path(path)


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def codebook_history(project: QualProject):  # noqa: ANN201
    """The codebook's history (every code created, renamed, moved, redefined or deleted), oldest first."""
    import pandas as pd

    with project.reading() as s:
        rows = s.execute(select(m.ChangeLog).where(m.ChangeLog.entity == "code").order_by(m.ChangeLog.id)).scalars()
        return pd.DataFrame([dict(at=r.at, who=r.who, action=r.action, code_id=r.entity_id,
                                  details=json.loads(r.details or "{}")) for r in rows],
                            columns=["at", "who", "action", "code_id", "details"])
