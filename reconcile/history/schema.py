"""The run-history schema under Alembic: bring any history database to the current revision.

The migrations live beside this module (``migrations/``, shipped as package data) and run
inside the job, on first use of a database, so there is no separate step to forget:

* a database with our version table is upgraded to the head revision if it is behind;
* an empty database (or one holding only APScheduler's job table) is built from the baseline up;
* a database made before Alembic (the three tables as ``0001_baseline`` has them, no version
  table) is recognised, stamped as the baseline and upgraded in place, its rows kept;
* anything else (some of our tables, or tables without the columns the baseline had) is refused
  with a one-line ``SourceError`` rather than guessed at.

Two processes opening one database at the same moment migrate it once: on SQLite the whole check
runs in one ``BEGIN IMMEDIATE`` transaction (the history engine begins every transaction so), on
PostgreSQL under a transaction-level advisory lock. Both back ends have transactional DDL, so
a migration that fails leaves the database as it was.

The version table is ``qbo_recon_alembic_version`` (not Alembic's default ``alembic_version``)
because the history database may be shared with other applications that use Alembic too.
"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy.engine import Connection, Engine

from reconcile.errors import SourceError

#: Where the migration scripts live (inside the installed package).
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
#: Alembic's version table in the history database.
VERSION_TABLE = "qbo_recon_alembic_version"
#: The revision that describes the schema created before Alembic.
BASELINE = "0001_baseline"
#: The columns each table had in the baseline (what an unversioned database must hold).
BASELINE_COLUMNS: dict[str, frozenset[str]] = {
    "qbo_recon_runs": frozenset(
        {
            "run_id",
            "company",
            "date_from",
            "date_to",
            "status_filter",
            "entities",
            "triggered_by",
            "started_at",
            "finished_at",
            "outcome",
            "reason",
            "counts",
            "history",
            "open_findings",
            "report_dir",
            "email_status",
            "code_version",
            "qbo_minor_version",
            "inputs_hash",
            "owner",
            "owner_host",
            "owner_pid",
        }
    ),
    "qbo_recon_findings": frozenset(
        {
            "run_id",
            "fingerprint",
            "company",
            "entity",
            "category",
            "awra_id",
            "awra_number",
            "qbo_id",
            "field",
            "party",
            "amount_cents",
            "history_status",
            "first_seen",
        }
    ),
    "qbo_recon_locks": frozenset({"company", "token", "owner", "host", "pid", "pid_start", "acquired_at"}),
}
#: The advisory lock key that serialises migrations on PostgreSQL ("qborecon" in ASCII, as an int).
_PG_MIGRATION_LOCK = 0x71626F7265636F6E


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic config pointing at the shipped migrations (and at ``connection``, to migrate it)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    """The newest revision this version of the code knows."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None, f"no migrations found in {MIGRATIONS_DIR}"
    return head


def current_revision(connection: Connection) -> str | None:
    """The revision recorded in the database, or None when it has no version table (yet)."""
    context = MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE})
    return context.get_current_revision()


def recognise_unversioned(connection: Connection) -> str:
    """What an unversioned database holds: ``empty`` or ``baseline``; ``SourceError`` otherwise."""
    inspector = sa.inspect(connection)
    present = {t for t in BASELINE_COLUMNS if inspector.has_table(t)}
    if not present:
        return "empty"
    problems: list[str] = []
    for table, wanted in sorted(BASELINE_COLUMNS.items()):
        if table not in present:
            problems.append(f"{table} is missing")
            continue
        columns = {c["name"] for c in inspector.get_columns(table)}
        missing = sorted(wanted - columns)
        if missing:
            problems.append(f"{table} lacks {', '.join(missing)}")
    if problems:
        raise SourceError(
            "the history database holds qbo-recon tables of an unknown shape and no schema version "
            f"({'; '.join(problems)}); point [history] url at a fresh database or repair it by hand",
            source="run history",
        )
    return "baseline"


def _known_revision(config: Config, revision: str) -> bool:
    try:
        return ScriptDirectory.from_config(config).get_revision(revision) is not None
    except CommandError:
        return False


def ensure_schema(engine: Engine) -> list[str]:
    """Bring the history database to the head revision; return what was done (for logs and tests).

    The steps are ``stamped <baseline>`` (an existing pre-Alembic database was recognised) and
    ``upgraded <from> -> <head>``; an empty list means the database was already current.
    """
    head = head_revision()
    done: list[str] = []
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_MIGRATION_LOCK})
        current = current_revision(connection)
        if current == head:
            return done
        config = alembic_config(connection)
        if current is not None and not _known_revision(config, current):
            raise SourceError(
                f"the history database is at schema revision {current}, which this qbo-recon does not know "
                f"(its newest is {head}); run a qbo-recon at least as new as the one that upgraded it",
                source="run history",
            )
        if current is None and recognise_unversioned(connection) == "baseline":
            command.stamp(config, BASELINE)
            done.append(f"stamped {BASELINE}")
            current = BASELINE
        command.upgrade(config, "head")
        done.append(f"upgraded {current or 'nothing'} -> {head}")
    return done


__all__ = [
    "BASELINE",
    "MIGRATIONS_DIR",
    "VERSION_TABLE",
    "alembic_config",
    "current_revision",
    "ensure_schema",
    "head_revision",
    "recognise_unversioned",
]
