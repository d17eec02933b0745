"""Alembic runs migrations on the connection the store hands it, inside the store's locked
transaction, so two processes opening a fresh or old store cannot both migrate it."""

from alembic import context

context.configure(connection=context.config.attributes["connection"], target_metadata=None,
                  render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
