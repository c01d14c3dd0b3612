"""Opening PostgreSQL connections (psycopg 3) with one-line errors that never show the password.

Called by the migration runner and the CLI (sync) and by stream sinks (async). Each call opens a
new connection; the caller closes it (`with connect(...) as conn:`).
"""

from __future__ import annotations

import psycopg
from psycopg import sql
from psycopg.rows import TupleRow

from govpulse.settings import DatabaseSettings


class DatabaseUnavailable(RuntimeError):
    """No connection could be opened; the message is one line and names the server, not secrets."""


def connect(
    settings: DatabaseSettings, *, autocommit: bool = False
) -> psycopg.Connection[TupleRow]:
    """A new connection, or `DatabaseUnavailable` when the server refuses or cannot be reached."""
    try:
        return psycopg.Connection.connect(settings.conninfo(), autocommit=autocommit)
    except psycopg.OperationalError as exc:
        raise DatabaseUnavailable(unavailable_message(settings, exc)) from exc


async def connect_async(
    settings: DatabaseSettings, *, autocommit: bool = False
) -> psycopg.AsyncConnection[TupleRow]:
    """The asyncio twin of `connect`, with the same errors."""
    try:
        return await psycopg.AsyncConnection.connect(settings.conninfo(), autocommit=autocommit)
    except psycopg.OperationalError as exc:
        raise DatabaseUnavailable(unavailable_message(settings, exc)) from exc


def unavailable_message(settings: DatabaseSettings, exc: BaseException) -> str:
    """`cannot reach PostgreSQL at postgresql://user@host:port/db: <libpq's reason>` on one line."""
    return f"cannot reach PostgreSQL at {settings.describe()}: {one_line(exc, settings)}"


def one_line(exc: BaseException, settings: DatabaseSettings | None = None) -> str:
    """An error's text with its line breaks folded, for messages an operator reads in a terminal.

    libpq does not echo passwords, but the password is masked anyway in case a server does.
    """
    text = " ".join(str(exc).split()) or type(exc).__name__
    if settings is not None:
        password = settings.password.get_secret_value()
        if password:
            text = text.replace(password, "***")
    return text


def schema_identifier(name: str) -> sql.Identifier:
    """A schema name quoted for SQL composition; namespaces are validated by `Settings`, but
    quoting keeps any name from being read as SQL."""
    return sql.Identifier(name)
