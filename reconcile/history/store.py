"""Run history: every run, every finding's fingerprint, the per-company run lock.

One SQL database (SQLAlchemy Core; SQLite by default, PostgreSQL tested) holds:

* ``qbo_recon_runs``: one row per run with its parameters, start and end, outcome
  (``running``, ``completed``, ``failed``), one-line reason, counts, report folder, email
  status, code version, QBO minor version, inputs hash and owner (host, pid).
* ``qbo_recon_findings``: one row per finding of a run, keyed by a stable ``fingerprint``,
  with the time it was first seen.
* ``qbo_recon_locks``: one row per company while a run holds it: a lease. The holder renews
  ``heartbeat_at`` from a background thread while its run goes on (every quarter of the lease);
  another process takes the lock over once the last heartbeat is older than the lease (60 s by
  default, ``[history] lock_lease_seconds``), or at once when the holder ran on this host and
  its process is gone. Taking a lock over marks every run of that company still ``running`` as
  ``interrupted``, since only the lock holder may run. Leases compare the hosts' clocks: keep
  them in sync (NTP), well within the lease. A lock row left by code older than the lease (no
  heartbeat) is taken over only after ``stale_after`` (12 hours), as that code would have.

Each run's findings are compared with those of the previous *completed* run of the same
company (``compare``): ``new``, ``persisting`` (with age since first seen and aging buckets),
``resolved`` and ``reopened`` (seen in an earlier completed run, absent from the previous one).

Timestamps are stored in UTC and always come back timezone-aware.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import socket
import threading
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Dialect, Engine
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from reconcile import frames as F
from reconcile.errors import RunLocked, SourceError, UsageError
from reconcile.history.acks import Acknowledgement, lapse_reason, values_digests
from reconcile.history.schema import ensure_schema
from reconcile.params import RunParams

log = logging.getLogger(__name__)

#: Outcomes a run row can hold (``interrupted``: its process ended before it finished).
OUTCOMES: tuple[str, ...] = ("running", "completed", "failed", "interrupted")

#: How long a run lock outlives its holder's last heartbeat, by default.
DEFAULT_LEASE_SECONDS = 60.0

#: Aging buckets (inclusive day ranges) for persisting findings.
AGING_BUCKETS: tuple[tuple[str, int, int | None], ...] = (
    ("0-7", 0, 7),
    ("8-30", 8, 30),
    ("31-90", 31, 90),
    ("90+", 91, None),
)

#: The finding columns that make up its fingerprint (besides the company).
FINGERPRINT_FIELDS: tuple[str, ...] = ("entity", "category", "awra_ref", "qbo_id", "field")

#: How many recent runs ``compare`` reports in ``trend``.
TREND_RUNS = 10

_CHUNK = 500


class UtcDateTime(sa.types.TypeDecorator[datetime]):
    """A timezone-aware UTC timestamp on every backend (SQLite and MySQL store it naive)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Refuse naive datetimes; store UTC (naive where the backend has no time zones)."""
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the run history; pass a timezone-aware one")
        value = value.astimezone(UTC)
        return value if dialect.name == "postgresql" else value.replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Always return an aware UTC datetime."""
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


metadata = sa.MetaData()

runs_table = sa.Table(
    "qbo_recon_runs",
    metadata,
    sa.Column("run_id", sa.String(120), primary_key=True),
    sa.Column("company", sa.String(64), nullable=False),
    sa.Column("date_from", sa.Date, nullable=False),
    sa.Column("date_to", sa.Date, nullable=False),
    sa.Column("status_filter", sa.String(32)),
    sa.Column("entities", sa.String(200)),
    sa.Column("triggered_by", sa.String(32), nullable=False),
    sa.Column("started_at", UtcDateTime, nullable=False),
    sa.Column("finished_at", UtcDateTime),
    sa.Column("outcome", sa.String(16), nullable=False),
    sa.Column("reason", sa.Text),
    sa.Column("counts", sa.Text),
    sa.Column("history", sa.Text),
    sa.Column("open_findings", sa.Integer),
    sa.Column("report_dir", sa.Text),
    sa.Column("email_status", sa.Text),
    sa.Column("code_version", sa.String(80)),
    sa.Column("qbo_minor_version", sa.Integer),
    sa.Column("inputs_hash", sa.String(128)),
    sa.Column("owner", sa.String(200)),
    sa.Column("owner_host", sa.String(255)),
    sa.Column("owner_pid", sa.Integer),
    sa.Column("attempt", sa.Integer),
    sa.Index("ix_qbo_recon_runs_company_started", "company", "started_at"),
)

findings_table = sa.Table(
    "qbo_recon_findings",
    metadata,
    sa.Column("run_id", sa.String(120), primary_key=True),
    sa.Column("fingerprint", sa.String(64), primary_key=True),
    sa.Column("company", sa.String(64), nullable=False),
    sa.Column("entity", sa.String(32)),
    sa.Column("category", sa.String(32)),
    sa.Column("awra_id", sa.String(120)),
    sa.Column("awra_number", sa.String(120)),
    sa.Column("qbo_id", sa.String(120)),
    sa.Column("field", sa.String(64)),
    sa.Column("party", sa.Text),
    sa.Column("amount_cents", sa.BigInteger),
    sa.Column("history_status", sa.String(16)),
    sa.Column("first_seen", UtcDateTime, nullable=False),
    sa.Column("values_digest", sa.String(32)),
    sa.Index("ix_qbo_recon_findings_company_fp", "company", "fingerprint"),
)

locks_table = sa.Table(
    "qbo_recon_locks",
    metadata,
    sa.Column("company", sa.String(64), primary_key=True),
    sa.Column("token", sa.String(64), nullable=False),
    sa.Column("owner", sa.String(200)),
    sa.Column("host", sa.String(255), nullable=False),
    sa.Column("pid", sa.Integer, nullable=False),
    sa.Column("pid_start", sa.String(32)),
    sa.Column("acquired_at", UtcDateTime, nullable=False),
    sa.Column("heartbeat_at", UtcDateTime),
    sa.Column("lease_seconds", sa.Integer),
)


acks_table = sa.Table(
    "qbo_recon_acks",
    metadata,
    sa.Column("company", sa.String(64), primary_key=True),
    sa.Column("fingerprint", sa.String(64), primary_key=True),
    sa.Column("entity", sa.String(32)),
    sa.Column("category", sa.String(32)),
    sa.Column("awra_id", sa.String(120)),
    sa.Column("awra_number", sa.String(120)),
    sa.Column("qbo_id", sa.String(120)),
    sa.Column("field", sa.String(64)),
    sa.Column("party", sa.Text),
    sa.Column("amount_cents", sa.BigInteger),
    sa.Column("values_digest", sa.String(32)),
    sa.Column("run_id", sa.String(120)),
    sa.Column("ack_by", sa.String(200), nullable=False),
    sa.Column("note", sa.Text, nullable=False),
    sa.Column("ack_at", UtcDateTime, nullable=False),
    sa.Column("until", sa.Date),
    sa.Column("lapsed_at", UtcDateTime),
    sa.Column("lapsed_reason", sa.Text),
    sa.Column("lapsed_run_id", sa.String(120)),
)


@dataclass(frozen=True)
class RunRecord:
    """One row of the run history, as read back."""

    run_id: str
    company: str
    date_from: date
    date_to: date
    status: str | None
    entities: tuple[str, ...]
    triggered_by: str
    started_at: datetime
    finished_at: datetime | None
    outcome: str
    reason: str | None = None
    counts: Mapping[str, Any] = field(default_factory=dict)
    history: Mapping[str, Any] = field(default_factory=dict)
    open_findings: int | None = None
    report_dir: str | None = None
    email_status: str | None = None
    code_version: str | None = None
    qbo_minor_version: int | None = None
    inputs_hash: str | None = None
    owner: str | None = None
    owner_host: str | None = None
    owner_pid: int | None = None
    attempt: int = 1


@dataclass(frozen=True)
class LockHandle:
    """A held run lock; ``token`` identifies this acquisition.

    ``lost`` is set when a heartbeat found the lock taken over by another process (this one
    stalled past its lease): the run must not publish then (``ensure_held``).
    """

    company: str
    token: str
    owner: str
    took_over: str | None = None  # description of the stale lock taken over, if any
    lost: threading.Event = field(default_factory=threading.Event, compare=False, repr=False)

    def ensure_held(self) -> None:
        """Raise ``RunLocked`` if another process took this lock over since it was acquired."""
        if self.lost.is_set():
            raise RunLocked(
                f"{self.company}: this run's lock lease lapsed and another run took the lock over;"
                " nothing was published"
            )


# --------------------------------------------------------------------------- process identity


def _pid_start(pid: int) -> str | None:
    """The start time of a process (Linux ``/proc``), to tell a reused pid apart; None if unknown."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # the command name (field 2) may hold spaces: split after its closing parenthesis
    fields = stat.rsplit(")", 1)[-1].split()
    return fields[19] if len(fields) > 19 else None


def _pid_state(pid: int) -> str | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[-1].split()
    return fields[0] if fields else None


def process_alive(pid: int, pid_start: str | None = None) -> bool:
    """Whether process ``pid`` on this host is still alive (a zombie or a reused pid is not)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    if _pid_state(pid) in ("Z", "X"):
        return False
    return not (pid_start is not None and _pid_start(pid) not in (None, pid_start))


# --------------------------------------------------------------------------- fingerprints


def _text(value: Any) -> str:
    if value is None or value is pd.NA:
        return ""
    try:
        if pd.isna(value):
            return ""
    except (TypeError, ValueError):
        pass
    return str(value).strip()


def _texts(frame: pd.DataFrame, column: str) -> list[str]:
    """A column as stripped Python strings, ``""`` for missing (vectorized)."""
    if column not in frame.columns:
        return [""] * len(frame)
    series = frame[column]
    if not isinstance(series.dtype, pd.StringDtype):
        series = series.astype("string")
    return series.fillna("").str.strip().astype(object).tolist()


def _key(
    company: str, entity: str, category: str, awra_id: str, awra_number: str, qbo_id: str, fld: str, line: str = ""
) -> str:
    awra_ref = awra_id or (f"#{awra_number}" if awra_number else "")
    # a record-level finding keeps the key it had before line-level findings existed
    parts: tuple[str, ...] = (company, entity, category, awra_ref, qbo_id, fld)
    if line:
        parts = (*parts, f"line={line}")
    return hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()[:32]


def fingerprint_of(
    company: str,
    entity: Any,
    category: Any,
    awra_id: Any,
    awra_number: Any,
    qbo_id: Any,
    fld: Any,
    line: Any = None,
) -> str:
    """A finding's stable identity: what it is about, never the run or values that change.

    The AWRA side is named by its id, or by its number when it has no id; a line-level finding
    also by its line.
    """
    return _key(
        company,
        _text(entity),
        _text(category),
        _text(awra_id),
        _text(awra_number),
        _text(qbo_id),
        _text(fld),
        _text(line),
    )


def fingerprint_findings(findings: pd.DataFrame, company: str) -> pd.Series:
    """The fingerprint of every finding (a new Series aligned with ``findings``).

    Two findings of one run with the same identity (say two data-quality problems of one
    field) are told apart by their order of appearance, so each row keeps a unique key.
    """
    if findings.empty:
        return pd.Series([], dtype="string", index=findings.index)
    names = ("entity", "category", "awra_id", "awra_number", "qbo_id", "field", "line")
    columns = [_texts(findings, c) for c in names]
    seen: dict[str, int] = {}
    out: list[str] = []
    for e, c, a, n, q, f, ln in zip(*columns, strict=True):
        fp = _key(company, e, c, a, n, q, f, ln)
        k = seen.get(fp, 0)
        seen[fp] = k + 1
        out.append(fp if k == 0 else hashlib.sha256(f"{fp}#{k}".encode()).hexdigest()[:32])
    return pd.Series(out, dtype="string", index=findings.index)


def hash_inputs(*parts: Any) -> str:
    """A short sha256 of the given JSON-able parts (for a run's ``inputs_hash``)."""
    text = json.dumps(parts, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def aging_bucket(age_days: int) -> str:
    """The aging bucket label of an age in days."""
    for label, low, high in AGING_BUCKETS:
        if age_days >= low and (high is None or age_days <= high):
            return label
    return AGING_BUCKETS[0][0]


# --------------------------------------------------------------------------- the store


def _sqlite_file(url: sa.URL) -> Path | None:
    if url.get_backend_name() != "sqlite":
        return None
    database = url.database or ""
    if database in ("", ":memory:") or database.startswith("file:"):
        return None
    return Path(database)


def make_engine(url: str) -> Engine:
    """An engine for the history database.

    SQLite: the file's folder is created, writers wait up to 30 s for each other, and every
    transaction starts with ``BEGIN IMMEDIATE`` so two processes never deadlock upgrading a
    read to a write.
    """
    try:
        parsed = sa.make_url(url)
    except sa.exc.ArgumentError as exc:
        raise SourceError(f"not a database URL ({exc})", source="run history") from None
    path = _sqlite_file(parsed)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
    if parsed.get_backend_name() != "sqlite":
        return sa.create_engine(parsed, pool_pre_ping=True)
    engine = sa.create_engine(parsed, connect_args={"timeout": 30})

    @sa.event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # let SQLAlchemy's BEGIN below start transactions

    @sa.event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


class RunHistory:
    """The run-history store; creates its tables, or upgrades them in place, on first use.

    ``lease_seconds``: how long a lock this process takes outlives its last heartbeat.
    ``stale_after``: when a lock row without heartbeat (left by older code) is taken over.
    ``host``/``pid`` identify this process (overridable for tests).
    """

    def __init__(
        self,
        url: str | Engine,
        *,
        lease_seconds: float = DEFAULT_LEASE_SECONDS,
        stale_after: timedelta = timedelta(hours=12),
        host: str | None = None,
        pid: int | None = None,
    ):
        if lease_seconds <= 0:
            raise ValueError("lease_seconds must be positive")
        self.engine = url if isinstance(url, Engine) else make_engine(url)
        self.url = self.engine.url.render_as_string(hide_password=True)
        self.lease_seconds = lease_seconds
        self.stale_after = stale_after
        self.host = host or socket.gethostname()
        self.pid = pid if pid is not None else os.getpid()
        try:
            for step in ensure_schema(self.engine):
                log.info("run history at %s: schema %s", self.url, step)
        except SQLAlchemyError as exc:
            raise self._error("could not open, create or upgrade the history tables", exc) from exc

    def _error(self, what: str, exc: SQLAlchemyError) -> SourceError:
        detail = " ".join(str(getattr(exc, "orig", None) or exc).split())[:200]
        return SourceError(f"{what} at {self.url}: {detail}", source="run history")

    def dispose(self) -> None:
        """Close pooled connections."""
        self.engine.dispose()

    # ------------------------------------------------------------------- the run lock

    @contextlib.contextmanager
    def lock(self, company: str, *, owner: str = "", now: datetime | None = None) -> Iterator[LockHandle]:
        """Hold the run lock of ``company`` for the ``with`` block; ``RunLocked`` if a live run holds it.

        A background thread renews the lease while the block runs. On acquiring the lock, runs of
        the company still marked ``running`` are marked ``interrupted``: their process ended
        without finishing.
        """
        handle = self.acquire_lock(company, owner=owner, now=now)
        heartbeat = _Heartbeat(self, handle)
        heartbeat.start()
        try:
            yield handle
        except BaseException:
            heartbeat.stop()
            # the run's own error matters more than a failure to release (the lease then runs out)
            with contextlib.suppress(SourceError):
                self.release_lock(handle)
            raise
        heartbeat.stop()
        self.release_lock(handle)

    def renew_lock(self, handle: LockHandle, *, now: datetime | None = None) -> bool:
        """Renew the lease of a held lock; False (and ``handle.lost`` set) if another process holds it now."""
        try:
            with self.engine.begin() as conn:
                result = conn.execute(
                    locks_table.update()
                    .where(locks_table.c.company == handle.company, locks_table.c.token == handle.token)
                    .values(heartbeat_at=_aware(now))
                )
        except SQLAlchemyError as exc:
            raise self._error("could not renew the run lock", exc) from exc
        if result.rowcount != 1:
            handle.lost.set()
            return False
        return True

    def acquire_lock(self, company: str, *, owner: str = "", now: datetime | None = None) -> LockHandle:
        """Take the run lock of ``company`` (see ``lock``); release it with ``release_lock``."""
        now = _aware(now)
        token = uuid.uuid4().hex
        row = {
            "company": company,
            "token": token,
            "owner": owner[:200],
            "host": self.host,
            "pid": self.pid,
            "pid_start": _pid_start(self.pid) if self.pid == os.getpid() else None,
            "acquired_at": now,
            "heartbeat_at": now,
            "lease_seconds": max(1, round(self.lease_seconds)),
        }
        took_over: str | None = None
        try:
            try:
                with self.engine.begin() as conn:
                    conn.execute(locks_table.insert().values(**row))
            except IntegrityError:
                with self.engine.begin() as conn:
                    held = (
                        conn.execute(sa.select(locks_table).where(locks_table.c.company == company)).mappings().first()
                    )
                    if held is not None:
                        stale = self._stale_reason(held, now)
                        if stale is None:
                            raise RunLocked(self._held_text(company, held)) from None
                        result = conn.execute(
                            locks_table.update()
                            .where(locks_table.c.company == company, locks_table.c.token == held["token"])
                            .values(**row)
                        )
                        if result.rowcount != 1:
                            raise RunLocked(f"{company}: another run took the lock first; nothing was done") from None
                        took_over = f"{self._held_text(company, held)} ({stale})"
                    else:
                        conn.execute(locks_table.insert().values(**row))
        except IntegrityError:
            raise RunLocked(f"{company}: another run took the lock first; nothing was done") from None
        except SQLAlchemyError as exc:
            raise self._error("could not take the run lock", exc) from exc
        handle = LockHandle(company=company, token=token, owner=owner, took_over=took_over)
        try:
            self._fail_interrupted(company, now)
        except SQLAlchemyError as exc:
            with contextlib.suppress(SourceError):
                self.release_lock(handle)
            raise self._error("could not record interrupted runs", exc) from exc
        return handle

    def release_lock(self, handle: LockHandle) -> None:
        """Give the lock back (only if this acquisition still holds it)."""
        try:
            with self.engine.begin() as conn:
                conn.execute(
                    locks_table.delete().where(
                        locks_table.c.company == handle.company, locks_table.c.token == handle.token
                    )
                )
        except SQLAlchemyError as exc:
            raise self._error("could not release the run lock", exc) from exc

    def _held_text(self, company: str, held: Mapping[Any, Any]) -> str:
        owner = f" ({held['owner']})" if held.get("owner") else ""
        since = held["acquired_at"].strftime("%Y-%m-%d %H:%M:%SZ")
        return (
            f"{company}: another run is in progress{owner}, pid {held['pid']} on {held['host']} since {since};"
            " nothing was done"
        )

    def _stale_reason(self, held: Mapping[Any, Any], now: datetime) -> str | None:
        if held["host"] == self.host and not process_alive(int(held["pid"]), held.get("pid_start")):
            return "its process is gone"
        heartbeat = held.get("heartbeat_at")
        if heartbeat is None:  # a lock row from before leases: no heartbeat will ever come
            if now - held["acquired_at"] > self.stale_after:
                return f"older than {self.stale_after}"
            return None
        lease = timedelta(seconds=held.get("lease_seconds") or self.lease_seconds)
        silent = now - heartbeat
        if silent > lease:
            return f"no heartbeat for {silent.total_seconds():.0f} s, past its {lease.total_seconds():.0f} s lease"
        return None

    def _fail_interrupted(self, company: str, now: datetime) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                runs_table.update()
                .where(runs_table.c.company == company, runs_table.c.outcome == "running")
                .values(
                    outcome="interrupted",
                    finished_at=now,
                    reason="interrupted: the run's process ended before it finished",
                )
            )

    # ------------------------------------------------------------------- runs

    def start_run(
        self,
        params: RunParams,
        *,
        inputs_hash: str | None = None,
        code_version: str | None = None,
        qbo_minor_version: int | None = None,
        triggered_by: str = "manual",
        owner: str = "",
        started_at: datetime | None = None,
        attempt: int = 1,
    ) -> RunRecord:
        """Record a run as ``running`` (started at ``started_at``, default ``params.now``).

        ``attempt`` numbers the tries of a run that is retried after a passing failure (1: first).
        """
        started = _aware(started_at, params.now)
        row = {
            "run_id": params.run_id,
            "company": params.company,
            "date_from": params.date_from,
            "date_to": params.date_to,
            "status_filter": params.status,
            "entities": ",".join(params.entities),
            "triggered_by": triggered_by,
            "started_at": started,
            "outcome": "running",
            "code_version": code_version,
            "qbo_minor_version": qbo_minor_version,
            "inputs_hash": inputs_hash,
            "owner": owner[:200],
            "owner_host": self.host,
            "owner_pid": self.pid,
            "attempt": attempt,
        }
        try:
            with self.engine.begin() as conn:
                conn.execute(runs_table.insert().values(**row))
        except IntegrityError:
            raise RunLocked(
                f"{params.company}: a run with id {params.run_id} already exists; nothing was done"
            ) from None
        except SQLAlchemyError as exc:
            raise self._error("could not record the run", exc) from exc
        record = self.get_run(params.run_id)
        assert record is not None
        return record

    def finish_run(
        self,
        run_id: str,
        *,
        outcome: str,
        counts: Mapping[str, Any] | None = None,
        report_dir: str | Path | None = None,
        email_status: str | None = None,
        reason: str | None = None,
        inputs_hash: str | None = None,
        now: datetime | None = None,
    ) -> None:
        """Record the end of a run: ``completed``, ``failed`` or ``interrupted`` (with a one-line ``reason``).

        ``inputs_hash``, when given, replaces the one recorded at the start (the inputs are known
        only once the sources were read).
        """
        if outcome not in ("completed", "failed", "interrupted"):
            raise ValueError(f"finish_run: outcome must be completed, failed or interrupted, not {outcome!r}")
        values: dict[str, Any] = {"outcome": outcome, "finished_at": _aware(now)}
        if counts is not None:
            values["counts"] = json.dumps(counts, sort_keys=True, default=str)
        if report_dir is not None:
            values["report_dir"] = str(report_dir)
        if email_status is not None:
            values["email_status"] = email_status
        if reason is not None:
            values["reason"] = " ".join(reason.split())[:1000]
        if inputs_hash is not None:
            values["inputs_hash"] = inputs_hash
        try:
            with self.engine.begin() as conn:
                conn.execute(runs_table.update().where(runs_table.c.run_id == run_id).values(**values))
        except SQLAlchemyError as exc:
            raise self._error("could not record the end of the run", exc) from exc

    def set_email_status(self, run_id: str, email_status: str) -> None:
        """Record how the report's email went (after the run finished)."""
        try:
            with self.engine.begin() as conn:
                conn.execute(runs_table.update().where(runs_table.c.run_id == run_id).values(email_status=email_status))
        except SQLAlchemyError as exc:
            raise self._error("could not record the email status", exc) from exc

    def get_run(self, run_id: str) -> RunRecord | None:
        """One run, or None."""
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(runs_table).where(runs_table.c.run_id == run_id)).mappings().first()
        return _record(row) if row is not None else None

    def recent_runs(self, company: str | None = None, limit: int = 20) -> list[RunRecord]:
        """The latest runs, newest first (of one company, or of all)."""
        query = sa.select(runs_table).order_by(runs_table.c.started_at.desc(), runs_table.c.run_id.desc()).limit(limit)
        if company is not None:
            query = query.where(runs_table.c.company == company)
        try:
            with self.engine.connect() as conn:
                rows = conn.execute(query).mappings().all()
        except SQLAlchemyError as exc:
            raise self._error("could not read the run history", exc) from exc
        return [_record(r) for r in rows]

    def find_completed_run(
        self, company: str, date_from: date, date_to: date, *, triggered_by: str | None = None
    ) -> RunRecord | None:
        """The latest completed run of ``company`` over exactly this window (and trigger), or None."""
        query = (
            sa.select(runs_table)
            .where(
                runs_table.c.company == company,
                runs_table.c.date_from == date_from,
                runs_table.c.date_to == date_to,
                runs_table.c.outcome == "completed",
            )
            .order_by(runs_table.c.started_at.desc())
            .limit(1)
        )
        if triggered_by is not None:
            query = query.where(runs_table.c.triggered_by == triggered_by)
        with self.engine.connect() as conn:
            row = conn.execute(query).mappings().first()
        return _record(row) if row is not None else None

    def seen(self, company: str, fingerprints: Sequence[str]) -> dict[str, dict[str, Any]]:
        """For fingerprints seen in completed runs of the company: first/last seen and the last run."""
        found: dict[str, dict[str, Any]] = {}
        completed = sa.select(runs_table.c.run_id, runs_table.c.started_at).where(
            runs_table.c.company == company, runs_table.c.outcome == "completed"
        )
        done = completed.subquery()
        try:
            with self.engine.connect() as conn:
                for chunk in _chunks(sorted(set(fingerprints)), _CHUNK):
                    rows = conn.execute(
                        sa.select(
                            findings_table.c.fingerprint,
                            sa.func.min(findings_table.c.first_seen),
                            sa.func.max(done.c.started_at),
                            sa.func.max(findings_table.c.run_id),
                        )
                        .join(done, done.c.run_id == findings_table.c.run_id)
                        .where(findings_table.c.company == company, findings_table.c.fingerprint.in_(chunk))
                        .group_by(findings_table.c.fingerprint)
                    ).all()
                    for fp, first, last, run_id in rows:
                        convert = UtcDateTime().process_result_value
                        found[fp] = {
                            "first_seen": convert(first, self.engine.dialect),
                            "last_seen": convert(last, self.engine.dialect),
                            "last_run_id": run_id,
                        }
        except SQLAlchemyError as exc:
            raise self._error("could not read the run history", exc) from exc
        return found

    def previous_completed_run(self, company: str, *, before: str | None = None) -> RunRecord | None:
        """The latest completed run of ``company`` (other than run ``before``, started before it)."""
        query = (
            sa.select(runs_table)
            .where(runs_table.c.company == company, runs_table.c.outcome == "completed")
            .order_by(runs_table.c.started_at.desc(), runs_table.c.run_id.desc())
            .limit(1)
        )
        if before is not None:
            current = self.get_run(before)
            query = query.where(runs_table.c.run_id != before)
            if current is not None:
                query = query.where(runs_table.c.started_at <= current.started_at)
        with self.engine.connect() as conn:
            row = conn.execute(query).mappings().first()
        return _record(row) if row is not None else None

    def run_findings(self, run_id: str) -> pd.DataFrame:
        """The findings recorded for a run (fingerprint, identity columns, status, first seen)."""
        with self.engine.connect() as conn:
            rows = (
                conn.execute(
                    sa.select(findings_table)
                    .where(findings_table.c.run_id == run_id)
                    .order_by(findings_table.c.fingerprint)
                )
                .mappings()
                .all()
            )
        return pd.DataFrame([dict(r) for r in rows], columns=[c.name for c in findings_table.columns])

    # ------------------------------------------------------------------- comparison

    def compare(
        self, params: RunParams, findings: pd.DataFrame, *, now: datetime | None = None
    ) -> tuple[pd.DataFrame, dict[str, Any]]:
        """Fingerprint this run's findings, record them and compare with the previous completed run.

        Returns a new findings frame with ``fingerprint``, ``history_status`` (new, persisting,
        reopened), ``first_seen``, ``age_days`` and the acknowledgement columns (``ack_by``,
        ``ack_note``, ``ack_at``, ``ack_until`` for an acknowledgement in force; ``ack_lapsed``, in
        plain words, for one that lapsed, now or before; see ``reconcile.history.acks``), and a
        JSON-ready summary: the counts
        ``new``, ``persisting``, ``resolved``, ``reopened`` and ``open``, ``previous_run_id``,
        ``aging`` (persisting findings per bucket), ``trend`` (open findings of recent runs, oldest
        first, this run last) and ``resolved_findings`` (what disappeared since the previous run).

        A reopened finding keeps the first time it was ever seen. ``now`` defaults to ``params.now``.
        """
        now = _aware(now, params.now)
        company = params.company
        out = findings.copy()
        fp_series = fingerprint_findings(out, company)
        out["fingerprint"] = fp_series
        fps: list[str] = fp_series.astype(object).tolist()
        try:
            previous = self.previous_completed_run(company, before=params.run_id)
            prev_fps = self._fingerprints_of(previous.run_id) if previous else {}
            earlier = self._first_seen(company, [fp for fp in fps if fp not in prev_fps])
            statuses: list[str] = []
            first_seen: list[datetime] = []
            for fp in fps:
                if fp in prev_fps:
                    statuses.append("persisting")
                    first_seen.append(prev_fps[fp]["first_seen"])
                elif fp in earlier:
                    statuses.append("reopened")
                    first_seen.append(earlier[fp])
                else:
                    statuses.append("new")
                    first_seen.append(now)
            current = set(fps)
            resolved = [dict(v) for fp, v in sorted(prev_fps.items()) if fp not in current]
            out["history_status"] = pd.Series(statuses, dtype="string", index=out.index)
            out["first_seen"] = pd.Series(pd.to_datetime(first_seen, utc=True), index=out.index).astype(
                "datetime64[ns, UTC]"
            )
            ages = [max(0, (now - fs).days) for fs in first_seen]
            out["age_days"] = pd.Series(ages, dtype="Int64", index=out.index)

            digests = values_digests(out)
            lapses, adopted = self._apply_acks(params, out, fps, statuses, digests, now)

            aging = {label: 0 for label, _, _ in AGING_BUCKETS}
            for status, age in zip(statuses, ages, strict=True):
                if status == "persisting":
                    aging[aging_bucket(age)] += 1
            summary: dict[str, Any] = {
                "previous_run_id": previous.run_id if previous else None,
                "new": statuses.count("new"),
                "persisting": statuses.count("persisting"),
                "resolved": len(resolved),
                "reopened": statuses.count("reopened"),
                "open": len(statuses),
                "aging": aging,
            }
            self._record_findings(params, out, fps, statuses, first_seen, summary, digests, lapses, adopted)
            summary["trend"] = self._trend(company, params.run_id)
            summary["resolved_findings"] = [
                {
                    "entity": r["entity"],
                    "category": r["category"],
                    "awra_id": r["awra_id"],
                    "awra_number": r["awra_number"],
                    "qbo_id": r["qbo_id"],
                    "field": r["field"],
                    "party": r["party"],
                    "first_seen": r["first_seen"].isoformat(),
                    "fingerprint": r["fingerprint"],
                }
                for r in resolved
            ]
        except SQLAlchemyError as exc:
            raise self._error("could not compare with the run history", exc) from exc
        return out, summary

    def _apply_acks(
        self,
        params: RunParams,
        out: pd.DataFrame,
        fps: Sequence[str],
        statuses: Sequence[str],
        digests: Sequence[str],
        now: datetime,
    ) -> tuple[dict[str, str], dict[str, str]]:
        """Fill the ack columns of ``out`` (in place: it is ``compare``'s own copy).

        Returns the acknowledgements that lapse now (fingerprint -> reason) and those recorded
        before findings had digests, which adopt the current one (fingerprint -> digest).
        """
        # acknowledgements are made by people, so a company has few: read them all at once
        acks = {a.fingerprint: a for a in self.acknowledgements(params.company)}
        n = len(out)
        by: list[str | None] = [None] * n
        note: list[str | None] = [None] * n
        at: list[datetime | None] = [None] * n
        until: list[date | None] = [None] * n
        lapsed: list[str | None] = [None] * n
        lapses: dict[str, str] = {}
        adopted: dict[str, str] = {}
        amounts = _cents_list(out)
        for i, fp in enumerate(fps):
            ack = acks.get(fp)
            if ack is None:
                continue
            if not ack.in_force:
                lapsed[i] = ack.lapsed_reason
                continue
            if ack.values_digest is None:
                adopted[fp] = digests[i]
            reason = lapse_reason(
                ack, history_status=statuses[i], values_digest=digests[i], amount_cents=amounts[i], today=now.date()
            )
            if reason is not None:
                lapses[fp] = reason
                lapsed[i] = reason
                continue
            by[i], note[i], at[i], until[i] = ack.by, ack.note, ack.at, ack.until
        text = F.dtype_of(F.STR)
        out["ack_by"] = pd.Series(by, dtype=text, index=out.index)
        out["ack_note"] = pd.Series(note, dtype=text, index=out.index)
        out["ack_at"] = pd.Series(at, index=out.index, dtype=object).astype("datetime64[ns, UTC]")
        out["ack_until"] = pd.Series(
            [None if d is None else pd.Timestamp(d) for d in until], index=out.index, dtype=object
        ).astype("datetime64[ns]")
        out["ack_lapsed"] = pd.Series(lapsed, dtype=text, index=out.index)
        return lapses, adopted

    # ------------------------------------------------------------------- acknowledgements

    def latest_completed_findings(self, company: str) -> tuple[RunRecord | None, pd.DataFrame]:
        """The latest completed run of ``company`` and the findings recorded for it."""
        try:
            run = self.previous_completed_run(company)
            return run, self.run_findings(run.run_id) if run else self.run_findings("")
        except SQLAlchemyError as exc:
            raise self._error("could not read the run history", exc) from exc

    def acknowledge(
        self,
        company: str,
        fingerprints: Sequence[str],
        *,
        note: str,
        by: str,
        until: date | None = None,
        now: datetime | None = None,
    ) -> list[Acknowledgement]:
        """Acknowledge findings of the latest completed run of ``company`` (replacing earlier acks).

        ``UsageError`` when a fingerprint is not a finding of that run, the note or name is blank,
        or ``until`` is already past.
        """
        now = _aware(now)
        note, by = " ".join(note.split()), " ".join(by.split())
        if not note:
            raise UsageError("--note: say in a few words why the finding is acknowledged")
        if not by:
            raise UsageError("--by: name who acknowledges it")
        if until is not None and until < now.date():
            raise UsageError(f"--until {until.isoformat()}: that date has already passed")
        run, findings = self.latest_completed_findings(company)
        if run is None:
            raise UsageError(f"{company}: no completed run yet, so no finding to acknowledge")
        by_fp = {str(r["fingerprint"]): r for r in findings.to_dict("records")}
        unknown = [fp for fp in fingerprints if fp not in by_fp]
        if unknown:
            raise UsageError(f"{company}: {unknown[0]} is not a finding of the latest completed run {run.run_id}")
        rows = []
        for fp in dict.fromkeys(fingerprints):
            f = by_fp[fp]
            rows.append(
                {
                    "company": company,
                    "fingerprint": fp,
                    **{k: _none(f.get(k)) for k in ("entity", "category", "awra_id", "awra_number", "qbo_id", "field")},
                    "party": _none(f.get("party")),
                    "amount_cents": None if _none(f.get("amount_cents")) is None else int(f["amount_cents"]),
                    "values_digest": _none(f.get("values_digest")),
                    "run_id": run.run_id,
                    "ack_by": by[:200],
                    "note": note,
                    "ack_at": now,
                    "until": until,
                }
            )
        try:
            with self.engine.begin() as conn:
                conn.execute(
                    acks_table.delete().where(
                        acks_table.c.company == company, acks_table.c.fingerprint.in_([r["fingerprint"] for r in rows])
                    )
                )
                conn.execute(acks_table.insert(), rows)
        except SQLAlchemyError as exc:
            raise self._error("could not record the acknowledgement", exc) from exc
        return self.acknowledgements(company, fingerprints=[r["fingerprint"] for r in rows])

    def unacknowledge(self, company: str, fingerprints: Sequence[str]) -> int:
        """Remove acknowledgements (in force or lapsed); how many there were."""
        try:
            with self.engine.begin() as conn:
                result = conn.execute(
                    acks_table.delete().where(
                        acks_table.c.company == company, acks_table.c.fingerprint.in_(list(fingerprints))
                    )
                )
        except SQLAlchemyError as exc:
            raise self._error("could not remove the acknowledgement", exc) from exc
        return int(result.rowcount or 0)

    def acknowledgements(
        self, company: str | None = None, *, fingerprints: Sequence[str] | None = None
    ) -> list[Acknowledgement]:
        """Acknowledgements (of one company, or all; of these fingerprints, or all), newest first."""
        query = sa.select(acks_table).order_by(acks_table.c.ack_at.desc(), acks_table.c.fingerprint)
        if company is not None:
            query = query.where(acks_table.c.company == company)
        found: list[Acknowledgement] = []
        try:
            with self.engine.connect() as conn:
                if fingerprints is None:
                    found = [_ack(r) for r in conn.execute(query).mappings()]
                else:
                    for chunk in _chunks(sorted(set(fingerprints)), _CHUNK):
                        found += [
                            _ack(r) for r in conn.execute(query.where(acks_table.c.fingerprint.in_(chunk))).mappings()
                        ]
        except SQLAlchemyError as exc:
            raise self._error("could not read the acknowledgements", exc) from exc
        return found

    def _fingerprints_of(self, run_id: str) -> dict[str, Mapping[Any, Any]]:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(findings_table).where(findings_table.c.run_id == run_id)).mappings().all()
        return {r["fingerprint"]: r for r in rows}

    def _first_seen(self, company: str, fingerprints: Sequence[str]) -> dict[str, datetime]:
        """For fingerprints seen in any completed run of the company: when first seen."""
        found: dict[str, datetime] = {}
        completed = sa.select(runs_table.c.run_id).where(
            runs_table.c.company == company, runs_table.c.outcome == "completed"
        )
        with self.engine.connect() as conn:
            for chunk in _chunks(sorted(set(fingerprints)), _CHUNK):
                rows = conn.execute(
                    sa.select(findings_table.c.fingerprint, sa.func.min(findings_table.c.first_seen))
                    .where(
                        findings_table.c.company == company,
                        findings_table.c.fingerprint.in_(chunk),
                        findings_table.c.run_id.in_(completed),
                    )
                    .group_by(findings_table.c.fingerprint)
                ).all()
                for fp, seen in rows:
                    found[fp] = UtcDateTime().process_result_value(seen, self.engine.dialect) or seen
        return found

    def _record_findings(
        self,
        params: RunParams,
        frame: pd.DataFrame,
        fps: Sequence[str],
        statuses: Sequence[str],
        first_seen: Sequence[datetime],
        summary: Mapping[str, Any],
        digests: Sequence[str],
        lapses: Mapping[str, str],
        adopted: Mapping[str, str],
    ) -> None:
        def col(name: str) -> list[str | None]:
            return [v or None for v in _texts(frame, name)]

        amounts = _cents_list(frame)
        rows = [
            {
                "run_id": params.run_id,
                "fingerprint": fp,
                "company": params.company,
                "entity": e,
                "category": c,
                "awra_id": a,
                "awra_number": n,
                "qbo_id": q,
                "field": f,
                "party": p,
                "amount_cents": amt,
                "history_status": s,
                "first_seen": fs,
                "values_digest": d,
            }
            for fp, e, c, a, n, q, f, p, amt, s, fs, d in zip(
                fps,
                col("entity"),
                col("category"),
                col("awra_id"),
                col("awra_number"),
                col("qbo_id"),
                col("field"),
                col("party"),
                amounts,
                statuses,
                first_seen,
                digests,
                strict=True,
            )
        ]
        history_doc = {
            k: v
            for k, v in summary.items()
            if k in ("previous_run_id", "new", "persisting", "resolved", "reopened", "open", "aging")
        }
        with self.engine.begin() as conn:
            conn.execute(findings_table.delete().where(findings_table.c.run_id == params.run_id))
            for chunk in _chunks(rows, 1000):
                conn.execute(findings_table.insert(), list(chunk))
            conn.execute(
                runs_table.update()
                .where(runs_table.c.run_id == params.run_id)
                .values(open_findings=len(rows), history=json.dumps(history_doc, sort_keys=True))
            )
            company = params.company
            for fp, reason in lapses.items():
                conn.execute(
                    acks_table.update()
                    .where(acks_table.c.company == company, acks_table.c.fingerprint == fp)
                    .values(lapsed_at=params.now, lapsed_reason=reason, lapsed_run_id=params.run_id)
                )
            for fp, digest in adopted.items():
                if fp not in lapses:
                    conn.execute(
                        acks_table.update()
                        .where(acks_table.c.company == company, acks_table.c.fingerprint == fp)
                        .values(values_digest=digest)
                    )

    def _trend(self, company: str, run_id: str) -> list[dict[str, Any]]:
        query = (
            sa.select(runs_table)
            .where(
                runs_table.c.company == company,
                sa.or_(runs_table.c.outcome == "completed", runs_table.c.run_id == run_id),
                runs_table.c.open_findings.is_not(None),
            )
            .order_by(runs_table.c.started_at.desc(), runs_table.c.run_id.desc())
            .limit(TREND_RUNS)
        )
        with self.engine.connect() as conn:
            rows = conn.execute(query).mappings().all()
        return [
            {
                "run_id": r["run_id"],
                "started_at": r["started_at"].isoformat(),
                "from": r["date_from"].isoformat(),
                "to": r["date_to"].isoformat(),
                "open": r["open_findings"],
                **{k: v for k, v in _json(r["history"]).items() if k in ("new", "resolved", "persisting", "reopened")},
            }
            for r in reversed(rows)
        ]


class _Heartbeat:
    """Renews a held lock's lease every quarter of the lease until stopped (a daemon thread)."""

    def __init__(self, history: RunHistory, handle: LockHandle):
        self.history = history
        self.handle = handle
        self.interval = max(0.05, history.lease_seconds / 4)
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._beat, name=f"lock-heartbeat-{handle.company}", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.stopped.set()
        self.thread.join(timeout=max(5.0, self.interval * 2))

    def _beat(self) -> None:
        while not self.stopped.wait(self.interval):
            try:
                if not self.history.renew_lock(self.handle):
                    log.error(
                        "%s: the run lock was taken over by another process; this run must not publish",
                        self.handle.company,
                    )
                    return
            except SourceError as exc:
                # a passing database hiccup: keep trying until the lease itself runs out
                log.warning("%s: could not renew the run lock: %s", self.handle.company, exc.one_line())


def _aware(moment: datetime | None, default: datetime | None = None) -> datetime:
    """``moment`` (or ``default``, or the current time), refusing naive datetimes: a naive one is a bug."""
    value = moment or default or datetime.now(UTC)
    if value.tzinfo is None:
        raise ValueError("the run history needs timezone-aware datetimes")
    return value


def _none(value: Any) -> Any:
    """None for a missing value (NaN, NA, None or blank text)."""
    if value is None or value is pd.NA:
        return None
    if isinstance(value, float) and value != value:
        return None
    if isinstance(value, str) and not value.strip():
        return None
    return value


def _cents_list(frame: pd.DataFrame) -> list[int | None]:
    if "amount_cents" not in frame.columns:
        return [None] * len(frame)
    return [None if pd.isna(v) else int(v) for v in frame["amount_cents"].astype("Int64").tolist()]


def _ack(row: Mapping[Any, Any]) -> Acknowledgement:
    return Acknowledgement(
        company=row["company"],
        fingerprint=row["fingerprint"],
        entity=row["entity"],
        category=row["category"],
        awra_id=row["awra_id"],
        awra_number=row["awra_number"],
        qbo_id=row["qbo_id"],
        field=row["field"],
        party=row["party"],
        amount_cents=row["amount_cents"],
        values_digest=row["values_digest"],
        run_id=row["run_id"],
        by=row["ack_by"],
        note=row["note"],
        at=row["ack_at"],
        until=row["until"],
        lapsed_at=row["lapsed_at"],
        lapsed_reason=row["lapsed_reason"],
    )


def _chunks(items: Sequence[Any], size: int) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _json(text: str | None) -> dict[str, Any]:
    if not text:
        return {}
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _record(row: Mapping[Any, Any]) -> RunRecord:
    return RunRecord(
        run_id=row["run_id"],
        company=row["company"],
        date_from=row["date_from"],
        date_to=row["date_to"],
        status=row["status_filter"],
        entities=tuple(e for e in (row["entities"] or "").split(",") if e),
        triggered_by=row["triggered_by"],
        started_at=row["started_at"],
        finished_at=row["finished_at"],
        outcome=row["outcome"],
        reason=row["reason"],
        counts=_json(row["counts"]),
        history=_json(row["history"]),
        open_findings=row["open_findings"],
        report_dir=row["report_dir"],
        email_status=row["email_status"],
        code_version=row["code_version"],
        qbo_minor_version=row["qbo_minor_version"],
        inputs_hash=row["inputs_hash"],
        owner=row["owner"],
        owner_host=row["owner_host"],
        owner_pid=row["owner_pid"],
        attempt=row["attempt"] or 1,
    )


# --------------------------------------------------------------------------- the history table


def format_history(rows: Sequence[RunRecord]) -> str:
    """A plain-text table of runs for ``qbo-recon history`` (newest first, as given).

    The host column says which machine ran each attempt: with workers on several hosts, the
    one to look at when a run failed or hangs.
    """
    if not rows:
        return "no runs recorded yet"
    headers = (
        "run id",
        "company",
        "window",
        "trigger",
        "started (UTC)",
        "took",
        "outcome",
        "try",
        "host",
        "new",
        "open",
        "email",
        "reason",
    )
    table: list[tuple[str, ...]] = []
    for r in rows:
        took = ""
        if r.finished_at is not None:
            seconds = max(0, int((r.finished_at - r.started_at).total_seconds()))
            took = f"{seconds // 60}m{seconds % 60:02d}s"
        new = r.history.get("new")
        table.append(
            (
                r.run_id,
                r.company,
                f"{r.date_from}..{r.date_to}",
                r.triggered_by,
                r.started_at.strftime("%Y-%m-%d %H:%M"),
                took,
                r.outcome,
                str(r.attempt),
                r.owner_host or "",
                "" if new is None else str(new),
                "" if r.open_findings is None else str(r.open_findings),
                r.email_status or "",
                (r.reason or "")[:80],
            )
        )
    widths = [max(len(h), *(len(row[i]) for row in table)) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    lines.extend("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip() for row in table)
    return "\n".join(lines)


__all__ = [
    "AGING_BUCKETS",
    "DEFAULT_LEASE_SECONDS",
    "OUTCOMES",
    "LockHandle",
    "RunHistory",
    "RunRecord",
    "aging_bucket",
    "fingerprint_findings",
    "fingerprint_of",
    "format_history",
    "hash_inputs",
    "make_engine",
    "process_alive",
]
