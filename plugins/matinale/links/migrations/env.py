"""Alembic environment of the link counts: runs on the connection :func:`migrate` passes in
(``config.attributes["connection"]``), never from an alembic.ini or a logging config."""

from __future__ import annotations

from alembic import context

from matinale.links.counts import metadata


def run() -> None:
    context.configure(
        connection=context.config.attributes["connection"],
        target_metadata=metadata,
        version_table="link_counts_alembic_version",
    )
    with context.begin_transaction():
        context.run_migrations()


# Only alembic runs this file with a context; importing it (layout checks) does nothing.
if hasattr(context, "config"):
    run()
