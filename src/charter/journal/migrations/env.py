"""Alembic environment for the journal schema: runs on the connection charter passes in.

Charter migrates from code (:func:`charter.journal.migrate`), inside the transaction that
holds the migration lock, so this file only hands that connection to Alembic.
"""

from alembic import context

connection = context.config.attributes["connection"]
context.configure(connection=connection, transaction_per_migration=False)
with context.begin_transaction():
    context.run_migrations()
