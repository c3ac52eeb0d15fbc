"""Alembic environment: runs on the connection the project store hands over (see store.migrate)."""

from alembic import context
from sqlalchemy import create_engine

from trdpath.qualitative.models import Base

config = context.config
target_metadata = Base.metadata


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is None:  # run from the alembic command line with -x url=...
        url = context.get_x_argument(as_dictionary=True)["url"]
        with create_engine(url).begin() as conn:
            context.configure(connection=conn, target_metadata=target_metadata, render_as_batch=True)
            with context.begin_transaction():
                context.run_migrations()
        return
    # render_as_batch: SQLite cannot ALTER most things, so later migrations copy-and-move tables.
    context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


run_migrations_online()
