"""The run-history schema under Alembic: fresh databases, pre-Alembic databases upgraded in place.

``tests/fixtures/history/schema-v0-*.sql`` is the DDL that the code on main created before
Alembic (frozen, since the code changes): a database built from it, with rows in it, must
upgrade in place on first use and keep every row.
"""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from reconcile import frames as F
from reconcile.errors import SourceError
from reconcile.history import RunHistory, metadata
from reconcile.history.schema import VERSION_TABLE, current_revision, ensure_schema, head_revision
from reconcile.params import RunParams

FIXTURES = Path(__file__).parent / "fixtures" / "history"
T0 = datetime(2026, 8, 1, 5, 30, tzinfo=UTC)


def build_v0(url: str) -> None:
    """A history database exactly as the pre-Alembic code made it, with a run, findings and a lock."""
    engine = sa.create_engine(url)
    text = (FIXTURES / f"schema-v0-{engine.dialect.name}.sql").read_text()
    ddl = "\n".join(line for line in text.splitlines() if not line.startswith("--"))
    statements = [s.strip() for s in ddl.split(";") if s.strip()]
    naive = engine.dialect.name == "sqlite"  # the old store kept naive UTC where the backend has no zones

    def ts(moment: datetime) -> datetime:
        return moment.replace(tzinfo=None) if naive else moment

    with engine.begin() as conn:
        for statement in statements:
            conn.exec_driver_sql(statement)
        meta = sa.MetaData()
        meta.reflect(conn)
        runs = meta.tables["qbo_recon_runs"]
        for row in (
            {
                "run_id": "old-1",
                "company": "acme",
                "date_from": date(2026, 7, 1),
                "date_to": date(2026, 7, 31),
                "triggered_by": "schedule",
                "started_at": ts(T0),
                "finished_at": ts(T0 + timedelta(minutes=3)),
                "outcome": "completed",
                "open_findings": 2,
                "history": '{"new": 2}',
            },
            {
                "run_id": "old-2",
                "company": "acme",
                "date_from": date(2026, 7, 2),
                "date_to": date(2026, 8, 1),
                "triggered_by": "schedule",
                "started_at": ts(T0 + timedelta(days=1)),
                "outcome": "running",
                "owner_host": "gone-host",
                "owner_pid": 4242,
            },
        ):
            conn.execute(runs.insert(), row)
        finding_rows = [
            {
                "run_id": "old-1",
                "fingerprint": fp,
                "company": "acme",
                "entity": "invoice",
                "category": "missing_in_qbo",
                "awra_id": awra_id,
                "awra_number": f"INV-{awra_id}",
                "amount_cents": 1000,
                "history_status": "new",
                "first_seen": ts(T0),
            }
            for fp, awra_id in (("fp-a", "A"), ("fp-b", "B"))
        ]
        conn.execute(meta.tables["qbo_recon_findings"].insert(), finding_rows)
        conn.execute(
            meta.tables["qbo_recon_locks"].insert(),
            {
                "company": "acme",
                "token": "t0",
                "owner": "old code",
                "host": "gone-host",
                "pid": 4242,
                "acquired_at": ts(T0 + timedelta(days=1)),
            },
        )
    engine.dispose()


def schema_drift(engine: sa.Engine) -> list[object]:
    """What differs between the store's tables and the database (Alembic's autogenerate diff)."""
    with engine.connect() as conn:
        ours = set(metadata.tables)
        opts = {
            "version_table": VERSION_TABLE,
            "compare_type": False,
            "include_name": lambda name, kind, _parent: kind != "table" or name in ours,
        }
        context = MigrationContext.configure(conn, opts=opts)
        return list(compare_metadata(context, metadata))


def check_upgraded_in_place(url: str) -> None:
    build_v0(url)
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        assert current_revision(conn) is None
    engine.dispose()
    history = RunHistory(url, host="new-host", stale_after=timedelta(hours=12))
    try:
        with history.engine.connect() as conn:
            assert current_revision(conn) == head_revision()
        assert schema_drift(history.engine) == []
        old = history.get_run("old-1")
        assert old is not None and old.outcome == "completed" and old.history == {"new": 2}
        assert old.started_at == T0
        assert sorted(history.run_findings("old-1")["fingerprint"]) == ["fp-a", "fp-b"]
        assert ensure_schema(history.engine) == []  # the second opening has nothing to do
    finally:
        history.dispose()


def test_fresh_sqlite_database_is_built_at_head(tmp_path: Path):
    history = RunHistory(f"sqlite:///{tmp_path / 'h.db'}")
    try:
        with history.engine.connect() as conn:
            assert current_revision(conn) == head_revision()
        assert schema_drift(history.engine) == []
    finally:
        history.dispose()


def test_pre_alembic_sqlite_database_upgrades_in_place(tmp_path: Path):
    check_upgraded_in_place(f"sqlite:///{tmp_path / 'old.db'}")


@pytest.mark.postgres
def test_pre_alembic_postgres_database_upgrades_in_place(postgres_schema_url: str):
    check_upgraded_in_place(postgres_schema_url)


@pytest.mark.postgres
def test_fresh_postgres_database_is_built_at_head(postgres_schema_url: str):
    history = RunHistory(postgres_schema_url)
    try:
        assert schema_drift(history.engine) == []
    finally:
        history.dispose()


def test_an_upgraded_database_keeps_comparing_with_its_old_runs(tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'old.db'}"
    build_v0(url)
    history = RunHistory(url)
    try:
        with history.engine.begin() as conn:  # the old run left behind by a dead process
            conn.execute(sa.text("DELETE FROM qbo_recon_locks"))
        now = T0 + timedelta(days=2)
        params = RunParams(
            run_id="new-1",
            company="acme",
            company_name="Acme",
            date_from=date(2026, 7, 3),
            date_to=date(2026, 8, 2),
            now=now,
        )
        findings = F.conform(
            pd.DataFrame(
                [
                    {
                        "entity": "invoice",
                        "category": "missing_in_qbo",
                        "awra_id": "A",
                        "awra_number": "INV-A",
                        "amount_cents": 1000,
                    }
                ]
            ),
            F.FINDINGS,
        )
        with history.lock("acme", now=now):
            history.start_run(params)
            _, summary = history.compare(params, findings)
        assert summary["previous_run_id"] == "old-1"
        assert summary["resolved"] == 2  # the old fingerprints were made by hand: both differ from the new one
        assert history.get_run("old-2").outcome != "running"  # type: ignore[union-attr]
    finally:
        history.dispose()


def test_a_database_of_unknown_shape_is_refused(tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'odd.db'}"
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE qbo_recon_runs (run_id TEXT PRIMARY KEY)")
    engine.dispose()
    with pytest.raises(SourceError) as info:
        RunHistory(url)
    assert "unknown shape" in info.value.one_line()
    assert "qbo_recon_findings is missing" in info.value.one_line()


def test_a_database_from_a_newer_version_is_refused(tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'newer.db'}"
    RunHistory(url).dispose()
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text(f"UPDATE {VERSION_TABLE} SET version_num = '9999_future'"))
    engine.dispose()
    with pytest.raises(SourceError) as info:
        RunHistory(url)
    assert "9999_future" in info.value.one_line()


def test_apscheduler_job_table_alone_counts_as_empty(tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'jobs.db'}"
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE qbo_recon_jobs (id VARCHAR(191) PRIMARY KEY)")
    engine.dispose()
    history = RunHistory(url)
    try:
        assert schema_drift(history.engine) == []
    finally:
        history.dispose()


def test_an_installed_copy_finds_its_migrations(tmp_path: Path):
    """setuptools' build of the package (what a wheel holds) carries the migrations and uses them."""
    root = Path(__file__).resolve().parent.parent
    lib = tmp_path / "lib"
    subprocess.run(
        [sys.executable, "-c", "import setuptools; setuptools.setup()", "-q", "build_py", "-d", str(lib)],
        cwd=root,
        check=True,
        capture_output=True,
        timeout=300,
    )
    shipped = sorted(
        p.relative_to(root)
        for p in (root / "reconcile" / "history" / "migrations").rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    )
    assert shipped and all((lib / p).is_file() for p in shipped)
    probe = (
        "import reconcile.history as h, sys; from reconcile.history.schema import MIGRATIONS_DIR;"
        "assert str(MIGRATIONS_DIR).startswith(sys.argv[2]), MIGRATIONS_DIR; h.RunHistory(sys.argv[1]).dispose()"
    )
    url = f"sqlite:///{tmp_path / 'h.db'}"
    subprocess.run(
        [sys.executable, "-c", probe, url, str(lib)],
        cwd=tmp_path,
        env={"PYTHONPATH": str(lib), "PATH": "/usr/bin:/bin"},
        check=True,
        timeout=120,
    )
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        assert current_revision(conn) == head_revision()
    engine.dispose()
