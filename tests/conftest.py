"""Shared test fixtures: database URLs for the three AWRA backends and a fixed clock."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

#: Servers this machine runs (see README); overridable for other setups.
POSTGRES_URL = os.environ.get("QBO_RECON_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
MARIADB_URL = os.environ.get("QBO_RECON_TEST_MARIADB", "mysql+pymysql://root@127.0.0.1:3306/test")

FIXED_NOW = datetime(2026, 11, 2, 6, 30, tzinfo=UTC)


@pytest.fixture
def fixed_now() -> datetime:
    """The injected clock used by deterministic tests."""
    return FIXED_NOW


@pytest.fixture
def postgres_schema_url() -> Iterator[str]:
    """A fresh PostgreSQL schema (dropped afterwards); the URL puts it first on the search path."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(POSTGRES_URL)
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{name}"'))
    try:
        yield f"{POSTGRES_URL}?options=-csearch_path%3D{name}"
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{name}" CASCADE'))
        admin.dispose()


@pytest.fixture
def mariadb_database_url() -> Iterator[str]:
    """A fresh MariaDB database (dropped afterwards)."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(MARIADB_URL)
    with admin.begin() as conn:
        conn.execute(sa.text(f"CREATE DATABASE `{name}`"))
    try:
        yield MARIADB_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(f"DROP DATABASE `{name}`"))
        admin.dispose()
