"""fastapi-users' SQLAlchemy adapter on the same SQLite file, as a FastAPI app uses it.

Its ``user`` table is added beside auth-store's tables and holds the same
users (same UUIDs, same e-mails), with every index its queries can use: the
unique ``email`` index its model declares and one on ``lower(email)``, which
``get_by_email`` compares (without it each lookup scans the table). Lookups go
through ``SQLAlchemyUserDatabase``
on an ``AsyncSession`` over aiosqlite and are awaited on one event loop. The
rival gets the most favourable setup: one long-lived session per group, so no
per-request session or connection checkout is counted.
"""

from __future__ import annotations

import asyncio
import itertools
import uuid
from pathlib import Path

from fastapi_users_db_sqlalchemy import SQLAlchemyBaseUserTableUUID, SQLAlchemyUserDatabase
from sqlalchemy import create_engine, insert, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase

from . import dataset
from .timing import AsyncCase

__all__ = ["FastAPIUsersRival"]

IMPL = "fastapi-users (SQLAlchemy)"


class _Base(DeclarativeBase):
    pass


class _User(SQLAlchemyBaseUserTableUUID, _Base):
    pass


class FastAPIUsersRival:
    """The rival's table in ``path`` and the async lookups it offers."""

    def __init__(self, path: Path, runner: asyncio.Runner) -> None:
        self._path = path
        self._runner = runner
        self._size = 0
        sync_engine = create_engine(f"sqlite:///{path}")
        _Base.metadata.create_all(sync_engine)
        with sync_engine.begin() as connection:
            # get_by_email filters on func.lower(email): this is the index it can use.
            connection.execute(
                text('CREATE INDEX IF NOT EXISTS ix_user_lower_email ON "user" (lower(email))')
            )
        sync_engine.dispose()
        self._engine = create_async_engine(f"sqlite+aiosqlite:///{path}")
        self._sessions = async_sessionmaker(self._engine, expire_on_commit=False)
        self._session: AsyncSession | None = None

    def grow(self, size: int) -> None:
        """Insert users ``[current size, size)`` (the same users auth-store holds)."""
        if size <= self._size:
            return
        rows = [
            {
                "id": uuid.UUID(dataset.user_id(i)),
                "email": dataset.email(i),
                "hashed_password": "$argon2id$v=19$m=19456,t=2,p=1$placeholder",
                "is_active": True,
                "is_superuser": False,
                "is_verified": True,
            }
            for i in range(self._size, size)
        ]
        engine = create_engine(f"sqlite:///{self._path}")
        with engine.begin() as connection:
            connection.execute(insert(_User), rows)
        engine.dispose()
        self._size = size

    def _database(self) -> SQLAlchemyUserDatabase[_User, uuid.UUID]:
        if self._session is not None:
            self._runner.run(self._session.close())
        self._session = self._sessions()
        return SQLAlchemyUserDatabase(self._session, _User)

    def get_by_email(self, sample: list[int]) -> AsyncCase:
        """``SQLAlchemyUserDatabase.get_by_email`` over the sampled users."""
        database = self._database()
        emails = itertools.cycle([dataset.email(i) for i in sample]).__next__

        async def call() -> object:
            found = await database.get_by_email(emails())
            if found is None:
                raise AssertionError("fastapi-users missed an existing user")
            return found

        return AsyncCase(IMPL, call)

    def get(self, sample: list[int]) -> AsyncCase:
        """``SQLAlchemyUserDatabase.get`` (by id) over the sampled users."""
        database = self._database()
        ids = itertools.cycle([uuid.UUID(dataset.user_id(i)) for i in sample]).__next__

        async def call() -> object:
            found = await database.get(ids())
            if found is None:
                raise AssertionError("fastapi-users missed an existing user")
            return found

        return AsyncCase(IMPL, call)

    def close(self) -> None:
        """Close the session and dispose of the engine (on the loop that made them)."""
        if self._session is not None:
            self._runner.run(self._session.close())
            self._session = None
        self._runner.run(self._engine.dispose())
