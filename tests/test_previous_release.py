"""Stores written by the previous release open in this one, in place, and gain what is new.

The previous release (``tests.previous_release``) writes a store on every
backend; this checkout then opens it (SQLite and Postgres apply their new
migrations in place), reads every record back unchanged, and stores the new
session details and account updates in it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

import auth_store
from auth_store import Session
from auth_store.records import to_dict
from tests.pg import fresh_postgres_url
from tests.previous_release import run_previous_release

#: Run by the previous release: a user, an account and a session, each with what it keeps.
_WRITE = """
import json, sys
from datetime import datetime, timezone
import auth_store
from auth_store import Account, Session, User
from auth_store.records import to_dict

with auth_store.connect(sys.argv[1]) as store:
    user = store.create_user(User(id="old-user", email="old@example.com", extra={"role": "x"}))
    store.link_account(Account(
        id="old-account", user_id=user.id, type="oauth", provider="github",
        provider_account_id="583231", access_token="gho_old", extra={"ext_expires_in": 1},
    ))
    store.create_session(Session(
        id="old-session", session_token="old-token", user_id=user.id,
        expires=datetime(2031, 1, 1, 0, 0, 0, 7, tzinfo=timezone.utc),
    ))
    print(json.dumps([to_dict(r) for r in store.export()], default=str))
"""


@pytest.fixture(params=["sqlite", "file", "postgres"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "postgres":
        with fresh_postgres_url() as postgres:
            yield postgres
    elif request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/auth.db"
    else:
        yield f"file://{tmp_path}/files"


def test_a_store_of_the_previous_release_opens_in_place_and_gains_the_new_fields(
    url: str, tmp_path: Path
) -> None:
    written = json.loads(run_previous_release(tmp_path, _WRITE, url))
    assert {"session_token", "expires"} <= set(written[2])
    assert "ip_address" not in written[2]  # the previous release had no session details
    with auth_store.connect(url) as store:
        exported = json.loads(json.dumps([to_dict(r) for r in store.export()], default=str))
        # Every value the previous release wrote reads back; the new fields are None.
        for old, now in zip(written, exported, strict=True):
            assert {k: now[k] for k in old} == old
        details = ("created_at", "updated_at", "ip_address", "user_agent")
        assert [exported[2][k] for k in details] == [None] * 4
        seen = datetime(2030, 6, 1, 12, 0, 0, 5, tzinfo=UTC)
        session = store.update_session(
            "old-token", created_at=seen, updated_at=seen, ip_address="192.0.2.8", user_agent="ua"
        )
        assert session is not None
        account = store.update_account("github", "583231", access_token="gho_new")
        assert account is not None
        assert account.extra == {"ext_expires_in": 1}
    with auth_store.connect(url) as again:
        found = again.get_session_and_user("old-token")
        assert found is not None
        assert found[0] == Session(
            id="old-session",
            session_token="old-token",
            user_id="old-user",
            expires=datetime(2031, 1, 1, 0, 0, 0, 7, tzinfo=UTC),
            created_at=seen,
            updated_at=seen,
            ip_address="192.0.2.8",
            user_agent="ua",
        )
        assert found[1].extra == {"role": "x"}
        stored = again.get_account("github", "583231")
        assert stored is not None
        assert stored.access_token == "gho_new"
