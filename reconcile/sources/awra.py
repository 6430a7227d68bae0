"""The AWRA reader: SQLAlchemy Core, read-only, into canonical frames.

``read_awra`` reads the run's window (all statuses) plus everything the checks need (master
records, mappings, the sync log); ``lookup_awra`` fetches records beyond the window by QBO link,
by the sync log's QBO Id or by number. Both return an ``AwraData`` checked against
``reconcile.frames``.

Read-only
    ``open_awra`` is the only way in. SQLite is opened through a ``mode=ro`` URI (so a missing
    file is never created) with ``PRAGMA query_only=ON`` and one deferred transaction (one
    snapshot); PostgreSQL runs ``SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY``;
    MariaDB/MySQL ``START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY``; on both servers
    the session is made read-only as well, so neither DDL (which commits implicitly on
    MariaDB) nor a stray COMMIT can open a writable transaction. Every query is a
    SELECT built from ``sqlalchemy.table()/column()`` objects with bound parameters. The
    transaction is rolled back at the end.

Exact money
    Money columns are selected untyped, so the reader sees what the driver gives: ``Decimal``
    on PostgreSQL/MariaDB; on SQLite a REAL (float), an INTEGER or TEXT. Each value becomes
    integer cents exactly: a float is read through its shortest decimal text (``repr``, so the
    REAL ``0.1 + 0.2`` is ``0.3``), then every value is rounded to cents with ROUND_HALF_UP
    (``1.005`` -> 101 cents, ``"1234.565"`` -> 123457). Fast paths cover the common shapes
    (a float within 1e-6 cent of a whole cent, a Decimal or text with at most two decimals);
    anything else goes through ``Decimal.quantize``. NULL, blank, non-numeric, NaN/infinite
    or out-of-range values are data-quality findings, never zero.

Columns, not rows
    Rows are fetched from the DBAPI cursor in batches (``FETCH_ROWS``) and turned into columns
    at once (``awra_columns``): a batch whose values share a plain type (text, integer, float)
    becomes an Arrow array, anything else stays the driver's objects. Each rule below is then
    applied to a whole column, with fast paths for the common shapes (ISO dates, money text or
    floats of whole cents, Decimals of two places) that give exactly what the per-value rule
    (``awra_values``) gives, and that rule for every other value. Text columns go into the frames
    as they are (Arrow storage, the dtype pandas infers for Python texts).

Bad data
    Every problem the reader cannot take as given (NULL or non-numeric amount, NULL or
    unparseable date, unknown status, a reference to a master record or invoice that does not
    exist, a master record without a name or with a bad active flag...) becomes one row of
    the ``DATA_QUALITY`` frame, and the transaction gets ``data_ok=False`` (it stays in the
    frame for pairing). Rows whose ``txn_date`` cannot be placed in any window (NULL or
    unparseable) are read from the whole table, with ``txn_date`` NaT. Deliberate leniencies:
    a status differing only in case or surrounding blanks (``" Posted"``) is taken as that
    status; a date stored with a time part keeps its date; one empty side of a journal line
    (debit or credit) is normal, both empty is a finding; a NULL payment method or deposit
    account is allowed (QBO has defaults), one that does not exist is a finding. Unparseable
    timestamps (``updated_at``, ``attempted_at``) become NaT without a finding.

Ids and order
    Ids are text: an INTEGER id reads as ``"12"`` (a REAL ``12.0`` too); blank ids and
    references are ``<NA>``. Frames are sorted (entity, id / txn_id, line_no) so the output
    does not depend on the database's row order.

Errors
    An unparseable URL, an unknown driver, a missing SQLite file or a database lacking the
    expected tables/columns (all named at once) is a ``UsageError`` (exit 2); a server that
    cannot be reached, refuses the login or fails mid-read is a ``SourceError`` (exit 3), whose
    text never holds the password.
"""

from __future__ import annotations

import io
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlsplit

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import sqlalchemy as sa
from sqlalchemy.engine import URL, Connection, Engine
from sqlalchemy.exc import (
    ArgumentError,
    DBAPIError,
    InterfaceError,
    NoSuchModuleError,
    OperationalError,
    SQLAlchemyError,
)
from sqlalchemy.pool import NullPool
from sqlalchemy.sql.elements import ColumnElement

from reconcile import frames as F
from reconcile.config import AwraSettings
from reconcile.errors import SourceError, UsageError
from reconcile.model import AwraData, LookupRequest
from reconcile.params import RunParams
from reconcile.sources import awra_columns as C
from reconcile.sources import awra_values as V

__all__ = ["awra_label", "lookup_awra", "open_awra", "read_awra"]

#: Values per IN list in one query (look-ups, sync-run ids). A look-up's columns (number, QBO
#: link, the sync log's QBO Id) are often not indexed, so each query may scan its table: the
#: number of queries, not their length, is the cost (5,000 numbers at 1M invoices: 9.1 s CPU in
#: lists of 500, 1.2 s in one list). 10,000 stays under SQLite's 32,766 bound parameters (999
#: before SQLite 3.32) and PostgreSQL's 65,535; MariaDB's driver sends the values inline.
CHUNK_SIZE = 10_000 if sqlite3.sqlite_version_info >= (3, 32, 0) else 900

#: Seconds to wait for a database server to answer a connection attempt.
CONNECT_TIMEOUT_SECONDS = 15

# --------------------------------------------------------------------------- the read model

#: Columns the reader selects from each AWRA table (canonical names, CONTRACTS §1). A database
#: must have every one of them (under its configured name); other columns are ignored.
READ_COLUMNS: Mapping[str, tuple[str, ...]] = {
    "customers": ("id", "code", "name", "email", "active", "updated_at"),
    "vendors": ("id", "code", "name", "active", "updated_at"),
    "items": ("id", "code", "name", "item_type", "income_account_id", "expense_account_id", "active", "updated_at"),
    "tax_codes": ("id", "code", "name", "rate_percent", "active", "updated_at"),
    "accounts": ("id", "code", "name", "account_type", "active", "updated_at"),
    "payment_methods": ("id", "code", "name", "method_type", "active", "updated_at"),
    "qbo_mappings": ("mapping_type", "awra_id", "qbo_id", "qbo_name", "updated_at", "updated_by"),
    "invoices": (
        "id",
        "number",
        "customer_id",
        "txn_date",
        "due_date",
        "currency",
        "total_amount",
        "tax_amount",
        "status",
        "branch",
        "warehouse",
        "qbo_id",
        "updated_at",
        "updated_by",
    ),
    "invoice_lines": ("invoice_id", "line_no", "item_id", "description", "amount", "tax_code_id"),
    "payments": (
        "id",
        "number",
        "customer_id",
        "txn_date",
        "currency",
        "amount",
        "payment_method_id",
        "deposit_account_id",
        "status",
        "branch",
        "qbo_id",
        "updated_at",
        "updated_by",
    ),
    "payment_applications": ("payment_id", "invoice_id", "amount"),
    "bills": (
        "id",
        "number",
        "vendor_id",
        "txn_date",
        "due_date",
        "currency",
        "total_amount",
        "tax_amount",
        "status",
        "branch",
        "warehouse",
        "qbo_id",
        "updated_at",
        "updated_by",
    ),
    "bill_lines": ("bill_id", "line_no", "item_id", "account_id", "description", "amount", "tax_code_id"),
    "journals": (
        "id",
        "number",
        "txn_date",
        "currency",
        "status",
        "memo",
        "branch",
        "qbo_id",
        "updated_at",
        "updated_by",
    ),
    "journal_lines": ("journal_id", "line_no", "account_id", "debit", "credit", "description"),
    "sync_runs": ("id", "connector", "started_at", "finished_at", "status", "triggered_by"),
    "sync_log": (
        "id",
        "sync_run_id",
        "connector",
        "record_type",
        "record_id",
        "record_number",
        "status",
        "error_code",
        "message",
        "retry_count",
        "qbo_id",
        "attempted_at",
    ),
}

#: Columns a table may have or not (CONTRACTS §1): read when present, ``<NA>`` when absent.
OPTIONAL_COLUMNS: Mapping[str, tuple[str, ...]] = {
    "invoices": ("exchange_rate",),
    "payments": ("exchange_rate",),
    "bills": ("exchange_rate",),
    "journals": ("exchange_rate",),
}

#: The AWRA table of each master type.
MASTER_TABLES: Mapping[str, str] = {
    "customer": "customers",
    "vendor": "vendors",
    "item": "items",
    "tax_code": "tax_codes",
    "account": "accounts",
    "payment_method": "payment_methods",
}

#: Allowed values of the master records' type columns (CONTRACTS §1).
MASTER_TYPE_VALUES: Mapping[str, tuple[str, tuple[str, ...]]] = {
    "item": ("item_type", ("service", "inventory", "non_inventory")),
    "account": (
        "account_type",
        ("income", "expense", "asset", "receivable", "payable", "bank", "liability", "equity"),
    ),
    "payment_method": ("method_type", ("cash", "card", "bank", "mobile_money", "provider")),
}


@dataclass(frozen=True)
class _EntitySpec:
    """How one transaction entity is stored."""

    entity: str
    header: str
    lines: str
    line_fk: str
    party_col: str | None
    amount_col: str | None
    tax_col: str | None


_SPECS: Mapping[str, _EntitySpec] = {
    "invoice": _EntitySpec(
        "invoice", "invoices", "invoice_lines", "invoice_id", "customer_id", "total_amount", "tax_amount"
    ),
    "payment": _EntitySpec("payment", "payments", "payment_applications", "payment_id", "customer_id", "amount", None),
    "bill": _EntitySpec("bill", "bills", "bill_lines", "bill_id", "vendor_id", "total_amount", "tax_amount"),
    "journal": _EntitySpec("journal", "journals", "journal_lines", "journal_id", None, None, None),
}

_MASTER_WORDS: Mapping[str, str] = {
    "customer": "customer",
    "vendor": "vendor",
    "item": "item",
    "tax_code": "tax code",
    "account": "account",
    "payment_method": "payment method",
}


def _tables_needed(entities: Iterable[str]) -> list[str]:
    needed = [*MASTER_TABLES.values(), "qbo_mappings", "sync_runs", "sync_log"]
    for entity in entities:
        spec = _SPECS[entity]
        needed += [spec.header, spec.lines]
        if entity == "payment":
            needed.append("invoices")  # applications are checked against it
    return list(dict.fromkeys(needed))


# --------------------------------------------------------------------------- public API


def awra_label(settings: AwraSettings) -> str:
    """The AWRA URL as it may be shown in reports and logs (password hidden)."""
    try:
        return sa.make_url(settings.url).render_as_string(hide_password=True)
    except (ArgumentError, ValueError):
        return "(unparseable URL)"


@contextmanager
def open_awra(settings: AwraSettings) -> Iterator[Connection]:
    """A connection to AWRA inside a read-only transaction, rolled back on exit.

    Raises ``UsageError`` for a URL that cannot be used as given and ``SourceError`` when
    the database cannot be reached or read; SQLAlchemy errors raised inside the block are
    turned into ``SourceError`` too.
    """
    url = _parse_url(settings.url)
    shown = url.render_as_string(hide_password=True)
    engine = _create_engine(url, shown)
    try:
        try:
            conn = engine.connect()
        except SQLAlchemyError as exc:
            raise _wrap_error(exc, url, shown) from exc
        with conn:
            try:
                _begin_read_only(conn)
                yield conn
            except SQLAlchemyError as exc:
                raise _wrap_error(exc, url, shown) from exc
    finally:
        engine.dispose()


def read_awra(settings: AwraSettings, params: RunParams) -> AwraData:
    """Read AWRA for the run's window: every status, plus masters, mappings and sync log.

    Transactions of ``params.entities`` dated within ``[date_from, date_to]`` (and those whose
    date is NULL or unparseable, from the whole table) come back with ``in_window=True``,
    with their lines and sync-log attempts; master records, mappings, master sync-log rows
    and the sync runs those rows name come back whole.
    """
    with open_awra(settings) as conn:
        tables = _resolve_tables(conn, settings, params.entities)
        masters, master_dq = _read_masters(conn, tables)
        known = _known_ids(masters)
        names = _party_names(masters)
        tx_parts, line_parts, sync_parts, dq_parts = [], [], [], [master_dq]
        for entity in [e for e in F.ENTITIES if e in params.entities]:
            spec = _SPECS[entity]
            raw = _read_entity_raw(conn, tables, settings, spec, [_window_condition(conn, tables[spec.header], params)])
            built = _build_entity(raw, spec, tables, known, names, params, mode="window")
            tx_parts.append(built.transactions)
            line_parts.append(built.lines)
            sync_parts.append(built.sync_log)
            dq_parts.append(built.data_quality)
        sync_parts.append(_read_master_sync_log(conn, tables, settings))
        mappings = _read_mappings(conn, tables)
        sync_log = _sorted_sync_log(F.concat_frames(sync_parts, F.SYNC_LOG))
        sync_runs = _read_sync_runs(conn, tables, sync_log["sync_run_id"])
    return AwraData(
        transactions=F.concat_frames(tx_parts, F.TRANSACTIONS),
        lines=F.concat_frames(line_parts, F.LINES),
        masters=masters,
        mappings=mappings,
        sync_log=sync_log,
        sync_runs=sync_runs,
        data_quality=_sorted_findings(F.concat_frames(dq_parts, F.DATA_QUALITY)),
    ).check()


def lookup_awra(settings: AwraSettings, params: RunParams, request: LookupRequest) -> AwraData:
    """Fetch AWRA records beyond the window, by QBO link, sync-log QBO Id or number.

    For each entity in ``request``: records (any date) whose ``qbo_id`` is in
    ``request.awra_links[entity]``, or whose latest *succeeded* sync-log row carries such a QBO
    Id, or whose number is in ``request.awra_numbers[entity]``. They come back with
    ``in_window=False`` with their lines and sync-log rows. Records that ``read_awra`` already
    returns for ``params`` (dated in the window, or with no usable date) are left out, so the
    two results never hold one record twice. Data-quality rows of the returned records are
    included (their ``data_ok=False`` must be explained); masters, mappings and sync runs are
    empty.
    """
    entities = [e for e in F.ENTITIES if request.awra_links.get(e) or request.awra_numbers.get(e)]
    if not entities:
        return AwraData.empty()
    with open_awra(settings) as conn:
        tables = _resolve_tables(conn, settings, entities)
        masters, _ = _read_masters(conn, tables)
        known = _known_ids(masters)
        names = _party_names(masters)
        tx_parts, line_parts, sync_parts, dq_parts = [], [], [], []
        for entity in entities:
            spec = _SPECS[entity]
            ids = _lookup_ids(
                conn,
                tables,
                settings,
                spec,
                links=request.awra_links.get(entity, frozenset()),
                numbers=request.awra_numbers.get(entity, frozenset()),
            )
            if not ids:
                continue
            header = tables[spec.header]
            conditions = [header.c("id").in_(chunk) for chunk in _chunks(sorted(ids))]
            raw = _read_entity_raw(conn, tables, settings, spec, conditions)
            built = _build_entity(raw, spec, tables, known, names, params, mode="lookup")
            tx_parts.append(built.transactions)
            line_parts.append(built.lines)
            sync_parts.append(built.sync_log)
            dq_parts.append(built.data_quality)
    empty = AwraData.empty()
    return AwraData(
        transactions=F.concat_frames(tx_parts, F.TRANSACTIONS),
        lines=F.concat_frames(line_parts, F.LINES),
        masters=empty.masters,
        mappings=empty.mappings,
        sync_log=_sorted_sync_log(F.concat_frames(sync_parts, F.SYNC_LOG)),
        sync_runs=empty.sync_runs,
        data_quality=_sorted_findings(F.concat_frames(dq_parts, F.DATA_QUALITY)),
    ).check()


# --------------------------------------------------------------------------- connecting


def _parse_url(text: str) -> URL:
    try:
        return sa.make_url(text)
    except (ArgumentError, ValueError):
        raise UsageError(
            "awra.url: not a valid SQLAlchemy URL (e.g. sqlite:///data/awra.db, "
            "postgresql+psycopg://user@host/db, mysql+pymysql://user@host/db)"
        ) from None


def _sqlite_path(url: URL, shown: str) -> Path:
    database = url.database or ""
    if database.startswith("file:"):
        database = unquote(urlsplit(database).path)
    if not database or database == ":memory:":
        raise UsageError(f"awra.url {shown}: an in-memory SQLite database holds no AWRA data; give the file's path")
    path = Path(database).expanduser().resolve()
    if not path.is_file():
        raise UsageError(f"awra.url {shown}: no such database file ({path})")
    return path


def _create_engine(url: URL, shown: str) -> Engine:
    backend = url.get_backend_name()
    try:
        if backend == "sqlite":
            path = _sqlite_path(url, shown)
            uri = f"file:{quote(str(path))}?mode=ro"

            def connect() -> sqlite3.Connection:
                return sqlite3.connect(uri, uri=True, check_same_thread=False)

            return sa.create_engine("sqlite+pysqlite://", creator=connect, poolclass=NullPool)
        connect_args: dict[str, Any] = {}
        if backend in ("postgresql", "mysql", "mariadb") and "connect_timeout" not in url.query:
            connect_args["connect_timeout"] = CONNECT_TIMEOUT_SECONDS
        return sa.create_engine(url, poolclass=NullPool, connect_args=connect_args)
    except (NoSuchModuleError, ImportError):
        raise UsageError(
            f"awra.url {shown}: no database driver {url.drivername!r} is installed "
            "(use sqlite, postgresql+psycopg or mysql+pymysql)"
        ) from None
    except ArgumentError as exc:
        raise UsageError(f"awra.url {shown}: {_first_line(str(exc))}") from None


def _begin_read_only(conn: Connection) -> None:
    backend = conn.dialect.name
    if backend == "sqlite":
        conn.exec_driver_sql("PRAGMA query_only = ON")
        conn.exec_driver_sql("BEGIN")  # one read snapshot for the whole read
    elif backend == "postgresql":
        # the session too, so that even a COMMIT sent through this connection cannot open a
        # writable transaction
        conn.exec_driver_sql("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")
        conn.exec_driver_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
    elif backend in ("mysql", "mariadb"):
        # the session too: DDL commits implicitly and would otherwise run in a new transaction
        conn.exec_driver_sql("SET SESSION TRANSACTION READ ONLY")
        conn.exec_driver_sql("START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY")


def _wrap_error(exc: SQLAlchemyError, url: URL, shown: str) -> Exception:
    orig = getattr(exc, "orig", None)
    reason = _first_line(str(orig if orig is not None else exc))
    if url.password:
        reason = reason.replace(str(url.password), "***")
    if url.get_backend_name() == "sqlite" and "file is not a database" in reason:
        return UsageError(f"awra.url {shown}: not an SQLite database file")
    retriable = isinstance(exc, OperationalError | InterfaceError) or (
        isinstance(exc, DBAPIError) and exc.connection_invalidated
    )
    return SourceError(f"cannot read {shown}: {reason}", source="AWRA", retriable=retriable)


def _first_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[0] if lines else "unknown error"


# --------------------------------------------------------------------------- table names


class _Table:
    """One AWRA table under its actual name, with its columns addressed by canonical name."""

    def __init__(
        self,
        canonical: str,
        actual: str,
        schema: str | None,
        columns: Mapping[str, str],
        text_columns: frozenset[str] = frozenset(),
    ):
        self.canonical = canonical
        self.actual = actual
        self.columns = dict(columns)
        #: canonical names of the columns the database declares as text (legacy schemas keep dates so)
        self.text_columns = text_columns
        self.clause = sa.table(actual, *(sa.column(name) for name in dict.fromkeys(columns.values())), schema=schema)

    @property
    def label(self) -> str:
        """The table's name as the user knows it."""
        return self.actual

    def c(self, canonical: str) -> ColumnElement[Any]:
        """The column under its actual name."""
        return self.clause.c[self.columns[canonical]]

    def select_columns(self, alias: sa.TableClause | sa.Alias | None = None) -> list[ColumnElement[Any]]:
        """Every read column, labelled with its canonical name."""
        source = alias if alias is not None else self.clause
        return [source.c[actual].label(canonical) for canonical, actual in self.columns.items()]


def _resolve_tables(conn: Connection, settings: AwraSettings, entities: Iterable[str]) -> dict[str, _Table]:
    """Find every needed table and column (case-insensitively); name all that are missing."""
    inspector = sa.inspect(conn)
    present: dict[str | None, dict[str, str]] = {}
    missing_tables: list[str] = []
    missing_columns: list[str] = []
    tables: dict[str, _Table] = {}
    for canonical in _tables_needed(entities):
        configured = settings.table_name(canonical)
        schema, _, name = configured.rpartition(".") if "." in configured else ("", "", configured)
        schema_key = schema or None
        if schema_key not in present:
            names = [*inspector.get_table_names(schema=schema_key), *inspector.get_view_names(schema=schema_key)]
            present[schema_key] = {n.lower(): n for n in names}
        actual = present[schema_key].get(name.lower())
        shown = configured if configured == canonical else f"{configured} ({canonical})"
        if actual is None:
            missing_tables.append(shown)
            continue
        declared = inspector.get_columns(actual, schema=schema_key)
        have = {col["name"].lower(): col["name"] for col in declared}
        text_typed = {col["name"] for col in declared if isinstance(col["type"], sa.String)}
        columns: dict[str, str] = {}
        for col in READ_COLUMNS[canonical]:
            wanted = settings.column_name(canonical, col)
            found = have.get(wanted.lower())
            if found is None:
                missing_columns.append(f"{actual}.{wanted}" + ("" if wanted == col else f" ({canonical}.{col})"))
            else:
                columns[col] = found
        for col in OPTIONAL_COLUMNS.get(canonical, ()):
            found = have.get(settings.column_name(canonical, col).lower())
            if found is not None:
                columns[col] = found
        texts = frozenset(c for c, found in columns.items() if found in text_typed)
        tables[canonical] = _Table(canonical, actual, schema_key, columns, texts)
    if missing_tables or missing_columns:
        parts = []
        if missing_tables:
            parts.append("missing tables: " + ", ".join(missing_tables))
        if missing_columns:
            parts.append("missing columns: " + ", ".join(missing_columns))
        url = conn.engine.url.render_as_string(hide_password=True)
        if conn.dialect.name == "sqlite":
            url = settings.url
        raise UsageError(f"awra.url {url}: not an AWRA database as configured; " + "; ".join(parts))
    return tables


# --------------------------------------------------------------------------- fetching

#: Raw rows of one query: column name -> the driver's values as a column (``awra_columns``).
_Raw = dict[str, C.Column]

#: Rows fetched and turned into columns at a time: the driver's row tuples of one batch are
#: freed before the next is fetched, so a read never holds a whole table as Python rows.
FETCH_ROWS = 50_000


def _fetch(conn: Connection, stmt: sa.Select[Any], names: Sequence[str]) -> _Raw:
    """Run a SELECT and return its columns of raw driver values.

    On PostgreSQL through psycopg the rows come as ``COPY ... TO STDOUT`` text, parsed by
    Arrow (``_copy_from_postgres``) when every column has a type whose text the reader knows;
    otherwise, and on other databases, from the DBAPI cursor batch by batch.
    """
    if conn.dialect.name == "postgresql" and conn.dialect.driver == "psycopg":
        copied = _copy_from_postgres(conn, stmt, names)
        if copied is not None:
            return copied
    result = conn.execute(stmt)
    # the columns are untyped, so SQLAlchemy has nothing to convert: the DBAPI cursor's rows
    # are the values Row objects would carry, without building a Row per row
    cursor = result.cursor
    batches: dict[str, list[C.Column]] = {name: [] for name in names}
    try:
        while rows := cursor.fetchmany(FETCH_ROWS):
            for name, values in zip(names, zip(*rows, strict=True), strict=True):
                batches[name].append(C.column_of(values))
            del rows
    finally:
        result.close()
    return {name: C.concat_columns(parts) for name, parts in batches.items()}


#: PostgreSQL types (by OID) whose ``COPY`` text the reader reads, and how: text as it is,
#: integers as int64, the others with the value psycopg would load (see ``awra_columns``).
_PG_TEXT_TYPES = frozenset({25, 1043, 1042, 19})  # text, varchar, char, name
_PG_INT_TYPES = frozenset({20, 21, 23})  # bigint, smallint, integer
_PG_LOADERS: Mapping[int, Callable[[str], Any]] = {
    1700: Decimal,  # numeric
    1082: C.load_date,  # date
    1114: C.load_timestamp,  # timestamp
    1184: C.load_utc_timestamp,  # timestamptz, written in UTC
}


def _copy_csv(driver: Any, query: str, width: int, sink: io.BytesIO) -> list[int] | None:
    """Write ``query``'s rows as CSV into ``sink``; their column type OIDs, or None (nothing copied)."""
    with driver.cursor() as cursor:
        cursor.execute(f"SELECT * FROM ({query}) AS q LIMIT 0")  # the result's column types
        oids = [int(column.type_code) for column in cursor.description or ()]
        if len(oids) != width or not all(o in _PG_TEXT_TYPES or o in _PG_INT_TYPES or o in _PG_LOADERS for o in oids):
            return None
        cursor.execute("SELECT current_setting('DateStyle'), current_setting('TimeZone')")
        date_style, time_zone = cursor.fetchone() or ("ISO, MDY", "UTC")
        cursor.execute("SELECT set_config('DateStyle', 'ISO, YMD', true), set_config('TimeZone', 'UTC', true)")
        with cursor.copy(f"COPY ({query}) TO STDOUT (FORMAT CSV)") as copy:
            for block in copy:
                sink.write(block)
        # (after a failed COPY the transaction is aborted and rolled back, settings with it)
        restore = "SELECT set_config('DateStyle', %s, true), set_config('TimeZone', %s, true)"
        cursor.execute(restore, (date_style, time_zone))
    return oids


def _copy_from_postgres(conn: Connection, stmt: sa.Select[Any], names: Sequence[str]) -> _Raw | None:
    """A SELECT's columns through ``COPY (SELECT ...) TO STDOUT (FORMAT CSV)``, or None.

    The server writes each value as text in one stream (no row objects, no per-value loading)
    and Arrow's CSV reader splits it into columns. None when a column has a type the reader
    does not read as text (then the caller fetches rows). COPY takes no parameters, so psycopg
    binds them into the statement text, quoting as it does for its own client-side cursors.
    The session writes dates in ISO style and timestamps in UTC for the COPY only (restored
    after), inside the same read-only transaction: the same snapshot as every other query.
    """
    import psycopg  # the driver of this connection, so present

    driver = conn.connection.driver_connection
    assert isinstance(driver, psycopg.Connection)
    compiled = stmt.compile(dialect=conn.dialect, compile_kwargs={"render_postcompile": True})
    query = psycopg.ClientCursor(driver).mogrify(str(compiled), compiled.params)
    sink = io.BytesIO()
    try:
        oids = _copy_csv(driver, query, len(names), sink)
    except psycopg.Error as exc:  # as SQLAlchemy would raise it, so open_awra reports it as for any query
        raise DBAPIError.instance(query, None, exc, psycopg.Error) from exc
    if oids is None:
        return None
    data = sink.getbuffer()
    if not len(data):
        return {name: pa.array([], type=pa.large_string()) for name in names}
    table = pacsv.read_csv(
        pa.py_buffer(data),
        read_options=pacsv.ReadOptions(column_names=list(names), block_size=1 << 24),
        parse_options=pacsv.ParseOptions(newlines_in_values=True),
        convert_options=pacsv.ConvertOptions(
            column_types={name: pa.large_string() for name in names},
            strings_can_be_null=True,
            null_values=[""],  # CSV writes NULL unquoted and an empty text as ""
            quoted_strings_can_be_null=False,
        ),
    )
    out: _Raw = {}
    for i, (name, oid) in enumerate(zip(names, oids, strict=True)):
        text = table.column(i).combine_chunks()
        if oid in _PG_INT_TYPES:
            out[name] = text.cast(pa.int64())
        elif oid in _PG_LOADERS:
            out[name] = C.LoadedText(text, _PG_LOADERS[oid])
        else:
            out[name] = text
    return out


def _raw_len(raw: _Raw) -> int:
    return len(next(iter(raw.values()))) if raw else 0


def _raw_take(raw: _Raw, mask: np.ndarray) -> _Raw:
    return {name: C.take(values, mask) for name, values in raw.items()}


def _raw_concat(parts: Sequence[_Raw]) -> _Raw:
    if len(parts) == 1:
        return parts[0]
    return {name: C.concat_columns([part[name] for part in parts]) for name in parts[0]}


def _select(*columns: ColumnElement[Any]) -> tuple[sa.Select[Any], list[str]]:
    return sa.select(*columns), [str(c.key) for c in columns]


def _chunks(values: Sequence[str], size: int = CHUNK_SIZE) -> Iterator[list[str]]:
    for start in range(0, len(values), size):
        yield list(values[start : start + size])


def _window_condition(conn: Connection, header: _Table, params: RunParams) -> ColumnElement[bool]:
    """Rows in ``[date_from, date_to]``, or whose date is NULL/unusable (post-filtered in Python).

    The upper bound is exclusive of the next day, so a SQLite date stored with a time part
    (``2024-01-31 10:00``) still falls in the window of its day. The condition follows the
    column's declared type: a PostgreSQL or MariaDB date column declared as text (legacy schemas)
    is compared as ISO text, as SQLite's is, since comparing text with a date fails on PostgreSQL
    ("operator does not exist: text >= date").
    """
    d = header.c("txn_date")
    backend = conn.dialect.name
    as_text = backend != "sqlite" and "txn_date" in header.text_columns
    bound_type: Any = sa.String if as_text else sa.Date
    low = sa.literal(params.date_from.isoformat() if as_text else params.date_from, bound_type)
    high_day = params.date_to + timedelta(days=1)
    high = sa.literal(high_day.isoformat() if as_text else high_day, bound_type)
    unusable: list[ColumnElement[bool]] = [d.is_(None)]
    if as_text:
        # text that does not start like an ISO date is read whatever the window, and the reader's
        # date parsing (the same as for SQLite) reports it as data quality
        iso_head = "^[0-9]{4}-[0-9]{2}-[0-9]{2}([ T]|$)"
        unusable.append(sa.not_(d.op("~" if backend == "postgresql" else "REGEXP")(sa.literal(iso_head))))
    elif backend == "sqlite":
        head = sa.func.substr(d, 1, 10)
        unusable += [
            sa.not_(d.op("GLOB")(sa.literal("[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]*"))),
            sa.func.date(head).is_(None),
            sa.func.date(head) != head,
            sa.and_(sa.func.length(d) > 10, sa.func.substr(d, 11, 1).not_in([" ", "T"])),
        ]
    if backend in ("mysql", "mariadb"):
        unusable.append(d < sa.literal(date(1000, 1, 1).isoformat() if as_text else date(1000, 1, 1), bound_type))
    return sa.or_(sa.and_(d >= low, d < high), *unusable)


@dataclass(frozen=True)
class _RawEntity:
    headers: _Raw
    lines: _Raw
    sync_log: _Raw


def _read_entity_raw(
    conn: Connection,
    tables: Mapping[str, _Table],
    settings: AwraSettings,
    spec: _EntitySpec,
    conditions: Sequence[ColumnElement[bool]],
) -> _RawEntity:
    """Headers, lines and sync-log rows of the records a condition on the header selects."""
    header, lines, sync = tables[spec.header], tables[spec.lines], tables["sync_log"]
    header_parts, line_parts, sync_parts = [], [], []
    for cond in conditions:
        stmt, names = _select(*header.select_columns())
        header_parts.append(_fetch(conn, stmt.where(cond), names))
        line_cols = lines.select_columns()
        joined = lines.clause.join(header.clause, lines.c(spec.line_fk) == header.c("id"))
        if spec.entity == "payment":
            # does the applied invoice exist (anywhere, any date)?
            invoices = tables["invoices"].clause.alias("ref_invoice")
            ref_id = invoices.c[tables["invoices"].columns["id"]]
            joined = joined.outerjoin(invoices, ref_id == lines.c("invoice_id"))
            line_cols.append(ref_id.label("_ref_found"))
            # its recorded QBO link, so an application resolves whatever the invoice's date
            line_cols.append(invoices.c[tables["invoices"].columns["qbo_id"]].label("_ref_link"))
        stmt, names = _select(*line_cols)
        line_parts.append(_fetch(conn, stmt.select_from(joined).where(cond), names))
        stmt, names = _select(*sync.select_columns())
        stmt = stmt.select_from(sync.clause.join(header.clause, sync.c("record_id") == header.c("id"))).where(
            sync.c("record_type") == spec.entity, sync.c("connector") == settings.connector, cond
        )
        sync_parts.append(_fetch(conn, stmt, names))
    return _RawEntity(_raw_concat(header_parts), _raw_concat(line_parts), _raw_concat(sync_parts))


def _lookup_ids(
    conn: Connection,
    tables: Mapping[str, _Table],
    settings: AwraSettings,
    spec: _EntitySpec,
    *,
    links: Iterable[str],
    numbers: Iterable[str],
) -> set[str]:
    """AWRA ids of the records a look-up asks for (by link, sync-log QBO Id, number)."""
    header, sync = tables[spec.header], tables["sync_log"]
    wanted_links = sorted({str(v) for v in links if v})
    wanted_numbers = sorted({str(v) for v in numbers if v})
    ids: set[str] = set()
    for field, values in (("qbo_id", wanted_links), ("number", wanted_numbers)):
        for chunk in _chunks(values):
            stmt = sa.select(header.c("id").label("id")).where(header.c(field).in_(chunk))
            ids.update(V.id_text(v) for (v,) in conn.execute(stmt) if v is not None)
    # the QBO Id of the record's latest succeeded sync
    link_set = set(wanted_links)
    base = sa.and_(
        sync.c("connector") == settings.connector,
        sync.c("record_type") == spec.entity,
        sync.c("status") == "succeeded",
    )
    for chunk in _chunks(wanted_links):
        candidates = sa.select(sync.c("record_id")).where(base, sync.c("qbo_id").in_(chunk)).scalar_subquery()
        stmt, names = _select(
            sync.c("record_id").label("record_id"),
            sync.c("qbo_id").label("qbo_id"),
            sync.c("attempted_at").label("attempted_at"),
            sync.c("id").label("id"),
        )
        found = _fetch(conn, stmt.where(base, sync.c("record_id").in_(candidates)), names)
        if not _raw_len(found):
            continue
        frame = pd.DataFrame(
            {
                "record_id": C.to_objects(C.texts(found["record_id"])),
                "qbo_id": C.to_objects(C.texts(found["qbo_id"])),
                "attempted_at": C.timestamps(found["attempted_at"]),
                "id": C.to_objects(C.texts(found["id"])),
            }
        )
        latest = (
            frame.sort_values(["record_id", "attempted_at", "id"], na_position="first").groupby("record_id").tail(1)
        )
        ids.update(str(r) for r, q in zip(latest["record_id"], latest["qbo_id"], strict=True) if q in link_set)
    ids.discard("")
    return ids


# --------------------------------------------------------------------------- value parsing


def _exchange_rates(raw: C.Column, findings: _Findings, where: Mapping[str, Any]) -> pa.Array:
    """Exchange rates as normalized decimal text.

    NULL is unknown; anything but a positive number is a data-quality row, and unknown too.
    """
    if not C.notna(raw).any():  # the usual case where AWRA does not record rates
        return pa.nulls(len(raw), type=pa.large_string())
    texts = np.array([V.decimal_text(v) for v in C.to_objects(raw)], dtype=object)
    bad = np.array([t is V.BAD or (isinstance(t, str) and Decimal(t) <= 0) for t in texts], dtype=bool)
    findings.add(
        bad,
        field="exchange_rate",
        raw=raw,
        problem=lambda v: f"exchange rate{_quoted(v)} is not a positive number (the rate is taken as unknown)",
        **where,
    )
    texts[bad] = None
    return C.texts_of(texts)


# --------------------------------------------------------------------------- data quality


class _Findings:
    """Collects data-quality rows (as small frames) while frames are built."""

    def __init__(self) -> None:
        self.parts: list[pd.DataFrame] = []

    def add(
        self,
        mask: np.ndarray,
        *,
        table: str,
        entity: str,
        ids: C.Column,
        numbers: C.Column | Mapping[Any, str | None] | None,
        field: str,
        raw: C.Column | None,
        problem: Callable[[str | None], str],
        prefix: Callable[[np.ndarray], Sequence[str]] | None = None,
    ) -> None:
        """One row per True in ``mask``; ``problem`` turns the raw value text into plain words.

        ``numbers`` is aligned with ``ids`` or maps an id to its number. ``prefix`` gives, for
        the selected rows, what goes before each problem (e.g. ``"line 2: "``).
        """
        selector = np.asarray(mask, dtype=bool)
        if not selector.any():
            return
        count = int(selector.sum())
        chosen = C.pick(ids, selector)
        values = [V.raw_text(v) for v in C.pick(raw, selector)] if raw is not None else [None] * count
        leads = list(prefix(selector)) if prefix is not None else [""] * count
        if numbers is None:
            chosen_numbers: list[str | None] = [None] * count
        elif isinstance(numbers, np.ndarray | pa.Array | C.LoadedText):
            chosen_numbers = C.pick(numbers, selector)
        else:
            chosen_numbers = [numbers.get(i) for i in chosen]
        frame = pd.DataFrame(
            {
                "table": [table] * count,
                "entity": [entity] * count,
                "awra_id": chosen,
                "awra_number": chosen_numbers,
                "field": [field] * count,
                "value": values,
                "problem": [lead + problem(v) for lead, v in zip(leads, values, strict=True)],
            }
        )
        self.parts.append(F.conform(frame, F.DATA_QUALITY))

    def frame(self) -> pd.DataFrame:
        """All rows collected so far."""
        return F.concat_frames(self.parts, F.DATA_QUALITY)


def _quoted(value: str | None) -> str:
    return "" if value is None else f" {value!r}"


def _is_empty(words: str) -> Callable[[str | None], str]:
    return lambda v: f"{words} is empty"


def _not_one_of(column: str, allowed: Sequence[str]) -> Callable[[str | None], str]:
    words = column.replace("_", " ")
    return lambda v: f"{words}{_quoted(v)} is not one of {', '.join(allowed)}"


def _does_not_exist(words: str, table: str) -> Callable[[str | None], str]:
    return lambda v: f"{words}{_quoted(v)} does not exist in {table}"


def _add_money_findings(
    findings: _Findings,
    parsed: V.Parsed,
    *,
    words: str,
    report_missing: bool = True,
    **where: Any,
) -> None:
    """Rows for empty (if ``report_missing``) and non-numeric money values."""
    if report_missing:
        findings.add(parsed.missing, problem=lambda v: f"{words} is empty", **where)
    findings.add(parsed.bad, problem=lambda v: f"{words}{_quoted(v)} is not a number", **where)


def _add_dangling(
    findings: _Findings,
    values: C.Column,
    master_type: str,
    known: Mapping[str, set[str]],
    tables: Mapping[str, _Table],
    **where: Any,
) -> None:
    """Rows for references to master records that do not exist."""
    dangling = C.notna(values) & ~C.isin(values, known[master_type])
    problem = _does_not_exist(_MASTER_WORDS[master_type], tables[MASTER_TABLES[master_type]].label)
    findings.add(dangling, problem=problem, **where)


# --------------------------------------------------------------------------- masters


def _frame(columns: Mapping[str, Any], schema: F.Schema) -> pd.DataFrame:
    """A frame of ``schema`` from columns; text columns (Arrow) become ``string`` columns as they are."""
    data = {name: C.string_array(v) if isinstance(v, pa.Array) else v for name, v in columns.items()}
    return F.conform(pd.DataFrame(data), schema)


def _obj(series: pd.Series) -> np.ndarray:
    """A column as an object array with ``None`` for missing values."""
    out = series.to_numpy(dtype=object)
    out[pd.isna(out)] = None
    return out


def _read_masters(conn: Connection, tables: Mapping[str, _Table]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every master record (active or not) and the data-quality rows of the bad ones."""
    findings = _Findings()
    parts = []
    for master_type, canonical in MASTER_TABLES.items():
        table = tables[canonical]
        stmt, names = _select(*table.select_columns())
        raw = _fetch(conn, stmt, names)
        n = _raw_len(raw)
        ids = C.texts(raw["id"], blank_is_na=True)
        codes = C.texts(raw["code"])
        names_ = C.texts(raw["name"])
        active = V.flags(C.to_objects(raw["active"]))
        frame: dict[str, Any] = {
            "master_type": C.constant(master_type, n),
            "id": ids,
            "code": codes,
            "name": names_,
            "active": active.values,
            "updated_at": C.timestamps(raw["updated_at"]),
        }
        where: dict[str, Any] = {"table": table.label, "entity": master_type, "ids": ids, "numbers": codes}
        blank_name = ~C.notna(C.texts(raw["name"], blank_is_na=True, strip=True))
        findings.add(~C.notna(ids), field="id", raw=raw["id"], problem=_is_empty("id"), **where)
        findings.add(blank_name, field="name", raw=raw["name"], problem=_is_empty("name"), **where)
        findings.add(active.missing, field="active", raw=raw["active"], problem=_is_empty("active flag"), **where)
        findings.add(
            active.bad,
            field="active",
            raw=raw["active"],
            problem=lambda v: f"active flag{_quoted(v)} is not 0 or 1",
            **where,
        )
        if master_type == "customer":
            frame["email"] = C.texts(raw["email"], blank_is_na=True)
        if master_type == "item":
            frame["income_account_id"] = C.texts(raw["income_account_id"], blank_is_na=True)
            frame["expense_account_id"] = C.texts(raw["expense_account_id"], blank_is_na=True)
        if master_type == "tax_code":
            rates = [V.decimal_text(v) for v in C.to_objects(raw["rate_percent"])]
            bad = np.array([r is V.BAD for r in rates], dtype=bool)
            empty = np.array([r is None for r in rates], dtype=bool)
            frame["rate_percent"] = [None if r is V.BAD else r for r in rates]
            findings.add(empty, field="rate_percent", raw=raw["rate_percent"], problem=_is_empty("tax rate"), **where)
            findings.add(
                bad,
                field="rate_percent",
                raw=raw["rate_percent"],
                problem=lambda v: f"tax rate{_quoted(v)} is not a number",
                **where,
            )
        if master_type in MASTER_TYPE_VALUES:
            column, allowed = MASTER_TYPE_VALUES[master_type]
            values = C.texts(raw[column], blank_is_na=True, strip=True)
            frame[column] = values
            unknown = C.notna(values) & ~C.isin(values, set(allowed))
            findings.add(unknown, field=column, raw=raw[column], problem=_not_one_of(column, allowed), **where)
        parts.append(_frame(frame, F.MASTERS))
    masters = F.concat_frames(parts, F.MASTERS)
    # items point at accounts
    accounts = set(masters.loc[masters["master_type"] == "account", "id"].dropna())
    items = masters[masters["master_type"] == "item"]
    item_ids = _obj(items["id"])
    item_codes = _obj(items["code"])
    for column in ("income_account_id", "expense_account_id"):
        refs = _obj(items[column])
        findings.add(
            C.notna(refs) & ~C.isin(refs, accounts),
            table=tables["items"].label,
            entity="item",
            ids=item_ids,
            numbers=item_codes,
            field=column,
            raw=refs,
            problem=_does_not_exist(column.removesuffix("_id").replace("_", " "), tables["accounts"].label),
        )
    order = {t: i for i, t in enumerate(F.MASTER_TYPES)}
    masters = masters.assign(_o=masters["master_type"].map(order)).sort_values(["_o", "id"], kind="stable")
    return masters.drop(columns="_o").reset_index(drop=True), findings.frame()


def _known_ids(masters: pd.DataFrame) -> dict[str, set[str]]:
    return {t: set(masters.loc[masters["master_type"] == t, "id"].dropna()) for t in F.MASTER_TYPES}


#: Party names by type: the ids and, aligned with them, the names (as text columns).
_Names = Mapping[str, tuple[pa.Array, pa.Array]]


def _party_names(masters: pd.DataFrame) -> dict[str, tuple[pa.Array, pa.Array]]:
    out: dict[str, tuple[pa.Array, pa.Array]] = {}
    for t in ("customer", "vendor"):
        rows = masters[(masters["master_type"] == t) & masters["id"].notna()]
        # one name per id: the last row's, as a dict built from the rows keeps
        rows = rows.drop_duplicates("id", keep="last")
        out[t] = (C.texts_of(_obj(rows["id"])), C.texts_of(_obj(rows["name"])))
    return out


def _read_mappings(conn: Connection, tables: Mapping[str, _Table]) -> pd.DataFrame:
    table = tables["qbo_mappings"]
    stmt, names = _select(*table.select_columns())
    raw = _fetch(conn, stmt, names)
    frame = _frame(
        {
            "mapping_type": C.texts(raw["mapping_type"], blank_is_na=True, strip=True),
            "awra_id": C.texts(raw["awra_id"], blank_is_na=True),
            "qbo_id": C.texts(raw["qbo_id"], blank_is_na=True),
            "qbo_name": C.texts(raw["qbo_name"]),
            "updated_at": C.timestamps(raw["updated_at"]),
            "updated_by": C.texts(raw["updated_by"]),
        },
        F.MAPPINGS,
    )
    return frame.sort_values(["mapping_type", "awra_id"], kind="stable").reset_index(drop=True)


# --------------------------------------------------------------------------- sync log


def _build_sync_log(raw: _Raw) -> pd.DataFrame:
    return _frame(
        {
            "id": C.texts(raw["id"]),
            "sync_run_id": C.texts(raw["sync_run_id"], blank_is_na=True),
            "connector": C.texts(raw["connector"]),
            "record_type": C.texts(raw["record_type"]),
            "record_id": C.texts(raw["record_id"]),
            "record_number": C.texts(raw["record_number"]),
            "status": C.texts(raw["status"], blank_is_na=True, strip=True),
            "error_code": C.texts(raw["error_code"], blank_is_na=True),
            "message": C.texts(raw["message"]),
            "retry_count": C.ints(raw["retry_count"]),
            "qbo_id": C.texts(raw["qbo_id"], blank_is_na=True),
            "attempted_at": C.timestamps(raw["attempted_at"]),
        },
        F.SYNC_LOG,
    )


def _read_master_sync_log(conn: Connection, tables: Mapping[str, _Table], settings: AwraSettings) -> pd.DataFrame:
    sync = tables["sync_log"]
    stmt, names = _select(*sync.select_columns())
    stmt = stmt.where(sync.c("connector") == settings.connector, sync.c("record_type").in_(list(F.MASTER_TYPES)))
    return _build_sync_log(_fetch(conn, stmt, names))


def _sorted_sync_log(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.sort_values(["record_type", "record_id", "attempted_at", "id"], kind="stable").reset_index(drop=True)


def _sorted_findings(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.sort_values(["entity", "awra_id", "field"], kind="stable").reset_index(drop=True)


def _read_sync_runs(conn: Connection, tables: Mapping[str, _Table], run_ids: pd.Series) -> pd.DataFrame:
    table = tables["sync_runs"]
    wanted = sorted(str(v) for v in run_ids.dropna().unique())
    parts = []
    for chunk in _chunks(wanted):
        stmt, names = _select(*table.select_columns())
        raw = _fetch(conn, stmt.where(table.c("id").in_(chunk)), names)
        frame = _frame(
            {
                "id": C.texts(raw["id"]),
                "connector": C.texts(raw["connector"]),
                "started_at": C.timestamps(raw["started_at"]),
                "finished_at": C.timestamps(raw["finished_at"]),
                "status": C.texts(raw["status"]),
                "triggered_by": C.texts(raw["triggered_by"]),
            },
            F.SYNC_RUNS,
        )
        parts.append(frame)
    frame = F.concat_frames(parts, F.SYNC_RUNS)
    return frame.drop_duplicates("id").sort_values("id", kind="stable").reset_index(drop=True)


# --------------------------------------------------------------------------- transactions


@dataclass(frozen=True)
class _Built:
    transactions: pd.DataFrame
    lines: pd.DataFrame
    sync_log: pd.DataFrame
    data_quality: pd.DataFrame


def _rows_to_keep(ids: pa.Array, txn_date: V.Parsed, spec: _EntitySpec, params: RunParams, mode: str) -> np.ndarray:
    """Which raw header rows this read returns (see ``_build_entity``), one row per id."""
    dated = ~(txn_date.missing | txn_date.bad)
    values = txn_date.values
    low, high = np.datetime64(params.date_from, "ns"), np.datetime64(params.date_to, "ns")
    placed = dated & (values >= low) & (values <= high)
    read_by_window = placed | ~dated
    if mode == "window":
        keep = read_by_window
    elif spec.entity in params.entities:
        keep = ~read_by_window
    else:
        keep = np.ones(len(ids), dtype=bool)
    # the same record read through two conditions (or a table without a primary key): once
    repeated = pd.Series(C.string_array(ids)).duplicated(keep="first").to_numpy(dtype=bool) & C.notna(ids)
    return np.asarray(keep & ~repeated, dtype=bool)


def _build_entity(
    raw: _RawEntity,
    spec: _EntitySpec,
    tables: Mapping[str, _Table],
    known: Mapping[str, set[str]],
    names: _Names,
    params: RunParams,
    *,
    mode: str,
) -> _Built:
    """Typed frames and data-quality rows for one entity's raw rows.

    ``mode="window"`` keeps rows dated in the window or without a usable date (``in_window``
    True); ``mode="lookup"`` keeps the others (``in_window`` False).
    """
    all_ids = C.texts(raw.headers["id"], blank_is_na=True)
    all_dates = C.dates(raw.headers["txn_date"])
    keep = _rows_to_keep(all_ids, all_dates, spec, params, mode)
    h = _raw_take(raw.headers, keep)
    ids = C.take(all_ids, keep)
    txn_date = V.Parsed(all_dates.values[keep], all_dates.missing[keep], all_dates.bad[keep])
    del all_ids, all_dates
    n = len(ids)
    findings = _Findings()
    numbers = C.texts(h["number"], blank_is_na=True)
    where: dict[str, Any] = {"table": tables[spec.header].label, "entity": spec.entity, "ids": ids, "numbers": numbers}

    frame: dict[str, Any] = {
        "entity": C.constant(spec.entity, n),
        "id": ids,
        "number": numbers,
        "txn_date": txn_date.values,
        "currency": C.texts(h["currency"], blank_is_na=True, strip=True),
        "branch": C.texts(h["branch"]),
        "qbo_link": C.texts(h["qbo_id"], blank_is_na=True),
        "updated_at": C.timestamps(h["updated_at"]),
        "updated_by": C.texts(h["updated_by"]),
        "in_window": np.full(n, mode == "window"),
    }
    findings.add(~C.notna(ids), field="id", raw=h["id"], problem=_is_empty("id"), **where)
    findings.add(txn_date.missing, field="txn_date", raw=h["txn_date"], problem=_is_empty("transaction date"), **where)
    findings.add(
        txn_date.bad,
        field="txn_date",
        raw=h["txn_date"],
        problem=lambda v: f"transaction date{_quoted(v)} is not a valid date (expected YYYY-MM-DD)",
        **where,
    )
    if "due_date" in h:
        due = C.dates(h["due_date"])
        frame["due_date"] = due.values
        findings.add(
            due.bad,
            field="due_date",
            raw=h["due_date"],
            problem=lambda v: f"due date{_quoted(v)} is not a valid date (expected YYYY-MM-DD)",
            **where,
        )
    for optional in ("warehouse", "memo"):
        if optional in h:
            frame[optional] = C.texts(h[optional])

    # status: case and surrounding blanks are ignored; anything else is reported
    status_raw = C.texts(h["status"], blank_is_na=True, strip=True)
    status = C.lower(status_raw)
    known_status = C.isin(status, set(F.AWRA_STATUSES))
    frame["status"] = pc.if_else(pa.array(known_status), status, status_raw)
    frame["is_void"] = C.isin(status, {"void"})
    findings.add(~C.notna(status), field="status", raw=h["status"], problem=_is_empty("status"), **where)
    findings.add(
        C.notna(status) & ~known_status,
        field="status",
        raw=h["status"],
        problem=lambda v: f"status{_quoted(v)} is not an AWRA status (one of {', '.join(F.AWRA_STATUSES)})",
        **where,
    )

    # party
    if spec.party_col is not None:
        party_type = F.PARTY_TYPE[spec.entity] or "customer"
        party = C.texts(h[spec.party_col], blank_is_na=True)
        frame["party_id"] = party
        frame["party_name"] = C.lookup(party, *names[party_type])
        findings.add(
            ~C.notna(party),
            field=spec.party_col,
            raw=h[spec.party_col],
            problem=_is_empty(_MASTER_WORDS[party_type]),
            **where,
        )
        _add_dangling(findings, party, party_type, known, tables, field=spec.party_col, raw=h[spec.party_col], **where)

    # header money
    if spec.amount_col is not None:
        amount = C.cents(h[spec.amount_col])
        frame["amount_cents"] = amount.values
        words = "amount" if spec.amount_col == "amount" else "total amount"
        _add_money_findings(findings, amount, words=words, field=spec.amount_col, raw=h[spec.amount_col], **where)
    if spec.tax_col is not None:
        tax = C.cents(h[spec.tax_col])
        frame["tax_cents"] = tax.values
        _add_money_findings(findings, tax, words="tax amount", field=spec.tax_col, raw=h[spec.tax_col], **where)

    # a payment's own masters (NULL is allowed: QBO has defaults)
    if spec.entity == "payment":
        for column, master_type in (("payment_method_id", "payment_method"), ("deposit_account_id", "account")):
            values = C.texts(h[column], blank_is_na=True)
            _add_dangling(findings, values, master_type, known, tables, field=column, raw=h[column], **where)

    lines, line_total = _build_lines(raw.lines, spec, tables, known, ids, numbers, h, findings)
    # each transaction's line total; 0 without lines; <NA> when a line's amount is unusable
    frame["line_total_cents"] = line_total
    if spec.entity == "journal":
        frame["amount_cents"] = line_total  # a journal's amount is the sum of its debits

    if spec.entity == "payment":
        frame["deposit_account_id"] = C.texts(h["deposit_account_id"], blank_is_na=True)

    dq = findings.frame()
    flagged = set(dq["awra_id"].dropna())
    frame["data_ok"] = C.notna(ids) & ~C.isin(ids, flagged)
    # a bad exchange rate is listed but leaves only the rate unknown: the record is still compared
    rate_findings = _Findings()
    if "exchange_rate" in h:
        frame["exchange_rate"] = _exchange_rates(h["exchange_rate"], rate_findings, where)
    dq = F.concat_frames([dq, rate_findings.frame()], F.DATA_QUALITY)
    del h
    transactions = _frame(frame, F.TRANSACTIONS)
    del frame
    transactions = transactions.sort_values("id", kind="stable").reset_index(drop=True)

    kept = C.isin(C.texts(raw.sync_log["record_id"]), ids)
    sync_log = _build_sync_log(_raw_take(raw.sync_log, kept))
    return _Built(transactions, lines, sync_log, dq)


class _NumbersById(Mapping[Any, "str | None"]):
    """Each header id's number, built on first use (only a data-quality row on a line needs it)."""

    def __init__(self, ids: pa.Array, numbers: pa.Array):
        self._ids, self._numbers = ids, numbers
        self._map: dict[Any, str | None] | None = None

    def _built(self) -> dict[Any, str | None]:
        if self._map is None:
            self._map = dict(zip(self._ids.to_pylist(), self._numbers.to_pylist(), strict=True))
        return self._map

    def __getitem__(self, key: Any) -> str | None:
        return self._built()[key]

    def __iter__(self) -> Iterator[Any]:
        return iter(self._built())

    def __len__(self) -> int:
        return len(self._built())


def _build_lines(
    raw: _Raw,
    spec: _EntitySpec,
    tables: Mapping[str, _Table],
    known: Mapping[str, set[str]],
    header_ids: pa.Array,
    header_numbers: pa.Array,
    headers: _Raw,
    findings: _Findings,
) -> tuple[pd.DataFrame, Any]:
    """The LINES frame of the kept transactions, adding line findings to ``findings``.

    Also returns each header's line total, aligned with ``header_ids`` (sum of amounts;
    journals: of debits; payments: of applications; 0 without lines), ``<NA>`` when one of
    its lines has an unusable amount.
    """
    all_txn_ids = C.texts(raw[spec.line_fk], blank_is_na=True)
    keep = C.isin(all_txn_ids, header_ids)
    raw = _raw_take(raw, keep)
    txn_ids = C.take(all_txn_ids, keep)
    del all_txn_ids
    n = len(txn_ids)
    where: dict[str, Any] = {
        "table": tables[spec.lines].label,
        "entity": spec.entity,
        "ids": txn_ids,
        "numbers": _NumbersById(header_ids, header_numbers),
    }
    out: dict[str, Any] = {"entity": C.constant(spec.entity, n), "txn_id": txn_ids}

    if spec.entity == "payment":
        ref = C.texts(raw["invoice_id"], blank_is_na=True)

        def prefix(selector: np.ndarray) -> list[str]:
            return [f"application to invoice {r!r}: " if r else "application: " for r in C.pick(ref, selector)]

        amount = C.cents(raw["amount"])
        # applications get line_no 1.. in invoice order within their payment
        order = pd.DataFrame({"t": C.string_array(txn_ids), "r": C.string_array(ref)}).sort_values(
            ["t", "r"], kind="stable"
        )
        out["line_no"] = (order.groupby("t", dropna=False).cumcount() + 1).sort_index().to_numpy()
        out["ref_id"] = ref
        out["ref_link"] = C.texts(raw["_ref_link"], blank_is_na=True)
        out["amount_cents"] = amount.values
        _add_money_findings(findings, amount, words="amount", field="amount", raw=raw["amount"], prefix=prefix, **where)
        findings.add(
            ~C.notna(ref),
            field="invoice_id",
            raw=raw["invoice_id"],
            problem=lambda v: "an application names no invoice",
            **where,
        )
        invoices = tables["invoices"].label
        findings.add(
            C.notna(ref) & ~C.notna(raw["_ref_found"]),
            field="invoice_id",
            raw=raw["invoice_id"],
            problem=lambda v: f"applied to invoice{_quoted(v)}, which does not exist in {invoices}",
            **where,
        )
        line_value, line_bad = amount.values, amount.missing | amount.bad
        # the payment's own masters, on a line 0 without amount, so mapping checks see them
        with_id = C.notna(header_ids)
        count = int(with_id.sum())
        header_line = _frame(
            {
                "entity": C.constant(spec.entity, count),
                "txn_id": C.take(header_ids, with_id),
                "line_no": np.zeros(count, dtype=np.int64),
                "payment_method_id": C.take(C.texts(headers["payment_method_id"], blank_is_na=True), with_id),
                "account_id": C.take(C.texts(headers["deposit_account_id"], blank_is_na=True), with_id),
            },
            F.LINES,
        )
        lines = F.concat_frames([header_line, _frame(out, F.LINES)], F.LINES)
        lines = lines.sort_values(["txn_id", "line_no"], kind="stable").reset_index(drop=True)
    else:
        line_no = C.ints(raw["line_no"])
        out["line_no"] = line_no
        out["description"] = C.texts(raw["description"])

        def prefix(selector: np.ndarray) -> list[str]:
            return ["line ?: " if x is pd.NA else f"line {x}: " for x in line_no[selector]]

        refs: list[tuple[str, str]] = []
        if spec.entity in ("invoice", "bill"):
            refs += [("item_id", "item"), ("tax_code_id", "tax_code")]
        if spec.entity in ("bill", "journal"):
            refs.append(("account_id", "account"))
        for column, master_type in refs:
            values = C.texts(raw[column], blank_is_na=True)
            out[column] = values
            _add_dangling(
                findings, values, master_type, known, tables, field=column, raw=raw[column], prefix=prefix, **where
            )
        if spec.entity == "journal":
            debit, credit = C.cents(raw["debit"]), C.cents(raw["credit"])
            out["debit_cents"], out["credit_cents"] = debit.values, credit.values
            # one side of a journal line is normally empty: only both empty is a problem
            for parsed, column in ((debit, "debit"), (credit, "credit")):
                _add_money_findings(
                    findings,
                    parsed,
                    words=column,
                    report_missing=False,
                    field=column,
                    raw=raw[column],
                    prefix=prefix,
                    **where,
                )
            neither = debit.missing & credit.missing
            findings.add(
                neither,
                field="debit",
                raw=None,
                problem=lambda v: "has neither a debit nor a credit",
                prefix=prefix,
                **where,
            )
            no_account = ~C.notna(out["account_id"])
            findings.add(
                no_account, field="account_id", raw=None, problem=lambda v: "names no account", prefix=prefix, **where
            )
            line_value, line_bad = debit.values, debit.bad | credit.bad | neither
        else:
            amount = C.cents(raw["amount"])
            out["amount_cents"] = amount.values
            _add_money_findings(
                findings, amount, words="amount", field="amount", raw=raw["amount"], prefix=prefix, **where
            )
            if spec.entity == "bill":
                neither = ~C.notna(out["item_id"]) & ~C.notna(out["account_id"])
                findings.add(
                    neither,
                    field="item_id",
                    raw=None,
                    problem=lambda v: "names neither an item nor an account",
                    prefix=prefix,
                    **where,
                )
            line_value, line_bad = amount.values, amount.missing | amount.bad
        del raw
        lines = _frame(out, F.LINES)
        del out
        lines = lines.sort_values(["txn_id", "line_no"], kind="stable").reset_index(drop=True)

    return lines, _line_totals(txn_ids, line_value, line_bad, header_ids)


def _line_totals(txn_ids: pa.Array, line_value: Any, line_bad: np.ndarray, header_ids: pa.Array) -> Any:
    """Each header's sum of its lines' values (0 without lines; ``<NA>`` if one is unusable)."""
    sums = pd.DataFrame(
        {"t": C.string_array(txn_ids), "v": pd.array(line_value, dtype="Int64").fillna(0), "bad": line_bad}
    )
    grouped = sums.groupby("t", dropna=True, sort=False)
    totals = grouped["v"].sum()
    positions = pd.Index(totals.index).get_indexer(pd.Index(C.string_array(header_ids)))
    # position -1 (no lines) picks the appended 0 / False
    values = np.append(totals.to_numpy(dtype=np.int64), 0)[positions]
    unusable = np.append(grouped["bad"].any().to_numpy(dtype=bool), False)[positions]
    result = pd.array(values, dtype="Int64")
    result[unusable | ~C.notna(header_ids)] = pd.NA
    return result
