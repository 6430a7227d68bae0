"""Alembic environment of the run history: migrate the connection ``reconcile.history.schema`` hands in.

The history is only ever migrated from inside the job (``ensure_schema``), on a connection
that already holds the migration lock and an open transaction, so there is no offline mode and
no URL here.
"""

from alembic import context

from reconcile.history.schema import VERSION_TABLE

connection = context.config.attributes["connection"]
context.configure(connection=connection, version_table=VERSION_TABLE)
with context.begin_transaction():
    context.run_migrations()
